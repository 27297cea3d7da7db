"""Frame sources (no torch): `open_source("synthetic:frames=60")`, `open_source("drive_0001_sync/")`."""

from depthmask.sources.base import Frame, Policy, Source
from depthmask.sources.fit import FitError, fit_frame
from depthmask.sources.grammar import open_source, open_sources
from depthmask.sources.images import ImageSequenceSource, read_image
from depthmask.sources.kitti import kitti_drive_source, parse_kitti_timestamp, read_kitti_timestamps
from depthmask.sources.synthetic import SyntheticSource
from depthmask.sources.video import CaptureSource, VideoFileSource

__all__ = [
    "CaptureSource",
    "FitError",
    "Frame",
    "ImageSequenceSource",
    "Policy",
    "Source",
    "SyntheticSource",
    "VideoFileSource",
    "fit_frame",
    "kitti_drive_source",
    "open_source",
    "open_sources",
    "parse_kitti_timestamp",
    "read_image",
    "read_kitti_timestamps",
]
