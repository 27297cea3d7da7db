"""One source grammar for every command (contracts §3): cameras, streams, files, KITTI, images, synthetic.

| string | source |
|---|---|
| `0` … `255`, `/dev/video0` … `/dev/video255` | camera |
| `rtsp://…`, `rtmp://…`, `http(s)://…`, `udp://…`, `tcp://…` | network stream (its query string is its own) |
| `clip.mp4` (`.avi .mkv .mov .webm .m4v .mpg .mpeg .ts`) | video file |
| a KITTI raw drive folder (holds `image_02/data/`) | images stamped with the drive's timestamps |
| a folder, a glob (`frames/*.png`, `**` recursive), a `.txt` list of paths, one image | images |
| `synthetic:` or `synthetic:frames=120,seed=3` | the procedural driving scene |
| `cams.streams` (`open_sources` only) | the sources it lists, one a line, `#` comments, no nesting |

Options: a file, folder, glob, list or drive may end in `?key=value&key=value`. The one key is
`stride=N`: read every N-th frame only. Frame indices stay positions in the whole sequence (`?stride=3`
gives frames 0, 3, 6, …); the frames in between are not read (a video's are grabbed, not converted) and
get no record. `?` is also a glob wildcard, so it starts options only when it is the last `?` and all
that follows is `key=value` pairs joined by `&` (keys of letters, digits and `_`); any other `?` is a
wildcard, and a path that exists exactly as written is neither split nor globbed. Cameras, streams
and `synthetic:` take no `?` options.
"""

from __future__ import annotations

import re
from pathlib import Path

from depthmask.errors import DepthmaskError, SourceError, closest
from depthmask.sources.base import Source, file_kind, read_text_file, shorten
from depthmask.sources.images import (
    IMAGE_SUFFIXES,
    ImageSequenceSource,
    paths_from_folder,
    paths_from_glob,
    paths_from_list,
)
from depthmask.sources.kitti import is_kitti_drive, kitti_drive_source
from depthmask.sources.synthetic import SyntheticSource, parse_options
from depthmask.sources.video import MAX_CAMERA_INDEX, VIDEO_SUFFIXES, CaptureSource, VideoFileSource

STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")
SOURCE_OPTIONS = ("stride",)
MAX_SOURCE_CHARS = 4096  # Linux's PATH_MAX; a longer string is no source
MAX_STRIDE = 10**6
MAX_STREAMS_BYTES = 2**20
MAX_STREAMS = 1024  # sources one .streams file may list (each gets a reader thread)
_OPTIONS = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=[^&]*(?:&[A-Za-z_][A-Za-z0-9_]*=[^&]*)*")
_CAMERA = re.compile(r"[0-9]+")
_DEVICE = re.compile(r"/dev/video([0-9]+)")
_KIND = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_KINDS = ("synthetic", *(s.removesuffix("://") for s in STREAM_SCHEMES))
_HINT = (
    "a camera index (0), a stream URL (rtsp://…), a video file, a folder, glob or .txt list of images, "
    "a KITTI drive folder, or 'synthetic:'"
)


def open_source(spec: str) -> Source:
    """The source a string names (not yet opened); see the module docstring for the grammar.

    SourceError (ConfigError for scene settings) names the offending value and what was expected; a
    string never raises anything else.
    """
    spec = _checked(spec)
    if spec == "synthetic" or spec.startswith("synthetic:"):
        return SyntheticSource(**parse_options(spec.partition(":")[2]))
    if _CAMERA.fullmatch(spec):
        index = int(spec)
        if index > MAX_CAMERA_INDEX:
            raise SourceError(
                f"camera index {shorten(spec)} is out of range; cameras are numbered 0 … {MAX_CAMERA_INDEX}"
            )
        return CaptureSource(index)
    if spec.startswith("/dev/video"):
        device = _DEVICE.fullmatch(spec)
        if device is None or int(device.group(1)) > MAX_CAMERA_INDEX:
            raise SourceError(
                f"camera device {shorten(spec)!r} is not /dev/videoN with N in 0 … {MAX_CAMERA_INDEX}"
            )
        return CaptureSource(spec)
    if spec.lower().startswith(STREAM_SCHEMES):
        return CaptureSource(spec)
    target, options = _split_options(spec)
    stride = _stride(options, spec)
    path = expand_path(target)
    kind = file_kind(path)
    if kind is None and any(ch in target for ch in "*?["):  # what exists as written is no pattern
        return ImageSequenceSource(paths_from_glob(str(path)), source_id=target, stride=stride)
    if kind == "dir":
        if is_kitti_drive(path):
            return kitti_drive_source(path, stride=stride)
        return ImageSequenceSource(paths_from_folder(path), source_id=str(path), stride=stride)
    if kind == "file":
        return _file_source(path, stride)
    if kind == "other":
        raise SourceError(f"source {shorten(str(path))!r} is a device, pipe or socket, not a file or folder")
    raise SourceError(
        f"source {shorten(spec)!r} is not a camera index, a stream URL, an existing file or folder, a glob "
        "or 'synthetic:'; check the path." + _kind_hint(spec)
    )


def names_a_path(spec: str) -> bool:
    """True when `spec` is read from the filesystem (a file, folder, glob, list or drive); False for
    `synthetic:`, a camera and a stream, whose strings are not paths."""
    spec = spec.strip()
    if spec == "synthetic" or spec.startswith("synthetic:") or _CAMERA.fullmatch(spec):
        return False
    return not (spec.startswith("/dev/video") or spec.lower().startswith(STREAM_SCHEMES))


def open_sources(specs: list[str]) -> list[Source]:
    """Several sources; a `.streams` file expands to the sources it lists (one per line, '#' comments).

    A `.streams` file may not list another (or itself); errors name the file and line.
    """
    if isinstance(specs, str):  # a lone string would be read character by character
        specs = [specs]
    out: list[Source] = []
    for spec in specs:
        spec = _checked(spec)
        path = expand_path(spec)
        if path.suffix.lower() == ".streams" and file_kind(path) == "file":
            out += _streams_file(path)
        else:
            out.append(open_source(spec))
    if not out:
        raise SourceError(f"no sources given; give {_HINT}")
    return out


def _file_source(path: Path, stride: int) -> Source:
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return VideoFileSource(path, stride=stride)
    if suffix == ".txt":
        return ImageSequenceSource(paths_from_list(path), source_id=str(path), stride=stride)
    if suffix == ".streams":
        raise SourceError(
            f"{shorten(str(path))}: a .streams file names several sources; use open_sources() for it "
            "(and give it no ?options)"
        )
    if suffix in IMAGE_SUFFIXES:
        return ImageSequenceSource([path], source_id=str(path), stride=stride)
    raise SourceError(
        f"{shorten(str(path))}: suffix {shorten(suffix, 40)!r} is neither a video "
        f"({', '.join(sorted(VIDEO_SUFFIXES))}), an image ({', '.join(sorted(IMAGE_SUFFIXES))}), "
        "nor a .txt list of image paths"
    )


def _streams_file(path: Path) -> list[Source]:
    text = read_text_file(path, "streams file", MAX_STREAMS_BYTES)
    sources: list[Source] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{shorten(str(path))}, line {number}"
        try:
            if _split_options(line)[0].lower().endswith(".streams"):
                raise SourceError(
                    f"{shorten(line)!r} is a .streams file; a .streams file lists sources, not other "
                    ".streams files (nor itself)"
                )
            if len(sources) == MAX_STREAMS:
                raise SourceError(f"more than {MAX_STREAMS} sources in one .streams file")
            sources.append(open_source(line))
        except DepthmaskError as exc:
            raise type(exc)(f"{where}: {exc}") from None
    if not sources:
        raise SourceError(
            f"{shorten(str(path))} lists no sources (one source string a line, '#' starts a comment)"
        )
    return sources


def _checked(spec: object) -> str:
    """The stripped source string; SourceError for a non-string, a NUL byte, an overlong or empty one."""
    if not isinstance(spec, str):
        raise SourceError(f"a source is a string, got {type(spec).__name__} {shorten(repr(spec))}")
    if "\0" in spec:
        raise SourceError(
            f"source {shorten(spec)!r} holds a NUL byte (at character {spec.index(chr(0))}); "
            "no path or URL can contain one"
        )
    if len(spec) > MAX_SOURCE_CHARS:
        raise SourceError(
            f"source {shorten(spec)!r} is longer than any path or URL ({MAX_SOURCE_CHARS} characters)"
        )
    spec = spec.strip()
    if not spec:
        raise SourceError(f"empty source string; give {_HINT}")
    return spec


def _split_options(spec: str) -> tuple[str, dict[str, str]]:
    """(target, {key: value}) per the options rule of the module docstring."""
    head, sep, tail = spec.rpartition("?")
    if not sep or not head or not _OPTIONS.fullmatch(tail) or file_kind(expand_path(spec)) is not None:
        return spec, {}
    options: dict[str, str] = {}
    for pair in tail.split("&"):
        key, _, value = pair.partition("=")
        if key in options:
            raise SourceError(f"source {shorten(spec)!r}: option {key!r} is given twice")
        if key not in SOURCE_OPTIONS:
            raise SourceError(
                f"source {shorten(spec)!r}: unknown option {shorten(key, 40)!r}; known: "
                f"{', '.join(SOURCE_OPTIONS)} (e.g. ?stride=3)." + closest(key, SOURCE_OPTIONS)
            )
        options[key] = value
    return head, options


def _stride(options: dict[str, str], spec: str) -> int:
    text = options.get("stride")
    if text is None:
        return 1
    if not _CAMERA.fullmatch(text) or not 1 <= int(text) <= MAX_STRIDE:
        raise SourceError(
            f"source {shorten(spec)!r}: stride={shorten(text, 40)!r} must be a whole number in 1 … "
            f"{MAX_STRIDE:,} (read every N-th frame), e.g. ?stride=3"
        )
    return int(text)


def expand_path(text: str) -> Path:
    """`~` and `~user` expanded; a `~user` with no home is the plain (missing) path, never an error."""
    try:
        return Path(text).expanduser()
    except RuntimeError:  # `~nosuchuser/…`: no home to expand to, so it is a plain (missing) path
        return Path(text)


def _kind_hint(spec: str) -> str:
    """' Did you mean 'synthetic'?' for a mistyped `kind:` prefix (synthetc:, rtps://)."""
    found = _KIND.match(spec)
    return closest(found.group(1).lower(), _KINDS) if found else ""
