"""Mutable scenario state: state machines, sequence counters and conversation identity.

Everything is keyed by ``(namespace, scenario, ..., conversation)`` so parallel conversations and
parallel test namespaces (``x-fakeai-namespace``) never see each other's state.
"""

from __future__ import annotations

from typing import Any

from fakeai.context import RequestContext
from fakeai.scenario import conversation as conv

START = "started"
CONVERSATION_MODES = ("auto", "header", "response", "hash", "global")
MAX_RESPONSES = 100_000


class StateStore:
    def __init__(self) -> None:
        self.states: dict[tuple[str, str, str, str], str] = {}
        self.counters: dict[tuple[str, str, str, str], int] = {}
        self.responses: dict[tuple[str, str], str] = {}  # (namespace, response id) -> conversation
        self.hits: dict[tuple[str, str], int] = {}  # (scenario, rule) -> answers

    def conversation(self, ctx: RequestContext, mode: str) -> str:
        """The conversation ``ctx`` belongs to under ``mode``. In ``response`` mode a request that continues no
        response starts its own conversation (``n:`` + its request id); the responses it answers with are then
        remembered as that conversation (:meth:`remember_responses`), so ``previous_response_id`` continues it."""
        if mode == "global":
            return ""
        header = ctx.headers.get(conv.CONVERSATION_HEADER)
        if header and mode in ("auto", "header"):
            return "x:" + header
        if mode == "header":
            return ""
        body = ctx.body if isinstance(ctx.body, dict) else {}
        if mode in ("auto", "response"):
            previous = body.get("previous_response_id")
            if isinstance(previous, str):
                return self.conversation_of_response(ctx.namespace, previous) or "r:" + previous
            thread = body.get("conversation")
            thread_id = thread.get("id") if isinstance(thread, dict) else thread
            if isinstance(thread_id, str):
                return "c:" + thread_id
            if mode == "response":
                return "n:" + ctx.request_id
        return conv.opening_hash(body)

    def conversation_of_response(self, namespace: str, response_id: str) -> str | None:
        return self.responses.get((namespace, response_id))

    def remember_responses(self, ctx: RequestContext, conversation: str, body: Any, frames: Any) -> None:
        for response_id in conv.response_ids(body, frames):
            if len(self.responses) >= MAX_RESPONSES:
                self.responses.clear()
            self.responses[(ctx.namespace, response_id)] = conversation

    def state(self, namespace: str, scenario: str, machine: str, conversation: str) -> str:
        return self.states.get((namespace, scenario, machine, conversation), START)

    def states_of(self, keys: list[tuple[str, str, str, str]]) -> list[str]:
        """:meth:`state` of each (namespace, scenario, machine, conversation), in one read."""
        return [self.states.get(key, START) for key in keys]

    def set_state(self, namespace: str, scenario: str, machine: str, conversation: str, value: str) -> None:
        self.states[(namespace, scenario, machine, conversation)] = value

    def count(self, namespace: str, scenario: str, rule: str, conversation: str) -> int:
        return self.counters.get((namespace, scenario, rule, conversation), 0)

    def bump(self, namespace: str, scenario: str, rule: str, conversation: str) -> None:
        key = (namespace, scenario, rule, conversation)
        self.counters[key] = self.counters.get(key, 0) + 1

    def claim(self, namespace: str, scenario: str, rule: str, conversation: str) -> int:
        """Count one more answer of ``rule`` and return the count before it (one atomic step: two replicas
        answering the same conversation at once never both get the first reply of a sequence)."""
        key = (namespace, scenario, rule, conversation)
        count = self.counters.get(key, 0)
        self.counters[key] = count + 1
        return count

    def unclaim(self, namespace: str, scenario: str, rule: str, conversation: str) -> None:
        """Give back a :meth:`claim` whose rule did not answer after all."""
        key = (namespace, scenario, rule, conversation)
        self.counters[key] = max(0, self.counters.get(key, 0) - 1)

    def answered(
        self, namespace: str, scenario: str, rule: str, machine: str, conversation: str, set_state: str | None
    ) -> None:
        """A rule answered: count its hit and move its machine to ``set_state`` (if any), in one write."""
        self.hit(scenario, rule)
        if set_state is not None:
            self.set_state(namespace, scenario, machine, conversation, set_state)

    def hit(self, scenario: str, rule: str) -> None:
        self.hits[(scenario, rule)] = self.hits.get((scenario, rule), 0) + 1

    def hit_count(self, scenario: str, rule: str) -> int:
        return self.hits.get((scenario, rule), 0)

    def reset_hits(self) -> None:
        self.hits.clear()

    def reset(self, namespace: str | None = None, scenario: str | None = None) -> None:
        def keep(key: tuple[str, ...]) -> bool:
            return not ((namespace is None or key[0] == namespace) and (scenario is None or key[1] == scenario))

        self.states = {k: v for k, v in self.states.items() if keep(k)}
        self.counters = {k: v for k, v in self.counters.items() if keep(k)}
        if scenario is None:
            self.responses = {k: v for k, v in self.responses.items() if namespace is not None and k[0] != namespace}

    def snapshot(self, scenario: str) -> dict[str, str]:
        """``"namespace/machine/conversation" -> state`` for one scenario (for summaries)."""
        return {f"{k[0]}/{k[2]}/{k[3]}": v for k, v in self.states.items() if k[1] == scenario}
