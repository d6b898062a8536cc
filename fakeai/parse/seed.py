"""The request's one seed, derived once by the parse stage; every later stage reads ``ctx.seed``.

    seed = blake2b(global seed, x-fakeai-seed, Prefer: seed, operationId, path, query, content)

``content`` is the body without the fields that change how an answer is delivered or recorded, never
what is sampled (``stream``, ``stream_options``, ``logprobs``, ``user``, ``metadata``...), so a request
gives the same ids, text, tool arguments, latency draws and chaos rolls streamed or not, with or without
logprobs. A multipart body counts by its fields and its files' names, types and bytes (not the random
boundary the client picked).

The one exception is a request that explicitly samples: a numeric ``temperature`` > 0 with no ``seed`` in
the body and no ``x-fakeai-seed`` / ``Prefer: seed``. A per-process counter is mixed in, so repeating it
gives a different answer, as a sampling model would. Everything else: same seed + same request = same
bytes, in every worker, replica and restart.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from fakeai.context import UploadedFile

NON_CONTENT_FIELDS = frozenset(
    {
        "stream", "stream_options", "logprobs", "top_logprobs", "user", "metadata", "store", "service_tier",
        "safety_identifier", "prompt_cache_key", "background",
    }
)  # fmt: skip
_JSON = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
_sampled = itertools.count(1)  # per process: makes unseeded sampling requests vary
_ids = itertools.count(1)
_PROCESS = os.urandom(6).hex()  # request ids are unique across processes; this is identity, not randomness


def request_seed(
    global_seed: int,
    operation_id: str,
    path: str,
    query: bytes,
    body: Any,
    files: Mapping[str, Sequence[UploadedFile]],
    header_seed: str = "",
    prefer_seed: int | None = None,
) -> int:
    digest = hashlib.blake2b(digest_size=8)
    digest.update(b"%d\0%s\0" % (global_seed, header_seed.encode()))
    if prefer_seed is not None:
        digest.update(b"prefer=%d\0" % prefer_seed)
    digest.update(operation_id.encode() + b"\0" + path.encode() + b"\0" + query + b"\0")
    if isinstance(body, dict):
        content = {k: v for k, v in body.items() if k not in NON_CONTENT_FIELDS}
        try:
            digest.update(orjson.dumps(content, option=_JSON))
        except TypeError:  # a value orjson cannot encode (e.g. int beyond 64 bits): its repr is as stable
            digest.update(repr(sorted(content.items(), key=lambda item: str(item[0]))).encode())
    elif isinstance(body, bytes):
        digest.update(body)
    elif body is not None:
        digest.update(str(body).encode())
    for name in sorted(files):
        for upload in files[name]:
            digest.update(b"\0file:%s:%s:%s:" % (name.encode(), upload.filename.encode(), upload.content_type.encode()))
            digest.update(hashlib.blake2b(upload.data, digest_size=16).digest())
    if samples(body) and not header_seed and prefer_seed is None:
        digest.update(b"\0sampled:%d" % next(_sampled))
    return int.from_bytes(digest.digest(), "big")


def samples(body: Any) -> bool:
    """The client asks for sampling: ``temperature`` > 0 and no ``seed`` of its own."""
    if not isinstance(body, dict) or body.get("seed") is not None:
        return False
    temperature = body.get("temperature")
    return isinstance(temperature, (int, float)) and not isinstance(temperature, bool) and temperature > 0


def new_request_id() -> str:
    """``req_`` + 32 hex digits, unique per request (a process token + a counter)."""
    return f"req_{_PROCESS}{next(_ids):020x}"
