"""`depthmask eval`: N's depth metrics and the paper's Table 1 / Figure 5 protocol for one or several G.

Options build one frozen `EvalConfig`; `depthmask.train.evaluate.evaluate` does the work. Nothing here
imports torch until the command runs.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from depthmask.cli.app import ADVANCED, INPUT, MODEL, OUTPUT, PERFORMANCE, app
from depthmask.cli.errors import user_errors
from depthmask.settings import parse_percentages, parse_size

if TYPE_CHECKING:
    from depthmask.train.evaluate import EvalConfig, EvalResult

console = Console()


class DeviceChoice(str, enum.Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


_EXAMPLES = (
    "Examples:\n\n"
    "  depthmask eval -d nyu-csv:data/nyu2_test.csv --depth-checkpoint model_resnet\n\n"
    "  depthmask eval -d nyu-csv:data/nyu2_test.csv --depth-checkpoint model_resnet "
    "-m runs/lam1/last.safetensors -m runs/lam5/last.safetensors\n\n"
    "  depthmask eval -d 'kitti:/data/kitti?split=eigen_test_files.txt&crop=garg&max_depth=80' "
    "--depth-checkpoint runs/n/last.safetensors\n\n"
    "  depthmask eval -d 'nyu-mat:nyu_depth_v2_labeled.mat?splits=splits.mat' --depth-checkpoint "
    "model_densenet -m mask_densenet --mask-network mask_drn_d_22\n\n"
    "  depthmask eval -d 'synthetic:frames=20' --depth-network hu2019_tiny -m g.safetensors "
    "--size 64x96 --device cpu\n\n"
    "  depthmask eval -d 'synthetic:frames=32' --depth-checkpoint n.safetensors -m g.safetensors --curve"
)


@app.command("eval", epilog=_EXAMPLES)
@user_errors
def eval_command(
    data: Annotated[
        str,
        typer.Option(
            "--data",
            "-d",
            help="Test data: nyu-csv:…, nyu-mat:…?splits=…, kitti:…, synthetic:…, or frames.",
            rich_help_panel=INPUT,
        ),
    ],
    input_size: Annotated[
        str | None,
        typer.Option(
            "--size",
            metavar="HxW",
            help="Size in pixels fed to the networks [default: G's training size, else N's].",
            rich_help_panel=INPUT,
        ),
    ] = None,
    depth_size: Annotated[
        str | None,
        typer.Option(
            metavar="HxW",
            help="Size of the ground truth in pixels [default: the dataset's test size].",
            rich_help_panel=INPUT,
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(help="Evaluate only the first N samples [default: all].", rich_help_panel=INPUT),
    ] = None,
    depth_checkpoint: Annotated[
        Path | None,
        typer.Option(
            help="N's weights: ours, the authors' (model_resnet, …) or a state dict [default: G's N].",
            rich_help_panel=MODEL,
        ),
    ] = None,
    depth_network: Annotated[
        str | None,
        typer.Option(
            help="N: registry name or module:factory [default: named by its checkpoint].",
            rich_help_panel=MODEL,
        ),
    ] = None,
    mask: Annotated[
        list[Path] | None,
        typer.Option(
            "--mask", "-m", help="A G checkpoint; repeat for several (e.g. one per λ).", rich_help_panel=MODEL
        ),
    ] = None,
    mask_network: Annotated[
        str | None,
        typer.Option(
            help="G's name for mask files that do not name it (plain state dicts).", rich_help_panel=MODEL
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", "-b", help="Images per forward pass.", rich_help_panel=PERFORMANCE)
    ] = 8,
    workers: Annotated[
        int, typer.Option(help="DataLoader worker processes.", rich_help_panel=PERFORMANCE)
    ] = 0,
    device: Annotated[
        DeviceChoice, typer.Option(help="auto: CUDA when available.", rich_help_panel=PERFORMANCE)
    ] = DeviceChoice.auto,
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Folder for eval.csv, table1.csv, eval.json.", rich_help_panel=OUTPUT
        ),
    ] = Path("runs/eval"),
    epsilon: Annotated[float, typer.Option(help="M′ = M > epsilon.", rich_help_panel=ADVANCED)] = 0.025,
    far_fraction: Annotated[
        float, typer.Option(help="Share of farthest pixels for far_attention.", rich_help_panel=ADVANCED)
    ] = 0.2,
    curve: Annotated[
        bool,
        typer.Option(
            "--curve",
            help="Faithfulness curves: N(I ⊗ top-k % of M) against N(I) beside random and edge-map "
            "baselines at the same k; curve.csv, curve.svg, AUCs [default: off].",
            rich_help_panel=OUTPUT,
        ),
    ] = False,
    corrupt: Annotated[
        str | None,
        typer.Option(
            help="Robustness × attention under these corruptions (fog,rain,snow,noise,blur,brightness,jpeg): "
            "depth moved and mask moved; corrupt.csv, corrupt.svg [default: none].",
            rich_help_panel=OUTPUT,
        ),
    ] = None,
    severity: Annotated[
        str,
        typer.Option(help="Corruption severities: 1..5, or a list such as 1,3,5.", rich_help_panel=ADVANCED),
    ] = "1..5",
    curve_keep: Annotated[
        str,
        typer.Option(help="The curves' kept shares in percent, comma-separated.", rich_help_panel=ADVANCED),
    ] = "5,10,20,40,60,80,100",
    edges: Annotated[
        bool,
        typer.Option(
            "--edges/--no-edges",
            help="The Figure 5 edge-map baseline at G's M′ sparseness.",
            rich_help_panel=ADVANCED,
        ),
    ] = True,
) -> None:
    """Evaluate N's depth, and for each G the paper's Table 1: RMSE of N(I⊗M), of N(I⊗M′) with M′ = M > ε,
    M′'s sparseness, the edge-map baseline (Figure 5) and the mask statistics.

    The mask multiplies the ImageNet-normalised image. RMSE is the authors' sqrt(mean of per-image MSE);
    KITTI uses the crop and caps named in its spec (Garg crop and 80 m by default).
    """
    from depthmask.train.evaluate import EvalConfig, evaluate

    cfg = EvalConfig(
        data=data,
        depth_network=depth_network,
        depth_checkpoint=depth_checkpoint,
        masks=tuple(mask or ()),
        mask_network=mask_network,
        input_size=parse_size(input_size),
        depth_size=parse_size(depth_size, "--depth-size"),
        epsilon=epsilon,
        far_fraction=far_fraction,
        edges=edges,
        batch_size=batch_size,
        limit=limit,
        workers=workers,
        device=device.value,
        out=out,
        curve=curve,
        curve_keeps=parse_percentages(curve_keep, "--curve-keep"),
        corruptions=tuple(c.strip() for c in (corrupt or "").split(",") if c.strip()),
        severities=parse_levels(severity),
    )
    result = evaluate(cfg)
    show(result, cfg)
    if result.curves:
        show_curves(result)
    if result.robustness:
        show_robustness(result)
    from depthmask.report.eval_report import build_eval_report

    try:
        console.print(f"report: {build_eval_report(cfg.out)}", highlight=False, soft_wrap=True)
    except OSError as exc:  # the results are written; only their page is missing
        console.print(f"[yellow]warning:[/] report.html could not be written ({exc})", highlight=False)


def parse_levels(text: str) -> tuple[int, ...]:
    """'1..5' → (1, 2, 3, 4, 5); '1,3,5' → (1, 3, 5)."""
    from depthmask.errors import ConfigError

    try:
        if ".." in text:
            lo, hi = (int(v) for v in text.split(".."))
            return tuple(range(lo, hi + 1))
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"--severity takes 1..5 or a list such as 1,3,5; got {text!r}") from None


def show_robustness(result: EvalResult) -> None:
    """One table (per G, corruption and severity: depth moved, mask moved) and corrupt.svg."""
    import dataclasses

    from depthmask.report.eval_figures import robustness_heatmap

    table = Table(title="robustness × attention (means over images; changes are corrupt − clean)")
    for col in ("G", "corruption", "sev", "depth abs_rel vs clean", "δ1 vs clean", "abs_rel vs GT",
                "mask IoU", "Δ far_attention", "Δ mask_mean"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("G", "corruption") else "right")
    for r in result.robustness:
        table.add_row(
            r.mask_net, r.corruption, str(r.severity), _f(r.depth_abs_rel_vs_clean),
            _f(r.depth_delta1_vs_clean), _f(r.abs_rel_gt), _f(r.mask_iou), _f(r.far_attention_change, 4),
            _f(r.mask_mean_change, 4),
        )  # fmt: skip
    console.print(table)
    rows = [dataclasses.asdict(r) for r in result.robustness]
    figures = []
    for label in dict.fromkeys(r.mask_net for r in result.robustness):
        figures.append(robustness_heatmap(rows, label))
    svg = result.files["corrupt"].with_suffix(".svg")
    svg.write_text("\n".join(figures))
    console.print(f"wrote {result.files['corrupt']}, {svg}", highlight=False, soft_wrap=True)


def show_curves(result: EvalResult) -> None:
    """The AUC of each curve, and curve.svg beside curve.csv."""
    import dataclasses

    from depthmask.report.eval_figures import faithfulness_svg

    table = Table(title="faithfulness: δ1 agreement of N(I ⊗ top-k % kept) with N(I); AUC over k")
    keeps = [p.keep for p in result.curves[0].points]
    for col in ("G", "method", *(f"{100 * k:g} %" for k in keeps), "AUC"):
        table.add_column(col, justify="left" if col in ("G", "method") else "right")
    for c in result.curves:
        table.add_row(c.mask_net, c.method, *(_f(p.fid_delta1) for p in c.points), _f(c.auc))
    console.print(table)
    svg = result.files["curve"].with_suffix(".svg")
    svg.write_text(faithfulness_svg([dataclasses.asdict(c) for c in result.curves]))
    console.print(f"wrote {result.files['curve']}, {svg}", highlight=False, soft_wrap=True)


def _f(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def show(result: EvalResult, cfg: EvalConfig) -> None:
    """Print the per-condition metrics, Table 1 and where the files went."""
    from depthmask.train.metrics import DATASET_METRICS

    eff = result.effective
    console.print(
        f"{eff['samples']} samples of {cfg.data} ({eff['dataset']}) at {eff['input_size'][0]}×"
        f"{eff['input_size'][1]} ({eff['input_size_from']}); N = {eff['depth_network']}",
        highlight=False,
        soft_wrap=True,
    )
    for note in result.warnings:
        console.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
    table = Table(title="depth metrics and mask statistics (means over images)")
    metric_cols = [m for m in DATASET_METRICS if eff["ground_truth"]]
    for col in ["condition", "G", *metric_cols, "mask_mean", "mask_keep", "fid_rmse", "far_attention"]:
        table.add_column(col, justify="left" if col in ("condition", "G") else "right")
    for c in result.conditions:
        cells = [c.metrics.get(m) for m in metric_cols]
        stats = [c.stats.get(s) for s in ("mask_mean", "mask_keep", "fid_rmse", "far_attention")]
        table.add_row(c.condition, c.mask_net or "", *(_f(v) for v in cells + stats))
    console.print(table)
    against = "vs ground truth" if eff["ground_truth"] else "n/a: no ground truth"
    t1 = Table(title=f"Table 1 (M′ = M > {cfg.epsilon:g}; RMSE {against})")
    for col in (
        "G",
        "λ",
        "RMSE (M)",
        "RMSE (M′)",
        "sparseness",
        "RMSE (edges)",
        "fid RMSE (M)",
        "fid RMSE (M′)",
    ):
        t1.add_column(col, justify="left" if col == "G" else "right")
    for r in result.table1:
        t1.add_row(
            r.label,
            "" if r.lam is None else f"{r.lam:g}",
            _f(r.rmse_m),
            _f(r.rmse_m_prime),
            _f(r.sparseness),
            _f(r.rmse_edges),
            _f(r.fid_rmse_m),
            _f(r.fid_rmse_m_prime),
        )
    console.print(t1)
    console.print(
        f"wrote {result.files['csv']}, {result.files['table1']}, {result.files['json']}",
        highlight=False,
        soft_wrap=True,
    )
