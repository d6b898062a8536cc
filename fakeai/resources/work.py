"""Real work behind lifecycles (``work: <name>`` on a state in spec/resources/*.yaml).

A state with work holds until its work has run. The resource model asks for it with an ``Effect("work")``;
the pipeline's simulate stage runs it with a :class:`~fakeai.pipeline.Runner`, which answers requests fakeai
makes itself through the same producers, scenarios and self-check as a client's. Work reads the store and
returns effects (never writes): the updated record (with its state's name in ``meta["worked"]``) and the
objects it made (output files, messages).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson

from fakeai.context import Effect
from fakeai.ids import new_id
from fakeai.plugins import Registry
from fakeai.resources.model import WORKED
from fakeai.store import Record, ResourceStore

if TYPE_CHECKING:
    from fakeai.pipeline import Runner

Work = Callable[["Runner", ResourceStore, str, Effect, float], Sequence[Effect]]
WORK: Registry[Work] = Registry("work")
work = WORK.register

MAX_BATCH_LINES = 50_000  # OpenAI's limit per batch
INLINE_WORK = ("fine_tune", "upload_complete")  # work that only reads the store: run while answering (no runner needed)


def stable_rng(*parts: str) -> random.Random:
    """A generator seeded by names (ids of what a work made follow from the ids it worked on)."""
    digest = hashlib.blake2b("\x00".join(parts).encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def done(record: Record, body: dict[str, Any], state: str, now: float, **meta: Any) -> Record:
    """The record after its state's work, done at ``now``: the state's own duration counts from here (the
    work happened when a read found the state due, so later timestamps never precede what it made)."""
    worked = (*record.meta.get(WORKED, ()), state)
    return replace(record, body=body, meta={**record.meta, WORKED: worked, "since": now, **meta})


def file_record(ident: str, name: str, purpose: str, data: bytes, now: float) -> Record:
    body = {
        "id": ident,
        "object": "file",
        "bytes": len(data),
        "created_at": int(now),
        "filename": name,
        "purpose": purpose,
        "status": "processed",
    }
    return Record(body, data)


@work("batch")
def run_batch(runner: Runner, store: ResourceStore, namespace: str, effect: Effect, now: float) -> list[Effect]:
    """Every line of the input file through the operation its ``url`` names: an output file with each
    answer (``custom_id``, ``response.status_code``, ``response.body``), an error file for lines that could
    not run, and exact ``request_counts``. A missing input file fails the batch."""
    record: Record = effect.record
    batch = dict(record.body)
    state = str(batch.get("status"))
    source = store.get(namespace, "file", str(batch.get("input_file_id", "")))
    if source is None:
        batch.update(status="failed", failed_at=int(now), request_counts={"total": 0, "completed": 0, "failed": 0})
        message = f"The input file {batch.get('input_file_id')} does not exist."
        error = {"code": "invalid_input_file", "message": message, "param": "input_file_id", "line": None}
        batch["errors"] = {"object": "list", "data": [error]}
        return [Effect("put", effect.kind, effect.id, done(record, batch, state, now))]
    rng = stable_rng(str(batch.get("id")), "lines")
    outputs: list[bytes] = []
    errors: list[bytes] = []
    completed = failed = 0
    lines = [line for line in source.data.splitlines() if line.strip()][:MAX_BATCH_LINES]
    endpoint = str(batch.get("endpoint", ""))
    for number, line in enumerate(lines, start=1):
        line_id = new_id(rng, "batch_req_", 32)
        try:
            request = orjson.loads(line)
        except orjson.JSONDecodeError:
            request = None
        problem = _line_problem(request, endpoint, number)
        custom_id = request.get("custom_id") if isinstance(request, dict) else None
        if problem is not None:
            failed += 1
            error = {"code": "invalid_request", "message": problem}
            errors.append(orjson.dumps({"id": line_id, "custom_id": custom_id, "response": None, "error": error}))
            continue
        assert isinstance(request, dict)
        body = {k: v for k, v in (request.get("body") or {}).items() if k not in ("stream", "stream_options")}
        answer = runner.run_internal(namespace, "POST", str(request["url"]), body, now)
        response = {"status_code": answer.status, "request_id": answer.request_id, "body": answer.body}
        outputs.append(orjson.dumps({"id": line_id, "custom_id": custom_id, "response": response, "error": None}))
        if answer.status < 400:
            completed += 1
        else:
            failed += 1
    batch_id = str(batch.get("id"))
    effects: list[Effect] = []
    files = stable_rng(batch_id, "files")
    for kind, rows in (("output", outputs), ("error", errors)):
        ident = new_id(files, "file-", 22)
        if rows:
            data = b"\n".join(rows) + b"\n"
            effects.append(
                Effect("put", "file", ident, file_record(ident, f"{batch_id}_{kind}.jsonl", "batch_output", data, now))
            )
            batch[f"{kind}_file_id"] = ident
    batch["request_counts"] = {"total": len(lines), "completed": completed, "failed": failed}
    effects.insert(0, Effect("put", effect.kind, effect.id, done(record, batch, state, now, counted=True)))
    return effects


def _line_problem(request: Any, endpoint: str, number: int) -> str | None:
    if not isinstance(request, dict):
        return f"Line {number} is not a JSON object."
    for name in ("custom_id", "method", "url"):
        if not isinstance(request.get(name), str):
            return f"Line {number} is missing the required string field '{name}'."
    if request["method"].upper() != "POST":
        return f"Line {number}: only POST requests can be batched, got {request['method']}."
    url = request["url"].split("?")[0]
    if endpoint and url != endpoint and "/v1" + url != endpoint:
        return f"Line {number}: the url {url} does not match the batch's endpoint {endpoint}."
    if not isinstance(request.get("body", {}), dict):
        return f"Line {number}: 'body' must be a JSON object."
    return None


# -- assistants runs ------------------------------------------------------------------------------------
@work("assistant_run")
def run_assistant(runner: Runner, store: ResourceStore, namespace: str, effect: Effect, now: float) -> list[Effect]:
    """One turn of an assistant on a thread, answered by the chat operation (scenarios apply): function tools
    -> ``requires_action`` with the tool calls; ``submit_tool_outputs`` -> the answer that uses them; the reply
    is a message in the thread and a ``message_creation`` run step, the run's ``usage`` is the chat usage."""
    record: Record = effect.record
    run = dict(record.body)
    state = str(run.get("status"))
    thread_id, run_id = str(run.get("thread_id")), str(run.get("id"))
    assistant = store.get(namespace, "assistant", str(run.get("assistant_id", "")))
    settings = assistant.body if assistant is not None else {}
    model = run.get("model") or settings.get("model") or "gpt-4o"
    instructions = run.get("instructions") or settings.get("instructions")
    tools = [t for t in (run.get("tools") or settings.get("tools") or []) if isinstance(t, dict)]
    functions = [{"type": "function", "function": t["function"]} for t in tools if t.get("type") == "function"]
    messages: list[dict[str, Any]] = [{"role": "system", "content": instructions}] if instructions else []
    for _key, earlier in sorted(
        ((k, m) for k, m in store.entries(namespace, "thread.message") if k.startswith(thread_id + "/")),
        key=lambda item: item[1].meta.get("since", 0.0),
    ):
        text = message_text(earlier.body)
        if text:
            messages.append({"role": str(earlier.body.get("role", "user")), "content": text})
    submitted = record.meta.get("action:submit_tool_outputs") or {}
    calls = record.meta.get("tool_calls") or []
    request: dict[str, Any] = {"model": model, "messages": messages}
    if calls and submitted:
        outputs = {o.get("tool_call_id"): o.get("output", "") for o in submitted.get("tool_outputs") or []}
        messages.append({"role": "assistant", "content": None, "tool_calls": calls})
        messages.extend(
            {"role": "tool", "tool_call_id": c["id"], "content": str(outputs.get(c["id"], ""))} for c in calls
        )
    elif functions and run.get("tool_choice") != "none":
        request.update(tools=functions, tool_choice="required")
    answer = runner.run_internal(namespace, "POST", "/chat/completions", request, now)
    body = answer.body if isinstance(answer.body, dict) else {}
    if answer.status >= 400 or not body.get("choices"):
        error = (body.get("error") or {}) if isinstance(body, dict) else {}
        run.update(status="failed", failed_at=int(now), required_action=None)
        run["last_error"] = {"code": "server_error", "message": str(error.get("message", "The model call failed."))}
        return [Effect("put", effect.kind, effect.id, done(record, run, state, now))]
    reply = body["choices"][0]["message"]
    usage = body.get("usage") or {}
    run_usage = {k: int(usage.get(k, 0)) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
    if reply.get("tool_calls") and not submitted:
        calls = [{"id": c["id"], "type": "function", "function": c["function"]} for c in reply["tool_calls"]]
        step_id = new_id(stable_rng(run_id, "tool_calls", str(len(messages))), "step_", 24)
        pending = [{**c, "function": {**c["function"], "output": None}} for c in calls]
        step = run_step(run, step_id, {"type": "tool_calls", "tool_calls": pending}, now, False, None)
        run.update(status="requires_action", usage=None)
        run["required_action"] = {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": calls}}
        key = f"{thread_id}/{run_id}/{step_id}"
        meta = {"tool_calls": calls, "tool_step": key, "tool_usage": run_usage}
        return [
            Effect("put", effect.kind, effect.id, done(record, run, state, now, **meta)),
            Effect("put", "thread.run.step", key, Record(step, meta={"since": now})),
        ]
    effects = []
    tool_step = store.get(namespace, "thread.run.step", str(record.meta.get("tool_step", "")))
    if calls and submitted and tool_step is not None:  # the tool calls' step completes with their outputs
        outputs = {o.get("tool_call_id"): o.get("output", "") for o in submitted.get("tool_outputs") or []}
        answered = [{**c, "function": {**c["function"], "output": str(outputs.get(c["id"], ""))}} for c in calls]
        first = record.meta.get("tool_usage") or {}
        details = {"type": "tool_calls", "tool_calls": answered}
        step = {
            **tool_step.body,
            "status": "completed",
            "completed_at": int(now),
            "usage": first,
            "step_details": details,
        }
        effects.append(Effect("put", "thread.run.step", str(record.meta["tool_step"]), replace(tool_step, body=step)))
        run_usage = {k: v + int(first.get(k, 0)) for k, v in run_usage.items()}  # the run counts both model calls
    rng = stable_rng(run_id, str(len(messages)))
    message_id, step_id = new_id(rng, "msg_", 24), new_id(rng, "step_", 24)
    message: dict[str, Any] = {
        "id": message_id,
        "object": "thread.message",
        "created_at": int(now),
        "thread_id": thread_id,
        "status": "completed",
        "incomplete_details": None,
        "completed_at": int(now),
        "incomplete_at": None,
        "role": "assistant",
        "content": [{"type": "text", "text": {"value": str(reply.get("content") or ""), "annotations": []}}],
        "assistant_id": run.get("assistant_id"),
        "run_id": run_id,
        "attachments": [],
        "metadata": {},
    }
    creation = {"type": "message_creation", "message_creation": {"message_id": message_id}}
    step = run_step(run, step_id, creation, now, True, run_usage)
    run.update(usage=run_usage, required_action=None)
    parents = {"thread_id": thread_id}
    return [
        Effect("put", effect.kind, effect.id, done(record, run, state, now)),
        *effects,
        Effect(
            "put",
            "thread.run.step",
            f"{thread_id}/{run_id}/{step_id}",
            Record(step, meta={"since": now}),
        ),
        Effect(
            "put",
            "thread.message",
            f"{thread_id}/{message_id}",
            Record(message, meta={"since": now, "parents": parents}),
        ),
    ]


def run_step(
    run: dict[str, Any], ident: str, details: dict[str, Any], now: float, completed: bool, usage: dict[str, int] | None
) -> dict[str, Any]:
    """A run step of ``run`` made at ``now`` (``message_creation`` or ``tool_calls``): completed then, or in
    progress (a tool-calls step, until its outputs are submitted)."""
    return {
        "id": ident,
        "object": "thread.run.step",
        "created_at": int(now),
        "assistant_id": run.get("assistant_id"),
        "thread_id": run.get("thread_id"),
        "run_id": run.get("id"),
        "type": details["type"],
        "status": "completed" if completed else "in_progress",
        "step_details": details,
        "last_error": None,
        "expired_at": None,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": int(now) if completed else None,
        "metadata": {},
        "usage": usage,
    }


def message_text(message: dict[str, Any]) -> str:
    """The text of an Assistants message (its text parts joined)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    parts = []
    for part in content if isinstance(content, list) else ():
        text = part.get("text") if isinstance(part, dict) else None
        value = text.get("value") if isinstance(text, dict) else text
        if isinstance(value, str):
            parts.append(value)
    return "\n".join(parts)


# -- fine-tuning ----------------------------------------------------------------------------------------
@work("fine_tune")
def run_fine_tune(runner: Runner, store: ResourceStore, namespace: str, effect: Effect, now: float) -> list[Effect]:
    """A succeeded job's trail: events from validation to success, one checkpoint per epoch, a metrics
    result file, ``trained_tokens`` from the training file, and the fine-tuned model itself (kind ``model``:
    models.list/retrieve show it, chat accepts it). A missing training file fails the job instead."""
    record: Record = effect.record
    job = dict(record.body)
    state = str(job.get("status"))
    job_id = str(job.get("id"))
    training = store.get(namespace, "file", str(job.get("training_file", "")))
    created = int(job.get("created_at") or now)
    rng = stable_rng(job_id, "trail")
    events: list[tuple[int, str, str, dict[str, Any] | None]] = [(created, "info", "Validating training file.", None)]
    if training is None:
        message = f"Training file {job.get('training_file')} not found."
        job.update(status="failed", fine_tuned_model=None, trained_tokens=None)
        job["error"] = {"code": "invalid_training_file", "message": message, "param": "training_file"}
        events.append((int(now), "error", message, None))
        return [Effect("put", effect.kind, effect.id, done(record, job, state, now)), *_events(job_id, events, rng)]
    examples = [line for line in training.data.splitlines() if line.strip()]
    given = job.get("hyperparameters")
    hyper: dict[str, Any] = dict(given) if isinstance(given, dict) else {}
    epochs: int = hyper["n_epochs"] if isinstance(hyper.get("n_epochs"), int) else 3
    per_epoch = max(1, len(training.data) // 4)  # ~4 bytes per token
    job["trained_tokens"] = per_epoch * epochs
    job["hyperparameters"] = {**hyper, "n_epochs": epochs}
    finished = int(now)
    span = max(1, finished - created)
    events.append((created + span // 10, "info", f"Files validated, {len(examples)} examples.", None))
    events.append((created + span // 5, "info", "Fine-tuning job started.", None))
    effects: list[Effect] = []
    model = str(job.get("fine_tuned_model") or f"ft:{job.get('model')}:fakeai::{job_id}")
    steps = max(1, len(examples))
    rows = ["step,train_loss,train_accuracy"]
    for epoch in range(1, epochs + 1):
        at = created + span // 5 + (span * 7 // 10) * epoch // epochs
        step = steps * epoch
        loss = round(2.0 / (1 + epoch) + rng.random() * 0.05, 4)
        metrics = {"step": step, "train_loss": loss, "train_mean_token_accuracy": round(1 - loss / 3, 4)}
        events.append((at, "info", f"Step {step}/{steps * epochs}: training loss={loss}", {"step": step, **metrics}))
        rows.append(f"{step},{loss},{metrics['train_mean_token_accuracy']}")
        ident = new_id(rng, "ftckpt_", 24)
        checkpoint = {
            "id": ident,
            "object": "fine_tuning.job.checkpoint",
            "created_at": at,
            "fine_tuning_job_id": job_id,
            "fine_tuned_model_checkpoint": f"{model}:ckpt-step-{step}",
            "step_number": step,
            "metrics": metrics,
        }
        effects.append(Effect("put", "fine_tuning.job.checkpoint", f"{job_id}/{ident}", Record(checkpoint)))
    results = new_id(stable_rng(job_id, "results"), "file-", 22)
    data = ("\n".join(rows) + "\n").encode()
    effects.append(
        Effect("put", "file", results, file_record(results, "step_metrics.csv", "fine-tune-results", data, now))
    )
    job["result_files"] = [results]
    events.append((finished, "info", f"New fine-tuned model created: {model}", None))
    events.append((finished, "info", "The job has successfully completed", None))
    body = {"id": model, "object": "model", "created": finished, "owned_by": "user-fakeai"}
    effects.append(Effect("put", "model", model, Record(body)))
    return [
        Effect("put", effect.kind, effect.id, done(record, job, state, now)),
        *effects,
        *_events(job_id, events, rng),
    ]


def _events(job_id: str, events: list[tuple[int, str, str, dict[str, Any] | None]], rng: random.Random) -> list[Effect]:
    made = []
    for at, level, message, data in events:
        ident = new_id(rng, "ftevent-", 24)
        body: dict[str, Any] = {
            "id": ident,
            "object": "fine_tuning.job.event",
            "created_at": at,
            "level": level,
            "message": message,
            "type": "metrics" if data else "message",
        }
        if data:
            body["data"] = data
        made.append(Effect("put", "fine_tuning.job.event", f"{job_id}/{ident}", Record(body)))
    return made


# -- uploads ----------------------------------------------------------------------------------------
@work("upload_complete")
def complete_upload(runner: Runner, store: ResourceStore, namespace: str, effect: Effect, now: float) -> list[Effect]:
    """``uploads.complete``: the parts in the order given become one File (the upload's ``file``). Bytes that
    do not add up to the upload's declared size, or an unknown part, fail like OpenAI's 400."""
    from fakeai.errors import APIError

    record: Record = effect.record
    upload = dict(record.body)
    upload_id = str(upload.get("id"))
    request = record.meta.get("action:complete") or {}
    given = request.get("part_ids")
    part_ids: list[Any] = given if isinstance(given, list) else []
    chunks = []
    for part_id in part_ids:
        part = store.get(namespace, "upload.part", f"{upload_id}/{part_id}")
        if part is None:
            raise APIError(400, f"Part {part_id} was not found in upload {upload_id}.", param="part_ids")
        chunks.append(part.data)
    data = b"".join(chunks)
    if isinstance(upload.get("bytes"), int) and len(data) != upload["bytes"]:
        message = f"The upload was created with {upload['bytes']} bytes, but the parts add up to {len(data)} bytes."
        raise APIError(400, message, param="part_ids")
    ident = new_id(stable_rng(upload_id, "file"), "file-", 22)
    made = file_record(ident, str(upload.get("filename", "file")), str(upload.get("purpose", "user_data")), data, now)
    upload["file"] = made.body
    return [
        Effect("put", effect.kind, effect.id, done(record, upload, str(upload.get("status")), now)),
        Effect("put", "file", ident, made),
    ]


# -- Anthropic message batches --------------------------------------------------------------------------
@work("message_batch")
def run_message_batch(runner: Runner, store: ResourceStore, namespace: str, effect: Effect, now: float) -> list[Effect]:
    """Every request of an Anthropic message batch through messages.create; the results JSONL (one line per
    ``custom_id``: ``succeeded`` with the message, or ``errored`` with the error) is the batch's content."""
    record: Record = effect.record
    batch = dict(record.body)
    requests = (record.meta.get("request") or {}).get("requests") or []
    lines = []
    counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    for request in requests:
        custom_id = request.get("custom_id") if isinstance(request, dict) else None
        params = request.get("params") if isinstance(request, dict) else None
        if not isinstance(params, dict):
            params = {}
        body = {k: v for k, v in params.items() if k != "stream"}
        answer = runner.run_internal(namespace, "POST", "/v1/messages", body, now)
        if answer.status < 400:
            result: dict[str, Any] = {"type": "succeeded", "message": answer.body}
            counts["succeeded"] += 1
        else:
            error = answer.body if isinstance(answer.body, dict) else {}
            result = {"type": "errored", "error": {"type": "error", "error": error.get("error", error)}}
            counts["errored"] += 1
        lines.append(orjson.dumps({"custom_id": custom_id, "result": result}))
    batch["request_counts"] = counts
    data = b"\n".join(lines) + (b"\n" if lines else b"")
    updated = replace(done(record, batch, str(batch.get("processing_status")), now, counted=True), data=data)
    return [Effect("put", effect.kind, effect.id, updated)]


# -- evals ----------------------------------------------------------------------------------------------
_TEMPLATE = re.compile(r"\{\{\s*(item|sample)\.([\w.]+)\s*\}\}")


def render_template(text: Any, item: dict[str, Any], sample: dict[str, Any]) -> str:
    """``{{item.question}}`` / ``{{sample.output_text}}`` references filled from the item and the sample."""

    def value(match: re.Match[str]) -> str:
        found: Any = item if match.group(1) == "item" else sample
        for part in match.group(2).split("."):
            found = found.get(part) if isinstance(found, dict) else None
        return "" if found is None else str(found)

    return _TEMPLATE.sub(value, text) if isinstance(text, str) else ""


def _items(store: ResourceStore, namespace: str, source: dict[str, Any]) -> list[dict[str, Any]]:
    if source.get("type") == "file_content":
        return [c for c in source.get("content") or [] if isinstance(c, dict)]
    if source.get("type") == "file_id":
        record = store.get(namespace, "file", str(source.get("id", "")))
        rows = []
        for line in (record.data if record else b"").splitlines():
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(row, dict):
                rows.append(row)
        return rows
    return []


def grade(criterion: dict[str, Any], item: dict[str, Any], sample: dict[str, Any]) -> tuple[bool, float] | None:
    """string_check and text_similarity graded for real; other graders (model or python) are not: None."""
    kind = criterion.get("type")
    given = render_template(criterion.get("input"), item, sample)
    reference = render_template(criterion.get("reference"), item, sample)
    if kind == "string_check":
        operation = criterion.get("operation")
        checks = {
            "eq": given == reference,
            "ne": given != reference,
            "like": reference in given,
            "ilike": reference.lower() in given.lower(),
        }
        passed = checks.get(str(operation), False)
        return passed, 1.0 if passed else 0.0
    if kind == "text_similarity":
        import difflib

        score = difflib.SequenceMatcher(None, given, reference).ratio()
        threshold = criterion.get("pass_threshold")
        return score >= (threshold if isinstance(threshold, (int, float)) else 0.5), round(score, 4)
    return None


@work("eval_run")
def run_eval(runner: Runner, store: ResourceStore, namespace: str, effect: Effect, now: float) -> list[Effect]:
    """An eval run: every data-source item sampled (``completions``: the template through the chat operation;
    ``jsonl``: the item's own ``sample``), graded by the eval's testing criteria (string_check, text_similarity),
    one output item each, and counts that add up."""
    record: Record = effect.record
    run = dict(record.body)
    eval_id, run_id = str(run.get("eval_id")), str(run.get("id"))
    evaluation = store.get(namespace, "eval", eval_id)
    criteria = [
        c for c in (evaluation.body.get("testing_criteria") if evaluation else None) or [] if isinstance(c, dict)
    ]
    source_config = run.get("data_source") if isinstance(run.get("data_source"), dict) else {}
    assert isinstance(source_config, dict)
    source = source_config.get("source") if isinstance(source_config.get("source"), dict) else {}
    assert isinstance(source, dict)
    rng = stable_rng(run_id, "items")
    usage = {"invocation_count": 0, "prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "cached_tokens": 0}
    model = str(source_config.get("model") or run.get("model") or "gpt-4o-mini")
    counts = {"total": 0, "errored": 0, "failed": 0, "passed": 0}
    per_criterion = {str(c.get("name", i)): {"passed": 0, "failed": 0} for i, c in enumerate(criteria)}
    effects: list[Effect] = []
    for index, row in enumerate(_items(store, namespace, source)[:10_000]):
        item = row.get("item") if isinstance(row.get("item"), dict) else row
        assert isinstance(item, dict)
        given = row.get("sample")
        sample: dict[str, Any] = dict(given) if isinstance(given, dict) else {}
        status = "pass"
        if source_config.get("type") == "completions":
            template = (source_config.get("input_messages") or {}).get("template") or []
            messages = [
                {"role": str(m.get("role", "user")), "content": render_template(m.get("content"), item, {})}
                for m in template
                if isinstance(m, dict)
            ]
            params = (
                source_config.get("sampling_params") if isinstance(source_config.get("sampling_params"), dict) else {}
            )
            body = {
                "model": model,
                "messages": messages,
                **{
                    k: v
                    for k, v in (params or {}).items()
                    if k in ("temperature", "max_completion_tokens", "top_p", "seed")
                },
            }
            answer = runner.run_internal(namespace, "POST", "/chat/completions", body, now)
            reply = answer.body if isinstance(answer.body, dict) else {}
            if answer.status >= 400 or not reply.get("choices"):
                status = "error"
            else:
                text = str(reply["choices"][0]["message"].get("content") or "")
                tokens = reply.get("usage") or {}
                usage["invocation_count"] += 1
                for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
                    usage[name] += int(tokens.get(name, 0))
                sample = {
                    "input": messages,
                    "output": [{"role": "assistant", "content": text}],
                    "output_text": text,
                    "model": model,
                    "finish_reason": reply["choices"][0].get("finish_reason", "stop"),
                    "usage": tokens,
                    "error": None,
                    "temperature": 1.0,
                    "top_p": 1.0,
                    "seed": 0,
                    "max_completion_tokens": 0,
                }
        results = []
        for i, criterion in enumerate(criteria):
            graded = grade(criterion, item, sample) if status != "error" else None
            name = str(criterion.get("name", i))
            if graded is None:
                if status != "error":
                    status = "error"  # a grader fakeai cannot run (model or python graders): not a pass
                continue
            passed, score = graded
            results.append(
                {"name": name, "type": str(criterion.get("type")), "score": score, "passed": passed, "sample": None}
            )
            per_criterion[name]["passed" if passed else "failed"] += 1
            if not passed and status == "pass":
                status = "fail"
        counts["total"] += 1
        counts[{"pass": "passed", "fail": "failed", "error": "errored"}[status]] += 1
        ident = new_id(rng, "outputitem_", 24)
        output_sample = {
            "input": sample.get("input", []),
            "output": sample.get("output", []),
            "finish_reason": sample.get("finish_reason", "stop"),
            "model": model,
            "usage": {"total_tokens": 0, "completion_tokens": 0, "prompt_tokens": 0, "cached_tokens": 0},
            "error": {"code": "", "message": ""},
            "temperature": 1.0,
            "max_completion_tokens": 0,
            "top_p": 1.0,
            "seed": 0,
        }
        out = {
            "object": "eval.run.output_item",
            "id": ident,
            "run_id": run_id,
            "eval_id": eval_id,
            "created_at": int(now),
            "status": status,
            "datasource_item_id": index,
            "datasource_item": item,
            "results": results,
            "sample": output_sample,
        }
        effects.append(Effect("put", "eval.run.output_item", f"{eval_id}/{run_id}/{ident}", Record(out)))
    run["result_counts"] = counts
    run["per_testing_criteria_results"] = [{"testing_criteria": k, **v} for k, v in per_criterion.items()]
    run["per_model_usage"] = [{"model_name": model, **usage}] if usage["invocation_count"] else []
    return [Effect("put", effect.kind, effect.id, done(record, run, str(run.get("status")), now)), *effects]
