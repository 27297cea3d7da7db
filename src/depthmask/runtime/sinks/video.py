"""Overlay video per source: H.264 through PyAV when installed (browser-playable), else OpenCV's mp4v."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from depthmask.errors import OutputError, module_available
from depthmask.runtime.overlay import DepthColorizer, overlay_frame, picture_of, placeholder_frame
from depthmask.runtime.records import Result
from depthmask.runtime.sinks.base import source_dir_name
from depthmask.sources.fit import fit_frame

PLACEHOLDER_SIZE = (640, 360)  # (width, height) of a grey picture before any frame set the video's size

log = logging.getLogger("depthmask.runtime")


class _CvWriter:
    """OpenCV VideoWriter with the mp4v codec (its wheels cannot encode H.264)."""

    codec = "mp4v"

    def __init__(self, path: Path, fps: float, size: tuple[int, int]) -> None:
        self.writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not self.writer.isOpened():
            raise OutputError(f"could not open {path} for writing video")

    def write(self, frame: np.ndarray) -> None:
        self.writer.write(frame)

    def close(self) -> None:
        self.writer.release()


class _AvWriter:
    """PyAV (FFmpeg) with libx264, yuv420p: plays in browsers and in the HTML report."""

    codec = "h264"

    def __init__(self, path: Path, fps: float, size: tuple[int, int]) -> None:
        import fractions

        import av

        self.container = av.open(str(path), mode="w")
        try:
            self.stream = self.container.add_stream(
                "libx264", rate=fractions.Fraction(fps).limit_denominator(1000)
            )
        except Exception:  # no libx264 in this FFmpeg: release the file before OpenCV takes over
            self.container.close()
            raise
        # yuv420p needs even sizes; the frames are padded by one pixel when odd.
        self.size = (size[0] + size[0] % 2, size[1] + size[1] % 2)
        self.stream.width, self.stream.height = self.size
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {"crf": "23", "preset": "veryfast"}
        self._av = av
        self.broken = False

    def write(self, frame: np.ndarray) -> None:
        h, w = frame.shape[:2]
        if (w, h) != self.size:
            frame = cv2.copyMakeBorder(frame, 0, self.size[1] - h, 0, self.size[0] - w, cv2.BORDER_CONSTANT)
        vf = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="bgr24")
        try:
            for packet in self.stream.encode(vf):
                self.container.mux(packet)
        except Exception:
            self.broken = True
            raise

    def close(self) -> None:
        # After a failed write (ENOSPC, say) flushing the encoder into the broken muxer crashes FFmpeg
        # (a segfault, seen with PyAV 18): close the container without the flush.
        try:
            if not self.broken:
                for packet in self.stream.encode():
                    self.container.mux(packet)
        finally:
            self.container.close()


class OverlayVideoSink:
    """One overlay video per source, drawn at the footage's own resolution and aspect (`picture_of`).

    The video has one picture per frame read, at the source's frame rate, so it plays at real speed: a
    frame the live policy dropped holds the last processed picture, a frame that could not be decoded or
    was skipped is a labelled grey picture. A video's size is set by its first picture; a later frame of
    another size (a folder of mixed images) is letterboxed into it.
    """

    def __init__(
        self,
        out_dir: Path,
        source_ids: list[str],
        fps: dict[str, float],
        depth_range: tuple[float, float] | None = None,
        codec: str = "auto",
    ) -> None:
        self.out_dir = Path(out_dir)
        self.paths = {
            sid: self.out_dir / source_dir_name(sid, i) / "overlay.mp4" for i, sid in enumerate(source_ids)
        }
        self.fps = {sid: (f if f and f > 0 else 10.0) for sid, f in fps.items()}
        self.depth_range = depth_range
        self.use_av = codec == "h264" or (codec == "auto" and module_available("av"))
        self.writers: dict[str, Any] = {}
        self.sizes: dict[str, tuple[int, int]] = {}  # (width, height) of each source's video
        self.last: dict[str, np.ndarray] = {}  # the last picture written, held while frames are dropped
        self.colorizers: dict[str, DepthColorizer] = {}
        self.frames: dict[str, int] = dict.fromkeys(source_ids, 0)
        self.held: dict[str, int] = dict.fromkeys(source_ids, 0)

    def open(self) -> None:
        """Writers open lazily at each source's first frame (the picture size is known then)."""
        for p in self.paths.values():
            p.parent.mkdir(parents=True, exist_ok=True)

    def _writer(self, sid: str, size: tuple[int, int]) -> Any:
        if sid not in self.writers:
            cls = _AvWriter if self.use_av else _CvWriter
            try:
                self.writers[sid] = cls(self.paths[sid], self.fps.get(sid, 10.0), size)
            except OutputError:
                raise
            except Exception as exc:  # PyAV without libx264, say: fall back to OpenCV, say so once
                log.warning("H.264 through PyAV failed (%s); writing mp4v with OpenCV instead", exc)
                self.writers[sid] = _CvWriter(self.paths[sid], self.fps.get(sid, 10.0), size)
            self.sizes[sid] = size
        return self.writers[sid]

    def write(self, result: Result) -> None:
        """Append this frame's picture: its overlay, the held one (dropped) or a labelled grey one."""
        sid = result.frame.source_id
        colorizer = self.colorizers.setdefault(sid, DepthColorizer(self.depth_range))
        drawn = picture_of(result)
        if drawn is not None:
            picture = overlay_frame(*drawn, colorizer)
        elif result.status == "dropped" and sid in self.last:
            picture = self.last[sid]
            self.held[sid] += 1
        else:
            width, height = self.sizes.get(sid, PLACEHOLDER_SIZE)
            picture = placeholder_frame(height, width, f"frame {result.frame.index}: {result.status}")
        size = self.sizes.get(sid, (picture.shape[1], picture.shape[0]))
        if (picture.shape[1], picture.shape[0]) != size:
            picture = fit_frame(picture, size[1], size[0], "letterbox")
        self._writer(sid, size).write(picture)
        if drawn is not None:
            self.last[sid] = picture
        self.frames[sid] += 1

    def close(self) -> None:
        """Finalise every video (the moov atom / trailer), so each is playable; one that fails does not
        keep the others from being finalised (the first failure is raised afterwards)."""
        first: Exception | None = None
        for w in self.writers.values():
            try:
                w.close()
            except Exception as exc:  # e.g. ENOSPC writing one trailer; the rest still close
                first = first or exc
        self.writers.clear()
        if first is not None:
            raise first

    def describe(self) -> dict[str, Any]:
        """Paths, codec and frame counts."""
        return {
            "codec": "h264" if self.use_av else "mp4v",
            "videos": {str(self.paths[s]): n for s, n in self.frames.items() if n},
            "held_pictures": {str(self.paths[s]): n for s, n in self.held.items() if n},
        }
