"""The pictures images answers link to (``fakeai_getImage``): signed when the server has API keys, bounded in
size, rendered once and off the event loop.

Browsers fetch ``image_url`` without an API key, as they fetch OpenAI's blob URLs; so the URL stays public
but, when ``api_keys`` are set, carries ``sig``: an HMAC of the image's name and size under a secret derived
from the keys and the seed. Only the server that handed the URL out (or one with the same keys and seed)
can mint it, and a guessed name or size is a 404. Without keys the server is open anyway, and so are its
pictures.
"""

from __future__ import annotations

import functools
import hashlib
import hmac

from fakeai.config import Settings
from fakeai.media.image import image

CACHED_IMAGES = 32  # rendered pictures kept (a 1024x1024 PNG is a few kB; the largest allowed a few MB)


def signature(settings: Settings, name: str, size: str) -> str | None:
    """``sig`` for the image URL ``name?size=size``; None when the server has no API keys."""
    if not settings.api_keys:
        return None
    secret = hashlib.sha256(b"fakeai-images\0%d\0%s" % (settings.seed, "\0".join(settings.api_keys).encode()))
    return hmac.new(secret.digest(), f"{name}?size={size}".encode(), hashlib.sha256).hexdigest()[:32]


def signed(settings: Settings, name: str, size: str, sig: str | None) -> bool:
    expected = signature(settings, name, size)
    return expected is None or (sig is not None and hmac.compare_digest(expected, sig))


@functools.lru_cache(maxsize=CACHED_IMAGES)
def rendered(fmt: str, width: int, height: int, seed: int) -> tuple[bytes, str]:
    """The picture's bytes (deterministic, so the same request is served from memory the next time)."""
    return image(fmt, width, height, seed=seed)
