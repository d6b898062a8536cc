"""The model catalog: ``spec/models.yaml`` plus the user's files, validated and compiled once at startup.

:meth:`Catalog.from_settings` loads the bundled file and then ``Settings.models`` (later files replace entries
with the same id). Each file is checked against :data:`SCHEMA`; a problem is a :class:`~fakeai.errors.ConfigError`
naming the file, the line and the closest valid key. Files are parsed once by :mod:`fakeai.yamlload` (which keeps
the lines); compiled catalogs are cached by path and modification time.

:meth:`Catalog.lookup` resolves a requested name: exact id or alias (case-insensitive), then a dated snapshot
(``gpt-4o-2024-08-06``, ``gpt-3.5-turbo-0125``, ``claude-3-5-haiku-20241022``) to its base, then a fine-tuned
name (``ft:gpt-4o-mini:org::abc``) to its base model.

:func:`check_context` is the context-window check the chat, completions and Responses producers share: a prompt
(plus the requested completion tokens) longer than the model's window is OpenAI's 400 ``context_length_exceeded``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema_rs

from fakeai import yamlload
from fakeai.bundled import data_path
from fakeai.errors import APIError, ConfigError, closest

if TYPE_CHECKING:
    from fakeai.config import Settings

__all__ = [
    "KINDS",
    "SCHEMA",
    "Catalog",
    "ModelInfo",
    "Prices",
    "bundled_path",
    "check_context",
    "model_not_found",
]

KINDS = ("chat", "completion", "embedding", "image", "audio", "moderation", "realtime")
MODALITIES = ("text", "image", "audio", "video")
_PRICE_KEYS = ("input", "cached_input", "output")
_ENTRY_KEYS = (
    "id", "owned_by", "created", "kind", "context_window", "max_output_tokens", "reasoning", "modalities", "prices",
    "aliases",
)  # fmt: skip
_DATED = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4})$")  # -2024-08-06 (OpenAI), -20241022 (Anthropic), -0125

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["models"],
    "additionalProperties": False,
    "properties": {
        "models": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "owned_by", "created", "kind"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "string", "minLength": 1},
                    "owned_by": {"type": "string", "minLength": 1},
                    "created": {"type": "integer", "minimum": 0},
                    "kind": {"enum": list(KINDS)},
                    "context_window": {"type": "integer", "minimum": 1},
                    "max_output_tokens": {"type": "integer", "minimum": 1},
                    "reasoning": {"type": "boolean"},
                    "modalities": {"type": "array", "items": {"enum": list(MODALITIES)}, "uniqueItems": True},
                    "prices": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {key: {"type": "number", "minimum": 0} for key in _PRICE_KEYS},
                    },
                    "aliases": {"type": "array", "items": {"type": "string", "minLength": 1}},
                },
            },
        }
    },
}

_VALIDATOR = jsonschema_rs.Draft202012Validator(SCHEMA)


@dataclass(frozen=True, slots=True)
class Prices:
    """USD per 1M tokens (approximate list prices)."""

    input: float | None = None
    cached_input: float | None = None
    output: float | None = None


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    owned_by: str
    created: int
    kind: str
    context_window: int | None = None
    max_output_tokens: int | None = None
    reasoning: bool = False
    modalities: tuple[str, ...] = ("text",)
    prices: Prices | None = None
    aliases: tuple[str, ...] = ()
    source: str = ""  # file:line of the entry

    def body(self, ident: str | None = None, owned_by: str | None = None) -> dict[str, Any]:
        """The OpenAI ``Model`` object (``ident``: the name as requested, e.g. a dated snapshot)."""
        return {
            "id": ident or self.id,
            "object": "model",
            "created": self.created,
            "owned_by": owned_by or self.owned_by,
        }

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any], source: str) -> ModelInfo:
        prices = entry.get("prices")
        return cls(
            id=entry["id"],
            owned_by=entry["owned_by"],
            created=entry["created"],
            kind=entry["kind"],
            context_window=entry.get("context_window"),
            max_output_tokens=entry.get("max_output_tokens"),
            reasoning=entry.get("reasoning", False),
            modalities=tuple(entry.get("modalities", ("text",))),
            prices=Prices(**prices) if isinstance(prices, Mapping) else None,
            aliases=tuple(entry.get("aliases", ())),
            source=source,
        )


class Catalog:
    """Models by id (catalog order) and every name that resolves to one (lower-cased)."""

    def __init__(self, models: Iterable[ModelInfo]) -> None:
        self.models: dict[str, ModelInfo] = {}
        for info in models:
            self.models.pop(info.id, None)  # a later file's entry replaces (and re-orders) an earlier one
            self.models[info.id] = info
        self._names: dict[str, ModelInfo] = {}
        for info in self.models.values():
            for name in info.aliases:
                self._names[name.lower()] = info
        for info in self.models.values():  # ids win over aliases
            self._names[info.id.lower()] = info

    @classmethod
    def from_files(cls, paths: Sequence[str | Path]) -> Catalog:
        return cls(info for path in paths for info in _load_cached(str(path)))

    @classmethod
    def from_settings(cls, settings: Settings) -> Catalog:
        """The bundled catalog, then ``settings.models`` in order."""
        return _catalog((str(bundled_path()), *settings.models))

    def __iter__(self) -> Any:
        return iter(self.models.values())

    def __len__(self) -> int:
        return len(self.models)

    def lookup(self, name: str) -> ModelInfo | None:
        """The entry ``name`` resolves to: id or alias, a dated snapshot of one, or a fine-tune of one."""
        key = name.lower()
        found = self._names.get(key)
        if found is not None:
            return found
        if key.startswith("ft:"):
            base = key.split(":")[1] if key.count(":") >= 1 else ""
            return self.lookup(base) if base and not base.startswith("ft:") else None
        undated = _DATED.sub("", key)
        return self._names.get(undated) if undated != key else None

    def context_window(self, name: str) -> int | None:
        info = self.lookup(name)
        return info.context_window if info is not None else None


def bundled_path() -> Path:
    return data_path("spec") / "models.yaml"


@functools.lru_cache(maxsize=32)
def _catalog_for(paths: tuple[str, ...], stamps: tuple[tuple[int, int], ...]) -> Catalog:
    return Catalog.from_files(paths)


def _catalog(paths: tuple[str, ...]) -> Catalog:
    return _catalog_for(paths, tuple(_stamp(path) for path in paths))


def _stamp(path: str) -> tuple[int, int]:
    try:
        stat = Path(path).stat()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read model catalog: {exc.strerror}") from None
    return stat.st_mtime_ns, stat.st_size


def _load_cached(path: str) -> tuple[ModelInfo, ...]:
    return _load(path, _stamp(path))


@functools.lru_cache(maxsize=64)
def _load(path: str, stamp: tuple[int, int]) -> tuple[ModelInfo, ...]:
    """One catalog file -> its entries; every problem is a ConfigError with the file and line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read model catalog: {exc.strerror}") from None
    loaded = yamlload.load(text, path, ConfigError, columns=False)
    data = loaded.data
    if data is None:
        raise ConfigError(f"{path}:1: empty model catalog; expected a mapping with a `models:` list")
    _validate(path, loaded, data)
    entries: list[ModelInfo] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(data["models"]):
        line = loaded.line(("models", index))
        for name in (entry["id"], *entry.get("aliases", ())):
            if name.lower() in seen:
                raise ConfigError(
                    f"{path}:{line}: model name {name!r} is already used by the entry at line {seen[name.lower()]}; "
                    "each id and alias must be unique within a file"
                )
            seen[name.lower()] = line
        entries.append(ModelInfo.from_entry(entry, f"{path}:{line}"))
    return tuple(entries)


def _validate(path: str, loaded: yamlload.Loaded, data: Any) -> None:
    """The first schema error by line, as a ConfigError (unknown keys get the closest valid one)."""
    errors = [(loaded.line(tuple(e.instance_path)), e) for e in _VALIDATOR.iter_errors(data)]
    if not errors:
        return
    line, error = min(errors, key=lambda pair: (pair[0], len(pair[1].instance_path)))
    where = tuple(error.instance_path)
    hint = ""
    unexpected = getattr(error.kind, "unexpected", None)
    if unexpected:
        allowed = {0: ("models",), 2: _ENTRY_KEYS}.get(len(where), _PRICE_KEYS)
        key = str(unexpected[0])
        where = (*where, key)
        line = loaded.line(where)
        hint = f"unknown key {key!r}{closest(key, allowed)}; allowed: {', '.join(allowed)}"
    elif where[-1:] in (("kind",), ("modalities",)) or (len(where) > 1 and where[-2] == "modalities"):
        choices = KINDS if where[-1] == "kind" else MODALITIES
        hint = f"{error.message}; one of {', '.join(choices)}"
    elif type(error.kind).__name__ == "Required":
        hint = f"{error.message}; an entry needs id, owned_by, created and kind"
    pointer = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in where).lstrip(".") or "(top level)"
    raise ConfigError(f"{path}:{line}: {pointer}: {hint or error.message}")


# --- request-time checks (lookups only) ---------------------------------------------------------------------


def model_not_found(model: str, quote: str = "`") -> APIError:
    """OpenAI's 404 for an unknown model: inference endpoints quote it with backticks (``param`` null),
    ``GET/DELETE /models/{model}`` with single quotes (``param`` "model")."""
    return APIError(
        404,
        f"The model {quote}{model}{quote} does not exist or you do not have access to it.",
        param="model" if quote == "'" else None,
        code="model_not_found",
    )


def check_context(catalog: Catalog | None, model: str, prompt: int, completion: int | None, api: str) -> None:
    """Raise OpenAI's 400 ``context_length_exceeded`` when ``prompt`` (+ the requested ``completion`` tokens)
    does not fit ``model``'s context window. Models the catalog does not know (or without a window) pass.

    ``api``: ``chat`` (param ``messages``), ``completions`` (``prompt``) or ``responses`` (``input``), each
    with that endpoint's wording."""
    window = catalog.context_window(model) if catalog is not None else None
    asked = completion if completion is not None and completion > 0 else 0
    if window is None or prompt + asked <= window:
        return
    total = prompt + asked
    if api == "responses":
        message = "Your input exceeds the context window of this model. Please adjust your input and try again."
        param = "input"
    elif api == "completions":
        message = (
            f"This model's maximum context length is {window} tokens, however you requested {total} tokens "
            f"({prompt} in your prompt; {asked} for the completion). Please reduce your prompt; or completion length."
        )
        param = "prompt"
    elif prompt > window or not asked:
        message = (
            f"This model's maximum context length is {window} tokens. However, your messages resulted in {prompt} "
            "tokens. Please reduce the length of the messages."
        )
        param = "messages"
    else:
        message = (
            f"This model's maximum context length is {window} tokens. However, you requested {total} tokens "
            f"({prompt} in the messages, {asked} in the completion). Please reduce the length of the messages or "
            "completion."
        )
        param = "messages"
    raise APIError(400, message, param=param, code="context_length_exceeded")
