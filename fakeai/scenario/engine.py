"""The scenario engine: the pipeline's ``match`` stage. It decides; it never produces.

Per request: rate limits -> the ``Prefer`` header -> the first matching rule of the request's operation
(rules are indexed by operationId at load; priority, then file order) -> chaos -> the ``x-ratelimit-*``
headers. The answer is a :class:`~fakeai.context.Decision` (which rule, its reply, an error, a fault, headers);
the produce stage renders it. Deciding changes scenario state (sequence counters, state machines), as a
real conversation's turn would; :meth:`ScenarioEngine.commit` remembers the response ids an answer carried.

The engine reads the app's resource store (never writes it): conversation predicates see the earlier turns a
Responses request continues (:func:`~fakeai.producers.text.history.matcher_body`), and ``resource:`` rules are
checked against, and bound to, the app's resource model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from fakeai.clock import Clock, SystemClock
from fakeai.config import Settings
from fakeai.context import NO_DECISION, Decision, Output, Refusal, RequestContext
from fakeai.errors import ERROR_TYPES, ScenarioError, StateUnavailable
from fakeai.scenario.chaos import Chaos, Dice
from fakeai.scenario.model import Rule, Scenario
from fakeai.scenario.prefer import Preference, bad_prefer
from fakeai.scenario.ratelimit import RateLimiter
from fakeai.scenario.respond import DEFAULT_MESSAGES, Reply, render_refusal
from fakeai.scenario.state import StateStore
from fakeai.scenario.template import environment
from fakeai.store import ResourceStore

ANY = ""  # index key for rules that match any operation (method/path rules)


class ScenarioEngine:
    def __init__(
        self,
        scenarios: Sequence[Scenario],
        settings: Settings,
        document: Mapping[str, Any],
        clock: Clock | None = None,
        store: ResourceStore | None = None,
        shared: Any = None,
    ) -> None:
        self.settings = settings
        self.shared = shared  # fakeai.state.shared.Shared: states, counters and buckets for every replica
        self.store = store  # the app's resources: earlier turns for matchers, the model ``resource:`` rules script
        self.document = document
        self.scenarios: dict[str, Scenario] = {}
        self.state = StateStore() if shared is None else _shared_state(shared)
        self.dice = Dice(shared)
        self.clock: Clock = clock or SystemClock()  # rate-limit buckets refill on it
        self._produce_forced: Any = None  # the app's resource answer with a directive applied (bound lazily)
        for scenario in scenarios:
            if scenario.name in self.scenarios:
                raise ScenarioError(
                    f"{scenario.source}: scenario name {scenario.name!r} is already used by "
                    f"{self.scenarios[scenario.name].source}"
                )
            self._check_resources(scenario)
            self.scenarios[scenario.name] = scenario
        self._compile()

    @classmethod
    def from_files(
        cls,
        paths: Sequence[str],
        settings: Settings,
        document: Mapping[str, Any],
        clock: Clock | None = None,
        store: ResourceStore | None = None,
        shared: Any = None,
    ) -> ScenarioEngine:
        scenarios = [Scenario.from_yaml(resolve_path(path)) for path in paths]
        return cls(scenarios, settings, document, clock, store, shared)

    # ---- compiled indexes (rebuilt when scenarios change) ----
    def _compile(self) -> None:
        index: dict[str, list[tuple[Scenario, Rule]]] = {}
        by_name: dict[str, tuple[Scenario, Rule]] = {}
        chaos: dict[str, list[tuple[Scenario, Chaos]]] = {}
        for scenario in self.scenarios.values():
            for rule in scenario.rules:
                for op in rule.match.operations or (ANY,):
                    index.setdefault(op, []).append((scenario, rule))
                by_name.setdefault(rule.name, (scenario, rule))
                by_name[f"{scenario.name}/{rule.name}"] = (scenario, rule)
            for entry in (*scenario.chaos, *(c for r in scenario.rules for c in r.chaos)):
                for op in entry.operations or (ANY,):
                    chaos.setdefault(op, []).append((scenario, entry))
        order = {name: i for i, name in enumerate(self.scenarios)}

        def key(item: tuple[Scenario, Rule]) -> tuple[int, int, int]:
            return (-item[1].priority, order[item[0].name], item[1].index)

        self.index = {op: sorted(items, key=key) for op, items in index.items()}
        self.by_name = by_name
        self.chaos = chaos
        limits = [limit for s in self.scenarios.values() for limit in s.limits]
        if self.shared is None:
            self.limiter = RateLimiter(limits)
        else:
            from fakeai.state.shared import SharedRateLimiter

            self.limiter = SharedRateLimiter(limits, self.shared)

    def _rules(self, op: str) -> list[tuple[Scenario, Rule]]:
        own, anywhere = self.index.get(op, []), self.index.get(ANY, [])
        if not anywhere:
            return own
        return sorted([*own, *anywhere], key=lambda item: -item[1].priority)

    # ---- the match stage ----
    def match(self, ctx: RequestContext) -> Decision:
        if not self.scenarios and ctx.prefer is None:
            return NO_DECISION
        headers: dict[str, str] = {}
        if self.limiter.limits:
            now = self.clock.monotonic() if self.shared is None else self.clock.now()  # replicas share a wall clock
            headers, limited = self.limiter.check(ctx, now)
            if limited is not None:
                return Decision(refusal=limited)
        decision: Decision | None = self._preferred(ctx, ctx.prefer) if ctx.prefer is not None else None
        if decision is None:
            decision = self._first_rule(ctx)
        for entry in self._chaos_for(ctx, decision.rule):
            if self.dice.roll(ctx, entry):
                if entry.error is not None:
                    refusal = render_refusal(entry.error, environment(ctx, {}, ""), f"chaos {entry.name}")
                    decision = replace(decision, refusal=refusal)
                else:
                    decision = replace(decision, fault=entry.fault)
                break
        if headers:
            decision = replace(decision, headers=headers)
        return decision

    def commit(self, ctx: RequestContext, decision: Decision, output: Output) -> None:
        """After producing: the conversation a rule answered in follows the response ids of its answer."""
        if decision.conversation is not None:
            self.state.remember_responses(ctx, decision.conversation, output.body, output.frames)

    def _preferred(self, ctx: RequestContext, prefer: Preference) -> Decision | None:
        """``Prefer: code`` / ``scenario`` / ``example``; ``None`` when the header only reseeds (or says nothing)."""
        if prefer.code is not None and prefer.code >= 400:
            message = DEFAULT_MESSAGES.get(prefer.code, f"Error {prefer.code} requested by the Prefer header.")
            code = "rate_limit_exceeded" if prefer.code == 429 else None
            kind = ERROR_TYPES.get(prefer.code, "server_error" if prefer.code >= 500 else "invalid_request_error")
            return Decision(refusal=Refusal(prefer.code, message, kind, code))
        if prefer.scenario is not None:
            found = self.by_name.get(prefer.scenario)
            if found is None:
                raise bad_prefer(ctx.headers["prefer"], f"no scenario rule named {prefer.scenario!r}")
            scenario, rule = found
            return self._answer(ctx, scenario, rule, {}, forced=True) or NO_DECISION
        if prefer.example is not None:
            if not any(example.title == prefer.example for example in ctx.operation.examples):
                titles = ", ".join(repr(e.title) for e in ctx.operation.examples) or "none"
                raise bad_prefer(
                    ctx.headers["prefer"],
                    f"{ctx.operation_id} has no example titled {prefer.example!r} (examples: {titles})",
                )
            return Decision(example=prefer.example)
        return None

    def _turns(self, ctx: RequestContext) -> Any:
        """The body with the earlier turns it continues (Responses chains), as conversation predicates see it."""
        from fakeai.producers.text.history import matcher_body

        return matcher_body(self.store, ctx)

    def _first_rule(self, ctx: RequestContext) -> Decision:
        rules = self._rules(ctx.operation_id)
        if not rules:
            return NO_DECISION
        conversations: dict[str, str] = {}
        keys: list[tuple[str, str, str, str]] = []
        for scenario, rule in rules:
            conversation = conversations.get(scenario.name)
            if conversation is None:
                conversation = conversations[scenario.name] = self.state.conversation(ctx, scenario.conversation)
            keys.append((ctx.namespace, scenario.name, rule.machine, conversation))
        states = self.state.states_of(keys)  # one read (one round trip with a shared backend)
        turns: Any = None
        for (scenario, rule), key, state in zip(rules, keys, states, strict=True):
            if rule.when_state is not None and state not in rule.when_state:
                continue
            if turns is None and rule.match.reads_conversation:
                turns = self._turns(ctx)
            captures = rule.match.test(ctx, ctx.body if turns is None else turns)
            if captures is None:
                continue
            decision = self._answer(ctx, scenario, rule, captures, conversation=key[3], turns=turns, state=state)
            if decision is not None:
                return decision
        return NO_DECISION

    def _answer(
        self,
        ctx: RequestContext,
        scenario: Scenario,
        rule: Rule,
        captures: Mapping[str, Any],
        conversation: str | None = None,
        forced: bool = False,
        turns: Any = None,
        state: str | None = None,
    ) -> Decision | None:
        if conversation is None:
            conversation = self.state.conversation(ctx, scenario.conversation)
        count = self.state.claim(ctx.namespace, scenario.name, rule.name, conversation)
        try:
            exhausted = rule.times is not None and count >= rule.times and not forced
            reply = None if exhausted else self._step(rule, count)
            if reply is None and not forced:
                self.state.unclaim(ctx.namespace, scenario.name, rule.name, conversation)
                return None
            reply = reply or rule.replies[-1]
            if state is None:
                state = self.state.state(ctx.namespace, scenario.name, rule.machine, conversation)
            env = environment(ctx, captures, state, self._turns(ctx) if turns is None else turns)
        except Exception as exc:
            if not isinstance(exc, StateUnavailable):
                self.state.unclaim(ctx.namespace, scenario.name, rule.name, conversation)
            raise
        if reply.resource is not None:  # compiled files know no app: the directive answers with this app's model
            reply = replace(reply, resource=replace(reply.resource, produce=self._forced()))
        self.state.answered(ctx.namespace, scenario.name, rule.name, rule.machine, conversation, rule.set_state)
        after = rule.set_state or state
        shown = after if rule.machine == "default" else f"{rule.machine}:{after}"
        return Decision(
            rule=rule.name, reply=reply, env=env, conversation=conversation, scenario=scenario.name, state=shown
        )

    def _forced(self) -> Any:
        if self._produce_forced is None and self.store is not None:
            from fakeai.resources.producer import forced

            self._produce_forced = forced(self.store)
        return self._produce_forced

    def _check_resources(self, scenario: Scenario) -> None:
        """``resource:`` rules against this app's resource model: unknown operations, states or fields fail at load."""
        from fakeai.scenario.resource import app_problems

        found = app_problems(scenario, self.store, self.document) if self.store is not None else []
        if found:
            raise ScenarioError("\n".join(found))

    @staticmethod
    def _step(rule: Rule, count: int) -> Reply | None:
        replies = rule.replies
        if count < len(replies):
            return replies[count]
        if not rule.is_sequence or rule.after_sequence == "repeat_last":
            return replies[-1]
        if rule.after_sequence == "cycle":
            return replies[count % len(replies)]
        return None  # fall_through

    def _chaos_for(self, ctx: RequestContext, rule: str | None) -> list[Chaos]:
        if not self.chaos:
            return []
        found = [*self.chaos.get(ctx.operation_id, ()), *self.chaos.get(ANY, ())]
        return [entry for _scenario, entry in found if entry.applies(ctx, rule)]

    # ---- control plane (admin API) ----
    def load(self, name: str, text: str, source: str = "<admin>", reset: bool = True) -> None:
        """Load (or replace) scenario ``name``; ``reset=False`` keeps its state (another replica's change,
        whose state that replica already reset in the shared backend)."""
        scenario = Scenario.from_text(text, source, name)
        scenario = replace(scenario, name=name)
        self._check_resources(scenario)
        self.scenarios[name] = scenario
        if reset:
            self.state.reset(scenario=name)
        self._compile()

    def remove(self, name: str, reset: bool = True) -> bool:
        if self.scenarios.pop(name, None) is None:
            return False
        if reset:
            self.state.reset(scenario=name)
        self._compile()
        return True

    def reset_state(self, namespace: str | None = None) -> None:
        self.state.reset(namespace=namespace)
        if namespace is None:
            self.dice.reset()
            self.limiter.reset()
            self.state.reset_hits()

    def summary(self) -> list[dict[str, Any]]:
        return [
            {
                "name": scenario.name,
                "source": scenario.source,
                "rules": [
                    {"name": r.name, "hits": self.state.hit_count(scenario.name, r.name)}
                    for r in sorted(scenario.rules, key=lambda r: r.index)
                ],
                "states": self.state.snapshot(scenario.name),
            }
            for scenario in self.scenarios.values()
        ]

    def expectations(self) -> list[dict[str, Any]]:
        return [dict(entry) for scenario in self.scenarios.values() for entry in scenario.expect]


def _shared_state(shared: Any) -> StateStore:
    from fakeai.state.shared import SharedScenarioState

    return SharedScenarioState(shared)


def resolve_path(path: str) -> str:
    """A scenario file as given, or else the bundled example of that name (``--scenario flaky.yaml``)."""
    from pathlib import Path

    from fakeai.bundled import data_path

    if Path(path).exists():
        return path
    bundled = data_path("scenarios") / Path(path).name
    for candidate in (bundled, bundled.with_suffix(".yaml")):
        if candidate.is_file():
            return str(candidate)
    return path  # Scenario.from_yaml reports the missing file
