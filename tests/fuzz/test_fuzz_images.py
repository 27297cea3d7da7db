"""Fuzzed image bytes: whatever a file holds, reading it gives an image or a reason (never an exception,
never gigabytes), and every image that decodes can be fitted to the model under every fit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from fuzzing import CASES, OUTCOMES, fuzz
from hypothesis import given
from hypothesis import strategies as st

from damaged_images import SUFFIXES, damaged, png_with_size, seeds
from depthmask.sources.fit import fit_frame
from depthmask.sources.images import ImageSequenceSource, read_image

FUZZ = fuzz(cases=200, deadline_ms=3000)
SEEDS = seeds()


def _check(path: Path) -> None:
    CASES["image bytes"] += 1
    image, reason = read_image(path)
    if image is None:
        assert reason and str(path) in reason, reason
        OUTCOMES["unreadable (a decode_error record)"] += 1
        return
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    for fit in ("resize", "crop", "letterbox"):
        assert fit_frame(image, 64, 96, fit).shape == (64, 96, 3)
    OUTCOMES["ok"] += 1


@FUZZ
@given(
    seed=st.sampled_from(sorted(SEEDS)),
    cut=st.integers(0, 4096),
    flips=st.lists(st.tuples(st.integers(0, 4095), st.integers(1, 255)), max_size=12),
    suffix=st.sampled_from(SUFFIXES),
)
def test_edited_images_read_or_give_a_reason(
    tmp_path_factory: Any, seed: str, cut: int, flips: list[tuple[int, int]], suffix: str
) -> None:
    data = bytearray(SEEDS[seed][: max(cut, 1)] if cut < len(SEEDS[seed]) else SEEDS[seed])
    for at, bits in flips:
        if data:
            data[at % len(data)] ^= bits
    path = Path(tmp_path_factory.mktemp("img")) / f"frame{suffix}"
    path.write_bytes(bytes(data))
    _check(path)


@FUZZ
@given(width=st.integers(0, 2**32 - 1), height=st.integers(0, 2**32 - 1), fix_crc=st.booleans())
def test_declared_sizes_never_allocate_gigabytes(
    tmp_path_factory: Any, width: int, height: int, fix_crc: bool
) -> None:
    path = Path(tmp_path_factory.mktemp("img")) / "huge.png"
    path.write_bytes(png_with_size(width, height, fix_crc))
    _check(path)


def test_a_folder_of_damaged_images_gives_one_frame_per_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(17)
    for i in range(150):
        data, suffix = damaged(rng)
        (tmp_path / f"{i:04d}{suffix}").write_bytes(data)
    files = sorted(p for p in tmp_path.iterdir())
    source = ImageSequenceSource(files, source_id=str(tmp_path))
    frames = list(source)
    CASES["damaged folder files"] += len(files)
    assert [f.index for f in frames] == list(range(len(files)))  # one per file, in order
    assert all((f.image is None) == (f.error is not None) for f in frames)
    OUTCOMES["unreadable (a decode_error record)"] += sum(f.image is None for f in frames)
    OUTCOMES["ok"] += sum(f.image is not None for f in frames)
