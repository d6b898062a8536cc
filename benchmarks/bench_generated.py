"""Schema walker timings: compile-all per document and per-call generation cost.

Run: ``python benchmarks/bench_generated.py [spec.yaml]`` (default: the embedded OpenAI document).
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from typing import Any

from fakeai.generated.schema import GenContext, SchemaWalker
from fakeai.spec.load import load_document


def response_schemas(doc: dict[str, Any]) -> list[Any]:
    out = []
    for item in doc["paths"].values():
        for op in item.values():
            if not isinstance(op, dict):
                continue
            for code, response in (op.get("responses") or {}).items():
                for media, content in ((response or {}).get("content") or {}).items():
                    if (
                        code.startswith("2")
                        and media in ("application/json", "text/event-stream")
                        and "schema" in content
                    ):
                        out.append(content["schema"])
    return out


def per_call_us(walker: SchemaWalker, name: str, calls: int = 2000) -> tuple[float, float]:
    generate = walker.compile({"$ref": f"#/components/schemas/{name}"})
    samples = []
    for seed in range(calls):
        ctx = GenContext(rng=random.Random(seed), now=1_750_000_000.0, overrides={})
        start = time.perf_counter()
        generate(ctx)
        samples.append((time.perf_counter() - start) * 1e6)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99)]


def main() -> None:
    doc = load_document(sys.argv[1] if len(sys.argv) > 1 else None)
    schemas = response_schemas(doc)
    start = time.perf_counter()
    walker = SchemaWalker(doc)
    for schema in schemas:
        walker.compile(schema)
    print(f"compile {len(schemas)} response schemas (cold walker): {time.perf_counter() - start:.3f} s")
    start = time.perf_counter()
    for name in doc["components"]["schemas"]:
        walker.compile({"$ref": f"#/components/schemas/{name}"})
    count = len(doc["components"]["schemas"])
    print(f"compile {count} component schemas (warm walker): {time.perf_counter() - start:.3f} s")
    for name in ("CreateChatCompletionResponse", "CreateChatCompletionStreamResponse", "Response", "ListFilesResponse"):
        if name in doc["components"]["schemas"]:
            median, p99 = per_call_us(walker, name)
            print(f"{name}: median {median:.1f} us, p99 {p99:.1f} us per call")


if __name__ == "__main__":
    main()
