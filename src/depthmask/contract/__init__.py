"""The contract every part meets at, torch-free and at the bottom of the package.

- `constants`: the paper's numbers, defined once (ε, the far fraction, ImageNet statistics, …).
- `spec`: the fused graph described as data (modes, input, outputs, stats columns, dynamic axes).
- `metadata`: model metadata built, encoded for ONNX, read back and validated (contracts §2).
- `sidecar`: an engine's JSON sidecar, written and read.
- `compat`: whether an engine built elsewhere may run here (TensorRT version, GPU).
- `model_info`: `ModelInfo`, the validated view of the metadata that the runtime works from.
- `exits`: the exit statuses of every command (contracts §6).

Nothing here imports torch, and nothing here imports any other depthmask package but `errors`.
"""
