"""Legacy ``createCompletion`` answered like a model: ``text_completion`` objects and their stream.

Prompts: a string, a list of strings, a token list or a list of token lists; each prompt gets
``n`` choices (index ``prompt * n + j``). ``max_tokens`` defaults to 16, as on OpenAI.
``best_of`` > ``n`` generates ``best_of`` candidates per prompt and returns the first ``n``; all are
billed in ``completion_tokens``, as OpenAI does. ``echo`` prepends the prompt (its tokens are then
part of ``logprobs`` too); ``suffix`` is accepted and ignored. Streams send ``choices[].text``
chunks with ``finish_reason: null``, one final chunk per choice, optionally a usage chunk, then
``[DONE]``. Mid-stream chunks carry ``finish_reason: null`` like OpenAI's, which the spec's (shared,
non-stream) schema does not allow, so only the final chunks are self-checked.

:meth:`CompletionsProducer.produce_scripted` answers every choice with a script's ``content``
(cut only by an explicit ``max_tokens``: the default of 16 would cut most scripted answers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from fakeai.catalog import Catalog, check_context
from fakeai.context import DONE, Frame, Output, RequestContext
from fakeai.ids import new_id
from fakeai.producers.base import CompileEnv, Producer
from fakeai.producers.text.backend import completion_request
from fakeai.producers.text.chat import fingerprint, usage_body
from fakeai.producers.text.common import Generation, GenerationConfig, stop_sequences
from fakeai.producers.text.logprobs import legacy_logprobs
from fakeai.producers.text.script import Script, scripted_text
from fakeai.producers.text.text import Completion, generate
from fakeai.producers.text.tokenizer import Tokenizer
from fakeai.spec.operation import Operation

__all__ = ["CompletionsProducer", "factory", "prompts_of"]

DEFAULT_MAX_TOKENS = 16
_LOGPROB_STREAM = 20_000


@dataclass(frozen=True, slots=True)
class _Choice:
    index: int
    text: str
    completion: Completion
    logprobs: dict[str, Any] | None


def prompts_of(prompt: Any, tokenizer: Tokenizer) -> list[tuple[str, int]]:
    """(text, token count) of each prompt; token-id prompts are decoded."""
    if prompt is None:
        return [("<|endoftext|>", 1)]
    if isinstance(prompt, str):
        return [(prompt, tokenizer.count(prompt))]
    if isinstance(prompt, list) and prompt and all(isinstance(t, int) for t in prompt):
        return [(_decode(tokenizer, prompt), len(prompt))]
    out: list[tuple[str, int]] = []
    for item in prompt if isinstance(prompt, list) else ():
        if isinstance(item, str):
            out.append((item, tokenizer.count(item)))
        elif isinstance(item, list):
            out.append((_decode(tokenizer, item), len(item)))
    return out or [("", 0)]


def _decode(tokenizer: Tokenizer, ids: Sequence[int]) -> str:
    try:
        return tokenizer.decode(ids)
    except (KeyError, ValueError, OverflowError, TypeError):
        return ""  # ids outside the vocabulary (or beyond int64, parsed as floats): counted, not echoed


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 1


class CompletionsProducer:
    source = "llm"

    def __init__(self, config: GenerationConfig, catalog: Catalog | None = None) -> None:
        self.config = config
        self.catalog = catalog  # context windows (None: no check)

    def _one(
        self, gen: Generation, body: Mapping[str, Any], prompt: str, stream: int, index: int, script: Script | None
    ) -> _Choice:
        if script is not None:
            limit = body.get("max_tokens")
            completion = scripted_text(script.content or "", gen.tokenizer, limit if isinstance(limit, int) else None)
            completion = replace(completion, finish_reason=script.finish(completion.finish_reason == "length"))
        elif gen.backend is not None:  # a real model continues the prompt
            limit = body.get("max_tokens", DEFAULT_MAX_TOKENS)
            asked = completion_request(body, prompt, gen.seed + stream, limit if isinstance(limit, int) else None)
            completion = gen.backend.complete(asked)
        else:
            limit = body.get("max_tokens", DEFAULT_MAX_TOKENS)
            completion = generate(
                mode=gen.mode, rng=gen.rng(stream), tokenizer=gen.tokenizer,
                max_tokens=limit if isinstance(limit, int) else DEFAULT_MAX_TOKENS, length=gen.length,
                prompt_text=prompt, fixed_text=gen.fixed_text, stop=stop_sequences(body), ignore_eos=gen.ignore_eos,
                min_tokens=gen.min_tokens,
            )  # fmt: skip
        echo = body.get("echo") is True
        text = prompt + completion.text if echo else completion.text
        logprobs = None
        top = body.get("logprobs")
        if isinstance(top, int):
            pieces = (*gen.tokenizer.split(prompt)[1], *completion.tokens) if echo else completion.tokens
            logprobs = legacy_logprobs(pieces, gen.tokenizer, gen.rng(stream + _LOGPROB_STREAM), top)
        return _Choice(index, text, completion, logprobs)

    def produce(self, ctx: RequestContext) -> Output | None:
        body = ctx.body if isinstance(ctx.body, dict) else None
        if body is None:
            return None
        return self._answer(ctx, body, None)

    def produce_scripted(self, ctx: RequestContext, script: Script) -> Output:
        """The script's ``content`` as the text of every choice (tool calls and refusals do not exist here)."""
        return self._answer(ctx, ctx.body if isinstance(ctx.body, dict) else {}, script)

    def _answer(self, ctx: RequestContext, body: Mapping[str, Any], script: Script | None) -> Output:
        gen = self.config.for_request(ctx)
        prompts = prompts_of(body.get("prompt"), gen.tokenizer)
        limit = body.get("max_tokens", DEFAULT_MAX_TOKENS if script is None else None)
        asked = limit if isinstance(limit, int) and not isinstance(limit, bool) else None
        check_context(self.catalog, gen.base_model, max(count for _, count in prompts), asked, "completions")
        n = _count(body.get("n"))
        candidates = max(n, _count(body.get("best_of")))
        choices: list[_Choice] = []
        billed = 0
        for p, (prompt, _tokens) in enumerate(prompts):
            drawn = [self._one(gen, body, prompt, p * candidates + j, p * n + j, script) for j in range(candidates)]
            billed += sum(len(c.completion.tokens) for c in drawn)
            choices.extend(drawn[:n])
        prompt_tokens = sum(count for _, count in prompts)
        cached = gen.cached_prompt_tokens(prompt_tokens)
        usage = usage_body(prompt_tokens, billed, 0, cached)
        if not usage["prompt_tokens_details"]["cached_tokens"]:  # legacy completions report it only on a hit
            usage.pop("prompt_tokens_details")
        usage.pop("completion_tokens_details")
        head = {
            "id": new_id(ctx.rng, "cmpl-", 29),
            "object": "text_completion",
            "created": int(ctx.now),
            "model": gen.model,
            "system_fingerprint": fingerprint(gen.base_model),
        }
        if ctx.wants_stream:
            options = body.get("stream_options")
            include_usage = isinstance(options, Mapping) and options.get("include_usage") is True
            frames = _frames(head, choices, usage if include_usage else None, gen)
            return Output(
                frames=frames, content_type="text/event-stream", source="llm", prompt_tokens=prompt_tokens,
                cached_tokens=cached,
            )  # fmt: skip
        return Output(
            body={**head, "choices": [_choice_body(c) for c in choices], "usage": usage},
            source="llm",
            completion_tokens=billed,
            prompt_tokens=prompt_tokens,
            cached_tokens=cached,
        )


def _choice_body(choice: _Choice) -> dict[str, Any]:
    return {
        "text": choice.text,
        "index": choice.index,
        "logprobs": choice.logprobs,
        "finish_reason": choice.completion.finish_reason,
    }


def _slice(logprobs: Mapping[str, Any], start: int, end: int) -> dict[str, Any]:
    return {key: values[start:end] for key, values in logprobs.items()}


def _frames(
    head: Mapping[str, Any], choices: Sequence[_Choice], usage: Mapping[str, Any] | None, gen: Generation
) -> list[Frame]:
    frames: list[Frame] = []
    extra = {"usage": None} if usage is not None else {}
    per_chunk = gen.tokens_per_chunk
    for choice in choices:
        pieces = choice.completion.tokens
        echoed = len(choice.text) - len(choice.completion.text)
        shift = len(choice.logprobs["tokens"]) - len(pieces) if choice.logprobs is not None else 0
        groups = [(choice.text[:echoed], 0, 0, shift)] if echoed or shift else []
        groups += [
            ("".join(pieces[at : at + per_chunk]), len(pieces[at : at + per_chunk]), shift + at,
             shift + min(at + per_chunk, len(pieces)))
            for at in range(0, len(pieces), per_chunk)
        ]  # fmt: skip
        for text, tokens, start, end in groups:
            logprobs = _slice(choice.logprobs, start, end) if choice.logprobs is not None else None
            part = {"text": text, "index": choice.index, "logprobs": logprobs, "finish_reason": None}
            frames.append(Frame({**head, "choices": [part], **extra}, validate=False, tokens=tokens))
        last = {"text": "", "index": choice.index, "logprobs": None, "finish_reason": choice.completion.finish_reason}
        frames.append(Frame({**head, "choices": [last], **extra}, validate=usage is None))  # usage: null off-spec
    if usage is not None:
        frames.append(Frame({**head, "choices": [], "usage": usage}))
    frames.append(DONE)
    return frames


def factory(operation: Operation, env: CompileEnv) -> Producer | None:
    return CompletionsProducer(GenerationConfig.from_env(env), Catalog.from_settings(env.settings))
