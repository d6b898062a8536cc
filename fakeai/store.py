"""Resources clients created, kept per namespace so a retrieve/list/download sees what was uploaded.

Bounded: at most ``max_items`` records and ``max_bytes`` per store, counting each record's payload and its
body's JSON (stored Responses are all body); the oldest go first, the newest always stays.
Namespaces (``x-fakeai-namespace``) keep parallel tests apart. State lives here, not in producers: they
return :class:`~fakeai.context.Effect` s and the simulate stage commits them with :meth:`ResourceStore.apply`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from fakeai.context import Effect


@dataclass(frozen=True, slots=True)
class Record:
    body: dict[str, Any]  # the API object as answered (e.g. an OpenAI File)
    data: bytes = b""  # payload, e.g. the uploaded file's bytes
    meta: Mapping[str, Any] = field(default_factory=dict)  # resource model: parents, lifecycle state since


class ResourceStore:
    def __init__(self, max_items: int = 10_000, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._records: OrderedDict[tuple[str, str, str], Record] = OrderedDict()
        self._weights: dict[tuple[str, str, str], int] = {}  # weight() of each record
        self._bytes = 0
        self._lock = threading.Lock()
        # the resource model compiled over this store (fakeai.resources.producer.build): kept here, not in a
        # module-level cache, so it lives and dies with its app
        self.compiled: Any = None

    def put(self, namespace: str, kind: str, ident: str, record: Record) -> None:
        key = (namespace, kind, ident)
        size = weight(record)
        with self._lock:
            if self._records.pop(key, None) is not None:
                self._bytes -= self._weights.pop(key)
            self._records[key] = record
            self._weights[key] = size
            self._bytes += size
            while len(self._records) > 1 and (len(self._records) > self.max_items or self._bytes > self.max_bytes):
                evicted, _ = self._records.popitem(last=False)
                self._bytes -= self._weights.pop(evicted)

    def get(self, namespace: str, kind: str, ident: str) -> Record | None:
        return self._records.get((namespace, kind, ident))

    def delete(self, namespace: str, kind: str, ident: str) -> Record | None:
        key = (namespace, kind, ident)
        with self._lock:
            record = self._records.pop(key, None)
            if record is not None:
                self._bytes -= self._weights.pop(key)
            return record

    def apply(self, namespace: str, effect: Effect) -> None:
        """Commit one state change an answer asked for (the simulate stage calls this; producers never write)."""
        if effect.action == "put":
            self.put(namespace, effect.kind, effect.id, effect.record)
        elif effect.action == "delete":
            self.delete(namespace, effect.kind, effect.id)
        else:
            raise ValueError(f"unknown store effect {effect.action!r}")

    def items(self, namespace: str, kind: str) -> list[Record]:
        """Records of one kind in creation order."""
        return [r for (ns, k, _), r in list(self._records.items()) if ns == namespace and k == kind]

    def entries(self, namespace: str, kind: str) -> list[tuple[str, Record]]:
        """(id, record) pairs of one kind in creation order."""
        return [(i, r) for (ns, k, i), r in list(self._records.items()) if ns == namespace and k == kind]

    def clear(self, namespace: str | None = None) -> None:
        with self._lock:
            if namespace is None:
                self._records.clear()
                self._weights.clear()
                self._bytes = 0
                return
            for key in [k for k in self._records if k[0] == namespace]:
                del self._records[key]
                self._bytes -= self._weights.pop(key)

    def __len__(self) -> int:
        return len(self._records)

    @property
    def bytes(self) -> int:
        """What the store counts against ``max_bytes``."""
        return self._bytes


def weight(record: Record) -> int:
    """A record's size against the budget: its payload plus its body's JSON."""
    return len(record.data) + len(orjson.dumps(record.body, default=repr, option=orjson.OPT_NON_STR_KEYS))
