"""The llama.cpp backend (``--model-backend llamacpp``): a local GGUF model through llama-cpp-python.

One :class:`LlamaCppBackend` per process and file, loaded at startup by
:func:`fakeai.producers.text.backend.load_backend`; a lock queues requests to it (llama.cpp contexts are not
thread-safe). The prompt is the model's own chat template (GGUF ``tokenizer.chat_template``, else ChatML), so
usage counts the tokens the model really read and wrote. JSON output (tool arguments, structured outputs) is
constrained by a grammar compiled from the JSON schema (``LlamaGrammar.from_json_schema``, cached per schema).

llama-cpp-python has no type stubs; everything it returns is converted at this module's edge.
"""

from __future__ import annotations

import codecs
import hashlib
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from fakeai.errors import APIError, ConfigError
from fakeai.producers.text.backend import EXTRA_HINT, BackendRequest, cut_at_stop
from fakeai.producers.text.common import content_text
from fakeai.producers.text.text import Completion

__all__ = ["LlamaCppBackend", "LlamaTokenizer"]

MAX_CONTEXT = 4096  # tokens of KV cache at most (a model trained on 32k would take GBs of RAM for it)
GRAMMARS = 64  # compiled JSON-schema grammars kept
ENUMERATED = 1000  # a bounded integer range up to this wide is constrained as an enum of its values
_GGUF_MAGIC = b"GGUF"
# ChatML, for models whose GGUF carries no chat template
FALLBACK_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _import() -> Any:
    try:
        import llama_cpp
        import llama_cpp.llama_chat_format
        import llama_cpp.llama_grammar
    except ImportError as exc:
        raise ConfigError(f"model_backend llamacpp needs llama-cpp-python: {EXTRA_HINT} ({exc})") from None
    return llama_cpp


@dataclass(frozen=True, slots=True)
class LlamaTokenizer:
    """The model's vocabulary behind fakeai's :class:`~fakeai.producers.text.tokenizer.Tokenizer` protocol."""

    name: str
    llama: Any  # llama_cpp.Llama

    def encode(self, text: str) -> list[int]:
        return [int(t) for t in self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)]

    def decode(self, ids: Sequence[int]) -> str:
        return bytes(self.llama.detokenize(list(ids))).decode("utf-8", errors="replace")

    def token_bytes(self, token_id: int) -> bytes:
        return bytes(self.llama.detokenize([token_id]))

    def count(self, text: str) -> int:
        return len(self.encode(text))

    def split(self, text: str) -> tuple[tuple[int, ...], tuple[str, ...]]:
        ids = self.encode(text)
        pieces = pieces_of(self, ids)
        joined = "".join(pieces)
        if joined != text:  # SentencePiece vocabularies prefix a space the text did not have
            extra = len(joined) - len(text) if joined.endswith(text) else -1
            if extra < 0:
                return tuple(ids), tuple([""] * (len(ids) - 1) + [text]) if ids else ()
            trimmed = []
            for piece in pieces:
                cut = min(extra, len(piece))
                trimmed.append(piece[cut:])
                extra -= cut
            pieces = trimmed
        return tuple(ids), tuple(pieces)


def pieces_of(tokenizer: LlamaTokenizer, ids: Sequence[int]) -> list[str]:
    """One text piece per token; a character spread over several tokens goes to the one completing it."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pieces = [decoder.decode(tokenizer.token_bytes(token)) for token in ids]
    if pieces:
        pieces[-1] += decoder.decode(b"", final=True)
    return pieces


class LlamaCppBackend:
    """A GGUF model loaded once; :meth:`complete` runs one request at a time (the others wait on the lock)."""

    def __init__(self, path: str, llama: Any, llama_cpp: Any) -> None:
        self.path = path
        self.llama = llama
        self._lib = llama_cpp
        self._tokenizer = LlamaTokenizer(f"gguf:{os.path.abspath(path)}", llama)
        self._lock = threading.Lock()
        self._grammars: OrderedDict[bytes, Any] = OrderedDict()
        metadata: Mapping[str, str] = llama.metadata or {}
        eos, bos = llama.token_eos(), llama.token_bos()
        self._format = llama_cpp.llama_chat_format.Jinja2ChatFormatter(
            template=metadata.get("tokenizer.chat_template") or FALLBACK_TEMPLATE,
            eos_token=llama._model.token_get_text(eos) if eos != -1 else "",
            bos_token=llama._model.token_get_text(bos) if bos != -1 else "",
        )
        self.context = int(llama.n_ctx())

    @classmethod
    def from_path(cls, path: str) -> LlamaCppBackend:
        """Load ``path``; every problem is a ConfigError naming the file (raised at startup, never mid-request)."""
        llama_cpp = _import()
        try:
            with open(path, "rb") as file:
                magic = file.read(4)
        except OSError as exc:
            raise ConfigError(f"model_path: cannot read {path}: {exc.strerror}") from None
        if magic != _GGUF_MAGIC:
            raise ConfigError(f"model_path: {path} is not a GGUF file (it starts with {magic!r}, not b'GGUF')")
        try:
            probe = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)  # reads the metadata only
            metadata: Mapping[str, str] = probe.metadata or {}
            trained = int(metadata.get(f"{metadata.get('general.architecture')}.context_length") or 0)
            del probe
            llama = llama_cpp.Llama(
                model_path=path,
                n_ctx=min(trained, MAX_CONTEXT) if trained > 0 else MAX_CONTEXT,
                n_threads=max(1, (os.cpu_count() or 2)),
                seed=0,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:  # llama-cpp-python: "Failed to load model from file"
            raise ConfigError(f"model_path: llama.cpp cannot load {path}: {exc}") from None
        return cls(path, llama, llama_cpp)

    @property
    def name(self) -> str:
        return f"llamacpp:{os.path.basename(self.path)}"

    @property
    def tokenizer(self) -> LlamaTokenizer:
        return self._tokenizer

    def count_prompt(self, request: BackendRequest) -> int:
        return len(self._prompt_ids(request))

    def complete(self, request: BackendRequest) -> Completion:
        prompt = self._prompt_ids(request)
        room = self.context - len(prompt)
        if room <= 0:
            raise APIError(
                400,
                f"This model's maximum context length is {self.context} tokens. However, your messages resulted in "
                f"{len(prompt)} tokens. Please reduce the length of the messages.",
                param="messages",
                code="context_length_exceeded",
            )
        limit = room if request.max_tokens is None else min(request.max_tokens, room)
        grammar = self._grammar(request.schema) if request.schema is not None else None
        ids: list[int] = []
        finish = "length"
        with self._lock:
            self.llama.set_seed(request.seed)
            if limit > 0:
                for token in self.llama.generate(
                    prompt, temp=request.temperature, top_p=request.top_p, top_k=40, min_p=0.05,
                    repeat_penalty=1.0, grammar=grammar, reset=True,
                ):  # fmt: skip
                    if self._lib.llama_vocab_is_eog(self.llama._model.vocab, token):
                        finish = "stop"
                        break
                    ids.append(int(token))
                    if request.stop and _stopped(self._tokenizer, ids, request.stop):
                        finish = "stop"
                        break
                    if len(ids) >= limit:
                        break
        pieces = pieces_of(self._tokenizer, ids)
        completion = Completion("".join(pieces), tuple(pieces), tuple(ids), finish)
        if request.stop and request.cut_stop:
            completion = cut_at_stop(completion, request.stop)[0]
        return completion

    def _prompt_ids(self, request: BackendRequest) -> list[int]:
        if request.raw_prompt is not None:
            return [int(t) for t in self.llama.tokenize(request.raw_prompt.encode("utf-8"), add_bos=True)]
        tools = [{"type": "function", "function": dict(t)} for t in request.tools] or None
        try:
            formatted = self._format(messages=[_message(m) for m in request.messages], tools=tools)
        except Exception as exc:  # a template's raise_exception (e.g. roles must alternate): the request's fault
            raise APIError(400, f"the model's chat template rejects these messages: {exc}", param="messages") from None
        text: str = formatted.prompt
        return [int(t) for t in self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=True)]

    def _grammar(self, schema: Mapping[str, Any]) -> Any:
        raw = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
        key = hashlib.blake2b(raw, digest_size=16).digest()
        with self._lock:
            found = self._grammars.get(key)
            if found is not None:
                self._grammars.move_to_end(key)
                return found
        try:
            text = orjson.dumps(_bounded(schema), option=orjson.OPT_NON_STR_KEYS).decode()
            grammar = self._lib.llama_grammar.LlamaGrammar.from_json_schema(text, verbose=False)
        except (ValueError, KeyError, TypeError, RecursionError, NotImplementedError) as exc:
            raise APIError(400, f"Invalid schema for a grammar: {exc}", param="response_format") from None
        with self._lock:
            self._grammars[key] = grammar
            while len(self._grammars) > GRAMMARS:
                self._grammars.popitem(last=False)
        return grammar


def _bounded(node: Any) -> Any:
    """``schema`` with each bounded integer range of at most :data:`ENUMERATED` values as an ``enum``:
    llama-cpp-python's grammar converter ignores ``minimum``/``maximum`` (numbers stay unbounded)."""
    if isinstance(node, list):
        return [_bounded(item) for item in node]
    if not isinstance(node, Mapping):
        return node
    if node.get("type") == "integer" and "enum" not in node:
        low, high = node.get("minimum"), node.get("maximum")
        low = node["exclusiveMinimum"] + 1 if isinstance(node.get("exclusiveMinimum"), int) else low
        high = node["exclusiveMaximum"] - 1 if isinstance(node.get("exclusiveMaximum"), int) else high
        if isinstance(low, (int, float)) and isinstance(high, (int, float)) and 0 <= high - low < ENUMERATED:
            return {"enum": list(range(math.ceil(low), math.floor(high) + 1))}
    return {key: _bounded(value) for key, value in node.items()}


def _message(message: Mapping[str, Any]) -> dict[str, str]:
    """A chat message as templates expect it: a role and a string content (tool calls as their JSON)."""
    role = str(message.get("role") or "user")
    content = content_text(message.get("content"))
    calls = message.get("tool_calls")
    if not content and isinstance(calls, list) and calls:
        content = orjson.dumps([c.get("function") for c in calls if isinstance(c, Mapping)]).decode()
    return {"role": "system" if role == "developer" else role, "content": content}


def _stopped(tokenizer: LlamaTokenizer, ids: Sequence[int], stop: Sequence[str]) -> bool:
    tail = tokenizer.decode(ids[-32:])  # a stop sequence ends in the newest tokens
    return any(s and s in tail for s in stop)
