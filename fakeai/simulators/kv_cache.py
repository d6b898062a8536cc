"""``kv_cache``: an LRU prefix cache of prompt token blocks, like vLLM's automatic prefix caching.

Model
    The prompt is the request fields the operation's binding says hold it, by behaviour
    (:func:`fakeai.producers.bindings.prompt_fields`; chat: ``tools`` then ``messages``; Responses:
    ``instructions``, ``tools``, ``input``; Anthropic messages: ``tools``, ``system``, ``messages``; completions:
    ``prompt``, token-id prompts as given). Operations without such a binding are not cached. It is taken as its
    string leaves in order, each
    encoded with the request's tokenizer (long ones memoized, LRU) and followed by a boundary id. Full
    blocks of ``block_tokens`` ids are hashed as a chain (``hash(parent, block ids)``, the chain seeded by
    namespace + model), so a block matches only if the whole prefix before it matches, and a different
    namespace or model never hits.

    A request's cached tokens are the matched leading blocks x ``block_tokens``, reported (as
    ``usage.prompt_tokens_details.cached_tokens`` / ``usage.input_tokens_details.cached_tokens``) in
    multiples of ``increment`` and only for prompts of at least ``min_prompt_tokens`` (OpenAI: 1024 tokens,
    in 128-token increments). Then every full block of the prompt is held by the request (reference counted)
    until it is answered, then becomes evictable; when the cache is full (``capacity_tokens``) the least
    recently used evictable block goes. If every block is held, the rest of the prompt is not cached.

    Prompts shorter than one block are not tokenized or stored (no cost for short chat requests).

Options (``extra.kv_cache``): ``capacity_tokens`` (262144), ``block_tokens`` (128), ``min_prompt_tokens``
(1024), ``increment`` (128). State lives here; ``reset(namespace)`` makes a namespace start cold.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fakeai.context import Output, RequestContext, Timing
from fakeai.errors import ConfigError
from fakeai.simulators.base import Sample, SimulatorEnv
from fakeai.simulators.registry import simulator

if TYPE_CHECKING:
    from fakeai.producers.text.tokenizer import Tokenizer

OPTIONS: dict[str, int] = {"capacity_tokens": 262_144, "block_tokens": 128, "min_prompt_tokens": 1024, "increment": 128}
_SKIP_KEYS = frozenset({"type", "id", "call_id", "cache_control", "detail"})


@dataclass(frozen=True, slots=True)
class Admission:
    """What the cache did for one request."""

    prompt_tokens: int  # as this simulator counts them (token ids of the prompt's segments)
    cached_tokens: int  # of those, in whole increments (what usage reports for this count)
    blocks: tuple[int, ...]  # block hashes this request holds until it is answered
    matched_tokens: int = 0  # leading blocks found in the cache x block size


class KVCacheSimulator:
    name = "kv_cache"

    def __init__(
        self,
        capacity_tokens: int = 262_144,
        block_tokens: int = 128,
        min_prompt_tokens: int = 1024,
        increment: int = 128,
        tokenizer: Tokenizer | None = None,
    ) -> None:
        if block_tokens <= 0 or increment <= 0:
            raise ConfigError("extra.kv_cache: block_tokens and increment must be positive")
        self.block_tokens = block_tokens
        self.capacity_blocks = capacity_tokens // block_tokens
        self.min_prompt_tokens = min_prompt_tokens
        self.increment = increment
        self.refs: dict[int, int] = {}  # every stored block -> requests holding it
        self.evictable: OrderedDict[int, None] = OrderedDict()  # refs == 0, least recently used first
        self.held: dict[str, Admission] = {}  # request id -> what it holds while in flight
        self.tokenizer = tokenizer  # --tokenizer-json: one tokenizer for every model
        self.epochs: dict[str, int] = {}  # namespace -> bumped by reset
        self.epoch = 0  # bumped by a full reset
        self.hit_tokens = 0
        self.query_tokens = 0
        self.evictions = 0
        self.prompt_ids = SegmentIds()
        self.fields: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}  # (operation, bindings) -> prompt fields

    def prompt_fields(self, ctx: RequestContext) -> tuple[str, ...]:
        """The request fields holding the prompt, as the operation's binding declares them (looked up once)."""
        files = tuple(getattr(getattr(ctx, "settings", None), "bindings", ()) or ())
        key = (ctx.operation_id, files)
        found = self.fields.get(key)
        if found is None:
            from fakeai.producers.bindings import prompt_fields

            operation = getattr(ctx, "operation", None)  # bare test contexts carry only the operationId
            found = self.fields[key] = prompt_fields(ctx.operation_id if operation is None else operation, files)
        return found

    # -- the simulate stage: a request arrives, is answered ----------------------------------------
    def admit(self, ctx: RequestContext) -> None:
        """Admit the prompt of a generative request (before it is produced, so usage can report it)."""
        if ctx.request_id in self.held:
            return
        fields = self.prompt_fields(ctx)
        if not fields or not _long_enough(ctx, fields, self):
            return
        from fakeai.producers.text.common import split_mode_suffix
        from fakeai.producers.text.tokenizer import for_model

        tokenizer = self.tokenizer or for_model(split_mode_suffix(ctx.model or "")[0])
        ids = self.prompt_ids(ctx, tokenizer, fields)
        prompt_tokens = sum(1 for i in ids if i >= 0)
        if prompt_tokens < self.block_tokens:
            return
        self.held[ctx.request_id] = self.insert(self.chain_seed(ctx), ids, prompt_tokens)

    def finish(self, ctx: RequestContext, output: Output | None) -> None:
        self.release(ctx.request_id)

    def simulate(self, ctx: RequestContext, output: Output, timing: Timing) -> Timing:
        return timing  # the effect on TTFT is the latency simulator's (it asks admitted())

    # -- what the producers and the latency simulator read ---------------------------------------
    def cached_tokens(self, ctx: RequestContext, prompt_tokens: int) -> int:
        """``usage`` cached tokens for a prompt the producer counts as ``prompt_tokens`` (a lookup)."""
        admission = self.held.get(ctx.request_id)
        if admission is None or prompt_tokens < self.min_prompt_tokens:
            return 0
        return min(admission.matched_tokens, prompt_tokens) // self.increment * self.increment

    def admitted(self, ctx: RequestContext) -> tuple[int, int] | None:
        """(prompt tokens, cached tokens) of a request in flight, for the latency simulator."""
        held = self.held.get(ctx.request_id)
        return None if held is None else (held.prompt_tokens, held.cached_tokens)

    # -- the cache ----------------------------------------------------------------------------------
    def chain_seed(self, ctx: RequestContext) -> int:
        key = f"{self.epoch}\0{ctx.namespace}\0{self.epochs.get(ctx.namespace, 0)}\0{ctx.model or ''}"
        return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")

    def insert(self, seed: int, ids: Sequence[int], prompt_tokens: int) -> Admission:
        """Match the prompt's block chain, hold every full block (reference counted)."""
        size = self.block_tokens
        parent = seed
        matched = 0
        matching = True
        held: list[int] = []
        for start in range(0, len(ids) - size + 1, size):
            parent = hash((parent, *ids[start : start + size]))
            refs = self.refs.get(parent)
            if refs is None:
                matching = False
                if not self.make_room():
                    break
                self.refs[parent] = 1
            else:
                if matching:
                    matched += 1
                if refs == 0:
                    del self.evictable[parent]
                self.refs[parent] = refs + 1
            held.append(parent)
        cached = 0
        if prompt_tokens >= self.min_prompt_tokens:
            cached = min(matched * size, prompt_tokens) // self.increment * self.increment
            self.query_tokens += prompt_tokens
            self.hit_tokens += cached
        return Admission(prompt_tokens, cached, tuple(held), matched * size)

    def make_room(self) -> bool:
        if len(self.refs) < self.capacity_blocks:
            return True
        if not self.evictable:
            return False
        oldest, _ = self.evictable.popitem(last=False)
        del self.refs[oldest]
        self.evictions += 1
        return True

    def release(self, request_id: str) -> None:
        held = self.held.pop(request_id, None)
        if held is None:
            return
        for block in held.blocks:
            refs = self.refs.get(block)
            if refs is None:  # dropped by a full reset meanwhile
                continue
            if refs <= 1:
                self.refs[block] = 0
                self.evictable[block] = None  # most recently used end
            else:
                self.refs[block] = refs - 1

    def reset(self, namespace: str | None) -> None:
        """A namespace (or everything, counters too) starts cold: its chain seed changes; old blocks age out by LRU."""
        if namespace is None:
            self.epoch += 1
            for block in self.evictable:
                del self.refs[block]
            self.evictable.clear()
            self.hit_tokens = self.query_tokens = self.evictions = 0
        else:
            self.epochs[namespace] = self.epochs.get(namespace, 0) + 1

    # -- what dashboards see ------------------------------------------------------------------------
    @property
    def blocks_in_use(self) -> int:
        return len(self.refs) - len(self.evictable)

    def usage_ratio(self) -> float:
        return self.blocks_in_use / self.capacity_blocks if self.capacity_blocks else 0.0

    def state(self) -> dict[str, Any]:
        return {
            "block_tokens": self.block_tokens,
            "capacity_blocks": self.capacity_blocks,
            "blocks_in_use": self.blocks_in_use,
            "blocks_cached": len(self.evictable),
            "usage_ratio": self.usage_ratio(),
            "requests_holding_blocks": len(self.held),
            "hit_tokens": self.hit_tokens,
            "query_tokens": self.query_tokens,
            "hit_ratio": self.hit_tokens / self.query_tokens if self.query_tokens else 0.0,
            "evictions": self.evictions,
        }

    def samples(self) -> Iterator[Sample]:
        usage = self.usage_ratio()
        yield Sample("fakeai_kv_cache_usage_ratio", "KV cache blocks held by requests in flight / capacity", usage)
        yield Sample("fakeai_kv_cache_blocks_cached", "Evictable blocks kept for prefix reuse", len(self.evictable))
        yield Sample(
            "fakeai_kv_cache_hit_tokens", "Prompt tokens answered from the cache", self.hit_tokens, kind="counter"
        )
        yield Sample("fakeai_kv_cache_query_tokens", "Prompt tokens looked up", self.query_tokens, kind="counter")
        yield Sample("fakeai_kv_cache_evictions", "Blocks evicted (LRU)", self.evictions, kind="counter")
        yield Sample("vllm:kv_cache_usage_perc", "KV-cache usage, 1 = 100% (vLLM name)", usage)
        yield Sample(
            "vllm:prefix_cache_hits", "Prefix cache hits, in tokens (vLLM name)", self.hit_tokens, kind="counter"
        )
        yield Sample(
            "vllm:prefix_cache_queries",
            "Prefix cache queries, in tokens (vLLM name)",
            self.query_tokens,
            kind="counter",
        )


class SegmentIds:
    """Token ids per prompt segment, long segments memoized (LRU): a repeated system prompt or conversation
    history costs a dict lookup instead of a second tokenization."""

    def __init__(self, max_ids: int = 1_000_000, min_chars: int = 256) -> None:
        self.max_ids = max_ids  # bounds the memo's memory (~40 MB at most)
        self.min_chars = min_chars
        self.memo: OrderedDict[tuple[str, str], list[int]] = OrderedDict()
        self.held_ids = 0

    def __call__(self, ctx: RequestContext, tokenizer: Tokenizer, fields: Sequence[str]) -> list[int]:
        """The prompt's token ids as this simulator sees them (see the module docstring)."""
        body: Mapping[str, Any] = ctx.body if isinstance(ctx.body, dict) else {}
        prompt = _token_ids(body, fields)
        if prompt is not None:
            return prompt
        ids: list[int] = []
        for name in fields:
            for text in _strings(body.get(name)):
                ids.extend(self.encode(tokenizer, text))
                ids.append(-1)  # a segment boundary (not a real token id)
        return ids

    def encode(self, tokenizer: Tokenizer, text: str) -> list[int]:
        if len(text) < self.min_chars:
            return tokenizer.encode(text)
        key = (tokenizer.name, text)
        ids = self.memo.get(key)
        if ids is None:
            ids = self.memo[key] = tokenizer.encode(text)
            self.held_ids += len(ids)
            while self.held_ids > self.max_ids and self.memo:
                self.held_ids -= len(self.memo.popitem(last=False)[1])
        else:
            self.memo.move_to_end(key)
        return ids


def _strings(value: Any) -> Iterable[str]:
    """String leaves in document order (a prefix of the prompt gives a prefix of these)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if key not in _SKIP_KEYS:
                yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, int) and not isinstance(item, bool):
                yield str(item)
            else:
                yield from _strings(item)


@simulator("kv_cache")
def kv_cache(env: SimulatorEnv) -> KVCacheSimulator:
    tokenizer = None
    if env.settings.tokenizer_json:
        from fakeai.producers.text.tokenizer import from_hf_tokenizer_json

        tokenizer = from_hf_tokenizer_json(env.settings.tokenizer_json)  # bad files fail in GenerationConfig first
    return KVCacheSimulator(**env.options("kv_cache", OPTIONS), tokenizer=tokenizer)


def _token_ids(body: Mapping[str, Any], fields: Sequence[str]) -> list[int] | None:
    """A completions prompt given as token ids (one field holding a list of ints), else None."""
    prompt = body.get(fields[0]) if len(fields) == 1 else None
    if isinstance(prompt, list) and prompt and all(type(t) is int for t in prompt):
        return list(prompt)
    return None


def _long_enough(ctx: RequestContext, fields: Sequence[str], cache: KVCacheSimulator) -> bool:
    """Could the prompt fill one block? A token is at least one UTF-8 byte, a character at most four: prompts
    shorter than a block in that bound are never tokenized (no cost for short chat requests)."""
    body = ctx.body if isinstance(ctx.body, dict) else {}
    ids = _token_ids(body, fields)
    if ids is not None:
        return len(ids) >= cache.block_tokens
    need = cache.block_tokens
    chars = 0
    for name in fields:
        for text in _strings(body.get(name)):
            chars += len(text)
            if chars * 4 >= need:
                return True
    return False
