"""State shared by workers and replicas on one Valkey/Redis (``--state redis://host:port/db``).

Each store keeps the interface of its in-process twin, so the pipeline, the scenario engine, the resource
model and the admin API do not know which one they talk to:

=====================  ==========================================  ======================================
in-process             shared                                      in Valkey (keys under ``fakeai:``)
=====================  ==========================================  ======================================
``ResourceStore``      :class:`SharedResourceStore`                a hash of records and one of payloads
                                                                   per (namespace, kind), a creation-order
                                                                   zset per kind and one for eviction
``StateStore``         :class:`SharedScenarioState`                hashes: machine states, rule counters
                                                                   (claimed with HINCRBY: ``times`` and
                                                                   sequences hold across workers), rule
                                                                   hits, response id -> conversation
``RateLimiter``        :class:`SharedRateLimiter`                  one hash per bucket, checked and taken
                                                                   by one Lua script (atomic)
``Journal``            :class:`SharedJournal`                      a capped list; sequence numbers from
                                                                   one counter (``after=`` cursors work)
admin changes          :class:`Broadcast`                          pub/sub, and a hash of scenario changes
                                                                   a replica started later replays
=====================  ==========================================  ======================================

Calls are synchronous (a local Valkey answers in ~0.1 ms; one to three round trips per request). When the
backend is unreachable, a request that needs it gets a 503 ``state_backend_unavailable`` in OpenAI's envelope
and the next one tries again (the client reconnects by itself); nothing stored is lost on the Valkey side.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import fields
from typing import Any

import orjson

from fakeai.context import Refusal, RequestContext
from fakeai.errors import ConfigError, StateUnavailable
from fakeai.journal import Entry, Filter, Journal, Timeline
from fakeai.scenario.ratelimit import Bucket, RateLimiter, _api_key, limit_headers, refusal, requested_tokens
from fakeai.scenario.state import MAX_RESPONSES, START, StateStore
from fakeai.state import redis_url
from fakeai.store import Record, ResourceStore

log = logging.getLogger("fakeai.state")

PREFIX = "fakeai"
CONNECT_TIMEOUT = 0.5  # seconds: the calls run on the event loop; a backend that is away must fail fast
SOCKET_TIMEOUT = 2.0


class Shared:
    """One Valkey/Redis connection pool, key naming, Lua scripts and error translation."""

    def __init__(self, url: str, prefix: str = PREFIX) -> None:
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError:
            raise ConfigError(
                f"--state {url} needs the redis client library: pip install 'fakeai-server[redis]'"
            ) from None
        self.url = url
        self.where = _without_password(url)
        self.prefix = prefix
        self.errors: tuple[type[BaseException], ...] = (redis.exceptions.RedisError, OSError)
        self.client: Any = redis.Redis.from_url(
            redis_url(url),
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=SOCKET_TIMEOUT,
            retry=Retry(NoBackoff(), 1),  # one reconnect (a restarted server); then the request gets its 503
            health_check_interval=15,
        )
        self.down_since: float | None = None
        self.put_script = self.client.register_script(PUT_RECORD)
        self.bucket_script = self.client.register_script(TAKE_BUCKETS)
        self.journal_script = self.client.register_script(APPEND_JOURNAL)

    def ping(self) -> None:
        """At startup: fail with a clear message instead of serving 503s."""
        try:
            self.client.ping()
        except self.errors as exc:
            raise ConfigError(
                f"state backend {self.where} is not reachable ({type(exc).__name__}: {exc}); start Valkey/Redis "
                "there or fix --state (e.g. --state redis://localhost:6379/0)"
            ) from None

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """Backend errors become :class:`StateUnavailable` (logged once per outage)."""
        try:
            yield
        except self.errors as exc:
            if self.down_since is None:
                self.down_since = time.monotonic()
                log.warning("state backend %s unavailable: %s: %s", self.where, type(exc).__name__, exc)
            raise StateUnavailable(self.where, exc) from None
        if self.down_since is not None:
            log.warning("state backend %s is back after %.1f s", self.where, time.monotonic() - self.down_since)
            self.down_since = None

    def clear(self) -> None:
        """Every fakeai key (reset without a namespace)."""
        with self.guard():
            for batch in _batches(self.client.scan_iter(match=_glob(self.prefix) + ":*", count=1000), 500):
                self.client.unlink(*batch)


def _without_password(url: str) -> str:
    head, sep, tail = url.partition("@")
    if not sep:
        return url
    scheme, _, _credentials = head.partition("://")
    return f"{scheme}://***@{tail}"


def _glob(text: str) -> str:
    """``text`` with Redis glob characters escaped."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _batches(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _field(*parts: str) -> bytes:
    """A composite hash field (JSON: unambiguous whatever the parts contain)."""
    return orjson.dumps(parts)


# ---- stored resources ---------------------------------------------------------------------------------------------
# KEYS: records hash, payloads hash, kind order zset, global order zset, bytes counter, sequence counter
# ARGV: id, record JSON, payload, max items, max bytes, kind token ("<len>.<token>" prefix of global members)
PUT_RECORD = """
local seq = redis.call('INCR', KEYS[6])
local old = redis.call('HSTRLEN', KEYS[1], ARGV[1]) + redis.call('HSTRLEN', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if #ARGV[3] > 0 then redis.call('HSET', KEYS[2], ARGV[1], ARGV[3]) else redis.call('HDEL', KEYS[2], ARGV[1]) end
local bytes = redis.call('INCRBY', KEYS[5], #ARGV[2] + #ARGV[3] - old)
redis.call('ZADD', KEYS[3], seq, ARGV[1])
redis.call('ZADD', KEYS[4], seq, ARGV[6] .. ARGV[1])
local max_items, max_bytes = tonumber(ARGV[4]), tonumber(ARGV[5])
local evicted = 0
while redis.call('ZCARD', KEYS[4]) > 1 and (redis.call('ZCARD', KEYS[4]) > max_items or bytes > max_bytes) do
  local member = redis.call('ZPOPMIN', KEYS[4])[1]
  local n = tonumber(string.match(member, '^(%d+)%.'))
  local digits = string.len(tostring(n))
  local token = string.sub(member, digits + 2, digits + 1 + n)
  local id = string.sub(member, digits + 2 + n)
  local base = string.sub(KEYS[1], 1, string.len(KEYS[1]) - string.len(ARGV[7]))
  local size = redis.call('HSTRLEN', base .. token, id) + redis.call('HSTRLEN', base .. token .. ':data', id)
  redis.call('HDEL', base .. token, id)
  redis.call('HDEL', base .. token .. ':data', id)
  redis.call('ZREM', base .. token .. ':order', id)
  bytes = redis.call('INCRBY', KEYS[5], -size)
  evicted = evicted + 1
end
return evicted
"""


class SharedResourceStore(ResourceStore):
    """:class:`~fakeai.store.ResourceStore` on Valkey: every replica sees what any of them stored."""

    def __init__(self, shared: Shared, max_items: int = 10_000, max_bytes: int = 256 * 1024 * 1024) -> None:
        super().__init__(max_items, max_bytes)
        self.shared = shared

    def _token(self, namespace: str, kind: str) -> str:
        return f"{len(namespace.encode())}.{namespace}.{kind}"

    def _keys(self, namespace: str, kind: str) -> tuple[str, str, str]:
        base = self.shared.key("res", self._token(namespace, kind))
        return base, base + ":data", base + ":order"

    def put(self, namespace: str, kind: str, ident: str, record: Record) -> None:
        token = self._token(namespace, kind)
        records, payloads, order = self._keys(namespace, kind)
        member_head = f"{len(token.encode())}.{token}"
        encoded = orjson.dumps({"body": record.body, "meta": dict(record.meta)}, option=orjson.OPT_NON_STR_KEYS)
        with self.shared.guard():
            self.shared.put_script(
                keys=[records, payloads, order, self.shared.key("res-order"), self.shared.key("res-bytes"),
                      self.shared.key("res-seq")],
                args=[ident, encoded, record.data, self.max_items, self.max_bytes, member_head, token],
            )  # fmt: skip

    def get(self, namespace: str, kind: str, ident: str) -> Record | None:
        records, payloads, _order = self._keys(namespace, kind)
        with self.shared.guard():
            pipe = self.shared.client.pipeline(transaction=False)
            pipe.hget(records, ident)
            pipe.hget(payloads, ident)
            encoded, data = pipe.execute()
        return _record(encoded, data)

    def delete(self, namespace: str, kind: str, ident: str) -> Record | None:
        records, payloads, order = self._keys(namespace, kind)
        token = self._token(namespace, kind)
        with self.shared.guard():
            pipe = self.shared.client.pipeline(transaction=True)
            pipe.hget(records, ident)
            pipe.hget(payloads, ident)
            pipe.hdel(records, ident)
            pipe.hdel(payloads, ident)
            pipe.zrem(order, ident)
            pipe.zrem(self.shared.key("res-order"), f"{len(token.encode())}.{token}{ident}")
            encoded, data, *_ = pipe.execute()
            if encoded is not None:
                self.shared.client.incrby(self.shared.key("res-bytes"), -len(encoded) - len(data or b""))
        return _record(encoded, data)

    def entries(self, namespace: str, kind: str) -> list[tuple[str, Record]]:
        records, payloads, order = self._keys(namespace, kind)
        with self.shared.guard():
            ids = [i.decode() for i in self.shared.client.zrange(order, 0, -1)]
            if not ids:
                return []
            pipe = self.shared.client.pipeline(transaction=False)
            pipe.hmget(records, ids)
            pipe.hmget(payloads, ids)
            encoded, data = pipe.execute()
        found = [(i, _record(e, d)) for i, e, d in zip(ids, encoded, data, strict=True)]
        return [(i, r) for i, r in found if r is not None]

    def items(self, namespace: str, kind: str) -> list[Record]:
        return [record for _ident, record in self.entries(namespace, kind)]

    def clear(self, namespace: str | None = None) -> None:
        if namespace is None:
            with self.shared.guard():
                for batch in _batches(self.shared.client.scan_iter(match=self.shared.key("res*"), count=1000), 500):
                    self.shared.client.unlink(*batch)
            return
        head = self.shared.key("res", f"{len(namespace.encode())}.{_glob(namespace)}.")
        with self.shared.guard():
            client = self.shared.client
            for key in list(client.scan_iter(match=head + "*", count=1000)):
                name = key.decode()
                if name.endswith((":data", ":order")):
                    continue
                token = name[len(self.shared.key("res")) + 1 :]
                ids = [i.decode() for i in client.zrange(name + ":order", 0, -1)]
                size = sum(client.hstrlen(name, i) + client.hstrlen(name + ":data", i) for i in ids)
                members = [f"{len(token.encode())}.{token}{i}" for i in ids]
                pipe = client.pipeline(transaction=True)
                if members:
                    pipe.zrem(self.shared.key("res-order"), *members)
                pipe.unlink(name, name + ":data", name + ":order")
                pipe.incrby(self.shared.key("res-bytes"), -size)
                pipe.execute()

    def __len__(self) -> int:
        with self.shared.guard():
            return int(self.shared.client.zcard(self.shared.key("res-order")))

    @property
    def bytes(self) -> int:
        with self.shared.guard():
            return int(self.shared.client.get(self.shared.key("res-bytes")) or 0)


def _record(encoded: bytes | None, data: bytes | None) -> Record | None:
    if encoded is None:
        return None
    stored = orjson.loads(encoded)
    return Record(stored["body"], data or b"", stored.get("meta") or {})


# ---- scenario state -----------------------------------------------------------------------------------------------
class SharedScenarioState(StateStore):
    """:class:`~fakeai.scenario.state.StateStore` on Valkey: a conversation may move between replicas."""

    def __init__(self, shared: Shared) -> None:
        super().__init__()
        self.shared = shared
        self.states_key = shared.key("scenario", "states")
        self.counters_key = shared.key("scenario", "counters")
        self.hits_key = shared.key("scenario", "hits")
        self.responses_key = shared.key("scenario", "responses")

    def conversation_of_response(self, namespace: str, response_id: str) -> str | None:
        with self.shared.guard():
            found = self.shared.client.hget(self.responses_key, _field(namespace, response_id))
        return found.decode() if found is not None else None

    def remember_responses(self, ctx: RequestContext, conversation: str, body: Any, frames: Any) -> None:
        from fakeai.scenario import conversation as conv

        mapping = {_field(ctx.namespace, rid): conversation for rid in conv.response_ids(body, frames)}
        if not mapping:
            return
        with self.shared.guard():
            pipe = self.shared.client.pipeline(transaction=False)
            pipe.hset(self.responses_key, mapping=mapping)
            pipe.hlen(self.responses_key)
            _, size = pipe.execute()
            if size > MAX_RESPONSES:
                self.shared.client.unlink(self.responses_key)

    def state(self, namespace: str, scenario: str, machine: str, conversation: str) -> str:
        with self.shared.guard():
            found = self.shared.client.hget(self.states_key, _field(namespace, scenario, machine, conversation))
        return found.decode() if found is not None else START

    def states_of(self, keys: list[tuple[str, str, str, str]]) -> list[str]:
        with self.shared.guard():
            found = self.shared.client.hmget(self.states_key, [_field(*key) for key in keys])
        return [value.decode() if value is not None else START for value in found]

    def answered(
        self, namespace: str, scenario: str, rule: str, machine: str, conversation: str, set_state: str | None
    ) -> None:
        with self.shared.guard():
            pipe = self.shared.client.pipeline(transaction=False)
            pipe.hincrby(self.hits_key, _field(scenario, rule), 1)
            if set_state is not None:
                pipe.hset(self.states_key, _field(namespace, scenario, machine, conversation), set_state)
            pipe.execute()

    def set_state(self, namespace: str, scenario: str, machine: str, conversation: str, value: str) -> None:
        with self.shared.guard():
            self.shared.client.hset(self.states_key, _field(namespace, scenario, machine, conversation), value)

    def count(self, namespace: str, scenario: str, rule: str, conversation: str) -> int:
        with self.shared.guard():
            found = self.shared.client.hget(self.counters_key, _field(namespace, scenario, rule, conversation))
        return int(found) if found is not None else 0

    def bump(self, namespace: str, scenario: str, rule: str, conversation: str) -> None:
        self.claim(namespace, scenario, rule, conversation)

    def claim(self, namespace: str, scenario: str, rule: str, conversation: str) -> int:
        with self.shared.guard():
            value = self.shared.client.hincrby(self.counters_key, _field(namespace, scenario, rule, conversation), 1)
        return int(value) - 1

    def unclaim(self, namespace: str, scenario: str, rule: str, conversation: str) -> None:
        with self.shared.guard():
            self.shared.client.hincrby(self.counters_key, _field(namespace, scenario, rule, conversation), -1)

    def hit(self, scenario: str, rule: str) -> None:
        with self.shared.guard():
            self.shared.client.hincrby(self.hits_key, _field(scenario, rule), 1)

    def hit_count(self, scenario: str, rule: str) -> int:
        with self.shared.guard():
            found = self.shared.client.hget(self.hits_key, _field(scenario, rule))
        return int(found) if found is not None else 0

    def reset_hits(self) -> None:
        with self.shared.guard():
            self.shared.client.unlink(self.hits_key)

    def reset(self, namespace: str | None = None, scenario: str | None = None) -> None:
        def matches(field: bytes) -> bool:
            parts = orjson.loads(field)
            return (namespace is None or parts[0] == namespace) and (scenario is None or parts[1] == scenario)

        with self.shared.guard():
            client = self.shared.client
            for key in (self.states_key, self.counters_key):
                doomed = [f for f, _v in client.hscan_iter(key, count=1000) if matches(f)]
                for batch in _batches(iter(doomed), 500):
                    client.hdel(key, *batch)
            if scenario is None:
                if namespace is None:
                    client.unlink(self.responses_key)
                else:
                    doomed = [f for f, _v in client.hscan_iter(self.responses_key, count=1000)
                              if orjson.loads(f)[0] == namespace]  # fmt: skip
                    for batch in _batches(iter(doomed), 500):
                        client.hdel(self.responses_key, *batch)

    def snapshot(self, scenario: str) -> dict[str, str]:
        with self.shared.guard():
            found = self.shared.client.hgetall(self.states_key)
        out: dict[str, str] = {}
        for field, value in found.items():
            namespace, name, machine, conversation = orjson.loads(field)
            if name == scenario:
                out[f"{namespace}/{machine}/{conversation}"] = value.decode()
        return out


def next_attempt(shared: Shared, seed: int, name: str) -> int:
    """How often chaos ``name`` was rolled for this request seed before, on any replica (kept 10 minutes)."""
    key = shared.key("chaos", str(seed))
    with shared.guard():
        pipe = shared.client.pipeline(transaction=True)
        pipe.hincrby(key, name, 1)
        pipe.expire(key, 600)
        count, _ = pipe.execute()
    return int(count) - 1


def reset_attempts(shared: Shared) -> None:
    with shared.guard():
        for batch in _batches(shared.client.scan_iter(match=shared.key("chaos:*"), count=1000), 500):
            shared.client.unlink(*batch)


# ---- rate limits --------------------------------------------------------------------------------------------------
# KEYS: one hash per bucket; ARGV: now, then (capacity, amount) per bucket. Refills every bucket; takes from all
# of them or (when one is short, as one asking more than its capacity always is: RateLimiter's rule) from none.
# Returns {index of the first short bucket or 0, level...} (strings: Redis would truncate Lua numbers to integers).
TAKE_BUCKETS = """
local now = tonumber(ARGV[1])
local levels, short = {}, 0
for i, key in ipairs(KEYS) do
  local capacity, amount = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local state = redis.call('HMGET', key, 'level', 'updated')
  local level = tonumber(state[1]) or capacity
  local updated = tonumber(state[2]) or now
  level = math.min(capacity, level + math.max(0, now - updated) * capacity / 60.0)
  levels[i] = level
  if short == 0 and amount - level > 0 then short = i end
end
local out = {short}
for i, key in ipairs(KEYS) do
  local amount = tonumber(ARGV[2 * i + 1])
  if short == 0 then levels[i] = levels[i] - math.min(amount, levels[i]) end
  redis.call('HSET', key, 'level', tostring(levels[i]), 'updated', tostring(now))
  redis.call('EXPIRE', key, 600)
  out[#out + 1] = tostring(levels[i])
end
return out
"""


class SharedRateLimiter(RateLimiter):
    """Token buckets on Valkey, checked and taken atomically: N replicas enforce one limit together.

    ``now`` must be a wall clock (every replica's monotonic clock counts from its own boot)."""

    def __init__(self, limits: Sequence[Any], shared: Shared) -> None:
        super().__init__(limits)
        self.shared = shared

    def reset(self) -> None:
        with self.shared.guard():
            for batch in _batches(self.shared.client.scan_iter(match=self.shared.key("ratelimit:*")), 500):
                self.shared.client.unlink(*batch)

    def check(self, ctx: RequestContext, now: float) -> tuple[dict[str, str], Refusal | None]:
        headers: dict[str, str] = {}
        for limit in self.limits:
            if not limit.applies(ctx):
                continue
            who = _api_key(ctx) if limit.per == "api_key" else ""
            plan: list[tuple[str, str, int, float]] = []
            if limit.requests_per_minute:
                plan.append(("requests", "r", limit.requests_per_minute, 1.0))
            if limit.tokens_per_minute:
                plan.append(("tokens", "t", limit.tokens_per_minute, float(requested_tokens(ctx))))
            if not plan:
                continue
            keys = [self.shared.key("ratelimit", orjson.dumps([limit.name, who, u]).decode()) for _, u, _, _ in plan]
            args: list[Any] = [repr(now)]
            for _kind, _unit, capacity, amount in plan:
                args += [capacity, repr(amount)]
            with self.shared.guard():
                short, *levels = self.shared.bucket_script(keys=keys, args=args)
            buckets = [_bucket(cap, float(level), now) for (_, _, cap, _), level in zip(plan, levels, strict=True)]
            if int(short):
                kind, _unit, _capacity, amount = plan[int(short) - 1]
                return headers, refusal(ctx, kind, buckets[int(short) - 1], amount)
            for (kind, _unit, _capacity, _amount), bucket in zip(plan, buckets, strict=True):
                headers.update(limit_headers(ctx, kind, bucket))
        return headers, None


def _bucket(capacity: int, level: float, now: float) -> Bucket:
    bucket = Bucket(capacity, now)
    bucket.level = level
    return bucket


# ---- the journal --------------------------------------------------------------------------------------------------
# KEYS: list, sequence counter, dropped counter; ARGV: entry JSON, size. Returns the entry's sequence number.
APPEND_JOURNAL = """
local seq = redis.call('INCR', KEYS[2])
local length = redis.call('RPUSH', KEYS[1], seq .. '\\n' .. ARGV[1])
local size = tonumber(ARGV[2])
if length > size then
  redis.call('LTRIM', KEYS[1], length - size, -1)
  redis.call('INCRBY', KEYS[3], length - size)
end
return seq
"""
ANY = Filter()
_BYTES_FIELDS = ("request_json", "response_json", "first_frame_json", "last_frame_json", "timeline_json")
_FIELDS = (*(f.name for f in fields(Entry) if f.name not in ("seq", "timeline")), "timeline_json")


class SharedJournal(Journal):
    """The journal as one capped Valkey list: every replica's requests, in one order (``journal_size`` of
    them; bodies are bounded by ``journal_body_bytes`` as in the process' journal)."""

    def __init__(self, shared: Shared, size: int, body_limit: int, max_bytes: int) -> None:
        super().__init__(size, body_limit, max_bytes)
        self.shared = shared
        self.list_key = shared.key("journal")
        self.keys = [self.list_key, shared.key("journal-seq"), shared.key("journal-dropped")]
        self.lost = 0  # entries not journaled because the backend was away

    def _append(self, entry: Entry) -> None:
        try:
            with self.shared.guard():
                self.shared.journal_script(keys=self.keys, args=[_payload(entry), self.size])
        except StateUnavailable:  # the request was answered; the outage is logged once (Shared.guard)
            self.lost += 1

    def _load(self) -> list[Entry]:
        with self.shared.guard():
            items = self.shared.client.lrange(self.list_key, 0, -1)
        return [_entry(item) for item in items]

    @property
    def entries(self) -> deque[Entry]:
        return deque(self._load())

    @entries.setter
    def entries(self, value: Any) -> None:  # Journal.__init__ assigns one; the list in Valkey is the journal
        return None

    @property
    def dropped(self) -> int:
        self.flush()
        with self.shared.guard():
            found = self.shared.client.get(self.keys[2])
        return int(found or 0)

    @dropped.setter
    def dropped(self, value: int) -> None:
        return None

    def __len__(self) -> int:
        self.flush()
        with self.shared.guard():
            return int(self.shared.client.llen(self.list_key))

    def __iter__(self) -> Iterator[Entry]:
        self.flush()
        return iter(self._load())

    def select(self, where: Filter = ANY, limit: int | None = None, after: int = 0) -> list[Entry]:
        self.flush()
        found = [e for e in self._load() if e.seq > after and where.accepts(e)]
        return found[-limit:] if limit is not None and limit < len(found) else found

    def clear(self) -> int:
        self.flush()
        with self.shared.guard():
            pipe = self.shared.client.pipeline(transaction=True)
            pipe.llen(self.list_key)
            pipe.unlink(self.list_key)
            count, _ = pipe.execute()
        return int(count)


def _payload(entry: Entry) -> bytes:
    """An entry as the shared journal's list holds it (without its sequence number: the list numbers it)."""
    payload = {name: getattr(entry, name) for name in _FIELDS}
    for name in _BYTES_FIELDS:
        value = payload[name]
        payload[name] = value.decode() if isinstance(value, bytes) else None
    return orjson.dumps(payload)


def _entry(item: bytes) -> Entry:
    seq, _, payload = item.partition(b"\n")
    values = orjson.loads(payload)
    for name in _BYTES_FIELDS:
        value = values.get(name)
        values[name] = value.encode() if isinstance(value, str) else None
    rendered = values.pop("timeline_json", None)
    timeline = Timeline.parsed(rendered) if rendered is not None else None
    return Entry(seq=int(seq), timeline=timeline, **{k: v for k, v in values.items() if k in _FIELDS})


# ---- admin changes ------------------------------------------------------------------------------------------------
Apply = Callable[[Mapping[str, Any]], None]


class Broadcast:
    """Admin changes (scenario PUT/DELETE, latency, reset) reach every worker and replica.

    :meth:`publish` keeps scenario and latency changes in Valkey (a replica started later replays them) and
    publishes each change; a subscriber thread per process hands other processes' changes to ``apply`` on the
    event loop. After a lost connection it resubscribes and replays the kept changes (none are missed)."""

    def __init__(self, shared: Shared) -> None:
        self.shared = shared
        self.origin = uuid.uuid4().hex
        self.channel = shared.key("admin")
        self.scenarios_key = shared.key("admin", "scenarios")
        self.latency_key = shared.key("admin", "latency")
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._pubsub: Any = None

    def publish(self, change: Mapping[str, Any]) -> None:
        message = orjson.dumps({**change, "origin": self.origin})
        with self.shared.guard():
            pipe = self.shared.client.pipeline(transaction=True)
            kind = change.get("kind")
            if kind == "put_scenario" or kind == "delete_scenario":
                pipe.hset(self.scenarios_key, change["name"], orjson.dumps(change))
            elif kind == "latency":
                pipe.rpush(self.latency_key, orjson.dumps(change))
                pipe.ltrim(self.latency_key, -1000, -1)
            elif kind == "reset" and change.get("namespace") is None:
                pass
            pipe.publish(self.channel, message)
            pipe.execute()

    def kept(self) -> list[dict[str, Any]]:
        """The kept changes, in the order to replay them (scenarios, then latency)."""
        with self.shared.guard():
            scenarios = self.shared.client.hgetall(self.scenarios_key)
            latency = self.shared.client.lrange(self.latency_key, 0, -1)
        return [orjson.loads(v) for v in scenarios.values()] + [orjson.loads(v) for v in latency]

    def start(self, apply: Apply, loop: Any) -> None:
        """Replay the kept changes, then listen (a daemon thread; ``apply`` runs on ``loop``)."""
        for change in self.kept():
            _apply_logged(apply, change)
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._listen, args=(apply, loop), name="fakeai-admin-broadcast", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        pubsub = self._pubsub
        if pubsub is not None:
            with contextlib.suppress(Exception):
                pubsub.close()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None

    def _listen(self, apply: Apply, loop: Any) -> None:
        resync = False
        while not self._stop.is_set():
            try:
                pubsub = self._pubsub = self.shared.client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.channel)
                if resync:  # changes published while we were away
                    for change in self.kept():
                        loop.call_soon_threadsafe(_apply_logged, apply, change)
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message is None or message.get("type") != "message":
                        continue
                    change = orjson.loads(message["data"])
                    if change.get("origin") != self.origin:
                        loop.call_soon_threadsafe(_apply_logged, apply, change)
            except Exception as exc:  # the backend went away: retry, then resync what was missed
                if self._stop.is_set():
                    return
                log.warning("admin broadcast lost its subscription (%s: %s); retrying", type(exc).__name__, exc)
                resync = True
                self._stop.wait(1.0)


def _apply_logged(apply: Apply, change: Mapping[str, Any]) -> None:
    try:
        apply(change)
    except Exception:
        log.exception("could not apply the admin change %s from another replica", change.get("kind"))
