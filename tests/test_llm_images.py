"""Images through the official SDK: decodable pictures, sizes, url route, usage, edits, streams."""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

import openai
import pytest

from fakeai.app import FakeAI
from fakeai.testing import async_client
from tests.conftest import make_app

PROMPT = "A lighthouse on a cliff at dusk."


def _png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of an 8-bit RGB PNG, after checking every chunk CRC and the pixel data length."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, idat, size = 8, b"", (0, 0)
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, payload = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        assert struct.unpack(">I", data[at + 8 + length : at + 12 + length])[0] == zlib.crc32(kind + payload)
        if kind == b"IHDR":
            size = struct.unpack(">II", payload[:8])
        idat += payload if kind == b"IDAT" else b""
        at += 12 + length
    assert len(zlib.decompress(idat)) == size[1] * (1 + 3 * size[0])
    return size


async def test_gpt_image_default_is_b64_png_with_usage(client: Any) -> None:
    answer = await client.images.generate(model="gpt-image-1", prompt=PROMPT, size="1536x1024", quality="low")
    assert _png_size(base64.b64decode(answer.data[0].b64_json)) == (1536, 1024)
    assert (answer.size, answer.quality, answer.output_format, answer.background) == (
        "1536x1024",
        "low",
        "png",
        "opaque",
    )
    assert answer.usage.output_tokens == 400 and answer.usage.input_tokens_details.text_tokens > 0
    assert answer.usage.total_tokens == answer.usage.input_tokens + answer.usage.output_tokens


@pytest.mark.parametrize(("fmt", "magic"), [("jpeg", b"\xff\xd8\xff"), ("webp", b"RIFF")])
async def test_gpt_image_output_formats(client: Any, fmt: str, magic: bytes) -> None:
    answer = await client.images.generate(model="gpt-image-1", prompt=PROMPT, output_format=fmt, size="1024x1024")
    assert base64.b64decode(answer.data[0].b64_json).startswith(magic)
    assert answer.output_format == fmt


async def test_n_images_differ_and_auto_is_1024(client: Any) -> None:
    answer = await client.images.generate(model="gpt-image-1", prompt=PROMPT, n=2, quality="low")
    first, second = (base64.b64decode(d.b64_json) for d in answer.data)
    assert first != second and _png_size(first) == (1024, 1024) and answer.size == "1024x1024"
    assert answer.usage.output_tokens == 2 * 272


async def test_dalle_url_is_served_by_fakeai(client: Any) -> None:
    answer = await client.images.generate(model="dall-e-2", prompt=PROMPT, size="256x256", n=2)
    urls = [d.url for d in answer.data]
    assert all(u.startswith("http://fakeai.test/_fakeai/images/") for u in urls) and urls[0] != urls[1]
    fetched = await client._client.get(urls[0])
    assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/png"
    assert _png_size(fetched.content) == (256, 256)


async def test_unknown_image_path_is_an_openai_404(client: Any) -> None:
    fetched = await client._client.get("http://fakeai.test/_fakeai/images/nothing-here.gif")
    assert fetched.status_code == 404 and "error" in fetched.json()


async def test_dalle3_revises_the_prompt_and_wants_n_1(client: Any) -> None:
    answer = await client.images.generate(model="dall-e-3", prompt=PROMPT, size="1792x1024", response_format="b64_json")
    assert "lighthouse on a cliff at dusk" in answer.data[0].revised_prompt
    assert _png_size(base64.b64decode(answer.data[0].b64_json)) == (1792, 1024)
    with pytest.raises(openai.BadRequestError):
        await client.images.generate(model="dall-e-3", prompt=PROMPT, n=2)


async def test_sizes_are_checked_per_model(client: Any) -> None:
    with pytest.raises(openai.BadRequestError, match="Supported values"):
        await client.images.generate(model="gpt-image-1", prompt=PROMPT, size="256x256")
    with pytest.raises(openai.BadRequestError):
        await client.images.generate(model="dall-e-2", prompt=PROMPT, size="1792x1024")


async def test_gpt_image_2_takes_any_size_within_the_spec_limits(client: Any) -> None:
    answer = await client.images.generate(model="gpt-image-2", prompt=PROMPT, size="1536x864", quality="low")
    assert _png_size(base64.b64decode(answer.data[0].b64_json)) == (1536, 864) and answer.size == "1536x864"
    assert answer.usage.output_tokens == round(272 * 1536 * 864 / 1024**2)  # the 1024x1024 tokens, scaled
    stream = await client.images.generate(
        model="gpt-image-2", prompt=PROMPT, size="1536x864", quality="low", stream=True, partial_images=1
    )
    assert [event.size async for event in stream] == ["1536x864", "1536x864"]  # frames checked against the spec
    for size, why in (("1000x1000", "divisible by 16"), ("3648x1008", "1:3 and 3:1"), ("4096x2304", "3840x2160")):
        with pytest.raises(openai.BadRequestError, match=why):
            await client.images.generate(model="gpt-image-2", prompt=PROMPT, size=size)


async def test_edit_sizes_follow_the_model(client: Any) -> None:
    source = await client.images.generate(model="dall-e-2", prompt=PROMPT, size="256x256", response_format="b64_json")
    upload = ("a.png", base64.b64decode(source.data[0].b64_json), "image/png")
    small = await client.images.edit(model="dall-e-2", image=upload, prompt="bluer", size="256x256")
    assert small.data[0].url.endswith("?size=256x256")
    wide = await client.images.edit(model="gpt-image-2", image=upload, prompt="bluer", size="1536x864", quality="low")
    assert _png_size(base64.b64decode(wide.data[0].b64_json)) == (1536, 864)
    with pytest.raises(openai.BadRequestError, match="Supported values"):
        await client.images.edit(model="gpt-image-1", image=upload, prompt="bluer", size="1536x864")


async def test_permissive_profile_skips_the_model_rules() -> None:
    client = async_client(make_app(validation="permissive"))
    answer = await client.images.generate(model="gpt-image-1", prompt=PROMPT, size="256x256", quality="low")
    assert _png_size(base64.b64decode(answer.data[0].b64_json)) == (256, 256)
    several = await client.images.generate(model="dall-e-3", prompt=PROMPT, n=2, size="512x512")
    assert len(several.data) == 2 and several.data[0].url.endswith("?size=512x512")


async def test_edit_with_several_images_and_a_mask(client: Any) -> None:
    source = await client.images.generate(model="dall-e-2", prompt=PROMPT, size="256x256", response_format="b64_json")
    png = base64.b64decode(source.data[0].b64_json)
    images = [("a.png", png, "image/png"), ("b.png", png, "image/png")]
    answer = await client.images.edit(
        model="gpt-image-1", image=images, mask=("m.png", png, "image/png"), prompt="bluer"
    )
    assert answer.usage.input_tokens_details.image_tokens == 2 * 765
    assert _png_size(base64.b64decode(answer.data[0].b64_json)) == (1024, 1024)


async def test_edit_auto_size_follows_a_landscape_upload(client: Any) -> None:
    wide = await client.images.generate(model="gpt-image-1", prompt=PROMPT, size="1536x1024", quality="low")
    upload = ("wide.png", base64.b64decode(wide.data[0].b64_json), "image/png")
    answer = await client.images.edit(model="gpt-image-1", image=upload, prompt="add a boat", size="auto")
    assert answer.size == "1536x1024"


async def test_variation_defaults_to_urls(client: Any) -> None:
    source = await client.images.generate(model="dall-e-2", prompt=PROMPT, size="256x256", response_format="b64_json")
    with pytest.warns(DeprecationWarning):
        answer = await client.images.create_variation(image=("a.png", base64.b64decode(source.data[0].b64_json)), n=3)
    assert len({d.url for d in answer.data}) == 3


async def test_gpt_image_stream_sends_partials_then_completed(client: Any) -> None:
    stream = await client.images.generate(
        model="gpt-image-1", prompt=PROMPT, stream=True, partial_images=2, quality="low"
    )
    events = [event async for event in stream]
    assert [e.type for e in events] == ["image_generation.partial_image"] * 2 + ["image_generation.completed"]
    assert [e.partial_image_index for e in events[:2]] == [0, 1]
    assert events[-1].usage.output_tokens == 272
    assert _png_size(base64.b64decode(events[-1].b64_json)) == (1024, 1024)


async def test_same_request_same_picture(client: Any, app: FakeAI) -> None:
    first = await client.images.generate(model="gpt-image-1", prompt=PROMPT, quality="low")
    second = await client.images.generate(model="gpt-image-1", prompt=PROMPT, quality="low")
    assert first.data[0].b64_json == second.data[0].b64_json
    assert app.operations["createImage"].sources[0] == "llm"


async def test_image_urls_are_public_and_the_rest_of_the_admin_api_is_not() -> None:
    """``fakeai_getImage`` is a routed admin operation marked x-fakeai-public: an images answer's URL opens
    without the API key (like OpenAI's signed blob URLs), while other admin operations still need it."""
    from fakeai.app import create_app
    from fakeai.config import Settings
    from fakeai.testing import async_client

    app = create_app(Settings(api_keys=("sk-test-key",)))
    async with async_client(app, api_key="sk-test-key") as authed:
        answer = await authed.images.generate(model="dall-e-2", prompt=PROMPT, size="512x512")
        assert answer.data[0].url is not None
        bare = authed._client
        fetched = await bare.get(answer.data[0].url, headers={"Authorization": ""})
        assert fetched.status_code == 200 and _png_size(fetched.content) == (512, 512)
        assert fetched.headers["cache-control"] == "public, max-age=86400"
        again = await bare.get(answer.data[0].url, headers={"Authorization": ""})
        assert again.content == fetched.content
        journal = await bare.get("http://fakeai.test/_fakeai/journal", headers={"Authorization": ""})
        assert journal.status_code == 401
        bad_size = await bare.get(answer.data[0].url.split("?")[0] + "?size=big", headers={"Authorization": ""})
        assert bad_size.status_code == 400 and bad_size.json()["error"]["param"] == "size"
