"""Render a :class:`~fakeai.scenario.respond.Script` in the operation's wire format.

Chat Completions (``createChatCompletion``), streamed or not, are rendered here: usage counted
with the model's tokenizer, one SSE frame per ``tokens_per_chunk`` tokens (each frame carries its
token count so the latency simulator spaces them like a model), ``stream_options.include_usage``
honoured. Other operations answer 500: a script there is a scenario mistake.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fakeai.context import Frame, Output, RequestContext
from fakeai.errors import APIError
from fakeai.producers.llm.common import MODE_HEADER
from fakeai.producers.llm.text import LengthSpec
from fakeai.producers.llm.tokenizer import count_chat_prompt, for_model

if TYPE_CHECKING:
    from fakeai.scenario.respond import Script

_LONG = LengthSpec(mean=1_000_000, stddev=0, minimum=1, maximum=1_000_000)  # a script is never cut short
SCRIPTABLE = frozenset({"createChatCompletion", "createResponse"})


def render_for_operation(ctx: RequestContext, script: Script, where: str) -> Output:
    if ctx.operation_id == "createChatCompletion":
        return render_chat(ctx, script)
    if ctx.operation_id == "createResponse" and not script.tool_calls and script.refusal is None:
        return render_responses(ctx, script.content or "")
    raise APIError(
        500,
        f"fakeai scenario {where}: content/tool_calls/json/refusal can only answer "
        f"{', '.join(sorted(SCRIPTABLE))} (Responses: content/json only); use 'body:' for {ctx.operation_id}",
        type="server_error",
    )


def _usage(ctx: RequestContext, completion: int) -> dict[str, Any]:
    body = ctx.body if isinstance(ctx.body, dict) else {}
    raw_messages, raw_tools = body.get("messages"), body.get("tools")
    messages: list[Any] = raw_messages if isinstance(raw_messages, list) else []
    tools: list[Any] | None = raw_tools if isinstance(raw_tools, list) else None
    prompt = count_chat_prompt(messages, ctx.model, tools)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _header(ctx: RequestContext, kind: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{ctx.seed:016x}{ctx.rng.getrandbits(40):010x}",
        "object": kind,
        "created": int(ctx.now),
        "model": ctx.model or "gpt-4o",
        "service_tier": "default",
        "system_fingerprint": "fp_fakeai",
    }


def render_chat(ctx: RequestContext, script: Script) -> Output:
    tokenizer = for_model(ctx.model)
    text = script.content if script.content is not None else script.refusal
    pieces = list(tokenizer.split(text)[1]) if text else []
    arguments = [list(tokenizer.split(call.arguments)[1]) for call in script.tool_calls]
    completion = len(pieces) + sum(len(a) + 1 for a in arguments)
    header = _header(ctx, "chat.completion.chunk" if ctx.wants_stream else "chat.completion")
    if ctx.wants_stream:
        frames = _chat_frames(ctx, script, header, pieces, arguments, completion)
        return Output(status=200, frames=frames, source="scenario", completion_tokens=completion)
    message: dict[str, Any] = {
        "role": "assistant",
        "content": script.content,
        "refusal": script.refusal,
        "annotations": [],
    }
    if script.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in script.tool_calls
        ]
    body = {
        **header,
        "choices": [
            {"index": 0, "message": message, "finish_reason": script.finish_reason or "stop", "logprobs": None}
        ],
        "usage": _usage(ctx, completion),
    }
    return Output(status=200, body=body, source="scenario", completion_tokens=completion)


def _chat_frames(
    ctx: RequestContext,
    script: Script,
    header: dict[str, Any],
    pieces: list[str],
    arguments: list[list[str]],
    completion: int,
) -> list[Frame]:
    per_chunk = max(1, ctx.settings.tokens_per_chunk)
    key = "content" if script.content is not None else "refusal"

    def chunk(delta: dict[str, Any], finish: str | None = None, tokens: int = 0) -> Frame:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return Frame({**header, "choices": [choice]}, tokens=tokens)

    frames = [chunk({"role": "assistant", "content": "" if key == "content" else None})]
    for start in range(0, len(pieces), per_chunk):
        group = pieces[start : start + per_chunk]
        frames.append(chunk({key: "".join(group)}, tokens=len(group)))
    for index, (call, parts) in enumerate(zip(script.tool_calls, arguments, strict=True)):
        opening = {"index": index, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}
        frames.append(chunk({"tool_calls": [opening]}, tokens=1))
        for start in range(0, len(parts), per_chunk):
            group = parts[start : start + per_chunk]
            delta = {"tool_calls": [{"index": index, "function": {"arguments": "".join(group)}}]}
            frames.append(chunk(delta, tokens=len(group)))
    frames.append(chunk({}, finish=script.finish_reason or "stop"))
    options = ctx.body.get("stream_options") if isinstance(ctx.body, dict) else None
    if isinstance(options, dict) and options.get("include_usage"):
        frames.append(Frame({**header, "choices": [], "usage": _usage(ctx, completion)}))
    frames.append(Frame("[DONE]", validate=False))
    return frames


def render_responses(ctx: RequestContext, text: str) -> Output:
    """Responses API (plain and streamed) through the LLM producer in ``fixed`` mode with the scripted text.

    The tools are hidden from the producer so it answers with a message, not a planned tool call.
    """
    from dataclasses import replace

    from fakeai.producers.llm.common import GenerationConfig
    from fakeai.producers.llm.responses import ResponsesProducer

    config = replace(GenerationConfig.from_settings(ctx.settings), mode="fixed", fixed_text=text, length=_LONG)
    body = (
        {k: v for k, v in ctx.body.items() if k not in ("tools", "tool_choice")} if isinstance(ctx.body, dict) else {}
    )
    headers = {k: v for k, v in ctx.headers.items() if k != MODE_HEADER}
    output = ResponsesProducer(config).produce(replace(ctx, body=body, headers=headers))
    return replace(output, source="scenario")
