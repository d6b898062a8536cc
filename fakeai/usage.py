"""Usage accumulated from the traffic fakeai answered, for the usage and cost endpoints (issue 9).

A listener of :class:`~fakeai.events.RequestAnswered`, like the journal: the pipeline knows nothing about it.
Per answered request it does one dict update under a key of (namespace, minute, endpoint kind, model,
project_id, api_key_id, user_id, batch, detail), summing the token counts the answer's own ``usage`` reports
(the body's, or the final stream frame's). Kinds are those OpenAI's usage API groups traffic by; operations
that are none of them are ignored after one dict lookup. At most ``size`` rows are kept (the oldest dropped);
:meth:`Usage.reset` forgets a namespace (``POST /_fakeai/state/reset``).

``fakeai/producers/usage.py`` answers ``/organization/usage/*`` and ``/organization/costs`` from :meth:`rows`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from operator import add
from typing import Any, NamedTuple

from fakeai.context import Output, RequestContext
from fakeai.events import Events, RequestAnswered, nothing_to_flush
from fakeai.memo import Memo

DEFAULT_SIZE = 100_000
KINDS = (
    "completions",
    "embeddings",
    "moderations",
    "images",
    "audio_speeches",
    "audio_transcriptions",
    "vector_stores",
    "code_interpreter_sessions",
)
# counter slots of a row
INPUT, OUTPUT, CACHED, INPUT_AUDIO, OUTPUT_AUDIO, REQUESTS, UNITS = range(7)
# UNITS: images (images), characters (audio_speeches), seconds (audio_transcriptions), usage_bytes (vector_stores),
# sessions (code_interpreter_sessions)

# the operations of the official spec by the kind their usage is reported under; other vendors' model-like
# operations are added from their bindings (fakeai/producers/bindings.py)
OPERATION_KINDS: Mapping[str, str] = {
    "createChatCompletion": "completions",
    "createCompletion": "completions",
    "createResponse": "completions",
    "createEmbedding": "embeddings",
    "createModeration": "moderations",
    "createImage": "images",
    "createImageEdit": "images",
    "createImageVariation": "images",
    "createSpeech": "audio_speeches",
    "createTranscription": "audio_transcriptions",
    "createTranslation": "audio_transcriptions",
    "createVectorStore": "vector_stores",
    "CreateContainer": "code_interpreter_sessions",
    "createContainer": "code_interpreter_sessions",
}
BEHAVIOUR_KINDS: Mapping[str, str] = {
    "chat": "completions",
    "completions": "completions",
    "responses": "completions",
    "messages": "completions",
    "embeddings": "embeddings",
    "moderation": "moderations",
    "images": "images",
}
IMAGE_SOURCES: Mapping[str, str] = {
    "createImage": "image.generation",
    "createImageEdit": "image.edit",
    "createImageVariation": "image.variation",
}
_EMPTY: Mapping[str, Any] = {}


class Key(NamedTuple):
    namespace: str
    minute: int  # unix seconds, a multiple of 60
    kind: str
    model: str | None
    project_id: str | None
    api_key_id: str | None
    user_id: str | None
    batch: bool
    detail: tuple[str | None, ...]  # images: (source, size)


class Usage:
    """Usage rows ``Key -> [input, output, cached, input_audio, output_audio, requests, units]``, oldest first."""

    def __init__(self, size: int = DEFAULT_SIZE, kinds: Mapping[str, str] | None = None) -> None:
        self.size = max(1, size)
        self.kinds = dict(OPERATION_KINDS if kinds is None else kinds)  # operationId -> kind
        self.rows: dict[tuple[Any, ...], list[int]] = {}  # fields of Key
        self.dropped = 0  # rows pushed out by newer ones
        self._key_ids: Memo[str, str] = Memo(1024)  # authorization header -> key id
        self.flush: Callable[[], None] = nothing_to_flush  # subscribe(): the bus' queued events, dispatched

    @classmethod
    def from_document(
        cls, document: Mapping[str, Any], bindings: Sequence[str] = (), size: int = DEFAULT_SIZE
    ) -> Usage:
        """The official operations' kinds, plus every model-like operation ``document``'s bindings declare."""
        from fakeai.producers.bindings import bindings_for

        kinds = dict(OPERATION_KINDS)
        for name, binding in bindings_for(document, bindings).items():
            kind = BEHAVIOUR_KINDS.get(binding.behaviour)
            if kind is None and binding.behaviour == "audio":
                kind = "audio_speeches" if "speech" in name.lower() else "audio_transcriptions"
            if kind is not None and " " not in name:
                kinds.setdefault(name, kind)
        return cls(size, kinds)

    def subscribe(self, events: Events) -> Usage:
        events.subscribe(RequestAnswered, self.on_answered)
        self.flush = events.flush
        return self

    # the hot path: one lookup for operations without usage, one dict update for the others --------------------
    def on_answered(self, event: RequestAnswered) -> None:
        ctx = event.ctx
        kind = self.kinds.get(ctx.operation.operation_id)
        if kind is None:
            return
        output = event.output
        if not 200 <= output.status < 300:
            return
        model, counts, detail = _measure(kind, ctx, output)
        headers = ctx.headers
        key = (  # a plain tuple: a NamedTuple's constructor costs ~0.4 us here; select() names the fields
            ctx.namespace,
            int(ctx.now) // 60 * 60,
            kind,
            model,
            headers.get("openai-project"),
            self._key_id(headers),
            None,  # fakeai has no organization members; OpenAI's user_id is the key's owner
            False,  # batch lines run inside fakeai (Pipeline.run_internal) and emit no events
            detail,
        )
        row = self.rows.get(key)
        if row is None:
            if len(self.rows) >= self.size:
                del self.rows[next(iter(self.rows))]
                self.dropped += 1
            self.rows[key] = list(counts)
            return
        row[:] = map(add, row, counts)

    def _key_id(self, headers: Mapping[str, str]) -> str | None:
        auth = headers.get("authorization")
        if not auth:
            return None
        return self._key_ids.get(auth) or self._key_ids.put(auth, api_key_id(auth))

    # queries --------------------------------------------------------------------------------------------------
    def select(self, namespace: str, kinds: Sequence[str], start: int, end: int) -> Iterator[tuple[Key, list[int]]]:
        """Rows of ``namespace`` of one of ``kinds`` whose minute is in ``[start, end)``."""
        self.flush()
        for key, row in list(self.rows.items()):
            if key[0] == namespace and key[2] in kinds and start <= key[1] < end:
                yield Key._make(key), row

    def reset(self, namespace: str | None = None) -> int:
        """Forget ``namespace``'s rows (every row when ``None``); how many were dropped."""
        self.flush()
        if namespace is None:
            count = len(self.rows)
            self.rows.clear()
            return count
        gone = [key for key in self.rows if key[0] == namespace]
        for key in gone:
            del self.rows[key]
        return len(gone)

    def __len__(self) -> int:
        self.flush()
        return len(self.rows)


def api_key_id(authorization: str) -> str:
    """A stable id for the bearer token: ``key_`` + 16 hex digits of its SHA-256 (the token is never kept)."""
    token = authorization[7:].strip() if authorization[:7].lower() == "bearer " else authorization
    return "key_" + hashlib.sha256(token.encode()).hexdigest()[:16]


def _measure(kind: str, ctx: RequestContext, output: Output) -> tuple[str | None, tuple[int, ...], tuple[Any, ...]]:
    """(model, counters, detail) of one answer."""
    body = output.body if isinstance(output.body, dict) else None
    if output.frames:
        body = _final_frame(output)
    request = ctx.body if isinstance(ctx.body, dict) else _EMPTY
    model = body.get("model") if body is not None else None
    if not isinstance(model, str):
        model = request.get("model") if isinstance(request.get("model"), str) else None
    usage = body.get("usage") if body is not None else None
    if not isinstance(usage, dict):
        usage = _EMPTY
    if kind == "completions" or kind == "embeddings":
        return model, _tokens(usage, output), ()
    if kind == "moderations":
        return model, (_moderation_tokens(request.get("input")), 0, 0, 0, 0, 1, 0), ()
    if kind == "images":
        data = body.get("data") if body is not None else None
        images = len(data) if isinstance(data, list) else 0
        size = (body or _EMPTY).get("size") or request.get("size")
        source = IMAGE_SOURCES.get(ctx.operation.operation_id, "image.generation")
        return model, (0, 0, 0, 0, 0, 1, images), (source, size if isinstance(size, str) else None)
    if kind == "audio_speeches":
        text = request.get("input")
        return model, (0, 0, 0, 0, 0, 1, len(text) if isinstance(text, str) else 0), ()
    if kind == "audio_transcriptions":
        seconds = usage.get("seconds") if usage.get("type") == "duration" else (body or _EMPTY).get("duration")
        return model, (0, 0, 0, 0, 0, 1, int(seconds) if isinstance(seconds, (int, float)) else 0), ()
    if kind == "vector_stores":
        used = (body or _EMPTY).get("usage_bytes")
        return None, (0, 0, 0, 0, 0, 1, used if isinstance(used, int) else 0), ()
    return None, (0, 0, 0, 0, 0, 1, 1), ()  # code_interpreter_sessions: one session per container


def _final_frame(output: Output) -> dict[str, Any] | None:
    """The stream frame that carries the usage: chat's last chunk (``stream_options.include_usage``), the
    Responses ``response.completed`` event's response, Anthropic's ``message_delta``."""
    for frame in (output.frames or ())[-1:-4:-1]:  # the last 3, newest first
        data = frame.data
        if data.__class__ is not dict:
            continue
        if "response" in data:
            response = data["response"]
            if response.__class__ is dict and response.get("usage").__class__ is dict:
                return response
        elif data.get("usage").__class__ is dict:
            return data
    return None


def _tokens(usage: Mapping[str, Any], output: Output) -> tuple[int, ...]:
    if not usage:  # a stream without a usage frame: the tokens fakeai streamed, the prompt as the producer counted
        return (output.prompt_tokens or 0, output.completion_tokens, output.cached_tokens, 0, 0, 1, 0)
    if "prompt_tokens" in usage:  # chat, completions, embeddings
        into = usage.get("prompt_tokens_details") or _EMPTY
        out = usage.get("completion_tokens_details") or _EMPTY
        prompt, completion = usage["prompt_tokens"] or 0, usage.get("completion_tokens") or 0
        cached = into.get("cached_tokens") or 0
    else:  # Responses, Anthropic Messages
        into = usage.get("input_tokens_details") or _EMPTY
        out = usage.get("output_tokens_details") or _EMPTY
        prompt, completion = usage.get("input_tokens") or 0, usage.get("output_tokens") or 0
        cached = into.get("cached_tokens") or usage.get("cache_read_input_tokens") or 0
    return (prompt, completion, cached, into.get("audio_tokens") or 0, out.get("audio_tokens") or 0, 1, 0)


def _moderation_tokens(value: Any) -> int:
    """Moderation answers carry no usage; about 4 characters a token, as OpenAI's rule of thumb."""
    if isinstance(value, str):
        return (len(value) + 3) // 4
    if isinstance(value, list):
        return sum(_moderation_tokens(item.get("text") if isinstance(item, dict) else item) for item in value)
    return 0
