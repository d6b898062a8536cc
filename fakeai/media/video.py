"""A small decodable MP4 (H.264 baseline, one flat seeded colour, 24 fps) for ``video/mp4`` bodies.

The first frame is an IDR picture: its first macroblock is I_PCM (raw samples of the colour) and
every other macroblock is Intra16x16 DC prediction with no residual, so the colour spreads over the
frame. Every later frame is a P picture whose macroblocks are all skipped (a copy). The container
is ftyp + moov (mvhd, trak/tkhd/mdia/mdhd/hdlr/minf/vmhd/dinf/stbl) + mdat.
"""

from __future__ import annotations

import random
import struct
from functools import lru_cache

from fakeai.media.bits import BitWriter

FPS = 24
TIMESCALE = FPS * 512
_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def _box(kind: bytes, *parts: bytes) -> bytes:
    body = b"".join(parts)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _full_box(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *parts)


def _nal(nal_ref_idc: int, nal_type: int, rbsp: BitWriter) -> bytes:
    """NAL unit with trailing bits and emulation prevention, prefixed by its 4-byte length."""
    rbsp.bits(1, 1)
    rbsp.align()
    out = bytearray([(nal_ref_idc << 5) | nal_type])
    zeros = 0
    for byte in rbsp.to_bytes():
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return struct.pack(">I", len(out)) + bytes(out)


def _sps(mb_w: int, mb_h: int, crop_right: int, crop_bottom: int, level: int) -> BitWriter:
    w = BitWriter()
    w.bits(66, 8)  # baseline
    w.bits(0b11000000, 8)  # constraint_set0/1
    w.bits(level, 8)
    for value in (0, 0, 2, 1):  # sps id, log2_max_frame_num-4, poc type 2, max_num_ref_frames
        w.ue(value)
    w.bits(0, 1)  # gaps in frame_num not allowed
    w.ue(mb_w - 1)
    w.ue(mb_h - 1)
    w.bits(0b11, 2)  # frame_mbs_only, direct_8x8_inference
    w.bits(1 if crop_right or crop_bottom else 0, 1)
    if crop_right or crop_bottom:
        for value in (0, crop_right, 0, crop_bottom):
            w.ue(value)
    w.bits(0, 1)  # no VUI
    return w


def _pps() -> BitWriter:
    w = BitWriter()
    w.ue(0)
    w.ue(0)
    w.bits(0b00, 2)  # CAVLC, no bottom_field_pic_order
    for value in (0, 0, 0):  # slice groups - 1, ref idx l0/l1 default - 1
        w.ue(value)
    w.bits(0b000, 3)  # weighted pred / bipred
    for value in (0, 0, 0):  # pic_init_qp - 26, pic_init_qs - 26, chroma_qp_index_offset
        w.se(value)
    w.bits(0b100, 3)  # deblocking control present, no constrained intra, no redundant_pic_cnt
    return w


def _idr(mb_w: int, mbs: int, colour: tuple[int, int, int]) -> BitWriter:
    w = BitWriter()
    for value in (0, 7, 0):  # first_mb, slice_type I (all), pps id
        w.ue(value)
    w.bits(0, 4)  # frame_num
    w.ue(0)  # idr_pic_id
    w.bits(0b00, 2)  # no_output_of_prior_pics, long_term_reference
    w.se(0)  # slice_qp_delta
    w.ue(1)  # deblocking off
    w.ue(25)  # first macroblock: I_PCM
    w.align()
    y, cb, cr = colour
    w.bits(int.from_bytes(bytes([y] * 256 + [cb] * 64 + [cr] * 64), "big"), 384 * 8)
    for mb in range(1, mbs):  # Intra16x16, DC prediction, no coded block pattern
        w.ue(3)
        w.ue(0)  # intra_chroma_pred_mode DC
        w.se(0)  # mb_qp_delta
        # Intra16x16DCLevel coeff_token "no coefficients": an I_PCM neighbour counts as 16
        # coefficients, so next to macroblock 0 nC = 16 (6-bit code), elsewhere nC = 0 ("1")
        if mb in (1, mb_w):
            w.bits(0b000011, 6)
        else:
            w.bits(1, 1)
    return w


def _skipped_p(mbs: int, frame_num: int) -> BitWriter:
    w = BitWriter()
    for value in (0, 5, 0):  # first_mb, slice_type P (all), pps id
        w.ue(value)
    w.bits(frame_num % 16, 4)
    w.bits(0b000, 3)  # no ref idx override, no ref list modification, no adaptive marking
    w.se(0)
    w.ue(1)
    w.ue(mbs)  # mb_skip_run covering the picture
    return w


def mp4_video(seconds: float, width: int, height: int, *, seed: int) -> bytes:
    """An H.264 MP4 of ``seconds`` (clamped 0.1..60) at ``width`` x ``height`` (rounded up to even)."""
    frames = max(1, round(min(max(seconds, 0.1), 60.0) * FPS))
    return _mp4(frames, max(2, width + width % 2), max(2, height + height % 2), seed)


@lru_cache(maxsize=8)
def _mp4(frames: int, width: int, height: int, seed: int) -> bytes:
    rng = random.Random(seed)
    colour = (rng.randrange(40, 220), rng.randrange(40, 220), rng.randrange(40, 220))
    mb_w, mb_h = -(-width // 16), -(-height // 16)
    mbs = mb_w * mb_h
    level = 40 if mbs <= 8192 else 51
    sps = _nal(3, 7, _sps(mb_w, mb_h, (mb_w * 16 - width) // 2, (mb_h * 16 - height) // 2, level))[4:]
    pps = _nal(3, 8, _pps())[4:]
    samples = [_nal(3, 5, _idr(mb_w, mbs, colour))] + [_nal(2, 1, _skipped_p(mbs, n)) for n in range(1, frames)]
    delta = TIMESCALE // FPS
    duration_ms = frames * 1000 // FPS
    avcc = _box(
        b"avcC", bytes([1, 66, 0b11000000, level, 0xFF, 0xE1]), struct.pack(">H", len(sps)), sps,
        b"\x01", struct.pack(">H", len(pps)), pps,
    )  # fmt: skip
    avc1 = _box(
        b"avc1", bytes(6), struct.pack(">H", 1), bytes(16), struct.pack(">HHIIIH", width, height, 0x480000,
        0x480000, 0, 1), bytes(32), struct.pack(">Hh", 0x18, -1), avcc,
    )  # fmt: skip

    def moov(mdat_offset: int) -> bytes:
        stbl = _box(
            b"stbl",
            _full_box(b"stsd", 0, 0, struct.pack(">I", 1), avc1),
            _full_box(b"stts", 0, 0, struct.pack(">III", 1, frames, delta)),
            _full_box(b"stss", 0, 0, struct.pack(">II", 1, 1)),
            _full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, frames, 1)),
            _full_box(b"stsz", 0, 0, struct.pack(f">II{frames}I", 0, frames, *(len(s) for s in samples))),
            _full_box(b"stco", 0, 0, struct.pack(">II", 1, mdat_offset)),
        )
        dinf = _box(b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1), _full_box(b"url ", 0, 1)))
        minf = _box(b"minf", _full_box(b"vmhd", 0, 1, bytes(8)), dinf, stbl)
        mdhd = _full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, TIMESCALE, frames * delta, 0x55C4, 0))
        hdlr = _full_box(b"hdlr", 0, 0, bytes(4), b"vide", bytes(12), b"VideoHandler\x00")
        tkhd = _full_box(
            b"tkhd", 0, 3, struct.pack(">IIIII", 0, 0, 1, 0, duration_ms), bytes(8), struct.pack(">hhhH", 0, 0, 0, 0),
            _MATRIX, struct.pack(">II", width << 16, height << 16),
        )  # fmt: skip
        mvhd = _full_box(
            b"mvhd", 0, 0, struct.pack(">IIIIIH", 0, 0, 1000, duration_ms, 0x10000, 0x100), bytes(10), _MATRIX,
            bytes(24), struct.pack(">I", 2),
        )  # fmt: skip
        return _box(b"moov", mvhd, _box(b"trak", tkhd, _box(b"mdia", mdhd, hdlr, minf)))

    ftyp = _box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isomiso2avc1mp41")
    head_size = len(ftyp) + len(moov(0)) + 8
    return ftyp + moov(head_size) + _box(b"mdat", *samples)
