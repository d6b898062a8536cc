"""``createChatCompletion`` answered like a model: text, tool calls, structured outputs, logprobs, SSE.

Per choice ``i`` the content comes from the generation's RNG stream ``i`` (see
:mod:`fakeai.producers.text.common` for when that is deterministic), so the streamed and the
non-streamed answer to the same seeded request carry the same text, calls and usage.
:meth:`ChatProducer.produce_scripted` renders a :class:`~fakeai.producers.text.script.Script` (a
scenario's scripted content, tool calls or refusal) the same way, in place of generated content.

Token accounting: ``completion_tokens`` sums, over the choices, the content tokens (or, for tool
calls, name + arguments + 3 framing tokens per call) plus the hidden reasoning tokens of reasoning
models. In a stream, frames carry exactly those tokens (reasoning ones on the first chunk of a choice,
unless ``reasoning_content`` is exposed), so latency simulators see the same count.
``max_tokens`` / ``max_completion_tokens`` bound the visible content; reasoning tokens come on top.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from fakeai.catalog import Catalog, check_context
from fakeai.context import DONE, Frame, Output, RequestContext
from fakeai.errors import APIError
from fakeai.ids import new_id
from fakeai.memo import Memo
from fakeai.producers.base import CompileEnv, Producer
from fakeai.producers.text.backend import chat_request, real_calls, response_format_schema
from fakeai.producers.text.chat_audio import AudioAnswer, AudioRequest, prompt_audio_tokens
from fakeai.producers.text.common import (
    Generation,
    GenerationConfig,
    draw_reasoning_tokens,
    last_user_text,
    stop_sequences,
)
from fakeai.producers.text.logprobs import chat_logprobs
from fakeai.producers.text.prompted import prompt_texts
from fakeai.producers.text.script import Script, scripted_text
from fakeai.producers.text.structured import response_format_text
from fakeai.producers.text.text import Completion, generate
from fakeai.producers.text.tokenizer import count_chat_prompt
from fakeai.producers.text.tools import ToolCall, function_tools, plan_calls
from fakeai.spec.operation import Operation

__all__ = ["ChatChoice", "ChatProducer", "factory", "fingerprint", "usage_body"]

TOKENS_PER_CALL = 3  # framing around a tool call's name and arguments (as prompt counting assumes)
_REASONING_STREAM = 10_000  # RNG stream offset for a choice's reasoning draws
_NO_REASONING = frozenset({"minimal", "none"})
_TIERS = frozenset({"flex", "priority", "scale"})


@dataclass(frozen=True, slots=True)
class ChatChoice:
    index: int
    completion: Completion | None  # None when the choice calls tools (a script may have both)
    calls: tuple[ToolCall, ...]
    call_pieces: tuple[tuple[str, ...], ...]  # argument token pieces, per call
    call_heads: tuple[int, ...]  # tokens of each call's name + framing
    finish_reason: str
    logprobs: list[dict[str, Any]] | None
    reasoning_tokens: int
    reasoning: Completion | None  # the exposed reasoning_content, when enabled
    refusal: Completion | None = None  # scripted refusals only
    refusal_logprobs: list[dict[str, Any]] | None = None
    audio: AudioAnswer | None = None  # the spoken answer (modalities with "audio")

    @property
    def visible_tokens(self) -> int:
        text = len(self.completion.tokens) if self.completion is not None else 0
        refused = len(self.refusal.tokens) if self.refusal is not None else 0
        spoken = self.audio.tokens if self.audio is not None else 0
        return text + refused + spoken + sum(self.call_heads) + sum(len(p) for p in self.call_pieces)


def fingerprint(model: str) -> str:
    """A stable ``system_fingerprint`` per model name (remembered, bounded)."""
    return _FINGERPRINTS.get(model) or _FINGERPRINTS.put(
        model, "fp_" + format(_fnv(model.encode()) & 0xFFFFFFFFFF, "010x")
    )


_FINGERPRINTS: Memo[str, str] = Memo(4096)  # model names come from requests


def _fnv(data: bytes) -> int:
    value = 0xCBF29CE484222325
    for byte in data:
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value


def usage_body(
    prompt: int, completion: int, reasoning: int, cached: int = 0, prompt_audio: int = 0, completion_audio: int = 0
) -> dict[str, Any]:
    """``usage`` of a chat completion; the audio counts are included in ``prompt`` and ``completion``."""
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": prompt_audio},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": completion_audio,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


class ChatProducer:
    source = "llm"

    def __init__(self, config: GenerationConfig, catalog: Catalog | None = None) -> None:
        self.config = config
        self.catalog = catalog  # context windows (None: no check)

    def choose(
        self,
        ctx: RequestContext,
        gen: Generation,
        body: Mapping[str, Any],
        index: int,
        script: Script | None = None,
        spoken: AudioRequest | None = None,
    ) -> ChatChoice:
        rng = gen.rng(index)
        max_tokens = token_limit(body, strict=ctx.settings.validation == "strict")
        tokenizer = gen.tokenizer
        refusal: Completion | None = None
        if script is not None:
            calls = script.tool_calls
            completion, refusal = _scripted(script, gen, max_tokens)
            cut = any(c is not None and c.finish_reason == "length" for c in (completion, refusal))
            finish = script.finish(cut)
        else:
            calls = plan_calls(body, rng, ctx.now)
            if calls and gen.backend is not None:  # the real model writes the arguments (fakeai's policy picked)
                asked = chat_request(body, rng.getrandbits(31), max_tokens)
                calls = real_calls(gen.backend, asked, calls, function_tools(body.get("tools")))
            completion = None if calls else self._generate(ctx, gen, body, rng, max_tokens)
            finish = "tool_calls" if completion is None else completion.finish_reason
        pieces = tuple(tokenizer.split(call.arguments)[1] for call in calls)
        heads = tuple(tokenizer.count(call.name) + TOKENS_PER_CALL for call in calls)
        logprobs = refusal_logprobs = None
        if body.get("logprobs") is True:
            top = body.get("top_logprobs")
            top = top if isinstance(top, int) else 0
            draws = gen.rng(index + 2 * _REASONING_STREAM)
            if completion is not None:
                logprobs = chat_logprobs(completion.tokens, completion.token_ids, tokenizer, draws, top)
            if refusal is not None:
                refusal_logprobs = chat_logprobs(refusal.tokens, refusal.token_ids, tokenizer, draws, top)
        visible = sum(len(t.tokens) for t in (completion, refusal) if t is not None) + sum(heads)
        visible += sum(len(p) for p in pieces)
        reasoning_tokens, reasoning = 0, None
        if gen.reasoning and body.get("reasoning_effort") not in _NO_REASONING:
            thinking = gen.rng(index + _REASONING_STREAM)
            reasoning_tokens = draw_reasoning_tokens(thinking, visible)
            if gen.reasoning_content:
                reasoning = generate(
                    mode="lorem", rng=thinking, tokenizer=tokenizer, max_tokens=reasoning_tokens, length=gen.length,
                    ignore_eos=True,
                )  # fmt: skip
        audio = None
        if spoken is not None and completion is not None:
            audio = spoken.speak(completion.text, gen.rng(index + 3 * _REASONING_STREAM), ctx.now)
        return ChatChoice(
            index, completion, calls, pieces, heads, finish, logprobs, reasoning_tokens, reasoning, refusal,
            refusal_logprobs, audio,
        )  # fmt: skip

    @staticmethod
    def _generate(
        ctx: RequestContext, gen: Generation, body: Mapping[str, Any], rng: random.Random, max_tokens: int | None
    ) -> Completion:
        """Generated content: the ``response_format`` JSON, or text in the request's mode (or the real model's)."""
        if gen.backend is not None:
            schema = response_format_schema(body.get("response_format"))
            return gen.backend.complete(chat_request(body, rng.getrandbits(31), max_tokens, schema=schema))
        prompt = prompt_texts(body.get("messages"))  # a schema written into the prompt (instructor, dspy, ...)
        structured = response_format_text(body.get("response_format"), rng, ctx.now, prompt)
        if structured is not None:
            return generate(
                mode="fixed", rng=rng, tokenizer=gen.tokenizer, max_tokens=max_tokens, length=gen.length,
                fixed_text=structured,
            )  # fmt: skip
        return generate(
            mode=gen.mode, rng=rng, tokenizer=gen.tokenizer, max_tokens=max_tokens, length=gen.length,
            prompt_text=last_user_text(body.get("messages")) if gen.mode == "echo" else "",
            fixed_text=gen.fixed_text, stop=stop_sequences(body), ignore_eos=gen.ignore_eos,
            min_tokens=gen.min_tokens,
        )  # fmt: skip

    def produce(self, ctx: RequestContext) -> Output | None:
        body = ctx.body if isinstance(ctx.body, dict) else None
        if body is None or not isinstance(body.get("messages"), list):
            return None
        return self._answer(ctx, body, None)

    def produce_scripted(self, ctx: RequestContext, script: Script) -> Output:
        """The script's content / tool calls / refusal in place of generated content (every choice of ``n``)."""
        return self._answer(ctx, ctx.body if isinstance(ctx.body, dict) else {}, script)

    def _answer(self, ctx: RequestContext, body: Mapping[str, Any], script: Script | None) -> Output:
        gen = self.config.for_request(ctx)
        tools = body.get("tools") if isinstance(body.get("tools"), list) else None
        prompt_audio = prompt_audio_tokens(body.get("messages"))
        prompt = count_chat_prompt(body.get("messages") or [], gen.base_model, tools, gen.tokenizer) + prompt_audio
        if gen.backend is not None:  # the tokens the model really reads (its chat template)
            prompt = gen.backend.count_prompt(chat_request(body, 0, None))
        limit = token_limit(body, strict=ctx.settings.validation == "strict")
        check_context(self.catalog, gen.base_model, prompt, limit, "chat")
        spoken = AudioRequest.from_body(body)
        n = body.get("n")
        n = n if isinstance(n, int) and n > 0 else 1
        choices = [self.choose(ctx, gen, body, i, script, spoken) for i in range(n)]
        reasoning = sum(c.reasoning_tokens for c in choices)
        completion = sum(c.visible_tokens for c in choices) + reasoning
        completion_audio = sum(c.audio.tokens for c in choices if c.audio is not None)
        cached = gen.cached_prompt_tokens(prompt - prompt_audio)
        usage = usage_body(prompt, completion, reasoning, cached, prompt_audio, completion_audio)
        tier = body.get("service_tier")
        head = {
            "id": new_id(ctx.rng, "chatcmpl-", 29),
            "object": "chat.completion.chunk" if ctx.wants_stream else "chat.completion",
            "created": int(ctx.now),
            "model": gen.model,
            "service_tier": tier if tier in _TIERS else "default",
            "system_fingerprint": fingerprint(gen.base_model),
        }
        if ctx.wants_stream:
            options = body.get("stream_options")
            include_usage = isinstance(options, Mapping) and options.get("include_usage") is True
            return Output(
                frames=_frames(head, choices, usage if include_usage else None, gen.tokens_per_chunk),
                content_type="text/event-stream",
                source="llm",
                prompt_tokens=prompt,
                cached_tokens=cached,
            )
        return Output(
            body={**head, "choices": [_message_choice(c) for c in choices], "usage": usage},
            source="llm",
            completion_tokens=completion,
            prompt_tokens=prompt,
            cached_tokens=cached,
        )


def _message_choice(choice: ChatChoice) -> dict[str, Any]:
    spoken = choice.audio is not None
    message: dict[str, Any] = {
        "role": "assistant",
        "content": choice.completion.text if choice.completion is not None and not spoken else None,
        "refusal": choice.refusal.text if choice.refusal is not None else None,
        "annotations": [],
    }
    if choice.audio is not None:
        message["audio"] = choice.audio.message()
    if choice.calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in choice.calls
        ]
    if choice.reasoning is not None:
        message["reasoning_content"] = choice.reasoning.text
    logprobs = None
    if choice.logprobs is not None or choice.refusal_logprobs is not None:
        logprobs = {"content": choice.logprobs, "refusal": choice.refusal_logprobs}
    return {"index": choice.index, "message": message, "logprobs": logprobs, "finish_reason": choice.finish_reason}


def _frames(
    head: Mapping[str, Any], choices: Sequence[ChatChoice], usage: Mapping[str, Any] | None, per_chunk: int
) -> list[Frame]:
    frames: list[Frame] = []
    base = dict(head)
    with_usage = usage is not None

    def emit(delta: dict[str, Any], index: int, tokens: int, logprobs: Any = None, finish: str | None = None) -> None:
        data = base.copy()
        data["choices"] = [{"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}]
        if with_usage:
            data["usage"] = None
        frames.append(Frame(data, None, True, tokens))

    for choice in choices:
        i = choice.index
        text = choice.completion
        hidden = choice.reasoning_tokens if choice.reasoning is None else 0
        spoken = choice.audio
        opening = "" if text is not None and spoken is None else None
        emit({"role": "assistant", "content": opening, "refusal": None}, i, hidden)
        if choice.reasoning is not None:
            pieces = choice.reasoning.tokens
            for at in range(0, len(pieces), per_chunk):
                group = pieces[at : at + per_chunk]
                emit({"reasoning_content": "".join(group)}, i, len(group))
        if text is not None and spoken is not None:
            groups = [text.tokens[at : at + per_chunk] for at in range(0, len(text.tokens), per_chunk)]
            for audio, tokens in spoken.deltas([("".join(group), len(group)) for group in groups]):
                emit({"audio": audio}, i, tokens)
        elif text is not None:
            _content_frames(frames, base, i, text.tokens, choice.logprobs, per_chunk, with_usage)
        if choice.refusal is not None:
            _content_frames(frames, base, i, choice.refusal.tokens, choice.refusal_logprobs, per_chunk, with_usage,
                            "refusal")  # fmt: skip
        for k, call in enumerate(choice.calls):
            function = {"name": call.name, "arguments": ""}
            emit({"tool_calls": [{"index": k, "id": call.id, "type": "function", "function": function}]}, i,
                 choice.call_heads[k])  # fmt: skip
            pieces = choice.call_pieces[k]
            for at in range(0, len(pieces), per_chunk):
                group = pieces[at : at + per_chunk]
                emit({"tool_calls": [{"index": k, "function": {"arguments": "".join(group)}}]}, i, len(group))
        emit({}, i, 0, None, choice.finish_reason)
    if usage is not None:
        frames.append(Frame({**head, "choices": [], "usage": usage}))
    frames.append(DONE)
    return frames


def _content_frames(
    frames: list[Frame],
    base: dict[str, Any],
    index: int,
    tokens: Sequence[str],
    entries: list[dict[str, Any]] | None,
    per_chunk: int,
    with_usage: bool,
    key: str = "content",
) -> None:
    """The content (or refusal) deltas of one choice (the hot loop of a streamed answer: one dict + one Frame each)."""
    append = frames.append
    if entries is None:  # the common case: each chunk is built when it is read (ChatDelta)
        choice = DeltaChoice.of(base, index, key, with_usage)
        if per_chunk == 1:
            frames.extend(ChatDelta.run(choice, tokens))
        else:
            for at in range(0, len(tokens), per_chunk):
                group = tokens[at : at + per_chunk]
                append(ChatDelta(choice, "".join(group), len(group)))
        return
    for at in range(0, len(tokens), per_chunk):
        group = tokens[at : at + per_chunk]
        logprobs = None
        if entries is not None:
            logprobs = {"content": None, "refusal": None, key: entries[at : at + per_chunk]}
        data = base.copy()
        data["choices"] = [
            {"index": index, "delta": {key: "".join(group)}, "logprobs": logprobs, "finish_reason": None}
        ]
        if with_usage:
            data["usage"] = None
        append(Frame(data, None, True, len(group)))


class ChatDelta(Frame):
    """A content (or refusal) chunk of a streamed chat answer whose ``data`` is built when it is read.

    A stream is planned whole before its first frame, and an open stream holds its frames until the last one is
    sent: as dicts, ~1 KiB per token (10,000 open streams of 100 tokens: 1 GB). This holds the choice's shared
    ``(head, index, key, with_usage)``, the piece and the token count (~90 bytes). Every read builds the same
    chunk, so bytes, self-checks and listeners see what an eager frame gives."""

    __slots__ = ("_choice", "_piece")
    summary = False  # a delta: no usage, finish reason or final response in it
    event = None  # class attributes: the same for every delta, nothing to set per frame
    validate = True
    _choice: DeltaChoice
    _piece: str

    def __init__(self, choice: DeltaChoice, piece: str, tokens: int) -> None:
        setter = object.__setattr__  # a frozen dataclass: attributes are set once, here
        setter(self, "_choice", choice)
        setter(self, "_piece", piece)
        setter(self, "tokens", tokens)

    @classmethod
    def run(cls, choice: DeltaChoice, pieces: Iterable[str]) -> list[ChatDelta]:
        """One delta of one token per piece, built by the slots' setters (half the time of ``__init__``'s three
        ``object.__setattr__`` calls: a 100-token stream builds 100)."""
        new, set_choice, set_piece, set_tokens = object.__new__, _SET_CHOICE, _SET_PIECE, _SET_TOKENS
        out = []
        for piece in pieces:
            delta = new(cls)
            set_choice(delta, choice)
            set_piece(delta, piece)
            set_tokens(delta, 1)
            out.append(delta)
        return out

    @property  # Frame.data, computed
    def data(self) -> dict[str, Any]:
        choice = self._choice
        if choice.sse_head:  # templated: the chunk is its own JSON (what it sends), decoded
            return orjson.loads(self.payload())  # type: ignore[no-any-return]
        data = choice.base.copy()
        data["choices"] = [
            {"index": choice.index, "delta": {choice.key: self._piece}, "logprobs": None, "finish_reason": None}
        ]
        if choice.with_usage:
            data["usage"] = None
        return data

    def payload(self) -> bytes:
        """The chunk's JSON without building it: the choice's encoded head and tail around the piece (the bytes
        ``orjson.dumps(self.data)`` gives; tests/test_packed_frames.py holds them to that)."""
        choice = self._choice
        if not choice.sse_head:  # a head that already has the keys the chunk adds: encode the chunk itself
            return orjson.dumps(self.data, option=orjson.OPT_NON_STR_KEYS)
        return choice.sse_head[6:] + orjson.dumps(self._piece) + choice.sse_tail[:-2]  # without the framing

    def sse(self) -> bytes:
        """The whole ``data:`` event: two concatenations (the choice keeps its head and tail with the event's
        framing around them), the respond stage's per-token work."""
        choice = self._choice
        if not choice.sse_head:
            return Frame.sse(self)
        return choice.sse_head + orjson.dumps(self._piece) + choice.sse_tail


_SET_CHOICE = ChatDelta.__dict__["_choice"].__set__  # the slots' descriptors
_SET_PIECE = ChatDelta.__dict__["_piece"].__set__
_SET_TOKENS = Frame.__dict__["tokens"].__set__


@dataclass(frozen=True, slots=True)
class DeltaChoice:
    """What every content delta of one choice shares, and its JSON around the piece, encoded once."""

    base: dict[str, Any]  # the chunk's fields before ``choices`` (id, object, created, model, ...); {} once in head
    index: int
    key: str  # "content" or "refusal"
    with_usage: bool  # stream_options.include_usage: every chunk carries "usage": null
    # the event's bytes before and after the piece (b"data: " + the chunk's JSON up to the piece; the rest + b"\n\n"),
    # empty when there is no template; one copy only: an open stream holds them
    sse_head: bytes = b""
    sse_tail: bytes = b""

    @classmethod
    def of(cls, base: dict[str, Any], index: int, key: str, with_usage: bool) -> DeltaChoice:
        if "choices" in base or "usage" in base:  # the chunk's keys would keep base's places: no template
            return cls(base, index, key, with_usage)
        opening = orjson.dumps(base, option=orjson.OPT_NON_STR_KEYS)[:-1]  # without its closing brace
        head = (opening + b"," if base else opening) + b'"choices":[{"index":%d,"delta":{%s:' % (
            index,
            orjson.dumps(key),
        )
        tail = b'},"logprobs":null,"finish_reason":null}]' + (b',"usage":null}' if with_usage else b"}")
        # base is in head: an open stream need not hold it
        return cls({}, index, key, with_usage, b"data: " + head, tail + b"\n\n")


def _scripted(script: Script, gen: Generation, max_tokens: int | None) -> tuple[Completion | None, Completion | None]:
    """The script's content and refusal as token pieces; ``max_tokens`` bounds both together."""
    content = refusal = None
    if script.content is not None:
        content = scripted_text(script.content, gen.tokenizer, max_tokens)
    if script.refusal is not None:
        left = None if max_tokens is None else max_tokens - (len(content.tokens) if content is not None else 0)
        refusal = scripted_text(script.refusal, gen.tokenizer, left)
    return content, refusal


def factory(operation: Operation, env: CompileEnv) -> Producer | None:
    return ChatProducer(GenerationConfig.from_env(env), Catalog.from_settings(env.settings))


def token_limit(body: Mapping[str, Any], strict: bool = True) -> int | None:
    """``max_completion_tokens`` (or the older ``max_tokens``).

    0 gives an empty answer cut by ``length`` (SDK test suites send 0); a negative value is a 400 in the
    strict profile and 0 otherwise.
    """
    name = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    limit = body.get(name)
    if not isinstance(limit, int) or isinstance(limit, bool):
        return None
    if limit < 0:
        if not strict:
            return 0
        raise APIError(
            400,
            f"Invalid '{name}': integer below minimum value. Expected a value >= 0, but got {limit} instead.",
            param=name,
            code="integer_below_min_value",
        )
    return limit
