"""Generator nodes: a compiled schema is a graph of these; ``gen(ctx, depth)`` walks it.

Each node knows its ``cost``: how many object/array levels its smallest instance needs
(``inf`` when it has no instance). Below :data:`SOFT_DEPTH` the walker stops adding optional
content and follows the cheapest branches, so recursive schemas always terminate.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fakeai.generated import realism

if TYPE_CHECKING:
    from fakeai.generated.schema import GenContext

INF = math.inf
SOFT_DEPTH = 8
REQUIRED, ALWAYS, OPTIONAL = 0, 1, 2
Checker = Callable[[str, Any], bool]  # (property name, value) -> valid for that property
Tags = dict[str, tuple[Any, ...]]  # property -> the literal values a branch allows for it
TAG_KEYS = ("type", "object")  # what names a union's branch when the schema has no discriminator


class Node:
    __slots__ = ("cost",)

    def __init__(self, cost: float = 0.0) -> None:
        self.cost = cost

    def gen(self, ctx: GenContext, depth: int) -> Any:
        raise NotImplementedError

    def estimate(self) -> float:
        """Cost from the children's current costs (for the fixed point in the walker)."""
        return self.cost

    def finalize(self) -> None:
        """Called once the costs are final."""


class Never(Node):
    """A schema without instances (contradictory ``allOf``)."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        super().__init__(INF)
        self.reason = reason

    def gen(self, ctx: GenContext, depth: int) -> Any:
        raise ValueError(f"schema has no valid instance: {self.reason}")


class Const(Node):
    __slots__ = ("mutable", "value")

    def __init__(self, value: Any) -> None:
        super().__init__()
        self.value = value
        self.mutable = isinstance(value, dict | list)

    def gen(self, ctx: GenContext, depth: int) -> Any:
        return copy.deepcopy(self.value) if self.mutable else self.value


class Enum(Node):
    __slots__ = ("values",)

    def __init__(self, values: Sequence[Any]) -> None:
        super().__init__()
        self.values = tuple(values)

    def gen(self, ctx: GenContext, depth: int) -> Any:
        value = ctx.rng.choice(self.values)
        return copy.deepcopy(value) if isinstance(value, dict | list) else value


class String(Node):
    __slots__ = ("make", "max_len", "min_len", "pattern")

    def __init__(
        self,
        make: Callable[[GenContext], str],
        min_len: int,
        max_len: int,
        pattern: Callable[[Any], str] | None,
    ) -> None:
        super().__init__()
        self.make, self.min_len, self.max_len, self.pattern = make, min_len, max_len, pattern

    def gen(self, ctx: GenContext, depth: int) -> str:
        if self.pattern is not None:
            return self.pattern(ctx.rng)
        text = self.make(ctx)
        if len(text) > self.max_len:
            return text[: self.max_len]
        if len(text) < self.min_len:
            return text + "x" * (self.min_len - len(text))
        return text


class Integer(Node):
    __slots__ = ("hi", "lo", "make", "multiple")

    def __init__(self, make: realism.IntMaker, lo: int, hi: int, multiple: int) -> None:
        super().__init__()
        self.make, self.lo, self.hi, self.multiple = make, lo, hi, multiple

    def gen(self, ctx: GenContext, depth: int) -> int:
        value = self.make(ctx, self.lo, self.hi)
        if self.multiple > 1 and value % self.multiple:
            value = -(-value // self.multiple) * self.multiple
            if value > self.hi:
                value -= self.multiple
        return value


class Number(Node):
    __slots__ = ("hi", "lo", "make")

    def __init__(self, make: Callable[[GenContext, float, float], float], lo: float, hi: float) -> None:
        super().__init__()
        self.make, self.lo, self.hi = make, lo, hi

    def gen(self, ctx: GenContext, depth: int) -> float:
        return min(max(self.make(ctx, self.lo, self.hi), self.lo), self.hi)


class Boolean(Node):
    __slots__ = ("fixed",)

    def __init__(self, fixed: bool | None) -> None:
        super().__init__()
        self.fixed = fixed

    def gen(self, ctx: GenContext, depth: int) -> bool:
        return self.fixed if self.fixed is not None else ctx.rng.random() < 0.5


class Ref(Node):
    """A ``$ref`` target, filled in after compilation (so cycles can point at it)."""

    __slots__ = ("target",)

    def __init__(self) -> None:
        super().__init__(INF)
        self.target: Node = Never("unresolved reference")

    def gen(self, ctx: GenContext, depth: int) -> Any:
        return self.target.gen(ctx, depth)

    def estimate(self) -> float:
        return self.target.cost


class Union(Node):
    """``anyOf`` / type lists: pick a generable branch; non-null preferred unless ``null_first``.

    An echoed object (``ctx.echo`` at the top) that names a branch by its ``keys`` (the discriminator, else
    ``type``/``object``) gets that branch, so the body has every field that branch requires.
    """

    __slots__ = ("branches", "cheapest", "keys", "live", "null_branch", "null_first", "tags")

    def __init__(
        self, branches: Sequence[Node], null_branch: Node | None, null_first: bool, keys: tuple[str, ...] = TAG_KEYS
    ) -> None:
        super().__init__(INF)
        self.branches = tuple(branches)
        self.null_branch, self.null_first = null_branch, null_first
        self.keys = keys
        self.live: tuple[Node, ...] = ()
        self.cheapest: Node = Never("no branch")
        self.tags: tuple[Tags, ...] | None = None  # per live branch: key -> the literals it allows (on first use)

    def estimate(self) -> float:
        costs = [b.cost for b in self.branches]
        if self.null_branch is not None:
            costs.append(0.0)
        return min(costs, default=INF)

    def finalize(self) -> None:
        self.live = tuple(b for b in self.branches if b.cost < INF)
        candidates = [*self.branches, *([self.null_branch] if self.null_branch else [])]
        self.cheapest = min(candidates, key=lambda b: b.cost, default=self.cheapest)

    def gen(self, ctx: GenContext, depth: int) -> Any:
        if self.null_first and self.null_branch is not None:
            return None
        if depth == 0 and ctx.echo:
            chosen = self.branch_for(ctx.echo)
            if chosen is not None:
                return chosen.gen(ctx, depth)
        if depth >= SOFT_DEPTH or not self.live:
            return self.cheapest.gen(ctx, depth)
        live = self.live
        return (live[0] if len(live) == 1 else ctx.rng.choice(live)).gen(ctx, depth)

    def branch_for(self, value: Mapping[str, Any]) -> Node | None:
        """The live branch ``value`` names by its literals (``type: computer_call_output``), None if none does.
        Ties go to the branch declaring most of ``value``'s fields, then to the first."""
        if self.tags is None:
            self.tags = tuple(tags_of(branch, self.keys) for branch in self.live)
        best: Node | None = None
        best_score = (0, 0)
        for branch, tags in zip(self.live, self.tags, strict=True):
            matched = 0
            for key, allowed in tags.items():
                if key in value:
                    if not _allowed(value[key], allowed):
                        matched = -1
                        break
                    matched += 1
            if matched <= 0:
                continue
            score = (matched, len(declared_of(branch) & value.keys()))
            if score > best_score:
                best, best_score = branch, score
        return best


class Array(Node):
    __slots__ = ("index_items", "items", "max_items", "min_items", "prefix", "unique", "usual")

    def __init__(
        self, items: Node, prefix: Sequence[Node], bounds: tuple[int, int], usual: tuple[int, int], unique: bool
    ) -> None:
        super().__init__(INF)
        self.items, self.prefix, self.unique = items, tuple(prefix), unique
        self.min_items, self.max_items = bounds
        self.usual = (max(usual[0], self.min_items), max(min(usual[1], self.max_items), self.min_items))
        self.index_items = False

    def estimate(self) -> float:
        needed = [*self.prefix[: self.min_items], *([self.items] if self.min_items > len(self.prefix) else [])]
        return 1 + max((n.cost for n in needed), default=-1)

    def gen(self, ctx: GenContext, depth: int) -> list[Any]:
        minimal = depth >= SOFT_DEPTH or self.items.cost == INF
        count = self.min_items if minimal else ctx.rng.randint(*self.usual)
        nodes = [*self.prefix[:count], *[self.items] * (count - len(self.prefix))]
        out = [node.gen(ctx, depth + 1) for node in nodes]
        if self.unique:
            out = self._dedupe(ctx, depth, out)
        if self.index_items:
            for i, item in enumerate(out):
                if isinstance(item, dict) and isinstance(item.get("index"), int):
                    item["index"] = i
        return out

    def _dedupe(self, ctx: GenContext, depth: int, out: list[Any]) -> list[Any]:
        seen: list[Any] = []
        for value in out:
            tries = 0
            while value in seen and tries < 10:
                value, tries = self.items.gen(ctx, depth + 1), tries + 1
            if value not in seen:
                seen.append(value)
        return seen


class Object(Node):
    __slots__ = (
        "check", "declared", "extra", "extra_key", "list_shape", "literals", "max_props", "min_props", "not_groups",
        "optional_p", "props", "totals",
    )  # fmt: skip

    def __init__(self, props: Sequence[tuple[str, Node, int]], extra: Node | None, extra_key: Node | None) -> None:
        super().__init__(INF)
        self.props = tuple(props)
        self.extra, self.extra_key = extra, extra_key
        self.min_props, self.max_props = 0, 1 << 30
        self.not_groups: tuple[tuple[str, ...], ...] = ()
        self.list_shape = False
        self.totals: tuple[str, tuple[str, ...]] | None = None
        self.optional_p = 0.5
        self.check: Checker | None = None
        self.declared: frozenset[str] = frozenset(name for name, _, _ in self.props)  # incl. never-generated ones
        self.literals: Tags = {}  # properties the schema fixes to a const or enum (what names a union branch)

    def estimate(self) -> float:
        return 1 + max((node.cost for _, node, kind in self.props if kind == REQUIRED), default=-1)

    def gen(self, ctx: GenContext, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        minimal = depth >= SOFT_DEPTH
        rnd = ctx.rng.random
        p = self.optional_p if depth < 3 else self.optional_p * 0.6
        inner = depth + 1
        for name, node, kind in self.props:
            if (
                kind == REQUIRED
                or (kind == ALWAYS and (not minimal or node.cost == 0))
                or (not minimal and node.cost < INF and rnd() < p)
            ):
                out[name] = node.gen(ctx, inner)
        if len(out) < self.min_props or (self.extra is not None and not minimal and rnd() < 0.4):
            self._add_extras(ctx, inner, out)
        if self.not_groups or len(out) > self.max_props:
            self._trim(out)
        if self.list_shape:
            _fix_list(out)
        if self.totals is not None:
            _fix_total(out, *self.totals)
        if depth == 0 and self.check is not None and (ctx.overrides or ctx.echo):
            self._apply_overrides(ctx, out)
        return out

    def _add_extras(self, ctx: GenContext, depth: int, out: dict[str, Any]) -> None:
        declared = self.declared
        for name, node, kind in self.props:  # minProperties: declared ones first
            if len(out) >= self.min_props:
                break
            if kind == OPTIONAL and name not in out and node.cost < INF:
                out[name] = node.gen(ctx, depth)
        if self.extra is None or self.extra_key is None:
            return
        wanted = max(self.min_props - len(out), ctx.rng.randint(1, 2))
        for _ in range(wanted * 3):
            if wanted <= 0 or len(out) >= self.max_props:
                break
            key = self.extra_key.gen(ctx, depth)
            if key not in out and key not in declared:
                out[key] = self.extra.gen(ctx, depth)
                wanted -= 1

    def _trim(self, out: dict[str, Any]) -> None:
        required = {name for name, _, kind in self.props if kind == REQUIRED}
        for group in self.not_groups:
            if all(name in out for name in group):
                for name in reversed(group):
                    if name not in required:
                        del out[name]
                        break
        for name in reversed(list(out)):
            if len(out) <= self.max_props:
                break
            if name not in required:
                del out[name]

    def _apply_overrides(self, ctx: GenContext, out: dict[str, Any]) -> None:
        assert self.check is not None
        declared = self.declared
        for source in (ctx.echo, ctx.overrides):
            for name, value in source.items():
                if name in declared and self.check(name, value):
                    out[name] = value


def complete(node: Node, ctx: GenContext, value: Mapping[str, Any]) -> dict[str, Any]:
    """``value`` with the fields its schema requires and it lacks generated (a stored item's ``status``); the
    branch of a union is the one ``value`` names (:meth:`Union.branch_for`). ``value``'s own fields are kept,
    except nulls a client sent for what the server fills in: a required one is generated, an optional one dropped
    (``"status": null`` in an input item becomes the stored item's status)."""
    node = _resolved(node)
    if isinstance(node, Union):
        chosen = node.branch_for(value)
        return complete(chosen, ctx, value) if chosen is not None else dict(value)
    out = dict(value)
    if isinstance(node, Object):
        for name, prop, kind in node.props:
            if kind == REQUIRED and out.get(name) is None:
                out[name] = prop.gen(ctx, SOFT_DEPTH)  # the smallest valid value: no optional content
            elif name in out and out[name] is None:
                del out[name]
            elif name in out:
                out[name] = _complete_value(prop, ctx, out[name])
    return out


def _complete_value(node: Node, ctx: GenContext, value: Any) -> Any:
    """A nested field completed like its parent: objects by their schema, each object of an array by the items'."""
    target = _resolved(node)
    if isinstance(value, Mapping) and isinstance(target, (Object, Union)):
        return complete(target, ctx, value)
    if isinstance(value, list) and isinstance(target, Array):
        items = _resolved(target.items)
        if isinstance(items, (Object, Union)):
            return [complete(items, ctx, v) if isinstance(v, Mapping) else v for v in value]
    return value


def tags_of(node: Node, keys: Sequence[str]) -> Tags:
    """The literals a union branch fixes for ``keys`` (a nested union: what any of its branches allows)."""
    node = _resolved(node)
    if isinstance(node, Object):
        return {key: node.literals[key] for key in keys if key in node.literals}
    if isinstance(node, Union):
        merged: Tags = {}
        parts = [tags_of(branch, keys) for branch in node.live]
        for key in keys:
            if parts and all(key in part for part in parts):
                merged[key] = tuple(v for part in parts for v in part[key])
        return merged
    return {}


def declared_of(node: Node) -> frozenset[str]:
    node = _resolved(node)
    if isinstance(node, Object):
        return node.declared
    if isinstance(node, Union):
        return frozenset().union(*(declared_of(branch) for branch in node.live))
    return frozenset()


def _resolved(node: Node) -> Node:
    seen = 0
    while isinstance(node, Ref) and seen < 64:
        node, seen = node.target, seen + 1
    return node


def _allowed(value: Any, allowed: tuple[Any, ...]) -> bool:
    return any(value == literal and type(value) is type(literal) for literal in allowed)


def _fix_list(out: dict[str, Any]) -> None:
    """``object: list`` pages: ``has_more`` false, ``first_id``/``last_id`` from the data."""
    if "has_more" in out:
        out["has_more"] = False
    data = out.get("data")
    if not isinstance(data, list) or not data:
        return
    ids = [item.get("id") for item in data if isinstance(item, dict)]
    if ids and all(isinstance(i, str) for i in ids):
        if isinstance(out.get("first_id"), str):
            out["first_id"] = ids[0]
        if isinstance(out.get("last_id"), str):
            out["last_id"] = ids[-1]


def _fix_total(out: dict[str, Any], total: str, parts: tuple[str, ...]) -> None:
    """``total`` = sum of the ``parts`` present; token details no larger than their parent count."""
    counts = [out[p] for p in parts if p in out]
    if isinstance(out.get(total), int) and counts and all(isinstance(c, int) for c in counts):
        out[total] = sum(counts)
    for name in parts:
        count, details = out.get(name), out.get(name + "_details")
        if isinstance(count, int) and isinstance(details, dict):
            for key, value in details.items():
                if isinstance(value, int) and not isinstance(value, bool) and value > count:
                    details[key] = count
