"""The check stage (``--validate-responses log|strict``): every body and SSE frame against the spec.

A violation is logged, counted (:class:`~fakeai.events.ResponseInvalid`) and kept for tests; the answer
still goes out (``strict`` makes tests fail on the collected violations, not the client's request).
"""

from __future__ import annotations

import logging
from typing import Any

from fakeai.context import Output
from fakeai.events import Events, ResponseInvalid
from fakeai.operations import CompiledOperation
from fakeai.spec.validate import Validators, all_errors

log = logging.getLogger("fakeai")


class ResponseCheck:
    def __init__(self, document: dict[str, Any], events: Events) -> None:
        self.validators = Validators(document)
        self.events = events
        self.violations: list[ResponseInvalid] = []

    def __call__(self, op: CompiledOperation, output: Output) -> Output:
        problems = problems_of(self.validators, op, output)
        if problems:
            event = ResponseInvalid(op.operation.operation_id, problems[0], tuple(problems[1:]))
            self.violations.append(event)
            self.events.emit(event)
            log.error("response for %s violates the spec at %s: %s", event.operation_id, event.where, event.problems)
        return output


def problems_of(validators: Validators, op: CompiledOperation, output: Output) -> list[str]:
    """``[where, problem...]`` or ``[]``. Errors, and faults that break the spec on purpose, are not checked."""
    if output.status >= 400 or output.source == "error" or getattr(output.fault, "skip_check", False):
        return []
    if output.frames is not None:
        # no stream schema (legacy createCompletion): its chunks share the JSON response's shape
        media = op.operation.stream_response or op.operation.json_response
        if media is None:
            return ["stream", f"{op.operation.operation_id} has no text/event-stream response in the spec"]
        validator = validators.for_pointer(media.pointer)
        for index, frame in enumerate(output.frames):
            if not frame.validate or validator.is_valid(frame.data):
                continue
            # the Assistants stream schemas describe each event as the pair {event, data} (AssistantStreamEvent)
            if frame.event is None or not validator.is_valid({"event": frame.event, "data": frame.data}):
                return [f"frame {index}", *all_errors(validator, frame.data)]
        return []
    media = op.operation.json_response
    if media is None or not output.content_type.startswith("application/json"):
        return []
    validator = validators.for_pointer(media.pointer)
    if validator.is_valid(output.body):
        return []
    return ["body", *all_errors(validator, output.body)]
