"""A scripted answer (``content`` / ``tool_calls`` / ``json`` / ``refusal``) handed to the operation's LLM producer.

The producers render a :class:`~fakeai.producers.text.script.Script` exactly like generated content
(ids, ``n`` choices, logprobs, reasoning tokens, usage, ``max_tokens``, streaming), so the scenario
package keeps no wire format of its own. Which operation takes which keys is its binding's ``scripted:``
(``spec/bindings/*.yaml``, :func:`fakeai.producers.bindings.scripted_keys`: Anthropic's ``messages_post``,
Azure's ``ChatCompletions_Create``, OpenAI's ``createChatCompletion`` ...); anything else answers 500 (a scenario
mistake ``fakeai check`` reports offline).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from fakeai.context import Output, RequestContext
from fakeai.errors import APIError
from fakeai.producers.bindings import scripted_keys
from fakeai.producers.text.script import Script

__all__ = ["SCRIPTABLE", "ProduceScripted", "scripted_output"]

ProduceScripted = Callable[[RequestContext, Script], "Output | None"]  # CompiledOperation.produce_scripted
_ALL = frozenset({"content", "tool_calls", "json", "refusal"})
# What spec/bindings/openai.yaml declares for the OpenAI document, kept for callers that branch on it
# (fakeai/scenario/respond.py); the keys an operation takes are its binding's (scripted_keys).
SCRIPTABLE: dict[str, frozenset[str]] = {
    "createChatCompletion": _ALL,
    "createResponse": _ALL,
    "createCompletion": frozenset({"content", "json"}),
}


def scripted_output(
    ctx: RequestContext, script: Script, keys: frozenset[str], where: str, produce: ProduceScripted | None
) -> Output:
    """The operation's producer renders the script; unsupported keys or operations answer 500."""
    allowed = scripted_keys(ctx.operation, tuple(getattr(ctx.settings, "bindings", ()) or ()))
    output = produce(ctx, script) if produce is not None and allowed and keys <= allowed else None
    if output is None:
        supported = f"it renders {'/'.join(sorted(allowed))}" if allowed else "its binding declares no scripted keys"
        raise APIError(
            500,
            f"fakeai scenario {where}: {'/'.join(sorted(keys)) or 'a scripted answer'} cannot answer "
            f"{ctx.operation_id} ({supported}); use 'body:'",
            type="server_error",
        )
    return replace(output, source="scenario")
