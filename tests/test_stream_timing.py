"""SSE timing over a real socket: the official SDK sees TTFT and ITL as configured (tolerant bounds)."""

from __future__ import annotations

import time

import openai

from fakeai.app import create_app
from fakeai.config import Settings
from fakeai.testing import serve


def test_streamed_chunks_arrive_on_schedule() -> None:
    app = create_app(Settings(ttft="50", itl="10", output_length="20:0:20:20"))
    with serve(app) as server:
        client = openai.OpenAI(base_url=server.base_url + "/v1", api_key="sk-test", max_retries=0)
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}], max_tokens=1)
        # ^ warm-up: the first request loads the tokenizer (~0.5 s), which would eat the schedule
        started = time.perf_counter()
        stream = client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True, max_tokens=20,
            extra_body={"ignore_eos": True},
        )  # fmt: skip
        arrivals = [
            time.perf_counter() - started for chunk in stream if chunk.choices and chunk.choices[0].delta.content
        ]
    assert len(arrivals) == 20
    assert arrivals[0] >= 0.045  # TTFT 50 ms (never early)
    assert arrivals[-1] - arrivals[0] >= 0.18  # 19 gaps of 10 ms, absolute deadlines
    assert arrivals[-1] < 5.0  # generous: a loaded CI box is slow, never this slow
