"""Export: fuse G → mask → N into one graph from uint8 frames, and write ONNX files and TensorRT engines.

One job per module, steps named `<output>_from_<input>` and usable alone:
- `spec`: the fused graph described as data (names, modes, dynamic axes, stats columns); torch-free.
- `graph`: `AuditGraph`, the fused module that export, the torch backend and parity all run.
- `config`: `ExportConfig`, every setting of `depthmask export`, frozen and validated.
- `networks`: N and G with weights, and the provenance recorded about them.
- `onnx`: `graph_from_config`, `onnx_from_graph`, `onnx_from_checkpoint`.
- `precision`: `fp16_from_onnx`, `int8_from_onnx` (ONNX Runtime static quantization).
- `tensorrt`: `engine_from_onnx`, the engine compatibility check, ORT's TensorRT provider options.
- `metadata`: contracts §2 — built, written, read back and validated.
- `parity`: `validate(...)` → `ParityResult`, with per-precision tolerances and a rich table.
- `pipeline`: `artefacts_from_config`, the core of `depthmask export`.
- `check`: `check_model`, the core of `depthmask check`.

Importing this package imports nothing heavy; torch is needed by `graph`, `networks`, `onnx` and the
cores, onnx/onnxruntime by the steps that write or run files, TensorRT only by `tensorrt`.
"""
