"""Export: fuse G → mask → N into one graph from uint8 frames, and write ONNX files and TensorRT engines.

One job per module, steps named `<output>_from_<input>` and usable alone (the fused graph itself,
`AuditGraph`, lives in `depthmask.nets.graph`; the metadata contract in `depthmask.contract.metadata`):
- `config`: `ExportConfig`, every setting of `depthmask export`, frozen and validated.
- `frames`: calibration and check frames from a replayable source, spread over it and held apart.
- `onnx`: `graph_from_config`, `onnx_from_graph`, `onnx_from_checkpoint`, the export's FLOP count.
- `precision`: `fp16_from_onnx`, `Int8Recipe` / `int8_from_onnx` (ONNX Runtime static quantization).
- `cost`: FLOPs per node of an ONNX graph, from static shapes or a profiler's.
- `fallback`: `with_fallback`, `--fallback auto` — the fewest layers kept in fp32 to pass the gate.
- `tensorrt`: `engine_from_onnx`, the engine compatibility check, ORT's TensorRT provider options.
- `parity`: `validate(...)` → `ParityResult`, with per-precision tolerances and a rich table.
- `pipeline`: `artefacts_from_config`, the core of `depthmask export`.
- `check`: `check_model`, the core of `depthmask check`.

Importing this package imports nothing heavy; torch is needed by `onnx` and the cores, onnx/onnxruntime
by the steps that write or run files, TensorRT only by `tensorrt`.
"""
