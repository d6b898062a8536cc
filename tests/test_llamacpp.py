"""The llama.cpp backend (``--model-backend llamacpp``) through the official SDK, on a tiny GGUF model written here.

The model has random weights (2 layers, 64 wide, a byte-level BPE vocabulary): its text means nothing, but it is
a real llama.cpp model, so these tests check the plumbing: real tokens streamed one frame each, usage from the
model's tokenizer, greedy reproducibility, grammar-constrained tool arguments and structured outputs, startup
errors, for chat, Responses, completions and Anthropic Messages. Skipped without llama-cpp-python
(``pip install 'fakeai-server[llm]'``; ``scripts/test-llm``).
"""

from __future__ import annotations

import asyncio
import builtins
import json
import threading
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Literal

import anthropic
import httpx2
import jsonschema
import numpy as np
import orjson
import pydantic
import pytest

from fakeai.app import create_app
from fakeai.cli import build_parser, settings_from_args
from fakeai.config import Settings
from fakeai.errors import ConfigError
from fakeai.testing import async_client

HAVE_LLAMA = find_spec("llama_cpp") is not None and find_spec("gguf") is not None
needs_llama = pytest.mark.skipif(
    not HAVE_LLAMA, reason="the llm extra is not installed: pip install 'fakeai-server[llm]' gguf (scripts/test-llm)"
)

MODEL = "gpt-4o-mini"
CLAUDE = "claude-haiku-4-5"
MESSAGES: list[Any] = [{"role": "user", "content": "Say hello."}]
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "enum": ["Paris", "London", "Tokyo"]},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
            },
            "required": ["city", "unit", "days"],
            "additionalProperties": False,
        },
    },
}
TOOL = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": WEATHER["function"]["parameters"],
}
SYSTEM = "You are terse."


def _byte_tokens() -> list[str]:
    """GPT-2's byte -> printable character table: the 256 base tokens of a byte-level BPE vocabulary."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            table[byte] = chr(byte)
        else:
            table[byte] = chr(256 + extra)
            extra += 1
    return [table[b] for b in range(256)]


def write_tiny_llama(path: Path, seed: int = 0) -> Path:
    """A llama-architecture GGUF with random f32 weights and a byte-level BPE vocabulary (ChatML specials)."""
    import gguf

    base = _byte_tokens()
    merges = ["Ġ t", "h e", "Ġt he", "Ġ a", "i n", "e r", "o n", "Ġ s"]
    vocab = base + ["".join(m.split()) for m in merges] + ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    n_vocab, n_embd, n_ff, n_layer, n_head = len(vocab), 64, 128, 2, 4
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(512)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head)
    writer.add_rope_dimension_count(n_embd // n_head)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(0)  # all f32
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(vocab)
    writer.add_token_types([1] * (n_vocab - 3) + [3] * 3)  # normal, then control tokens
    writer.add_token_merges(merges)
    writer.add_bos_token_id(n_vocab - 3)
    writer.add_eos_token_id(n_vocab - 1)
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHATML)
    rng = np.random.default_rng(seed)

    def weights(*shape: int) -> Any:
        return (rng.standard_normal(shape) * 0.3).astype(np.float32)

    output = weights(n_vocab, n_embd)
    output[n_vocab - 1] = 0  # the end token scores 0: random text runs until max_tokens, a grammar ends it
    writer.add_tensor("token_embd.weight", weights(n_vocab, n_embd))
    writer.add_tensor("output_norm.weight", np.ones(n_embd, dtype=np.float32))
    writer.add_tensor("output.weight", output)
    for i in range(n_layer):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(n_embd, dtype=np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            writer.add_tensor(f"blk.{i}.{name}.weight", weights(n_embd, n_embd))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(n_embd, dtype=np.float32))
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", weights(n_ff, n_embd))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", weights(n_ff, n_embd))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", weights(n_embd, n_ff))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_llama(tmp_path_factory.mktemp("gguf") / "tiny-llama.gguf")


@pytest.fixture(scope="module")
def app(model_path: Path) -> Any:
    settings = Settings(validate_responses="strict").merge(
        {"model_backend": "llamacpp", "model_path": str(model_path), "backend_models": [MODEL]}, "test"
    )
    return create_app(settings)


@pytest.fixture
def client(app: Any) -> Any:
    return async_client(app)


def _prompt_tokens(model_path: Path, messages: list[Any]) -> int:
    """The ChatML prompt tokenised by llama.cpp itself (independently of fakeai's backend)."""
    import llama_cpp

    vocab = llama_cpp.Llama(model_path=str(model_path), vocab_only=True, verbose=False)
    text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return len(vocab.tokenize((text + "<|im_start|>assistant\n").encode(), add_bos=False, special=True))


def claude(app: Any) -> anthropic.AsyncAnthropic:
    """The official ``anthropic`` SDK on ``app`` (in process)."""
    http_client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))
    return anthropic.AsyncAnthropic(base_url="http://fakeai.test", api_key="x", http_client=http_client, max_retries=0)


@pytest.fixture(scope="module")
def messages_app(model_path: Path) -> Any:
    changes = {"model_backend": "llamacpp", "model_path": str(model_path), "backend_models": [CLAUDE]}
    return create_app(Settings(spec="anthropic", validate_responses="strict").merge(changes, "test"))


@needs_llama
async def test_a_chat_answer_comes_from_the_model_with_its_token_counts(client: Any, model_path: Path) -> None:
    answer = await client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=12)
    choice = answer.choices[0]
    assert (choice.finish_reason, answer.usage.completion_tokens) == ("length", 12)
    assert answer.usage.prompt_tokens == _prompt_tokens(model_path, MESSAGES)
    assert choice.message.content and answer.model == MODEL
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + 12


@needs_llama
async def test_streaming_sends_one_frame_per_model_token_and_matches_the_plain_answer(client: Any) -> None:
    plain = await client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=10)
    stream = await client.chat.completions.create(
        model=MODEL, messages=MESSAGES, max_tokens=10, stream=True, stream_options={"include_usage": True}
    )
    pieces, usage = [], None
    async for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content is not None and choice.finish_reason is None:
                pieces.append(choice.delta.content)
    pieces = pieces[1:]  # the role frame carries content ""
    assert len(pieces) == 10 and usage is not None and usage.completion_tokens == 10
    assert "".join(pieces) == plain.choices[0].message.content


@needs_llama
async def test_temperature_0_is_reproducible_and_a_sampled_seed_changes_the_text(client: Any) -> None:
    first = await client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=16)
    again = await client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=16)
    assert first.choices[0].message.content == again.choices[0].message.content
    sampled = {
        (
            await client.chat.completions.create(
                model=MODEL, messages=MESSAGES, max_tokens=16, temperature=1.5, seed=seed
            )
        )
        .choices[0]
        .message.content
        for seed in range(4)
    }
    assert len(sampled) > 1


@needs_llama
async def test_tool_arguments_are_written_under_the_function_schema(client: Any) -> None:
    answer = await client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER],
        tool_choice="required",
        max_tokens=64,
    )
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    arguments = json.loads(call.function.arguments)
    assert call.function.name == "get_weather" and set(arguments) == {"city", "unit", "days"}
    assert arguments["city"] in {"Paris", "London", "Tokyo"} and arguments["unit"] in {"celsius", "fahrenheit"}
    assert 1 <= arguments["days"] <= 7


class Answer(pydantic.BaseModel):
    verdict: Literal["yes", "no"]
    score: int = pydantic.Field(ge=0, le=9)


@needs_llama
async def test_structured_output_parses_into_the_pydantic_model(client: Any) -> None:
    parsed = await client.chat.completions.parse(
        model=MODEL, messages=[{"role": "user", "content": "Is water wet?"}], response_format=Answer, max_tokens=64
    )
    answer = parsed.choices[0].message.parsed
    assert isinstance(answer, Answer) and answer.verdict in ("yes", "no")


@needs_llama
async def test_responses_and_completions_answer_from_the_model_too(client: Any) -> None:
    response = await client.responses.create(model=MODEL, input="Say hello.", max_output_tokens=16)
    assert response.usage.output_tokens == 16 and response.status == "incomplete"
    legacy = await client.completions.create(model=MODEL, prompt="Once upon", max_tokens=6)
    assert legacy.usage.completion_tokens == 6 and legacy.choices[0].finish_reason == "length"


@needs_llama
async def test_models_outside_backend_models_stay_synthetic(client: Any) -> None:
    synthetic = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=5, seed=1)
    asked_mode = await client.chat.completions.create(model=f"{MODEL}:fixed", messages=MESSAGES)
    assert synthetic.choices[0].message.content.split()[0].isalpha()  # corpus prose, not byte soup
    assert asked_mode.choices[0].message.content == Settings().fixed_text


@needs_llama
def test_the_flags_reach_the_app(model_path: Path) -> None:
    args = build_parser().parse_args(
        ["--model-backend", "llamacpp", "--model-path", str(model_path), "--backend-model", "gpt-4o-mini"]
    )
    settings = settings_from_args(args, {})
    assert (settings.model_backend, settings.backend_models) == ("llamacpp", ("gpt-4o-mini",))
    app = create_app(settings)
    backends = app.operations["createChatCompletion"].producers[0].config.backends  # type: ignore[attr-defined]
    assert backends.for_model("gpt-4o-mini") is not None and backends.for_model("gpt-4o") is None


@needs_llama
@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read"), (b"not a model", "is not a GGUF file"), (b"GGUF\x03\x00\x00\x00junk", "cannot load")],
)
def test_a_bad_model_file_is_a_startup_error(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "model.gguf"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        create_app(Settings(model_backend="llamacpp", model_path=str(path)))


def _hide_llama(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_llama(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("llama_cpp"):
            raise ImportError("No module named 'llama_cpp'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_llama)


def test_a_missing_extra_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _hide_llama(monkeypatch)
    with pytest.raises(ConfigError, match=r"pip install 'fakeai-server\[llm\]'"):
        create_app(Settings(model_backend="llamacpp", model_path=str(tmp_path / "other.gguf")))


def test_the_flags_reach_create_app_without_the_extra_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Proves the flags reach the app where llama-cpp-python is absent (the default suite): startup says so."""
    args = ["--model-backend", "llamacpp", "--model-path", str(tmp_path / "m.gguf"), "--backend-model", "gpt-4o*"]
    settings = settings_from_args(build_parser().parse_args(args), {})
    assert (settings.model_backend, settings.backend_models) == ("llamacpp", ("gpt-4o*",))
    if HAVE_LLAMA:
        _hide_llama(monkeypatch)
    with pytest.raises(ConfigError, match="llama-cpp-python"):
        create_app(settings)


def test_a_backend_without_a_model_path_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="needs model_path"):
        Settings().merge({"model_backend": "llamacpp"}, "test")


@needs_llama
async def test_responses_function_calls_and_json_formats_come_from_the_model(client: Any) -> None:
    tool = {"type": "function", **WEATHER["function"]}
    called = await client.responses.create(model=MODEL, input="Weather in Tokyo?", tools=[tool], tool_choice="required")
    call = next(item for item in called.output if item.type == "function_call")
    assert json.loads(call.arguments)["city"] in {"Paris", "London", "Tokyo"}
    schema = {**Answer.model_json_schema(), "additionalProperties": False}
    fmt = {"format": {"type": "json_schema", "name": "answer", "schema": schema, "strict": True}}
    answered = await client.responses.create(model=MODEL, input="Is water wet?", text=fmt, max_output_tokens=64)
    Answer.model_validate_json(answered.output_text)


@needs_llama
async def test_the_model_runs_off_the_event_loop(app: Any, client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """While the model works on one request, a synthetic request is answered (the loop is not blocked)."""
    import asyncio
    import threading

    backend = app.operations["createChatCompletion"].producers[0].config.backends.backend
    entered, release = threading.Event(), threading.Event()
    complete = backend.complete

    def slow(request: Any) -> Any:
        entered.set()
        release.wait(10)
        return complete(request)

    monkeypatch.setattr(backend, "complete", slow)
    real = asyncio.ensure_future(client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=4))
    assert await asyncio.to_thread(entered.wait, 10)
    synthetic = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=4)
    assert synthetic.choices[0].message.content and not real.done()
    release.set()
    assert (await real).usage.completion_tokens == 4


@needs_llama
def test_every_answer_validated_against_the_spec(app: Any) -> None:
    assert not app.violations  # validate_responses="strict" checked every body and SSE frame of the tests above


@needs_llama
async def test_a_messages_answer_comes_from_the_model_with_its_token_counts(
    messages_app: Any, model_path: Path
) -> None:
    client = claude(messages_app)
    asked: dict[str, Any] = {"model": CLAUDE, "system": SYSTEM, "messages": MESSAGES}
    message = await client.messages.create(max_tokens=12, **asked)
    prompt = _prompt_tokens(model_path, [{"role": "system", "content": SYSTEM}, *MESSAGES])
    assert (message.stop_reason, message.usage.output_tokens, message.usage.input_tokens) == ("max_tokens", 12, prompt)
    assert message.content[0].type == "text" and message.content[0].text
    assert (await client.messages.count_tokens(**asked)).input_tokens == prompt
    assert not messages_app.violations


@needs_llama
async def test_messages_stream_one_text_delta_per_model_token_joining_to_the_plain_answer(messages_app: Any) -> None:
    client = claude(messages_app)
    plain = await client.messages.create(model=CLAUDE, max_tokens=10, messages=MESSAGES)
    deltas = []
    async with client.messages.stream(model=CLAUDE, max_tokens=10, messages=MESSAGES) as stream:
        async for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                deltas.append(event.delta.text)
        final = await stream.get_final_message()
    assert len(deltas) == 10 and "".join(deltas) == plain.content[0].text  # type: ignore[union-attr]
    assert final.usage.output_tokens == 10 and final.stop_reason == "max_tokens"
    assert not messages_app.violations


@needs_llama
async def test_messages_stop_sequences_end_the_model_text(messages_app: Any) -> None:
    client = claude(messages_app)
    text = (await client.messages.create(model=CLAUDE, max_tokens=16, messages=MESSAGES)).content[0].text  # type: ignore[union-attr]
    stop = text[len(text) // 2 : len(text) // 2 + 2]
    cut = await client.messages.create(model=CLAUDE, max_tokens=16, messages=MESSAGES, stop_sequences=[stop])
    assert (cut.stop_reason, cut.stop_sequence) == ("stop_sequence", stop)
    assert "".join(b.text for b in cut.content if b.type == "text") == text[: text.find(stop)]


@needs_llama
async def test_a_messages_tool_use_input_is_written_under_the_input_schema(messages_app: Any) -> None:
    message = await claude(messages_app).messages.create(
        model=CLAUDE, max_tokens=64, messages=[{"role": "user", "content": "Weather in Paris?"}], tools=[TOOL],
        tool_choice={"type": "any"},
    )  # fmt: skip
    block = next(b for b in message.content if b.type == "tool_use")
    assert message.stop_reason == "tool_use" and block.name == "get_weather"
    jsonschema.validate(block.input, TOOL["input_schema"])
    assert not messages_app.violations


# --- the backend hook without llama.cpp: a TextBackend written here (runs in the default suite) ---------------
# (also: Messages, and requests fakeai makes itself, batch lines and assistant runs, asked off the event loop)


class EchoBackend:
    """A :class:`~fakeai.producers.text.backend.TextBackend` that answers "You said: <last user text>" (JSON
    from fakeai's generator when a schema is asked for) and records what it was asked."""

    name = "echo"

    def __init__(self) -> None:
        from fakeai.producers.text.tokenizer import for_model

        self.tokenizer = for_model("gpt-4o")
        self.asked: list[Any] = []
        self.on_loop_thread: list[bool] = []  # whether complete() ran on the main thread (the event loop's)

    def complete(self, request: Any) -> Any:
        import random

        from fakeai.producers.text.structured import generate_json
        from fakeai.producers.text.text import Completion

        self.asked.append(request)
        self.on_loop_thread.append(threading.current_thread() is threading.main_thread())
        said = request.raw_prompt or next(
            (m["content"] for m in reversed(request.messages) if m.get("role") == "user"), ""
        )
        text = f"You said: {said}" if request.schema is None else generate_json(request.schema, random.Random(0), 0)
        ids, pieces = self.tokenizer.split(text)
        limit = request.max_tokens if request.max_tokens is not None else len(ids)
        finish = "length" if len(ids) > limit else "stop"
        return Completion("".join(pieces[:limit]), pieces[:limit], ids[:limit], finish)

    def count_prompt(self, request: Any) -> int:
        return 42


def echo_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **changes: Any) -> tuple[EchoBackend, Any]:
    from fakeai.producers.text import backend as backends

    fake = EchoBackend()
    path = str(tmp_path / "echo.gguf")
    monkeypatch.setitem(backends._loaded, ("llamacpp", path), fake)  # what load_backend returns for this file
    settings = Settings(validate_responses="strict", model_backend="llamacpp", model_path=path)
    return fake, create_app(settings.merge({"backend_models": ["gpt-4o-mini", "gpt-4.1*", CLAUDE], **changes}, "t"))


@pytest.fixture
def echo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[EchoBackend, Any]:
    return echo_app(monkeypatch, tmp_path)


async def test_a_backend_writes_chat_text_and_its_prompt_count_is_the_usage(echo: tuple[EchoBackend, Any]) -> None:
    fake, app = echo
    client = async_client(app)
    answer = await client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert answer.choices[0].message.content == "You said: Say hello."
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (42, 6)
    asked = fake.asked[-1]
    assert (asked.temperature, asked.top_p, asked.schema, asked.max_tokens) == (0.0, 1.0, None, None)
    stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True, temperature=0.7)
    pieces = [c.choices[0].delta.content async for c in stream if c.choices and c.choices[0].delta.content]
    assert "".join(pieces) == "You said: Say hello." and len(pieces) == 6 and fake.asked[-1].temperature == 0.7
    other = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=5)
    assert not other.choices[0].message.content.startswith("You said") and len(fake.asked) == 2
    assert not app.violations


async def test_a_backend_gets_the_schemas_of_tools_and_formats(echo: tuple[EchoBackend, Any]) -> None:
    fake, app = echo
    client = async_client(app)
    called = await client.chat.completions.create(
        model=MODEL, messages=MESSAGES, tools=[WEATHER], tool_choice="required"
    )
    arguments = json.loads(called.choices[0].message.tool_calls[0].function.arguments)
    assert fake.asked[-1].schema == WEATHER["function"]["parameters"] and set(arguments) == {"city", "unit", "days"}
    assert fake.asked[-1].tools[0]["name"] == "get_weather"
    parsed = await client.chat.completions.parse(model=MODEL, messages=MESSAGES, response_format=Answer)
    assert isinstance(parsed.choices[0].message.parsed, Answer) and fake.asked[-1].schema["title"] == "Answer"
    response = await client.responses.create(model="gpt-4.1-mini", input="Hi there", instructions="Be brief.")
    assert response.output_text == "You said: Hi there" and response.usage.input_tokens == 42
    assert [m["role"] for m in fake.asked[-1].messages] == ["system", "user"]
    legacy = await client.completions.create(model=MODEL, prompt="Once upon", max_tokens=3)
    assert legacy.choices[0].text == "You said:" and fake.asked[-1].raw_prompt == "Once upon"  # 3 tokens
    assert not app.violations


async def test_a_backend_writes_anthropic_messages_text_off_the_loop(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake, app = echo_app(monkeypatch, tmp_path, spec="anthropic")
    client = claude(app)
    message = await client.messages.create(model=CLAUDE, max_tokens=100, system=SYSTEM, messages=MESSAGES)
    assert message.content[0].text == "You said: Say hello." and message.stop_reason == "end_turn"  # type: ignore[union-attr]
    assert (message.usage.input_tokens, message.usage.output_tokens) == (42, 6)
    asked = fake.asked[-1]
    assert [m["role"] for m in asked.messages] == ["system", "user"] and asked.max_tokens == 100
    assert fake.on_loop_thread == [False]  # the pipeline's offload covers the Messages operation
    cut = await client.messages.create(model=CLAUDE, max_tokens=100, messages=MESSAGES, stop_sequences=["hello"])
    assert (cut.content[0].text, cut.stop_reason, cut.stop_sequence) == ("You said: Say ", "stop_sequence", "hello")  # type: ignore[union-attr]
    async with client.messages.stream(model=CLAUDE, max_tokens=3, messages=MESSAGES) as stream:
        deltas = [
            e.delta.text async for e in stream if e.type == "content_block_delta" and e.delta.type == "text_delta"
        ]
    assert deltas == ["You", " said", ":"] and (await stream.get_final_message()).stop_reason == "max_tokens"
    called = await client.messages.create(
        model=CLAUDE,
        max_tokens=100,
        messages=MESSAGES,
        tools=[TOOL],
        tool_choice={"type": "tool", "name": "get_weather"},
    )
    block = next(b for b in called.content if b.type == "tool_use")
    assert fake.asked[-1].schema == TOOL["input_schema"] and called.stop_reason == "tool_use"
    jsonschema.validate(block.input, TOOL["input_schema"])
    synthetic = await client.messages.create(model="claude-sonnet-4-5", max_tokens=20, messages=MESSAGES)
    assert not synthetic.content[0].text.startswith("You said") and len(fake.asked) == 4  # type: ignore[union-attr]
    assert not app.violations


async def test_batch_lines_answered_by_the_backend_leave_the_loop_responsive(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A batch's lines (requests fakeai makes itself) run the backend in a worker thread: while it is held busy,
    a synthetic request is answered."""
    fake, app = echo_app(monkeypatch, tmp_path, lifecycle_scale=0)
    entered, release = threading.Event(), threading.Event()
    complete = fake.complete

    def slow(request: Any) -> Any:
        entered.set()
        release.wait(10)
        return complete(request)

    monkeypatch.setattr(fake, "complete", slow)
    client = async_client(app)
    lines = [
        {"custom_id": f"q{i}", "method": "POST", "url": "/v1/chat/completions",
         "body": {"model": MODEL, "messages": [{"role": "user", "content": f"Question {i}"}]}}
        for i in range(2)
    ]  # fmt: skip
    source = await client.files.create(file=("in.jsonl", b"\n".join(map(orjson.dumps, lines))), purpose="batch")
    running = asyncio.ensure_future(  # lifecycle_scale 0: the lines run with this answer
        client.batches.create(input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h")
    )
    assert await asyncio.to_thread(entered.wait, 10)
    synthetic = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=4)
    assert synthetic.choices[0].message.content and not running.done()
    release.set()
    done = await client.batches.retrieve((await running).id)
    assert done.status == "completed" and done.output_file_id is not None
    rows = [orjson.loads(r) for r in (await client.files.content(done.output_file_id)).read().splitlines()]
    answers = {r["custom_id"]: r["response"]["body"]["choices"][0]["message"]["content"] for r in rows}
    assert answers == {"q0": "You said: Question 0", "q1": "You said: Question 1"}
    assert fake.on_loop_thread == [False, False] and not app.violations


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the Assistants API is deprecated
@pytest.mark.parametrize("stream", [False, True], ids=["run", "streamed-run"])
async def test_assistant_runs_ask_the_backend_off_the_loop(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, stream: bool
) -> None:
    fake, app = echo_app(monkeypatch, tmp_path, lifecycle_scale=0)
    client = async_client(app)
    assistant = await client.beta.assistants.create(model=MODEL, instructions="Be brief.")
    thread = await client.beta.threads.create(messages=[{"role": "user", "content": "Hello there"}])
    if stream:
        async with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id) as events:
            await events.until_done()
    else:
        run = await client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
        await client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
    reply = (await client.beta.threads.messages.list(thread_id=thread.id, order="desc")).data[0]
    assert reply.content[0].text.value == "You said: Hello there"  # type: ignore[union-attr]
    assert fake.on_loop_thread == [False] and not app.violations
