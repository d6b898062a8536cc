"""Compare two schemas in one direction (``request`` or ``response``) and list the differences.

Named component pairs are compared once per direction and memoized by ``(old $ref, new $ref,
direction)``; a pair met again while it is being compared (a recursive schema) is skipped. The
result of a pair is relative to the pair, and shifted to wherever the pair is used.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from fakeai.drift.change import Delta, short
from fakeai.drift.view import LOWER_BOUNDS, MISSING, UPPER_BOUNDS, View, Views, component_name, pure_ref

Direction = str  # "request" | "response"


class SchemaDiff:
    """Differences between schemas of an OLD and a NEW document."""

    def __init__(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        self.old = Views(old)
        self.new = Views(new)
        self._memo: dict[tuple[str, str, Direction], tuple[Delta, ...]] = {}
        self._active: set[tuple[str, str, Direction]] = set()

    def compare(self, old: Any, new: Any, direction: Direction) -> list[Delta]:
        out: list[Delta] = []
        self._schema(old, new, direction, "", out)
        return out

    def _schema(self, old: Any, new: Any, direction: Direction, path: str, out: list[Delta], top: bool = True) -> None:
        """``top=False``: the caller already compared nullability and annotations at ``path``."""
        old_ref, new_ref = pure_ref(old), pure_ref(new)
        if old_ref and new_ref:
            if top:
                _text(old.get("description"), new.get("description"), path, out)
            for delta in self._component(old_ref, new_ref, direction):
                out.append(replace(delta, path=path + delta.path))
            return
        self._views(old, new, direction, path, out, top)

    def _component(self, old_ref: str, new_ref: str, direction: Direction) -> tuple[Delta, ...]:
        key = (old_ref, new_ref, direction)
        memo = self._memo.get(key)
        if memo is not None:
            return memo
        if key in self._active:
            return ()
        self._active.add(key)
        try:
            found: list[Delta] = []
            self._views(self.old.resolve(old_ref), self.new.resolve(new_ref), direction, "", found)
        finally:
            self._active.discard(key)
        name = component_name(new_ref)
        result = tuple(d if d.origin else replace(d, origin=name + d.path) for d in found)
        self._memo[key] = result
        return result

    def _views(self, old: Any, new: Any, d: Direction, path: str, out: list[Delta], top: bool = True) -> None:
        a, b = self.old.view(old), self.new.view(new)
        if top:
            _nullable(a, b, d, path, out)
            _text(a.description, b.description, path, out)
            if a.deprecated != b.deprecated:
                out.append(Delta("deprecated.added" if b.deprecated else "deprecated.removed", path))
        if len(a.variants) > 1 or len(b.variants) > 1:
            self._union(old, new, a, b, d, path, out)
            if not (a.variants and b.variants):
                return  # the other side was compared against each branch
        _types(a, b, d, path, out)
        _enum(a, b, d, path, out)
        _constraints(a, b, d, path, out)
        if a.format != b.format and a.format and b.format:
            out.append(Delta(f"{d}.format.changed", path, a.format, b.format))
        if d == "request" and a.default is not MISSING and b.default is not MISSING and a.default != b.default:
            out.append(Delta(f"{d}.default.changed", path, short(a.default), short(b.default)))
        self._properties(a, b, d, path, out)
        if a.items is not None and b.items is not None:
            self._schema(a.items, b.items, d, path + "[]", out)
        if isinstance(a.additional, Mapping) and isinstance(b.additional, Mapping):
            self._schema(a.additional, b.additional, d, path + ".*", out)

    def _properties(self, a: View, b: View, d: Direction, path: str, out: list[Delta]) -> None:
        removed = [name for name in a.properties if name not in b.properties]
        added = [name for name in b.properties if name not in a.properties]
        for name in removed:
            renamed = _renamed(a.properties[name], {n: b.properties[n] for n in added})
            out.append(Delta(f"{d}.property.removed", f"{path}.{name}", "present", renamed))
        for name in added:
            if d == "request" and name in b.required:
                out.append(Delta("request.property.required.added", f"{path}.{name}", "absent", "required"))
            else:
                out.append(Delta(f"{d}.property.added", f"{path}.{name}", "", "required" if name in b.required else ""))
        for name, old_schema in a.properties.items():
            if name not in b.properties:
                continue
            if (name in a.required) != (name in b.required):
                verb = "added" if name in b.required else "removed"
                old_state, new_state = ("optional", "required") if verb == "added" else ("required", "optional")
                out.append(Delta(f"{d}.property.required.{verb}", f"{path}.{name}", old_state, new_state))
            self._schema(old_schema, b.properties[name], d, f"{path}.{name}", out)

    def _union(self, old: Any, new: Any, a: View, b: View, d: Direction, path: str, out: list[Delta]) -> None:
        old_branches = _flatten(self.old, a.variants) or [old]
        new_branches = _flatten(self.new, b.variants) or [new]
        old_labels = [self._label(self.old, s, i) for i, s in enumerate(old_branches)]
        new_labels = [self._label(self.new, s, i) for i, s in enumerate(new_branches)]
        pairs = _match(old_labels, new_labels)
        if not pairs and (len(old_branches) == 1 or len(new_branches) == 1):
            shown_old = " | ".join(labels[-1] for labels in old_labels)
            shown_new = " | ".join(labels[-1] for labels in new_labels)
            out.append(Delta(f"{d}.type.changed", path, short(shown_old), short(shown_new)))
            return
        matched_old = {i for i, _ in pairs}
        matched_new = {j for _, j in pairs}
        for i, labels in enumerate(old_labels):
            if i not in matched_old:
                out.append(Delta(f"{d}.variant.removed", path, labels[-1], ""))
        for j, labels in enumerate(new_labels):
            if j not in matched_new:
                out.append(Delta(f"{d}.variant.added", path, "", labels[-1]))
        both = bool(a.variants and b.variants)
        for i, j in pairs:
            where = f"{path}<{new_labels[j][-1]}>" if len(new_branches) > 1 else path
            self._schema(old_branches[i], new_branches[j], d, where, out, top=both)

    @staticmethod
    def _label(views: Views, schema: Any, index: int) -> list[str]:
        """Keys to match a union branch by, most specific first; the last one is also its display label."""
        view = views.view(schema)
        keys: list[str] = []
        if view.ref:
            keys.append(f"ref:{view.ref}")
        for prop in ("type", "object", "role", "event"):
            sub = view.properties.get(prop)
            if sub is not None:
                sub_view = views.view(sub)
                if sub_view.enum is not None and len(sub_view.enum) == 1:
                    keys.append(f"{prop}={sub_view.enum[0]}")
                    break
        if view.title:
            keys.append(f"title:{view.title}")
        types = "|".join(sorted(view.types)) if view.types else "any"
        keys.append(f"sig:{types}{'+enum' if view.enum else ''}")
        display = view.ref or next((k for k in keys if "=" in k), None) or view.title or keys[-1][4:]
        keys.append(str(display))
        return keys


def _flatten(views: Views, branches: tuple[Any, ...], depth: int = 0) -> list[Any]:
    """Branches of nested unions (``anyOf: [$ref: Item, ...]`` where Item is itself a union) inline."""
    flat: list[Any] = []
    for branch in branches:
        view = views.view(branch)
        if len(view.variants) > 1 and not view.properties and depth < 8:
            flat.extend(_flatten(views, view.variants, depth + 1))
        else:
            flat.append(branch)
    return flat


def _match(old: list[list[str]], new: list[list[str]]) -> list[tuple[int, int]]:
    """Pair branches by their keys, pass by pass: $ref name, discriminator, title, type signature."""
    pairs: list[tuple[int, int]] = []
    free_old, free_new = set(range(len(old))), set(range(len(new)))
    for prefix in ("ref:", "=", "title:", "sig:"):
        for i in sorted(free_old):
            key = next((k for k in old[i][:-1] if _kind_of(k) == prefix), None)
            if key is None:
                continue
            j = next((j for j in sorted(free_new) if key in new[j][:-1]), None)
            if j is not None:
                pairs.append((i, j))
                free_old.discard(i)
                free_new.discard(j)
    return sorted(pairs)


def _kind_of(key: str) -> str:
    for prefix in ("ref:", "title:", "sig:"):
        if key.startswith(prefix):
            return prefix
    return "="


def _text(old: Any, new: Any, path: str, out: list[Delta]) -> None:
    if isinstance(old, str) and isinstance(new, str) and old.strip() != new.strip():
        out.append(Delta("description.changed", path, short(old, 60), short(new, 60)))


def _nullable(a: View, b: View, d: Direction, path: str, out: list[Delta]) -> None:
    if a.nullable == b.nullable:
        return
    if _untyped(a) or _untyped(b):
        return  # an untyped schema allows null anyway
    verb = "added" if b.nullable else "removed"
    out.append(Delta(f"{d}.nullable.{verb}", path, str(a.nullable).lower(), str(b.nullable).lower()))


def _untyped(view: View) -> bool:
    return view.types is None and not view.variants and view.enum is None and not view.nullable


def _covered(kind: str, types: frozenset[str]) -> bool:
    return kind in types or (kind == "integer" and "number" in types)


def _types(a: View, b: View, d: Direction, path: str, out: list[Delta]) -> None:
    if a.types is None or b.types is None or a.types == b.types:
        return
    old, new = "|".join(sorted(a.types)) or "null", "|".join(sorted(b.types)) or "null"
    if d == "request":
        lost = any(not _covered(t, b.types) for t in a.types)
        out.append(Delta("request.type.changed" if lost else "request.type.widened", path, old, new))
    else:
        gained = any(not _covered(t, a.types) for t in b.types)
        out.append(Delta("response.type.changed" if gained else "response.type.narrowed", path, old, new))


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _enum(a: View, b: View, d: Direction, path: str, out: list[Delta]) -> None:
    if a.enum is None and b.enum is None:
        return
    if a.enum is None or b.enum is None:
        tighter = b.enum is not None
        shown = short(", ".join(map(_key, (b.enum or a.enum or ()))))
        old, new = ("any", shown) if tighter else (shown, "any")
        _bound(d, tighter, path, f"enum: {old}", f"enum: {new}", out)
        return
    old_keys, new_keys = {_key(v) for v in a.enum}, {_key(v) for v in b.enum}
    removed = [k for k in map(_key, a.enum) if k not in new_keys]
    added = [k for k in map(_key, b.enum) if k not in old_keys]
    if removed:
        out.append(Delta(f"{d}.enum.removed", path, short(", ".join(removed), 200), ""))
    if added:
        out.append(Delta(f"{d}.enum.added", path, "", short(", ".join(added), 200)))


def _bound(d: Direction, tighter: bool, path: str, old: str, new: str, out: list[Delta]) -> None:
    verb = "tightened" if tighter else "relaxed"
    out.append(Delta(f"{d}.constraint.{verb}", path, old, new))


def _constraints(a: View, b: View, d: Direction, path: str, out: list[Delta]) -> None:
    for key in dict.fromkeys([*a.constraints, *b.constraints]):
        old, new = a.constraints.get(key, MISSING), b.constraints.get(key, MISSING)
        if old == new:
            continue
        shown_old = "none" if old is MISSING else f"{key}={short(old, 40)}"
        shown_new = "none" if new is MISSING else f"{key}={short(new, 40)}"
        if old is MISSING or new is MISSING:
            tighter = old is MISSING
            if key == "uniqueItems":
                tighter = bool(new is not MISSING and new)
            _bound(d, tighter, path, shown_old, shown_new, out)
        elif key in LOWER_BOUNDS or key in UPPER_BOUNDS:
            _bound(d, (new > old) == (key in LOWER_BOUNDS), path, shown_old, shown_new, out)
        elif key == "uniqueItems":
            _bound(d, bool(new), path, shown_old, shown_new, out)
        else:
            out.append(Delta(f"{d}.constraint.changed", path, shown_old, shown_new))
    closed_a, closed_b = a.additional is False, b.additional is False
    if closed_a != closed_b:
        shown = ("open", "additionalProperties=false") if closed_b else ("additionalProperties=false", "open")
        _bound(d, closed_b, path, *shown, out)


def _renamed(old_schema: Any, added: Mapping[str, Any]) -> str:
    """``renamed to 'x'?`` when exactly one added property has the same schema (descriptions aside)."""
    target = _key(_strip(old_schema))
    same = [name for name, schema in added.items() if _key(_strip(schema)) == target]
    return f"renamed to {same[0]!r}?" if len(same) == 1 else "absent"


def _strip(schema: Any) -> Any:
    if isinstance(schema, Mapping):
        return {k: _strip(v) for k, v in schema.items() if k not in ("description", "title", "examples")}
    if isinstance(schema, list):
        return [_strip(v) for v in schema]
    return schema
