"""Recorded exchanges -> an editable scenario file (rules), secrets scrubbed.

One rule per distinct request. A request is identified by the parts that tell requests apart
(operation, model, stream, last user message, system prompt, tool results, embedding input...),
not its whole body. The same request recorded twice with different answers becomes a
``sequence:``. Chat answers are written as ``content`` / ``tool_calls`` (streams reassembled),
errors as ``error:``, everything else as ``body:``. Timings go into a comment per rule and, as
medians, into a settings file next to the scenario (``--config`` it to replay with them).
"""

from __future__ import annotations

import os
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson

from fakeai.scenario import conversation as conv

SCRUBBED = "[scrubbed]"
DEFAULT_SCRUB = (
    r"sk-[A-Za-z0-9_\-]{8,}",  # OpenAI-style keys (sk-, sk-proj-, sk-svcacct-), Anthropic's sk-ant-
    r"[Bb]earer\s+[A-Za-z0-9._\-]{8,}",
    r"\borg-[A-Za-z0-9]{8,}",
    r"\bproj_[A-Za-z0-9]{8,}",
    r"\bgh[pousr]_[A-Za-z0-9]{20,}",  # GitHub tokens (classic, OAuth, user, server, refresh)
    r"\bgithub_pat_[A-Za-z0-9_]{20,}",  # GitHub fine-grained tokens
    r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b",  # AWS access key ids
    r"\beyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*",  # JWTs (header.payload.signature)
    r"\bAIza[A-Za-z0-9_\-]{30,}",  # Google API keys
    r"\bxox[abprs]-[A-Za-z0-9\-]{10,}",  # Slack tokens
)
SECRET_FIELDS = frozenset({"organization", "organization_id", "project", "project_id", "api_key", "owner"})
# A string under a field whose name (lower case, without - and _) ends like this is scrubbed whatever it holds:
# password, client_secret, access_token, x-api-key, Authorization... Not a bare ``token``: logprobs have one.
SECRET_FIELD_ENDINGS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "apikey",
    "authorization",
    "credential",
    "credentials",
    "privatekey",
    "accesskey",
    "accesskeyid",
    "cookie",
)
_SECRET_NAME = re.compile(rf"(?:{'|'.join(SECRET_FIELD_ENDINGS)}|.token)$")


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request forwarded upstream and what came back."""

    method: str
    path: str
    operation: str | None
    template: str  # the operation's templated path ("" when unknown)
    request: Any  # parsed JSON body (None when not JSON)
    status: int
    content_type: str
    response: Any  # parsed JSON body; None for streams and non-JSON bodies
    events: tuple[tuple[float, str], ...] = ()  # SSE: (seconds after the request, data) per event
    headers: Mapping[str, str] | None = None  # kept response headers (retry-after)
    total: float = 0.0  # seconds until the last byte


class Scrubber:
    """Secrets -> ``[scrubbed]``: values matching a pattern (the defaults, ``--scrub REGEX``, the upstream key),
    and every string under a secret-looking field name (the defaults, ``--scrub-field NAME``)."""

    def __init__(self, patterns: Sequence[str] = (), secrets: Sequence[str] = (), fields: Sequence[str] = ()) -> None:
        literal = [re.escape(s) for s in secrets if s and len(s) >= 4]
        self.regex = re.compile("|".join(f"(?:{p})" for p in (*DEFAULT_SCRUB, *patterns, *literal)))
        self.fields = SECRET_FIELDS | {f.lower() for f in fields}

    def secret_field(self, key: str | None) -> bool:
        if key is None:
            return False
        name = key.lower()
        return name in self.fields or _SECRET_NAME.search(name.replace("_", "").replace("-", "")) is not None

    def __call__(self, value: Any, key: str | None = None) -> Any:
        if isinstance(value, str):
            return SCRUBBED if value and self.secret_field(key) else self.regex.sub(SCRUBBED, value)
        if isinstance(value, dict):
            return {k: self(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v) for v in value]
        return value


def literal(text: str) -> str:
    """Recorded text is data, not a Jinja template: protect ``{{`` and ``{%``."""
    if "{{" in text or "{%" in text:
        return "{% raw %}" + text.replace("{% endraw %}", "{% endraw %}{{ '{% endraw %}' }}{% raw %}") + "{% endraw %}"
    return text


def _literal_tree(value: Any) -> Any:
    if isinstance(value, str):
        return literal(value)
    if isinstance(value, dict):
        return {k: _literal_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_literal_tree(v) for v in value]
    return value


def identity(ex: Exchange) -> dict[str, Any]:
    """The ``match:`` of a rule: what tells this request apart from the others."""
    match: dict[str, Any] = {"operation": ex.operation} if ex.operation else {"method": ex.method, "path": ex.path}
    body = ex.request if isinstance(ex.request, dict) else {}
    if ex.operation and "{" in ex.template:  # path parameters tell requests apart
        match["path"] = ex.path
    if isinstance(body.get("model"), str):
        match["model"] = body["model"]
    if "messages" in body or ("input" in body and ex.operation == "createResponse"):
        match["stream"] = body.get("stream") is True
        for key, value in (
            ("system_prompt", conv.system_prompt(body)),
            ("last_user_message", conv.last_user_message(body)),
        ):
            if isinstance(value, str):
                match[key] = literal(value)
        results = conv.tool_results(body)
        match["tool_result"] = {"call_id": results[-1][0]} if results else False
    else:
        fields = {k: body[k] for k in ("input", "prompt") if k in body and _small(body[k])}
        if fields:
            match["body"] = {k: v if not isinstance(v, dict | list) else {"equals": v} for k, v in fields.items()}
    return match


def _small(value: Any) -> bool:
    return len(orjson.dumps(value)) <= 2048


def reply(ex: Exchange) -> dict[str, Any] | None:
    """The ``respond:`` of a rule, or None when the format cannot express the answer."""
    if ex.status >= 400 and isinstance(ex.response, dict) and isinstance(ex.response.get("error"), dict):
        error = ex.response["error"]
        out: dict[str, Any] = {"status": ex.status}
        for key in ("type", "code", "message", "param"):
            if error.get(key) is not None:
                out[key] = literal(str(error[key]))
        if ex.headers:
            out["headers"] = dict(ex.headers)
        return {"error": out}
    if ex.operation == "createChatCompletion" and ex.status == 200:
        return chat_reply(ex)
    if ex.operation == "createResponse" and ex.status == 200 and ex.events:
        return responses_reply(ex)
    if ex.events or ex.response is None:
        return None
    out = {"body": _literal_tree(ex.response)}
    if ex.status != 200:
        out["status"] = ex.status
    return out


def chat_reply(ex: Exchange) -> dict[str, Any] | None:
    content: str | None = None
    refusal: str | None = None
    calls: dict[int, dict[str, str]] = {}
    finish: str | None = None
    messages = [_message(c) for c in _chunks(ex)] if ex.events else [_message(ex.response)]
    for message, reason in messages:
        finish = reason or finish
        if isinstance(message.get("content"), str):
            content = (content or "") + message["content"]
        if isinstance(message.get("refusal"), str):
            refusal = (refusal or "") + message["refusal"]
        for index, call in enumerate(message.get("tool_calls") or ()):
            slot = calls.setdefault(int(call.get("index", index)), {"id": "", "name": "", "arguments": ""})
            function = call.get("function") or {}
            slot["id"] = call.get("id") or slot["id"]
            slot["name"] += function.get("name") or ""
            slot["arguments"] += function.get("arguments") or ""
    out: dict[str, Any] = {}
    if content or (content is not None and not calls):
        out["content"] = literal(content)
    if refusal:
        out["refusal"] = literal(refusal)
    if calls:
        out["tool_calls"] = [
            {"id": c["id"], "name": c["name"], "arguments": literal(c["arguments"])} for _i, c in sorted(calls.items())
        ]
    if finish in ("stop", "length", "tool_calls", "content_filter"):
        out["finish_reason"] = finish
    return out or {"content": ""}


def responses_reply(ex: Exchange) -> dict[str, Any] | None:
    """A Responses stream (``event:`` + ``data:`` frames) reassembled from its final ``response.completed`` /
    ``response.incomplete`` event; without one, from the ``response.output_text.delta`` events."""
    final: dict[str, Any] | None = None
    text = ""
    for event in _chunks(ex):
        if not isinstance(event, dict):
            continue
        kind = event.get("type")
        if kind in ("response.completed", "response.incomplete") and isinstance(event.get("response"), dict):
            final = event["response"]
        elif kind == "response.output_text.delta" and isinstance(event.get("delta"), str):
            text += event["delta"]
    if final is None:
        return {"content": literal(text)} if text else None
    content: str | None = None
    refusal: str | None = None
    calls: list[dict[str, str]] = []
    for item in final.get("output") or ():
        if not isinstance(item, dict):
            continue
        if item.get("type") == "function_call":
            arguments = item.get("arguments")
            calls.append(
                {
                    "id": str(item.get("call_id") or ""),
                    "name": str(item.get("name") or ""),
                    "arguments": literal(arguments if isinstance(arguments, str) else orjson.dumps(arguments).decode()),
                }
            )
        elif item.get("type") == "message":
            for part in item.get("content") or ():
                if isinstance(part, dict) and part.get("type") == "output_text" and isinstance(part.get("text"), str):
                    content = (content or "") + part["text"]
                elif isinstance(part, dict) and part.get("type") == "refusal" and isinstance(part.get("refusal"), str):
                    refusal = (refusal or "") + part["refusal"]
    out: dict[str, Any] = {}
    if content or (content is not None and not calls):
        out["content"] = literal(content)
    if refusal:
        out["refusal"] = literal(refusal)
    if calls:
        out["tool_calls"] = [{k: v for k, v in call.items() if v or k == "arguments"} for call in calls]
    if final.get("status") == "incomplete":
        out["finish_reason"] = "length"
    return out or {"content": ""}


def _chunks(ex: Exchange) -> list[Any]:
    found = []
    for _at, data in ex.events:
        try:
            found.append(orjson.loads(data))
        except orjson.JSONDecodeError:
            continue  # [DONE]
    return found


def _message(body: Any) -> tuple[dict[str, Any], str | None]:
    choices = body.get("choices") if isinstance(body, dict) else None
    if not choices or not isinstance(choices[0], dict):
        return {}, None
    choice = choices[0]
    message = choice.get("delta") if "delta" in choice else choice.get("message")
    return (message if isinstance(message, dict) else {}), choice.get("finish_reason")


def timing(ex: Exchange) -> tuple[float | None, float | None]:
    """(TTFT, mean inter-chunk gap) in seconds for a stream, from the chunks that carried output."""
    moments = [at for (at, data), chunk in zip(ex.events, _all(ex), strict=True) if _carries(chunk)]
    if not moments:
        return None, None
    gaps = [b - a for a, b in pairwise(moments)]
    return moments[0], (statistics.fmean(gaps) if gaps else None)


def _all(ex: Exchange) -> list[Any]:
    out = []
    for _at, data in ex.events:
        try:
            out.append(orjson.loads(data))
        except orjson.JSONDecodeError:
            out.append(None)
    return out


def _carries(chunk: Any) -> bool:
    if isinstance(chunk, dict) and isinstance(chunk.get("type"), str):  # a Responses event: output deltas carry
        return chunk["type"].endswith(".delta") and bool(chunk.get("delta"))
    message, _finish = _message(chunk)
    return bool(message.get("content") or message.get("tool_calls") or message.get("refusal"))


def comment(ex: Exchange) -> str:
    ttft, itl = timing(ex)
    parts = [f"{ex.method} {ex.path} -> {ex.status}"]
    if ex.events:
        parts.append(f"{len(ex.events)} events")
    if ttft is not None:
        parts.append(f"ttft {ttft * 1000:.1f} ms")
    if itl is not None:
        parts.append(f"itl {itl * 1000:.1f} ms")
    parts.append(f"total {ex.total * 1000:.1f} ms")
    return "recorded: " + ", ".join(parts)


def latency_settings(exchanges: Sequence[Exchange]) -> dict[str, str]:
    """Median TTFT / inter-token gap of the recorded streams as ``--ttft`` / ``--itl`` values."""
    ttfts, itls = [], []
    for ex in exchanges:
        ttft, itl = timing(ex)
        if ttft is not None:
            ttfts.append(ttft * 1000)
        if itl is not None:
            itls.append(itl * 1000)
    out = {}
    for name, values in (("ttft", ttfts), ("itl", itls)):
        if values:
            median = statistics.median(values)
            spread = statistics.pstdev(values) / median * 100 if median and len(values) > 1 else 0.0
            out[name] = f"{median:.1f}:{spread:.0f}" if spread >= 1 else f"{median:.1f}"
    return out


def _block_strings(dumper: Any, data: str) -> Any:
    style = "|" if "\n" in data and not data.endswith(" ") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


def scenario_text(exchanges: Sequence[Exchange], scrub: Scrubber, name: str, description: str) -> str:
    """The scenario file: one rule per distinct request, a comment with its recorded timing above it."""
    import yaml

    class Dumper(yaml.SafeDumper):  # type: ignore[misc,unused-ignore]  # yaml is Any without types-PyYAML
        pass

    Dumper.add_representer(str, _block_strings)
    groups: dict[bytes, list[tuple[Exchange, dict[str, Any]]]] = {}
    skipped: list[str] = []
    for ex in exchanges:
        answer = reply(ex)
        if answer is None:
            skipped.append(f"{ex.method} {ex.path} ({ex.status}, {ex.content_type or 'no body'})")
            continue
        match = scrub(identity(ex))
        groups.setdefault(orjson.dumps(match, option=orjson.OPT_SORT_KEYS), []).append((ex, scrub(answer)))
    head = {"name": name, "description": scrub(description)}
    lines = [yaml.dump(head, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=120).rstrip()]
    for item in skipped:
        lines.append(f"# not replayable, skipped: {item}")
    lines.append("rules:" if groups else "rules: []")
    for number, recorded in enumerate(groups.values(), start=1):
        first = recorded[0][0]
        rule: dict[str, Any] = {"name": f"{number:03d}-{first.operation or first.method.lower()}"}
        rule["match"] = scrub(identity(first))  # written in a readable order
        answers = [a for _ex, a in recorded]
        if len(answers) == 1:
            rule["respond"] = answers[0]
        else:
            rule["sequence"] = answers
        for ex, _answer in recorded:
            lines.append(f"# {scrub(comment(ex))}")
        lines.append(yaml.dump([rule], Dumper=Dumper, sort_keys=False, allow_unicode=True, width=120).rstrip())
    return "\n".join(lines) + "\n"


def write_atomic(path: Path, text: str) -> None:
    """Readers (and a crash) see the old file or the new one, never half of one."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
