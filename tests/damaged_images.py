"""Damaged image files for the fuzz tests and the runtime's fault tests: real encodings, then cut,
flipped, or given a header that declares an absurd size."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np

SUFFIXES = (".png", ".jpg", ".bmp", ".tif", ".webp", ".txt", "")


def seeds() -> dict[str, bytes]:
    """Small real images in the formats a folder of frames holds."""
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    out = {}
    for ext in (".png", ".jpg", ".bmp", ".tif", ".webp"):
        ok, data = cv2.imencode(ext, colour)
        assert ok
        out[ext] = data.tobytes()
    out["gray.png"] = cv2.imencode(".png", colour[..., 0])[1].tobytes()
    out["16bit.png"] = cv2.imencode(".png", colour.astype(np.uint16) * 257)[1].tobytes()
    out["rgba.png"] = cv2.imencode(".png", np.dstack([colour, colour[..., :1]]))[1].tobytes()
    out["wide.png"] = cv2.imencode(".png", np.zeros((1, 3000, 3), np.uint8))[1].tobytes()
    out["tall.png"] = cv2.imencode(".png", np.zeros((3000, 1, 3), np.uint8))[1].tobytes()
    return out


def png_with_size(width: int, height: int, fix_crc: bool = True) -> bytes:
    """A PNG whose IHDR declares `width`×`height` (its pixel data is a real 24×32 image's)."""
    data = bytearray(seeds()[".png"])
    data[16:24] = struct.pack(">II", width & 0xFFFFFFFF, height & 0xFFFFFFFF)
    if fix_crc:
        data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    return bytes(data)


def damaged(rng: np.random.Generator) -> tuple[bytes, str]:
    """One damaged file (bytes, suffix) drawn from `rng`."""
    kinds = list(seeds().items())
    name, data = kinds[int(rng.integers(len(kinds)))]
    how = int(rng.integers(6))
    if how == 0:  # truncated
        data = data[: int(rng.integers(0, len(data)))]
    elif how == 1:  # bytes flipped
        buf = bytearray(data)
        for _ in range(int(rng.integers(1, 16))):
            buf[int(rng.integers(len(buf)))] ^= int(rng.integers(1, 256))
        data = bytes(buf)
    elif how == 2:  # an absurd declared size
        data = png_with_size(int(rng.integers(1, 2**31)), int(rng.integers(1, 2**31)), bool(rng.integers(2)))
        name = ".png"
    elif how == 3:  # noise
        data = rng.integers(0, 256, int(rng.integers(0, 512)), dtype=np.uint8).tobytes()
    elif how == 4:  # two files glued
        data = data + data[: len(data) // 2]
    suffix = "." + name.rsplit(".", 1)[-1] if rng.integers(4) else SUFFIXES[int(rng.integers(len(SUFFIXES)))]
    return data, suffix
