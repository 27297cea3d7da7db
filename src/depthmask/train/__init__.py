"""Training side of depthmask (needs the `train` extra: torch, torchvision, timm).

Networks N and G, the paper's losses, checkpoints, data, Algorithm 1 and evaluation.
"""

from depthmask.errors import require

require("torch", "train", "depthmask.train")
