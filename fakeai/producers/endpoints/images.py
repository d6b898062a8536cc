"""``POST /images/generations``, ``/images/edits``, ``/images/variations``: real, decodable images.

Model families behave as the real API does:

* ``gpt-image*`` / ``chatgpt-image*``: always ``b64_json``; ``output_format`` png | jpeg | webp;
  sizes 1024x1024, 1536x1024, 1024x1536 or ``auto`` (1024x1024; for edits, the aspect of the
  first uploaded PNG); ``gpt-image-2*`` any ``WIDTHxHEIGHT`` within the spec's limits (both edges
  divisible by 16, aspect 1:3 to 3:1, at most 3840x2160 pixels); the answer carries ``size``,
  ``quality``, ``background``, ``output_format`` and ``usage`` (output tokens from OpenAI's published
  per-size/quality table, scaled by pixels for other sizes); ``stream: true`` sends ``partial_images``
  partial events, then a completed event.
* ``dall-e-3``: ``n`` must be 1; sizes 1024x1024, 1792x1024, 1024x1792; a ``revised_prompt``.
* ``dall-e-2`` (and unknown models, with any ``WxH`` size): squares 256/512/1024.

These model rules are semantic checks the schema cannot state; ``validation: permissive`` skips them
(any ``WxH`` size is drawn as asked) as it skips schema errors.

``dall-e`` answers default to ``response_format: url``: the URL points back at this fakeai
(``<scheme>://<Host header>/_fakeai/images/<seed>.<fmt>?size=WxH``) and the admin operation
``fakeai_getImage`` (spec/admin.yaml) serves the same deterministic picture there. Images are seeded
by the request, so the same request gives the same pictures.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fakeai.context import Frame, Output, RequestContext, UploadedFile
from fakeai.errors import APIError
from fakeai.media.formats import image, parse_size
from fakeai.media.links import signature
from fakeai.producers.base import CompileEnv
from fakeai.producers.text.tokenizer import IMAGE_TOKENS_HIGH, for_model
from fakeai.spec.operation import Operation
from fakeai.spec.pointer import deref

__all__ = ["IMAGE_ROUTE", "ImagesProducer", "factory", "image_url"]

IMAGE_ROUTE = "/_fakeai/images/"
OPERATIONS = {"createImage": "generation", "createImageEdit": "edit", "createImageVariation": "variation"}
GPT_IMAGE_SIZES = ("1024x1024", "1536x1024", "1024x1536")
DALLE3_SIZES = ("1024x1024", "1792x1024", "1024x1792")
DALLE2_SIZES = ("256x256", "512x512", "1024x1024")
FLEXIBLE_MAX_PIXELS, FLEXIBLE_MAX_EDGE = 3840 * 2160, 3840  # gpt-image-2: the size description's limits
# gpt-image-1 output tokens per quality and size (OpenAI's image generation pricing table)
OUTPUT_TOKENS = {
    "low": {"1024x1024": 272, "1024x1536": 408, "1536x1024": 400},
    "medium": {"1024x1024": 1056, "1024x1536": 1584, "1536x1024": 1568},
    "high": {"1024x1024": 4160, "1024x1536": 6240, "1536x1024": 6208},
}
_REVISIONS = (
    "A detailed, high-resolution illustration of {p}, with soft natural lighting and a balanced composition.",
    "A vivid digital painting showing {p}, rich in colour and texture, framed with a shallow depth of field.",
    "A photorealistic scene depicting {p}, captured at golden hour with crisp detail and gentle shadows.",
)
_GOLDEN = 0x9E3779B97F4A7C15
_MASK64 = (1 << 64) - 1


def _family(model: str) -> str:
    lowered = model.lower()
    if lowered.startswith("gpt-image-2"):
        return "gpt-image-2"
    if lowered.startswith(("gpt-image", "chatgpt-image")):
        return "gpt-image"
    if lowered.startswith("dall-e-3"):
        return "dall-e-3"
    return "dall-e-2" if lowered.startswith("dall-e-2") else "other"


def image_url(ctx: RequestContext, seed: int, fmt: str, size: str) -> str:
    """The URL under which ``fakeai_getImage`` serves image ``seed`` of ``size`` in ``fmt``."""
    host = ctx.headers.get("host") or f"{ctx.settings.host}:{ctx.settings.port}"
    scheme = ctx.headers.get("x-forwarded-proto", "http").split(",")[0].strip() or "http"
    name = f"{seed:016x}.{fmt}"
    sig = signature(ctx.settings, name, size)  # with api_keys: unguessable (fakeai.media.links)
    return f"{scheme}://{host}{IMAGE_ROUTE}{name}?size={size}" + (f"&sig={sig}" if sig else "")


@dataclass(frozen=True, slots=True)
class ImagesProducer:
    kind: str  # generation | edit | variation
    default_model: str
    source: str = "llm"

    def produce(self, ctx: RequestContext) -> Output | None:
        body: Mapping[str, Any] = ctx.body if isinstance(ctx.body, dict) else {}
        model = str(body.get("model") or self.default_model)
        family = _family(model)
        checked = ctx.settings.validation == "strict"  # permissive / off: no semantic 400s either
        n = body.get("n") or 1
        if family == "dall-e-3" and n != 1 and checked:
            raise APIError(400, "You must provide n=1 for this model.", param="n")
        size = self._size(body.get("size"), family, ctx, checked)
        width, height = parse_size(size)
        gpt_image = family.startswith("gpt-image")
        fmt = str(body.get("output_format") or "png") if gpt_image else "png"
        background = str(body.get("background") or "auto")
        if background == "transparent" and fmt == "jpeg" and checked:
            raise APIError(
                400, "Transparent background is not supported for the jpeg output format.", param="background"
            )
        seeds = [(ctx.seed + i * _GOLDEN) & _MASK64 for i in range(int(n))]
        created = int(ctx.now)
        if gpt_image:
            quality = str(body.get("quality")) if body.get("quality") in OUTPUT_TOKENS else "high"
            meta = {
                "size": size,
                "quality": quality,
                "background": "transparent" if background == "transparent" else "opaque",
                "output_format": fmt,
            }
            usage = self._usage(ctx, body, model, _output_tokens(quality, size, width, height) * len(seeds))
            pictures = [_b64(fmt, width, height, seed) for seed in seeds]
            if ctx.wants_stream:
                return Output(frames=self._frames(body, pictures, meta, usage, created), source=self.source)
            data = [{"b64_json": picture} for picture in pictures]
            return Output(body={"created": created, "data": data, **meta, "usage": usage}, source=self.source)
        as_url = (body.get("response_format") or "url") == "url"
        items: list[dict[str, Any]] = [
            {"url": image_url(ctx, seed, fmt, size)} if as_url else {"b64_json": _b64(fmt, width, height, seed)}
            for seed in seeds
        ]
        if family == "dall-e-3":
            prompt = str(body.get("prompt") or "").strip().rstrip(".")
            for item in items:
                item["revised_prompt"] = ctx.rng.choice(_REVISIONS).format(p=prompt[:1].lower() + prompt[1:])
        return Output(body={"created": created, "data": items}, source=self.source)

    def _size(self, requested: Any, family: str, ctx: RequestContext, checked: bool) -> str:
        if requested in (None, "auto"):
            if family.startswith("gpt-image") and self.kind == "edit":
                return _auto_edit_size(_uploads(ctx, "image"))
            return "1024x1024"
        size = str(requested)
        if parse_size(size, default=(0, 0)) == (0, 0):
            if not checked:
                return "1024x1024"
            raise APIError(400, f"Invalid value: '{size}'. Expected WIDTHxHEIGHT.", param="size", code="invalid_value")
        problem = _size_problem(size, family) if checked else None
        if problem:
            raise APIError(400, f"Invalid value: '{size}'. {problem}", param="size", code="invalid_value")
        return size

    def _usage(self, ctx: RequestContext, body: Mapping[str, Any], model: str, output_tokens: int) -> dict[str, Any]:
        text = for_model(model).count(str(body.get("prompt") or ""))
        images = len(_uploads(ctx, "image")) or len(body.get("images") or ())
        image_tokens = images * IMAGE_TOKENS_HIGH if self.kind == "edit" else 0
        return {
            "input_tokens": text + image_tokens,
            "input_tokens_details": {"text_tokens": text, "image_tokens": image_tokens},
            "output_tokens": output_tokens,
            "total_tokens": text + image_tokens + output_tokens,
        }

    def _frames(
        self,
        body: Mapping[str, Any],
        pictures: Sequence[str],
        meta: Mapping[str, str],
        usage: Mapping[str, Any],
        created: int,
    ) -> list[Frame]:
        prefix = "image_edit" if self.kind == "edit" else "image_generation"
        partials = body.get("partial_images") or 0
        frames: list[Frame] = []
        for picture in pictures:
            for index in range(int(partials)):
                event = {
                    "type": f"{prefix}.partial_image",
                    "b64_json": picture,
                    "created_at": created,
                    **meta,
                    "partial_image_index": index,
                }
                frames.append(Frame(event, event=f"{prefix}.partial_image", tokens=1))
            done = {"type": f"{prefix}.completed", "b64_json": picture, "created_at": created, **meta, "usage": usage}
            frames.append(Frame(done, event=f"{prefix}.completed", tokens=1))
        return frames


def _size_problem(size: str, family: str) -> str | None:
    """Why ``size`` (a parsed ``WxH``) does not suit the model family, or ``None``."""
    if family == "gpt-image-2":
        if size in GPT_IMAGE_SIZES:
            return None
        width, height = parse_size(size)
        if width % 16 or height % 16:
            return "Width and height must both be divisible by 16."
        if max(width, height) > 3 * min(width, height):
            return "The aspect ratio must be between 1:3 and 3:1."
        if width * height > FLEXIBLE_MAX_PIXELS or max(width, height) > FLEXIBLE_MAX_EDGE:
            return "The maximum supported resolution is 3840x2160."
        return None
    allowed = {"gpt-image": GPT_IMAGE_SIZES, "dall-e-3": DALLE3_SIZES, "dall-e-2": DALLE2_SIZES}.get(family)
    if allowed is None or size in allowed:
        return None
    choices = ", ".join(f"'{s}'" for s in allowed) + (", 'auto'" if family == "gpt-image" else "")
    return f"Supported values are: {choices}."


def _output_tokens(quality: str, size: str, width: int, height: int) -> int:
    """The pricing table's tokens for a standard size; other sizes scale 1024x1024's by their pixel count."""
    table = OUTPUT_TOKENS[quality]
    return table.get(size) or round(table["1024x1024"] * width * height / (1024 * 1024))


def _b64(fmt: str, width: int, height: int, seed: int) -> str:
    return base64.b64encode(image(fmt, width, height, seed=seed)[0]).decode()


def _uploads(ctx: RequestContext, name: str) -> Sequence[UploadedFile]:
    return ctx.files.get(name) or ctx.files.get(f"{name}[]") or ()


def _auto_edit_size(uploads: Sequence[UploadedFile]) -> str:
    """Landscape / portrait / square after the first PNG's IHDR; 1024x1024 otherwise."""
    data = uploads[0].data if uploads else b""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 24:
        return "1024x1024"
    width, height = struct.unpack(">II", data[16:24])
    if width > height * 1.2:
        return "1536x1024"
    return "1024x1536" if height > width * 1.2 else "1024x1024"


def factory(operation: Operation, env: CompileEnv) -> ImagesProducer | None:
    kind = OPERATIONS.get(operation.operation_id)
    if kind is None:
        return None
    default = {"generation": "dall-e-2", "edit": "gpt-image-1", "variation": "dall-e-2"}[kind]
    for media in operation.request_media.values():
        schema = deref(env.document, media.schema)
        found = ((schema or {}).get("properties") or {}).get("model", {}).get("default")
        if isinstance(found, str):
            default = found
            break
    return ImagesProducer(kind, default)
