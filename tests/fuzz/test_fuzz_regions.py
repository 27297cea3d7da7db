"""Fuzzed regions a user hands in: `--roi` texts and region-file lines. Each case is read into boxes or
refused with one ConfigError naming what is wrong — never another exception, never a box that is
empty or not finite."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from fuzzing import ends_typed, fuzz, json_values
from hypothesis import given
from hypothesis import strategies as st

from depthmask.errors import ConfigError
from depthmask.runtime.regions import Box, RegionFile, parse_roi, read_region_file, region_maps
from depthmask.sources.fit import placement

FUZZ = fuzz(cases=150, deadline_ms=2000)
numbers = st.integers(-50, 500).map(str) | st.floats().map(str) | st.text(max_size=6)


def _sound(box: Box) -> bool:
    coords = box.to_list()
    return all(math.isfinite(v) for v in coords) and box.x1 > box.x0 and box.y1 > box.y0


@FUZZ
@given(
    text=st.text(max_size=40)
    | st.builds(lambda n, c: f"{n}={','.join(c)}", st.text(max_size=10), st.lists(numbers, max_size=5))
)
def test_roi_texts_are_read_or_refused(text: str) -> None:
    result = ends_typed("--roi text", lambda: parse_roi(text))
    if isinstance(result, Box):
        assert _sound(result)
        maps = region_maps((result,), placement((300, 500), 64, 96, "letterbox"))
        assert maps.shape == (2, 64, 96) and maps.min() >= 0.0 and maps.max() <= 1.0
    else:
        assert isinstance(result, ConfigError)


def _line() -> Any:
    box = st.lists(st.integers(-10, 200) | st.floats() | st.text(max_size=3), min_size=3, max_size=5)
    entry = st.fixed_dictionaries(
        {"frame": st.integers(-2, 50) | json_values()},
        optional={
            "source": st.text(max_size=6) | json_values(),
            "boxes": st.lists(
                st.fixed_dictionaries({}, optional={"name": st.text(max_size=6), "box": box}) | json_values(),
                max_size=3,
            )
            | json_values(),
        },
    )
    return entry.map(json.dumps) | st.text(max_size=30)


@FUZZ
@given(lines=st.lists(_line(), max_size=6))
def test_region_file_lines_are_read_or_refused(tmp_path_factory: Any, lines: list[str]) -> None:
    path = Path(tmp_path_factory.mktemp("regions")) / "boxes.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = ends_typed("region file", lambda: read_region_file(path))
    if isinstance(result, RegionFile):
        for boxes in result.boxes.values():
            assert all(_sound(b) for b in boxes)
            assert len({b.name for b in boxes}) == len(boxes)
    else:
        assert isinstance(result, ConfigError) and str(path) in str(result)
