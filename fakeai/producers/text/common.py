"""What every generative producer (chat, completions, responses) decides the same way.

:class:`GenerationConfig` is compiled once from the settings (length spec, reasoning-model globs);
:meth:`GenerationConfig.for_request` resolves, per request, a :class:`Generation`: the text mode,
the tokenizer of the model, and the content RNG.

Mode: ``settings.mode``, overridden by the header ``x-fakeai-mode`` or a model-name suffix
``<model>:<mode>`` (``gpt-4o:echo``); the header wins over the suffix.

Content RNG: from the request's one seed (``ctx.seed``, :mod:`fakeai.parse.seed`), so identical requests give
identical output, streamed or not, with or without logprobs, unless the client explicitly samples
(``temperature`` > 0 without a ``seed``); ``x-fakeai-seed`` and ``Prefer: seed`` reseed it.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import random
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fakeai.errors import APIError, ConfigError
from fakeai.memo import Memo
from fakeai.producers.text.text import MODES, LengthSpec
from fakeai.producers.text.tokenizer import Tokenizer, for_model, from_hf_tokenizer_json
from fakeai.simulators.base import NO_PROMPT_CACHE, PromptCache

if TYPE_CHECKING:
    from fakeai.config import Settings
    from fakeai.context import RequestContext
    from fakeai.producers.base import CompileEnv
    from fakeai.producers.text.backend import Selection, TextBackend

__all__ = [
    "MODE_HEADER",
    "REASONING_CONTENT_HEADER",
    "Generation",
    "GenerationConfig",
    "content_text",
    "draw_reasoning_tokens",
    "last_user_text",
    "split_mode_suffix",
    "stop_sequences",
]

MODE_HEADER = "x-fakeai-mode"
REASONING_CONTENT_HEADER = "x-fakeai-reasoning-content"
_TEXT_SALT = 0x7E47  # the text RNGs are not the ids RNG (ctx.rng)
_ALNUM = string.ascii_letters + string.digits
_TRUE = frozenset({"1", "true", "yes", "on"})


@dataclass(frozen=True, slots=True)
class Generation:
    """Per-request generation choices (built by :meth:`GenerationConfig.for_request`)."""

    mode: str  # lorem | echo | fixed
    model: str  # as requested (answered back in ``model``)
    base_model: str  # without a ``:<mode>`` suffix; picks the tokenizer
    tokenizer: Tokenizer
    length: LengthSpec
    fixed_text: str
    seed: int  # the request's seed (ctx.seed)
    reasoning: bool  # a reasoning model: reasoning tokens are counted
    reasoning_content: bool  # also expose ``reasoning_content`` (DeepSeek / vLLM clients)
    tokens_per_chunk: int
    ignore_eos: bool
    min_tokens: int = 0  # vLLM's: no end of text or stop sequence before this many tokens
    ctx: RequestContext | None = None  # the request (the prompt cache keys on it)
    prompt_cache: PromptCache = NO_PROMPT_CACHE
    backend: TextBackend | None = None  # a real model writes the text (fakeai.producers.text.backend)

    def cached_prompt_tokens(self, prompt_tokens: int) -> int:
        """Cached prefix tokens of this request's prompt, as the ``kv_cache`` simulator admitted it when the
        request arrived (0 without one). A lookup: producers never write the cache."""
        if self.ctx is None:
            return 0
        return self.prompt_cache.cached_tokens(self.ctx, prompt_tokens)

    def rng(self, stream: int = 0) -> random.Random:
        """An independent RNG per purpose/choice (``stream`` 0 = choice 0's text)."""
        return random.Random(self.seed * 1_000_003 + stream + _TEXT_SALT)  # independent of ``ctx.rng`` (ids)


_MODELS: Memo[tuple[re.Pattern[str], str], tuple[str, str | None, bool]] = Memo(4096)  # GenerationConfig._model


@dataclass(frozen=True, slots=True)
class GenerationConfig:
    """Compiled once per operation from :class:`~fakeai.config.Settings`."""

    mode: str
    fixed_text: str
    length: LengthSpec
    reasoning_models: re.Pattern[str]
    tokens_per_chunk: int
    reasoning_content: bool
    tokenizer: Tokenizer | None = None  # --tokenizer-json: one Hugging Face tokenizer for every model
    prompt_cache: PromptCache = NO_PROMPT_CACHE  # the kv_cache simulator (CompileEnv.prompt_cache)
    backends: Selection | None = None  # --model-backend: the real model and the models it answers

    @classmethod
    def from_env(cls, env: CompileEnv) -> GenerationConfig:
        """:meth:`from_settings` plus the prompt cache the LLM producers report ``cached_tokens`` from."""
        config = cls.from_settings(env.settings)
        if env.text_backends is not None:
            config = dataclasses.replace(config, backends=env.text_backends)
        if env.prompt_cache is None:
            return config
        return dataclasses.replace(config, prompt_cache=env.prompt_cache)

    @classmethod
    def from_settings(cls, settings: Settings) -> GenerationConfig:
        try:
            length = LengthSpec.parse(settings.output_length)
        except ValueError as exc:
            raise ConfigError(f"output_length: {exc}") from None
        globs = [fnmatch.translate(g.lower()) for g in settings.reasoning_models] or ["(?!)"]
        extra = settings.extra.get("reasoning_content", False)
        tokenizer = None
        if settings.tokenizer_json:
            try:
                tokenizer = from_hf_tokenizer_json(settings.tokenizer_json)
            except (ImportError, OSError, ValueError, Exception) as exc:  # the tokenizers library raises its own types
                raise ConfigError(f"tokenizer_json: cannot load {settings.tokenizer_json}: {exc}") from None
        return cls(
            mode=settings.mode,
            fixed_text=settings.fixed_text,
            length=length,
            reasoning_models=re.compile("|".join(f"(?:{g})" for g in globs)),
            tokens_per_chunk=max(1, int(settings.tokens_per_chunk)),
            reasoning_content=extra is True or str(extra).lower() in _TRUE,
            tokenizer=tokenizer,
        )

    def is_reasoning(self, model: str) -> bool:
        return self.reasoning_models.match(model.lower()) is not None

    def _model(self, requested: str) -> tuple[str, str | None, bool]:
        """(base model, mode suffix, reasoning) of a requested model name, remembered (bounded)."""
        key = (self.reasoning_models, requested)
        found = _MODELS.get(key)
        if found is None:
            base_model, suffix_mode = split_mode_suffix(requested)
            found = _MODELS.put(key, (base_model, suffix_mode, self.is_reasoning(base_model)))
        return found

    def for_request(self, ctx: RequestContext) -> Generation:
        body: Mapping[str, Any] = ctx.body if isinstance(ctx.body, dict) else {}
        requested = ctx.model or ""
        base_model, suffix_mode, reasoning = self._model(requested)
        mode = ctx.headers.get(MODE_HEADER, "").strip().lower() if MODE_HEADER in ctx.headers else ""
        mode = mode or suffix_mode or self.mode
        if mode not in MODES:
            raise APIError(400, f"{MODE_HEADER} must be one of {', '.join(MODES)}; got {mode!r}", param=MODE_HEADER)
        header = (
            ctx.headers[REASONING_CONTENT_HEADER].strip().lower()
            if reasoning and REASONING_CONTENT_HEADER in ctx.headers
            else ""
        )
        asked_mode = suffix_mode is not None or MODE_HEADER in ctx.headers  # a mode asked for is synthetic text
        backend = self.backends.for_model(base_model) if self.backends is not None and not asked_mode else None
        return Generation(
            mode=mode,
            model=requested,
            base_model=base_model,
            tokenizer=backend.tokenizer if backend is not None else self.tokenizer or for_model(base_model),
            length=_at_least(self.length, body.get("min_tokens")),
            fixed_text=self.fixed_text,
            seed=ctx.seed,
            reasoning=reasoning,
            reasoning_content=reasoning and (header in _TRUE if header else self.reasoning_content),
            tokens_per_chunk=self.tokens_per_chunk,
            ignore_eos=body.get("ignore_eos") is True,
            min_tokens=_min_tokens(body.get("min_tokens")),
            ctx=ctx,
            prompt_cache=self.prompt_cache,
            backend=backend,
        )


def _min_tokens(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _at_least(length: LengthSpec, min_tokens: Any) -> LengthSpec:
    """vLLM's ``min_tokens``: the natural length is at least that many tokens."""
    wanted = _min_tokens(min_tokens)
    if wanted <= length.minimum:
        return length
    return dataclasses.replace(length, minimum=wanted, maximum=max(length.maximum, wanted))


def split_mode_suffix(model: str) -> tuple[str, str | None]:
    """``"gpt-4o:echo"`` -> ``("gpt-4o", "echo")``; names without a mode suffix are returned as is."""
    head, sep, tail = model.rpartition(":")
    if sep and head and tail.lower() in MODES:
        return head, tail.lower()
    return model, None


def last_user_text(source: Any) -> str:
    """The last user message's text: chat ``messages`` or a Responses ``input`` (a string is itself)."""
    if isinstance(source, str):
        return source
    items: Sequence[Any] = source if isinstance(source, (list, tuple)) else ()
    for item in reversed(items):
        if isinstance(item, Mapping) and item.get("role") == "user":
            return content_text(item.get("content"))
    return ""


def content_text(content: Any) -> str:
    """The text of a message ``content``: a string, or the text parts of a list joined by newlines."""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        texts = [part["text"] for part in content if isinstance(part, Mapping) and isinstance(part.get("text"), str)]
        return "\n".join(texts)
    return ""


def draw_reasoning_tokens(rng: random.Random, completion_tokens: int) -> int:
    """A plausible hidden-reasoning token count: 1-4x the visible answer, at least 64, a multiple of 64
    (OpenAI's reasoning counts are usually multiples of 64)."""
    raw = max(64, int(completion_tokens * rng.uniform(1.0, 4.0)) + rng.randrange(0, 256))
    return (raw + 63) // 64 * 64


def stop_sequences(body: Mapping[str, Any]) -> tuple[str, ...]:
    """The request's ``stop`` (a string or a list of them) as a tuple."""
    stop = body.get("stop")
    if isinstance(stop, str):
        return (stop,)
    return tuple(s for s in stop if isinstance(s, str)) if isinstance(stop, list) else ()
