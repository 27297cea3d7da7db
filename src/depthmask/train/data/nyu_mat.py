"""NYU-v2, the official labeled file `nyu_depth_v2_labeled.mat` (MATLAB v7.3 = HDF5, read with h5py).

Datasets `images` (N×3×W×H uint8 RGB) and `depths` (N×W×H float32 metres), i.e. MATLAB's column-major
arrays seen transposed. Which images form a split comes from the official `splits.mat` (`testNdxs`:
654 1-based indices, `trainNdxs`: 795), from a text file of 1-based indices, or from a list; without
one the dataset refuses to guess. Samples go through the authors' NYU transforms (see `nyu.py`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from depthmask.errors import ConfigError, SourceError, require
from depthmask.train.data.nyu import Split, nyu_sample, nyu_transform
from depthmask.train.data.transforms import NYU_INPUT_SIZE

SPLIT_KEYS = {"test": "testNdxs", "train": "trainNdxs"}


def read_indices(path: Path, split: Split) -> list[int]:
    """1-based indices of `split`: from splits.mat (`testNdxs`/`trainNdxs`) or a text file of integers."""
    if not path.is_file():
        raise SourceError(f"NYU split file {str(path)!r} does not exist")
    if path.suffix.lower() != ".mat":
        text = path.read_text()
        try:
            return [int(tok) for tok in re.split(r"[\s,]+", text.strip()) if tok]
        except ValueError:
            raise SourceError(
                f"{path}: expected 1-based image indices separated by spaces, commas or lines"
            ) from None
    key = SPLIT_KEYS[split]
    arrays = _read_mat_arrays(path)
    if key not in arrays:
        raise SourceError(f"{path} has no {key!r} (it holds {', '.join(sorted(arrays)) or 'nothing'})")
    return [int(v) for v in np.asarray(arrays[key]).ravel()]


def _read_mat_arrays(path: Path) -> dict[str, np.ndarray]:
    if _is_hdf5(path):
        require("h5py", "train", "Reading a MATLAB v7.3 split file")
        import h5py

        with h5py.File(path, "r") as f:
            return {k: np.asarray(v) for k, v in f.items() if isinstance(v, h5py.Dataset)}
    require("scipy", "train", "Reading the official NYU splits.mat (MATLAB v5)")
    from scipy.io import loadmat

    return {k: v for k, v in loadmat(str(path)).items() if not k.startswith("__")}


def _is_hdf5(path: Path) -> bool:
    # HDF5 files written by MATLAB keep a 512-byte user block before the superblock's signature.
    with path.open("rb") as f:
        head = f.read(1024)
    return b"\x89HDF\r\n\x1a\n" in head


class NyuMat(Dataset):
    """NYU-v2 labeled images from the official .mat; samples follow the package schema."""

    def __init__(
        self,
        mat_path: str | Path,
        *,
        split: Split = "test",
        input_size: tuple[int, int] = NYU_INPUT_SIZE,
        depth_size: tuple[int, int] | None = None,
        splits: str | Path | None = None,
        indices: Sequence[int] | str | Path | None = None,
        augment: bool | None = None,
        short_side: int | None = None,
        min_depth: float = 1e-3,
        max_depth: float | None = None,
    ) -> None:
        require("h5py", "train", "Reading nyu_depth_v2_labeled.mat (MATLAB v7.3)")
        import h5py

        self.path = Path(mat_path).expanduser()
        if not self.path.is_file():
            raise SourceError(f"NYU labeled file {str(self.path)!r} does not exist")
        try:
            with h5py.File(self.path, "r") as f:
                missing = [k for k in ("images", "depths") if k not in f]
                if missing:
                    raise SourceError(
                        f"{self.path} has no {' or '.join(missing)} dataset; is it nyu_depth_v2_labeled.mat?"
                    )
                count = f["images"].shape[0]
                shapes = (f["images"].shape, f["depths"].shape)
        except OSError as exc:
            raise SourceError(f"{self.path} is not an HDF5 (MATLAB v7.3) file: {exc}") from None
        if len(shapes[0]) != 4 or shapes[0][1] != 3 or shapes[1] != (count, *shapes[0][2:]):
            raise SourceError(
                f"{self.path}: images {shapes[0]} and depths {shapes[1]} are not N×3×W×H and N×W×H"
            )
        self.split = split
        self.indices = self._select(split, splits, indices, count)
        self.transform = nyu_transform(split, input_size, depth_size, augment, short_side)
        self.min_depth, self.max_depth = min_depth, max_depth
        self._file: Any = None
        self._pid = -1

    def _select(
        self, split: Split, splits: str | Path | None, indices: Sequence[int] | str | Path | None, count: int
    ) -> list[int]:
        """0-based rows of the chosen split, checked against the file's image count."""
        if indices == "all":
            return list(range(count))
        if isinstance(indices, (str, Path)):
            one_based = read_indices(Path(indices).expanduser(), split)
        elif indices is not None:
            one_based = [int(i) for i in indices]
        elif splits is not None:
            one_based = read_indices(Path(splits).expanduser(), split)
        else:
            raise ConfigError(
                f"{self.path}: which images form the {split!r} split? Pass splits=/path/splits.mat (the "
                "official file), indices=FILE of 1-based indices, or indices=all for every image"
            )
        bad = [i for i in one_based if not 1 <= i <= count]
        if bad:
            raise ConfigError(
                f"NYU indices are 1-based and {self.path} holds {count} images; out of range: {bad[:5]}"
            )
        if not one_based:
            raise ConfigError(f"the {split!r} split of {self.path} is empty")
        return [i - 1 for i in one_based]

    def __len__(self) -> int:
        return len(self.indices)

    def _h5(self) -> Any:
        # One handle per process: h5py handles must not cross a fork into DataLoader workers.
        if self._file is None or self._pid != os.getpid():
            import h5py

            self._file, self._pid = h5py.File(self.path, "r"), os.getpid()
        return self._file

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = self.indices[index]
        f = self._h5()
        rgb = np.asarray(f["images"][row]).transpose(2, 1, 0)  # 3×W×H → H×W×3
        depth = np.asarray(f["depths"][row], dtype=np.float32).T  # W×H → H×W
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        sample = nyu_sample(self.transform, bgr, depth, self.min_depth, self.max_depth)
        return sample | {"index": index, "path": f"{self.path}#{row + 1}"}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_file": None, "_pid": -1}
