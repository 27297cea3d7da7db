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

    def infer(self, frames: np.ndarray) -> dict[str, np.ndarray]:
        """uint8 frames [B, H, W, 3] → the model's outputs by name (float32 host arrays, batch first)."""

    def close(self) -> None:
        """Release the session/engine and device memory; safe to call twice."""

    def describe(self) -> dict[str, Any]:
        """Backend name, providers/device, precision, and the model's metadata summary."""


class BackendBase:
    """Context-manager plumbing and the fixed-batch padding shared by the backends."""

    name = "base"
    info: ModelInfo

    def load(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def __enter__(self) -> BackendBase:
        self.load()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
