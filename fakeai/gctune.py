"""Keep the garbage collector out of the request path.

fakeai builds a large long-lived heap at startup (the spec, compiled validators and generators, tokenizer
vocabularies). With CPython's default thresholds a full collection walks all of it every few hundred requests and
stalls the event loop for 60-120 ms, so every stream in flight misses its deadlines. Once startup is done,
:func:`freeze` collects once, moves every surviving object into the permanent generation (``gc.freeze()``: the
collector never visits it again) and raises the generation-0 threshold, since a request/response workload makes
many short-lived objects and few cycles. :class:`GcStats` counts collections and their pauses (``gc.callbacks``);
``/metrics`` exports them as ``fakeai_gc_*``.
"""

from __future__ import annotations

import gc
import threading
import time
from dataclasses import dataclass, field
from typing import Any

# generation 0 is collected after this many net allocations (CPython: 700); generations 1 and 2 after this
# many collections of the younger one (CPython: 10, 10). Young collections over short-lived request objects
# stay under ~5 ms at 5,000 (measured: benchmarks/bench_http.py); the frozen heap is never walked.
THRESHOLDS = (5_000, 20, 50)


@dataclass(slots=True)
class GcStats:
    """Collections and pause times per generation since :meth:`install` (process-wide, like the collector)."""

    collections: list[int] = field(default_factory=lambda: [0, 0, 0])
    seconds: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    longest: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    collected: list[int] = field(default_factory=lambda: [0, 0, 0])
    _started: float = 0.0

    def install(self) -> GcStats:
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)
        return self

    def uninstall(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        generation = int(info.get("generation", 2))
        pause = time.perf_counter() - self._started
        self.collections[generation] += 1
        self.seconds[generation] += pause
        self.longest[generation] = max(self.longest[generation], pause)
        self.collected[generation] += int(info.get("collected", 0))

    def snapshot(self) -> dict[str, Any]:
        return {
            "collections": list(self.collections),
            "pause_seconds": list(self.seconds),
            "max_pause_seconds": list(self.longest),
            "collected": list(self.collected),
            "frozen": gc.get_freeze_count(),
            "thresholds": list(gc.get_threshold()),
        }


STATS = GcStats()
_lock = threading.Lock()


def freeze(thresholds: tuple[int, int, int] = THRESHOLDS) -> int:
    """Collect once, freeze every survivor, set ``thresholds``; returns the number of frozen objects.

    Called when startup is complete (the ASGI lifespan's last startup hook), so it runs in every worker."""
    with _lock:
        gc.collect()
        gc.freeze()
        gc.set_threshold(*thresholds)
        STATS.install()  # after the startup collection: it counts what serving costs
        _trim()
        return gc.get_freeze_count()


def trim_heap() -> None:
    """Collect, then give free heap pages back to the system (what a process built and dropped)."""
    gc.collect()
    _trim()


def _trim() -> None:
    """Give the C heap's free pages back to the system (glibc's ``malloc_trim``): startup (spec loading,
    vocabularies) frees far more than serving ever reuses. A no-op where libc has no such call."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        trim = getattr(libc, "malloc_trim", None)
        if trim is not None:
            trim(0)
    except OSError:
        pass
