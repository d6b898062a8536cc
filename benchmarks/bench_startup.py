"""Cold and warm start: a fresh process importing fakeai and building the app on the embedded spec.

Cold = an empty spec cache (parse 3 MB of YAML + normalize); warm = the cached normalized document.
    python benchmarks/bench_startup.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROGRAM = "from fakeai.app import create_app; app = create_app(); assert len(app.operations) > 100"


def once(cache_dir: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", PROGRAM], cwd=ROOT, check=True, env={**os.environ, "FAKEAI_CACHE_DIR": cache_dir}
    )
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    bare = []
    for _ in range(args.runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import starlette.applications, uvicorn"], check=True)
        bare.append(time.perf_counter() - started)
    cold, warm = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as cache:
            cold.append(once(cache))
            warm.append(once(cache))
    print(f"process start importing starlette+uvicorn: {statistics.median(bare):.2f} s")
    print(f"fakeai cold start (empty cache):           {statistics.median(cold):.2f} s")
    print(f"fakeai warm start (cached spec):           {statistics.median(warm):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
