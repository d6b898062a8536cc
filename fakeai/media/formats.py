"""Non-JSON response bodies: the one entry point the producers use for binary media.

Audio lives in :mod:`fakeai.media.audio`, images in :mod:`fakeai.media.image`, video in :mod:`fakeai.media.video`;
this module adds ZIP archives, SDP answers (Realtime WebRTC) and :func:`media_for_content_type`.
"""

from __future__ import annotations

import hashlib
import io
import random
import re
import zipfile
from collections.abc import Mapping
from typing import Any

from fakeai.ids import new_id_per_char
from fakeai.media.audio import CONTENT_TYPES as SPEECH_CONTENT_TYPES
from fakeai.media.audio import speech
from fakeai.media.image import image, parse_size
from fakeai.media.video import mp4_video

__all__ = ["image", "media_for_content_type", "mp4_video", "parse_size", "sdp_answer", "speech", "zip_archive"]

_FIXED_TIME = (2024, 1, 1, 0, 0, 0)  # zip entries carry a date; a fixed one keeps bytes deterministic
_AUDIO_SUBTYPES = {"mpeg": "mp3", "mp3": "mp3", "ogg": "opus", "opus": "opus", "aac": "aac", "flac": "flac"}
_AUDIO_SUBTYPES |= {"wav": "wav", "x-wav": "wav", "wave": "wav", "pcm": "pcm", "l16": "pcm"}


def zip_archive(files: Mapping[str, bytes]) -> bytes:
    """A deflated ZIP holding ``files`` (name -> content), entries in the mapping's order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=_FIXED_TIME), data, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


_AUDIO_LINE = re.compile(r"^m=audio\s+\d+\s+(\S+)\s+(.+?)\s*$", re.MULTILINE)
_MID = re.compile(r"^a=mid:(\S+)\s*$", re.MULTILINE)


def sdp_answer(offer: str, *, seed: int) -> str:
    """A minimal SDP answer (RFC 8866, CRLF lines) mirroring the offer's first audio m-line."""
    rng = random.Random(seed)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"
    ufrag = new_id_per_char(rng, "", 8, alphabet)
    pwd = new_id_per_char(rng, "", 24, alphabet)
    digest = hashlib.sha256(rng.randbytes(64)).hexdigest().upper()
    fingerprint = ":".join(digest[i : i + 2] for i in range(0, 64, 2))
    session = rng.randrange(1, 2**62)
    audio = _AUDIO_LINE.search(offer)
    proto, formats = (audio.group(1), audio.group(2)) if audio else ("UDP/TLS/RTP/SAVPF", "111")
    lines = [
        "v=0",
        f"o=- {session} 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        f"m=audio 9 {proto} {formats}",
        "c=IN IP4 0.0.0.0",
        f"a=ice-ufrag:{ufrag}",
        f"a=ice-pwd:{pwd}",
        f"a=fingerprint:sha-256 {fingerprint}",
        "a=setup:active",
    ]
    mid = _MID.search(offer[audio.start() :] if audio else "")
    if mid:
        lines.append(f"a=mid:{mid.group(1)}")
    lines += ["a=sendrecv", "a=rtcp-mux"]
    if "111" in formats.split():
        lines.append("a=rtpmap:111 opus/48000/2")
    return "\r\n".join(lines) + "\r\n"


_LOREM = "The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs. "


def media_for_content_type(content_type: str, *, seed: int, hint: Mapping[str, Any] | None = None) -> bytes:
    """Bytes for a response whose spec media type is ``content_type`` (parameters ignored).

    ``hint`` may carry ``text`` (speech / plain text), ``response_format`` (speech format), ``size``
    (``"WxH"``), ``seconds`` (video), ``offer`` (SDP) and ``length`` (octet-stream, default 1024).
    """
    hint = hint or {}
    kind = content_type.split(";", 1)[0].strip().lower()
    major, _, minor = kind.partition("/")
    if major == "audio" or kind == "application/ogg":
        fmt = hint.get("response_format")
        if fmt not in SPEECH_CONTENT_TYPES:
            fmt = _AUDIO_SUBTYPES.get(minor, "mp3")
        return speech(str(hint.get("text", "Hello from fakeai.")), fmt, seed=seed)[0]
    if major == "image":
        fmt = {"jpg": "jpeg", "jpeg": "jpeg", "webp": "webp"}.get(minor, "png")
        width, height = parse_size(_str_or_none(hint.get("size")))
        return image(fmt, width, height, seed=seed)[0]
    if major == "video":
        width, height = parse_size(_str_or_none(hint.get("size")), default=(720, 1280))
        return mp4_video(_seconds(hint.get("seconds")), width, height, seed=seed)
    if kind == "application/zip":
        return zip_archive({"output.txt": _text(seed, hint).encode()})
    if kind == "application/sdp":
        return sdp_answer(str(hint.get("offer", "")), seed=seed).encode()
    if major == "text":
        return _text(seed, hint).encode()
    length = hint.get("length", 1024)
    return random.Random(seed).randbytes(length if isinstance(length, int) and length >= 0 else 1024)


def _seconds(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 4.0


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _text(seed: int, hint: Mapping[str, Any]) -> str:
    text = hint.get("text")
    if isinstance(text, str):
        return text
    start = random.Random(seed).randrange(len(_LOREM))
    return (_LOREM[start:] + _LOREM[:start]).strip() + "\n"
