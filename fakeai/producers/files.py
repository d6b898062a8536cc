"""Files behave like storage: an upload can be retrieved, listed, downloaded and deleted.

Handlers read the store and return the changes they imply as ``Output.effects`` (committed by the simulate
stage). Unknown ids still get generated answers (echoing the id), so clients that retrieve files they never
uploaded keep working. Everything is per namespace (``x-fakeai-namespace``).
"""

from __future__ import annotations

import functools
import string
from collections.abc import Sequence
from typing import Any

from fakeai.context import Effect, Output, RequestContext
from fakeai.plugins import Registry
from fakeai.producers.base import CompileEnv, StoreHandler, StoreProducer, store_producer
from fakeai.spec.operation import Operation
from fakeai.spec.pointer import deref
from fakeai.store import Record, ResourceStore

KIND = "file"
_ALPHABET = string.ascii_letters + string.digits


def create(store: ResourceStore, ctx: RequestContext, purposes: Sequence[str] = ()) -> Output | None:
    body = ctx.body if isinstance(ctx.body, dict) else {}
    uploads = ctx.files.get("file") or ()
    if not uploads:
        return None  # a JSON body without a file part: let the generic producers answer
    upload = uploads[0]
    ident = "file-" + "".join(ctx.rng.choice(_ALPHABET) for _ in range(22))
    created = int(ctx.now)
    obj: dict[str, Any] = {
        "id": ident,
        "object": "file",
        "bytes": len(upload.data),
        "created_at": created,
        "filename": upload.filename or "file",
        "purpose": _purpose(body.get("purpose", "user_data"), purposes),
        "status": "processed",  # deprecated upstream, still required by the spec
    }
    expires = body.get("expires_after")
    if isinstance(expires, dict) and isinstance(expires.get("seconds"), int):
        obj["expires_at"] = created + expires["seconds"]
    effect = Effect("put", KIND, ident, Record(obj, upload.data))
    return Output(status=ctx.operation.status, body=obj, source="store", effects=(effect,))


def retrieve(store: ResourceStore, ctx: RequestContext) -> Output | None:
    record = store.get(ctx.namespace, KIND, ctx.path_params.get("file_id", ""))
    return Output(status=ctx.operation.status, body=record.body, source="store") if record else None


def download(store: ResourceStore, ctx: RequestContext) -> Output | None:
    record = store.get(ctx.namespace, KIND, ctx.path_params.get("file_id", ""))
    if record is None:
        return None
    return Output(
        status=ctx.operation.status, body=record.data, content_type="application/octet-stream", source="store"
    )


def delete(store: ResourceStore, ctx: RequestContext) -> Output | None:
    ident = ctx.path_params.get("file_id", "")
    if store.get(ctx.namespace, KIND, ident) is None:
        return None
    body = {"id": ident, "object": "file", "deleted": True}
    return Output(status=ctx.operation.status, body=body, source="store", effects=(Effect("delete", KIND, ident),))


def listing(store: ResourceStore, ctx: RequestContext) -> Output | None:
    records = store.items(ctx.namespace, KIND)
    if not records:
        return None  # nothing uploaded in this namespace: generated examples, as before
    files = [r.body for r in records]
    purpose = ctx.query.get("purpose")
    if isinstance(purpose, str):
        files = [f for f in files if f.get("purpose") == purpose]
    if ctx.query.get("order", "desc") == "desc":
        files.reverse()
    after = ctx.query.get("after")
    if isinstance(after, str):
        ids = [f["id"] for f in files]
        files = files[ids.index(after) + 1 :] if after in ids else []  # an unknown cursor: nothing after it
    limit = ctx.query.get("limit", 10000)
    limit = limit if isinstance(limit, int) and limit > 0 else 10000
    page = files[:limit]
    body = {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else "",  # the spec types these as strings, never null
        "last_id": page[-1]["id"] if page else "",
        "has_more": len(files) > len(page),
    }
    return Output(status=ctx.operation.status, body=body, source="store")


HANDLERS: Registry[StoreHandler] = Registry(
    "store handler",
    builtins={
        "createFile": create,
        "retrieveFile": retrieve,
        "downloadFile": download,
        "deleteFile": delete,
        "listFiles": listing,
    },
)


def _purpose(asked: Any, purposes: Sequence[str]) -> Any:
    """The purpose the file is stored with: the one asked for, unless the document's file object does not allow
    it (OpenAI's 2025 document accepts ``user_data`` uploads but leaves it out of ``OpenAIFile.purpose``): then
    the object's first purpose, so the answer stays valid."""
    return asked if not purposes or asked in purposes else purposes[0]


def _file_purposes(operation: Operation, document: Any) -> tuple[str, ...]:
    """The ``purpose`` values the operation's answer (a file object) allows; () when it names none."""
    schema = deref(document, operation.json_response.schema if operation.json_response is not None else None)
    purpose = deref(document, (schema.get("properties") or {}).get("purpose")) if isinstance(schema, dict) else None
    enum = purpose.get("enum") if isinstance(purpose, dict) else None
    return tuple(v for v in enum if isinstance(v, str)) if isinstance(enum, list) else ()


def files_factory(operation: Operation, env: CompileEnv) -> StoreProducer | None:
    producer = store_producer(HANDLERS, operation, env)
    if producer is not None and operation.operation_id == "createFile":
        producer.handler = functools.partial(create, purposes=_file_purposes(operation, env.document))
    return producer
