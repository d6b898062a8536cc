"""A scripted model answer: what a scenario rule (or any caller) wants the model to say.

The LLM producers accept a :class:`Script` in place of generated content
(``ChatProducer.produce_scripted``, ``ResponsesProducer.produce_scripted``,
``CompletionsProducer.produce_scripted``) and render it in their own wire format, exactly like
generated text: ids, fingerprint, ``n`` choices, logprobs, reasoning tokens of reasoning models,
usage counted with the model's tokenizer, streaming in ``tokens_per_chunk`` deltas.

What the producers keep from the model simulation and what they take from the script:

* the visible answer (content, tool calls, refusal) is the script's, never ``response_format``,
  ``tools``/``tool_choice``, the text mode or stop sequences;
* ``max_tokens`` / ``max_completion_tokens`` / ``max_output_tokens`` still cut scripted text at
  exactly that many tokens (finish_reason ``length`` / status ``incomplete``), as they would cut a
  model; tool-call arguments are cut only where the producer cuts generated ones (Responses);
* structured outputs are scripted as ``content`` holding JSON text.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from fakeai.producers.text.text import Completion, LengthSpec, generate
from fakeai.producers.text.tokenizer import Tokenizer
from fakeai.producers.text.tools import ToolCall

__all__ = ["Script", "ToolCall", "scripted_text"]

_UNUSED = LengthSpec(mean=1, stddev=0, minimum=0, maximum=1)  # fixed text never draws a length


@dataclass(frozen=True, slots=True)
class Script:
    """A scripted answer. ``finish_reason`` None: ``tool_calls`` with calls, else ``stop``
    (``length`` when a token limit cut the text)."""

    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    refusal: str | None = None
    finish_reason: str | None = None

    def finish(self, cut: bool) -> str:
        if cut:
            return "length"
        return self.finish_reason or ("tool_calls" if self.tool_calls else "stop")


def scripted_text(text: str, tokenizer: Tokenizer, max_tokens: int | None) -> Completion:
    """``text`` cut into the tokenizer's pieces, at most ``max_tokens`` of them (then finish_reason ``length``)."""
    return generate(
        mode="fixed", rng=random.Random(0), tokenizer=tokenizer, max_tokens=max_tokens, length=_UNUSED, fixed_text=text
    )
