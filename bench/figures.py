"""Figures of one run: per-video score curves with ground truth shaded, ROC and precision-recall curves."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd


def _figure_stem(record: dict) -> str:
    return record["run_id"]


def plot_run(run_folder: Path, record: dict, out_dir: Path) -> list[Path]:
    """Write `<run-id>_scores.png` and `<run-id>_curves.png`; return their paths (none without scores.csv)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve, roc_curve

    scores_file = Path(run_folder) / "scores.csv"
    if not scores_file.exists():
        return []
    table = pd.read_csv(scores_file, dtype={"video": str})
    if table.empty or table["label"].nunique() < 2:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = _figure_stem(record)
    title = f"{record['method']} on {record['dataset']} ({record['provenance']['profile']['name']} profile)"

    videos = list(dict.fromkeys(table["video"]))
    plotted = videos[:16]
    columns = min(4, len(plotted))
    rows = math.ceil(len(plotted) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4 * columns, 2.4 * rows), squeeze=False)
    for axis, name in zip(axes.flat, plotted):
        video = table[table["video"] == name]
        frames, scores, labels = video["frame"].to_numpy(), video["score"].to_numpy(), video["label"].to_numpy()
        axis.fill_between(frames, 0, 1, where=labels > 0, transform=axis.get_xaxis_transform(),
                          color="tab:red", alpha=0.2, step="mid", label="anomalous (ground truth)")
        axis.plot(frames, scores, color="tab:blue", linewidth=1.0, label="score")
        axis.set_title(name, fontsize=9)
        axis.tick_params(labelsize=7)
    for axis in list(axes.flat)[len(plotted):]:
        axis.axis("off")
    axes.flat[0].legend(fontsize=7, loc="upper left")
    suffix = f" (first {len(plotted)} of {len(videos)} videos)" if len(videos) > len(plotted) else ""
    figure.suptitle(f"Frame scores: {title}{suffix}", fontsize=10)
    figure.supxlabel("frame index", fontsize=8)
    figure.tight_layout()
    scores_path = out_dir / f"{stem}_scores.png"
    figure.savefig(scores_path, dpi=80)
    plt.close(figure)

    labels, scores = table["label"].to_numpy(), table["score"].to_numpy()
    fpr, tpr, _ = roc_curve(labels, scores)
    precision, recall, _ = precision_recall_curve(labels, scores)
    figure, (roc_axis, pr_axis) = plt.subplots(1, 2, figsize=(8, 3.6))
    roc_axis.plot(fpr, tpr, color="tab:blue")
    roc_axis.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8)
    roc_axis.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (all frames pooled)")
    pr_axis.step(recall, precision, where="post", color="tab:green")
    pr_axis.axhline(np.mean(labels), color="grey", linestyle="--", linewidth=0.8)
    pr_axis.set(xlabel="recall", ylabel="precision", title="precision-recall")
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    curves_path = out_dir / f"{stem}_curves.png"
    figure.savefig(curves_path, dpi=80)
    plt.close(figure)
    return [scores_path, curves_path]
