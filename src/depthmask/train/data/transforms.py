"""Image and depth transforms shared by the datasets: normalisation, resizing, the authors' NYU pipeline.

Frames arrive as OpenCV decodes them (BGR uint8 H×W×3); depth as float32 H×W metres. Geometric steps
move image and depth together (torchvision.transforms.v2 with the depth as a `Mask`, so it is always
resampled nearest-neighbour: interpolating depth would invent values across occlusion edges and blend
valid pixels with the zeros that mark missing ones).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from depthmask.contract.constants import IMAGENET_MEAN, IMAGENET_STD
from depthmask.errors import ConfigError
from depthmask.sources.fit import Fit, fit_frame

_MEAN = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
_STD = torch.tensor(IMAGENET_STD).view(3, 1, 1)

# AlexNet's PCA of ImageNet RGB pixels (Krizhevsky et al. 2012), as in the authors' loaddata.py.
PCA_EIGVAL = (0.2175, 0.0188, 0.0045)
PCA_EIGVEC = (
    (-0.5675, 0.7192, 0.4009),
    (-0.5808, -0.0045, -0.8140),
    (-0.5836, -0.6948, 0.4203),
)

# The authors' NYU geometry: short side 240, then a centre crop of 228×304 (H×W) for the network.
NYU_SHORT_SIDE = 240
NYU_INPUT_SIZE = (228, 304)


def rgb_tensor(bgr: np.ndarray) -> torch.Tensor:
    """OpenCV's BGR uint8 H×W×3 → RGB uint8 3×H×W tensor."""
    return torch.from_numpy(np.ascontiguousarray(bgr[..., ::-1].transpose(2, 0, 1)))


def normalize(rgb01: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] (3×H×W or B×3×H×W) → ImageNet z-score: what N and G take."""
    return (rgb01 - _MEAN.to(rgb01)) / _STD.to(rgb01)


def denormalize(image: torch.Tensor) -> torch.Tensor:
    """Inverse of `normalize`: back to RGB in [0, 1] (for edge maps and pictures)."""
    return image * _STD.to(image) + _MEAN.to(image)


def image_from_bgr(bgr: np.ndarray) -> torch.Tensor:
    """BGR uint8 frame → float32 3×H×W ImageNet-normalised RGB (the sample's `image`)."""
    return normalize(rgb_tensor(bgr).float() / 255.0)


def fit_image(bgr: np.ndarray, size: tuple[int, int], fit: Fit = "resize") -> np.ndarray:
    """A frame fitted to `size` (H, W) exactly as the runtime fits camera frames (same code path)."""
    return fit_frame(bgr, size[0], size[1], fit)


def resize_nearest(depth: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an H×W map to `size` (H, W): sparse depth keeps only measured values."""
    if depth.shape[:2] == tuple(size):
        return depth
    return cv2.resize(depth, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)


def kb_crop_box(height: int, width: int, crop: tuple[int, int] = (352, 1216)) -> tuple[int, int, int, int]:
    """(top, left, h, w) of the KITTI benchmark crop: the bottom `crop[0]` rows, the centre `crop[1]` cols.

    Raw KITTI frames are 370–376 × 1224–1242 depending on the day; the crop gives every drive one size
    and drops the top rows, where the lidar never returns a point.
    """
    ch, cw = min(crop[0], height), min(crop[1], width)
    return height - ch, (width - cw) // 2, ch, cw


def hflip_sample(sample: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Mirror every tensor of a sample left↔right (image, depth and validity stay aligned)."""
    return {k: v.flip(-1) if isinstance(v, torch.Tensor) else v for k, v in sample.items()}


def pca_lighting(rgb01: torch.Tensor, alpha_std: float = 0.1) -> torch.Tensor:
    """AlexNet PCA lighting noise: add eigvec · (α ⊙ eigval) to every pixel, α ~ N(0, alpha_std²).

    Hand-written because torchvision has no PCA lighting transform. α comes from torch's global RNG.
    """
    if alpha_std == 0:
        return rgb01
    alpha = torch.randn(3) * alpha_std
    eigvec = torch.tensor(PCA_EIGVEC)
    rgb = eigvec @ (alpha * torch.tensor(PCA_EIGVAL))
    return rgb01 + rgb.to(rgb01).view(3, 1, 1)


def nyu_short_side(input_size: tuple[int, int]) -> int:
    """Short side a NYU frame is resized to before the centre crop: 240 for the authors' 228×304, scaled
    in proportion for another input size (so the crop keeps the authors' ~5 % margin on 4:3 frames)."""
    h, w = input_size
    return math.ceil(NYU_SHORT_SIDE * max(h / NYU_INPUT_SIZE[0], w / NYU_INPUT_SIZE[1]))


class NyuTransform:
    """The authors' NYU-v2 pipeline for one (image, depth) pair.

    train: resize short side → random h-flip → random rotation ±5° (image bilinear, depth nearest, both
    filled with 0, which marks depth invalid) → centre crop to `input_size` → depth resized nearest to
    `depth_size` → RGB/255 → PCA lighting (α std 0.1) → colour jitter (brightness, contrast, saturation
    0.4, random order; torchvision's clips to [0, 1] after each step, the authors' did not) → ImageNet
    normalisation.
    test: resize short side → centre crop → depth resized nearest to `depth_size` → RGB/255 → normalisation.
    """

    def __init__(
        self,
        *,
        train: bool,
        input_size: tuple[int, int] = NYU_INPUT_SIZE,
        depth_size: tuple[int, int] | None = None,
        short_side: int | None = None,
        rotation: float = 5.0,
        lighting: float = 0.1,
        jitter: float = 0.4,
    ) -> None:
        self.train = train
        self.input_size = tuple(input_size)
        self.depth_size = tuple(depth_size) if depth_size is not None else self.input_size
        self.short_side = short_side if short_side is not None else nyu_short_side(self.input_size)
        self.resize = v2.Resize(self.short_side, antialias=True)
        self.crop = v2.CenterCrop(self.input_size)
        self.flip = v2.RandomHorizontalFlip(0.5)
        self.rotate = v2.RandomRotation(
            rotation,
            interpolation=v2.InterpolationMode.BILINEAR,
            fill={tv_tensors.Image: 0, tv_tensors.Mask: 0},
        )
        self.lighting = lighting
        self.jitter = v2.ColorJitter(brightness=jitter, contrast=jitter, saturation=jitter)

    def __call__(self, bgr: np.ndarray, depth: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(BGR uint8 H×W×3, depth H×W metres) → (image 3×h×w normalised, depth 1×dh×dw metres)."""
        image = tv_tensors.Image(rgb_tensor(bgr))
        target = tv_tensors.Mask(torch.from_numpy(np.ascontiguousarray(depth, dtype=np.float32))[None])
        image, target = self.resize(image, target)
        if self.train:
            image, target = self.flip(image, target)
            image, target = self.rotate(image, target)
        if image.shape[-2] < self.input_size[0] or image.shape[-1] < self.input_size[1]:
            raise ConfigError(
                f"a {bgr.shape[0]}×{bgr.shape[1]} frame resized to short side {self.short_side} is "
                f"{image.shape[-2]}×{image.shape[-1]}, smaller than the crop {self.input_size[0]}×"
                f"{self.input_size[1]}; pass a larger short_side"
            )
        image, target = self.crop(image, target)
        if target.shape[-2:] != self.depth_size:
            target = TF.resize(target, list(self.depth_size))  # a Mask: always nearest
        rgb = image.as_subclass(torch.Tensor).float() / 255.0
        if self.train:
            rgb = self.jitter(pca_lighting(rgb, self.lighting))
        return normalize(rgb), target.as_subclass(torch.Tensor).contiguous()
