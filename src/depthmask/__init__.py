"""depthmask: see what a monocular depth network looks at.

Implements Hu, Zhang & Okatani, "Visualization of CNNs for Monocular Depth Estimation" (ICCV 2019):
a frozen depth net N and a mask net G trained so that N(I ⊗ G(I)) stays close to N(I) while G(I) stays
sparse. The base package is the runtime and never imports torch; training lives in `depthmask.train`.
"""

__version__ = "0.1.0"

from depthmask.errors import DepthmaskError

__all__ = ["DepthmaskError", "__version__"]
