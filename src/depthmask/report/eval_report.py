"""Build the `report.html` of a `depthmask eval` folder from its eval.json: the conditions, Table 1, the
faithfulness curves (`--curve`) and the robustness table and heat-map (`--corrupt`)."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from depthmask.report.eval_figures import robustness_heatmap
from depthmask.report.html import _json_section, _num, _warnings_box, curves_section, page, read_written

CONDITION_COLUMNS = ("abs_rel", "rmse", "delta1", "mask_mean", "mask_keep", "fid_rmse", "far_attention")
TABLE1_COLUMNS = ("rmse_m", "rmse_m_prime", "sparseness", "rmse_edges", "fid_rmse_m", "fid_rmse_m_prime")
ROBUSTNESS_COLUMNS = (
    "depth_abs_rel_vs_clean", "depth_delta1_vs_clean", "abs_rel_gt", "mask_iou", "far_attention_change",
    "mask_mean_change",
)  # fmt: skip
LABELS = {  # column headers a table can hold
    "mask_net": "G",
    "lam": "λ",
    "rmse_m": "RMSE (M)",
    "rmse_m_prime": "RMSE (M′)",
    "rmse_edges": "RMSE (edges)",
    "fid_rmse_m": "fid RMSE (M)",
    "fid_rmse_m_prime": "fid RMSE (M′)",
    "severity": "sev",
    "depth_abs_rel_vs_clean": "depth abs_rel vs clean",
    "depth_delta1_vs_clean": "δ1 vs clean",
    "abs_rel_gt": "abs_rel vs GT",
    "mask_iou": "mask IoU",
    "far_attention_change": "Δ far_attention",
    "mask_mean_change": "Δ mask_mean",
}


def build_eval_report(eval_dir: str | Path, output: str | Path | None = None) -> Path:
    """Write the report of a folder written by `depthmask eval`; returns its path."""
    eval_dir = Path(eval_dir)
    doc = read_written(eval_dir, "eval.json", "`depthmask eval`")
    out = Path(output) if output else eval_dir / "report.html"
    eff = doc.get("effective", {})
    parts = [
        f"<p class='sub'>{escape(str(doc.get('config', {}).get('data')))} · {eff.get('samples')} samples at "
        f"{'×'.join(str(v) for v in eff.get('input_size', []))} · "
        f"N = {escape(str(eff.get('depth_network')))}</p>",
        _warnings_box({"warnings": [{"kind": "note", "message": w} for w in doc.get("warnings", [])]}),
        _section("Conditions (means over images)", ("condition", "mask_net"), CONDITION_COLUMNS,
                 [c | c.get("metrics", {}) | c.get("stats", {}) for c in doc.get("conditions", [])]),
        _section("Table 1 (M′ = M > ε)", ("label", "lam"), TABLE1_COLUMNS, doc.get("table1", [])),
        curves_section(doc.get("curves") or []),
        _robustness(doc.get("robustness") or []),
        _json_section("Evaluation settings", doc.get("config", {})),
        _json_section("Environment", doc.get("environment", {})),
    ]  # fmt: skip
    out.write_text(page("depthmask evaluation report", parts))
    return out


def _section(title: str, keys: tuple[str, ...], columns: tuple[str, ...], rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    head = "".join(f"<th>{escape(LABELS.get(c, c))}</th>" for c in (*keys, *columns))
    body = []
    for r in rows:
        cells = "".join(f"<td>{escape(str(r.get(k) if r.get(k) is not None else ''))}</td>" for k in keys)
        cells += "".join(f"<td class='num'>{_num(r.get(c), 3)}</td>" for c in columns)
        body.append(f"<tr>{cells}</tr>")
    return f"<section><h2>{escape(title)}</h2><table><tr>{head}</tr>{''.join(body)}</table></section>"


def _robustness(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    maps = "".join(
        f"<div>{robustness_heatmap(rows, g)}</div>" for g in dict.fromkeys(r["mask_net"] for r in rows)
    )
    table = _section("", ("mask_net", "corruption", "severity"), ROBUSTNESS_COLUMNS, rows)
    return (
        "<section><h2>Robustness × attention</h2><p class='note'>Per corruption and severity: how far N's "
        "depth moved (against the clean N(I), and against ground truth) and what moved in G's mask (IoU of "
        "M′ with the clean image's; changes are corrupt − clean).</p>"
        f"<div class='charts'>{maps}</div>{table}</section>"
    )
