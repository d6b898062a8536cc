"""Compare two git revisions of fakeai with THIS checkout's benchmarks.

    benchmarks/compare REV_A REV_B [--rounds 3] [--duration 5] [--connections 1,10,100] [--requests 2000]
                                   [--only inprocess|http] [--keep]

Each revision is checked out as a temporary ``git worktree`` (``--detach``, under /tmp) and removed afterwards
(``--keep`` leaves them). ``bench_inprocess.py`` and ``bench_http.py`` of the current ``benchmarks/`` run
against each worktree's fakeai (``PYTHONPATH`` = the worktree, same venv, a spec cache per worktree), in
alternating rounds A, B, A, B, ... so slow drift of the machine hits both sides alike. The table gives the
median over rounds of each side and B/A. Read ``fakeai/bare`` (each HTTP run measures the bare app too, so
that ratio cancels most of the noise) and the in-process µs; raw req/s are printed to show the drift.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
CHECK = (
    "import fakeai, fakeai.app, fakeai.config; print(fakeai.__file__); "
    "fakeai.app.create_app(fakeai.config.Settings())"  # fills the worktree's spec cache: no cold first run
)


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


class Side:
    """One revision: its worktree and the environment its benchmarks run in."""

    def __init__(self, label: str, rev: str, tmp: Path) -> None:
        self.label = label
        self.rev = rev
        self.sha = git("rev-parse", "--verify", f"{rev}^{{commit}}")
        self.tree = tmp / label
        self.env = {
            **os.environ,
            "PYTHONPATH": str(self.tree),
            "FAKEAI_CACHE_DIR": str(tmp / f"cache-{label}"),
        }
        self.inprocess: list[dict[str, float]] = []
        self.http: list[dict[str, Any]] = []

    def create(self) -> None:
        git("worktree", "add", "--detach", str(self.tree), self.sha)
        out = subprocess.run([sys.executable, "-c", CHECK], cwd=self.tree, env=self.env, capture_output=True, text=True)
        loaded = out.stdout.strip().splitlines()[0] if out.stdout.strip() else ""
        if out.returncode or not loaded.startswith(str(self.tree)):
            where = loaded or "no output"
            raise SystemExit(f"{self.rev}: fakeai does not load from {self.tree} ({where}):\n{out.stderr}")
        print(f"{self.label} = {self.rev} ({self.sha[:10]}): {git('log', '-1', '--format=%s', self.sha)[:90]}")

    def remove(self) -> None:
        subprocess.run(["git", "worktree", "remove", "--force", str(self.tree)], cwd=ROOT, capture_output=True)

    def run(self, script: str, args: list[str], cwd: Path) -> Any:
        cmd = [sys.executable, str(BENCH / script), *args, "--json"]
        out = subprocess.run(cmd, cwd=cwd, env=self.env, capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(f"{self.label} ({self.rev}): {script} failed:\n{out.stdout}\n{out.stderr}")
        sys.stderr.write(out.stderr)  # warnings (e.g. not pinned)
        return json.loads(out.stdout.strip().splitlines()[-1])


def _row(name: str, a: list[float], b: list[float], fmt: str, note: str = "") -> str:
    ma, mb = statistics.median(a), statistics.median(b)
    runs = " | ".join(" ".join(format(v, fmt) for v in side) for side in (a, b))
    return f"{name:42} {ma:>10{fmt}} {mb:>10{fmt}} {mb / ma:>7.3f}  {note:4} {runs}"


def table(a: Side, b: Side, connections: list[int]) -> None:
    print(f"\nmedians over {max(len(a.inprocess), len(a.http))} alternating rounds (A = {a.rev}, B = {b.rev})")
    print(f"{'metric':42} {'A':>10} {'B':>10} {'B/A':>7}  {'':4} runs A | runs B")
    if a.inprocess:
        for key in a.inprocess[0]:
            if all(key in r for r in b.inprocess):
                vals = [[r[key] for r in side.inprocess] for side in (a, b)]
                print(_row(f"in-process {key} µs", *vals, ".1f", "low"))
    for c in connections if a.http else []:

        def pick(side: Side, name: str, key: str, c: int = c) -> list[float]:
            return [r[name][str(c)][key] for r in side.http]

        ratio = [[f / n for f, n in zip(pick(s, "fakeai", "rps"), pick(s, "bare", "rps"), strict=True)] for s in (a, b)]
        print(_row(f"http c={c} fakeai/bare req/s", *ratio, ".3f", "high"))
        print(_row(f"http c={c} fakeai req/s", pick(a, "fakeai", "rps"), pick(b, "fakeai", "rps"), ".0f", "high"))
        for key in ("p50_us", "p99_us"):
            ms = [[v / 1000 for v in pick(s, "fakeai", key)] for s in (a, b)]
            print(_row(f"http c={c} fakeai {key[:3]} ms", *ms, ".2f", "low"))
        print(_row(f"http c={c} bare req/s (drift)", pick(a, "bare", "rps"), pick(b, "bare", "rps"), ".0f"))
    print("'high'/'low': which direction is better; B/A > 1 means B's value is larger.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rev_a")
    parser.add_argument("rev_b")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="bench_http seconds per point")
    parser.add_argument("--connections", default="1,10,100")
    parser.add_argument("--requests", type=int, default=2000, help="bench_inprocess requests per timed run")
    parser.add_argument("--only", choices=["inprocess", "http"])
    parser.add_argument("--keep", action="store_true", help="leave the worktrees in /tmp")
    args = parser.parse_args()
    if args.only != "inprocess" and not shutil.which("wrk"):
        print("wrk not found: HTTP benchmarks skipped (benchmarks/compare installs it as root)", file=sys.stderr)
        args.only = "inprocess"
    tmp = Path(tempfile.mkdtemp(prefix="fakeai-compare-", dir="/tmp"))
    sides = [Side("A", args.rev_a, tmp), Side("B", args.rev_b, tmp)]
    try:
        for side in sides:
            side.create()
        for round_ in range(1, args.rounds + 1):
            for side in sides:
                print(f"round {round_}/{args.rounds}: {side.label} ({side.rev})", file=sys.stderr, flush=True)
                if args.only != "http":
                    side.inprocess.append(side.run("bench_inprocess.py", ["--requests", str(args.requests)], side.tree))
                if args.only != "inprocess":
                    http_args = ["--fakeai", str(side.tree), "--duration", str(args.duration)]
                    side.http.append(side.run("bench_http.py", [*http_args, "--connections", args.connections], ROOT))
        table(*sides, [int(c) for c in args.connections.split(",")])
    finally:
        if args.keep:
            print(f"worktrees kept in {tmp} (git worktree remove --force {tmp}/A {tmp}/B)", file=sys.stderr)
        else:
            for side in sides:
                side.remove()
            shutil.rmtree(tmp, ignore_errors=True)
            git("worktree", "prune")
    return 0


if __name__ == "__main__":
    sys.exit(main())
