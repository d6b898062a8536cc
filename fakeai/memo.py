"""Bounded memos for facts derived from what requests send (model names, API keys, short texts).

Their keys come from clients, so they cannot grow without bound; and they sit on the request path, so a hit must
cost no more than a ``dict.get``. :class:`Memo` is a dict that forgets everything once it holds ``limit``
entries: a client sending a new key per request gets no caching and no growth, the usual few keys stay cached.
"""

from __future__ import annotations

from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Memo(dict[K, V], Generic[K, V]):
    """``memo.get(key)`` to look up (the plain dict method); ``memo.put(key, value)`` to remember."""

    __slots__ = ("limit",)

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def put(self, key: K, value: V) -> V:
        """Remember ``value`` under ``key`` (forgetting all first when full) and return it."""
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
        return value
