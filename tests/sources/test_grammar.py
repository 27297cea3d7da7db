"""The source grammar: every bad string is a DepthmaskError naming what was wrong; options and strides."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from depthmask.errors import ConfigError, DepthmaskError, SourceError
from depthmask.sources import ImageSequenceSource, SyntheticSource, open_source, open_sources
from depthmask.sources.images import MAX_LIST_BYTES

SMALL = "height=32,width=48"  # the synthetic scene at a size that renders in a millisecond


def _file(tmp_path: Path, name: str, data: bytes) -> str:
    (tmp_path / name).write_bytes(data)
    return str(tmp_path / name)


def _sparse(tmp_path: Path, name: str, size: int) -> str:
    with open(tmp_path / name, "wb") as f:
        f.truncate(size)  # no blocks written: a huge file that costs nothing
    return str(tmp_path / name)


def _fifo(tmp_path: Path) -> str:
    os.mkfifo(tmp_path / "pipe.png")
    return str(tmp_path / "pipe.png")


# (id, spec builder given a folder holding images/ with 3 PNGs, error type, words the message holds)
BAD: list[tuple[str, Callable[[Path], str], type, str]] = [
    ("empty", lambda d: "", SourceError, "empty source string"),
    ("blank", lambda d: " \t\n ", SourceError, "empty source string"),
    ("unknown-key", lambda d: "synthetic:framez=3", SourceError, "unknown option 'framez'.*'frames'"),
    ("frames-abc", lambda d: "synthetic:frames=abc", SourceError, "frames=abc must be a whole number"),
    ("frames-neg", lambda d: "synthetic:frames=-1", SourceError, "frames=-1 must be"),
    ("frames-zero", lambda d: "synthetic:frames=0", SourceError, "frames=0 must be"),
    ("frames-expr", lambda d: "synthetic:frames=10**12", SourceError, r"frames=10\*\*12 must be"),
    ("frames-huge", lambda d: "synthetic:frames=1000000000000", SourceError, "frames=1000000000000 must"),
    ("frames-float", lambda d: "synthetic:frames=2.5", SourceError, "frames=2.5 must be"),
    ("seed-float", lambda d: "synthetic:seed=1.5", ConfigError, "seed=1.5 must be a non-negative integer"),
    ("duplicate", lambda d: "synthetic:frames=3,frames=4", SourceError, "'frames' is given twice"),
    ("no-value", lambda d: "synthetic:frames", SourceError, "'frames' is not key=value"),
    ("no-key", lambda d: "synthetic:=3", SourceError, "'=3' is not key=value"),
    ("giant-scene", lambda d: "synthetic:height=100000,width=100000", SourceError, "height=100000 × width"),
    (
        "kind-typo",
        lambda d: "synthetc:frames=3",
        SourceError,
        "'synthetc:frames=3'.*Did you mean 'synthetic'",
    ),
    ("scheme-typo", lambda d: "rtps://cam.local/live", SourceError, "Did you mean 'rtsps?'"),
    ("camera-huge", lambda d: "99999999999999999999", SourceError, "camera index 99999999999999999999"),
    ("camera-256", lambda d: "256", SourceError, "camera index 256 is out of range"),
    ("device-huge", lambda d: "/dev/video99999", SourceError, "'/dev/video99999' is not /dev/videoN"),
    ("device-name", lambda d: "/dev/videocam", SourceError, "'/dev/videocam' is not /dev/videoN"),
    ("nul", lambda d: f"{d}/images/a\0b.png", SourceError, "holds a NUL byte"),
    ("undecodable", lambda d: f"{d}/caf\udce9.png", SourceError, "caf\ufffd.png'"),
    ("overlong", lambda d: "x" * 5000, SourceError, "longer than any path or URL"),
    ("long-name", lambda d: f"{d}/{'x' * 300}.png", SourceError, "is not a camera index, a stream URL"),
    (
        "long-name-opt",
        lambda d: f"{d}/{'x' * 300}?stride=2",
        SourceError,
        "is not a camera index, a stream URL",
    ),
    ("stride-abc", lambda d: f"{d}/images?stride=abc", SourceError, "stride='abc' must be a whole number"),
    ("stride-zero", lambda d: f"{d}/images?stride=0", SourceError, "stride='0' must be"),
    ("stride-neg", lambda d: f"{d}/images?stride=-2", SourceError, "stride='-2' must be"),
    ("stride-empty", lambda d: f"{d}/images?stride=", SourceError, "stride='' must be"),
    ("option-typo", lambda d: f"{d}/images?strid=2", SourceError, "unknown option 'strid'.*'stride'"),
    ("option-twice", lambda d: f"{d}/images?stride=2&stride=3", SourceError, "'stride' is given twice"),
    ("no-match", lambda d: f"{d}/images/*.jpg", SourceError, r"pattern .*\*\.jpg' matches no files"),
    (
        "binary-list",
        lambda d: _file(d, "l.txt", b"a.png\n\0\x01\x02"),
        SourceError,
        r"binary \(a NUL byte at offset 6\)",
    ),
    (
        "latin1-list",
        lambda d: _file(d, "l.txt", "caf\xe9.png".encode("latin-1")),
        SourceError,
        "not UTF-8 .*0xe9",
    ),
    ("huge-list", lambda d: _sparse(d, "l.txt", MAX_LIST_BYTES + 1), SourceError, "larger than 64 MiB"),
    (
        "long-line",
        lambda d: _file(d, "l.txt", b"a.png\n" + b"y" * 5000),
        SourceError,
        "line 2: 5000 characters",
    ),
    ("comment-list", lambda d: _file(d, "l.txt", b"# nothing\n\n"), SourceError, "names no files"),
    ("csv", lambda d: _file(d, "data.csv", b"a,b"), SourceError, r"suffix '\.csv'"),
    ("fifo", _fifo, SourceError, "pipe.png' is a device, pipe or socket"),
    ("streams-direct", lambda d: _file(d, "a.streams", b"0\n"), SourceError, "use open_sources"),
]


@pytest.fixture
def root(tmp_path: Path, image_folder: Callable[[int], Path]) -> Path:
    image_folder(3).rename(tmp_path / "images")
    return tmp_path


@pytest.mark.parametrize(("builder", "kind", "words"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_source_strings_name_the_value(root: Path, builder: Callable, kind: type, words: str) -> None:
    spec = builder(root)
    with pytest.raises(kind) as err:
        list(open_source(spec))  # iterating too: no fault may wait until the first frame
    assert isinstance(err.value, DepthmaskError)
    assert re.search(words, str(err.value)), str(err.value)
    assert len(str(err.value)) < 800  # overlong values are shortened
    str(err.value).encode("utf-8")  # printable: undecodable file-name bytes are replaced


def test_synthetic_frames_n(tmp_path: Path) -> None:
    source = open_source(f"synthetic:frames=7,{SMALL},seed=2")
    assert isinstance(source, SyntheticSource)
    frames = list(source)
    assert [f.index for f in frames] == list(range(7)) and all(f.ok for f in frames)
    assert frames[0].image.shape == (32, 48, 3)
    assert source.describe()["frames"] == 7 and source.describe()["end"] is None


def test_stride_takes_every_nth_file_by_its_index(image_folder: Callable[[int], Path]) -> None:
    folder = image_folder(10)
    listed = sorted(os.listdir(folder))
    source = open_source(f"{folder}?stride=3")
    assert isinstance(source, ImageSequenceSource)
    frames = list(source)
    assert [f.index for f in frames] == [0, 3, 6, 9]  # a frame's index is its file's place in the folder
    assert [Path(f.meta["path"]).name for f in frames] == [listed[i] for i in (0, 3, 6, 9)]
    d = source.describe()
    assert (d["frames"], d["files"], d["stride"], d["end"]) == (4, 10, 3, None)
    assert len(list(open_source(f"{folder}/*.png?stride=4"))) == 3  # a glob takes options too


def test_question_mark_is_a_wildcard_unless_options_follow(tmp_path: Path, image_folder: Callable) -> None:
    folder = image_folder(10)
    assert len(list(open_source(f"{folder}/000000000?.png"))) == 10  # '.png' is no key=value: a wildcard
    literal = tmp_path / "clip?stride=2"  # a path that exists as written is never split
    folder.rename(literal)
    source = open_source(str(literal))
    assert len(list(source)) == 10 and source.describe()["stride"] == 1


def test_streams_files(tmp_path: Path, image_folder: Callable[[int], Path]) -> None:
    folder = image_folder(2)
    good = tmp_path / "cams.streams"
    good.write_text(f"# one folder, one scene\n{folder}?stride=2\nsynthetic:frames=3,{SMALL}\n")
    sources = open_sources([str(good), "synthetic:frames=2," + SMALL])
    assert [len(list(s)) for s in sources] == [1, 3, 2]
    itself = tmp_path / "self.streams"
    itself.write_text(f"synthetic:\n{itself}\n")
    with pytest.raises(SourceError, match=r"self\.streams, line 2: .*self\.streams' is a \.streams file"):
        open_sources([str(itself)])
    nested = tmp_path / "nested.streams"
    nested.write_text(f"{good}\n")
    with pytest.raises(SourceError, match=r"nested\.streams, line 1: .*cams\.streams' is a \.streams"):
        open_sources([str(nested)])
    bad = tmp_path / "bad.streams"
    bad.write_text("synthetic:\nsynthetic:frames=abc\n")
    with pytest.raises(SourceError, match=r"bad\.streams, line 2: synthetic: frames=abc"):
        open_sources([str(bad)])
    bad.write_text(f"synthetic:\n# next\n{folder}?strid=2\n")
    with pytest.raises(SourceError, match=r"bad\.streams, line 3: .*unknown option 'strid'"):
        open_sources([str(bad)])
    (tmp_path / "bin.streams").write_bytes(b"\x89PNG\0\0")
    with pytest.raises(SourceError, match=r"bin\.streams' is binary"):
        open_sources([str(tmp_path / "bin.streams")])
    (tmp_path / "none.streams").write_text("# nothing\n")
    with pytest.raises(SourceError, match="lists no sources"):
        open_sources([str(tmp_path / "none.streams")])
    with pytest.raises(SourceError, match="no sources given"):
        open_sources([])
