"""Datasets for training and evaluating N and G, built on the runtime's torch-free frame readers.

`dataset_from_spec("kitti:/data/kitti", split="train", input_size=(256, 832))` — see `spec.py` for the
strings. Every dataset yields dicts in one schema:

| key | type | meaning |
|---|---|---|
| `image` | float32 3×H×W | RGB/255 then ImageNet z-score; H×W = `input_size` (see below) |
| `depth` | float32 1×h×w | ground truth in metres (0 where unmeasured); absent for frames-only data |
| `valid` | bool 1×h×w | pixels with ground truth (and, for KITTI test, inside the evaluation crop and caps) |
| `index` | int | position in the dataset |
| `path` | str | where the image came from (`file.mat#12`, `clip.mp4#40`, `synthetic:seed=0#5`) |
| `depth_path`, `timestamp` | str, float | when known |

Images: frames are read BGR (OpenCV) and converted to RGB, divided by 255, then z-scored with ImageNet's
mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225) — what N and G take, and what the mask multiplies.
h×w may differ from H×W: training code resizes N's prediction bilinearly to the depth's size. Defaults:
NYU train at half the input (the authors' 114×152), NYU test at the input size, KITTI train at the input
size (sparse, resized nearest), KITTI test at the ground truth's native size, synthetic at the input
size; `depth_size=` overrides. Random augmentation draws from torch's global RNG (so the training
loader's per-sample seeding makes it reproducible).

KITTI is trained on the sparse lidar ground truth with the validity mask; the paper instead trained on
depth densified with the NYU toolbox's colourisation.
"""

from depthmask.train.data.frames import Frames
from depthmask.train.data.kitti import KittiDepth, parse_split_file
from depthmask.train.data.nyu import NyuCsv
from depthmask.train.data.nyu_mat import NyuMat
from depthmask.train.data.spec import dataset_from_spec, parse_size
from depthmask.train.data.synthetic import SyntheticDepth
from depthmask.train.data.transforms import IMAGENET_MEAN, IMAGENET_STD, NyuTransform, normalize, pca_lighting

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "Frames",
    "KittiDepth",
    "NyuCsv",
    "NyuMat",
    "NyuTransform",
    "SyntheticDepth",
    "dataset_from_spec",
    "normalize",
    "parse_size",
    "parse_split_file",
    "pca_lighting",
]
