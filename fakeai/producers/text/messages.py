"""Anthropic's Messages API answered like a model (behaviours ``messages`` and ``count_tokens``).

Content comes from the same text generator, tokenizer and per-request RNG streams as the chat producer
(:mod:`fakeai.producers.text.common`): identical requests give identical answers, streamed or not, and
``x-fakeai-seed`` / ``Prefer: seed`` reseed them. The request fields are the binding's
(``spec/bindings/anthropic.yaml``: ``max_tokens``, ``stop_sequences``, ...).

* ``system`` and every message count towards ``usage.input_tokens`` (:func:`count_input`, the same count
  ``count_tokens`` answers); ``output_tokens`` is exactly the tokens of the blocks (a tool call costs its name,
  its input JSON and :data:`TOKENS_PER_CALL`).
* ``thinking: {type: enabled, budget_tokens}`` (or ``adaptive``) adds a ``thinking`` block first, at most
  ``budget_tokens`` long; ``max_tokens`` bounds thinking and text together, as Anthropic's does.
* ``max_tokens`` cuts the text (``stop_reason: max_tokens``); a stop sequence ends it before the sequence
  (``stop_reason: stop_sequence`` and ``stop_sequence``), else ``end_turn``.
* Tools: ``tool_choice`` ``any`` / ``tool`` always call, ``none`` never, ``auto`` calls unless the last user
  turn carries ``tool_result`` blocks; inputs are valid against each tool's ``input_schema``
  (:mod:`fakeai.producers.text.tools`). ``stop_reason: tool_use``.
* Prompt caching: with ``cache_control`` in the request, the prompt up to the last breakpoint is cacheable
  (:func:`~fakeai.producers.text.messages_count.cacheable_prefix`); of it ``cache_read_input_tokens`` is what the
  prompt cache (``kv_cache``) holds and, for a prefix of at least :data:`MIN_CACHEABLE` tokens, the rest is written
  (``cache_creation_input_tokens``); ``input_tokens`` is what is neither (the tokens after the last breakpoint
  included). Without a breakpoint both are 0.
* A real model (``--model-backend``, :mod:`fakeai.producers.text.backend`) for the models it answers: it writes
  the text from ``system`` + ``messages`` in its chat template
  (:func:`~fakeai.producers.text.backend.messages_request`), and each ``tool_use`` input under the tool's
  ``input_schema`` grammar (the tool-choice policy above still picks whether and which tool); ``max_tokens`` and
  ``stop_sequences`` end it as above; usage counts its tokenizer's tokens (the templated prompt, the tokens
  written; ``count_tokens`` answers the same). Thinking blocks stay synthetic.
:meth:`MessagesProducer.produce_scripted` renders a scenario's scripted content / tool calls the same way.
"""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from fakeai.context import Output, RequestContext
from fakeai.errors import APIError
from fakeai.ids import new_id
from fakeai.producers.base import CompileEnv, Producer
from fakeai.producers.bindings import Binding, binding_for, env_files
from fakeai.producers.text.arguments import user_texts
from fakeai.producers.text.backend import cut_at_stop, messages_request, real_calls
from fakeai.producers.text.common import Generation, GenerationConfig, last_user_text
from fakeai.producers.text.messages_count import cacheable_prefix, count_input
from fakeai.producers.text.script import Script, scripted_text
from fakeai.producers.text.text import Completion, generate
from fakeai.producers.text.tools import ToolCall, plan_calls
from fakeai.spec.operation import Operation

__all__ = [
    "Block",
    "CountTokensProducer",
    "MessagesProducer",
    "Turn",
    "count_input",
    "count_tokens_factory",
    "factory",
    "input_tokens",
    "message_body",
]

TOKENS_PER_CALL = 3  # framing around a tool call's name and input (as the chat producer counts it)
MIN_CACHEABLE = 1024  # Anthropic caches prompts of at least this many tokens
_THINKING_STREAM = 10_000  # RNG stream of the thinking text (the chat producer's reasoning offset)
_STOP_REASONS = frozenset({"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"})
_FINISH = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}


@dataclass(frozen=True, slots=True)
class Block:
    """One content block: ``text``, ``thinking`` or ``tool_use``, as token pieces (streamed as deltas)."""

    type: str
    pieces: tuple[str, ...]  # text / thinking text / the tool input's JSON
    tokens: int  # output tokens it costs
    id: str = ""
    name: str = ""
    signature: str = ""

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def body(self) -> dict[str, Any]:
        if self.type == "text":
            return {"type": "text", "text": self.text, "citations": None}
        if self.type == "thinking":
            return {"type": "thinking", "thinking": self.text, "signature": self.signature}
        return {
            "type": "tool_use",
            "id": self.id,
            "name": self.name,
            "input": orjson.loads(self.text or "{}"),
            "caller": {"type": "direct"},
        }


@dataclass(frozen=True, slots=True)
class Turn:
    """The assistant's answer: blocks in order and why it stopped."""

    blocks: tuple[Block, ...]
    stop_reason: str
    stop_sequence: str | None
    thinking_tokens: int

    @property
    def output_tokens(self) -> int:
        return sum(block.tokens for block in self.blocks)


class MessagesProducer:
    source = "llm"

    def __init__(self, config: GenerationConfig, binding: Binding) -> None:
        self.config = config
        self.binding = binding
        self.fields = {role: binding.name_of(role) for role in ("messages", "max_tokens", "stop", "stream")}

    def produce(self, ctx: RequestContext) -> Output | None:
        body = ctx.body if isinstance(ctx.body, dict) else None
        if body is None or not isinstance(body.get(self.fields["messages"]), list):
            return None
        if not body[self.fields["messages"]] and ctx.settings.validation == "strict":
            raise APIError(400, f"{self.fields['messages']}: at least one message is required")
        return self._answer(ctx, body, None)

    def produce_scripted(self, ctx: RequestContext, script: Script) -> Output:
        """A scenario's scripted content / tool calls in place of generated ones (thinking still simulated)."""
        return self._answer(ctx, ctx.body if isinstance(ctx.body, dict) else {}, script)

    def _answer(self, ctx: RequestContext, body: Mapping[str, Any], script: Script | None) -> Output:
        gen = self.config.for_request(ctx)
        turn = self.turn(ctx, gen, body, script)
        usage = self.usage(ctx, gen, body, turn)
        message = message_body(new_id(ctx.rng, "msg_01", 22), gen.model, turn, usage)
        if body.get(self.fields["stream"]) is True:
            from fakeai.producers.text.messages_stream import frames

            validate = ctx.operation.stream_response is not None  # the spec declares the event stream
            return Output(
                frames=frames(message, turn, gen.tokens_per_chunk, validate),
                content_type="text/event-stream",
                source="llm",
            )
        return Output(body=message, source="llm", completion_tokens=turn.output_tokens)

    # ---- the answer ------------------------------------------------------------------------------
    def turn(self, ctx: RequestContext, gen: Generation, body: Mapping[str, Any], script: Script | None) -> Turn:
        limit = _max_tokens(body.get(self.fields["max_tokens"]))
        blocks: list[Block] = []
        thinking = self._thinking(gen, body, limit)
        if thinking is not None:
            blocks.append(thinking)
            limit = None if limit is None else max(0, limit - thinking.tokens)
        rng = gen.rng(0)
        stop_sequence: str | None = None
        if script is not None:
            calls = tuple(_anthropic_call(call) for call in script.tool_calls)
            text = scripted_text(script.content, gen.tokenizer, limit) if script.content is not None else None
            cut = text is not None and text.finish_reason == "length"
            reason = "max_tokens" if cut else _stop_reason(script.finish_reason, bool(calls))
        else:
            said = user_texts(body.get(self.fields["messages"]))  # tool arguments from the user's words
            planned = plan_calls(self._tool_body(body), rng, ctx.now, said)
            if planned and gen.backend is not None:  # the real model writes the inputs (fakeai's policy picked)
                asked = messages_request(body, rng.getrandbits(31), limit, self.binding)
                planned = real_calls(gen.backend, asked, planned, asked.tools)
            calls = tuple(_anthropic_call(call) for call in planned)
            text = None
            reason = "tool_use"
            if not calls:
                text, stop_sequence = self._text(gen, body, rng, limit)
                reason = "stop_sequence" if stop_sequence is not None else _FINISH[text.finish_reason]
        if text is not None and (text.tokens or not calls):
            blocks.append(Block("text", text.tokens, len(text.tokens)))
        for call in calls:
            pieces = gen.tokenizer.split(call.arguments)[1]
            cost = len(pieces) + gen.tokenizer.count(call.name) + TOKENS_PER_CALL
            blocks.append(Block("tool_use", pieces, cost, id=call.id, name=call.name))
        return Turn(tuple(blocks), reason, stop_sequence, thinking.tokens if thinking is not None else 0)

    def _text(
        self, gen: Generation, body: Mapping[str, Any], rng: random.Random, limit: int | None
    ) -> tuple[Completion, str | None]:
        """The reply text and the stop sequence that ended it (None: it ended on its own or was cut)."""
        if gen.backend is not None:
            asked = messages_request(body, rng.getrandbits(31), limit, self.binding)
            return cut_at_stop(gen.backend.complete(asked), asked.stop)
        stops = _stops(body.get(self.fields["stop"]))
        messages = body.get(self.fields["messages"])
        state = rng.getstate()
        text = generate(
            mode=gen.mode, rng=rng, tokenizer=gen.tokenizer, max_tokens=limit, length=gen.length,
            prompt_text=last_user_text(messages) if gen.mode == "echo" else "", fixed_text=gen.fixed_text,
            ignore_eos=gen.ignore_eos,
        )  # fmt: skip
        found = sorted((text.text.find(s), i) for i, s in enumerate(stops) if s in text.text)
        if not found:
            return text, None
        rng.setstate(state)  # the same draws, now cut before the earliest stop sequence
        cut = generate(
            mode=gen.mode, rng=rng, tokenizer=gen.tokenizer, max_tokens=limit, length=gen.length,
            prompt_text=last_user_text(messages) if gen.mode == "echo" else "", fixed_text=gen.fixed_text,
            ignore_eos=gen.ignore_eos, stop=stops,
        )  # fmt: skip
        return cut, stops[found[0][1]]

    def _thinking(self, gen: Generation, body: Mapping[str, Any], limit: int | None) -> Block | None:
        config = body.get(self.binding.name_of("thinking"))
        kind = config.get("type") if isinstance(config, Mapping) else None
        if kind not in ("enabled", "adaptive"):
            return None
        rng = gen.rng(_THINKING_STREAM)
        budget = config.get("budget_tokens") if isinstance(config, Mapping) else None
        length = 2 * gen.length.draw(rng)
        length = min(length, budget) if isinstance(budget, int) and budget > 0 else length
        length = min(length, limit) if limit is not None else length
        text = generate(
            mode="lorem", rng=rng, tokenizer=gen.tokenizer, max_tokens=length, length=gen.length, ignore_eos=True
        )
        digest = hashlib.blake2b(f"{gen.seed}\0{text.text}".encode(), digest_size=48).digest()
        return Block("thinking", text.tokens, len(text.tokens), signature=base64.b64encode(digest).decode())

    def _tool_body(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The request's custom tools and ``tool_choice`` in the shape the chat tool planner reads."""
        tools = body.get(self.binding.name_of("tools"))
        functions = [
            {"type": "function", "function": {"name": tool["name"], "parameters": tool.get("input_schema")}}
            for tool in (tools if isinstance(tools, list) else ())
            if isinstance(tool, Mapping) and isinstance(tool.get("name"), str) and tool.get("type") in (None, "custom")
        ]
        choice = body.get(self.binding.name_of("tool_choice"))
        choice = choice if isinstance(choice, Mapping) else {"type": "auto"}
        kind = choice.get("type")
        mapped: Any = {"any": "required", "none": "none"}.get(str(kind), "auto")
        if kind == "tool":
            mapped = {"type": "function", "function": {"name": choice.get("name")}}
        return {
            "tools": functions,
            "tool_choice": mapped,
            "parallel_tool_calls": choice.get("disable_parallel_tool_use") is not True,
            "messages": [{"role": _last_role(body.get(self.fields["messages"]))}],
        }

    def usage(self, ctx: RequestContext, gen: Generation, body: Mapping[str, Any], turn: Turn) -> dict[str, Any]:
        total = input_tokens(gen, body, self.binding)
        read = creation = 0
        prefix = cacheable_prefix(body, self.binding)
        if prefix is not None:
            try:
                cacheable = min(total, input_tokens(gen, prefix, self.binding))
            except APIError:  # a real model's chat template may reject a part of a prompt (e.g. tools only)
                cacheable = 0
            if cacheable >= MIN_CACHEABLE:  # shorter prefixes are never cached
                read = min(gen.cached_prompt_tokens(total), cacheable)
                creation = cacheable - read
        return {
            "input_tokens": total - read - creation,
            "output_tokens": turn.output_tokens,
            "cache_creation_input_tokens": creation,
            "cache_read_input_tokens": read,
            "cache_creation": {"ephemeral_5m_input_tokens": creation, "ephemeral_1h_input_tokens": 0},
            "output_tokens_details": {"thinking_tokens": turn.thinking_tokens},
            "server_tool_use": None,
            "service_tier": "standard",
            "inference_geo": None,
        }


def message_body(message_id: str, model: str, turn: Turn, usage: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "content": [block.body() for block in turn.blocks],
        "model": model,
        "stop_reason": turn.stop_reason,
        "stop_sequence": turn.stop_sequence,
        "stop_details": None,
        "usage": dict(usage),
        "container": None,
    }


class CountTokensProducer:
    """``POST /v1/messages/count_tokens``: the input tokens ``messages.create`` reports for the same request."""

    source = "llm"

    def __init__(self, config: GenerationConfig, binding: Binding) -> None:
        self.config = config
        self.binding = binding

    def produce(self, ctx: RequestContext) -> Output | None:
        body = ctx.body if isinstance(ctx.body, dict) else None
        if body is None or not isinstance(body.get(self.binding.name_of("messages")), list):
            return None
        gen = self.config.for_request(ctx)
        return Output(body={"input_tokens": input_tokens(gen, body, self.binding)}, source="llm")


def input_tokens(gen: Generation, body: Mapping[str, Any], binding: Binding) -> int:
    """``usage.input_tokens`` before caching: the real model's templated prompt, else :func:`count_input`."""
    if gen.backend is not None:
        return gen.backend.count_prompt(messages_request(body, 0, None, binding))
    return count_input(body, gen.tokenizer, binding)


def _last_role(messages: Any) -> str:
    """The chat role the tool planner should see: a user turn of only ``tool_result`` blocks is a tool result."""
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], Mapping):
        return "user"
    last = messages[-1]
    content = last.get("content")
    results = isinstance(content, list) and any(
        isinstance(b, Mapping) and b.get("type") == "tool_result" for b in content
    )
    if last.get("role") == "user" and results:
        return "tool"
    return str(last.get("role", "user"))


def _anthropic_call(call: ToolCall) -> ToolCall:
    """``call_...`` ids as Anthropic's ``toolu_...``; input that is not a JSON object is wrapped in one."""
    ident = "".join(c for c in call.id.removeprefix("call_") if c.isalnum() or c in "_-") or "0"
    arguments = call.arguments
    try:
        parsed = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        arguments = orjson.dumps({"value": parsed if parsed is not None else arguments}).decode()
    return ToolCall(ident if ident.startswith("toolu_") else f"toolu_01{ident}", call.name, arguments)


def _stop_reason(finish: str | None, calls: bool) -> str:
    if finish in _STOP_REASONS:
        return finish
    if finish in _FINISH:
        return _FINISH[finish]
    return "tool_use" if calls else "end_turn"


def _max_tokens(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _stops(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,) if value else ()
    return tuple(s for s in value if isinstance(s, str) and s) if isinstance(value, Sequence) else ()


def _binding(operation: Operation, env: CompileEnv, behaviour: str) -> Binding:
    return binding_for(operation, env.document, env_files(env)) or Binding(behaviour)


def factory(operation: Operation, env: CompileEnv) -> Producer | None:
    return MessagesProducer(GenerationConfig.from_env(env), _binding(operation, env, "messages"))


def count_tokens_factory(operation: Operation, env: CompileEnv) -> Producer | None:
    return CountTokensProducer(GenerationConfig.from_env(env), _binding(operation, env, "count_tokens"))
