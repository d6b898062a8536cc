"""The dashboard's live feed without a browser: what one tick sends (fakeai/ui/feed.py)."""

from __future__ import annotations

import orjson

from fakeai.journal import Entry, Journal, pack
from fakeai.ui.feed import Feed, find, summary


def journal_of(count: int) -> Journal:
    journal = Journal()
    for seq in range(1, count + 1):
        entry = Entry(seq, 0.0, "POST", "/v1/chat/completions", 200, request_json=pack({"model": "m"}))
        journal.entries.append(entry)
    return journal


def events(chunk: bytes) -> list[tuple[str, dict[str, object]]]:
    out = []
    for block in chunk.decode().strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        out.append((fields["event"], orjson.loads(fields["data"])))
    return out


def test_a_tick_sends_the_newest_entries_and_counts_those_it_skipped() -> None:
    feed = Feed(journal_of(60))
    sent = events(feed.tick(limit=50))
    assert sent[0] == ("skipped", {"count": 10, "before": 11})
    assert [data["seq"] for _name, data in sent[1:]] == list(range(11, 61))
    assert feed.tick(limit=50) == b""


def test_entries_cleared_from_the_journal_are_not_counted_as_skipped() -> None:
    journal = journal_of(10)
    for _ in range(7):
        journal.entries.popleft()
    sent = events(Feed(journal).tick(limit=3))
    assert [name for name, _data in sent] == ["entry", "entry", "entry"]


def test_a_summary_has_the_model_and_the_last_user_turn() -> None:
    entry = Entry(
        1,
        0.0,
        "POST",
        "/v1/chat/completions",
        200,
        request_json=pack({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi <b>"}]}),
        response_json=pack({"choices": [{"message": {"content": "hello"}}]}),
    )
    assert {k: summary(entry)[k] for k in ("model", "prompt", "reply")} == {
        "model": "gpt-4o",
        "prompt": "hi <b>",
        "reply": "hello",
    }


def test_find_looks_an_entry_up_by_seq() -> None:
    journal = journal_of(5)
    assert find(journal, 3) is not None and find(journal, 3).seq == 3  # type: ignore[union-attr]
    assert find(journal, 9) is None
