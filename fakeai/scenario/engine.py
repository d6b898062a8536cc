"""The scenario engine: the pipeline's ``match`` hook.

Per request: ``Prefer`` header -> rate limits -> the first matching rule of the request's
operation (rules are indexed by operationId at load; priority, then file order) -> chaos -> the
``x-ratelimit-*`` headers. Returns ``None`` (the normal producers answer) when nothing applies.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from fakeai.clock import Clock, SystemClock
from fakeai.config import Settings
from fakeai.context import Output, RequestContext, Timing
from fakeai.errors import ScenarioError, error_body
from fakeai.scenario.chaos import Chaos, Dice
from fakeai.scenario.faults import Fault, inject, shift
from fakeai.scenario.model import Rule, Scenario
from fakeai.scenario.prefer import Preference, parse_prefer
from fakeai.scenario.ratelimit import RateLimiter
from fakeai.scenario.render import ProduceScripted
from fakeai.scenario.respond import DEFAULT_MESSAGES, Reply, error_output, reply_output
from fakeai.scenario.state import StateStore
from fakeai.scenario.template import environment

Produce = Callable[[RequestContext], Output]
ANY = ""  # index key for rules that match any operation (method/path rules)


class ScenarioEngine:
    def __init__(self, scenarios: Sequence[Scenario], settings: Settings, document: Mapping[str, Any]) -> None:
        self.settings = settings
        self.document = document
        self.scenarios: dict[str, Scenario] = {}
        self.state = StateStore()
        self.dice = Dice()
        self.hits: dict[tuple[str, str], int] = {}
        self.clock: Clock = SystemClock()
        self.produce: Produce | None = None
        self.produce_scripted: ProduceScripted | None = None
        for scenario in scenarios:
            if scenario.name in self.scenarios:
                raise ScenarioError(
                    f"{scenario.source}: scenario name {scenario.name!r} is already used by "
                    f"{self.scenarios[scenario.name].source}"
                )
            self.scenarios[scenario.name] = scenario
        self._compile()

    @classmethod
    def from_files(cls, paths: Sequence[str], settings: Settings, document: Mapping[str, Any]) -> ScenarioEngine:
        return cls([Scenario.from_yaml(resolve_path(path)) for path in paths], settings, document)

    def bind(self, clock: Clock, produce: Produce, produce_scripted: ProduceScripted | None = None) -> None:
        """Called by create_app: the injected clock, the normal producers (for chaos and headers) and the
        LLM producers' renderer of scripted answers (``CompiledOperation.produce_scripted``)."""
        self.clock = clock
        self.produce = produce
        self.produce_scripted = produce_scripted

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
        self.limiter = RateLimiter([limit for s in self.scenarios.values() for limit in s.limits])

    def _rules(self, op: str) -> list[tuple[Scenario, Rule]]:
        own, anywhere = self.index.get(op, []), self.index.get(ANY, [])
        if not anywhere:
            return own
        return sorted([*own, *anywhere], key=lambda item: -item[1].priority)

    # ---- the hook ----
    def match(self, ctx: RequestContext) -> Output | None:
        prefer = parse_prefer(ctx.headers["prefer"]) if "prefer" in ctx.headers else None
        if prefer is not None and prefer.seed is not None:
            ctx = replace(ctx, seed=prefer.seed, rng=random.Random(prefer.seed))
        headers: dict[str, str] = {}
        if self.limiter.limits:
            headers, limited = self.limiter.check(ctx, self.clock.monotonic())
            if limited is not None:
                return limited
        rule_name: str | None = None
        output: Output | None = None
        if prefer is not None:
            output, rule_name = self._preferred(ctx, prefer)
        if output is None and rule_name is None:
            output, rule_name = self._first_rule(ctx)
        chaos = self._chaos_for(ctx, rule_name)
        if output is None and (chaos or headers or (prefer is not None and prefer.seed is not None)):
            output = self.produce(ctx) if self.produce is not None else None
        if output is None:
            return None
        for entry in chaos:
            if self.dice.roll(ctx, entry):
                output = self._apply_chaos(ctx, entry, output)
                break
        if headers:
            output = replace(output, headers={**headers, **output.headers})
        if rule_name is not None and output.source == "scenario":  # the journal and metrics show the rule
            output = replace(output, source=f"scenario:{rule_name}")
        return output

    def _preferred(self, ctx: RequestContext, prefer: Preference) -> tuple[Output | None, str | None]:
        from fakeai.scenario.prefer import _bad

        if prefer.code is not None and prefer.code >= 400:
            message = DEFAULT_MESSAGES.get(prefer.code, f"Error {prefer.code} requested by the Prefer header.")
            code = "rate_limit_exceeded" if prefer.code == 429 else None
            from fakeai.errors import ERROR_TYPES

            kind = ERROR_TYPES.get(prefer.code, "server_error" if prefer.code >= 500 else "invalid_request_error")
            return Output(status=prefer.code, body=error_body(message, type=kind, code=code), source="scenario"), None
        if prefer.scenario is not None:
            found = self.by_name.get(prefer.scenario)
            if found is None:
                raise _bad(ctx.headers["prefer"], f"no scenario rule named {prefer.scenario!r}")
            scenario, rule = found
            return self._answer(ctx, scenario, rule, {}, forced=True), rule.name
        if prefer.example is not None:
            return self._example(ctx, prefer.example), None
        return None, None

    def _example(self, ctx: RequestContext, title: str) -> Output:
        import orjson

        from fakeai.scenario.prefer import _bad

        for example in ctx.operation.examples:
            if example.title == title:
                try:
                    body = orjson.loads(example.response)
                except orjson.JSONDecodeError:
                    return Output(
                        status=ctx.operation.status, body=example.response, content_type="text/plain", source="example"
                    )
                return Output(status=ctx.operation.status, body=body, source="example")
        titles = ", ".join(repr(e.title) for e in ctx.operation.examples) or "none"
        raise _bad(ctx.headers["prefer"], f"{ctx.operation_id} has no example titled {title!r} (examples: {titles})")

    def _first_rule(self, ctx: RequestContext) -> tuple[Output | None, str | None]:
        for scenario, rule in self._rules(ctx.operation_id):
            conversation = self.state.conversation(ctx, scenario.conversation)
            state = self.state.state(ctx.namespace, scenario.name, rule.machine, conversation)
            if rule.when_state is not None and state not in rule.when_state:
                continue
            captures = rule.match.test(ctx)
            if captures is None:
                continue
            output = self._answer(ctx, scenario, rule, captures, conversation=conversation)
            if output is not None:
                return output, rule.name
        return None, None

    def _answer(
        self,
        ctx: RequestContext,
        scenario: Scenario,
        rule: Rule,
        captures: Mapping[str, Any],
        conversation: str | None = None,
        forced: bool = False,
    ) -> Output | None:
        if conversation is None:
            conversation = self.state.conversation(ctx, scenario.conversation)
        count = self.state.count(ctx.namespace, scenario.name, rule.name, conversation)
        if rule.times is not None and count >= rule.times and not forced:
            return None
        reply = self._step(rule, count)
        if reply is None and not forced:
            return None
        reply = reply or rule.replies[-1]
        state = self.state.state(ctx.namespace, scenario.name, rule.machine, conversation)
        output = reply_output(ctx, reply, environment(ctx, captures, state), self.produce_scripted)
        self.state.bump(ctx.namespace, scenario.name, rule.name, conversation)
        self.hits[(scenario.name, rule.name)] = self.hits.get((scenario.name, rule.name), 0) + 1
        if rule.set_state is not None:
            self.state.set_state(ctx.namespace, scenario.name, rule.machine, conversation, rule.set_state)
        self.state.remember_responses(ctx, conversation, output.body, output.frames)
        return output

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

    def _apply_chaos(self, ctx: RequestContext, entry: Chaos, output: Output) -> Output:
        if entry.error is not None:
            env = environment(ctx, {}, "")
            return error_output(entry.error, env, f"chaos {entry.name}")
        assert entry.fault is not None
        return inject(output, entry.fault)

    def simulate(self, ctx: RequestContext, output: Output, timing: Timing) -> Timing:
        """Shift simulated deadlines for delays, stalls and slow first tokens (called by create_app)."""
        return shift(timing, output.fault) if isinstance(output.fault, Fault) else timing

    def rate_limit_headers(self, ctx: RequestContext, output: Output) -> Mapping[str, str]:
        """The ``x-ratelimit-*`` headers an answer carries (already merged into ``match``'s Output)."""
        return {k: v for k, v in output.headers.items() if k.startswith("x-ratelimit-") or k.startswith("retry-after")}

    # ---- control plane (admin API) ----
    def load(self, name: str, text: str, source: str = "<admin>") -> None:
        scenario = Scenario.from_text(text, source, name)
        scenario = replace(scenario, name=name)
        self.scenarios[name] = scenario
        self.state.reset(scenario=name)
        self._compile()

    def remove(self, name: str) -> bool:
        if self.scenarios.pop(name, None) is None:
            return False
        self.state.reset(scenario=name)
        self._compile()
        return True

    def reset_state(self, namespace: str | None = None) -> None:
        self.state.reset(namespace=namespace)
        if namespace is None:
            self.dice.reset()
            self.limiter.reset()
            self.hits.clear()

    def summary(self) -> list[dict[str, Any]]:
        return [
            {
                "name": scenario.name,
                "source": scenario.source,
                "rules": [
                    {"name": r.name, "hits": self.hits.get((scenario.name, r.name), 0)}
                    for r in sorted(scenario.rules, key=lambda r: r.index)
                ],
                "states": self.state.snapshot(scenario.name),
            }
            for scenario in self.scenarios.values()
        ]

    def expectations(self) -> list[dict[str, Any]]:
        return [dict(entry) for scenario in self.scenarios.values() for entry in scenario.expect]


def resolve_path(path: str) -> str:
    """A scenario file as given, or else the bundled example of that name (``--scenario flaky.yaml``)."""
    from pathlib import Path

    from fakeai.resources import data_path

    if Path(path).exists():
        return path
    bundled = data_path("scenarios") / Path(path).name
    for candidate in (bundled, bundled.with_suffix(".yaml")):
        if candidate.is_file():
            return str(candidate)
    return path  # Scenario.from_yaml reports the missing file
