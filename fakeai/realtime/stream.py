"""A realtime response on the wire: ``response.create`` / ``response.cancel`` and the paced event stream.

``create`` asks the scenario engine (:mod:`fakeai.realtime.turn`) for the turn as the equivalent chat request:
a client error answers an ``error`` event and no response; otherwise the response is planned
(:mod:`fakeai.realtime.respond`) and streamed in a task of its own. The stream sleeps on the app's clock (TTFT,
then ITL per token), applies the scenario's fault, answers ``response.done`` (``completed``, ``incomplete``,
``cancelled`` or ``failed``) and ``rate_limits.updated``, then records one journal entry and the metrics.
``cancel`` (or VAD hearing speech) stops it at the next token. The only module that sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fakeai.context import Frame, Refusal, RequestContext
from fakeai.errors import SERVER_ERROR_MESSAGE, APIError
from fakeai.realtime import respond, turn
from fakeai.realtime.session import SESSION_KEYS
from fakeai.scenario.faults import Fault

if TYPE_CHECKING:
    from fakeai.realtime.connection import Connection

log = logging.getLogger("fakeai")

RATE_LIMITS = {"requests": 5_000, "tokens": 400_000}
# waits shorter than this sleep without racing the cancel flag (two futures and asyncio.wait per token cost more
# than the token: 200 sessions at 20 ms ITL fell behind); a cancel is seen at the next token, at most this late
_RACE_BELOW = 0.05
_STOPPING_FAULTS = frozenset({"reset", "cut", "empty", "error_frame", "malformed"})


@dataclass
class Active:
    """The response in flight (one per connection): its plan, its task, and whether and why it was cancelled."""

    plan: respond.Plan
    task: asyncio.Task[None] | None = None
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    reason: str = "client_cancelled"


async def create(conn: Connection, event: dict[str, Any]) -> None:
    if conn.active is not None:
        await conn.error(
            f"Conversation already has an active response in progress: "
            f"{conn.active.plan.response_id}. Wait until the response is finished before creating "
            f"a new one.",
            "conversation_already_has_active_response",
            event.get("event_id"),
        )
        return
    overrides = event.get("response") or {}
    config = {**conn.session, **{k: v for k, v in overrides.items() if k in SESSION_KEYS}}
    out_of_band = overrides.get("conversation") == "none"
    items = list(conn.items) if "input" not in overrides else [dict(i) for i in overrides["input"] or ()]
    config["conversation_id"] = None if out_of_band else conn.conversation_id
    bridge = conn.endpoint.bridge
    now = conn.endpoint.clock.now()
    ctx = bridge.context(
        conn.path, conn.headers, conn.namespace, turn.chat_body(config, items), now, conn.conversation_id
    )
    try:
        outcome = bridge.decide(ctx)
    except APIError as exc:
        outcome = turn.Outcome(refusal=Refusal(exc.status, exc.message, exc.type, exc.code, exc.param))
    if outcome.unsupported is not None or (outcome.refusal is not None and not _fails_response(outcome.refusal)):
        refusal = outcome.refusal or Refusal(500, str(outcome.unsupported), "server_error")
        sent = await conn.error(refusal.message, refusal.code, event.get("event_id"), refusal.param, refusal.type)
        bridge.answered(ctx, outcome, [Frame(sent)] if sent else [], refusal.status, 0.0, 0.0, conn.closed)
        return
    seconds = sum(conn.audio_seconds.get(str(i.get("id")), 0.0) for i in items)
    plan = respond.plan(config, items, conn.endpoint.generation, conn.rng, now, seconds, outcome.script)
    active = Active(plan)
    conn.active = active
    active.task = asyncio.create_task(_stream(conn, active, ctx, outcome, in_conversation=not out_of_band))


async def cancel(conn: Connection, event: dict[str, Any]) -> None:
    wanted = event.get("response_id")
    if conn.active is None or (wanted and wanted != conn.active.plan.response_id):
        await conn.error(
            "Cancellation failed: no active response found.", "response_cancel_not_active", event.get("event_id")
        )
        return
    conn.active.reason = "client_cancelled"
    conn.active.cancelled.set()


async def _wait(conn: Connection, active: Active, deadline: float) -> bool:
    """Sleep on the app's clock until ``deadline``; False when the response was cancelled meanwhile."""
    if active.cancelled.is_set():
        return False
    clock = conn.endpoint.clock
    if deadline - clock.monotonic() < _RACE_BELOW:  # a short wait (an ITL): no race, the flag is read after it
        await clock.sleep_until(deadline)
        return not active.cancelled.is_set()
    sleeper = asyncio.ensure_future(clock.sleep_until(deadline))
    stop = asyncio.ensure_future(active.cancelled.wait())
    await asyncio.wait({sleeper, stop}, return_when=asyncio.FIRST_COMPLETED)
    sleeper.cancel()
    stop.cancel()
    return not active.cancelled.is_set()


async def _stream(
    conn: Connection, active: Active, ctx: RequestContext, outcome: turn.Outcome, in_conversation: bool
) -> None:
    """The response's events paced on the clock (TTFT, then ITL per token), the scenario's fault applied
    (``delay``/``slow_first_token``: later first token; ``stall``: a pause after ``after`` tokens; ``reset``:
    the socket closed after ``after`` tokens; ``error_frame``: an ``error`` event and a failed response;
    ``cut``/``empty``: the events stop), then one journal entry and the metrics for it."""
    plan = active.plan
    fault = outcome.fault
    ttft, itl = conn.endpoint.ttft(str(conn.session.get("model")))
    start = conn.endpoint.clock.monotonic()
    first, step = ttft.draw(conn.rng), itl.draw(conn.rng)
    if fault is not None and fault.kind in ("delay", "slow_first_token"):
        first += fault.seconds
    frames: list[Frame] = []
    started: set[str] = set()  # output items whose output_item.added went out
    sent_tokens = 0
    first_at = 0.0
    status = "completed"
    http_status = 200
    stopped = False  # a fault ended the response early
    try:
        if outcome.refusal is not None:  # a scripted 429 / 5xx: the response fails, as the API's do
            await _fail(conn, active, outcome.refusal, frames)
            http_status = outcome.refusal.status
            return
        for tokens, event in respond.events(plan):
            if fault is not None and tokens > fault.after and fault.kind in _STOPPING_FAULTS:
                http_status = await _break(conn, active, fault, frames)
                stopped = True
                break
            due = start + first + (tokens - 1) * step
            if fault is not None and fault.kind == "stall" and tokens > fault.after:
                due += fault.seconds
            if tokens and not await _wait(conn, active, due):
                status = "cancelled"
                break
            if event["type"] in ("conversation.item.added", "conversation.item.done") and not in_conversation:
                continue
            if event["type"] == "response.output_item.added":
                started.add(event["item"]["id"])
            if event["type"] == "conversation.item.added" and in_conversation:
                conn.items.append(dict(event["item"]))
                event["previous_item_id"] = conn.items[-2]["id"] if len(conn.items) > 1 else None
            if event["type"] == "conversation.item.done" and in_conversation:
                conn.items[-1] = event["item"]
            carried = max(0, tokens - sent_tokens)
            if carried and not first_at:
                first_at = conn.endpoint.clock.monotonic() - start
            sent_tokens = max(sent_tokens, tokens)
            sent = await conn.emit(event)
            if sent is not None:
                frames.append(Frame(sent, event=sent["type"], tokens=carried))
        if stopped:
            return
        if active.cancelled.is_set():
            status = "cancelled"
        if status == "cancelled":
            output = respond.cancelled_output(plan, sent_tokens, started)
            if in_conversation:
                ended = {item["id"]: item for item in output}
                conn.items = [ended.get(item.get("id"), item) for item in conn.items]
            done = respond.response(plan, "cancelled", output, active.reason, True, upto=sent_tokens)
            usage = done["usage"]
        else:
            reason = "max_output_tokens" if plan.finish == "length" and plan.call is None else None
            final = "incomplete" if reason else "completed"
            done = respond.response(plan, final, respond.completed_output(plan), reason, True)
            usage = done["usage"]
        conn.active = None
        sent = await conn.emit({"type": "response.done", "response": done})
        if sent is not None:
            frames.append(Frame(sent, event="response.done"))
        conn.requests_left -= 1
        conn.tokens_left = max(0, conn.tokens_left - int(usage["total_tokens"]))
        await conn.emit(
            {
                "type": "rate_limits.updated",
                "rate_limits": [
                    {
                        "name": "requests",
                        "limit": RATE_LIMITS["requests"],
                        "remaining": conn.requests_left,
                        "reset_seconds": 0.012,
                    },
                    {
                        "name": "tokens",
                        "limit": RATE_LIMITS["tokens"],
                        "remaining": conn.tokens_left,
                        "reset_seconds": round(usage["total_tokens"] * 60 / RATE_LIMITS["tokens"], 3),
                    },
                ],
            }
        )
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("realtime response %s failed", plan.response_id)
        conn.active = None
        http_status = 500
        await conn.error("The server had an error while processing your request.", None, None, None, "server_error")
    finally:
        if conn.active is active:
            conn.active = None
        elapsed = conn.endpoint.clock.monotonic() - start
        conn.endpoint.bridge.answered(ctx, outcome, frames, http_status, first_at, elapsed, conn.closed)


async def _fail(conn: Connection, active: Active, refusal: Refusal, frames: list[Frame]) -> None:
    """``response.created``, then ``response.done`` with status ``failed`` and the error's type and code."""
    plan = active.plan
    for event in (
        {"type": "response.created", "response": respond.response(plan, "in_progress", [])},
        {"type": "response.done", "response": _failed(plan, refusal)},
    ):
        if event["type"] == "response.done":
            conn.active = None
        sent = await conn.emit(event)
        if sent is not None:
            frames.append(Frame(sent, event=sent["type"]))


async def _break(conn: Connection, active: Active, fault: Fault, frames: list[Frame]) -> int:
    """A fault that ends the response before its ``response.done``; the status the journal shows."""
    conn.active = None
    if fault.kind == "reset":  # the server drops the connection: the client's iterator sees it closed
        conn.closed = True
        with contextlib.suppress(Exception):
            await conn.send({"type": "websocket.close", "code": 1011, "reason": "fakeai fault: reset"})
        return 200
    if fault.kind == "malformed":
        with contextlib.suppress(Exception):
            await conn.send({"type": "websocket.send", "text": '{"type": "response.output_text.delta", "del'})
        return 200
    if fault.kind == "error_frame":
        refusal = Refusal(500, SERVER_ERROR_MESSAGE, "server_error")
        sent = await conn.error(refusal.message, None, None, None, "server_error")
        if sent is not None:
            frames.append(Frame(sent, event="error"))
        done = _failed(active.plan, refusal)
        sent = await conn.emit({"type": "response.done", "response": done})
        if sent is not None:
            frames.append(Frame(sent, event="response.done"))
        return 500
    return 200  # cut / empty: the events just stop


def _fails_response(refusal: Refusal) -> bool:
    """A rate limit or a server error fails the response (``response.done`` status ``failed``); other errors are
    the client's and answer an ``error`` event, no response."""
    return refusal.status == 429 or refusal.status >= 500


def _failed(plan: respond.Plan, refusal: Refusal) -> dict[str, Any]:
    """The failed response: no output, the prompt's tokens billed, the error's type and code."""
    body = respond.response(plan, "failed", [], with_usage=True, upto=0)
    error: dict[str, Any] = {"type": refusal.type}
    if isinstance(refusal.code, str):
        error["code"] = refusal.code
    body["status_details"] = {"type": "failed", "error": error}
    return body
