"""fakeai's Jinja sandbox: immutable, and bounded in time and output, so no template can stall the server.

Templates (``fixtures/*.j2``, templated scenario values) render on the event loop, so each render gets a
budget (:class:`Limits`, from ``Settings.template_timeout_ms`` and ``template_max_bytes``):

- a deadline, checked at every step a template can repeat: each iteration of a ``{% for %}`` (every loop's
  iterable is wrapped at parse time), each call (functions, macros, ``loop()``), each attribute or item lookup
  and each chunk of output;
- an output size: the rendered text is collected from ``template.generate()`` and stops once it passes the
  budget; ``*``, ``**`` and ``%`` on strings, lists and numbers are refused before they build something larger,
  and so are filter arguments larger than it (``center(10**9)``);
- deep macro recursion is refused too.

A template over budget raises :class:`BudgetExceeded` (a ``TemplateError``): the callers answer 500 in the
OpenAI envelope, naming the fixture or the scenario rule. The deadline is real (CPU) time, not the injected
clock: it bounds the work done now, not simulated time.
"""

from __future__ import annotations

import functools
import math
import operator
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import orjson
from jinja2 import StrictUndefined, nodes, pass_context
from jinja2.exceptions import TemplateRuntimeError
from jinja2.sandbox import ImmutableSandboxedEnvironment

_ITER_FILTER = "__fakeai_budget__"  # wraps every for-loop's iterable (see BoundedSandbox._parse)
_WIDTH = re.compile(r"%[-+ #0]*(\d+)?(?:\.(\d+))?")


class BudgetExceeded(TemplateRuntimeError):
    """A template ran longer or rendered more than its budget."""


@dataclass(frozen=True, slots=True)
class Limits:
    timeout: float = 0.05  # seconds of rendering per template value (a probe request waits at most this)
    max_bytes: int = 1024 * 1024  # UTF-8 bytes a template may render

    @classmethod
    def from_settings(cls, settings: Any) -> Limits:
        return cls(settings.template_timeout_ms / 1000, settings.template_max_bytes)


class TemplateVars(dict[str, Any]):
    """Template variables that also carry the render's :class:`Limits`."""

    limits: Limits = Limits()


@dataclass(slots=True)
class _Budget:
    limits: Limits
    deadline: float

    def tick(self) -> None:
        if time.perf_counter() > self.deadline:
            raise BudgetExceeded(f"template ran longer than {self.limits.timeout * 1000:.0f} ms (template_timeout_ms)")

    def size(self, length: float) -> None:
        if length > self.limits.max_bytes:
            raise BudgetExceeded(f"template output would exceed {self.limits.max_bytes} bytes (template_max_bytes)")


_BUDGET: ContextVar[_Budget | None] = ContextVar("fakeai_template_budget", default=None)


def _tick() -> _Budget | None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.tick()
    return budget


def _bounded_iter(iterable: Iterable[Any]) -> Iterator[Any]:
    for item in iterable:
        _tick()
        yield item


def _bounded_filter(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` with a budget check first; marked ``pass_context`` so that Jinja never runs it at compile
    time (constant folding would render ``'x'|center(10**9)`` outside any budget)."""
    passes = getattr(getattr(function, "jinja_pass_arg", None), "name", None)  # context | eval_context | environment

    @pass_context
    @functools.wraps(function)
    def bounded(context: Any, *args: Any, **kwargs: Any) -> Any:
        budget = _tick()
        if budget is not None:
            for value in (*args[1:], *kwargs.values()):  # the arguments after the filtered value
                if isinstance(value, int) and not isinstance(value, bool):
                    budget.size(abs(value))
        if passes is None:
            return function(*args, **kwargs)
        first = {"context": context, "eval_context": context.eval_ctx, "environment": context.environment}[passes]
        return function(first, *args, **kwargs)

    return bounded


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with the budget checks described in the module docstring."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self) -> None:
        super().__init__(autoescape=False, undefined=StrictUndefined, keep_trailing_newline=True)
        self.policies["json.dumps_function"] = lambda obj, **kw: orjson.dumps(obj).decode()
        self.filters = {name: _bounded_filter(f) for name, f in self.filters.items()}
        self.filters[_ITER_FILTER] = pass_context(lambda _context, iterable: _bounded_iter(iterable))
        self.globals["range"] = lambda *args: _bounded_iter(range(*args))

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, _ITER_FILTER, [], [], None, None, lineno=loop.lineno)
        return tree

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _tick()
        return super().call(__context, __obj, *args, **kwargs)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _tick()
        return super().getitem(obj, argument)

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        budget = _tick()
        if budget is not None:
            budget.size(_result_size(operator_, left, right))
        return _BINOPS[operator_](left, right)


_BINOPS: Mapping[str, Callable[[Any, Any], Any]] = {"*": operator.mul, "**": operator.pow, "%": operator.mod}


def _result_size(op: str, left: Any, right: Any) -> float:
    """An upper bound on the size of ``left op right`` (in bytes for text, items for lists, bytes for ints)."""
    sized = (str, bytes, list, tuple)
    if op == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, sized) and isinstance(times, int):
                return len(str(seq) if isinstance(seq, str) else seq) * 4 * max(times, 0)
        return 0
    if op == "**":
        if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
            return right * math.log2(abs(left)) / 8
        return 0
    if isinstance(left, str):  # "%999999999s" % x
        widths = [int(w) for match in _WIDTH.finditer(left) for w in match.groups() if w]
        numbers = [v for v in (right if isinstance(right, tuple) else (right,)) if isinstance(v, int)]
        return max([0, *widths, *numbers]) + len(left)
    return 0


def render(template: Any, variables: Mapping[str, Any]) -> str:
    """Render ``template`` within the budget ``variables`` carries (:class:`TemplateVars`), or the default."""
    limits = getattr(variables, "limits", Limits())
    budget = _Budget(limits, time.perf_counter() + limits.timeout)
    token = _BUDGET.set(budget)
    try:
        parts: list[str] = []
        size = 0
        for chunk in template.generate(variables):
            budget.size(size + len(chunk))  # characters <= bytes: refuse a huge chunk before encoding it
            size += len(chunk.encode("utf-8", "surrogatepass"))
            budget.size(size)
            budget.tick()
            parts.append(chunk)
        return "".join(parts)
    except RecursionError:
        raise BudgetExceeded("template recursion is too deep") from None
    finally:
        _BUDGET.reset(token)
