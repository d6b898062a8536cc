"""The Responses API event stream of a planned answer.

Every frame is ``event: <type>`` + ``data: {...}`` with a ``sequence_number`` counting from 0:

    response.created, response.in_progress            (status in_progress, output [])
    per output item:
      response.output_item.added
      message:        per content part: content_part.added, output_text.delta..., output_text.done
                      (refusal parts: refusal.delta..., refusal.done), content_part.done
      function_call:  function_call_arguments.delta..., function_call_arguments.done
      reasoning:      per summary part: reasoning_summary_part.added, reasoning_summary_text.delta...,
                      reasoning_summary_text.done, reasoning_summary_part.done
      response.output_item.done
    response.completed | response.incomplete          (the same body as the non-streamed answer)

Deltas carry ``tokens_per_chunk`` tokens (a character split over tokens is never split over
deltas) and an ``obfuscation`` string, as OpenAI sends unless ``include_obfuscation`` is false.
There is no ``[DONE]`` sentinel in this API.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from fakeai.context import Frame

if TYPE_CHECKING:
    from fakeai.producers.text.responses import Answer, Item

__all__ = ["chunks", "frames"]

_OBFUSCATION_LENGTH = 16  # delta + padding reach at least this many characters
_ALNUM_ONLY = bytes.maketrans(b"+/", b"xQ")  # base64 letters and digits only, like OpenAI's padding


def chunks(pieces: Sequence[str], per_chunk: int) -> Iterator[tuple[str, int]]:
    """(text, tokens) deltas of ``per_chunk`` tokens; empty pieces ride with the next text."""
    text: list[str] = []
    count = 0
    for piece in pieces:
        text.append(piece)
        count += 1
        if count >= per_chunk and piece:
            yield "".join(text), count
            text, count = [], 0
    if count:
        yield "".join(text), count  # may be "" only when every piece left is a fragment


class _Writer:
    def __init__(self, obfuscation: random.Random | None) -> None:
        self.frames: list[Frame] = []
        self.obfuscation = obfuscation
        self.pool = ""  # random padding characters, drawn 1 KiB at a time (one RNG call, not one per char)
        self.used = 0

    def padding(self, size: int) -> str:
        assert self.obfuscation is not None
        if self.used + size > len(self.pool):
            self.pool = base64.b64encode(self.obfuscation.randbytes(768)).translate(_ALNUM_ONLY).decode()
            self.used = 0
        self.used += size
        return self.pool[self.used - size : self.used]

    def emit(self, kind: str, fields: dict[str, Any], tokens: int = 0) -> None:
        data = {"type": kind, "sequence_number": len(self.frames), **fields}
        self.frames.append(Frame(data=data, event=kind, tokens=tokens))

    def delta(self, kind: str, fields: dict[str, Any], delta: str, tokens: int) -> None:
        data: dict[str, Any] = {"type": kind, "sequence_number": len(self.frames), **fields, "delta": delta}
        if kind == "response.output_text.delta":
            data["logprobs"] = []
        if self.obfuscation is not None:
            data["obfuscation"] = self.padding(max(_OBFUSCATION_LENGTH - len(delta), 1))
        self.frames.append(Frame(data=data, event=kind, tokens=tokens))


def frames(answer: Answer, tokens_per_chunk: int, obfuscation: random.Random | None) -> list[Frame]:
    final = answer.response
    # OpenAI sends "usage": null here; the spec's Response.usage is not nullable, so it is left out.
    started = {key: value for key, value in final.items() if key != "usage"}
    started.update(status="in_progress", completed_at=None, incomplete_details=None, output=[])
    out = _Writer(obfuscation)
    out.emit("response.created", {"response": started})
    out.emit("response.in_progress", {"response": started})
    for index, item in enumerate(answer.items):
        kind = item.body["type"]
        if kind == "message":
            _message(out, index, item, tokens_per_chunk)
        elif kind == "function_call":
            _function_call(out, index, item, tokens_per_chunk)
        else:
            _reasoning(out, index, item, tokens_per_chunk)
    done = "response.completed" if final["status"] == "completed" else "response.incomplete"
    out.emit(done, {"response": final})
    return out.frames


def _message(out: _Writer, index: int, item: Item, per_chunk: int) -> None:
    body = item.body
    added = {**body, "status": "in_progress", "content": []}
    out.emit("response.output_item.added", {"output_index": index, "item": added})
    for content_index, (part, pieces) in enumerate(zip(body["content"], item.parts, strict=True)):
        where = {"item_id": body["id"], "output_index": index, "content_index": content_index}
        if part["type"] == "refusal":
            out.emit("response.content_part.added", {**where, "part": {**part, "refusal": ""}})
            for text, tokens in chunks(pieces, per_chunk):
                out.delta("response.refusal.delta", where, text, tokens)
            out.emit("response.refusal.done", {**where, "refusal": part["refusal"]})
        else:
            out.emit("response.content_part.added", {**where, "part": {**part, "text": ""}})
            for text, tokens in chunks(pieces, per_chunk):
                out.delta("response.output_text.delta", where, text, tokens)
            out.emit("response.output_text.done", {**where, "text": part["text"], "logprobs": []})
        out.emit("response.content_part.done", {**where, "part": part})
    out.emit("response.output_item.done", {"output_index": index, "item": body})


def _function_call(out: _Writer, index: int, item: Item, per_chunk: int) -> None:
    body = item.body
    where = {"item_id": body["id"], "output_index": index}
    added = {**body, "status": "in_progress", "arguments": ""}
    out.emit("response.output_item.added", {"output_index": index, "item": added})
    for text, tokens in chunks(item.parts[0], per_chunk):
        out.delta("response.function_call_arguments.delta", where, text, tokens)
    out.emit("response.function_call_arguments.done", {**where, "name": body["name"], "arguments": body["arguments"]})
    out.emit("response.output_item.done", {"output_index": index, "item": body})


def _reasoning(out: _Writer, index: int, item: Item, per_chunk: int) -> None:
    """Summary tokens pace the summary deltas; the rest of the hidden reasoning is due with the item's end."""
    body = item.body
    added = {"id": body["id"], "type": "reasoning", "summary": []}
    out.emit("response.output_item.added", {"output_index": index, "item": added})
    spent = 0
    for summary_index, pieces in enumerate(item.parts):
        where = {"item_id": body["id"], "output_index": index, "summary_index": summary_index}
        out.emit("response.reasoning_summary_part.added", {**where, "part": {"type": "summary_text", "text": ""}})
        for text, tokens in chunks(pieces, per_chunk):
            out.delta("response.reasoning_summary_text.delta", where, text, tokens)
            spent += tokens
        text = body["summary"][summary_index]["text"]
        out.emit("response.reasoning_summary_text.done", {**where, "text": text})
        out.emit("response.reasoning_summary_part.done", {**where, "part": {"type": "summary_text", "text": text}})
    out.emit("response.output_item.done", {"output_index": index, "item": body}, tokens=max(item.tokens - spent, 0))
