"""The llama.cpp backend against the synthetic generator: TTFT and tokens/s of streamed chat completions.

    python benchmarks/bench_llamacpp.py [--model FILE.gguf] [--requests 5] [--tokens 64] [--json]

In process (the official SDK over an ASGI transport, no socket), one stream at a time, alternating synthetic
(``gpt-4o``) and backend (``gpt-4o-mini``, the ``backend_models`` glob) requests so both share the machine's
noise. TTFT = request sent -> first non-empty content chunk; tokens/s = content chunks / (last - first chunk);
end-to-end tokens/s = content chunks / whole request. Without ``--model`` it writes the random-weight test model
of ``tests/test_llamacpp.py`` (64 wide, 2 layers: llama.cpp's fixed costs, not a real model's speed); pass a real
GGUF (e.g. SmolLM2-135M-Instruct Q8_0, docs/llamacpp.md) for numbers a test suite will see.

The backend generates the whole answer before the first frame is sent (the produce stage returns every frame),
so its TTFT is the whole generation time; the synthetic generator's is its own overhead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fakeai.app import create_app  # noqa: E402
from fakeai.config import Settings  # noqa: E402
from fakeai.testing import async_client  # noqa: E402

REAL, SYNTHETIC = "gpt-4o-mini", "gpt-4o"
MESSAGES = [{"role": "user", "content": "Tell me about the sea."}]


async def one(client: Any, model: str, tokens: int) -> tuple[float, float, float, int]:
    """(ttft s, tokens/s between first and last chunk, end-to-end tokens/s, content chunks) of one stream."""
    started = time.perf_counter()
    stream = await client.chat.completions.create(
        model=model, messages=MESSAGES, max_tokens=tokens, stream=True, extra_body={"ignore_eos": True}
    )
    arrivals = []
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.perf_counter())
    ended = time.perf_counter()
    if not arrivals:
        raise RuntimeError(f"{model}: no content chunk")
    spread = arrivals[-1] - arrivals[0]
    rate = (len(arrivals) - 1) / spread if spread > 0 else float("inf")
    return arrivals[0] - started, rate, len(arrivals) / (ended - started), len(arrivals)


async def run(model_path: Path, requests: int, tokens: int) -> dict[str, dict[str, float]]:
    settings = Settings(model_backend="llamacpp", model_path=str(model_path), backend_models=(REAL,))
    loading = time.perf_counter()
    app = create_app(settings)
    load_seconds = time.perf_counter() - loading
    client = async_client(app)
    for model in (SYNTHETIC, REAL):  # warm-up: tokenizers, grammars, the first llama.cpp graph
        await one(client, model, tokens)
    samples: dict[str, list[tuple[float, float, float, int]]] = {SYNTHETIC: [], REAL: []}
    for _ in range(requests):
        for model in (SYNTHETIC, REAL):
            samples[model].append(await one(client, model, tokens))
    out: dict[str, dict[str, float]] = {}
    for model, rows in samples.items():
        out["llamacpp" if model == REAL else "synthetic"] = {
            "ttft_ms_median": statistics.median(r[0] for r in rows) * 1000,
            "stream_tokens_per_s_median": statistics.median(r[1] for r in rows),
            "e2e_tokens_per_s_median": statistics.median(r[2] for r in rows),
            "tokens_median": statistics.median(r[3] for r in rows),
        }
    out["llamacpp"]["startup_s"] = load_seconds
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--model", type=Path, help="a GGUF file (default: the tiny random-weight test model)")
    parser.add_argument("--requests", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            from tests.test_llamacpp import write_tiny_llama

            model = write_tiny_llama(Path(tmp) / "tiny-llama.gguf")
        results = asyncio.run(run(model, args.requests, args.tokens))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"model {model.name}, {args.requests} streams of {args.tokens} tokens each, alternating")
    print(f"{'':10} {'TTFT ms':>10} {'tok/s stream':>13} {'tok/s e2e':>10} {'tokens':>7}")
    for name, row in results.items():
        print(
            f"{name:10} {row['ttft_ms_median']:10.1f} {row['stream_tokens_per_s_median']:13.0f} "
            f"{row['e2e_tokens_per_s_median']:10.0f} {row['tokens_median']:7.0f}"
        )
    print(f"backend startup (model load) {results['llamacpp']['startup_s']:.2f} s")


if __name__ == "__main__":
    main()
