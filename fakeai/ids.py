"""OpenAI-looking ids (``chatcmpl-...``, ``call_...``, ``modr-...``): the one place they are drawn.

Every id comes from the ``random.Random`` passed in (the request's ``ctx.rng`` or a stream derived from
it), never from the global RNG. The helpers differ only in how they consume the RNG; each caller keeps the
draw it always had, so answers keep their bytes.

Ids are unique per answer: while a request is answered (:func:`unique_ids`), each drawn id is mixed with the
request's id (unique across processes and restarts), so two identical requests get the same content but
different ids, as the real API gives. With a fixed clock (``--fixed-time``) the salt is off and the same
request gets the same bytes, ids included. The RNG is consumed the same either way: content never changes.
"""

from __future__ import annotations

import hashlib
import random
import string
import uuid
from contextvars import ContextVar, Token

ALNUM = string.ascii_letters + string.digits  # a-z, A-Z, 0-9: chat, completion and tool call ids
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase  # 0-9, A-Z, a-z: the schema walker's ids
HEX = "0123456789abcdef"


_SALT: ContextVar[str | None] = ContextVar("fakeai_id_salt", default=None)


class unique_ids:  # lower case: used like a function, ``with unique_ids(request_id):``
    """Ids drawn inside the block are mixed with ``salt`` (a request id; None: ids as drawn). A class rather
    than a generator context manager: it is entered once per request."""

    __slots__ = ("salt", "token")

    def __init__(self, salt: str | None) -> None:
        self.salt = salt
        self.token: Token[str | None] | None = None

    def __enter__(self) -> None:
        self.token = _SALT.set(self.salt)

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End the block now (idempotent): an open stream draws no more ids and need not hold the context."""
        if self.token is not None:
            _SALT.reset(self.token)
            self.token = None


_TABLES: dict[str, bytes] = {}  # alphabet -> the byte translation b -> alphabet[b % len(alphabet)]


def _table(alphabet: str) -> bytes:
    found = _TABLES.get(alphabet)
    if found is None:
        found = _TABLES[alphabet] = bytes(ord(alphabet[b % len(alphabet)]) for b in range(256))
    return found


def _salted(drawn: str, alphabet: str) -> str:
    salt = _SALT.get()
    if salt is None:
        return drawn
    if not alphabet.isascii():  # every alphabet here is ASCII; anything else takes the slow road
        out: list[str] = []
        block = 0
        while len(out) < len(drawn):
            digest = hashlib.blake2b(f"{salt}\0{drawn}\0{block}".encode(), digest_size=64).digest()
            out += (alphabet[b % len(alphabet)] for b in digest)
            block += 1
        return "".join(out[: len(drawn)])
    table, blocks = _table(alphabet), []
    for block in range(-(-len(drawn) // 64)):
        blocks.append(hashlib.blake2b(f"{salt}\0{drawn}\0{block}".encode(), digest_size=64).digest())
    return b"".join(blocks)[: len(drawn)].translate(table).decode("ascii")


def new_id(rng: random.Random, prefix: str, length: int = 24, alphabet: str = ALNUM) -> str:
    """``prefix`` + ``length`` characters of ``alphabet``: one ``getrandbits`` draw, a byte per character mapped
    onto the alphabet (``b % len(alphabet)``: 62 characters are not quite uniform, which no id needs). One draw
    instead of ``rng.choices``' one ``random()`` per character: 1.5 instead of 11 µs for a chat completion id."""
    if not alphabet.isascii():
        return prefix + _salted("".join(rng.choices(alphabet, k=length)), alphabet)
    drawn = rng.getrandbits(8 * length).to_bytes(length, "little").translate(_table(alphabet)).decode("ascii")
    return prefix + _salted(drawn, alphabet)


def new_id_per_char(rng: random.Random, prefix: str, length: int = 24, alphabet: str = ALNUM) -> str:
    """Like :func:`new_id` but one ``rng.choice`` per character: another use of the RNG, so another id.

    Template ``random_id()`` and SDP credentials have always been drawn this way.
    """
    return prefix + _salted("".join(rng.choice(alphabet) for _ in range(length)), alphabet)


def hex_id(rng: random.Random, prefix: str, bits: int) -> str:
    """``prefix`` + ``bits`` random bits as zero-padded lowercase hex (``bits // 4`` digits)."""
    assert bits % 4 == 0, bits
    return prefix + _salted(f"{rng.getrandbits(bits):0{bits // 4}x}", HEX)


def new_uuid(rng: random.Random) -> str:
    """A random (version 4) UUID drawn from ``rng``."""
    drawn = rng.getrandbits(128)
    if _SALT.get() is not None:
        drawn = int(_salted(f"{drawn:032x}", HEX), 16)
    return str(uuid.UUID(int=drawn, version=4))
