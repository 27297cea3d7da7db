"""`dataset_from_spec`: one string names a dataset, for `depthmask train` and `depthmask eval` alike.

| spec | dataset |
|---|---|
| `synthetic:` or `synthetic:frames=200,seed=0,speed=12` | the procedural scene with exact depth |
| `kitti:/data/kitti` or `kitti:/raw?depth=/depth&split=eigen_test_files.txt&crop=garg` | KITTI |
| `kitti:/raw?gt=velodyne&split=eigen_test_files.txt` or `kitti:DRIVE?gt=velodyne` | KITTI, Velodyne scans |
| `nyu-csv:/data/nyu/data/nyu2_train.csv` | NYU-v2, the authors' preprocessed release |
| `nyu-mat:/data/nyu_depth_v2_labeled.mat?splits=/data/splits.mat` | NYU-v2, the official labeled file |
| `frames:SOURCE` or any other source string | images only, for G |

A source string is anything the runtime reads (`clip.mp4`, `frames/`, a glob, a KITTI drive folder);
`frames:synthetic:frames=50` takes the synthetic scene's images without its depth.

Options: `?key=value&key=value` after a path (for frames too: `clip.mp4?stride=3&max_frames=500`), and
`key=value,key=value` after `synthetic:`. Sizes are `HxW` (`depth_size=114x152`), `none` clears a value.
Keyword arguments of `dataset_from_spec` are defaults that options in the string override.
KITTI's `gt=` is `annotated` (the default: the annotated depth release) or `velodyne` (the raw drives'
Velodyne scans, projected as the Eigen-split evaluations do; the path may then be one drive folder).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl

from torch.utils.data import Dataset

from depthmask.errors import ConfigError, closest
from depthmask.settings import parse_size
from depthmask.sources.synthetic import parse_options

Split = Literal["train", "test"]
PREFIXES = ("synthetic", "kitti", "nyu-csv", "nyu-mat", "frames")

_KITTI_OPTIONS = {
    "depth": "depth_root",
    "split": "split_file",
    "camera": "camera",
    "depth_size": "depth_size",
    "kb_crop": "kb_crop",
    "crop": "eval_crop",
    "min_depth": "min_depth",
    "max_depth": "max_depth",
    "augment": "augment",
    "gt": "gt",
}
_NYU_OPTIONS = {
    "root": "root",
    "depth_size": "depth_size",
    "short_side": "short_side",
    "min_depth": "min_depth",
    "max_depth": "max_depth",
    "augment": "augment",
}
_NYU_MAT_OPTIONS = {
    **{k: v for k, v in _NYU_OPTIONS.items() if k != "root"},
    "splits": "splits",
    "indices": "indices",
}
_FRAMES_OPTIONS = {
    "stride": "stride",
    "max_frames": "max_frames",
    "on_error": "on_error",
    "fit": "fit",
    "augment": "augment",
}


def dataset_from_spec(
    spec: str,
    *,
    split: Split = "train",
    input_size: tuple[int, int],
    depth_size: tuple[int, int] | None = None,
    augment: bool | None = None,
    on_error: Literal["raise", "skip"] | None = None,
) -> Dataset:
    """The Dataset a spec string names (see the module docstring), samples in the package's schema.

    `split` is "train" (augmented by default) or "test"; `input_size` is the networks' (H, W);
    `depth_size` overrides the dataset's default ground-truth size; `on_error` applies to frames-only data.
    """
    if split not in ("train", "test"):
        raise ConfigError(f"split must be 'train' or 'test', got {split!r}")
    spec = spec.strip()
    if not spec:
        raise ConfigError("empty dataset spec; e.g. 'synthetic:frames=200', 'kitti:/data/kitti', 'clip.mp4'")
    kind, _, rest = spec.partition(":")
    common = {"split": split, "input_size": tuple(input_size), "depth_size": depth_size, "augment": augment}
    common = {k: v for k, v in common.items() if v is not None}
    if kind == "synthetic":
        from depthmask.train.data.synthetic import SyntheticDepth

        return SyntheticDepth(**common, **_typed(parse_options(rest), "synthetic"))
    if kind == "frames":
        return _frames(rest, split, input_size, augment, on_error)
    if kind in ("kitti", "nyu-csv", "nyu-mat"):
        path, options = _path_and_query(rest, spec)
        if kind == "kitti":
            from depthmask.train.data.kitti import KittiDepth

            kwargs = _options(options, _KITTI_OPTIONS, spec)
            if "split_file" in kwargs:
                kwargs["split_file"] = _resolve(kwargs["split_file"], Path(path))
            return KittiDepth(path, **common, **kwargs)
        if kind == "nyu-csv":
            from depthmask.train.data.nyu import NyuCsv

            return NyuCsv(path, **common, **_options(options, _NYU_OPTIONS, spec))
        from depthmask.train.data.nyu_mat import NyuMat

        return NyuMat(path, **common, **_options(options, _NYU_MAT_OPTIONS, spec))
    if (
        re.fullmatch(r"[a-z][a-z0-9-]{2,}", kind)
        and rest
        and not rest.startswith("//")
        and not Path(spec).exists()
    ):
        raise ConfigError(
            f"unknown dataset kind {kind!r} in {spec!r}; known: {', '.join(p + ':' for p in PREFIXES)}, "
            "or a source string (video, folder, glob, KITTI drive) for frames only." + closest(kind, PREFIXES)
        )
    return _frames(spec, split, input_size, augment, on_error)


def _frames(
    text: str,
    split: Split,
    input_size: tuple[int, int],
    augment: bool | None,
    on_error: str | None,
) -> Dataset:
    from depthmask.train.data.frames import Frames

    source, _, query = text.rpartition("?")
    options = dict(parse_qsl(query, keep_blank_values=True)) if source else {}
    # A '?' that is part of a URL or a glob stays with the source: only our own option names split it off.
    if not source or not options or not set(options) <= set(_FRAMES_OPTIONS):
        source, options = text, {}
    kwargs: dict[str, Any] = {"augment": split == "train" if augment is None else augment}
    if on_error is not None:
        kwargs["on_error"] = on_error
    kwargs |= _options(options, _FRAMES_OPTIONS, text)
    return Frames(source, input_size=tuple(input_size), **kwargs)


def _path_and_query(rest: str, spec: str) -> tuple[str, dict[str, str]]:
    path, _, query = rest.partition("?")
    if not path:
        raise ConfigError(f"{spec!r} names no path; e.g. 'kitti:/data/kitti' or 'nyu-csv:data/nyu2_test.csv'")
    pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=False) if query else []
    return path, dict(pairs)


def _options(options: dict[str, str], known: dict[str, str], spec: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, text in options.items():
        if key not in known:
            raise ConfigError(
                f"{spec!r}: unknown option {key!r}; known: {', '.join(sorted(known))}." + closest(key, known)
            )
        out[known[key]] = _value(text)
    return _typed(out, spec)


def _typed(options: dict[str, Any], spec: str) -> dict[str, Any]:
    """Sizes 'HxW' → (H, W); everything else as parsed."""
    out = dict(options)
    for key in ("depth_size", "input_size"):
        if isinstance(out.get(key), str):
            out[key] = parse_size(out[key], f"{spec}: {key}")
    return out


def _value(text: str) -> Any:
    low = text.strip().lower()
    if low in ("none", ""):
        return None
    if low in ("true", "yes", "false", "no"):
        return low in ("true", "yes")
    casts: tuple[Callable[[str], Any], ...] = (int, float)
    for cast in casts:
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _resolve(value: Any, root: Path) -> Any:
    """A relative split file is looked for in the working directory, then in the dataset root."""
    path = Path(str(value)).expanduser()
    if path.is_absolute() or path.exists() or not (root / path).exists():
        return path
    return root / path
