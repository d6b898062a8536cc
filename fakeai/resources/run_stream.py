"""The Assistants event stream of a run (``stream: true`` on runs.create, threads.create_and_run and
submit_tool_outputs): ``stream: assistants`` on the ``thread.run`` kind in ``spec/resources/openai.yaml``.

The stream IS the run's progress: its lifecycle is walked to a state that waits (completed, requires_action,
failed...) while answering, whatever ``lifecycle_scale`` says, and each state's work (``assistant_run``: the
chat operation through the pipeline's runner) runs on the way. Every frame is ``event: <name>`` +
``data: <object>``, in the order the API sends them:

    thread.created                                   (create_and_run: the new thread)
    thread.run.created, thread.run.queued            (a create: the run as created)
    thread.run.<state>                               (each state entered: in_progress, completed, ...)
    per run step the work made:
      tool_calls:       thread.run.step.created, .in_progress, thread.run.step.delta (id and name, then the
                        arguments token by token) -- completed later, by submit_tool_outputs
      message_creation: thread.run.step.created, .in_progress, thread.message.created, .in_progress,
                        thread.message.delta (one token each, paced like chat), thread.message.completed,
                        thread.run.step.completed
    a step the work completed (the tool calls, once their outputs are in): thread.run.step.completed
    event: done / data: [DONE]

Producers never write: the objects end in the answer's effects exactly as a non-streamed run leaves them
(retrieve and list show what was streamed). The work's own model call is a request fakeai makes itself, so
its state and scenario memory are committed by the runner, as when the simulate stage runs the work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from fakeai.context import Effect, Frame, Output, RequestContext
from fakeai.plugins import Registry
from fakeai.producers.text.tokenizer import for_model
from fakeai.resources.model import WORKED, CompiledKind, ResourceModel, clear, enter
from fakeai.resources.work import WORK
from fakeai.store import Record, ResourceStore

Stream = Callable[[ResourceModel, RequestContext, CompiledKind, Output, bool], Output]  # bool: a create
STREAMS: Registry[Stream] = Registry("stream")
stream = STREAMS.register

STEP = "thread.run.step"
CREATED = {"thread": "thread.created"}  # objects a create makes beside the run, announced first
DONE = Frame("[DONE]", event="done")
MAX_STATES = 32  # a lifecycle that loops (a declaration mistake) still ends the stream


class Pending(ResourceStore):
    """The store as it will be once ``effects`` are committed (what a work reads while the stream is built)."""

    def __init__(self, base: ResourceStore, namespace: str) -> None:
        super().__init__()
        self.base = base
        self.namespace = namespace
        self.pending: dict[tuple[str, str], Record | None] = {}  # (kind, id) -> record, None when deleted

    def add(self, effects: Iterable[Effect]) -> None:
        for effect in effects:
            if effect.action in ("put", "delete"):
                self.pending[(effect.kind, effect.id)] = effect.record if effect.action == "put" else None

    def get(self, namespace: str, kind: str, ident: str) -> Record | None:
        if namespace == self.namespace and (kind, ident) in self.pending:
            return self.pending[(kind, ident)]
        return self.base.get(namespace, kind, ident)

    def entries(self, namespace: str, kind: str) -> list[tuple[str, Record]]:
        found = dict(self.base.entries(namespace, kind))
        if namespace == self.namespace:
            for (pending_kind, ident), record in self.pending.items():
                if pending_kind == kind and record is None:
                    found.pop(ident, None)
                elif pending_kind == kind and record is not None:
                    found[ident] = record
        return list(found.items())


class _Writer:
    def __init__(self, model: str) -> None:
        self.frames: list[Frame] = []
        self.tokenizer = for_model(model)

    def emit(self, event: str, data: Any, tokens: int = 0) -> None:
        self.frames.append(Frame(data, event, True, tokens))

    def pieces(self, text: str) -> tuple[str, ...]:
        return self.tokenizer.split(text)[1] if text else ()

    def step(self, body: dict[str, Any], before: Record | None, store: Pending, namespace: str) -> None:
        """The frames of one run step the work stored (and of the message it created)."""
        if before is not None:  # an existing step the work finished (tool calls with their outputs)
            if body.get("status") != before.body.get("status"):
                self.emit(f"thread.run.step.{body.get('status')}", body)
            return
        started = {**body, "status": "in_progress", "completed_at": None, "usage": None}
        if started["type"] == "tool_calls":
            started["step_details"] = {"type": "tool_calls", "tool_calls": []}
        self.emit("thread.run.step.created", started)
        self.emit("thread.run.step.in_progress", started)
        details = body.get("step_details") or {}
        if details.get("type") == "tool_calls":
            self._tool_calls(str(body["id"]), details.get("tool_calls") or [])
        elif details.get("type") == "message_creation":
            ident = str((details.get("message_creation") or {}).get("message_id", ""))
            message = store.get(namespace, "thread.message", f"{body.get('thread_id')}/{ident}")
            if message is not None:
                self._message(message.body)
        if body.get("status") != "in_progress":
            self.emit(f"thread.run.step.{body.get('status')}", body)

    def _tool_calls(self, ident: str, calls: list[dict[str, Any]]) -> None:
        for index, call in enumerate(calls):
            function = call.get("function") or {}
            head = {"index": index, "id": call.get("id"), "type": "function"}
            head["function"] = {"name": function.get("name"), "arguments": "", "output": None}
            self.emit("thread.run.step.delta", _step_delta(ident, head))
            for piece in self.pieces(str(function.get("arguments") or "")):
                delta = {"index": index, "type": "function", "function": {"arguments": piece}}
                self.emit("thread.run.step.delta", _step_delta(ident, delta), 1)

    def _message(self, body: dict[str, Any]) -> None:
        started = {**body, "status": "in_progress", "completed_at": None, "content": []}
        self.emit("thread.message.created", started)
        self.emit("thread.message.in_progress", started)
        for index, part in enumerate(body.get("content") or []):
            text = part.get("text") if isinstance(part, dict) and part.get("type") == "text" else None
            value = text.get("value") if isinstance(text, dict) else None
            for piece in self.pieces(value if isinstance(value, str) else ""):
                content = {"index": index, "type": "text", "text": {"value": piece, "annotations": []}}
                delta = {"id": body["id"], "object": "thread.message.delta", "delta": {"content": [content]}}
                self.emit("thread.message.delta", delta, 1)
        self.emit(f"thread.message.{body.get('status', 'completed')}", body)


def _step_delta(ident: str, call: dict[str, Any]) -> dict[str, Any]:
    details = {"type": "tool_calls", "tool_calls": [call]}
    return {"id": ident, "object": "thread.run.step.delta", "delta": {"step_details": details}}


@stream("assistants")
def assistants(model: ResourceModel, ctx: RequestContext, kind: CompiledKind, output: Output, created: bool) -> Output:
    """``output`` (a run as created, or after submit_tool_outputs) as the Assistants event stream, the run
    walked to a state that waits; without a runner (a producer used outside an app) the JSON answer stays."""
    lifecycle = kind.lifecycle
    body = output.body
    if model.runner is None or lifecycle is None or output.status >= 400 or not isinstance(body, dict):
        return output
    key = next((e.id for e in output.effects if e.action == "put" and e.kind == kind.name), None)
    puts = [e.record for e in output.effects if e.action == "put" and (e.kind, e.id) == (kind.name, key)]
    if key is None or not puts or puts[-1].body.get("id") != body.get("id"):
        return output
    others = [e for e in output.effects if (e.kind, e.id) != (kind.name, key)]
    store = Pending(model.store, ctx.namespace)
    store.add(others)
    writer = _Writer(str(body.get("model") or ctx.model or "gpt-4o"))
    for effect in others:
        event = CREATED.get(effect.kind)
        if event is not None and effect.action == "put":
            writer.emit(event, effect.record.body)
    record = puts[-1]
    if created:  # back to the state it was created in (a zero scale already moved it on): the stream walks it
        run = dict(record.body)
        for declared in lifecycle.states.values():
            if declared.stamp and declared.name != lifecycle.initial:
                clear(run, declared.stamp, kind)
        run[lifecycle.field] = lifecycle.initial
        record = replace(record, body=run, meta={**record.meta, WORKED: ()})
        writer.emit(f"{kind.name}.created", run)
    writer.emit(f"{kind.name}.{record.body.get(lifecycle.field)}", record.body)
    made: list[Effect] = []
    for _ in range(MAX_STATES):
        state = lifecycle.states.get(str(record.body.get(lifecycle.field)))
        if state is None:
            break
        if state.work is not None and state.name not in record.meta.get(WORKED, ()):
            record = _work(model, ctx, kind, key, record, state.work, store, writer, made)
            if record.body.get(lifecycle.field) != state.name:  # the work decided (requires_action, failed)
                writer.emit(f"{kind.name}.{record.body.get(lifecycle.field)}", record.body)
            continue
        if state.next is None:
            break
        run = dict(record.body)
        following = lifecycle.states[state.next]
        enter(run, following.name, lifecycle, following.stamp, following.set, ctx.now, kind)
        record = replace(record, body=run, meta={**record.meta, "since": ctx.now})
        writer.emit(f"{kind.name}.{following.name}", run)
    writer.frames.append(DONE)
    final = Effect("put", kind.name, key, replace(record, meta={**record.meta, "since": ctx.now}))
    return Output(
        status=output.status,
        content_type="text/event-stream",
        frames=writer.frames,
        source=output.source,
        headers=output.headers,
        effects=(*others, *made, final),
    )


def _work(
    model: ResourceModel,
    ctx: RequestContext,
    kind: CompiledKind,
    key: str,
    record: Record,
    name: str,
    store: Pending,
    writer: _Writer,
    made: list[Effect],
) -> Record:
    """The state's work run now (as the simulate stage would run it): the run as it left it; the objects it
    made go to ``made`` and ``store``, and their frames to ``writer``."""
    assert model.runner is not None
    record = replace(record, meta={**record.meta, "since": ctx.now})
    effects = list(
        WORK.get(name)(model.runner, store, ctx.namespace, Effect("work", kind.name, key, record, work=name), ctx.now)
    )
    mine = [e.record for e in effects if (e.kind, e.id) == (kind.name, key) and e.action == "put"]
    effects = [e for e in effects if (e.kind, e.id) != (kind.name, key)]
    steps = [(e, store.get(ctx.namespace, e.kind, e.id)) for e in effects if e.kind == STEP and e.action == "put"]
    store.add(effects)  # the message a step created is there when its frames are written
    for effect, before in steps:
        writer.step(effect.record.body, before, store, ctx.namespace)
    made += effects
    return mine[-1] if mine else record
