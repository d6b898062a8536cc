"""PCM16 audio for the realtime fake: synthetic speech out, energy-based voice activity detection in.

The realtime API's default format is ``audio/pcm``: 16-bit little-endian mono at 24 kHz. Output speech is a
voiced signal (a 110-220 Hz fundamental with a few harmonics, shaped into ~4 syllables a second) whose length
follows the text: :data:`SECONDS_PER_WORD` per word. Input speech is found the way a simple server VAD does:
RMS energy over 20 ms frames against a threshold, with ``prefix_padding_ms`` and ``silence_duration_ms`` as
the session's ``turn_detection`` says.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fakeai.lazyimport import lazy

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy("numpy")


RATE = 24_000  # samples per second
SAMPLE_BYTES = 2
FRAME_MS = 20
FRAME_SAMPLES = RATE * FRAME_MS // 1000
SECONDS_PER_WORD = 0.3
# ``turn_detection.threshold`` (0..1, OpenAI's default 0.5) scaled to an RMS of the full scale: 0.5 -> 0.05
# (about -26 dBFS): speech at a normal level is above it, room noise and silence below
RMS_PER_THRESHOLD = 0.1


def duration_of(text: str) -> float:
    """Seconds of simulated speech for ``text``."""
    return len(text.split()) * SECONDS_PER_WORD


def speech(seconds: float, rng: random.Random, level: float = 0.3) -> bytes:
    """``seconds`` of voiced, speech-like PCM16 (``level``: peak share of the full scale)."""
    count = max(0, round(seconds * RATE))
    if count == 0:
        return b""
    t = np.arange(count) / RATE
    f0 = rng.uniform(110.0, 220.0)
    phase = rng.uniform(0, 2 * np.pi)
    voiced = sum(np.sin(2 * np.pi * f0 * k * t + phase * k) / k for k in (1, 2, 3, 4))
    syllables = 0.55 + 0.45 * np.sin(2 * np.pi * 4.0 * t + phase) ** 2
    wave = voiced / np.max(np.abs(voiced)) * syllables * level
    return bytes((wave * 32767).astype("<i2").tobytes())


def seconds_of(pcm: bytes) -> float:
    return len(pcm) / SAMPLE_BYTES / RATE


def from_base64(text: Any) -> bytes | None:
    """A client's base64 audio as bytes; None when it is not base64."""
    try:
        return base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        return None


def chunks(pcm: bytes, parts: int) -> list[bytes]:
    """``pcm`` cut into ``parts`` pieces of whole samples (proportional, the last takes the rest)."""
    samples = len(pcm) // SAMPLE_BYTES
    parts = max(1, parts)
    cuts = [round(samples * i / parts) * SAMPLE_BYTES for i in range(parts + 1)]
    return [pcm[a:b] for a, b in itertools.pairwise(cuts)]


def frame_rms(pcm: bytes) -> np.ndarray:
    """RMS of each whole 20 ms frame, as a share of the full scale (0..1)."""
    samples = np.frombuffer(pcm[: len(pcm) // SAMPLE_BYTES * SAMPLE_BYTES], dtype="<i2")
    frames = len(samples) // FRAME_SAMPLES
    if frames == 0:
        return np.zeros(0)
    block = samples[: frames * FRAME_SAMPLES].astype(np.float64).reshape(frames, FRAME_SAMPLES) / 32768.0
    result: np.ndarray = np.sqrt(np.mean(block * block, axis=1))
    return result


@dataclass
class VoiceActivity:
    """Server VAD over a stream of appended audio. :meth:`feed` returns ``("speech_started", audio_start_ms)``
    and ``("speech_stopped", audio_end_ms)`` transitions, in milliseconds since the session's first audio."""

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    elapsed_ms: int = 0  # audio seen, whole frames
    speaking: bool = False
    speech_ms: int = 0  # voiced audio in the current turn
    _silence_ms: int = 0
    _rest: bytes = field(default=b"", repr=False)

    def feed(self, pcm: bytes) -> list[tuple[str, int]]:
        data = self._rest + pcm
        whole = len(data) // (FRAME_SAMPLES * SAMPLE_BYTES) * FRAME_SAMPLES * SAMPLE_BYTES
        self._rest = data[whole:]
        level = self.threshold * RMS_PER_THRESHOLD
        changes: list[tuple[str, int]] = []
        for rms in frame_rms(data[:whole]):
            start = self.elapsed_ms
            self.elapsed_ms += FRAME_MS
            if rms >= level:
                self._silence_ms = 0
                self.speech_ms += FRAME_MS
                if not self.speaking:
                    self.speaking = True
                    changes.append(("speech_started", max(0, start - self.prefix_padding_ms)))
            elif self.speaking:
                self._silence_ms += FRAME_MS
                if self._silence_ms >= self.silence_duration_ms:
                    self.speaking = False
                    changes.append(("speech_stopped", self.elapsed_ms))
        return changes

    def reset_turn(self) -> None:
        self.speaking = False
        self.speech_ms = 0
        self._silence_ms = 0
