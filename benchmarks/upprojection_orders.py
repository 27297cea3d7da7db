"""Each up-projection of hu2019_resnet50 and mask_drn_d_22 at its real sizes, in all four orders of resize
and convolution (`depthmask.nets.models.upprojection.ORDERS`), exported alone and timed at fp32 in ONNX
Runtime (or OpenVINO, `--backend openvino`) back to back: which order is fastest per block, which
`UpProjection.order_for` chooses, and the multiply-adds each order counts (convolutions, interpolation
products). It is the measurement behind `INTERPOLATION_WEIGHT`: the fitted ms per G multiply-add of
convolutions and of interpolation products. Writes `results/upprojection_orders_<backend>_<cpu>.{json,md}`.

    python benchmarks/upprojection_orders.py [--size 228x304] [--repeats 5] [--threads 2] [--backend openvino]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

from depthmask.environment import capped_suffix, caps_ignored_by, cpu_label, cpu_slug, fingerprint
from depthmask.nets.models.registry import create_model
from depthmask.nets.models.upprojection import INTERPOLATION_WEIGHT, ORDERS, UpProjection, order_macs
from depthmask.settings import parse_size

RESULTS = Path(__file__).parent / "results"
NETWORKS = (("mask_drn_d_22", 1), ("hu2019_resnet50", 2))  # N runs on [I; I ⊗ M]: batch 2 per frame


class _Alone(torch.nn.Module):
    """One block at a fixed target size, as the fused graph calls it."""

    def __init__(self, block: UpProjection, size: tuple[int, int]) -> None:
        super().__init__()
        self.block, self.size = block, size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x, self.size)


def _calls(model: torch.nn.Module, height: int, width: int) -> list[tuple[str, UpProjection, tuple, tuple]]:
    """(name, block, input shape, target size) of every up-projection call of one forward pass."""
    seen: list[tuple[str, UpProjection, tuple, tuple]] = []
    hooks = [
        m.register_forward_pre_hook(
            lambda m, args, n=n: seen.append((n, m, tuple(args[0].shape), tuple(int(v) for v in args[1])))
        )
        for n, m in model.named_modules()
        if isinstance(m, UpProjection)
    ]
    with torch.no_grad():
        model(torch.zeros(1, 3, height, width))
    for h in hooks:
        h.remove()
    return seen


def _runner(backend: str, path: Path, threads: int) -> Callable[[np.ndarray], Any]:
    """One call of the exported block on `backend` at fp32."""
    if backend == "openvino":
        import openvino as ov

        config = {
            "INFERENCE_PRECISION_HINT": "f32",
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": threads,
        }
        compiled = ov.Core().compile_model(str(path), "CPU", config)
        return lambda x: compiled(x)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"x": x})


def _time(call: Callable[[np.ndarray], Any], x: np.ndarray, repeats: int) -> float:
    """Median ms of `repeats` calls after one warm-up."""
    call(x)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call(x)
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def main() -> None:
    """Time every block in every order and write the results."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="228x304")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--backend", choices=("onnxruntime", "openvino"), default="onnxruntime")
    args = p.parse_args()
    height, width = parse_size(args.size)
    blocks: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for network, batch in NETWORKS:
            model = create_model(network).eval()
            for name, block, shape, size in _calls(model, height, width):
                x = torch.randn(batch, *shape[1:])
                row: dict[str, Any] = {
                    "network": network, "block": name, "batch": batch, "in": list(shape[1:]),
                    "out": list(size), "chosen": block.order_for(shape[-2:], size), "ms": {}, "macs": {},
                }  # fmt: skip
                for order in ORDERS:
                    block.order = order
                    path = Path(tmp) / f"{network}-{name}-{order}.onnx"
                    torch.onnx.export(_Alone(block, size), (x,), str(path), input_names=["x"], dynamo=False)
                    call = _runner(args.backend, path, args.threads)
                    row["ms"][order] = round(_time(call, x.numpy(), args.repeats), 2)
                    macs = order_macs(order, shape[1], 2 * block.conv1.out_channels, shape[-2:], size)
                    row["macs"][order] = [batch * m for m in macs]
                block.order = None
                row["fastest"] = min(row["ms"], key=row["ms"].get)
                blocks.append(row)
                print(f"{network} {name}: {row['ms']} chosen {row['chosen']}", flush=True)
    env = fingerprint()
    # ms ≈ a·(convolution GMAC) + b·(interpolation GMAC) + one constant per block (conv1_2, BatchNorm).
    design = [
        [m[0] / 1e9, m[1] / 1e9] + [float(i == k) for i in range(len(blocks))]
        for k, row in enumerate(blocks)
        for m in (row["macs"][o] for o in ORDERS)
    ]
    measured = [row["ms"][o] for row in blocks for o in ORDERS]
    fit = np.linalg.lstsq(np.asarray(design), np.asarray(measured), rcond=None)[0]
    total = {
        "authors": sum(r["ms"]["resize_first"] for r in blocks),
        "chosen": sum(r["ms"][r["chosen"]] for r in blocks),
        "fastest": sum(r["ms"][r["fastest"]] for r in blocks),
    }
    command = (
        f"python benchmarks/upprojection_orders.py --size {args.size} --repeats {args.repeats} "
        f"--threads {args.threads} --backend {args.backend}"
    )
    doc = {
        "command": command, "backend": args.backend, "size": [height, width], "threads": args.threads,
        "blocks": blocks,
        "ms_total": {k: round(v, 1) for k, v in total.items()},
        "fit_ms_per_gmac": {"convolution": round(float(fit[0]), 2), "interpolation": round(float(fit[1]), 2)},
        "interpolation_weight": INTERPOLATION_WEIGHT, "environment": env,
    }  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    name = cpu_slug(env)
    capped = caps_ignored_by("onnxruntime", env["isa_caps"])  # the convolution caps set, if any
    stem = f"upprojection_orders_{args.backend}_{name}{capped_suffix(env['isa_caps'])}"
    (RESULTS / f"{stem}.json").write_text(json.dumps(doc, indent=2))
    lines = [
        f"`{command}` on {cpu_label(env)} ({env.get('cores')} cores), {args.backend} fp32, ms per call "
        "(N's blocks at batch 2: one frame's [I; I ⊗ M])"
        + "".join(f"; ISA capped: {k}={v}" for k, v in capped.items())
        + ".",
        "",
        "| block | in → out | " + " | ".join(ORDERS) + " | chosen | fastest |",
        "|---|---|" + "---|" * len(ORDERS) + "---|---|",
    ]
    for r in blocks:
        sizes = f"{r['in'][0]}×{r['in'][1]}×{r['in'][2]} → {r['out'][0]}×{r['out'][1]}"
        cells = " | ".join(f"{r['ms'][o]:.1f}" for o in ORDERS)
        lines.append(f"| {r['network']} {r['block']} | {sizes} | {cells} | {r['chosen']} | {r['fastest']} |")
    conv, interp = doc["fit_ms_per_gmac"].values()
    lines += [
        "",
        f"All blocks: {total['authors']:.0f} ms in the authors' order, {total['chosen']:.0f} ms as chosen, "
        f"{total['fastest']:.0f} ms if each ran in its fastest order.",
        f"Fitted: {conv:.2f} ms per G multiply-add in convolutions, {interp:.2f} in interpolation products "
        f"({interp / conv:.2f}×; the choice weights them {INTERPOLATION_WEIGHT}×).",
    ]
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
