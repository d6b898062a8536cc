"""The startup heap is frozen out of the garbage collector's way (issue: GC pauses stalled every stream).

Each check runs in a fresh interpreter: freezing is process-wide and would change the test worker itself."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import asyncio, gc, json, sys
from fakeai.app import create_app
from fakeai.config import Settings
from fakeai.gctune import STATS

app = create_app(Settings().merge(json.loads(sys.argv[1]), "test"))
sent = []

async def lifespan():
    messages = [{"type": "lifespan.startup"}]
    async def receive():
        if messages:
            return messages.pop()
        await asyncio.sleep(3600)
    async def send(message):
        sent.append(message["type"])
        if message["type"] == "lifespan.startup.complete":
            raise SystemExit
    try:
        await app(({"type": "lifespan"}), receive, send)
    except SystemExit:
        pass

asyncio.run(lifespan())
young = [len(gc.get_objects(generation)) for generation in range(3)]
print(json.dumps({"sent": sent, "frozen": gc.get_freeze_count(), "old": young[2],
                  "threshold": gc.get_threshold(), "metrics": app.metrics.render().decode()}))
"""


def probe(settings: dict[str, object]) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(settings)], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("enabled", [True, False])
def test_startup_freezes_the_heap_so_full_collections_visit_few_objects(enabled: bool) -> None:
    seen = probe({"gc_freeze": enabled})
    assert seen["sent"] == ["lifespan.startup.complete"]
    frozen, old = seen["frozen"], seen["old"]
    assert isinstance(frozen, int) and isinstance(old, int)
    if enabled:
        assert frozen > 50_000  # the spec, validators, generators, tokenizers
        assert old < frozen / 20  # what a generation-2 collection still walks
        assert seen["threshold"] == [5000, 20, 50]
        assert "fakeai_gc_frozen_objects " + f"{float(frozen)}" in str(seen["metrics"])
    else:
        assert frozen == 0
        assert old > 50_000
        assert seen["threshold"] == [700, 10, 10]
