"""Token buckets for requests and tokens per minute, per API key or global, on the injected clock.

Every answered request in scope carries OpenAI's ``x-ratelimit-*`` headers; when a bucket is empty
the request gets 429 ``rate_limit_exceeded`` with ``retry-after`` (and ``retry-after-ms``, which the
official SDKs prefer) saying when one more request / enough tokens will be available. A request that needs
more tokens than the whole bucket holds can never fit: it gets OpenAI's 429 "Request too large ... on tokens
per min (TPM)" without ``retry-after`` (waiting does not help), and nothing is taken.

Anthropic's operations (their spec declares the ``anthropic-version`` header) answer Anthropic's headers instead:
``anthropic-ratelimit-requests-limit|remaining|reset`` and ``anthropic-ratelimit-tokens-*`` (reset: the RFC 3339
time the bucket is full again), ``retry-after`` in whole seconds on a 429 (no ``retry-after-ms``), Anthropic's
words; their tokens are the Messages input count plus ``max_tokens``. The pipeline puts the 429 body in Anthropic's
``rate_limit_error`` envelope.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fakeai.context import Refusal, RequestContext
from fakeai.producers.text.messages_count import count_input
from fakeai.producers.text.tokenizer import count_chat_prompt, count_responses_input, for_model
from fakeai.scenario.match import globs


@dataclass(frozen=True, slots=True)
class Limit:
    name: str
    requests_per_minute: int | None
    tokens_per_minute: int | None
    per: str  # api_key | global
    operations: frozenset[str] | None
    model: Callable[[str | None], bool] | None

    def applies(self, ctx: RequestContext) -> bool:
        if self.operations is not None and ctx.operation_id not in self.operations:
            return False
        return self.model is None or self.model(ctx.model)


def compile_limit(spec: Mapping[str, Any], name: str) -> Limit:
    scope = spec.get("scope") or {}
    operations = scope.get("operation")
    return Limit(
        name=str(spec.get("name") or name),
        requests_per_minute=spec.get("requests_per_minute"),
        tokens_per_minute=spec.get("tokens_per_minute"),
        per=str(spec.get("per", "api_key")),
        operations=frozenset([operations] if isinstance(operations, str) else operations) if operations else None,
        model=globs(scope["model"]) if "model" in scope else None,
    )


class Bucket:
    """``capacity`` units, refilled continuously at ``capacity`` per minute."""

    def __init__(self, capacity: int, now: float) -> None:
        self.capacity = capacity
        self.rate = capacity / 60.0
        self.level = float(capacity)
        self.updated = now

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + max(0.0, now - self.updated) * self.rate)
        self.updated = now

    def wait(self, amount: float) -> float:
        """Seconds until ``amount`` units are available (0 if they are now); ``amount`` at most ``capacity``."""
        missing = amount - self.level
        return 0.0 if missing <= 0 else missing / self.rate

    def reset_in(self) -> float:
        return (self.capacity - self.level) / self.rate


def duration(seconds: float) -> str:
    """OpenAI's reset format: ``1s``, ``6m0s``, ``120ms``."""
    if seconds < 1:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    minutes, rest = divmod(seconds, 60)
    rest = round(rest, 3)
    text = f"{rest:g}s"
    return f"{int(minutes)}m{text}" if minutes else text


def is_anthropic(ctx: RequestContext) -> bool:
    """An operation of Anthropic's API: its spec declares the ``anthropic-version`` request header."""
    return any(p.name == "anthropic-version" and p.location == "header" for p in ctx.operation.parameters)


def requested_tokens(ctx: RequestContext) -> int:
    """Prompt tokens plus the completion budget the request asks for (as OpenAI, or Anthropic, counts it)."""
    body = ctx.body if isinstance(ctx.body, dict) else {}
    if is_anthropic(ctx) and isinstance(body.get("messages"), list):
        budget = body.get("max_tokens")
        return count_input(body, for_model(ctx.model or "")) + (budget if isinstance(budget, int) else 0)
    tools = body.get("tools") if isinstance(body.get("tools"), list) else None
    if isinstance(body.get("messages"), list):
        prompt = count_chat_prompt(body["messages"], ctx.model, tools)
    elif isinstance(body.get("input"), (str, list)):
        instructions = body.get("instructions") if isinstance(body.get("instructions"), str) else None
        prompt = count_responses_input(body["input"], instructions, ctx.model, tools)
    else:
        prompt = 0
    budget = body.get("max_completion_tokens") or body.get("max_tokens") or body.get("max_output_tokens") or 0
    return prompt + (budget if isinstance(budget, int) else 0)


class RateLimiter:
    def __init__(self, limits: Sequence[Limit]) -> None:
        self.limits = tuple(limits)
        self.buckets: dict[tuple[str, str, str], Bucket] = {}

    def reset(self) -> None:
        self.buckets.clear()

    def _bucket(self, key: tuple[str, str, str], capacity: int, now: float) -> Bucket:
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = Bucket(capacity, now)
        bucket.refill(now)
        return bucket

    def check(self, ctx: RequestContext, now: float) -> tuple[dict[str, str], Refusal | None]:
        """Headers for the answer, and a 429 when a bucket is exhausted (nothing is taken then)."""
        headers: dict[str, str] = {}
        for limit in self.limits:
            if not limit.applies(ctx):
                continue
            who = _api_key(ctx) if limit.per == "api_key" else ""
            buckets: list[tuple[str, Bucket, float]] = []
            if limit.requests_per_minute:
                buckets.append(("requests", self._bucket((limit.name, who, "r"), limit.requests_per_minute, now), 1))
            if limit.tokens_per_minute:
                bucket = self._bucket((limit.name, who, "t"), limit.tokens_per_minute, now)
                buckets.append(("tokens", bucket, float(requested_tokens(ctx))))
            for kind, bucket, amount in buckets:
                if amount > bucket.capacity or bucket.wait(amount) > 0:
                    return headers, refusal(ctx, kind, bucket, amount)
            for kind, bucket, amount in buckets:
                bucket.level -= min(amount, bucket.level)
                headers.update(limit_headers(ctx, kind, bucket))
        return headers, None


def limit_headers(ctx: RequestContext, kind: str, bucket: Bucket) -> dict[str, str]:
    """The headers saying ``bucket``'s state (``kind``: requests or tokens), in the operation's vendor's names."""
    if is_anthropic(ctx):
        name = f"anthropic-ratelimit-{kind}"
        return {
            f"{name}-limit": str(bucket.capacity),
            f"{name}-remaining": str(int(bucket.level)),
            f"{name}-reset": _rfc3339(ctx.now + bucket.reset_in()),
        }
    return {
        f"x-ratelimit-limit-{kind}": str(bucket.capacity),
        f"x-ratelimit-remaining-{kind}": str(int(bucket.level)),
        f"x-ratelimit-reset-{kind}": duration(bucket.reset_in()),
    }


def _rfc3339(unix: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(math.ceil(unix)))


def _api_key(ctx: RequestContext) -> str:
    auth = ctx.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return ctx.headers.get("api-key") or ctx.headers.get("x-api-key", "")  # Azure's, Anthropic's


def refusal(ctx: RequestContext, kind: str, bucket: Bucket, amount: float) -> Refusal:
    """The 429 for a request ``bucket`` (already refilled) cannot serve now: too large for it ever, or short."""
    headers = limit_headers(ctx, kind, bucket)
    if is_anthropic(ctx):
        return _anthropic_refusal(kind, bucket, amount, headers)
    unit = "requests per min (RPM)" if kind == "requests" else "tokens per min (TPM)"
    where = f"{ctx.model or ctx.operation_id} in organization org-fakeai on {unit}"
    if amount > bucket.capacity:
        message = (
            f"Request too large for {where}: Limit {bucket.capacity}, Requested {int(amount)}. The input or output "
            "tokens must be reduced in order to run successfully. "
            "Visit https://platform.openai.com/account/rate-limits to learn more."
        )
        return Refusal(429, message, kind, "rate_limit_exceeded", None, headers)
    wait = bucket.wait(amount)
    used = int(bucket.capacity - bucket.level)
    message = (
        f"Rate limit reached for {where}: Limit {bucket.capacity}, Used {used}, Requested {int(amount)}. "
        f"Please try again in {duration(wait)}."
    )
    headers["retry-after"] = str(max(1, math.ceil(wait)))
    headers["retry-after-ms"] = str(max(1, math.ceil(wait * 1000)))
    return Refusal(429, message, kind, "rate_limit_exceeded", None, headers)


def _anthropic_refusal(kind: str, bucket: Bucket, amount: float, headers: dict[str, str]) -> Refusal:
    """Anthropic's 429 words (its docs' ``rate_limit_error``); ``retry-after`` only when waiting helps."""
    message = (
        f"This request would exceed the rate limit for your organization (org-fakeai) of {bucket.capacity} {kind} "
        "per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response "
        "headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again "
        "later."
    )
    if amount <= bucket.capacity:
        headers["retry-after"] = str(max(1, math.ceil(bucket.wait(amount))))
    return Refusal(429, message, "rate_limit_error", "rate_limit_exceeded", None, headers)
