"""The baseline: the authors' way of running N and G (eager PyTorch fp32, one frame at a time).

Their evaluation code calls the networks separately: depth = N(I), mask = G(I), masked depth = N(I ⊗ M),
with the image normalised in NumPy and every result brought back to NumPy between the calls. This runner
does exactly that with copies of the fused graph's N and G (same weights, same preprocessing arithmetic)
in the authors' order of operations (every up-projection resizes before it convolves, as their code does;
see `UpProjection`), so the fused paths are compared with it at equal input. It has the Backend shape
(load/infer/close/describe) so the benchmark times it like every other path; it is not a runtime backend.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from depthmask.contract.constants import IMAGENET_MEAN, IMAGENET_STD
from depthmask.contract.model_info import ModelInfo
from depthmask.runtime.backends.base import BackendBase

_MEAN = np.asarray(IMAGENET_MEAN, np.float32)
_STD = np.asarray(IMAGENET_STD, np.float32)


class AuthorsWay(BackendBase):
    """N(I), G(I), N(I ⊗ M) as three eager calls per frame, NumPy in between."""

    name = "authors"

    def __init__(self, depth_net: Any, mask_net: Any, info: ModelInfo, *, device: str = "cpu") -> None:
        from depthmask.nets.models.upprojection import in_authors_order

        # Copies: the caller's networks keep their own order of operations.
        self.depth_net = in_authors_order(copy.deepcopy(depth_net))
        self.mask_net = in_authors_order(copy.deepcopy(mask_net))
        self.info = info
        self.device = device
        self.loaded = False
        self._gflop: float | None = None

    @property
    def gflop_per_frame(self) -> float:
        """GFLOP of one frame the authors' way (counted; more than the fused graph's, see the module)."""
        if self._gflop is None:
            from torch.utils.flop_counter import FlopCounterMode

            h, w = self.info.height, self.info.width
            counter = FlopCounterMode(display=False)
            with counter:
                self.infer(np.zeros((1, h, w, 3), np.uint8))
            self._gflop = counter.get_total_flops() / 1e9
        return self._gflop

    def load(self) -> None:
        """Move both networks to the device, in eval mode (their default NCHW layout, as the authors')."""
        self.depth_net.eval().to(self.device)
        self.mask_net.eval().to(self.device)
        self.loaded = True

    def _to_tensor(self, image: np.ndarray) -> Any:
        import torch

        return torch.from_numpy(image[None]).to(self.device)

    def infer(self, frames: np.ndarray) -> dict[str, np.ndarray]:
        """Each frame on its own: normalise in NumPy, then N(I), G(I) and N(I ⊗ M), results to NumPy."""
        import torch

        if not self.loaded:
            self.load()
        self.info.check_frames(frames)
        outs: dict[str, list[np.ndarray]] = {"mask": [], "depth": [], "depth_masked": []}
        with torch.no_grad():
            for frame in frames:
                rgb = frame[..., ::-1] if self.info.channel_order == "bgr" else frame
                image = ((rgb.astype(np.float32) / 255.0 - _MEAN) / _STD).transpose(2, 0, 1)
                image = np.ascontiguousarray(image)
                depth = self.depth_net(self._to_tensor(image)).cpu().numpy()
                mask = self.mask_net(self._to_tensor(image)).cpu().numpy()
                masked = image * mask[0]
                depth_masked = self.depth_net(self._to_tensor(masked)).cpu().numpy()
                outs["mask"].append(mask)
                outs["depth"].append(depth)
                outs["depth_masked"].append(depth_masked)
        return {k: np.concatenate(v) for k, v in outs.items()}

    def close(self) -> None:
        """Nothing to release (the networks belong to the caller)."""
        self.loaded = False

    def describe(self) -> dict[str, Any]:
        """Device, torch version and how it runs."""
        import torch

        return {
            "backend": self.name,
            "torch": torch.__version__,
            "device": self.device,
            "precision": "fp32",
            "calls_per_frame": 3,
            "layout": "NCHW",
            "threads": torch.get_num_threads(),
        }
