"""Binary media bodies decode back: audio, images, video, zip, SDP."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import wave
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakeai.media.audio import SAMPLE_RATE, duration_for
from fakeai.media.bits import crc8, crc16, crc16_rows, crc32_ogg
from fakeai.media.formats import image, media_for_content_type, mp4_video, parse_size, sdp_answer, speech, zip_archive

FORMATS = ["mp3", "opus", "aac", "flac", "wav", "pcm"]
FFPROBE = shutil.which("ffprobe")
FFMPEG = shutil.which("ffmpeg")


def test_crc_check_values() -> None:
    assert (crc8(b"123456789"), crc16(b"123456789"), crc32_ogg(b"123456789")) == (0xF4, 0xFEE8, 0x89A1897F)


@settings(database=None, max_examples=30)
@given(st.lists(st.binary(max_size=300), min_size=1, max_size=6))
def test_vectorised_crc16_matches_scalar(messages: list[bytes]) -> None:
    assert crc16_rows(messages) == [crc16(m) for m in messages]


def test_wav_reads_back_with_expected_length() -> None:
    data, content_type = speech("a" * 150, "wav", seed=1)
    with wave.open(io.BytesIO(data)) as wav:
        params = (wav.getnchannels(), wav.getsampwidth(), wav.getframerate(), wav.getnframes())
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    assert (content_type, params) == ("audio/wav", (1, 2, SAMPLE_RATE, 10 * SAMPLE_RATE))
    assert 0 < np.abs(frames).max() < 0.5 * 32767  # audible but quiet, not silence


def test_pcm_is_the_wav_payload() -> None:
    pcm, content_type = speech("hello there", "pcm", seed=5)
    wav_bytes, _ = speech("hello there", "wav", seed=5)
    assert content_type == "audio/pcm" and wav_bytes.endswith(pcm) and len(wav_bytes) - len(pcm) == 44


@pytest.mark.parametrize(
    ("chars", "speed", "seconds"), [(30, 1.0, 2.0), (30, 2.0, 1.0), (1, 1.0, 0.3), (5000, 1.0, 60.0)]
)
def test_duration_follows_text_and_speed(chars: int, speed: float, seconds: float) -> None:
    pcm, _ = speech("x" * chars, "pcm", seed=0, speed=speed)
    assert len(pcm) == round(seconds * SAMPLE_RATE) * 2


def _read_flac(data: bytes) -> tuple[int, int]:
    """Walk the FLAC stream: (total samples from STREAMINFO, samples found in checked frames)."""
    assert data[:4] == b"fLaC" and data[4] == 0x80  # one metadata block, last, STREAMINFO
    total = int.from_bytes(data[8 + 13 : 8 + 18], "big") & ((1 << 36) - 1)
    pos, found = 8 + 34, 0
    while pos < len(data):
        assert data[pos : pos + 4] == b"\xff\xf8\x77\x08"
        head_len = 4 + (1 if data[pos + 4] < 0x80 else 2) + 2
        block = int.from_bytes(data[pos + head_len - 2 : pos + head_len], "big") + 1
        assert crc8(data[pos : pos + head_len]) == data[pos + head_len]
        end = pos + head_len + 2 + 2 * block
        assert crc16(data[pos:end]) == int.from_bytes(data[end : end + 2], "big")
        found, pos = found + block, end + 2
    return total, found


def test_flac_frames_have_valid_crcs_and_sample_count() -> None:
    data, content_type = speech("b" * 300, "flac", seed=2)  # 20 s: frame numbers need 2-byte coding
    assert content_type == "audio/flac" and _read_flac(data) == (20 * SAMPLE_RATE, 20 * SAMPLE_RATE)


def test_flac_samples_equal_pcm_samples() -> None:
    flac_bytes, _ = speech("same words", "flac", seed=9)
    pcm, _ = speech("same words", "pcm", seed=9)
    first_block = flac_bytes[42 + 9 : 42 + 9 + 2 * 4096]  # after a 7-byte header + CRC-8 + subframe byte
    assert np.array_equal(np.frombuffer(first_block, ">i2"), np.frombuffer(pcm, "<i2")[:4096])


def test_ogg_pages_have_valid_crcs_and_final_granule() -> None:
    data, content_type = speech("c" * 45, "opus", seed=3)
    pos, pages, granule = 0, [], 0
    while pos < len(data):
        nseg = data[pos + 26]
        size = 27 + nseg + sum(data[pos + 27 : pos + 27 + nseg])
        page = data[pos : pos + size]
        assert crc32_ogg(page[:22] + b"\0\0\0\0" + page[26:]) == struct.unpack("<I", page[22:26])[0]
        pages.append(page)
        granule = struct.unpack("<q", page[6:14])[0]
        pos += size
    assert content_type == "audio/ogg" and pages[0][28:36] == b"OpusHead" and pages[1][28:36] == b"OpusTags"
    assert (pages[0][5], pages[-1][5], granule) == (0x02, 0x04, 312 + 3 * 48000)


def test_mp3_and_aac_frame_headers() -> None:
    mp3, mp3_type = speech("d" * 15, "mp3", seed=0)
    aac, aac_type = speech("d" * 15, "aac", seed=0)
    aac_length = ((aac[3] & 0x03) << 11) | (aac[4] << 3) | (aac[5] >> 5)
    assert (mp3_type, len(mp3) % 96, mp3[:2]) == ("audio/mpeg", 0, b"\xff\xf3")
    assert (aac_type, len(aac) % aac_length, aac[:2], len(aac) // aac_length) == ("audio/aac", 0, b"\xff\xf1", 24)


@pytest.mark.skipif(FFPROBE is None, reason="ffprobe not installed")
@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac", "wav"])
def test_ffprobe_decodes_speech(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"speech.{fmt}"
    path.write_bytes(speech("e" * 60, fmt, seed=4)[0])
    out = subprocess.run(
        [str(FFPROBE), "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stderr == "" and abs(float(out.stdout) - 4.0) < 0.1


@settings(database=None, max_examples=20, deadline=None)
@given(st.text(max_size=80), st.sampled_from(FORMATS), st.integers(0, 2**40))
def test_speech_is_deterministic_per_seed(text: str, fmt: str, seed: int) -> None:
    assert speech(text, fmt, seed=seed) == speech(text, fmt, seed=seed)
    if fmt in ("pcm", "wav", "flac", "opus"):  # mp3/aac are silence: identical for any seed
        assert speech(text, fmt, seed=seed)[0] != speech(text, fmt, seed=seed + 1)[0]


def _png_pixels(data: bytes) -> tuple[int, int, np.ndarray]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        assert zlib.crc32(kind + body) == struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])[0]
        chunks[kind] = body
        pos += 12 + length
    width, height = struct.unpack(">II", chunks[b"IHDR"][:8])
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(height, 1 + 3 * width)
    assert not rows[:, 0].any()  # filter type 0 everywhere
    return width, height, rows[:, 1:]


def test_png_decodes_to_requested_size() -> None:
    data, content_type = image("png", 1536, 1024, seed=1)
    width, height, pixels = _png_pixels(data)
    assert (content_type, width, height) == ("image/png", 1536, 1024) and pixels.std() > 5


@settings(database=None, max_examples=15, deadline=None)
@given(st.sampled_from(["png", "jpeg", "webp"]), st.integers(1, 40), st.integers(1, 40), st.integers(0, 2**40))
def test_image_is_deterministic_per_seed(fmt: str, width: int, height: int, seed: int) -> None:
    first = image(fmt, width, height, seed=seed)
    assert first == image(fmt, width, height, seed=seed) and first[0] != image(fmt, width, height, seed=seed + 1)[0]


def test_jpeg_and_webp_headers() -> None:
    jpeg, jpeg_type = image("jpg", 100, 60, seed=2)
    webp, webp_type = image("webp", 100, 60, seed=2)
    sof = jpeg.index(b"\xff\xc0")
    assert (jpeg_type, jpeg[:2], jpeg[-2:], struct.unpack(">HH", jpeg[sof + 5 : sof + 9])) == (
        "image/jpeg", b"\xff\xd8", b"\xff\xd9", (60, 100),
    )  # fmt: skip
    bits = int.from_bytes(webp[21:25], "little")
    assert (webp_type, webp[:4], webp[8:16], (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1) == (
        "image/webp", b"RIFF", b"WEBPVP8L", 100, 60,
    )  # fmt: skip


def test_pillow_decodes_jpeg_and_webp() -> None:
    pil = pytest.importorskip("PIL.Image")
    for fmt in ("jpeg", "webp"):
        with pil.open(io.BytesIO(image(fmt, 64, 48, seed=3)[0])) as decoded:
            decoded.load()
            assert decoded.size == (64, 48)


@pytest.mark.parametrize(
    ("size", "expected"),
    [("1536x1024", (1536, 1024)), ("256X256", (256, 256)), ("auto", (1024, 1024)), (None, (1024, 1024)),
     ("0x5", (1024, 1024)), ("big", (1024, 1024))],
)  # fmt: skip
def test_parse_size(size: str | None, expected: tuple[int, int]) -> None:
    assert parse_size(size) == expected


def test_zip_reads_back() -> None:
    files = {"a.txt": b"alpha", "dir/b.bin": bytes(range(256))}
    with zipfile.ZipFile(io.BytesIO(zip_archive(files))) as archive:
        assert archive.testzip() is None and {n: archive.read(n) for n in archive.namelist()} == files


def _boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    found, pos = [], start
    while pos < end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        assert 8 <= size <= end - pos
        found.append((kind, pos + 8, pos + size))
        pos += size
    assert pos == end
    return found


def test_mp4_box_tree_and_sample_table() -> None:
    data = mp4_video(2.0, 1280, 720, seed=1)
    top = _boxes(data, 0, len(data))
    assert [kind for kind, _, _ in top] == [b"ftyp", b"moov", b"mdat"]
    path = [b"moov", b"trak", b"mdia", b"minf", b"stbl"]
    start, end = 0, len(data)
    for name in path:
        start, end = next((s, e) for kind, s, e in _boxes(data, start, end) if kind == name)
    stbl = {kind: data[s:e] for kind, s, e in _boxes(data, start, end)}
    count = struct.unpack(">I", stbl[b"stsz"][8:12])[0]
    sizes = struct.unpack(f">{count}I", stbl[b"stsz"][12:])
    offset = struct.unpack(">I", stbl[b"stco"][8:12])[0]
    assert count == 48 and offset == top[2][1] and sum(sizes) == top[2][2] - top[2][1]


@pytest.mark.skipif(FFMPEG is None, reason="ffmpeg not installed")
def test_ffmpeg_decodes_mp4(tmp_path: Path) -> None:
    path = tmp_path / "v.mp4"
    path.write_bytes(mp4_video(1.0, 66, 50, seed=2))
    out = subprocess.run(
        [str(FFMPEG), "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True, text=True
    )
    assert (out.returncode, out.stderr) == (0, "")


def test_sdp_answer_mirrors_audio_line() -> None:
    offer = "v=0\r\no=- 1 2 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 8\r\na=mid:0\r\n"
    answer = sdp_answer(offer, seed=1)
    lines = answer.split("\r\n")
    fingerprint = next(line for line in lines if line.startswith("a=fingerprint:sha-256 ")).split()[1]
    assert answer.endswith("\r\n") and "\n" not in answer.replace("\r\n", "")
    assert lines[:4] == ["v=0", lines[1], "s=-", "t=0 0"] and lines[1].startswith("o=- ")
    assert "m=audio 9 UDP/TLS/RTP/SAVPF 111 8" in lines and "a=setup:active" in lines and "a=mid:0" in lines
    assert len(fingerprint.split(":")) == 32 and sdp_answer(offer, seed=2) != answer


@pytest.mark.parametrize(
    ("content_type", "magic"),
    [("audio/mpeg", b"\xff\xf3"), ("audio/wav", b"RIFF"), ("audio/flac", b"fLaC"), ("audio/ogg", b"OggS"),
     ("image/png", b"\x89PNG"), ("image/webp", b"RIFF"), ("image/jpeg", b"\xff\xd8"),
     ("video/mp4", b"\x00\x00\x00\x20ftyp"),
     ("application/zip", b"PK\x03\x04"), ("application/sdp", b"v=0\r\n")],
)  # fmt: skip
def test_dispatcher_picks_the_format(content_type: str, magic: bytes) -> None:
    hint = {"size": "32x32", "seconds": 0.5, "text": "hi"}
    assert media_for_content_type(content_type, seed=1, hint=hint).startswith(magic)


def test_dispatcher_octet_stream_and_text() -> None:
    blob = media_for_content_type("application/octet-stream", seed=1, hint={"length": 77})
    assert len(blob) == 77 and media_for_content_type("application/octet-stream", seed=1) != blob
    assert media_for_content_type("text/plain; charset=utf-8", seed=1, hint={"text": "héllo"}) == "héllo".encode()


def test_duration_for_clamps() -> None:
    assert (duration_for("", 1.0), duration_for("x" * 15, 0.5), duration_for("x" * 10**5)) == (0.3, 2.0, 60.0)
