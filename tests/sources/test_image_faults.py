"""Bad image files become one error record each, never an exception; `fit_frame` fits any real image."""

from __future__ import annotations

import os
import re
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from depthmask.errors import ConfigError, SourceError
from depthmask.sources import open_source, read_image
from depthmask.sources.fit import FITS, FitError, fit_frame
from depthmask.sources.headers import image_header
from depthmask.sources.images import MAX_IMAGE_PIXELS

FIT_SIZE = (24, 40)  # a small model input with another aspect than any test image


def _png_with_header(width: int, height: int) -> bytes:
    """A well-formed PNG start (valid CRCs) whose header declares width×height, with almost no data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


def _jpeg_with_header(width: int, height: int) -> bytes:
    """SOI, a JFIF APP0 segment, then a baseline SOF0 declaring width×height, and nothing else."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x11\0\x02\x11\0\x03\x11\0"
    return b"\xff\xd8" + app0 + sof0


def _rng_image(seed: int, h: int, w: int, c: int | None = 3, dtype: type = np.uint8) -> np.ndarray:
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max + 1
    return rng.integers(0, top, (h, w) if c is None else (h, w, c), dtype=dtype)


@pytest.fixture
def mixed_folder(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A folder of good, odd and broken files; returns it and, per broken file, a word its error must hold."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    good = _rng_image(0, 24, 32)
    for name in ("good.png", "good.jpg", "good.bmp", "good.tif", "good.webp", "good.ppm"):
        assert cv2.imwrite(str(folder / name), good)
    cv2.imwrite(str(folder / "good.pgm"), good[:, :, 0])
    cv2.imwrite(str(folder / "wide.png"), _rng_image(1, 1, 5000))
    cv2.imwrite(str(folder / "tall.png"), _rng_image(2, 5000, 1))
    cv2.imwrite(str(folder / "deep16.png"), _rng_image(3, 20, 30, dtype=np.uint16))
    cv2.imwrite(str(folder / "grey.png"), _rng_image(4, 20, 30, c=None))
    cv2.imwrite(str(folder / "rgba.png"), _rng_image(5, 20, 30, c=4))
    png = (folder / "good.png").read_bytes()
    (folder / "truncated.png").write_bytes(png[: len(png) // 2])
    (folder / "zero.png").write_bytes(b"")
    (folder / "notes.txt").write_text("not an image")
    (folder / "text.jpg").write_text("a text file with an image's suffix")
    (folder / "huge.png").write_bytes(_png_with_header(100_000, 100_000))
    (folder / "huge.jpg").write_bytes(_jpeg_with_header(65535, 65535))
    broken = {
        "truncated.png": "truncated or corrupt",
        "zero.png": "empty file",
        "notes.txt": "not an image file",
        "text.jpg": "unrecognised or corrupt header",
        "huge.png": "declares 100000×100000 pixels",
        "huge.jpg": "declares 65535×65535 pixels",
    }
    return folder, broken


def test_folder_gives_one_frame_per_file_errors_only_for_broken(mixed_folder: tuple[Path, dict]) -> None:
    folder, broken = mixed_folder
    listed = sorted(os.listdir(folder))  # the independent count: what the file system holds
    source = open_source(str(folder))
    frames = list(source)
    assert [Path(f.meta["path"]).name for f in frames] == listed
    assert [f.index for f in frames] == list(range(len(listed)))
    assert {Path(f.meta["path"]).name for f in frames if not f.ok} == set(broken)
    for frame in frames:
        name = Path(frame.meta["path"]).name
        if name in broken:
            assert frame.image is None and name in frame.error and broken[name] in frame.error
            continue
        assert frame.image.dtype == np.uint8 and frame.image.ndim == 3 and frame.image.shape[2] == 3
        for fit in FITS:
            out = fit_frame(frame.image, *FIT_SIZE, fit)
            assert out.shape == (*FIT_SIZE, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    assert source.end_note is None and source.describe()["end"] is None


def test_decoded_pixels_follow_the_conversion_rules(mixed_folder: tuple[Path, dict]) -> None:
    folder, _ = mixed_folder
    deep, _ = read_image(folder / "deep16.png")
    assert np.array_equal(deep, (_rng_image(3, 20, 30, dtype=np.uint16) >> 8).astype(np.uint8))
    grey, _ = read_image(folder / "grey.png")
    assert np.array_equal(grey, np.repeat(_rng_image(4, 20, 30, c=None)[:, :, None], 3, axis=2))
    rgba, _ = read_image(folder / "rgba.png")
    assert np.array_equal(rgba, _rng_image(5, 20, 30, c=4)[:, :, :3])
    wide, _ = read_image(folder / "wide.png")
    assert wide.shape == (1, 5000, 3)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".tif", ".webp", ".ppm", ".pgm"])
def test_header_sizes_of_real_files(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"x{suffix}"
    image = _rng_image(7, 37, 53)
    assert cv2.imwrite(str(path), image[:, :, 0] if suffix == ".pgm" else image)
    _, width, height = image_header(path.read_bytes())
    assert (width, height) == (53, 37)


def test_huge_headers_are_refused_before_decoding(tmp_path: Path) -> None:
    side = int(MAX_IMAGE_PIXELS**0.5) + 1  # just over the cap
    (tmp_path / "over.png").write_bytes(_png_with_header(side, side))
    image, error = read_image(tmp_path / "over.png")
    assert image is None and f"{side}×{side}" in error and "over.png" in error
    bmp = bytearray(cv2.imencode(".bmp", _rng_image(0, 4, 4))[1].tobytes())
    bmp[18:26] = struct.pack("<ii", 2**31 - 1, -(2**31 - 1))  # top-down, 2 G × 2 G
    (tmp_path / "over.bmp").write_bytes(bytes(bmp))
    image, error = read_image(tmp_path / "over.bmp")
    assert image is None and "2147483647×2147483647" in error


def test_fuzzed_files_never_raise(tmp_path: Path) -> None:
    """Byte flips, cuts and splices of real PNG/JPEG/BMP/WebP/TIFF files: a frame or a reason, per file."""
    rng = np.random.default_rng(11)
    suffixes = (".png", ".jpg", ".bmp", ".webp", ".tif")
    seeds = [cv2.imencode(s, _rng_image(1, 16, 24))[1].tobytes() for s in suffixes]
    paths = []
    for k in range(150):
        data = bytearray(seeds[k % len(seeds)])
        op = k % 3
        if op == 0:  # flip bytes, headers included
            for at in rng.integers(0, len(data), 1 + k % 8):
                data[at] = int(rng.integers(0, 256))
        elif op == 1:  # cut anywhere
            data = data[: int(rng.integers(0, len(data)))]
        else:  # splice random bytes into the middle
            at = int(rng.integers(0, len(data)))
            data[at:at] = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
        path = tmp_path / f"fuzz{k:03d}{suffixes[k % len(suffixes)]}"
        path.write_bytes(bytes(data))
        paths.append(path)
    frames = list(open_source(str(tmp_path)))
    assert len(frames) == len(paths) == len(os.listdir(tmp_path))
    for frame, path in zip(frames, paths, strict=True):
        assert frame.meta["path"] == str(path)
        if frame.ok:
            assert fit_frame(frame.image, *FIT_SIZE, "letterbox").shape == (*FIT_SIZE, 3)
        else:
            assert path.name in frame.error


def test_unreadable_paths_are_error_frames(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("gone.png\n" + "x" * 300 + ".png\n" + "a/" * 2000 + "b.png\n")
    source = open_source(str(listing))
    frames = list(source)
    assert len(frames) == 3 and not any(f.ok for f in frames)
    assert "gone.png: cannot be read" in frames[0].error
    assert all("cannot be read" in f.error for f in frames)
    assert len(frames[2].error) < 400  # an overlong name is shortened in the message
    assert "3 of the 3 files read were missing" in source.end_note and "gone.png" in source.end_note
    assert source.describe()["end"] == source.end_note


@pytest.mark.parametrize("fit", FITS)
@pytest.mark.parametrize(
    "shape",
    [(1, 1), (1, 5000), (5000, 1), (1, 1, 3), (3, 7, 1), (7, 3, 4), (24, 40, 3), (500, 2, 3), (2, 999, 4)],
)
def test_fit_frame_fits_any_image(shape: tuple[int, ...], fit: str) -> None:
    image = _rng_image(3, shape[0], shape[1], c=shape[2] if len(shape) == 3 else None)
    out = fit_frame(image, *FIT_SIZE, fit)
    assert out.shape == (*FIT_SIZE, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    # A view with reversed, strided axes fits as its copy does.
    view = image[::-1, ::2]
    assert np.array_equal(fit_frame(view, *FIT_SIZE, fit), fit_frame(view.copy(), *FIT_SIZE, fit))


def test_fit_modes_place_the_content() -> None:
    white = np.full((10, 40, 3), 255, np.uint8)  # 1:4, into a 24×40 (3:5) input
    boxed = fit_frame(white, *FIT_SIZE, "letterbox")
    assert (boxed[:, :, 0] == 255).sum(axis=1).tolist() == [0] * 7 + [40] * 10 + [0] * 7
    assert (boxed[0] == 114).all()
    assert (fit_frame(white, *FIT_SIZE, "crop") == 255).all()
    assert (fit_frame(white, *FIT_SIZE, "resize") == 255).all()
    # 1×5000 scaled to cover 24×40 is 24 px per source pixel: the crop is the 2 centre columns.
    strip = np.arange(5000, dtype=np.uint8).reshape(1, 5000)
    assert np.isin(fit_frame(strip, *FIT_SIZE, "crop"), strip[0, 2499:2501]).all()


@pytest.mark.parametrize(
    ("image", "words"),
    [
        (np.zeros((0, 5, 3), np.uint8), "H, W ≥ 1"),
        (np.zeros((4, 4, 3), np.float32), "dtype float32"),
        (np.zeros((4, 4, 3), np.uint16), "dtype uint16"),
        (np.zeros(16, np.uint8), "shape (16,)"),
        (np.zeros((2, 4, 4, 3), np.uint8), "shape (2, 4, 4, 3)"),
        (np.zeros((4, 4, 2), np.uint8), "1, 3 or 4 channels"),
        ([[1, 2]], "numpy array"),
    ],
)
def test_fit_frame_refuses_what_is_no_image(image: object, words: str) -> None:
    with pytest.raises(FitError, match=re.escape(words)) as err:
        fit_frame(image, *FIT_SIZE)  # type: ignore[arg-type]
    assert isinstance(err.value, SourceError)


def test_fit_frame_refuses_bad_targets() -> None:
    image = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ConfigError, match=r"height must be .* got 0"):
        fit_frame(image, 0, 10)
    with pytest.raises(ConfigError, match=r"unknown fit 'letterbx'.*Did you mean 'letterbox'"):
        fit_frame(image, 10, 10, "letterbx")  # type: ignore[arg-type]
