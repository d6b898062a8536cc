"""A realtime response as the HTTP machinery sees it: scenario decisions in, journal and metrics out.

    decide     the conversation (session instructions + items) as the equivalent Chat Completions request
               (``createChatCompletion``, ``stream: true``), asked of the app's scenario engine like any HTTP
               request, so rules and chaos written for chat answer realtime turns too; the session's
               conversation id is the ``x-fakeai-conversation`` header (sequences and state machines follow
               the WebSocket session) unless the client sent one
    outcome    the :class:`~fakeai.context.Decision` as what a realtime response can be: a scripted
               :class:`~fakeai.producers.text.script.Script`, a :class:`~fakeai.context.Refusal` (an ``error``
               event or a failed ``response.done``), a :class:`~fakeai.scenario.faults.Fault`
    answered   one :class:`~fakeai.events.RequestAnswered` per response (operation ``realtime``, the server
               events it sent as frames): the journal and the Prometheus series listen to it like to HTTP's

No socket here; :mod:`fakeai.realtime.stream` sleeps and :mod:`fakeai.realtime.connection` sends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from fakeai.context import NO_DECISION, Decision, Frame, Output, Refusal, RequestContext, Timing
from fakeai.events import Events, RequestAnswered
from fakeai.parse.seed import new_request_id, request_seed
from fakeai.pipeline import no_recorded_interaction
from fakeai.producers.text.script import Script
from fakeai.realtime.respond import item_text
from fakeai.scenario.conversation import CONVERSATION_HEADER
from fakeai.scenario.faults import Fault
from fakeai.scenario.respond import render_refusal, render_script
from fakeai.spec.operation import Operation

CHAT = "createChatCompletion"  # the operation whose rules and chaos answer realtime turns
OPERATION_ID = "realtime"  # the journal's and the metrics' name for a realtime response


def _operation(operation_id: str, method: str, path: str, tag: str, summary: str = "") -> Operation:
    """An operation the realtime fake names itself (it is no path of the spec)."""
    return Operation(
        operation_id=operation_id, method=method, path=path, tags=(tag,), summary=summary, parameters=(),
        body_required=method == "POST", request_media={}, status=200, response_media={},
    )  # fmt: skip


REALTIME = _operation(OPERATION_ID, "GET", "/realtime", "Realtime", "A response of a Realtime API WebSocket session")
CHAT_OPERATION = _operation(CHAT, "POST", "/chat/completions", "Chat")  # when the document has no chat operation


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the scenario engine decided for one ``response.create``; nothing set: generate as usual."""

    decision: Decision = NO_DECISION
    script: Script | None = None
    refusal: Refusal | None = None
    fault: Fault | None = None
    unsupported: str | None = None  # a rule whose reply realtime cannot render (a raw ``body``, ``resource:``)

    @property
    def source(self) -> str:
        if self.decision.rule is not None:
            return f"scenario:{self.decision.rule}"
        return "scenario" if self.refusal is not None else "llm"


def chat_messages(instructions: Any, items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The conversation items as Chat Completions ``messages`` (instructions first, as the system prompt)."""
    messages: list[dict[str, Any]] = []
    if instructions:
        messages.append({"role": "system", "content": str(instructions)})
    for item in items:
        kind = item.get("type")
        if kind == "function_call":
            call = {
                "id": str(item.get("call_id") or ""),
                "type": "function",
                "function": {"name": str(item.get("name") or ""), "arguments": str(item.get("arguments") or "")},
            }
            if messages and messages[-1]["role"] == "assistant" and "tool_calls" in messages[-1]:
                messages[-1]["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            messages.append(
                {"role": "tool", "tool_call_id": str(item.get("call_id") or ""), "content": item_text(item)}
            )
        elif kind == "message":
            messages.append({"role": str(item.get("role") or "user"), "content": item_text(item)})
    return messages


def chat_body(config: Mapping[str, Any], items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The Chat Completions request a realtime response is the equivalent of (``config``: the session with the
    ``response.create`` overrides)."""
    body: dict[str, Any] = {
        "model": str(config.get("model") or "gpt-realtime"),
        "messages": chat_messages(config.get("instructions"), items),
        "stream": True,
        "modalities": list(config.get("output_modalities") or ("audio",)),
    }
    tools = [
        {"type": "function", "function": {k: v for k, v in tool.items() if k != "type"}}
        for tool in config.get("tools") or ()
        if isinstance(tool, Mapping) and tool.get("type") == "function"
    ]
    if tools:
        body["tools"] = tools
        choice = config.get("tool_choice", "auto")
        if isinstance(choice, Mapping):
            choice = {"type": "function", "function": {"name": choice.get("name")}}
        body["tool_choice"] = choice
    limit = config.get("max_output_tokens")
    if isinstance(limit, int):
        body["max_completion_tokens"] = limit
    return body


@dataclass
class Bridge:
    """Built once per app (``fakeai.realtime.server.build``): the app's settings, event bus and scenario engine."""

    settings: Any
    events: Events
    matcher: Any = None  # fakeai.scenario.engine.ScenarioEngine
    chat: Operation | None = None  # the document's createChatCompletion (rules see its path)

    def context(
        self, path: str, headers: Mapping[str, str], namespace: str, body: Any, now: float, conversation: str
    ) -> RequestContext:
        """The chat-like request of one realtime response (its seed from the request as HTTP derives one)."""
        seen = dict(headers)
        seen.setdefault(CONVERSATION_HEADER, conversation)
        seed = request_seed(int(self.settings.seed), CHAT, path, b"", body, {}, seen.get("x-fakeai-seed", ""), None)
        return RequestContext.internal(
            self.chat or CHAT_OPERATION, "POST", path, body, seed=seed, now=now, settings=self.settings,
            request_id=new_request_id(), namespace=namespace, headers=seen,
        )  # fmt: skip

    def decide(self, ctx: RequestContext) -> Outcome:
        """The scenario engine's decision for the turn (rate limits, rules, chaos); may raise ``APIError``."""
        decision: Decision = self.matcher.match(ctx) if self.matcher is not None else NO_DECISION
        if getattr(self.settings, "replay_strict", False) and decision.rule is None and not decision.decided:
            raise no_recorded_interaction(ctx)  # as the pipeline's match stage: an error event, no response
        if decision is NO_DECISION:
            return Outcome()
        fault = decision.fault
        refusal = decision.refusal
        script = None
        unsupported = None
        reply = decision.reply
        if reply is not None and refusal is None:
            if reply.error is not None:
                refusal = render_refusal(reply.error, decision.env, reply.where)
            elif reply.is_script:
                script = render_script(reply, decision.env, ctx.rng)
            else:
                unsupported = f"scenario rule {decision.rule!r} answers with a raw body, which realtime cannot send"
            if reply.delay_ms and fault is None:
                fault = Fault(kind="delay", seconds=reply.delay_ms / 1000)
        return Outcome(decision, script, refusal, fault, unsupported)

    def answered(
        self,
        ctx: RequestContext,
        outcome: Outcome,
        frames: Sequence[Frame],
        status: int,
        first: float,
        elapsed: float,
        disconnected: bool = False,
    ) -> None:
        """Journal and metrics: the response as operation ``realtime``, the events it sent as its frames."""
        realtime = replace(ctx, operation=REALTIME, method="GET")  # the same request, journaled as realtime
        output = Output(
            status=status,
            frames=tuple(frames),
            source=outcome.source,
            completion_tokens=sum(frame.tokens for frame in frames),
            fault=outcome.fault,
        )
        if outcome.decision is not NO_DECISION and self.matcher is not None:
            self.matcher.commit(ctx, outcome.decision, output)
        timing = Timing(first=first, done=elapsed)
        self.events.emit(RequestAnswered(realtime, output, timing, elapsed, None, disconnected, len(frames)))
