"""JSON the prompt asks for, as instructor, pydantic-ai, dspy and langchain send it (through the openai SDK).

Each request below is the one the library builds: the schema (or an example object) is in the message
text, with ``response_format: {"type": "json_object"}`` or, for instructor's MD_JSON mode, no format.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
from pydantic import BaseModel

from fakeai.producers.text.prompted import prompted_schema, wants_fenced_json

JSON_OBJECT: Any = {"type": "json_object"}


class Address(BaseModel):
    city: str
    zip_code: str


class UserDetail(BaseModel):
    name: str
    age: int
    tags: list[str]
    address: Address  # pydantic writes it as a $ref into $defs


SCHEMA = UserDetail.model_json_schema()
INSTRUCTOR_SYSTEM = f"""
As a genius expert, your task is to understand the content and provide
the parsed objects in json that match the following json_schema:


{json.dumps(SCHEMA, indent=2, ensure_ascii=False)}

Make sure to return an instance of the JSON, not the schema itself
"""
USER = {"role": "user", "content": "Jason is 25 years old and lives in Paris."}


async def test_instructor_json_mode_gets_an_instance_of_the_prompted_schema(client: Any) -> None:
    answer = await client.chat.completions.create(
        model="gpt-4o", response_format=JSON_OBJECT, messages=[{"role": "system", "content": INSTRUCTOR_SYSTEM}, USER]
    )
    UserDetail.model_validate_json(answer.choices[0].message.content)  # raises unless valid


async def test_instructor_md_json_mode_gets_a_fenced_instance(client: Any) -> None:
    fence = "Return the correct JSON response within a ```json codeblock. not the JSON_SCHEMA"
    messages = [{"role": "system", "content": INSTRUCTOR_SYSTEM}, USER, {"role": "user", "content": fence}]
    content = (await client.chat.completions.create(model="gpt-4o", messages=messages)).choices[0].message.content
    assert content.startswith("```json\n") and content.endswith("\n```")
    UserDetail.model_validate_json(content.removeprefix("```json\n").removesuffix("\n```"))


async def test_pydantic_ai_prompted_output_over_responses(client: Any) -> None:
    instructions = (
        "Always respond with a JSON object that's compatible with this schema:\n\n"
        f"{json.dumps(SCHEMA)}\n\nDon't include any text or Markdown fencing before or after."
    )
    response = await client.responses.create(
        model="gpt-4o", instructions=instructions, input=USER["content"], text={"format": JSON_OBJECT}
    )
    UserDetail.model_validate_json(response.output_text)


async def test_dspy_json_adapter_example_object_gives_its_fields(client: Any) -> None:
    system = (
        "Your input fields are:\n1. `question` (str)\nYour output fields are:\n1. `reasoning` (str)\n"
        "2. `answer` (str)\nOutputs will be a JSON object with the following fields.\n\n"
        '{\n  "reasoning": "{reasoning}",\n  "answer": "{answer}"\n}'
    )
    messages = [{"role": "system", "content": system}, {"role": "user", "content": "[[ ## question ## ]]\nWhy?"}]
    answer = await client.chat.completions.create(model="gpt-4o", response_format=JSON_OBJECT, messages=messages)
    parsed = json.loads(answer.choices[0].message.content)
    assert set(parsed) == {"reasoning", "answer"} and all(isinstance(v, str) for v in parsed.values())


async def test_json_object_without_a_prompted_schema_is_the_generic_object(client: Any) -> None:
    messages = [{"role": "user", "content": "Reply in JSON, please."}]
    answer = await client.chat.completions.create(model="gpt-4o", response_format=JSON_OBJECT, messages=messages)
    assert set(json.loads(answer.choices[0].message.content)) == {"answer", "confidence", "tags"}


async def test_a_pasted_json_block_is_no_request_for_json(client: Any) -> None:
    pasted = 'What does this config do?\n```json\n{"retries": 3, "timeout": 10}\n```'
    content = (
        (await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": pasted}]))
        .choices[0]
        .message.content
    )
    assert not content.startswith("```json")


def test_the_schema_wins_over_example_objects_and_is_found_in_fences() -> None:
    texts = ['Example: {"name": "x"}', f"Schema:\n```json\n{json.dumps(SCHEMA)}\n```"]
    assert prompted_schema(texts) == SCHEMA
    derived = prompted_schema(['Answer like {"name": "Ann", "age": 3, "scores": [1.5]}'])
    assert derived is not None
    jsonschema.validate({"name": "Bo", "age": 4, "scores": [2.0]}, derived)
    assert not wants_fenced_json(["Return a ```json block"])  # no schema: nothing to fill the block with
