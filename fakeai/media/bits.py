"""Bit writing and the CRCs that media containers need (FLAC CRC-8/CRC-16, Ogg CRC-32).

The FLAC CRC-16 is computed for many frames at once with numpy: a zero-initialised CRC without
final xor is the remainder ``M(x) * x^16 mod P(x)``, which is linear, so halves combine as
``crc(A || B) = crc(A) * x^(8 * len(B)) mod P  xor  crc(B)``. Multiplying by ``x^(8m)`` is a
65536-entry lookup table; the table for ``2m`` is the table for ``m`` applied twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from fakeai.lazyimport import lazy

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    U8 = npt.NDArray[np.uint8]
    U16 = npt.NDArray[np.uint16]
else:
    np = lazy("numpy")


class BitWriter:
    """Collects big-endian (MSB-first) bit fields, as MPEG, FLAC and H.264 headers use."""

    __slots__ = ("_acc", "_nbits")

    def __init__(self) -> None:
        self._acc = 0
        self._nbits = 0

    def bits(self, value: int, nbits: int) -> None:
        assert 0 <= value < (1 << nbits), (value, nbits)
        self._acc = (self._acc << nbits) | value
        self._nbits += nbits

    def ue(self, value: int) -> None:
        """Unsigned Exp-Golomb code (H.264)."""
        code = value + 1
        self.bits(0, code.bit_length() - 1)
        self.bits(code, code.bit_length())

    def se(self, value: int) -> None:
        """Signed Exp-Golomb code (H.264)."""
        self.ue(2 * value - 1 if value > 0 else -2 * value)

    @property
    def aligned(self) -> bool:
        return self._nbits % 8 == 0

    def align(self, fill: int = 0) -> None:
        pad = -self._nbits % 8
        self.bits(((1 << pad) - 1) if fill else 0, pad)

    def to_bytes(self) -> bytes:
        assert self.aligned, "pad with align() first"
        return self._acc.to_bytes(self._nbits // 8, "big")


def _msb_table(poly: int, width: int) -> tuple[int, ...]:
    top, mask = 1 << (width - 1), (1 << width) - 1
    table = []
    for byte in range(256):
        crc = byte << (width - 8)
        for _ in range(8):
            crc = ((crc << 1) ^ poly) if crc & top else (crc << 1)
        table.append(crc & mask)
    return tuple(table)


_CRC8 = _msb_table(0x07, 8)
_CRC16 = _msb_table(0x8005, 16)
_CRC32 = _msb_table(0x04C11DB7, 32)


def crc8(data: bytes) -> int:
    """CRC-8, polynomial 0x07, init 0 (FLAC frame header)."""
    crc = 0
    for byte in data:
        crc = _CRC8[crc ^ byte]
    return crc


def crc16(data: bytes) -> int:
    """CRC-16, polynomial 0x8005, init 0, not reflected (FLAC frame footer). Scalar reference."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC16[(crc >> 8) ^ byte]
    return crc


def crc32_ogg(data: bytes) -> int:
    """CRC-32, polynomial 0x04C11DB7, init 0, no final xor, not reflected (Ogg pages)."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC32[(crc >> 24) ^ byte]
    return crc


@lru_cache(maxsize=32)
def _times_x8m(m: int) -> U16:
    """Lookup table for ``c -> c * x^(8m) mod P`` over all 16-bit ``c``; ``m`` a power of two."""
    if m == 1:
        c = np.arange(65536, dtype=np.uint32)
        table = np.asarray(_CRC16, dtype=np.uint32)
        first: U16 = (((c & 0xFF) << 8) ^ table[c >> 8]).astype(np.uint16)
        return first
    half = _times_x8m(m // 2)
    return half[half]


def crc16_rows(messages: Sequence[bytes]) -> list[int]:
    """FLAC CRC-16 of each message, vectorised. Equal to ``[crc16(m) for m in messages]``."""
    if not messages:
        return []
    longest = max(2, max(len(m) for m in messages))
    width = 1 << (longest - 1).bit_length()
    rows = np.zeros((len(messages), width), dtype=np.uint8)
    for i, message in enumerate(messages):  # left-pad with zeros: they do not change the CRC
        rows[i, width - len(message) :] = np.frombuffer(message, dtype=np.uint8)
    words = (rows[:, 0::2].astype(np.uint16) << 8) | rows[:, 1::2]
    crcs = _times_x8m(2)[words]
    span = 2
    while crcs.shape[1] > 1:
        crcs = _times_x8m(span)[crcs[:, 0::2]] ^ crcs[:, 1::2]
        span *= 2
    return [int(c) for c in crcs[:, 0]]
