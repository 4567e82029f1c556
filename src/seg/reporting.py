"""Writing a bench result: the JSON, CSV, Markdown and PNG files, and the one column spec that
both the terminal table and the Markdown table are drawn from (torch-free; the PNG needs matplotlib)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from seg._io import atomic_path, write_json
from seg.machine import figure_class
from seg.tables import Column, fmt, markdown


def write_outputs(result: dict[str, Any], json_path: Path | None = None, csv_path: Path | None = None,
                  md_path: Path | None = None, plot_path: Path | None = None) -> None:
    """The JSON (header + rows), CSV (rows), Markdown table and FPS-vs-mIoU plot."""
    rows = result["rows"]
    if json_path:
        write_json(json_path, result)
    if csv_path and rows:
        with atomic_path(csv_path) as tmp, open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    if md_path:
        with atomic_path(md_path) as tmp:
            tmp.write_text(markdown_table(result) + "\n")
    if plot_path and rows:
        import matplotlib  # only here: an edge install has no matplotlib, and needs none without --plot

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        # Colour = model, marker = engine and precision: 20+ points stay readable without labels.
        fig, ax = plt.subplots(figsize=(9, 5))
        models = list(dict.fromkeys(r["model"] for r in rows))
        kinds = list(dict.fromkeys(f"{r['engine']} {row_label(r)}" for r in rows))
        markers = "os^vDP*Xph<>"
        for r in rows:
            kind = f"{r['engine']} {row_label(r)}"
            ax.scatter(r["fps"], r["miou"] if r["miou"] is not None else 0.0, s=40, color=f"C{models.index(r['model']) % 10}",
                       marker=markers[kinds.index(kind) % len(markers)], alpha=0.85)
        handles = [plt.Line2D([], [], color=f"C{i % 10}", marker="o", ls="", label=m) for i, m in enumerate(models)]
        handles += [plt.Line2D([], [], color="grey", marker=markers[i % len(markers)], ls="", label=k) for i, k in enumerate(kinds)]
        ax.legend(handles=handles, fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
        ax.grid(alpha=0.3)
        ax.set(xlabel=f"FPS (batch {result['header']['batch']}, {result['header']['size'][0]}x{result['header']['size'][1]})",
               ylabel="val mIoU", xscale="log", title="seg bench: speed vs accuracy")
        fig.tight_layout()
        with atomic_path(plot_path) as tmp:
            fig.savefig(tmp, dpi=110)
        plt.close(fig)


def row_label(r: dict[str, Any]) -> str:
    """``int8 e2e``, ``bf16+channels_last``, ``auto: int8 e2e``: what ran, in a few characters."""
    v = r.get("variant", r["precision"])
    if "auto" in v:
        return f"auto: {r['precision']}" + (" e2e" if r.get("e2e") else "")
    return v.replace("e2e.", "").replace("e2e", "fp32") + (" e2e" if r.get("e2e") else "")


# One spec for the terminal table and the Markdown one. ``drop``: which go first when a terminal
# is too narrow (highest first); Markdown and piped output always hold every column.
COLUMNS = [
    Column("model", lambda r: r["model"]),
    Column("engine", lambda r: r["engine"]),
    Column("precision", lambda r: row_label(r)),
    Column("provider", lambda r: r["provider"], drop=5),
    Column("weights", lambda r: r["weights"], drop=6),
    Column("params", lambda r: fmt(r["params"] and r["params"] / 1e6, ".1f", "M"), right=True, drop=10),
    Column("GFLOPs", lambda r: fmt(r["gflops"], ".1f"), right=True, drop=9),
    Column("file MB", lambda r: fmt(r["file_mb"], ".1f"), right=True, drop=8),
    Column("p50 ms", lambda r: f"{r['latency_ms_p50']:.1f}", right=True),
    Column("p90 ms", lambda r: _tail(r, "p90", 10), right=True, drop=7),
    Column("p99 ms", lambda r: _tail(r, "p99", 100), right=True, drop=4),
    Column("FPS", lambda r: f"{r['fps']:.1f}", right=True),
    Column("GOP/s", lambda r: fmt(r.get("gops"), ".0f"), right=True, drop=8),
    Column("% peak", lambda r: fmt(r.get("pct_peak"), ".0f", "%"), right=True),
    Column("vs torch fp32", lambda r: fmt(r.get("speedup_vs_torch"), ".2f", "x"), right=True, drop=2),
    Column("vs best torch", lambda r: fmt(r.get("speedup_vs_torch_best"), ".2f", "x"), right=True),
    Column("mIoU", lambda r: fmt(r["miou"], ".3f"), right=True),
    Column("pixel acc", lambda r: fmt(r["pixel_acc"], ".3f"), right=True, drop=3),
    Column("file", lambda r: r.get("file") or "-", drop=11),
]

# A percentile needs enough runs to mean anything: from 3 runs, "p99" is just the slowest one.
FEW_RUNS_NOTE = "*: fewer runs than the percentile needs (10 for p90, 100 for p99): the slowest runs, not a tail"


def _tail(r: dict[str, Any], q: str, needs: int) -> str:
    return f"{r[f'latency_ms_{q}']:.1f}" + ("*" if r.get("runs", needs) < needs else "")


def few_runs(rows: list[dict[str, Any]]) -> bool:
    """Whether any row's p90 or p99 is marked as drawn from too few runs."""
    return any(r.get("runs", 100) < 100 for r in rows)


def _peaks(peaks: dict[str, Any] | None) -> str:
    if not peaks:
        return ""
    have = ", ".join(f"{k} {peaks[k]:.0f}" for k in ("fp32", "int8", "bf16") if peaks.get(k))
    return f"; this CPU's peak (GOP/s, GEMM): {have}; % peak = GOP/s over the peak of the row's arithmetic"


def markdown_table(result: dict[str, Any]) -> str:
    h = result["header"]
    lines = [
        f"class {figure_class(h)}: {h['cpu']}, {h['cores']} cores ({'/'.join(h['cpu_flags']) or '-'}), "
        f"GPU: {h.get('gpu') or 'none'}; "
        f"onnxruntime {h['onnxruntime']}, torch {h.get('torch', '-')} ({h.get('torch_threads', '-')} threads); "
        f"input {h['batch']}x3x{h['size'][0]}x{h['size'][1]}, {h['runs']} timed runs after {h['warmup']} warm-up, "
        f"engines interleaved; " + (f"mIoU on {h['data']} (val, full size)" if h['data'] else "no mIoU (no --data)") + _peaks(h.get("peaks"))
        + ("; INTERRUPTED, partial" if h.get("interrupted") else ""),
        "",
        markdown(COLUMNS, result["rows"]),
    ] + ([f"\n{FEW_RUNS_NOTE}"] if few_runs(result["rows"]) else [])
    for sk in h.get("skipped", []):
        lines.append(f"\n{sk['model']} {sk['variant']}: not benchmarked: {sk.get('reason') or 'could not be exported'}")
    return "\n".join(lines)
