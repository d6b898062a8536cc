"""Deliberate faults: post-process an ``Output`` (its SSE frames) and shift its ``Timing``.

Kinds: ``delay`` (latency spike / scripted delay), ``cut`` (stop after N chunks, optionally still
sending the finish chunk and/or ``[DONE]``), ``error_frame`` (an in-band ``data: {"error": ...}``
for chat, ``response.failed`` for Responses streams, Anthropic's ``event: error`` for Messages streams),
``malformed`` (one chunk of broken JSON),
``stall`` (a pause of T seconds after chunk N), ``slow_first_token`` (T more seconds before the
first chunk), ``reset`` (the server drops the connection after N chunks), ``empty`` (200 with an
empty body / no events). Frames injected here set ``validate=False``: they break the spec on purpose.

Which grammar a stream speaks is read from its first frame: no event name (chat, completions), ``message_start``
(Anthropic Messages: ``message_delta`` is its finish frame, ``message_stop`` its terminal one) or another event
name (Responses).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from fakeai.context import Frame, Output, Timing
from fakeai.errors import SERVER_ERROR_MESSAGE, error_body
from fakeai.streaming import RESET_EVENT

FAULT_KINDS = ("delay", "cut", "error_frame", "malformed", "stall", "slow_first_token", "reset", "empty")


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str
    after: int = 0  # chunks sent before the fault (content chunks for chat streams)
    seconds: float = 0.0
    finish_reason: bool = False  # cut: still send the finish chunk
    done: bool = False  # cut: still send the terminal [DONE] / response.completed

    @property
    def skip_check(self) -> bool:
        """The answer breaks the spec on purpose (an empty 200 body)."""
        return self.kind == "empty"


def _grammar(frames: Any) -> str:
    """``chat`` (``data:`` only), ``messages`` (Anthropic's event grammar) or ``responses``."""
    if not frames or frames[0].event is None:
        return "chat"
    return "messages" if frames[0].event == "message_start" else "responses"


def inject(output: Output, fault: Fault) -> Output:
    """Apply ``fault`` to ``output``; faults that need a stream do nothing to plain bodies."""
    if fault.kind == "empty":
        if output.frames is not None:
            return replace(output, frames=[], fault=fault)
        return replace(output, body=b"", fault=fault)
    frames = list(output.frames) if output.frames is not None else None
    if frames is None or fault.kind in ("delay", "stall", "slow_first_token"):
        return replace(output, fault=fault)
    n = min(fault.after, len(frames))
    head, tail = frames[:n], frames[n:]
    grammar = _grammar(frames)
    if fault.kind == "cut":
        if fault.finish_reason:
            head += [f for f in tail if _is_finish(f, grammar)]
        if fault.done:
            head += [f for f in tail if _is_done(f, grammar)]
        return replace(output, frames=head, fault=fault)
    if fault.kind == "error_frame":
        return replace(output, frames=[*head, _error_frame(frames, grammar)], fault=fault)
    if fault.kind == "malformed":
        return replace(output, frames=[*head, _MALFORMED[grammar], *tail], fault=fault)
    if fault.kind == "reset":
        return replace(output, frames=[*head, Frame("", event=RESET_EVENT, validate=False)], fault=fault)
    return output


_BROKEN = '{"id": "chatcmpl-fakeai", "choices": [{"delta": {"content": "unterminated'
_MALFORMED = {
    "chat": Frame(_BROKEN, validate=False),
    "responses": Frame(_BROKEN, "response.output_text.delta", False),
    "messages": Frame('{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "unter',
                      "content_block_delta", False),
}  # fmt: skip
# Anthropic's in-stream error as its docs show it (an overloaded server mid-answer), a valid ErrorResponse (the
# request id is not known here, null is its schema's default); the SDK raises APIStatusError on ``event: error``
ANTHROPIC_STREAM_ERROR = {
    "type": "error",
    "error": {"type": "overloaded_error", "message": "Overloaded"},
    "request_id": None,
}


def _is_finish(frame: Frame, grammar: str) -> bool:
    if grammar != "chat":
        return grammar == "messages" and frame.event == "message_delta"
    choices = frame.data.get("choices") if isinstance(frame.data, dict) else None
    return isinstance(choices, list) and any(isinstance(c, dict) and c.get("finish_reason") for c in choices)


def _is_done(frame: Frame, grammar: str) -> bool:
    if grammar == "messages":
        return frame.event == "message_stop"
    if grammar == "responses":
        return frame.event == "response.completed"
    return isinstance(frame.data, str) and frame.data == "[DONE]"


def _error_frame(frames: list[Frame], grammar: str) -> Frame:
    message = SERVER_ERROR_MESSAGE
    if grammar == "chat":
        return Frame(error_body(message, type="server_error"), validate=False)
    if grammar == "messages":
        return Frame(ANTHROPIC_STREAM_ERROR, event="error", validate=False)
    response: dict[str, Any] = {}
    for frame in frames:
        if isinstance(frame.data, dict) and isinstance(frame.data.get("response"), dict):
            response = dict(frame.data["response"])
            break
    response.update(status="failed", error={"code": "server_error", "message": message})
    sequence = len(frames)
    return Frame(
        {"type": "response.failed", "sequence_number": sequence, "response": response},
        event="response.failed",
        validate=False,
    )


def shift(timing: Timing, fault: Fault | None, frames: int = 0) -> Timing:
    """Add the fault's waiting time to the simulated deadlines of an answer of ``frames`` frames.

    A stall needs a deadline for every frame: without inter-token latency (``--itl 0``) the simulators give
    none (every frame is due with the first), so the missing ones are filled in as due at ``first`` before the
    frames from ``after`` on are pushed back.
    """
    if fault is None or not fault.seconds:
        return timing
    extra = fault.seconds
    if fault.kind in ("delay", "slow_first_token"):
        return Timing(
            first=timing.first + extra,
            frames=tuple(d + extra for d in timing.frames),
            done=timing.done + extra,
            queued=timing.queued,
        )
    if fault.kind == "stall":
        last = timing.frames[-1] if timing.frames else timing.first
        due = (*timing.frames, *(last,) * (frames - len(timing.frames)))
        moved = tuple(d + extra if i >= fault.after else d for i, d in enumerate(due))
        return Timing(first=timing.first, frames=moved, done=timing.done + extra, queued=timing.queued)
    return timing
