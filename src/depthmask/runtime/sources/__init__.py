"""Frame sources (no torch): `open_source("synthetic:frames=60")`, `open_source("drive_0001_sync/")`."""

from depthmask.runtime.sources.base import Frame, Policy, Source
from depthmask.runtime.sources.grammar import open_source, open_sources
from depthmask.runtime.sources.images import ImageSequenceSource, read_image
from depthmask.runtime.sources.kitti import kitti_drive_source, parse_kitti_timestamp, read_kitti_timestamps
from depthmask.runtime.sources.synthetic import SyntheticSource
from depthmask.runtime.sources.video import CaptureSource, VideoFileSource

__all__ = [
    "CaptureSource",
    "Frame",
    "ImageSequenceSource",
    "Policy",
    "Source",
    "SyntheticSource",
    "VideoFileSource",
    "kitti_drive_source",
    "open_source",
    "open_sources",
    "parse_kitti_timestamp",
    "read_image",
    "read_kitti_timestamps",
]
