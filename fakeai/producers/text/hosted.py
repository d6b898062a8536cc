"""The Responses API's hosted tools: ``web_search``, ``code_interpreter`` and ``image_generation`` calls.

A request that offers a hosted tool gets its call item ahead of the message, as the API answers after running
it (``file_search`` is answered from the vector stores by :func:`fakeai.resources.search.file_search`):

- ``web_search_call`` (``ws_``): a ``search`` action with the user's question as the query, ``sources`` when
  ``include`` asks for ``web_search_call.action.sources``, and ``url_citation`` annotations on the message's
  text (URLs under the tool's ``filters.allowed_domains`` when given, else ``example.com`` / ``example.org``);
- ``code_interpreter_call`` (``ci_``): Python that adds up the numbers in the question (``print(...)``) in the
  tool's container (its id, or a ``cntr_`` one for ``{"type": "auto"}``), and the logs of that sum as
  ``outputs`` when ``include`` asks for ``code_interpreter_call.outputs``. Nothing is executed: the sum is
  computed by fakeai from the parsed numbers;
- ``image_generation_call`` (``ig_``): a real, decodable image in the tool's ``output_format`` and ``size``
  (base64 ``result``), and ``partial_images`` partial-image events in a stream.

When: ``tool_choice`` naming the tool's type (or ``"required"`` with no function tools) calls it;
``"none"`` never does; ``"auto"`` calls a hosted tool when the user's words ask for it (search/latest/news...,
calculate/python/plot..., draw/image/picture...), or when it is the only tool offered. :func:`streamed`
inserts each call's events (``response.<tool>_call.in_progress`` ... ``.completed``, code deltas, partial
images) into the stream, and the citations' ``response.output_text.annotation.added`` events, numbering every
frame again.
"""

from __future__ import annotations

import base64
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from fakeai.context import Frame
from fakeai.ids import hex_id
from fakeai.media.image import image, parse_size
from fakeai.producers.text.common import last_user_text

if TYPE_CHECKING:
    from fakeai.producers.text.responses import Answer, Item

__all__ = ["HOSTED_TYPES", "hosted_calls", "streamed"]

WEB_SEARCH_TYPES = frozenset(
    {"web_search", "web_search_2025_08_26", "web_search_preview", "web_search_preview_2025_03_11"}
)
HOSTED_TYPES = WEB_SEARCH_TYPES | {"code_interpreter", "image_generation"}
MAX_NUMBERS = 64  # numbers of the question the code interpreter adds up
MAX_IMAGE_SIDE = 1536  # an image_generation result is at most this wide/high (a bigger size is scaled down)
_WORDS = {
    "web_search": re.compile(
        r"\b(search|look ?up|latest|news|today|current(ly)?|recent|web|internet|online|price|weather|who is)\b", re.I
    ),
    "code_interpreter": re.compile(
        r"\b(calculate|compute|python|code|run|plot|chart|csv|analy[sz]e|sum|average|mean|solve|math)\b", re.I
    ),
    "image_generation": re.compile(r"\b(draw|image|picture|illustrat\w*|paint|sketch|logo|photo|render)\b", re.I),
}
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_SLUG = re.compile(r"[a-z0-9]+")


def _kind(tool_type: str) -> str:
    return "web_search" if tool_type in WEB_SEARCH_TYPES else tool_type


def _wanted(body: Mapping[str, Any], answer: Answer) -> list[Mapping[str, Any]]:
    tools = [t for t in body.get("tools") or () if isinstance(t, Mapping)]
    hosted = [t for t in tools if t.get("type") in HOSTED_TYPES]
    if not hosted:
        return []
    choice = body.get("tool_choice", "auto")
    if choice == "none":
        return []
    if isinstance(choice, Mapping) and choice.get("type") in HOSTED_TYPES:
        named = _kind(str(choice["type"]))
        return [t for t in hosted if _kind(str(t["type"])) == named][:1]
    if choice == "required":  # one tool call: a function's when there are functions (the producer made it)
        return [] if any(t.get("type") not in HOSTED_TYPES for t in tools) else hosted[:1]
    if choice != "auto":
        return []
    text = last_user_text(body.get("input"))
    asked = [t for t in hosted if _WORDS[_kind(str(t["type"]))].search(text)]
    if asked:
        return asked
    if any(item.body.get("type") == "function_call" for item in answer.items):
        return []
    return hosted if len(tools) == 1 else []


def hosted_calls(answer: Answer, body: Mapping[str, Any], rng: random.Random) -> Answer:
    """``answer`` with the hosted tools' call items after any earlier call items (``file_search_call``) and
    their citations on the message. The items are in the response's ``output`` only, as for file_search."""
    wanted = _wanted(body, answer)
    if not wanted:
        return answer
    output = list(answer.response.get("output") or [])
    prefix = output[: len(output) - len(answer.items)]
    included = body.get("include")
    include: list[Any] = included if isinstance(included, list) else []
    query = last_user_text(body.get("input")).strip() or "search"
    calls, items = [], answer.items
    for tool in wanted:
        kind = _kind(str(tool["type"]))
        if kind == "web_search":
            call, urls = _web_search(tool, query, rng, "web_search_call.action.sources" in include)
            items = tuple(_cite(item, urls) for item in items)
        elif kind == "code_interpreter":
            call = _code_interpreter(tool, query, rng, "code_interpreter_call.outputs" in include)
        else:
            call = _image_generation(tool, rng)
        calls.append(call)
    response = {**answer.response, "output": [*prefix, *calls, *(item.body for item in items)]}
    return replace(answer, response=response, items=items)


def _web_search(
    tool: Mapping[str, Any], query: str, rng: random.Random, with_sources: bool
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    filters = tool.get("filters") if isinstance(tool.get("filters"), Mapping) else {}
    allowed = [d for d in (filters or {}).get("allowed_domains") or () if isinstance(d, str) and d]
    domains = allowed or ["example.com", "example.org"]
    slug = "-".join(_SLUG.findall(query.lower())[:6]) or "result"
    pages = [
        (f"https://{domains[i % len(domains)].strip('/')}/{slug}-{rng.randrange(100, 999)}", f"{query[:60]} ({i + 1})")
        for i in range(min(3, 1 + rng.randrange(3)))
    ]
    action: dict[str, Any] = {"type": "search", "query": query, "queries": [query]}
    if with_sources:
        action["sources"] = [{"type": "url", "url": url} for url, _ in pages]
    call = {"id": hex_id(rng, "ws_", 192), "type": "web_search_call", "status": "completed", "action": action}
    return call, pages


def _cite(item: Item, pages: Sequence[tuple[str, str]]) -> Item:
    body = item.body
    if body.get("type") != "message" or not pages:
        return item
    content = []
    for part in body["content"]:
        if part.get("type") == "output_text" and part["text"]:
            end = len(part["text"])
            cuts = [end * i // len(pages) for i in range(len(pages) + 1)]
            notes = [
                {"type": "url_citation", "url": url, "title": title, "start_index": cuts[i], "end_index": cuts[i + 1]}
                for i, (url, title) in enumerate(pages)
            ]
            part = {**part, "annotations": [*part["annotations"], *notes]}
        content.append(part)
    return replace(item, body={**body, "content": content})


def _code_interpreter(tool: Mapping[str, Any], query: str, rng: random.Random, with_outputs: bool) -> dict[str, Any]:
    container = tool.get("container")
    container_id = container if isinstance(container, str) else hex_id(rng, "cntr_", 192)
    numbers = _NUMBER.findall(query)[:MAX_NUMBERS]
    if numbers:
        code = f"values = [{', '.join(numbers)}]\nprint(sum(values))"
        total = sum((float(n) for n in numbers), 0.0)
        logs = f"{int(total)}\n" if total.is_integer() else f"{total!r}\n"
    else:
        code = f"print({query[:200]!r})"
        logs = f"{query[:200]}\n"
    return {
        "id": hex_id(rng, "ci_", 192),
        "type": "code_interpreter_call",
        "status": "completed",
        "container_id": container_id,
        "code": code,
        "outputs": [{"type": "logs", "logs": logs}] if with_outputs else None,
    }


def _image_generation(tool: Mapping[str, Any], rng: random.Random) -> dict[str, Any]:
    width, height = parse_size(tool.get("size") if isinstance(tool.get("size"), str) else None)
    scale = max(width, height) / MAX_IMAGE_SIDE
    if scale > 1:
        width, height = max(1, round(width / scale)), max(1, round(height / scale))
    fmt = tool.get("output_format") if tool.get("output_format") in ("png", "jpeg", "webp") else "png"
    data, _ = image(str(fmt), width, height, seed=rng.getrandbits(64))
    return {
        "id": hex_id(rng, "ig_", 192),
        "type": "image_generation_call",
        "status": "completed",
        "result": base64.b64encode(data).decode("ascii"),
    }


# --- streaming ---------------------------------------------------------------------------------


def streamed(answer: Answer, frames: list[Frame], body: Mapping[str, Any] | None = None) -> list[Frame]:
    """The stream of an answer with call items ahead of its own: each call's events after
    ``response.in_progress``, the other items' output indexes moved on, citations announced after their
    text's ``response.output_text.done``, and every frame numbered again."""
    output = answer.response.get("output") or []
    calls = output[: len(output) - len(answer.items)]
    if not calls:
        return frames
    tools = [t for t in (body or {}).get("tools") or () if isinstance(t, Mapping)]
    partials = next((t.get("partial_images") for t in tools if t.get("type") == "image_generation"), 0)
    head = 2 if len(frames) >= 2 else len(frames)  # response.created, response.in_progress
    out = list(frames[:head])
    for index, call in enumerate(calls):
        out += [
            Frame(data={"type": kind, "sequence_number": 0, **fields}, event=kind)
            for kind, fields in _call_events(index, call, partials if isinstance(partials, int) else 0)
        ]
    notes = {item.body["id"]: item.body.get("content") for item in answer.items if item.body.get("type") == "message"}
    shift = len(calls)
    for frame in frames[head:]:
        data = frame.data if isinstance(frame.data, dict) else {}
        if isinstance(data.get("output_index"), int):
            data = {**data, "output_index": data["output_index"] + shift}
            frame = replace(frame, data=data)
        kind = data.get("type")
        if kind == "response.content_part.added" and isinstance(data.get("part"), Mapping):
            frame = replace(frame, data={**data, "part": {**data["part"], "annotations": []}})  # cited at the end
        elif kind == "response.output_text.done" and data.get("item_id") in notes:
            out += _annotation_events(data, notes[data["item_id"]])
        out.append(frame)
    return [_numbered(frame, n) for n, frame in enumerate(out)]


def _call_events(index: int, call: Mapping[str, Any], partials: int) -> list[tuple[str, dict[str, Any]]]:
    kind = str(call["type"])
    where = {"output_index": index, "item_id": call["id"]}
    added: dict[str, Any] = {**call, "status": "in_progress"}
    middle: list[tuple[str, dict[str, Any]]]
    if kind == "file_search_call":
        added["results"] = None
        middle = [("response.file_search_call.in_progress", where), ("response.file_search_call.searching", where)]
    elif kind == "web_search_call":
        middle = [("response.web_search_call.in_progress", where), ("response.web_search_call.searching", where)]
    elif kind == "code_interpreter_call":
        added.update(code="", outputs=None)
        middle = [
            ("response.code_interpreter_call.in_progress", where),
            *(("response.code_interpreter_call_code.delta", {**where, "delta": line}) for line in _lines(call["code"])),
            ("response.code_interpreter_call_code.done", {**where, "code": call["code"]}),
            ("response.code_interpreter_call.interpreting", where),
        ]
    else:
        added["result"] = None
        middle = [
            ("response.image_generation_call.in_progress", where),
            ("response.image_generation_call.generating", where),
        ]
        middle += [
            ("response.image_generation_call.partial_image",
             {**where, "partial_image_index": n, "partial_image_b64": call["result"]})
            for n in range(max(0, min(partials, 3)))
        ]  # fmt: skip
    return [
        ("response.output_item.added", {"output_index": index, "item": added}),
        *middle,
        (f"response.{kind}.completed", where),
        ("response.output_item.done", {"output_index": index, "item": dict(call)}),
    ]


def _lines(code: str) -> list[str]:
    return code.splitlines(keepends=True) or [""]


def _annotation_events(done: Mapping[str, Any], content: Any) -> list[Frame]:
    """``response.output_text.annotation.added`` per citation of the part ``done`` finishes."""
    index = done.get("content_index")
    part = content[index] if isinstance(content, list) and isinstance(index, int) and index < len(content) else {}
    kind = "response.output_text.annotation.added"
    where = {key: done[key] for key in ("item_id", "output_index", "content_index")}
    return [
        Frame(data={"type": kind, "sequence_number": 0, **where, "annotation_index": n, "annotation": note}, event=kind)
        for n, note in enumerate(part.get("annotations") or ())
    ]


def _numbered(frame: Frame, number: int) -> Frame:
    data = frame.data
    if isinstance(data, dict) and "sequence_number" in data and data["sequence_number"] != number:
        return replace(frame, data={**data, "sequence_number": number})
    return frame
