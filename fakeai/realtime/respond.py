"""One realtime response: what the model says (text, speech, or a function call) as a list of paced events.

Pure planning, like a producer: :func:`plan` decides the output from the session, the conversation and the
``response.create`` overrides with fakeai's text machinery (``generate``, the model's tokenizer, ``plan_calls``
for arguments valid against the function's ``parameters``); :func:`events` renders it as the GA event grammar
with a due time per event (seconds after the response started: TTFT, then ITL per token). Only the stream
(:mod:`fakeai.realtime.stream`) sleeps, and the connection (:mod:`fakeai.realtime.connection`) sends.
"""

from __future__ import annotations

import base64
import random
import re
from collections.abc import Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, replace
from typing import Any

from fakeai.ids import new_id
from fakeai.producers.text.common import GenerationConfig
from fakeai.producers.text.script import Script, scripted_text
from fakeai.producers.text.text import generate
from fakeai.producers.text.tokenizer import for_model
from fakeai.producers.text.tools import plan_calls
from fakeai.realtime import audio

INPUT_AUDIO_TOKENS_PER_SECOND = 10  # OpenAI bills realtime input audio at 1 token per 100 ms
OUTPUT_AUDIO_TOKENS_PER_SECOND = 20  # and output audio at 1 token per 50 ms
_WORD = re.compile(r"[a-z]{4,}")


@dataclass(frozen=True)
class Plan:
    response_id: str
    item_id: str
    modalities: tuple[str, ...]
    text: str = ""
    tokens: tuple[str, ...] = ()
    call: Any = None  # fakeai.producers.text.tools.ToolCall
    speech: bytes = b""
    input_tokens: int = 0
    input_audio_tokens: int = 0
    finish: str = "stop"  # "length": cut at max_output_tokens
    conversation_id: str | None = None
    voice: str = "alloy"
    extra: tuple[Plan, ...] = ()  # further function calls of the same response (output_index 1, 2, ...)

    @property
    def parts(self) -> tuple[Plan, ...]:
        """The response's output items in order, each as a plan of its own."""
        return (self, *self.extra)

    @property
    def token_count(self) -> int:
        return sum(len(part.tokens) for part in self.parts)

    @property
    def output_tokens(self) -> int:
        text = len(self.tokens) if self.call is None else len(self.tokens) or 1
        return text + self.audio_tokens

    @property
    def audio_tokens(self) -> int:
        return round(audio.seconds_of(self.speech) * OUTPUT_AUDIO_TOKENS_PER_SECOND)


def item_text(item: Mapping[str, Any]) -> str:
    if item.get("type") == "function_call_output":
        return str(item.get("output", ""))
    if item.get("type") == "function_call":
        return f"{item.get('name', '')}({item.get('arguments', '')})"
    parts = []
    for part in item.get("content") or ():
        if isinstance(part, Mapping):
            parts.append(str(part.get("text") or part.get("transcript") or ""))
    return " ".join(p for p in parts if p)


def _asked_for(function: Mapping[str, Any], said: str) -> bool:
    """The user's words name the function (its name split at ``_`` or a word of its description)."""
    words = set(_WORD.findall(said.lower()))
    named = set(_WORD.findall(str(function.get("name", "")).replace("_", " ").lower()))
    described = set(_WORD.findall(str(function.get("description", "")).lower()))
    return bool(words & named) or len(words & described) >= 2


def _call(config: Mapping[str, Any], items: Sequence[Mapping[str, Any]], rng: random.Random, now: float) -> Any:
    """The function call to make, or None (answer with text). ``auto``: only when the last item is the user's
    and the user asked for a function; ``required``: always; ``{"type": "function", "name": N}``: N."""
    functions = [t for t in config.get("tools") or () if isinstance(t, Mapping) and t.get("type") == "function"]
    choice = config.get("tool_choice", "auto")
    if not functions or choice == "none" or not items:
        return None
    last = items[-1]
    said = item_text(last) if last.get("role") == "user" else ""
    if isinstance(choice, Mapping):
        functions = [f for f in functions if f.get("name") == choice.get("name")]
    elif choice != "required":
        functions = [f for f in functions if said and _asked_for(f, said)]
    if not functions:
        return None
    body = {
        "tools": [{"type": "function", "function": {k: v for k, v in f.items() if k != "type"}} for f in functions],
        "tool_choice": "required",
        "parallel_tool_calls": False,
    }
    calls = plan_calls(body, rng, now, said=[said] if said else [])
    return calls[0] if calls else None


def plan(
    config: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]],
    generation: GenerationConfig,
    rng: random.Random,
    now: float,
    input_audio_seconds: float = 0.0,
    script: Script | None = None,
) -> Plan:
    """``config``: the session merged with the ``response.create`` overrides; ``items``: the conversation;
    ``script``: a scenario rule's answer (its content, or its tool calls: one output item each) instead of
    generated output."""
    model = str(config.get("model") or "gpt-realtime")
    tokenizer = generation.tokenizer or for_model("gpt-4o")  # realtime models use gpt-4o's o200k encoding
    modalities = tuple(config.get("output_modalities") or ("audio",))
    prompt = " ".join(filter(None, [str(config.get("instructions") or "")] + [item_text(i) for i in items]))
    last_user = next((item_text(i) for i in reversed(items) if i.get("role") == "user"), "")
    limit = config.get("max_output_tokens")
    max_tokens = limit if isinstance(limit, int) else None
    ids = dict(response_id=new_id(rng, "resp_"), item_id=new_id(rng, "item_"))
    voice = str((((config.get("audio") or {}).get("output") or {}).get("voice")) or "alloy")
    common = dict(
        modalities=modalities,
        input_tokens=tokenizer.count(prompt) + 4 * len(items),
        input_audio_tokens=round(input_audio_seconds * INPUT_AUDIO_TOKENS_PER_SECOND),
        conversation_id=config.get("conversation_id"),
        voice=voice,
    )
    if script is not None:
        call = script.tool_calls[0] if script.tool_calls else None
        text = script.content if script.content is not None else (script.refusal or "")
    else:
        call = _call(config, items, rng, now)
    if call is not None:
        first = Plan(**ids, call=call, tokens=tuple(tokenizer.split(call.arguments)[1]), **common)  # type: ignore[arg-type]
        more = script.tool_calls[1:] if script is not None else ()
        extra = tuple(
            Plan(
                response_id=first.response_id,
                item_id=new_id(rng, "item_"),
                call=other,
                tokens=tuple(tokenizer.split(other.arguments)[1]),
                **common,  # type: ignore[arg-type]
            )
            for other in more
        )
        return replace(first, extra=extra) if extra else first
    if script is not None:
        completion = scripted_text(text, tokenizer, max_tokens)
    else:
        completion = generate(
            mode=generation.mode,
            rng=rng,
            tokenizer=tokenizer,
            max_tokens=max_tokens,
            length=generation.length,
            prompt_text=last_user,
            fixed_text=generation.fixed_text,
        )
    speech = audio.speech(audio.duration_of(completion.text), rng) if "audio" in modalities else b""
    del model
    return Plan(
        **ids,  # type: ignore[arg-type]
        text=completion.text,
        tokens=completion.tokens,
        speech=speech,
        finish=completion.finish_reason,
        **common,  # type: ignore[arg-type]
    )


def output_item(p: Plan, status: str, done: bool, upto: int | None = None) -> dict[str, Any]:
    """The response's output item; ``done``: with its content (``upto`` tokens of it, for a cancel)."""
    tokens = p.tokens if upto is None else p.tokens[:upto]
    if p.call is not None:
        return {
            "id": p.item_id,
            "object": "realtime.item",
            "type": "function_call",
            "status": status,
            "call_id": p.call.id,
            "name": p.call.name,
            "arguments": "".join(tokens) if done else "",
        }
    content: list[dict[str, Any]] = []
    if done:
        text = "".join(tokens)
        content = [{"type": "output_audio", "transcript": text} if p.speech else {"type": "output_text", "text": text}]
    return {
        "id": p.item_id,
        "object": "realtime.item",
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content,
    }


def usage(p: Plan, upto: int | None = None) -> dict[str, Any]:
    count = p.token_count
    text_out = count if upto is None else min(upto, count)
    audio_out = p.audio_tokens if upto is None or not count else round(p.audio_tokens * text_out / count)
    text_in, audio_in = p.input_tokens, p.input_audio_tokens
    return {
        "total_tokens": text_in + audio_in + text_out + audio_out,
        "input_tokens": text_in + audio_in,
        "output_tokens": text_out + audio_out,
        "input_token_details": {
            "text_tokens": text_in,
            "audio_tokens": audio_in,
            "image_tokens": 0,
            "cached_tokens": 0,
            "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
        },
        "output_token_details": {"text_tokens": text_out, "audio_tokens": audio_out},
    }


def response(
    p: Plan,
    status: str,
    output: list[dict[str, Any]],
    reason: str | None = None,
    with_usage: bool = False,
    upto: int | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "object": "realtime.response",
        "id": p.response_id,
        "status": status,
        "status_details": None,
        "output": output,
        "conversation_id": p.conversation_id,
        "output_modalities": list(p.modalities),
        "max_output_tokens": "inf",
        "audio": {"output": {"format": {"type": "audio/pcm", "rate": audio.RATE}, "voice": p.voice}},
        "usage": usage(p, upto) if with_usage else None,
        "metadata": None,
    }
    if status != "in_progress":
        body["status_details"] = {"type": status, **({"reason": reason} if reason else {})}
    else:
        del body["status_details"]
    if body["conversation_id"] is None:
        del body["conversation_id"]
    if body["usage"] is None:
        del body["usage"]
    return body


def events(p: Plan) -> Iterator[tuple[int, dict[str, Any]]]:
    """The events up to (not including) the final ``response.done``, each with the number of tokens sent when
    it is due (0: at once; k: when token k is out, so the pacer waits TTFT + (k-1) x ITL); the output items one
    after the other, their tokens counted on from the previous item's."""
    yield 0, {"type": "response.created", "response": response(p, "in_progress", [])}
    offset = 0
    for index, part in enumerate(p.parts):
        yield from _item_events(part, index, offset)
        offset += len(part.tokens)


def _item_events(p: Plan, output_index: int, offset: int) -> Iterator[tuple[int, dict[str, Any]]]:
    where = {"response_id": p.response_id, "item_id": p.item_id, "output_index": output_index}
    yield (
        offset,
        {
            "type": "response.output_item.added",
            "response_id": p.response_id,
            "output_index": output_index,
            "item": output_item(p, "in_progress", False),
        },
    )
    yield (
        offset,
        {"type": "conversation.item.added", "previous_item_id": None, "item": output_item(p, "in_progress", False)},
    )
    n = offset + len(p.tokens)
    if p.call is not None:
        for index, token in enumerate(p.tokens, offset + 1):
            yield (
                index,
                {"type": "response.function_call_arguments.delta", **where, "call_id": p.call.id, "delta": token},
            )
        yield (
            n,
            {
                "type": "response.function_call_arguments.done",
                **where,
                "call_id": p.call.id,
                "name": p.call.name,
                "arguments": p.call.arguments,
            },
        )
    else:
        spoken = bool(p.speech)
        part = {"type": "audio", "transcript": ""} if spoken else {"type": "text", "text": ""}
        at = {**where, "content_index": 0}
        yield offset, {"type": "response.content_part.added", **at, "part": part}
        pieces = audio.chunks(p.speech, len(p.tokens)) if spoken else []
        for index, token in enumerate(p.tokens, 1):
            if spoken:
                yield offset + index, {"type": "response.output_audio_transcript.delta", **at, "delta": token}
                yield (
                    offset + index,
                    {
                        "type": "response.output_audio.delta",
                        **at,
                        "delta": base64.b64encode(pieces[index - 1]).decode("ascii"),
                    },
                )
            else:
                yield offset + index, {"type": "response.output_text.delta", **at, "delta": token}
        if spoken:
            yield n, {"type": "response.output_audio.done", **at}
            yield n, {"type": "response.output_audio_transcript.done", **at, "transcript": p.text}
            yield n, {"type": "response.content_part.done", **at, "part": {"type": "audio", "transcript": p.text}}
        else:
            yield n, {"type": "response.output_text.done", **at, "text": p.text}
            yield n, {"type": "response.content_part.done", **at, "part": {"type": "text", "text": p.text}}
    item = output_item(p, "completed", True)
    yield (
        n,
        {"type": "response.output_item.done", "response_id": p.response_id, "output_index": output_index, "item": item},
    )
    yield n, {"type": "conversation.item.done", "item": item}


def completed_output(p: Plan) -> list[dict[str, Any]]:
    return [output_item(part, "completed", True) for part in p.parts]


def cancelled_output(p: Plan, sent: int, started: Set[str]) -> list[dict[str, Any]]:
    """The items of a response cancelled after ``sent`` tokens: of the ``started`` ones (their
    ``output_item.added`` went out; the first always counts), the last ``incomplete`` with what it sent, the
    ones before it ``completed``."""
    begun = [part for index, part in enumerate(p.parts) if index == 0 or part.item_id in started]
    output: list[dict[str, Any]] = []
    offset = 0
    for part in begun:
        if part is begun[-1]:
            output.append(output_item(part, "incomplete", True, upto=max(0, sent - offset)))
        else:
            output.append(output_item(part, "completed", True))
        offset += len(part.tokens)
    return output
