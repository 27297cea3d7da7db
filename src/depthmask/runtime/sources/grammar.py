"""One source grammar for every command (contracts §3): cameras, streams, files, KITTI, images, synthetic."""

from __future__ import annotations

from pathlib import Path

from depthmask.errors import SourceError
from depthmask.runtime.sources.base import Source
from depthmask.runtime.sources.images import (
    IMAGE_SUFFIXES,
    ImageSequenceSource,
    paths_from_folder,
    paths_from_glob,
    paths_from_list,
)
from depthmask.runtime.sources.kitti import is_kitti_drive, kitti_drive_source
from depthmask.runtime.sources.synthetic import SyntheticSource, parse_options
from depthmask.runtime.sources.video import VIDEO_SUFFIXES, CaptureSource, VideoFileSource

STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")


def open_source(spec: str) -> Source:
    """The source a string names (not yet opened). SourceError says what was expected when none fits.

    | `0`, `/dev/video0` | camera | `rtsp://…`, `http(s)://…` | stream | `clip.mp4` | video file |
    | a KITTI drive folder | images with timestamps | folder, glob, `.txt` list | images |
    | `synthetic:` or `synthetic:frames=120,seed=3` | the procedural driving scene |
    """
    spec = spec.strip()
    if spec.startswith("synthetic:") or spec == "synthetic":
        return SyntheticSource(**parse_options(spec.partition(":")[2]))
    if spec.isdigit():
        return CaptureSource(int(spec))
    if spec.startswith("/dev/video"):
        return CaptureSource(spec)
    if spec.lower().startswith(STREAM_SCHEMES):
        return CaptureSource(spec)
    if any(ch in spec for ch in "*?["):
        return ImageSequenceSource(paths_from_glob(spec), source_id=spec)
    path = Path(spec).expanduser()
    if path.is_dir():
        if is_kitti_drive(path):
            return kitti_drive_source(path)
        return ImageSequenceSource(paths_from_folder(path), source_id=str(path))
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in VIDEO_SUFFIXES:
            return VideoFileSource(path)
        if suffix == ".txt":
            return ImageSequenceSource(paths_from_list(path), source_id=str(path))
        if suffix == ".streams":
            raise SourceError(f"{path}: a .streams file names several sources; use open_sources() for it")
        if suffix in IMAGE_SUFFIXES:
            return ImageSequenceSource([path], source_id=str(path))
        raise SourceError(
            f"{path}: suffix {suffix!r} is neither a video ({', '.join(sorted(VIDEO_SUFFIXES))}), "
            "an image, nor a .txt list of image paths"
        )
    raise SourceError(
        f"source {spec!r} is not a camera index, a stream URL, an existing file or folder, a glob or "
        "'synthetic:'; check the path"
    )


def open_sources(specs: list[str]) -> list[Source]:
    """Several sources; a `.streams` file expands to the sources it lists (one per line, '#' comments)."""
    out: list[Source] = []
    for spec in specs:
        path = Path(spec)
        if path.suffix == ".streams" and path.is_file():
            lines = [ln.strip() for ln in path.read_text().splitlines()]
            out += [open_source(ln) for ln in lines if ln and not ln.startswith("#")]
        else:
            out.append(open_source(spec))
    if not out:
        raise SourceError(f"no sources in {specs}")
    return out
