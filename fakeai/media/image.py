"""Image bodies (PNG, JPEG, WebP) written without Pillow, for the images API and ``image/*`` media.

The picture is a seeded colour gradient with soft blobs. PNG is lossless RGB. JPEG is baseline
with only DC coefficients (every 8x8 block is flat: a mosaic of the picture). WebP is lossless
VP8L with no transforms and fixed 8-bit codes: valid, uncompressed in effect (~3 bytes a pixel).
"""

from __future__ import annotations

import re
import struct
import zlib
from functools import lru_cache
from typing import TYPE_CHECKING

from fakeai.lazyimport import lazy

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    RGB = npt.NDArray[np.uint8]
else:
    np = lazy("numpy")


CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "jpg": "image/jpeg", "webp": "image/webp"}
MAX_SIDE = 4096
_SIZE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


def parse_size(size: str | None, default: tuple[int, int] = (1024, 1024)) -> tuple[int, int]:
    """``"1536x1024"`` -> ``(1536, 1024)`` (width, height); ``None``, ``"auto"`` or junk -> ``default``."""
    match = _SIZE.match(size) if size else None
    if match is None:
        return default
    width, height = int(match.group(1)), int(match.group(2))
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        return default
    return width, height


def image(fmt: str, width: int, height: int, *, seed: int) -> tuple[bytes, str]:
    """A decodable ``width`` x ``height`` image in ``fmt`` (png, jpeg/jpg, webp) and its content type."""
    fmt = fmt.lower()
    if fmt not in CONTENT_TYPES:
        raise ValueError(f"unknown image format {fmt!r}; expected one of {sorted(CONTENT_TYPES)}")
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise ValueError(f"image size {width}x{height} out of range 1..{MAX_SIDE}")
    return _image("jpeg" if fmt == "jpg" else fmt, width, height, seed), CONTENT_TYPES[fmt]


@lru_cache(maxsize=16)
def _image(fmt: str, width: int, height: int, seed: int) -> bytes:
    pixels = picture(width, height, seed=seed)
    if fmt == "png":
        return png(pixels)
    if fmt == "jpeg":
        return jpeg(pixels)
    return webp(pixels)


def picture(width: int, height: int, *, seed: int) -> RGB:
    """``(height, width, 3)`` uint8: a two-colour diagonal gradient lit by three soft blobs.

    A scalar "level" is computed per pixel (the blobs are separable Gaussians, so one small matrix
    product) and mapped to colour through a 1024-entry palette: one gather instead of RGB maths.
    """
    rng = np.random.default_rng(seed & 0xFFFFFFFFFFFFFFFF)
    start, end = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    angle = rng.uniform(0, 2 * np.pi)
    blobs = rng.uniform([0, 0, 0.08, -0.4], [1, 1, 0.3, 0.4], (3, 4)).astype(np.float32)
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)
    across = np.stack([strength * np.exp(-((x - cx) ** 2) / r**2) for cx, _, r, strength in blobs])
    down = np.stack([np.exp(-((y - cy) ** 2) / r**2) for _, cy, r, _ in blobs], axis=1)
    level = down @ across  # (height, width)
    level += (x * np.float32(np.cos(angle)))[None, :]
    level += (y * np.float32(np.sin(angle)) + np.float32(0.5 - 0.5 * np.cos(angle) - 0.5 * np.sin(angle)))[:, None]
    index = np.clip((level + np.float32(0.5)) * np.float32(_PALETTE / 2), 0, _PALETTE - 1).astype(np.intp)
    steps = np.linspace(-0.5, 1.5, _PALETTE)[:, None]
    palette = np.clip(start + (end - start) * steps, 0, 255).astype(np.uint8)
    pixels: RGB = np.take(palette, index, axis=0)  # much faster than palette[index] for a 2-D palette
    return pixels


_PALETTE = 1024


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(pixels: RGB) -> bytes:
    """8-bit RGB PNG; every row uses filter type 0."""
    height, width, _ = pixels.shape
    rows = np.zeros((height, 1 + 3 * width), dtype=np.uint8)
    rows[:, 1:] = pixels.reshape(height, 3 * width)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(rows.tobytes(), 1)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _pack_codes(values: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8]:
    """Concatenate variable-length codes (MSB first) into a bit array, one uint8 per bit."""
    width = int(lengths.max())
    positions = np.arange(width)[None, :]
    shifts = lengths[:, None] - 1 - positions
    bits = (values[:, None] >> np.maximum(shifts, 0)) & 1
    packed: npt.NDArray[np.uint8] = bits[shifts >= 0].astype(np.uint8)
    return packed


def _marker(code: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, code, len(payload) + 2) + payload


def jpeg(pixels: RGB) -> bytes:
    """Baseline JPEG, YCbCr 4:4:4, DC coefficients only (quantiser 1, 4-bit DC codes, 1-bit EOB)."""
    height, width, _ = pixels.shape
    padded = np.pad(pixels, ((0, -height % 8), (0, -width % 8), (0, 0)), mode="edge")
    by, bx = padded.shape[0] // 8, padded.shape[1] // 8
    rgb = padded.reshape(by, 8, bx, 8, 3).sum(axis=(1, 3), dtype=np.uint32).reshape(-1, 3) / 64.0
    to_ycc = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
    means = rgb @ to_ycc.T + [0.0, 128.0, 128.0]  # colour conversion is linear: convert block means
    dc = np.round(8 * (means - 128)).astype(np.int64)  # DC of a flat block = 8 * (level - 128)
    diff = np.diff(dc, axis=0, prepend=0).reshape(-1)
    category = np.zeros_like(diff)
    nonzero = diff != 0
    category[nonzero] = np.floor(np.log2(np.abs(diff[nonzero]))).astype(np.int64) + 1
    amplitude = np.where(diff >= 0, diff, diff + (1 << category) - 1)
    # code = 4-bit category (DC table: 12 symbols of length 4), amplitude bits, then EOB "0"
    values = (((category << category) | amplitude) << 1).astype(np.int64)
    bits = _pack_codes(values, 4 + category + 1)
    bits = np.concatenate([bits, np.ones(-len(bits) % 8, dtype=np.uint8)])
    scan = np.packbits(bits)
    scan = np.insert(scan, np.flatnonzero(scan == 0xFF) + 1, 0)  # byte stuffing
    dht_dc = bytes([0x00]) + bytes([0, 0, 0, 12] + [0] * 12) + bytes(range(12))
    dht_ac = bytes([0x10]) + bytes([1] + [0] * 15) + b"\x00"
    components = b"".join(bytes([i, 0x11, 0]) for i in (1, 2, 3))
    return b"".join(
        [
            b"\xff\xd8",
            _marker(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
            _marker(0xDB, b"\x00" + bytes([1] * 64)),
            _marker(0xC0, struct.pack(">BHHB", 8, height, width, 3) + components),
            _marker(0xC4, dht_dc + dht_ac),
            _marker(0xDA, b"\x03" + b"".join(bytes([i, 0x00]) for i in (1, 2, 3)) + b"\x00\x3f\x00"),
            scan.tobytes(),
            b"\xff\xd9",
        ]
    )


def _lsb_bits(fields: list[tuple[int, int]]) -> npt.NDArray[np.uint8]:
    """Bit fields written least-significant bit first (VP8L's bit order), one uint8 per bit."""
    return np.array([(value >> i) & 1 for value, nbits in fields for i in range(nbits)], dtype=np.uint8)


def _vp8l_flat_code(num_symbols: int) -> list[tuple[int, int]]:
    """A normal prefix code giving symbols 0..255 length 8 and any further symbols length 0."""
    order = (17, 18, 0, 1, 2, 3, 4, 5, 16, 6, 7, 8)  # kCodeLengthCodeOrder up to symbol 8
    fields = [(0, 1), (len(order) - 4, 4)]
    fields += [(1 if symbol in (0, 8) else 0, 3) for symbol in order]  # code-length code: 0 -> "0", 8 -> "1"
    fields.append((0, 1))  # max_symbol = alphabet size
    fields += [(1, 1)] * 256 + [(0, 1)] * (num_symbols - 256)
    return fields


@lru_cache(maxsize=1)
def _reversed_bits() -> npt.NDArray[np.uint8]:
    """Each byte value with its bits reversed (built on first use: numpy loads lazily)."""
    return np.array([int(f"{i:08b}"[::-1], 2) for i in range(256)], dtype=np.uint8)


def webp(pixels: RGB) -> bytes:
    """Lossless WebP (VP8L): no transforms, no colour cache, fixed 8-bit codes for G, R, B."""
    height, width, _ = pixels.shape
    fields = [(0x2F, 8), (width - 1, 14), (height - 1, 14), (0, 1), (0, 3)]
    fields += [(0, 1), (0, 1), (0, 1)]  # no transform, no colour cache, no meta prefix codes
    fields += _vp8l_flat_code(256 + 24) + _vp8l_flat_code(256) + _vp8l_flat_code(256)
    fields += [(1, 1), (0, 1), (1, 1), (255, 8)]  # alpha: simple code, one 8-bit symbol 255
    fields += [(1, 1), (0, 1), (0, 1), (0, 1)]  # distance: simple code, one 1-bit symbol 0
    # Canonical codes of equal length are the symbols themselves, read MSB first (G, R, B per
    # pixel); in VP8L's LSB-first stream that is each byte bit-reversed, shifted past the header.
    header = _lsb_bits(fields)
    shift = len(header) % 8
    stream = _reversed_bits()[pixels[..., [1, 0, 2]].reshape(-1)].astype(np.uint16) << shift
    body = (stream & 0xFF).astype(np.uint8)
    body[1:] |= (stream[:-1] >> 8).astype(np.uint8)
    head = np.packbits(header, bitorder="little")
    if shift:
        body[0] |= head[-1]
        head = head[:-1]
    data = head.tobytes() + body.tobytes() + (bytes([int(stream[-1]) >> 8]) if shift else b"")
    chunk = b"VP8L" + struct.pack("<I", len(data)) + data + b"\x00" * (len(data) % 2)
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk
