"""A scripted answer (``content`` / ``tool_calls`` / ``json`` / ``refusal``) handed to the operation's LLM producer.

The producers render a :class:`~fakeai.producers.text.script.Script` exactly like generated content
(ids, ``n`` choices, logprobs, reasoning tokens, usage, ``max_tokens``, streaming), so the scenario
package keeps no wire format of its own. :data:`SCRIPTABLE` says which operation takes which keys;
anything else answers 500 (a scenario mistake ``fakeai check`` reports offline).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from fakeai.context import Output, RequestContext
from fakeai.errors import APIError
from fakeai.producers.text.script import Script

__all__ = ["SCRIPTABLE", "ProduceScripted", "scripted_output"]

ProduceScripted = Callable[[RequestContext, Script], "Output | None"]  # CompiledOperation.produce_scripted
_ALL = frozenset({"content", "tool_calls", "json", "refusal"})
SCRIPTABLE: dict[str, frozenset[str]] = {
    "createChatCompletion": _ALL,
    "createResponse": _ALL,
    "createCompletion": frozenset({"content", "json"}),
}


def scripted_output(
    ctx: RequestContext, script: Script, keys: frozenset[str], where: str, produce: ProduceScripted | None
) -> Output:
    """The operation's producer renders the script; unsupported keys or operations answer 500."""
    allowed = SCRIPTABLE.get(ctx.operation_id)
    output = produce(ctx, script) if produce is not None and allowed is not None and keys <= allowed else None
    if output is None:
        supported = "; ".join(f"{op}: {'/'.join(sorted(k))}" for op, k in sorted(SCRIPTABLE.items()))
        raise APIError(
            500,
            f"fakeai scenario {where}: {'/'.join(sorted(keys)) or 'a scripted answer'} cannot answer "
            f"{ctx.operation_id} (scripted answers: {supported}); use 'body:'",
            type="server_error",
        )
    return replace(output, source="scenario")
