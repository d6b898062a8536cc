"""createResponse: the Responses API answering like a model.

The producer plans the output items in the order a model writes them (a ``reasoning`` item for
reasoning models, then ``function_call`` items or one assistant ``message``), charging each one's
tokens against ``max_output_tokens`` (which includes reasoning tokens, as OpenAI documents). The
first item that does not fit is cut at exactly the remaining budget and the response becomes
``incomplete`` with ``incomplete_details.reason = "max_output_tokens"``.

The final :class:`Answer` is rendered either as the ``Response`` body or as the typed event
stream (:mod:`fakeai.producers.text.responses_stream`), whose ``response.completed`` /
``response.incomplete`` event carries the very same body. Key order follows OpenAI's answers.

:meth:`ResponsesProducer.produce_scripted` plans a :class:`~fakeai.producers.text.script.Script`
instead of generated content: after the reasoning item (reasoning models), one assistant message
with an ``output_text`` part (content) and/or a ``refusal`` part, then one ``function_call`` item
per scripted tool call, under the same ``max_output_tokens`` budget.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fakeai.catalog import Catalog, check_context
from fakeai.context import Output, RequestContext
from fakeai.ids import hex_id
from fakeai.producers.base import CompileEnv, Producer
from fakeai.producers.text import history, hosted, responses_stream
from fakeai.producers.text.arguments import user_texts
from fakeai.producers.text.backend import real_calls, responses_request
from fakeai.producers.text.common import Generation, GenerationConfig, draw_reasoning_tokens, last_user_text
from fakeai.producers.text.prompted import prompt_texts
from fakeai.producers.text.script import Script
from fakeai.producers.text.structured import generate_json, response_format_text
from fakeai.producers.text.text import LengthSpec, generate
from fakeai.producers.text.tokenizer import count_responses_input
from fakeai.producers.text.tools import ToolCall, function_tools, plan_calls
from fakeai.resources import search
from fakeai.spec.operation import Operation

__all__ = ["Answer", "Item", "ResponsesProducer", "build_answer", "factory"]

OPERATION_ID = "createResponse"
ID_STREAM, OBFUSCATION_STREAM, HOSTED_STREAM = 1_001, 1_002, 1_003  # Generation.rng streams besides the content (0)
EFFORT_SCALE = {"none": 0.0, "minimal": 0.25, "low": 0.5, "medium": 1.0, "high": 2.0, "xhigh": 3.0}
SUMMARY_LENGTH = {
    "concise": LengthSpec(mean=30, stddev=8, minimum=8, maximum=80),
    "auto": LengthSpec(mean=60, stddev=20, minimum=12, maximum=160),
    "detailed": LengthSpec(mean=120, stddev=40, minimum=24, maximum=320),
}


@dataclass(frozen=True, slots=True)
class Item:
    """One output item: its final body, the token pieces of each streamed part, its output tokens.

    Parts: a message has one (its text), a function call one (its arguments), a reasoning item one
    per summary part. ``tokens`` is what the item costs in ``usage.output_tokens``.
    """

    body: dict[str, Any]
    parts: tuple[tuple[str, ...], ...]
    tokens: int


@dataclass(frozen=True, slots=True)
class Answer:
    response: dict[str, Any]  # the final Response body (also the payload of response.completed)
    items: tuple[Item, ...]
    output_tokens: int


class ResponsesProducer:
    source = "llm"

    def __init__(self, config: GenerationConfig, catalog: Catalog | None = None, store: Any = None) -> None:
        self.config = config
        self.catalog = catalog  # context windows (None: no check)
        self.store = store  # earlier turns: previous_response_id, conversation (fakeai.producers.text.history)

    def produce(self, ctx: RequestContext) -> Output:
        return self._answer(ctx, None)

    def produce_scripted(self, ctx: RequestContext, script: Script) -> Output:
        """The script's message / refusal / function calls in place of generated output."""
        return self._answer(ctx, script)

    def _answer(self, ctx: RequestContext, script: Script | None) -> Output:
        body: Mapping[str, Any] = ctx.body if isinstance(ctx.body, dict) else {}
        turns = history.earlier(self.store, ctx)
        body = history.with_history(body, turns)  # the earlier turns count and the generator sees them
        gen = self.config.for_request(ctx)
        tokens = _input_tokens(body, gen)
        limit = body.get("max_output_tokens")
        check_context(self.catalog, gen.base_model, tokens, limit if isinstance(limit, int) else None, "responses")
        answer = history.echo(build_answer(body, gen, ctx.now, script, input_tokens=tokens), turns)
        answer = search.file_search(answer, body, ctx, self.store)  # file_search tools: call item, citations
        answer = hosted.hosted_calls(answer, body, gen.rng(HOSTED_STREAM))  # web search, code, images
        if ctx.wants_stream:
            options = body.get("stream_options")
            obfuscate = not (isinstance(options, Mapping) and options.get("include_obfuscation") is False)
            rng = gen.rng(OBFUSCATION_STREAM) if obfuscate else None
            frames = hosted.streamed(answer, responses_stream.frames(answer, gen.tokens_per_chunk, rng), body)
            return Output(frames=frames, content_type="text/event-stream", source="llm")
        return Output(body=answer.response, source="llm", completion_tokens=answer.output_tokens)


def factory(operation: Operation, env: CompileEnv) -> Producer | None:
    if operation.operation_id != OPERATION_ID:
        return None
    return ResponsesProducer(GenerationConfig.from_env(env), Catalog.from_settings(env.settings), env.store)


# --- planning the output -----------------------------------------------------------------------


class _Ids:
    """OpenAI-looking ids: ``<prefix><created_at as 8 hex><26 random hex><16 hex shared by the response>``."""

    def __init__(self, rng: random.Random, created: int) -> None:
        self.rng = rng
        self.head = f"{created & 0xFFFFFFFF:08x}"
        self.tail = hex_id(rng, "", 64)

    def __call__(self, prefix: str) -> str:
        return hex_id(self.rng, prefix + self.head, 104) + self.tail


def build_answer(
    body: Mapping[str, Any], gen: Generation, now: float, script: Script | None = None, input_tokens: int | None = None
) -> Answer:
    created = int(now)
    ids = _Ids(gen.rng(ID_STREAM), created)
    rng = gen.rng()
    limit = body.get("max_output_tokens")
    budget: int | None = max(limit, 0) if isinstance(limit, int) and not isinstance(limit, bool) else None
    items: list[Item] = []
    effort, summary = _reasoning_params(body, gen)
    if gen.reasoning and EFFORT_SCALE.get(effort or "medium", 1.0) > 0:
        items.append(_reasoning_item(body, gen, rng, ids, effort, summary, budget))
    remaining = None if budget is None else budget - sum(item.tokens for item in items)
    cut = remaining is not None and remaining <= 0  # reasoning used the whole budget
    if not cut and script is not None:
        scripted, cut = _scripted_items(script, gen, ids, remaining)
        items.extend(scripted)
    elif not cut:
        calls = plan_calls(_as_chat_tools(body), rng, now, user_texts(body.get("input")))
        if calls and gen.backend is not None:  # the real model writes the arguments (fakeai's policy picked)
            asked = responses_request(body, rng.getrandbits(31), remaining)
            calls = real_calls(gen.backend, asked, calls, function_tools(_as_chat_tools(body).get("tools")))
        if calls:
            called = _call_items(calls, gen, ids, remaining)
            cut = len(called) < len(calls) or called[-1].body["status"] == "incomplete"
            items.extend(called)
        else:
            items.append(_message_item(body, gen, rng, ids, remaining, now))
            cut = items[-1].body["status"] == "incomplete"
    output_tokens = sum(item.tokens for item in items)
    reasoning_tokens = items[0].tokens if items and items[0].body["type"] == "reasoning" else 0
    input_tokens = _input_tokens(body, gen) if input_tokens is None else input_tokens
    usage = {
        "input_tokens": input_tokens,
        # cache_write_tokens: spec 2026-08+, SDK 3.5x
        "input_tokens_details": {"cached_tokens": gen.cached_prompt_tokens(input_tokens), "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
        "total_tokens": input_tokens + output_tokens,
    }
    response = response_body(
        body,
        gen,
        ident=ids("resp_"),
        created=created,
        status="incomplete" if cut else "completed",
        output=[item.body for item in items],
        usage=usage,
        effort=effort,
        summary=summary,
    )
    return Answer(response, tuple(items), output_tokens)


def _reasoning_params(body: Mapping[str, Any], gen: Generation) -> tuple[str | None, str | None]:
    reasoning = body.get("reasoning")
    reasoning = reasoning if isinstance(reasoning, Mapping) else {}
    effort = reasoning.get("effort")
    summary = reasoning.get("summary") or reasoning.get("generate_summary")
    effort = effort if isinstance(effort, str) else ("medium" if gen.reasoning else None)
    return effort, summary if isinstance(summary, str) else None


def _reasoning_item(
    body: Mapping[str, Any],
    gen: Generation,
    rng: random.Random,
    ids: _Ids,
    effort: str | None,
    summary: str | None,
    budget: int | None,
) -> Item:
    scale = EFFORT_SCALE.get(effort or "medium", 1.0)
    tokens = max(64, round(draw_reasoning_tokens(rng, round(gen.length.mean)) * scale / 64) * 64)
    if budget is not None:
        tokens = min(tokens, budget)
    parts: tuple[tuple[str, ...], ...] = ()
    if summary in SUMMARY_LENGTH:
        text = generate(mode="lorem", rng=rng, tokenizer=gen.tokenizer, max_tokens=None, length=SUMMARY_LENGTH[summary])
        parts = (text.tokens,)
    item: dict[str, Any] = {"id": ids("rs_"), "type": "reasoning"}
    include = body.get("include")
    if isinstance(include, list) and "reasoning.encrypted_content" in include:
        item["encrypted_content"] = "gAAAAAB" + base64.urlsafe_b64encode(rng.randbytes(96 + tokens // 4)).decode()
    item["summary"] = [{"type": "summary_text", "text": "".join(part)} for part in parts]
    return Item(item, parts, tokens)


def _as_chat_tools(body: Mapping[str, Any]) -> dict[str, Any]:
    """The request in the chat shape :func:`~fakeai.producers.text.tools.plan_calls` reads.

    Responses function tools are flat (``{"type": "function", "name", "parameters"}``), allowed
    tools too; the last input item stands for the last message: a ``function_call_output``
    (like a chat ``tool`` message) makes an ``auto`` model answer with text.
    """
    tools = body.get("tools")
    functions = [
        {"type": "function", "function": tool}
        for tool in (tools if isinstance(tools, list) else ())
        if isinstance(tool, Mapping) and tool.get("type") == "function"
    ]
    choice = body.get("tool_choice", "auto")
    if isinstance(choice, Mapping) and choice.get("type") == "allowed_tools":
        choice = {"type": "allowed_tools", "allowed_tools": {"mode": choice.get("mode"), "tools": choice.get("tools")}}
    elif isinstance(choice, Mapping) and choice.get("type") != "function":
        choice = "none"  # hosted / custom tools are not simulated: answer with text
    return {
        "tools": functions,
        "tool_choice": choice,
        "parallel_tool_calls": body.get("parallel_tool_calls"),
        "messages": [{"role": _last_role(body.get("input"))}],
    }


def _last_role(input: Any) -> str:
    if not isinstance(input, list) or not input or not isinstance(input[-1], Mapping):
        return "user"
    last = input[-1]
    role = last.get("role")
    if isinstance(role, str):
        return role
    kind = last.get("type")
    return "tool" if isinstance(kind, str) and kind.endswith("_output") else "assistant"


def _call_items(calls: Sequence[ToolCall], gen: Generation, ids: _Ids, remaining: int | None) -> list[Item]:
    items: list[Item] = []
    for call in calls:
        if remaining is not None and remaining <= 0:
            break
        pieces = gen.tokenizer.split(call.arguments)[1]
        status = "completed"
        if remaining is not None and len(pieces) > remaining:
            pieces, status = pieces[:remaining], "incomplete"
        if remaining is not None:
            remaining -= len(pieces)
        body = {
            "id": ids("fc_"),
            "type": "function_call",
            "status": status,
            "arguments": "".join(pieces),
            "call_id": call.id,
            "name": call.name,
        }
        items.append(Item(body, (pieces,), len(pieces)))
    return items


def _message_item(
    body: Mapping[str, Any], gen: Generation, rng: random.Random, ids: _Ids, remaining: int | None, now: float
) -> Item:
    json_text = _format_json(body, rng, now) if gen.backend is None else None
    if gen.backend is not None:  # a real model (text.format JSON through a grammar)
        completion = gen.backend.complete(responses_request(body, rng.getrandbits(31), remaining))
        pieces, cut = completion.tokens, completion.finish_reason == "length" and remaining is not None
    elif json_text is not None:
        pieces = gen.tokenizer.split(json_text)[1]
        cut = remaining is not None and len(pieces) > remaining
        if remaining is not None and cut:
            pieces = pieces[:remaining]
    else:
        completion = generate(
            mode=gen.mode,
            rng=rng,
            tokenizer=gen.tokenizer,
            max_tokens=remaining,
            length=gen.length,
            prompt_text=last_user_text(body.get("input")),
            fixed_text=gen.fixed_text,
            ignore_eos=gen.ignore_eos,
        )
        pieces, cut = completion.tokens, completion.finish_reason == "length" and remaining is not None
    content = {"type": "output_text", "annotations": [], "logprobs": [], "text": "".join(pieces)}
    item = {
        "id": ids("msg_"),
        "type": "message",
        "status": "incomplete" if cut else "completed",
        "content": [content],
        "role": "assistant",
    }
    return Item(item, (pieces,), len(pieces))


def _scripted_items(script: Script, gen: Generation, ids: _Ids, remaining: int | None) -> tuple[list[Item], bool]:
    """A message (an ``output_text`` and/or a ``refusal`` part; empty text when the script has neither and
    no calls), then the function calls; whatever does not fit the budget is cut. Also: whether it was cut."""
    items: list[Item] = []
    texts = (("output_text", script.content), ("refusal", script.refusal))
    wanted = [(kind, text) for kind, text in texts if text is not None]
    if not wanted and not script.tool_calls:
        wanted = [("output_text", "")]
    if wanted:
        contents: list[dict[str, Any]] = []
        parts: list[tuple[str, ...]] = []
        cut = False
        for kind, text in wanted:
            pieces = gen.tokenizer.split(text)[1]
            if remaining is not None and len(pieces) > remaining:
                pieces, cut = pieces[: max(remaining, 0)], True
            if remaining is not None:
                remaining -= len(pieces)
            contents.append(_part(kind, "".join(pieces)))
            parts.append(pieces)
            if cut:
                break
        status = "incomplete" if cut else "completed"
        item = {"id": ids("msg_"), "type": "message", "status": status, "content": contents, "role": "assistant"}
        items.append(Item(item, tuple(parts), sum(len(p) for p in parts)))
        if cut:
            return items, True
    calls = _call_items(script.tool_calls, gen, ids, remaining)
    cut = len(calls) < len(script.tool_calls) or any(c.body["status"] == "incomplete" for c in calls)
    return items + calls, cut


def _part(kind: str, text: str) -> dict[str, Any]:
    if kind == "refusal":
        return {"type": "refusal", "refusal": text}
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def _format_json(body: Mapping[str, Any], rng: random.Random, now: float) -> str | None:
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, Mapping) else None
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
        schema = fmt.get("schema")
        return generate_json(schema if isinstance(schema, Mapping) else None, rng, now, "text.format.schema")
    prompt = prompt_texts(body.get("input"), body.get("instructions"))  # a schema written into the prompt
    return response_format_text(fmt, rng, now, prompt)


def _input_tokens(body: Mapping[str, Any], gen: Generation) -> int:
    if gen.backend is not None:  # the tokens the model really reads (its chat template)
        return gen.backend.count_prompt(responses_request(body, 0, None))
    input = body.get("input")
    instructions = body.get("instructions")
    items: str | list[Mapping[str, Any]]
    if isinstance(input, list):
        items = [item for item in input if isinstance(item, Mapping)]
    else:
        items = input if isinstance(input, str) else ""
    if isinstance(instructions, list):  # instructions given as input items: counted as leading items
        leading = [item for item in instructions if isinstance(item, Mapping)]
        items = leading + (items if isinstance(items, list) else [{"role": "user", "content": items}])
    tools = body.get("tools")
    tool_list = [t for t in tools if isinstance(t, Mapping)] if isinstance(tools, list) else None
    text_instructions = instructions if isinstance(instructions, str) else None
    return count_responses_input(items, text_instructions, gen.base_model, tool_list, gen.tokenizer)


# --- the Response object -----------------------------------------------------------------------


def response_body(
    body: Mapping[str, Any],
    gen: Generation,
    *,
    ident: str,
    created: int,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
    effort: str | None,
    summary: str | None,
) -> dict[str, Any]:
    """A ``Response`` echoing the request's parameters (spec defaults when absent), in OpenAI's key order."""
    text = body.get("text")
    text = text if isinstance(text, Mapping) else {}
    tools = body.get("tools")
    tier = body.get("service_tier")
    response: dict[str, Any] = {
        "id": ident,
        "object": "response",
        "created_at": created,
        "status": status,
        "background": body.get("background") is True,
        "completed_at": created if status == "completed" else None,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": body.get("max_tool_calls"),
        "model": gen.model,
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls") is not False,
        "previous_response_id": body.get("previous_response_id"),
    }
    for optional in ("prompt_cache_key", "safety_identifier"):
        if isinstance(body.get(optional), str):
            response[optional] = body[optional]
    response["prompt_cache_retention"] = body.get("prompt_cache_retention")
    response["reasoning"] = {"effort": effort, "summary": summary}
    response["service_tier"] = "default" if tier in (None, "auto") else tier
    response["store"] = body.get("store") is not False
    response["temperature"] = _number(body.get("temperature"), 1.0)
    response["text"] = {"format": _echo_format(text.get("format")), "verbosity": text.get("verbosity") or "medium"}
    response["tool_choice"] = body.get("tool_choice") or "auto"
    response["tools"] = [_echo_tool(t) for t in tools if isinstance(t, Mapping)] if isinstance(tools, list) else []
    response["top_logprobs"] = _number(body.get("top_logprobs"), 0)
    response["top_p"] = _number(body.get("top_p"), 1.0)
    response["truncation"] = body.get("truncation") or "disabled"
    response["usage"] = usage
    if isinstance(body.get("user"), str):
        response["user"] = body["user"]
    response["metadata"] = body.get("metadata") or {}
    return response


def _number(value: Any, default: float) -> Any:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else default


def _echo_format(fmt: Any) -> Any:
    if not isinstance(fmt, Mapping) or fmt.get("type") != "json_schema":
        return fmt if isinstance(fmt, Mapping) else {"type": "text"}
    echoed: dict[str, Any] = {"type": "json_schema"}
    for key in ("description", "name", "schema", "strict"):
        if key in fmt:
            echoed[key] = fmt[key]
    return echoed


def _echo_tool(tool: Mapping[str, Any]) -> Mapping[str, Any]:
    """Function tools come back with every field: ``description``/``parameters`` null, ``strict`` true."""
    if tool.get("type") != "function":
        return tool
    echoed = {
        "type": "function",
        "description": tool.get("description"),
        "name": tool.get("name"),
        "parameters": tool.get("parameters"),
        "strict": tool.get("strict") is not False,
    }
    for key, value in tool.items():
        echoed.setdefault(key, value)
    return echoed
