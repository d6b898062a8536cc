"""Audio bodies for ``POST /audio/speech``: a quiet synthetic voice in OpenAI's six formats.

``pcm``, ``wav`` and ``flac`` carry the synthetic samples (24 kHz, 16-bit, mono). ``mp3``, ``aac``
and ``opus`` are real, decodable streams of *silence* of the same duration: writing a psychoacoustic
encoder is out of scope, but players, ffprobe and the SDKs accept them.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from functools import lru_cache
from typing import TYPE_CHECKING

from fakeai.lazyimport import lazy
from fakeai.media.bits import BitWriter, crc8, crc16_rows, crc32_ogg

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
else:
    np = lazy("numpy")


SAMPLE_RATE = 24_000
CHARS_PER_SECOND = 15.0
MIN_SECONDS = 0.3
MAX_SECONDS = 60.0

CONTENT_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}


def duration_for(text: str, speed: float = 1.0) -> float:
    """Seconds of speech for ``text``: ~15 characters a second, divided by ``speed``, clamped."""
    seconds = len(text) / CHARS_PER_SECOND / max(speed, 0.01)
    return min(MAX_SECONDS, max(MIN_SECONDS, seconds))


def speech(text: str, response_format: str, *, seed: int, speed: float = 1.0) -> tuple[bytes, str]:
    """Audio bytes and content type for ``text`` in one of OpenAI's speech formats."""
    if response_format not in CONTENT_TYPES:
        raise ValueError(f"unknown speech format {response_format!r}; expected one of {sorted(CONTENT_TYPES)}")
    return _speech(text, response_format, seed, float(speed)), CONTENT_TYPES[response_format]


@lru_cache(maxsize=32)
def _speech(text: str, fmt: str, seed: int, speed: float) -> bytes:
    nsamples = round(duration_for(text, speed) * SAMPLE_RATE)
    if fmt == "mp3":
        return mp3_silence(nsamples)
    if fmt == "aac":
        return adts_silence(nsamples)
    if fmt == "opus":
        return ogg_opus_silence(nsamples, serial=seed & 0xFFFFFFFF)
    samples = synthesize(nsamples, seed=seed, salt=zlib.crc32(text.encode()))
    if fmt == "pcm":
        return samples.astype("<i2").tobytes()
    if fmt == "wav":
        return wav(samples)
    return flac(samples)


_TABLE_BITS = 12
_TABLE_SIZE = 1 << _TABLE_BITS
_CONTROL_STEP = 32  # pitch and loudness change every 32 samples (1.3 ms)


def synthesize(nsamples: int, *, seed: int, salt: int = 0) -> npt.NDArray[np.int16]:
    """A quiet, speech-like signal: a gliding voiced pitch through three formants, in syllables.

    One pitch period is rendered into a wavetable (15 harmonics shaped by the formants); pitch and
    the syllable envelope run at a control rate, so the cost per sample is a few array operations.
    """
    rng = np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, salt])
    base = rng.uniform(100.0, 210.0)
    formants = np.sort(rng.uniform([350, 900, 2200], [800, 1700, 3000]))
    harmonics = np.arange(1, 16)
    gains = np.exp(-(((harmonics[:, None] * base - formants[None, :]) / 150.0) ** 2)).sum(axis=1) / harmonics**0.5
    theta = np.arange(_TABLE_SIZE) * (2 * np.pi / _TABLE_SIZE)
    table = gains @ np.sin(harmonics[:, None] * theta[None, :])
    table *= 0.2 * 32767 / float(np.max(np.abs(table)))

    ncontrol = nsamples // _CONTROL_STEP + 1
    tc = np.arange(ncontrol) * (_CONTROL_STEP / SAMPLE_RATE)
    f0 = base * (1.0 + 0.08 * np.sin(2 * np.pi * rng.uniform(0.3, 0.9) * tc))
    envelope = np.clip(np.sin(np.pi * rng.uniform(3.5, 5.0) * tc + rng.uniform(0, np.pi)), 0.0, None) ** 2
    # 32-bit fixed-point phase accumulator: wraps for free, the top 12 bits index the table
    step = np.repeat((f0 * (2.0**32 / SAMPLE_RATE)).astype(np.uint32), _CONTROL_STEP)[:nsamples]
    index = np.cumsum(step, dtype=np.uint32) >> np.uint32(32 - _TABLE_BITS)
    samples: npt.NDArray[np.int16] = (table[index] * np.repeat(envelope, _CONTROL_STEP)[:nsamples]).astype(np.int16)
    return samples


def wav(samples: npt.NDArray[np.int16]) -> bytes:
    """RIFF/WAVE container, PCM 16-bit mono at 24 kHz."""
    data = samples.astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, SAMPLE_RATE, SAMPLE_RATE * 2, 2, 16)
    riff = struct.pack("<4sI4s4sI", b"RIFF", 4 + 8 + len(fmt) + 8 + len(data), b"WAVE", b"fmt ", len(fmt))
    return riff + fmt + struct.pack("<4sI", b"data", len(data)) + data


FLAC_BLOCK = 4096


def _utf8_number(n: int) -> bytes:
    """FLAC's "UTF-8" coding of a frame number (valid past the Unicode range too)."""
    if n < 0x80:
        return bytes([n])
    nbytes = 2
    while n >= 1 << (5 * nbytes + 1):
        nbytes += 1
    tail = [0x80 | ((n >> (6 * i)) & 0x3F) for i in reversed(range(nbytes - 1))]
    lead = ((0xFF00 >> nbytes) & 0xFF) | (n >> (6 * (nbytes - 1)))
    return bytes([lead, *tail])


def flac(samples: npt.NDArray[np.int16]) -> bytes:
    """A FLAC stream: STREAMINFO (with MD5) and fixed-blocksize frames of VERBATIM subframes."""
    total = len(samples)
    info = BitWriter()
    info.bits(FLAC_BLOCK, 16)
    info.bits(FLAC_BLOCK, 16)
    info.bits(0, 24)  # min frame size: unknown
    info.bits(0, 24)  # max frame size: unknown
    info.bits(SAMPLE_RATE, 20)
    info.bits(0, 3)  # channels - 1
    info.bits(15, 5)  # bits per sample - 1
    info.bits(total, 36)
    streaminfo = info.to_bytes() + hashlib.md5(samples.astype("<i2").tobytes()).digest()
    big_endian = samples.astype(">i2")
    frames = []
    for number, start in enumerate(range(0, total, FLAC_BLOCK)):
        block = big_endian[start : start + FLAC_BLOCK]
        # sync+fixed blocking, blocksize "16-bit follows" + 24 kHz, mono + 16 bit
        header = b"\xff\xf8\x77\x08" + _utf8_number(number) + struct.pack(">H", len(block) - 1)
        frames.append(header + bytes([crc8(header)]) + b"\x02" + block.tobytes())  # 0x02: VERBATIM
    footers = crc16_rows(frames)
    body = b"".join(frame + struct.pack(">H", crc) for frame, crc in zip(frames, footers, strict=True))
    return b"fLaC" + bytes([0x80, 0, 0, len(streaminfo)]) + streaminfo + body


# MPEG-2 Layer III, 24 kHz, 32 kbit/s, mono: 96-byte frames of 576 samples. All-zero side info
# (part2_3_length 0, global_gain 0) decodes to silence.
_MP3_FRAME = b"\xff\xf3\x44\xc0" + bytes(92)
_MP3_SAMPLES = 576


def mp3_silence(nsamples: int) -> bytes:
    return _MP3_FRAME * -(-nsamples // _MP3_SAMPLES)


def _adts_frame() -> bytes:
    raw = BitWriter()  # raw_data_block: one SCE with max_sfb 0 (no spectral data), then END
    for value, nbits in ((0, 3), (0, 4), (100, 8), (0, 1), (0, 2), (0, 1), (0, 6), (0, 1), (0, 3), (7, 3)):
        raw.bits(value, nbits)
    raw.align()
    payload = raw.to_bytes()
    head = BitWriter()
    for value, nbits in (
        (0xFFF, 12), (0, 1), (0, 2), (1, 1),  # sync, MPEG-4, layer, no CRC
        (1, 2), (6, 4), (0, 1), (1, 3),  # AAC LC, 24 kHz, private, mono
        (0, 4), (7 + len(payload), 13), (0x7FF, 11), (0, 2),  # flags, frame length, VBR, 1 block
    ):  # fmt: skip
        head.bits(value, nbits)
    return head.to_bytes() + payload


_ADTS_FRAME = _adts_frame()


def adts_silence(nsamples: int) -> bytes:
    return _ADTS_FRAME * -(-nsamples // 1024)


OPUS_PRE_SKIP = 312
_OPUS_SILENCE = b"\xf8\xff\xfe"  # TOC: CELT fullband 20 ms, mono, one frame; payload codes silence
_OPUS_FRAME_48K = 960
_PACKETS_PER_PAGE = 50


def _ogg_page(packets: list[bytes], *, serial: int, sequence: int, granule: int, flags: int) -> bytes:
    lacing = bytearray()
    for packet in packets:
        lacing += b"\xff" * (len(packet) // 255) + bytes([len(packet) % 255])
    assert len(lacing) <= 255
    header = b"OggS" + struct.pack("<BBqIII", 0, flags, granule, serial, sequence, 0) + bytes([len(lacing)])
    page = header + bytes(lacing) + b"".join(packets)
    return page[:22] + struct.pack("<I", crc32_ogg(page)) + page[26:]


def ogg_opus_silence(nsamples: int, *, serial: int) -> bytes:
    """Ogg Opus (RFC 7845): OpusHead, OpusTags, then 20 ms silence packets, 50 to a page."""
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, OPUS_PRE_SKIP, SAMPLE_RATE, 0, 0)
    vendor = b"fakeai"
    tags = b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)
    samples_48k = nsamples * 2
    npackets = -(-samples_48k // _OPUS_FRAME_48K)
    pages = [
        _ogg_page([head], serial=serial, sequence=0, granule=0, flags=0x02),
        _ogg_page([tags], serial=serial, sequence=1, granule=0, flags=0),
    ]
    for first in range(0, npackets, _PACKETS_PER_PAGE):
        count = min(_PACKETS_PER_PAGE, npackets - first)
        last = first + count == npackets
        granule = OPUS_PRE_SKIP + (samples_48k if last else (first + count) * _OPUS_FRAME_48K)
        page = _ogg_page(
            [_OPUS_SILENCE] * count, serial=serial, sequence=len(pages), granule=granule, flags=0x04 if last else 0
        )
        pages.append(page)
    return b"".join(pages)
