"""The one YAML reader of fakeai's own files: plain data, where each node was written, and bounded work.

Every YAML file fakeai reads (scenarios, the config file, bindings, the model catalog, engine profiles,
resource declarations, overlays, YAML specs) goes through :func:`load`:

- libyaml composes the node graph (fast; an alias is the anchored node itself, not a copy), then
- a budget pass walks that graph once per distinct node and refuses, BEFORE anything is expanded, a document
  whose aliases would expand past :data:`MAX_ALIAS_NODES` nodes or that uses more than :data:`MAX_ALIASES`
  alias references (a 300-byte "billion laughs" file expands to 10^9 nodes), or that is recursive;
- the nodes become plain ``dict``/``list``/``str``/``int``/``float``/``bool``/``None`` under the YAML 1.2 core
  schema (``yes``/``on`` stay strings, ``2024-01-01`` stays a string), duplicate keys are errors, ``<<`` merge
  keys work, and any other tag (``!!python/object``, ``!!binary``, ``!custom``) is an error at its line;
- ``positions`` maps each YAML path (``("rules", 0, "match")``) to the 1-based (line, column) of its key or
  item, so later checks can name ``file:line:column`` too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from fakeai.errors import FakeAIError, SpecError

MAX_ALIASES = 10_000  # alias references (``*name``) in one document
MAX_ALIAS_NODES = 200_000  # nodes the aliases add when expanded, beyond the nodes written in the file
MAX_DEPTH = 200  # nesting of mappings and lists
SCHEMA = "yaml-1.2-core"  # how plain scalars resolve; part of the spec cache key

YamlPath = tuple[str | int, ...]
_T = "tag:yaml.org,2002:"


class _Loader(yaml.CSafeLoader):  # type: ignore[misc,unused-ignore]  # yaml is Any without types-PyYAML
    """libyaml's parser and composer with YAML 1.2 core-schema resolvers (what ruamel used to give us)."""


_Loader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in (
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("int", r"^(?:[-+]?[0-9][0-9_]*|0o[0-7_]+|0x[0-9a-fA-F_]+)$", "-+0123456789"),
    (
        "float",
        r"^(?:[-+]?(?:[0-9][0-9_]*)?\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
    ("merge", r"^<<$", "<"),
):
    _Loader.add_implicit_resolver(_T + _tag, re.compile(_pattern), list(_first))


@dataclass(frozen=True)
class Loaded:
    """A YAML document as plain data, and where each of its entries was written."""

    source: str
    data: Any
    positions: Mapping[YamlPath, tuple[int, int]] = field(default_factory=dict)  # 1-based (line, column)

    def position(self, path: YamlPath) -> tuple[int, int]:
        """(line, column) of ``path``, or of its nearest written ancestor."""
        while path and path not in self.positions:
            path = path[:-1]
        return self.positions.get(path, (1, 1))

    def where(self, path: YamlPath) -> str:
        line, column = self.position(path)
        return f"{self.source}:{line}:{column}"

    def line(self, path: YamlPath) -> int:
        return self.position(path)[0]


def load(
    text: str | bytes,
    source: str,
    error: type[FakeAIError] = SpecError,
    *,
    line_key: str | None = None,
    columns: bool = True,
) -> Loaded:
    """YAML text -> :class:`Loaded`; every problem is ``error("file:line:column: ...")`` (``file:line`` without
    ``columns``, for the files whose other messages name lines only). With ``line_key``, each mapping also gets
    that key set to the 1-based line the mapping starts on."""
    at = _Where(source, columns)
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = at(mark) if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{where}: invalid YAML: {problem}") from None
    finally:
        loader.dispose()
    if root is None:
        return Loaded(source, None, {})
    _budget(root, at, error)
    positions: dict[YamlPath, tuple[int, int]] = {(): _pos(root)}
    data = _Builder(at, error, positions, line_key).build(root, ())
    return Loaded(source, data, positions)


def _pos(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


@dataclass(frozen=True)
class _Where:
    source: str
    columns: bool

    def __call__(self, mark: Any) -> str:
        """``file:line:column`` (or ``file:line``) of a libyaml mark."""
        column = f":{mark.column + 1}" if self.columns else ""
        return f"{self.source}:{mark.line + 1}{column}"


def _budget(root: yaml.Node, at: _Where, error: type[FakeAIError]) -> None:
    """Refuse alias bombs and recursive documents by counting, once per distinct node, what expansion would
    build: ``size(node) = 1 + sum(size(child))`` with sizes memoized, so the pass costs what was written."""
    sizes: dict[int, int] = {}
    active: set[int] = set()
    aliases = written = 0

    def size(node: yaml.Node, depth: int) -> int:
        nonlocal aliases, written
        key = id(node)
        if key in sizes:
            aliases += 1
            if aliases > MAX_ALIASES:
                raise error(f"{at(node.start_mark)}: more than {MAX_ALIASES} YAML alias references in one document")
            return sizes[key]
        if key in active:
            raise error(f"{at(node.start_mark)}: a YAML alias refers to a node that contains it (recursive data)")
        if depth > MAX_DEPTH:
            raise error(f"{at(node.start_mark)}: YAML nested deeper than {MAX_DEPTH} levels")
        written += 1
        total = 1
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            active.add(key)
            children = [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else node.value
            for child in children:
                total += size(child, depth + 1)
                if total - written > MAX_ALIAS_NODES:
                    raise error(
                        f"{at(node.start_mark)}: YAML aliases here would expand to more than {MAX_ALIAS_NODES} nodes "
                        "(an alias bomb?); write the data out or use fewer nested aliases"
                    )
            active.discard(key)
        sizes[key] = total
        return total

    size(root, 0)


def _int(value: str) -> int:
    value = value.replace("_", "")
    return int(value, 0) if value[:2] in ("0o", "0x") else int(value)


def _float(value: str) -> float:
    value = value.replace("_", "").lower()
    if value.endswith(".inf"):
        return -math.inf if value.startswith("-") else math.inf
    return math.nan if value == ".nan" else float(value)


_SCALARS: dict[str, Callable[[str], Any]] = {
    _T + "str": str,
    _T + "int": _int,
    _T + "float": _float,
    _T + "bool": lambda value: value.lower() == "true",
    _T + "null": lambda value: None,
}


@dataclass
class _Builder:
    at: _Where
    error: type[FakeAIError]
    positions: dict[YamlPath, tuple[int, int]]
    line_key: str | None

    def fail(self, node: yaml.Node, message: str) -> FakeAIError:
        return self.error(f"{self.at(node.start_mark)}: {message}")

    def build(self, node: yaml.Node, path: YamlPath) -> Any:
        tag = node.tag
        if isinstance(node, yaml.ScalarNode):
            convert = _SCALARS.get(tag)
            if convert is None:
                raise self.fail(node, f"unsupported YAML tag {_short(tag)}{_TAG_HINT}")
            try:
                return convert(node.value)
            except ValueError:
                raise self.fail(node, f"{node.value!r} is not a valid {_short(tag)}") from None
        if isinstance(node, yaml.SequenceNode):
            if tag != _T + "seq":
                raise self.fail(node, f"unsupported YAML tag {_short(tag)}{_TAG_HINT}")
            items = []
            for index, item in enumerate(node.value):
                self.positions[(*path, index)] = _pos(item)
                items.append(self.build(item, (*path, index)))
            return items
        if tag != _T + "map":
            raise self.fail(node, f"unsupported YAML tag {_short(tag)}{_TAG_HINT}")
        result: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _T + "merge":
                merged = {**self._merge(value_node, path), **merged}
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail(key_node, "a mapping key must be a plain value (string or number), not a collection")
            key = str(key_node.value)
            if key in result:
                raise self.fail(key_node, f"duplicate key {key!r} (each key may appear once in a mapping)")
            self.positions[(*path, key)] = _pos(key_node)
            result[key] = self.build(value_node, (*path, key))
        result = {**{k: v for k, v in merged.items() if k not in result}, **result}
        if self.line_key is not None:
            result[self.line_key] = node.start_mark.line + 1
        return result

    def _merge(self, node: yaml.Node, path: YamlPath) -> dict[str, Any]:
        """``<<: *base`` or ``<<: [*a, *b]`` (earlier mappings win, as YAML's merge key defines)."""
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        out: dict[str, Any] = {}
        for source in reversed(sources):
            if not isinstance(source, yaml.MappingNode):
                raise self.fail(source, "a merge key (<<) takes a mapping or a list of mappings")
            out.update(self.build(source, path))
        return out


_TAG_HINT = "; fakeai reads plain YAML only (mappings, lists, strings, numbers, booleans, null)"


def _short(tag: str) -> str:
    return f"!!{tag[len(_T) :]}" if tag.startswith(_T) else tag
