"""A real model behind the LLM producers: the :class:`TextBackend` shape, which models it answers, loading.

``--model-backend llamacpp --model-path FILE.gguf`` (settings ``model_backend``, ``model_path``) loads one model
per process at startup (:func:`load_backend`); ``backend_models`` (model globs, default ``*``) says which
requested models it answers: ``backend_models: [gpt-4o-mini]`` makes ``gpt-4o-mini`` real while every other
model stays synthetic. A request that asks for a text mode itself (``x-fakeai-mode``, ``gpt-4o-mini:echo``) is
synthetic too.

The backend only writes text: the producers keep fakeai's wire formats, ids, tool-choice policy, streaming
(one frame per real model token), scenarios, faults and the journal. It is blocking (a model runs for seconds),
so the pipeline runs the produce stage of a request it answers off the event loop (:meth:`Selection.offload`),
and the work that makes requests of its own (batch lines, assistant runs: ``Pipeline.settle``) too; the backend
queues requests to its one model instance with a lock.

Sampling: temperature 0 unless the request asks for more, seeded by the request's one seed (``ctx.seed``), so
the same request gives the same answer (see :mod:`fakeai.producers.text.common`).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from fakeai.errors import ConfigError
from fakeai.producers.text.common import content_text, stop_sequences
from fakeai.producers.text.text import Completion
from fakeai.producers.text.tokenizer import Tokenizer
from fakeai.producers.text.tools import ToolCall, function_tools

if TYPE_CHECKING:
    from fakeai.config import Settings
    from fakeai.context import RequestContext
    from fakeai.producers.bindings import Binding

__all__ = [
    "BackendRequest",
    "Selection",
    "TextBackend",
    "chat_request",
    "completion_request",
    "cut_at_stop",
    "load_backend",
    "messages_request",
    "real_calls",
    "response_format_schema",
    "responses_request",
    "sampling",
]

EXTRA_HINT = "pip install 'fakeai-server[llm]'"
BACKENDS = {"llamacpp": "fakeai.producers.text.llamacpp:LlamaCppBackend"}  # name -> import string


@dataclass(frozen=True, slots=True)
class BackendRequest:
    """One completion asked of a real model."""

    messages: Sequence[Mapping[str, Any]]  # chat messages ({"role", "content"}); a plain prompt is one user message
    max_tokens: int | None  # None: until the model stops (or its context is full)
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    stop: tuple[str, ...] = ()
    schema: Mapping[str, Any] | None = None  # constrain the output to JSON valid against it (a grammar)
    tools: Sequence[Mapping[str, Any]] = ()  # function definitions the chat template may show the model
    raw_prompt: str | None = None  # legacy completions: the prompt as is, no chat template
    cut_stop: bool = True  # False: end at a stop sequence but keep it in the text (the caller learns which one)


class TextBackend(Protocol):
    """What a producer asks of a real model. Methods block; they are safe to call from several threads."""

    @property
    def name(self) -> str: ...

    @property
    def tokenizer(self) -> Tokenizer: ...  # the model's own: usage and token pieces come from it

    def complete(self, request: BackendRequest) -> Completion: ...

    def count_prompt(self, request: BackendRequest) -> int: ...  # tokens of the prompt the model would read


@dataclass(frozen=True, slots=True)
class Selection:
    """The loaded backend and the model globs it answers (compiled once)."""

    backend: TextBackend | None = None
    models: re.Pattern[str] = field(default_factory=lambda: re.compile("(?!)"))

    @classmethod
    def from_settings(cls, settings: Settings, backend: TextBackend | None) -> Selection:
        globs = [fnmatch.translate(g.lower()) for g in settings.backend_models] or ["(?!)"]
        return cls(backend, re.compile("|".join(f"(?:{g})" for g in globs)))

    def for_model(self, model: str) -> TextBackend | None:
        if self.backend is None or self.models.match(model.lower()) is None:
            return None
        return self.backend

    def offload(self, ctx: RequestContext) -> bool:
        """Whether the backend may answer ``ctx`` (its produce stage then runs in a worker thread)."""
        return self.backend is not None and self.models.match((ctx.model or "").lower()) is not None


def sampling(body: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """``temperature`` (0 when the request gives none: reproducible), ``top_p`` and the seed of a request."""
    temperature = body.get("temperature")
    top_p = body.get("top_p")
    return {
        "temperature": float(temperature) if isinstance(temperature, (int, float)) else 0.0,
        "top_p": float(top_p) if isinstance(top_p, (int, float)) and 0 < top_p <= 1 else 1.0,
        "seed": seed & 0x7FFFFFFF,
    }


_lock = threading.Lock()
_loaded: dict[tuple[str, str], TextBackend] = {}  # one model instance per process and file


def load_backend(settings: Settings) -> TextBackend | None:
    """The backend ``settings`` ask for, loaded once per process (ConfigError with the fix when it cannot be)."""
    if settings.model_backend is None:
        return None
    if settings.model_backend not in BACKENDS:
        raise ConfigError(f"model_backend must be one of {', '.join(BACKENDS)}; got {settings.model_backend!r}")
    assert settings.model_path is not None  # Settings.check
    key = (settings.model_backend, settings.model_path)
    with _lock:
        found = _loaded.get(key)
        if found is None:
            module, _, name = BACKENDS[settings.model_backend].partition(":")
            found = _loaded[key] = getattr(importlib.import_module(module), name).from_path(settings.model_path)
        return found


# --- what the producers ask: request bodies -> BackendRequest ------------------------------------------------


def chat_request(
    body: Mapping[str, Any], seed: int, max_tokens: int | None, messages: Any = None, schema: Any = None
) -> BackendRequest:
    """A chat-shaped request (chat ``messages``, or Responses ``input`` turned into messages by the caller)."""
    chat = messages if messages is not None else body.get("messages")
    return BackendRequest(
        messages=[m for m in chat if isinstance(m, Mapping)] if isinstance(chat, list) else [],
        max_tokens=max_tokens,
        stop=stop_sequences(body),
        schema=schema,
        tools=function_tools(body.get("tools")),
        **sampling(body, seed),
    )


def response_format_schema(fmt: Any) -> Mapping[str, Any] | None:
    """The JSON schema a chat ``response_format`` (or a Responses ``text.format``) asks for; None for text."""
    if not isinstance(fmt, Mapping):
        return None
    if fmt.get("type") == "json_object":
        return {"type": "object"}
    if fmt.get("type") != "json_schema":
        return None
    spec = fmt.get("json_schema", fmt)  # chat nests it; Responses' text.format is flat
    schema = spec.get("schema") if isinstance(spec, Mapping) else None
    return schema if isinstance(schema, Mapping) and schema else {"type": "object"}


def real_calls(
    backend: TextBackend, request: BackendRequest, calls: Sequence[ToolCall], functions: Sequence[Mapping[str, Any]]
) -> tuple[ToolCall, ...]:
    """``calls`` (fakeai's tool-choice policy picked the functions) with arguments the model writes, constrained
    to each function's ``parameters`` by a grammar."""
    by_name = {f["name"]: f for f in functions}
    written = []
    for call in calls:
        function = by_name.get(call.name, {})
        parameters = function.get("parameters")
        schema = parameters if isinstance(parameters, Mapping) and parameters else {"type": "object"}
        instruction = {
            "role": "system",
            "content": f"Call the function {call.name!r} ({function.get('description') or 'no description'}). "
            f"Answer with its arguments only, as JSON valid against: {orjson.dumps(schema).decode()}",
        }
        asked = dataclasses.replace(request, messages=[instruction, *request.messages], schema=schema, stop=())
        written.append(dataclasses.replace(call, arguments=backend.complete(asked).text.strip()))
    return tuple(written)


def responses_request(body: Mapping[str, Any], seed: int, max_tokens: int | None) -> BackendRequest:
    """A Responses request as chat messages: ``instructions`` as the system message, then the ``input`` items
    (function calls and their outputs as assistant and tool turns); ``text.format`` JSON as the grammar."""
    messages: list[Mapping[str, Any]] = []
    instructions, source = body.get("instructions"), body.get("input")
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "system", "content": instructions})
    for item in source if isinstance(source, list) else [{"role": "user", "content": source or ""}]:
        if not isinstance(item, Mapping):
            continue
        if item.get("type") == "function_call":
            messages.append({"role": "assistant", "content": f"{item.get('name')}({item.get('arguments')})"})
        elif item.get("type") == "function_call_output":
            messages.append({"role": "tool", "content": str(item.get("output", ""))})
        elif isinstance(item.get("role"), str):
            messages.append(item)
    text = body.get("text")
    tools = body.get("tools")
    functions = [
        {"type": "function", "function": tool}
        for tool in (tools if isinstance(tools, list) else ())
        if isinstance(tool, Mapping) and tool.get("type") == "function"
    ]
    chat = {**body, "tools": functions}
    schema = response_format_schema(text.get("format")) if isinstance(text, Mapping) else None
    return chat_request(chat, seed, max_tokens, messages, schema)


def completion_request(body: Mapping[str, Any], prompt: str, seed: int, max_tokens: int | None) -> BackendRequest:
    """A legacy completions prompt, continued as is (no chat template)."""
    return BackendRequest(messages=(), max_tokens=max_tokens, stop=stop_sequences(body), raw_prompt=prompt,
                          **sampling(body, seed))  # fmt: skip


def messages_request(
    body: Mapping[str, Any], seed: int, max_tokens: int | None, binding: Binding | None = None
) -> BackendRequest:
    """An Anthropic Messages request as chat messages: ``system`` as the system message, then each turn's text
    (``tool_use`` blocks as the assistant's ``name(input)``, ``tool_result`` blocks as tool turns, thinking and
    images left out); custom tools as function definitions (``input_schema`` as their ``parameters``). The
    request keeps a stop sequence it ends on (``cut_stop=False``): Messages reports which one."""

    def name(role: str) -> str:
        return binding.name_of(role) if binding is not None else role

    messages: list[Mapping[str, Any]] = []
    system = content_text(body.get(name("system")))
    if system:
        messages.append({"role": "system", "content": system})
    turns = body.get(name("messages"))
    for turn in turns if isinstance(turns, list) else ():
        if isinstance(turn, Mapping):
            messages.extend(_chat_turns(turn))
    tools = body.get(name("tools"))
    functions = [
        {"name": tool["name"], "description": tool.get("description") or "", "parameters": tool.get("input_schema")}
        for tool in (tools if isinstance(tools, list) else ())
        if isinstance(tool, Mapping) and isinstance(tool.get("name"), str) and tool.get("type") in (None, "custom")
    ]
    stop = body.get(name("stop"))
    stops = tuple(s for s in stop if isinstance(s, str) and s) if isinstance(stop, list) else ()
    return BackendRequest(
        messages=messages, max_tokens=max_tokens, stop=stops, tools=functions, cut_stop=False, **sampling(body, seed)
    )


def _chat_turns(turn: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """One Messages turn as chat messages: its text, its tool calls (assistant), its tool results (tool turns)."""
    role = "assistant" if turn.get("role") == "assistant" else "user"
    content = turn.get("content")
    if not isinstance(content, list):
        return [{"role": role, "content": content if isinstance(content, str) else ""}]
    texts: list[str] = []
    results: list[Mapping[str, Any]] = []
    for block in content:
        kind = block.get("type") if isinstance(block, Mapping) else None
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "tool_use":
            texts.append(f"{block.get('name')}({orjson.dumps(block.get('input') or {}).decode()})")
        elif kind == "tool_result":
            results.append({"role": "tool", "content": content_text(block.get("content"))})
    return [*results, {"role": role, "content": "\n".join(texts)}] if texts or not results else results


def cut_at_stop(completion: Completion, stop: Sequence[str]) -> tuple[Completion, str | None]:
    """``completion`` up to the earliest stop sequence (a token straddling it keeps its text before it), and that
    sequence; unchanged and None when no stop sequence occurs."""
    text = completion.text
    found = sorted((at, i) for i, s in enumerate(stop) if s and (at := text.find(s)) >= 0)
    if not found:
        return completion, None
    cut, end = found[0][0], 0
    pieces, ids = completion.tokens, completion.token_ids
    for i, piece in enumerate(pieces):
        if end + len(piece) > cut:
            head = piece[: cut - end]
            kept = (*pieces[:i], head) if head else pieces[:i]
            ids = ids[: len(kept)]
            return Completion("".join(kept), kept, ids, "stop"), stop[found[0][1]]
        end += len(piece)
    return dataclasses.replace(completion, finish_reason="stop"), stop[found[0][1]]
