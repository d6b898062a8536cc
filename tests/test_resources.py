"""The declarative resource model through the official SDK: state that create, retrieve, list, update and
delete agree on, lifecycles that run on the injected clock, and 404s like OpenAI's."""

from __future__ import annotations

from typing import Any

import openai
import orjson
import pytest

from fakeai.app import FakeAI, create_app
from fakeai.clock import FakeClock
from fakeai.config import Settings
from fakeai.errors import ConfigError
from fakeai.resources.declare import load_file
from fakeai.resources.model import DERIVE
from fakeai.resources.producer import built_for
from fakeai.resources.run_stream import STREAMS
from fakeai.testing import async_client

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the Assistants API is deprecated


def chat_line(custom_id: str, text: str, **body: Any) -> dict[str, Any]:
    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], "max_tokens": 8, **body}
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": request}


def app_with(clock: FakeClock | None = None, **changes: Any) -> FakeAI:
    settings = Settings(validate_responses="strict").merge(changes, "test") if changes else None
    return create_app(settings or Settings(validate_responses="strict"), clock=clock)


@pytest.fixture(scope="module")
def app() -> FakeAI:
    return app_with(lifecycle_scale=0)


async def test_created_assistant_is_what_retrieve_list_update_and_delete_see(app: FakeAI) -> None:
    async with async_client(app, headers={"x-fakeai-namespace": "assistants"}) as client:
        made = await client.beta.assistants.create(model="gpt-4o", name="Tutor", instructions="Be brief.")
        other = await client.beta.assistants.create(model="gpt-4o-mini", name="Grader")
        assert made.id.startswith("asst_") and made.id != other.id
        assert (made.name, made.model, made.instructions) == ("Tutor", "gpt-4o", "Be brief.")
        assert await client.beta.assistants.retrieve(made.id) == made
        listed = [a.id for a in (await client.beta.assistants.list()).data]
        assert listed == [other.id, made.id]  # newest first: the spec's default order is desc
        assert [a.id for a in (await client.beta.assistants.list(order="asc", limit=1)).data] == [made.id]
        renamed = await client.beta.assistants.update(made.id, name="Math Tutor")
        assert renamed.name == "Math Tutor" and renamed.model == "gpt-4o"
        assert (await client.beta.assistants.retrieve(made.id)).name == "Math Tutor"
        gone = await client.beta.assistants.delete(made.id)
        assert gone.deleted and gone.id == made.id
        with pytest.raises(openai.NotFoundError) as caught:
            await client.beta.assistants.retrieve(made.id)
        assert caught.value.body["message"] == f"No assistant found with id '{made.id}'."  # type: ignore[index]
        assert [a.id for a in (await client.beta.assistants.list()).data] == [other.id]


async def test_pages_through_25_assistants_with_auto_pagination(app: FakeAI) -> None:
    async with async_client(app, headers={"x-fakeai-namespace": "paging"}) as client:
        made = [(await client.beta.assistants.create(model="gpt-4o", name=f"a{i}")).id for i in range(25)]
        page = await client.beta.assistants.list(limit=10, order="asc")
        assert page.has_more and [a.id for a in page.data] == made[:10]
        seen = [a.id async for a in client.beta.assistants.list(limit=10, order="asc")]
        assert seen == made
        before = await client.beta.assistants.list(before=made[5], order="asc")
        assert [a.id for a in before.data] == made[:5]


async def test_children_get_their_own_ids_and_stay_under_their_parent(app: FakeAI) -> None:
    async with async_client(app, headers={"x-fakeai-namespace": "threads"}) as client:
        first, second = await client.beta.threads.create(), await client.beta.threads.create()
        message = await client.beta.threads.messages.create(first.id, role="user", content="Hello")
        assert message.id.startswith("msg_") and message.thread_id == first.id
        assert [m.id for m in (await client.beta.threads.messages.list(first.id)).data] == [message.id]
        assert (await client.beta.threads.messages.list(second.id)).data == []
        assistant = await client.beta.assistants.create(model="gpt-4o")
        run = await client.beta.threads.runs.create(first.id, assistant_id=assistant.id)
        assert run.id.startswith("run_") and run.id != first.id and run.thread_id == first.id


async def test_unknown_ids_this_server_could_have_issued_are_404_placeholders_are_not(app: FakeAI) -> None:
    async with async_client(app, headers={"x-fakeai-namespace": "unknown"}) as client:
        with pytest.raises(openai.NotFoundError) as caught:
            await client.files.retrieve("file-AAAAAAAAAAAAAAAAAAAAAA")
        assert caught.value.body["message"] == "No such File object: file-AAAAAAAAAAAAAAAAAAAAAA"  # type: ignore[index]
        with pytest.raises(openai.NotFoundError):
            await client.batches.retrieve("batch_0123456789abcdef0123456789abcdef")
        placeholder = await client.files.retrieve("file_id")  # SDK test suites call endpoints like this
        assert placeholder.id == "file_id"
        assert (await client.files.list()).data == []  # nothing uploaded: nothing listed


async def test_strict_unknown_ids_are_always_404() -> None:
    async with async_client(app_with(unknown_ids="404")) as client:
        with pytest.raises(openai.NotFoundError):
            await client.files.retrieve("file_id")


async def test_deleted_file_is_gone() -> None:
    async with async_client(app_with()) as client:
        uploaded = await client.files.create(file=("notes.txt", b"alpha beta"), purpose="assistants")
        await client.files.delete(uploaded.id)
        with pytest.raises(openai.NotFoundError):
            await client.files.retrieve(uploaded.id)
        assert (await client.files.list()).data == []


async def test_batch_lifecycle_runs_on_the_clock_with_consistent_counts() -> None:
    clock = FakeClock()
    async with async_client(app_with(clock)) as client:
        lines = b"".join(orjson.dumps(chat_line(f"r{i}", f"Question {i}")) + b"\n" for i in range(5))
        source = await client.files.create(file=("in.jsonl", lines), purpose="batch")
        batch = await client.batches.create(
            input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        assert batch.status == "validating" and batch.completed_at is None and batch.output_file_id is None
        assert batch.request_counts is not None and batch.request_counts.total == 5
        assert batch.request_counts.completed == 0
        clock.elapsed += 1.5
        running = await client.batches.retrieve(batch.id)
        assert running.status == "in_progress" and running.in_progress_at == int(clock.start + 1)
        clock.elapsed += 10
        finalizing = await client.batches.retrieve(batch.id)  # this read finds it due: the lines run now
        assert finalizing.status == "finalizing" and finalizing.finalizing_at == int(clock.start + 3)
        clock.elapsed += 1
        done = await client.batches.retrieve(batch.id)
        assert done.status == "completed" and done.request_counts is not None
        assert (done.request_counts.total, done.request_counts.completed) == (5, 5)
        assert done.in_progress_at is not None and done.finalizing_at is not None and done.completed_at is not None
        assert done.created_at <= done.in_progress_at <= done.finalizing_at <= done.completed_at
        assert done.completed_at == int(clock.now())  # 1 s finalizing after the work ran (at the read)
        assert [b.status for b in (await client.batches.list()).data] == ["completed"]
        assert done.output_file_id is not None and done.error_file_id is None
        rows = [orjson.loads(r) for r in (await client.files.content(done.output_file_id)).read().splitlines()]
        assert [r["custom_id"] for r in rows] == [f"r{i}" for i in range(5)]
        assert all(r["response"]["status_code"] == 200 and r["error"] is None for r in rows)
        answers = [r["response"]["body"] for r in rows]
        assert all(a["object"] == "chat.completion" and a["usage"]["completion_tokens"] <= 8 for a in answers)
        single = await client.chat.completions.create(**chat_line("x", "Question 3")["body"])
        assert answers[3]["choices"][0]["message"]["content"] == single.choices[0].message.content  # same producer


async def test_batch_lines_that_fail_go_to_the_error_file_and_count_as_failed() -> None:
    async with async_client(app_with(lifecycle_scale=0)) as client:
        good = orjson.dumps(chat_line("ok", "Hello"))
        invalid = orjson.dumps({"custom_id": "no-model", "method": "POST", "url": "/v1/chat/completions", "body": {}})
        source = await client.files.create(file=("in.jsonl", good + b"\n{broken\n" + invalid + b"\n"), purpose="batch")
        batch = await client.batches.create(
            input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        done = await client.batches.retrieve(batch.id)  # lifecycle_scale 0: the work ran with the first answer
        assert done.status == "completed" and done.request_counts is not None
        assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (3, 1, 2)
        assert done.output_file_id is not None and done.error_file_id is not None
        output = [orjson.loads(r) for r in (await client.files.content(done.output_file_id)).read().splitlines()]
        assert [(r["custom_id"], r["response"]["status_code"]) for r in output] == [("ok", 200), ("no-model", 400)]
        assert output[1]["response"]["body"]["error"]["param"] == "model"
        errors = [orjson.loads(r) for r in (await client.files.content(done.error_file_id)).read().splitlines()]
        assert len(errors) == 1 and errors[0]["response"] is None and "line 2" in errors[0]["error"]["message"].lower()


async def test_batch_with_a_missing_input_file_fails() -> None:
    async with async_client(app_with(lifecycle_scale=0)) as client:
        batch = await client.batches.create(
            input_file_id="file-nothere", endpoint="/v1/chat/completions", completion_window="24h"
        )
        failed = await client.batches.retrieve(batch.id)
        assert failed.status == "failed" and failed.failed_at is not None and failed.errors is not None
        assert failed.errors.data is not None and failed.errors.data[0].param == "input_file_id"


async def test_batch_cancel_follows_the_declared_action() -> None:
    clock = FakeClock()
    async with async_client(app_with(clock)) as client:
        batch = await client.batches.create(
            input_file_id="file-x", endpoint="/v1/chat/completions", completion_window="24h"
        )
        cancelling = await client.batches.cancel(batch.id)
        assert cancelling.status == "cancelling" and cancelling.cancelling_at == int(clock.now())
        clock.elapsed += 2
        cancelled = await client.batches.retrieve(batch.id)
        assert cancelled.status == "cancelled"
        with pytest.raises(openai.BadRequestError) as caught:
            await client.batches.cancel(batch.id)
        assert "cancelled" in caught.value.message


async def test_fine_tuning_job_reaches_succeeded_with_a_usable_model() -> None:
    clock = FakeClock()
    async with async_client(app_with(clock, strict_models=True)) as client:
        lines = b"".join(
            orjson.dumps({"messages": [{"role": "user", "content": f"Q{i}"}, {"role": "assistant", "content": "A"}]})
            + b"\n"
            for i in range(10)
        )
        training = await client.files.create(file=("train.jsonl", lines), purpose="fine-tune")
        job = await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training.id)
        assert job.status == "validating_files" and job.fine_tuned_model is None and job.finished_at is None
        clock.elapsed += 60
        done = await client.fine_tuning.jobs.retrieve(job.id)
        name = f"ft:gpt-4o-mini:fakeai::{job.id}"
        assert done.status == "succeeded" and done.fine_tuned_model == name
        assert done.finished_at == int(clock.start + 5) and done.trained_tokens == len(lines) // 4 * 3
        assert done.result_files and (await client.files.content(done.result_files[0])).read().startswith(b"step,")
        events = [e.message async for e in client.fine_tuning.jobs.list_events(job.id)]
        assert "The job has successfully completed" in events and any("10 examples" in e for e in events)
        checkpoints = (await client.fine_tuning.jobs.checkpoints.list(job.id)).data
        assert sorted(c.step_number for c in checkpoints) == [10, 20, 30]
        assert all(c.fine_tuned_model_checkpoint.startswith(name + ":ckpt-step-") for c in checkpoints)
        assert (await client.models.retrieve(name)).owned_by == "user-fakeai"
        assert name in [m.id async for m in client.models.list()]
        chat = await client.chat.completions.create(model=name, messages=[{"role": "user", "content": "hi"}])
        assert chat.model == name  # strict_models: only known models answer, and the fine-tune is one now


async def test_fine_tuning_without_its_training_file_fails() -> None:
    async with async_client(app_with(lifecycle_scale=0)) as client:
        job = await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file="file-missing")
        failed = await client.fine_tuning.jobs.retrieve(job.id)
        assert failed.status == "failed" and failed.error is not None and failed.fine_tuned_model is None


async def test_vector_store_upload_and_poll_terminates_with_consistent_counts() -> None:
    async with async_client(app_with(lifecycle_scale=0.01)) as client:
        store = await client.vector_stores.create(name="docs")
        assert store.file_counts.total == 0
        uploaded = await client.files.create(file=("a.txt", b"the quick brown fox"), purpose="assistants")
        attached = await client.vector_stores.files.create_and_poll(
            file_id=uploaded.id, vector_store_id=store.id, poll_interval_ms=20
        )
        assert attached.id == uploaded.id and attached.status == "completed"
        counts = (await client.vector_stores.retrieve(store.id)).file_counts
        assert (counts.total, counts.completed, counts.in_progress) == (1, 1, 0)
        batch = await client.vector_stores.file_batches.upload_and_poll(
            store.id, files=[("b.txt", b"lazy dog"), ("c.txt", b"jumps over")], poll_interval_ms=20
        )
        assert batch.status == "completed" and (batch.file_counts.total, batch.file_counts.completed) == (2, 2)


async def test_every_declared_kind_exists_and_answers_valid_bodies(app: FakeAI) -> None:
    built = built_for(app.store)
    assert built is not None
    graph, _model, decls = built
    assert set(decls.kinds) <= set(graph.kinds), set(decls.kinds) - set(graph.kinds)
    assert len(graph.roles) > 180  # operations answered by the resource model on the official spec
    assert not app.violations


def test_bad_declarations_fail_at_load_with_file_and_line(tmp_path: Any) -> None:
    bad = tmp_path / "res.yaml"
    bad.write_text(
        "kinds:\n  batch:\n    lifecycle:\n      field: status\n      initial: nope\n      states:\n"
        "        a: {after: 1, next: b}\n        b: {}\n"
    )
    with pytest.raises(ConfigError, match=r"res.yaml:4: lifecycle of batch: initial 'nope'"):
        load_file(str(bad), set(DERIVE.names()))
    bad.write_text("kinds:\n  batch:\n    derive: [nothing]\n")
    with pytest.raises(ConfigError, match=r"res.yaml:3: kind batch: unknown derive function 'nothing'.*known:"):
        load_file(str(bad), set(DERIVE.names()))
    bad.write_text("kinds:\n  batch:\n    lifecycel: {}\n")
    with pytest.raises(ConfigError, match=r"res.yaml:3: unknown key 'lifecycel'"):
        load_file(str(bad), set(DERIVE.names()))
    bad.write_text("kinds:\n  thread.run:\n    stream: assistant\n")
    with pytest.raises(ConfigError, match=r"res.yaml:3: kind thread.run: unknown stream 'assistant'.*assistants"):
        load_file(str(bad), set(DERIVE.names()), stream_names=set(STREAMS.names()))


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


async def test_assistant_run_answers_with_the_chat_producer_in_the_thread() -> None:
    app = app_with(lifecycle_scale=0.01)
    async with async_client(app) as client:
        assistant = await client.beta.assistants.create(model="gpt-4o", instructions="Be brief.")
        thread = await client.beta.threads.create(messages=[{"role": "user", "content": "Hello there"}])
        first = (await client.beta.threads.messages.list(thread.id)).data
        assert [(m.role, m.content[0].text.value) for m in first] == [("user", "Hello there")]  # type: ignore[union-attr]
        run = await client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=10
        )
        assert run.status == "completed" and run.model == "gpt-4o" and run.instructions == "Be brief."
        assert run.usage is not None and run.usage.total_tokens == run.usage.prompt_tokens + run.usage.completion_tokens
        assert run.started_at is not None and run.completed_at is not None and run.started_at <= run.completed_at
        messages = (await client.beta.threads.messages.list(thread.id, order="asc")).data
        assert [m.role for m in messages] == ["user", "assistant"]
        reply = messages[1]
        assert reply.run_id == run.id and reply.assistant_id == assistant.id and reply.content[0].text.value  # type: ignore[union-attr]
        steps = (await client.beta.threads.runs.steps.list(run_id=run.id, thread_id=thread.id)).data
        assert [s.type for s in steps] == ["message_creation"]
        assert steps[0].step_details.message_creation.message_id == reply.id  # type: ignore[union-attr]
    assert not app.violations


async def test_assistant_run_with_a_function_tool_requires_action_then_completes() -> None:
    app = app_with(lifecycle_scale=0.01)
    async with async_client(app) as client:
        assistant = await client.beta.assistants.create(model="gpt-4o", tools=[WEATHER])  # type: ignore[list-item]
        thread = await client.beta.threads.create(messages=[{"role": "user", "content": "Weather in Paris?"}])
        run = await client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=10
        )
        assert run.status == "requires_action" and run.required_action is not None
        calls = run.required_action.submit_tool_outputs.tool_calls
        assert [c.function.name for c in calls] == ["get_weather"]
        assert isinstance(orjson.loads(calls[0].function.arguments)["city"], str)  # valid against the parameters
        assert (await client.beta.threads.messages.list(thread.id)).data[0].role == "user"  # no reply yet
        done = await client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id,
            thread_id=thread.id,
            tool_outputs=[{"tool_call_id": calls[0].id, "output": "22C and sunny"}],
            poll_interval_ms=10,
        )
        assert done.status == "completed" and done.required_action is None
        messages = (await client.beta.threads.messages.list(thread.id, order="asc")).data
        assert [m.role for m in messages] == ["user", "assistant"] and messages[1].run_id == run.id
    assert not app.violations


async def test_children_of_a_deleted_or_unknown_parent_are_404(app: FakeAI) -> None:
    async with async_client(app, headers={"x-fakeai-namespace": "orphans"}) as client:
        thread = await client.beta.threads.create()
        await client.beta.threads.messages.create(thread.id, role="user", content="hi")
        await client.beta.threads.delete(thread.id)
        with pytest.raises(openai.NotFoundError) as caught:
            await client.beta.threads.messages.create(thread.id, role="user", content="again")
        assert caught.value.body["message"] == f"No thread found with id '{thread.id}'."  # type: ignore[index]
        with pytest.raises(openai.NotFoundError):
            await client.beta.threads.messages.list("thread_0123456789abcdefABCDEF")
        with pytest.raises(openai.NotFoundError):
            await client.vector_stores.files.list("vs_0123456789abcdefABCDEF")


async def test_upload_parts_become_one_file(app: FakeAI) -> None:
    async with async_client(app, headers={"x-fakeai-namespace": "uploads"}) as client:
        chunks = [b"alpha " * 100, b"beta " * 50, b"gamma"]
        upload = await client.uploads.create(
            bytes=sum(map(len, chunks)), filename="big.txt", mime_type="text/plain", purpose="assistants"
        )
        assert upload.status == "pending" and upload.id.startswith("upload_")
        parts = [await client.uploads.parts.create(upload.id, data=chunk) for chunk in chunks]
        assert all(p.id.startswith("part_") and p.upload_id == upload.id for p in parts)
        done = await client.uploads.complete(upload.id, part_ids=[p.id for p in parts])
        assert done.status == "completed" and done.file is not None and done.file.bytes == upload.bytes
        assert (await client.files.content(done.file.id)).read() == b"".join(chunks)  # in the order given
        assert (await client.files.retrieve(done.file.id)).filename == "big.txt"
        short = await client.uploads.create(bytes=99, filename="x.txt", mime_type="text/plain", purpose="assistants")
        part = await client.uploads.parts.create(short.id, data=b"too short")
        with pytest.raises(openai.BadRequestError, match="99 bytes"):
            await client.uploads.complete(short.id, part_ids=[part.id])
        with pytest.raises(openai.BadRequestError):
            await client.uploads.complete(upload.id, part_ids=[])  # already completed


async def test_eval_run_samples_every_item_and_grades_it() -> None:
    app = app_with(lifecycle_scale=0, mode="echo")  # echo: the answer repeats the prompt, so grades are known
    async with async_client(app) as client:
        evaluation = await client.evals.create(
            name="capitals",
            data_source_config={"type": "custom", "item_schema": {"type": "object"}, "include_sample_schema": True},
            testing_criteria=[
                {
                    "type": "string_check",
                    "name": "says the answer",
                    "input": "{{sample.output_text}}",
                    "reference": "{{item.a}}",
                    "operation": "ilike",
                }
            ],
        )
        items = [{"item": {"a": "Paris"}}, {"item": {"a": "Rome"}}, {"item": {"a": "Oslo"}}]
        run = await client.evals.runs.create(
            evaluation.id,
            name="r1",
            data_source={
                "type": "completions",
                "model": "gpt-4o-mini",
                "input_messages": {"type": "template", "template": [{"role": "user", "content": "Say {{item.a}}"}]},
                "source": {"type": "file_content", "content": items},
            },
        )
        done = await client.evals.runs.retrieve(run.id, eval_id=evaluation.id)
        assert done.status == "completed" and done.result_counts.total == 3
        assert (done.result_counts.passed, done.result_counts.failed, done.result_counts.errored) == (3, 0, 0)
        assert done.per_model_usage[0].invocation_count == 3
        output = (await client.evals.runs.output_items.list(run.id, eval_id=evaluation.id, order="asc")).data
        assert sorted(o.datasource_item_id for o in output) == [0, 1, 2] and all(o.status == "pass" for o in output)
    assert not app.violations


async def test_an_assistant_created_without_tools_has_none_and_its_runs_complete(app: FakeAI) -> None:
    async with async_client(app, headers={"x-fakeai-namespace": "no-tools"}) as client:
        assistant = await client.beta.assistants.create(model="gpt-4o")
        assert assistant.tools == [] and (await client.beta.assistants.retrieve(assistant.id)).tools == []
        thread = await client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
        run = await client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=1
        )
        assert run.tools == [] and run.status == "completed"  # no generated function tool to require action
    assert not app.violations


async def test_create_and_run_makes_the_thread_with_its_messages_and_runs_in_it(app: FakeAI) -> None:
    async with async_client(app, headers={"x-fakeai-namespace": "thread-and-run"}) as client:
        assistant = await client.beta.assistants.create(model="gpt-4o", instructions="Be brief.")
        run = await client.beta.threads.create_and_run_poll(
            assistant_id=assistant.id,
            thread={"messages": [{"role": "user", "content": "Hello there"}], "metadata": {"k": "v"}},
            poll_interval_ms=1,
        )
        assert run.status == "completed" and run.id.startswith("run_") and run.thread_id.startswith("thread_")
        thread = await client.beta.threads.retrieve(run.thread_id)
        assert thread.id == run.thread_id and thread.metadata == {"k": "v"}
        messages = (await client.beta.threads.messages.list(run.thread_id, order="asc")).data
        assert [m.role for m in messages] == ["user", "assistant"] and messages[1].run_id == run.id
        assert messages[0].content[0].text.value == "Hello there"  # type: ignore[union-attr]
        assert [r.id for r in (await client.beta.threads.runs.list(run.thread_id)).data] == [run.id]
        tooled = await client.beta.threads.create_and_run_poll(
            assistant_id=assistant.id,
            thread={"messages": [{"role": "user", "content": "Weather in Paris?"}]},
            tools=[WEATHER],  # type: ignore[list-item]
            poll_interval_ms=1,
        )
        assert tooled.thread_id != run.thread_id and tooled.status == "requires_action"
        assert tooled.required_action is not None
        call = tooled.required_action.submit_tool_outputs.tool_calls[0]
        done = await client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=tooled.id,
            thread_id=tooled.thread_id,
            tool_outputs=[{"tool_call_id": call.id, "output": "22C"}],
            poll_interval_ms=1,
        )
        assert done.status == "completed"
        assert [m.role for m in (await client.beta.threads.messages.list(tooled.thread_id, order="asc")).data] == [
            "user",
            "assistant",
        ]
    assert not app.violations


async def test_evals_runs_cancel_posts_to_the_path_the_sdk_calls() -> None:
    clock = FakeClock()
    app = app_with(clock)
    async with async_client(app) as client:
        evaluation = await client.evals.create(
            name="slow",
            data_source_config={"type": "custom", "item_schema": {"type": "object"}},
            testing_criteria=[
                {"type": "string_check", "name": "x", "input": "{{item.a}}", "reference": "a", "operation": "eq"}
            ],
        )
        source = {"type": "jsonl", "source": {"type": "file_content", "content": [{"item": {"a": "a"}}]}}
        run = await client.evals.runs.create(evaluation.id, name="r", data_source=source)  # type: ignore[arg-type]
        # openai-python posts to .../runs/{run_id}/cancel, a path the overlay adds beside the spec's cancelEvalRun
        cancelled = await client.evals.runs.cancel(run.id, eval_id=evaluation.id)
        assert (cancelled.id, cancelled.status) == (run.id, "canceled")
        clock.elapsed += 60
        stored = await client.evals.runs.retrieve(run.id, eval_id=evaluation.id)
        assert stored.model_dump() == cancelled.model_dump()
        with pytest.raises(openai.BadRequestError):
            await client.evals.runs.cancel(run.id, eval_id=evaluation.id)
    assert not app.violations


async def test_eval_run_result_counts_agree_with_its_output_items() -> None:
    app = app_with(lifecycle_scale=0, mode="echo")  # echo: the answer is "Say <a>", so "Say <b>" passes only if a == b
    async with async_client(app) as client:
        evaluation = await client.evals.create(
            name="mixed",
            data_source_config={"type": "custom", "item_schema": {"type": "object"}, "include_sample_schema": True},
            testing_criteria=[
                {
                    "type": "string_check",
                    "name": "exact",
                    "input": "{{sample.output_text}}",
                    "reference": "Say {{item.b}}",
                    "operation": "eq",
                }
            ],
        )
        items = [{"item": {"a": "Paris", "b": "Paris"}}, {"item": {"a": "Rome", "b": "Oslo"}}]
        items += [{"item": {"a": "Oslo", "b": "Oslo"}}]
        run = await client.evals.runs.create(
            evaluation.id,
            name="r",
            data_source={
                "type": "completions",
                "model": "gpt-4o-mini",
                "input_messages": {"type": "template", "template": [{"role": "user", "content": "Say {{item.a}}"}]},
                "source": {"type": "file_content", "content": items},
            },
        )
        done = await client.evals.runs.retrieve(run.id, eval_id=evaluation.id)
        output = [o async for o in client.evals.runs.output_items.list(run.id, eval_id=evaluation.id, limit=1)]
        statuses = [o.status for o in sorted(output, key=lambda o: o.datasource_item_id)]
        assert statuses == ["pass", "fail", "pass"]
        counts = done.result_counts
        assert (counts.total, counts.passed, counts.failed, counts.errored) == (3, 2, 1, 0)
        assert [(r.testing_criteria, r.passed, r.failed) for r in done.per_testing_criteria_results] == [
            ("exact", 2, 1)
        ]
        assert [r.id for r in (await client.evals.runs.list(evaluation.id)).data] == [run.id]
    assert not app.violations


async def test_an_eval_run_is_cancelled_by_the_spec_s_post_on_the_run() -> None:
    clock = FakeClock()
    app = app_with(clock)
    async with async_client(app) as client:
        evaluation = await client.evals.create(
            name="slow",
            data_source_config={"type": "custom", "item_schema": {"type": "object"}},
            testing_criteria=[
                {"type": "string_check", "name": "x", "input": "{{item.a}}", "reference": "a", "operation": "eq"}
            ],
        )
        run = await client.evals.runs.create(
            evaluation.id,
            name="r",
            data_source={"type": "jsonl", "source": {"type": "file_content", "content": [{"item": {"a": "a"}}]}},
        )
        assert run.status == "queued"
        path = f"/evals/{evaluation.id}/runs/{run.id}"  # the spec's cancelEvalRun is a POST on the run itself
        cancelled = await client.post(path, cast_to=dict, body={})
        assert cancelled["status"] == "canceled" and cancelled["id"] == run.id
        clock.elapsed += 60
        assert (await client.evals.runs.retrieve(run.id, eval_id=evaluation.id)).status == "canceled"
        with pytest.raises(openai.BadRequestError):
            await client.post(path, cast_to=dict, body={})
    assert not app.violations
