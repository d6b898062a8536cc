"""OpenAI-looking ids (``chatcmpl-...``, ``call_...``, ``modr-...``): the one place they are drawn.

Every id comes from the ``random.Random`` passed in (the request's ``ctx.rng`` or a stream derived from
it), never from the global RNG, so the same request gets the same ids. The helpers differ only in how
they consume the RNG; each caller keeps the draw it always had, so answers keep their bytes.
"""

from __future__ import annotations

import random
import string
import uuid

ALNUM = string.ascii_letters + string.digits  # a-z, A-Z, 0-9: chat, completion and tool call ids
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase  # 0-9, A-Z, a-z: the schema walker's ids
HEX = "0123456789abcdef"


def new_id(rng: random.Random, prefix: str, length: int = 24, alphabet: str = ALNUM) -> str:
    """``prefix`` + ``length`` characters of ``alphabet``, drawn at once (``rng.choices``)."""
    return prefix + "".join(rng.choices(alphabet, k=length))


def new_id_per_char(rng: random.Random, prefix: str, length: int = 24, alphabet: str = ALNUM) -> str:
    """Like :func:`new_id` but one ``rng.choice`` per character: another use of the RNG, so another id.

    Template ``random_id()`` and SDP credentials have always been drawn this way.
    """
    return prefix + "".join(rng.choice(alphabet) for _ in range(length))


def hex_id(rng: random.Random, prefix: str, bits: int) -> str:
    """``prefix`` + ``bits`` random bits as zero-padded lowercase hex (``bits // 4`` digits)."""
    assert bits % 4 == 0, bits
    return f"{prefix}{rng.getrandbits(bits):0{bits // 4}x}"


def new_uuid(rng: random.Random) -> str:
    """A random (version 4) UUID drawn from ``rng``."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
