"""Resources clients created, kept per namespace so a retrieve/list/download sees what was uploaded.

Bounded: at most ``max_items`` records and ``max_bytes`` of payload per store; the oldest go first.
Namespaces (``x-fakeai-namespace``) keep parallel tests apart. State lives here, not in producers: they
return :class:`~fakeai.context.Effect` s and the simulate stage commits them with :meth:`ResourceStore.apply`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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
        self._bytes = 0
        self._lock = threading.Lock()
        # the resource model compiled over this store (fakeai.resources.producer.build): kept here, not in a
        # module-level cache, so it lives and dies with its app
        self.compiled: Any = None

    def put(self, namespace: str, kind: str, ident: str, record: Record) -> None:
        key = (namespace, kind, ident)
        with self._lock:
            old = self._records.pop(key, None)
            if old is not None:
                self._bytes -= len(old.data)
            self._records[key] = record
            self._bytes += len(record.data)
            while self._records and (len(self._records) > self.max_items or self._bytes > self.max_bytes):
                _, evicted = self._records.popitem(last=False)
                self._bytes -= len(evicted.data)

    def get(self, namespace: str, kind: str, ident: str) -> Record | None:
        return self._records.get((namespace, kind, ident))

    def delete(self, namespace: str, kind: str, ident: str) -> Record | None:
        with self._lock:
            record = self._records.pop((namespace, kind, ident), None)
            if record is not None:
                self._bytes -= len(record.data)
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
                self._bytes = 0
                return
            for key in [k for k in self._records if k[0] == namespace]:
                self._bytes -= len(self._records.pop(key).data)

    def __len__(self) -> int:
        return len(self._records)
