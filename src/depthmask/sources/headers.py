"""Image sizes read from file headers (a few bytes), so a decoder is never asked to allocate a giant image.

OpenCV has no header-only API, and its own cap (`OPENCV_IO_MAX_IMAGE_PIXELS`) is read once, process-wide,
only if set before its first decode, which a library cannot guarantee; so the size is parsed here for
the formats `read_image` accepts: PNG, JPEG, BMP, TIFF (and BigTIFF), WebP and PNM (PBM/PGM/PPM/PAM).
"""

from __future__ import annotations

import re
from collections.abc import Callable

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG frame headers (SOF0-SOF15 without DHT C4, JPG C8 and DAC CC) carry the frame size.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_MAX_TIFF_ENTRIES = 4096  # a real IFD has a few dozen; more means a corrupt count
_PNM_HEADER_BYTES = 4096


def image_header(data: bytes) -> tuple[str, int, int] | None:
    """(format, width, height) from the first bytes of an image file, or None when no known header fits."""
    for parse in _PARSERS:
        found = parse(data)
        if found is not None:
            return found
    return None


def _png(data: bytes) -> tuple[str, int, int] | None:
    if not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR" or len(data) < 24:
        return None
    return "PNG", int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _jpeg(data: bytes) -> tuple[str, int, int] | None:
    if not data.startswith(b"\xff\xd8"):
        return None
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None  # lost the marker chain: corrupt
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan before any frame header
            return None
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if length < 2:
            return None
        if marker in _JPEG_SOF:
            if i + 9 > n:
                return None
            return (
                "JPEG",
                int.from_bytes(data[i + 7 : i + 9], "big"),
                int.from_bytes(data[i + 5 : i + 7], "big"),
            )
        i += 2 + length
    return None


def _bmp(data: bytes) -> tuple[str, int, int] | None:
    if not data.startswith(b"BM") or len(data) < 26:
        return None
    dib = int.from_bytes(data[14:18], "little")
    if dib == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        return "BMP", int.from_bytes(data[18:20], "little"), int.from_bytes(data[20:22], "little")
    if dib < 40:
        return None
    width = int.from_bytes(data[18:22], "little", signed=True)
    height = int.from_bytes(data[22:26], "little", signed=True)
    return "BMP", width, abs(height)  # a negative height means top-down rows


def _tiff(data: bytes) -> tuple[str, int, int] | None:
    order = data[:2]
    if order not in (b"II", b"MM") or len(data) < 16:
        return None
    endian = "little" if order == b"II" else "big"

    def uint(at: int, size: int) -> int:
        if at < 0 or at + size > len(data):
            raise IndexError(at)
        return int.from_bytes(data[at : at + size], endian)

    try:
        version = uint(2, 2)
        if version == 42:
            offset, count_size, entry_size, value_at = uint(4, 4), 2, 12, 8
        elif version == 43:  # BigTIFF: 8-byte offsets and counts
            offset, count_size, entry_size, value_at = uint(8, 8), 8, 20, 12
        else:
            return None
        count = uint(offset, count_size)
        if count > _MAX_TIFF_ENTRIES:
            return None
        sizes: dict[int, int] = {}
        for k in range(count):
            entry = offset + count_size + k * entry_size
            tag, kind = uint(entry, 2), uint(entry + 2, 2)
            if tag in (256, 257):  # ImageWidth, ImageLength: SHORT, LONG or LONG8
                width = {3: 2, 4: 4, 16: 8}.get(kind)
                if width is None or tag in sizes:  # a repeated size tag: libtiff reads the first
                    return None  # one, and a file that disagrees with itself is refused anyway
                sizes[tag] = uint(entry + value_at, width)
    except IndexError:
        return None
    if 256 not in sizes or 257 not in sizes:
        return None
    return "TIFF", sizes[256], sizes[257]


def _webp(data: bytes) -> tuple[str, int, int] | None:
    if len(data) < 30 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        w, h = int.from_bytes(data[26:28], "little"), int.from_bytes(data[28:30], "little")
        return "WebP", w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return "WebP", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return "WebP", int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def _pnm(data: bytes) -> tuple[str, int, int] | None:
    if len(data) < 3 or data[:1] != b"P" or data[1:2] not in (b"1", b"2", b"3", b"4", b"5", b"6", b"7"):
        return None
    head = data[2:_PNM_HEADER_BYTES]
    if data[1:2] == b"7":  # PAM: WIDTH and HEIGHT lines before ENDHDR
        w, h = re.search(rb"^WIDTH\s+(\d{1,12})", head, re.M), re.search(rb"^HEIGHT\s+(\d{1,12})", head, re.M)
        return ("PNM", int(w.group(1)), int(h.group(1))) if w and h else None
    text = re.sub(rb"#[^\n]*", b" ", head)  # comments may sit between the tokens
    found = re.match(rb"\s+(\d{1,12})\s+(\d{1,12})", text)
    return ("PNM", int(found.group(1)), int(found.group(2))) if found else None


_PARSERS: tuple[Callable[[bytes], tuple[str, int, int] | None], ...] = (_png, _jpeg, _bmp, _tiff, _webp, _pnm)
