"""A Messages answer as Anthropic's server-sent events, in its exact grammar::

    message_start                          the message with empty content, stop_reason null
    content_block_start   (per block)      the block, empty: text "", thinking "" + signature "", tool_use input {}
    ping                  (once, after the first content_block_start)
    content_block_delta   (per chunk)      text_delta | thinking_delta (then one signature_delta) | input_json_delta
    content_block_stop    (per block)
    message_delta                          stop_reason, stop_sequence, usage (output_tokens: the final count)
    message_stop

Every frame has its SSE ``event:`` name set to its ``type``. Frames carry the output tokens they stream
(a tool call's name + framing on its start frame), so latency simulators pace exactly ``output_tokens``.
The Anthropic spec declares no ``text/event-stream`` response, so frames are self-checked only when the
document (or an overlay) declares one; the tests check every frame against ``MessageStreamEvent``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fakeai.context import Frame

if TYPE_CHECKING:
    from fakeai.producers.text.messages import Block, Turn

__all__ = ["frames"]

_DELTA = {
    "text": ("text_delta", "text"),
    "thinking": ("thinking_delta", "thinking"),
    "tool_use": ("input_json_delta", "partial_json"),
}


def frames(message: Mapping[str, Any], turn: Turn, per_chunk: int, validate: bool = True) -> list[Frame]:
    usage = message["usage"]
    out: list[Frame] = []

    def emit(data: dict[str, Any], tokens: int = 0, checked: bool = validate) -> None:
        out.append(Frame(data, data["type"], checked, tokens))

    start_usage = {**usage, "output_tokens": min(1, usage["output_tokens"])}
    emit({"type": "message_start", "message": {**message, "content": [], "stop_reason": None,
                                               "stop_sequence": None, "usage": start_usage}})  # fmt: skip
    for index, block in enumerate(turn.blocks):
        head = block.tokens - len(block.pieces)  # a tool call's name + framing
        emit({"type": "content_block_start", "index": index, "content_block": _empty(block)}, head)
        if index == 0:
            emit({"type": "ping"}, checked=False)  # not a MessageStreamEvent in the spec
        _deltas(emit, index, block, per_chunk)
        if block.type == "thinking":
            emit({"type": "content_block_delta", "index": index,
                  "delta": {"type": "signature_delta", "signature": block.signature}})  # fmt: skip
        emit({"type": "content_block_stop", "index": index})
    if not turn.blocks:
        emit({"type": "ping"}, checked=False)
    emit(
        {
            "type": "message_delta",
            "delta": {"stop_reason": turn.stop_reason, "stop_sequence": turn.stop_sequence, "stop_details": None,
                      "container": None},
            "usage": {
                "input_tokens": usage["input_tokens"],
                "output_tokens": usage["output_tokens"],
                "cache_creation_input_tokens": usage["cache_creation_input_tokens"],
                "cache_read_input_tokens": usage["cache_read_input_tokens"],
                "output_tokens_details": usage["output_tokens_details"],
                "server_tool_use": None,
            },
        }
    )  # fmt: skip
    emit({"type": "message_stop"})
    return out


def _empty(block: Block) -> dict[str, Any]:
    if block.type == "text":
        return {"type": "text", "text": "", "citations": None}
    if block.type == "thinking":
        return {"type": "thinking", "thinking": "", "signature": ""}
    return {"type": "tool_use", "id": block.id, "name": block.name, "input": {}, "caller": {"type": "direct"}}


def _deltas(emit: Any, index: int, block: Block, per_chunk: int) -> None:
    kind, key = _DELTA[block.type]
    pieces: Sequence[str] = block.pieces
    for at in range(0, len(pieces), per_chunk):
        group = pieces[at : at + per_chunk]
        emit({"type": "content_block_delta", "index": index, "delta": {"type": kind, key: "".join(group)}}, len(group))
