"""The Backend protocol every inference engine implements (Polygraphy-style runners)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from depthmask.contract.model_info import ModelInfo


@runtime_checkable
class Backend(Protocol):
    """load → infer(batch) … → close; `describe` for logs and benchmark rows. A context manager."""

    name: str
    info: ModelInfo

    def load(self) -> None:
        """Create the session/engine; raise a DepthmaskError naming the file and the fix if it cannot."""

    def infer(self, frames: np.ndarray, regions: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """uint8 frames [B, H, W, 3] → the model's outputs by name (float32 host arrays, batch first).
        `regions` [B, R, H, W] float32 are the region maps of a model that takes them (`info.max_regions`);
        without them such a model gets one map each, the whole frame."""

    def close(self) -> None:
        """Release the session/engine and device memory; safe to call twice."""

    def describe(self) -> dict[str, Any]:
        """Backend name, providers/device, precision, and the model's metadata summary."""


class BackendBase:
    """Context-manager plumbing and the fixed-batch padding shared by the backends."""

    name = "base"
    info: ModelInfo
    max_maps: int | None = None  # region maps a frame the backend can take (a TensorRT profile's); None: any

    def load(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def __enter__(self) -> BackendBase:
        self.load()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check_regions(self, frames: np.ndarray, regions: np.ndarray | None) -> None:
        """Refuse region maps for a model without the input, or of the wrong shape or type."""
        if regions is None:
            return
        from depthmask.errors import ContractError

        if self.info.max_regions is None:
            raise ContractError(
                f"{self.info.path} takes no region maps; export it with `depthmask export --regions N`"
            )
        want = (frames.shape[0], self.info.height, self.info.width)
        if (
            not isinstance(regions, np.ndarray) or regions.dtype != np.float32 or regions.ndim != 4
            or (regions.shape[0], *regions.shape[2:]) != want or regions.shape[1] < 1
        ):  # fmt: skip
            got = f"{regions.dtype} {list(regions.shape)}" if isinstance(regions, np.ndarray) else regions
            b, h, w = want
            raise ContractError(
                f"{self.info.path} takes float32 region maps [{b}, R ≥ 1, {h}, {w}]; got {got}"
            )

    def padded(self, frames: np.ndarray) -> tuple[np.ndarray, int]:
        """Pad a short batch to a fixed-batch model's size (repeating the last frame); returns (batch, n)."""
        n = frames.shape[0]
        if self.info.batch is None or n == self.info.batch:
            return frames, n
        if n > self.info.batch:
            from depthmask.errors import ContractError

            raise ContractError(
                f"{self.info.path} has a fixed batch of {self.info.batch}; "
                f"run with --batch {self.info.batch} or less"
            )
        pad = np.repeat(frames[-1:], self.info.batch - n, axis=0)
        return np.concatenate([frames, pad]), n
