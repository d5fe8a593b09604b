"""Leaderboards: tables and figures built from completed run records.

Only runs whose `status.json` status is complete enter a table. Runs that differ
only in their seed form one row with the mean and standard deviation.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.records import STATUS_COMPLETE, RunFolder, atomic_write_text
from bench.reported import PAPER, PAPER_ROW, REPORTED, REPORTED_DATASET

logger = logging.getLogger(__name__)

BOARD_OF_DATASET = {
    "ped2": "ped2",
    "hockey": "fight",
    "surveillance-fight": "fight",
    "xd": "xd",
    "xd-subset": "xd",
}
BOARD_TITLES = {
    "ped2": "UCSD Ped2: frame-level AUC (as Table 4 of the paper)",
    "fight": "Fight clips: clip-level AUC and F1 (as Table 3 of the paper)",
    "xd": "XD-Violence: frame-level AP (as Table 2 of the paper)",
}
# Table column -> metric keys to look up in metrics.json, first found wins (dotted keys reach nested values).
BOARD_METRICS = {
    "ped2": [
        ("micro AUC", ("micro_auc",)),
        ("macro AUC", ("macro_auc",)),
        ("AP", ("ap",)),
        ("F1 fixed", ("f1_fixed.f1",)),
        ("F1 Youden per video (oracle)", ("f1_youden_per_video.f1",)),
    ],
    "fight": [
        ("AUC", ("clip_auc", "auc", "micro_auc")),
        ("F1 Youden (oracle)", ("f1_youden.f1", "f1_youden_global.f1", "f1_oracle.f1")),
        ("F1 fixed", ("f1_fixed.f1",)),
    ],
    "xd": [
        ("AP", ("ap",)),
        ("AUC", ("auc", "micro_auc")),
    ],
}
# Ped2 columns computed from each run's frame scores on the frames every run on the same data scored.
COMMON_AS_RUN = "micro AUC common frames"
COMMON_VIDEO_MINMAX = "micro AUC common frames, per-video min-max"
# Only complete runs on the dataset a paper table measured get a gap to that table's number.
PAPER_DATASET = {"ped2": "ped2", "fight": "hockey", "xd": "xd"}
# Per board: our column compared with the reported row of the same method, and that row's metric key.
HEADLINE = {"ped2": ("micro AUC", "auc"), "fight": ("AUC", "auc"), "xd": ("AP", "ap")}


@dataclass
class RunRecord:
    run_id: str
    folder: Path
    record: dict
    config: dict

    @property
    def options(self) -> dict:
        return self.config["options"]


def load_completed_runs(runs_dir: Path) -> list[RunRecord]:
    """Read every complete run under `runs_dir`; unfinished or failed runs are skipped and logged."""
    runs = []
    for folder in sorted(Path(runs_dir).glob("*/")):
        status = RunFolder(folder).status()
        if status != STATUS_COMPLETE:
            if status is not None:
                logger.info("skipping run %s: status %s", folder.name, status)
            continue
        metrics_file, config_file = folder / "metrics.json", folder / "config.json"
        if not metrics_file.exists() or not config_file.exists():
            logger.warning("skipping run %s: marked complete but metrics.json or config.json is missing", folder.name)
            continue
        runs.append(RunRecord(folder.name, folder, json.loads(metrics_file.read_text()),
                              json.loads(config_file.read_text())))
    return runs


def _lookup(metrics: dict, path: str):
    value = metrics
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value or value[part] is None:
            return None
        value = value[part]
    return float(value)


def metric_value(metrics: dict, candidates: tuple[str, ...]) -> float | None:
    for path in candidates:
        value = _lookup(metrics, path)
        if value is not None:
            return value
    return None


def default_flow(method: str) -> bool:
    """Return the flow setting a run of `method` gets when it sets none (True for a method not registered)."""
    import methods.registered  # noqa: F401  (fills the method registry)
    from methods import METHODS

    return METHODS.get(method).default_flow if method in METHODS else True


def _flow_differs(options: dict) -> bool:
    return bool(options.get("use_flow", True)) != default_flow(options["method"])


def variant_label(options: dict) -> str:
    """Describe how a run differs from the default configuration of its method."""
    parts = []
    if options.get("drop"):
        parts.append("without " + ", ".join(sorted(options["drop"])))
    if _flow_differs(options):
        parts.append("flow on" if options.get("use_flow", True) else "flow off")
    elif options.get("use_flow", True) and options.get("flow_backend", "dis") != "dis":
        parts.append(f"flow {options['flow_backend']}")
    if options.get("flow_encoding", "color") != "color":
        parts.append(f"flow encoding {options['flow_encoding']}")
    for key in ("normalization", "smoothing"):
        if options.get(key, "none") != "none":
            parts.append(f"{key} {options[key]}")
    if options.get("selection", "validation-loss") != "validation-loss":
        parts.append(f"selection {options['selection']}")
    for key, value in sorted((options.get("method_options") or {}).items()):
        parts.append(f"{key}={value}")
    return "; ".join(parts) or "default"


def is_ablation_variant(options: dict) -> bool:
    """Return whether a run drops loss terms, leaves its method's default flow setting or uses another backend."""
    return (bool(options.get("drop")) or _flow_differs(options)
            or (bool(options.get("use_flow", True)) and options.get("flow_backend", "dis") != "dis"))


def _group_key(run: RunRecord) -> tuple:
    options = run.options
    return (run.record["dataset"], run.record.get("subset") or "", options["method"], variant_label(options),
            options["profile"], json.dumps(options.get("dataset_options") or {}, sort_keys=True))


def _budget(run: RunRecord) -> str:
    profile = run.record["provenance"]["profile"]
    training = run.record.get("training")
    if training is None:
        return "no training"
    budget = f"{training['steps']} steps at batch {profile['batch_size']}"
    reduced = (profile.get("method_options") or {}).get(run.options["method"])
    if reduced and not any(key in (run.options.get("method_options") or {}) for key in reduced):
        budget += ", reduced width (" + ", ".join(f"{key}={value}" for key, value in sorted(reduced.items())) + ")"
    return budget


def _format_mean_std(values: list[float]) -> str:
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{np.mean(values):.4f} ± {np.std(values, ddof=1):.4f}"


def build_board(board: str, runs: list[RunRecord], records_link: str) -> tuple[pd.DataFrame, str]:
    """Return the CSV frame and Markdown text of one board."""
    metrics_spec = BOARD_METRICS[board]
    headline_column, reported_metric = HEADLINE[board]
    reported_headline = {name: values.get(reported_metric) for name, _, values in REPORTED[board]}

    groups: dict[tuple, list[RunRecord]] = {}
    for run in runs:
        if BOARD_OF_DATASET.get(run.record["dataset"]) == board:
            groups.setdefault(_group_key(run), []).append(run)

    common_aucs, common_counts = ({COMMON_AS_RUN: {}, COMMON_VIDEO_MINMAX: {}}, {})
    if board == "ped2":
        common_aucs, common_counts = _common_frame_aucs(groups)

    csv_rows, md_rows = [], []
    for name, supervision, values in REPORTED[board]:
        row = {"source": "reported", "dataset": REPORTED_DATASET[board], "method": name, "variant": supervision,
               "profile": "", "budget": "", "seeds": ""}
        md_row = dict(row)
        for column, _ in metrics_spec:
            key = {"micro AUC": "auc", "AUC": "auc", "AP": "ap", "F1 Youden (oracle)": "f1"}.get(column)
            value = values.get(key) if key else None
            row[f"{column} mean"], row[f"{column} std"] = value, None
            md_row[column] = f"{value:.2f}" if value is not None and board != "xd" else (
                f"{value:.3f}" if value is not None else "")
        if board == "ped2":
            for column in (COMMON_AS_RUN, COMMON_VIDEO_MINMAX):
                row[f"{column} mean"] = row[f"{column} std"] = None
                md_row[column] = ""
            row["common frames"] = md_row["common frames"] = None
        md_row["gap to paper"], md_row["records"] = "", PAPER
        csv_rows.append(row)
        md_rows.append(md_row)

    for key in sorted(groups):
        members = sorted(groups[key], key=lambda run: run.options["seed"])
        dataset, subset, method, variant, profile, dataset_options = key
        label = dataset + (f" ({subset})" if subset else "")
        if dataset_options != "{}":
            label += f" {dataset_options}"
        row = {"source": "run", "dataset": label, "method": method, "variant": variant, "profile": profile,
               "budget": _budget(members[0]), "seeds": ",".join(str(run.options["seed"]) for run in members)}
        md_row = dict(row)
        for column, candidates in metrics_spec:
            values = [v for v in (metric_value(run.record["metrics"], candidates) for run in members) if v is not None]
            row[f"{column} mean"] = float(np.mean(values)) if values else None
            row[f"{column} std"] = float(np.std(values, ddof=1)) if len(values) > 1 else None
            md_row[column] = _format_mean_std(values)
        if board == "ped2":
            for column in (COMMON_AS_RUN, COMMON_VIDEO_MINMAX):
                values = [common_aucs[column][run.run_id] for run in members if run.run_id in common_aucs[column]]
                row[f"{column} mean"] = float(np.mean(values)) if values else None
                row[f"{column} std"] = float(np.std(values, ddof=1)) if len(values) > 1 else None
                md_row[column] = _format_mean_std(values)
            row["common frames"] = md_row["common frames"] = common_counts.get((dataset, subset))
        paper_row = PAPER_ROW.get(method)
        paper_value = reported_headline.get(paper_row) if paper_row else None
        comparable = dataset == PAPER_DATASET[board] and not subset and variant == "default"
        if paper_value is not None and row[f"{headline_column} mean"] is not None and comparable:
            row["gap to paper"] = row[f"{headline_column} mean"] - paper_value
            md_row["gap to paper"] = f"{row['gap to paper']:+.4f}"
        else:
            row["gap to paper"], md_row["gap to paper"] = None, ""
        md_row["records"] = ", ".join(f"[{run.run_id}]({records_link}/{run.run_id}/metrics.json)" for run in members)
        csv_rows.append(row)
        md_rows.append(md_row)

    frame = pd.DataFrame(csv_rows)
    return frame, _markdown(board, md_rows, groups)


def _scores_as_evaluated(run: RunRecord, normalization: str | None = None) -> pd.DataFrame:
    """Return the run's frame scores after its protocol's smoothing and normalisation (or `normalization`)."""
    from protocols.metrics import postprocess_scores
    from protocols.postprocess import DEFAULT_SMOOTHING_SIGMA, DEFAULT_SMOOTHING_WINDOW

    protocol = run.record["metrics"].get("protocol") or {}
    table = pd.read_csv(run.folder / "scores.csv", dtype={"video": str})
    return postprocess_scores(
        table,
        normalization or protocol.get("normalization", "none"),
        protocol.get("smoothing", "none"),
        protocol.get("smoothing_sigma", DEFAULT_SMOOTHING_SIGMA),
        protocol.get("smoothing_window", DEFAULT_SMOOTHING_WINDOW),
    ).set_index(["video", "frame"])


def _common_frame_aucs(groups: dict) -> tuple[dict[str, dict[str, float]], dict[tuple, int]]:
    """Return each run's micro AUCs on the (video, frame) pairs that every run on the same data scored.

    Methods with longer windows score fewer frames (6 frames leave 5 unscored per video, 16 leave 15).
    Their own micro AUCs therefore cover different frames, and these values do not. The `COMMON_AS_RUN`
    values apply the run's own smoothing and normalisation. The `COMMON_VIDEO_MINMAX` values min-max
    scale each video's scores over all the frames the run scored, as the published evaluation code of
    ConvLSTM-AE and MemAE does.
    """
    from sklearn.metrics import roc_auc_score

    by_data: dict[tuple, list[RunRecord]] = {}
    for key, members in groups.items():
        by_data.setdefault((key[0], key[1]), []).extend(members)

    aucs: dict[str, dict[str, float]] = {COMMON_AS_RUN: {}, COMMON_VIDEO_MINMAX: {}}
    counts = {}
    for data, runs in by_data.items():
        tables = {}
        for run in runs:
            if (run.folder / "scores.csv").exists():
                tables[run.run_id] = {COMMON_AS_RUN: _scores_as_evaluated(run),
                                      COMMON_VIDEO_MINMAX: _scores_as_evaluated(run, "video-minmax")}
        if not tables:
            continue
        common = None
        for versions in tables.values():
            index = versions[COMMON_AS_RUN].index
            common = index if common is None else common.intersection(index)
        counts[data] = len(common)
        for run_id, versions in tables.items():
            for version, table in versions.items():
                subset = table.loc[common]
                if subset["label"].nunique() == 2:
                    aucs[version][run_id] = float(roc_auc_score(subset["label"], subset["score"]))
    return aucs, counts


def _markdown(board: str, rows: list[dict], groups: dict) -> str:
    from tabulate import tabulate

    profiles = sorted({key[4] for key in groups})
    lines = [f"# {BOARD_TITLES[board]}", ""]
    lines.append(f"Rows marked `reported` are published numbers from {PAPER}, measured on "
                 f"{REPORTED_DATASET[board]}. Rows marked `run` were produced by vadbench; their dataset column "
                 "names the data they ran on, which may be a stand-in or a real subset, never the published set "
                 "unless it says so.")
    if board == "ped2":
        lines.append("")
        lines.append("Each method scores the frames its window reaches, so `micro AUC` covers different frames per "
                     "method. `micro AUC common frames` is computed on the frames every run on the same data scored "
                     "(their number is in `common frames`); compare methods by that column. "
                     "`micro AUC common frames, per-video min-max` first scales each test video's scores to [0, 1] "
                     "with that video's minimum and maximum, as the published evaluation code of ConvLSTM-AE and "
                     "MemAE does; it uses statistics of the whole test video, so no online detector could produce "
                     "it, and the published numbers of those two methods are on that scale.")
    if any(profile != "paper" for profile in profiles):
        lines.append("")
        lines.append(f"Budgets: runs of the {', '.join(p for p in profiles if p != 'paper')} profile use a reduced "
                     "training budget (column `budget`); they are not paper-scale results. Oracle F1 columns choose "
                     "their threshold on test labels.")
    lines.append("")
    headers = list(rows[0]) if rows else []
    lines.append(tabulate([list(row.values()) for row in rows], headers=headers, tablefmt="github"))
    lines.append("")
    return "\n".join(lines)


def copy_records(runs: list[RunRecord], destination: Path) -> None:
    """Copy the small files of each run (metrics, config, scores) next to the tables that cite them."""
    destination.mkdir(parents=True, exist_ok=True)
    wanted = {run.run_id for run in runs}
    for stale in destination.iterdir():
        if stale.is_dir() and stale.name not in wanted:
            shutil.rmtree(stale)
    for run in runs:
        target = destination / run.run_id
        target.mkdir(parents=True, exist_ok=True)
        for name in ("metrics.json", "config.json", "scores.csv", "validation_scores.csv"):
            source = run.folder / name
            if source.exists():
                atomic_write_text(target / name, source.read_text())


def write_leaderboards(runs_dir: Path, out_dir: Path, figures: bool = True) -> dict[str, pd.DataFrame]:
    """Build every board that has runs (and the reported-only boards) into `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = [run for run in load_completed_runs(runs_dir) if run.record["dataset"] in BOARD_OF_DATASET]
    # The ablation table covers `ours` only, so variants of other methods stay on their board as labelled rows.
    ablation_runs = [run for run in runs if run.options["method"] == "ours"]
    board_runs = [run for run in runs if run.options["method"] != "ours" or not is_ablation_variant(run.options)]
    copy_records(runs, out_dir / "records")

    frames = {}
    for board in BOARD_METRICS:
        frame, markdown = build_board(board, board_runs, "records")
        if figures:
            markdown += _figure_links(board, board_runs, out_dir)
        atomic_write_text(out_dir / f"{board}.csv", frame.to_csv(index=False))
        atomic_write_text(out_dir / f"{board}.md", markdown)
        frames[board] = frame

    if any(is_ablation_variant(run.options) for run in ablation_runs):
        frame, markdown = build_ablation_table(ablation_runs, "records")
        atomic_write_text(out_dir / "ablations.csv", frame.to_csv(index=False))
        atomic_write_text(out_dir / "ablations.md", markdown)
        frames["ablations"] = frame
    return frames


def _figure_links(board: str, runs: list[RunRecord], out_dir: Path) -> str:
    from bench.figures import plot_run

    lines = ["", "## Figures", ""]
    seen = set()
    for run in sorted(runs, key=lambda run: (run.record["dataset"], run.options["method"], run.options["seed"])):
        if BOARD_OF_DATASET.get(run.record["dataset"]) != board:
            continue
        key = _group_key(run)
        if key in seen:
            continue
        seen.add(key)
        paths = plot_run(run.folder, run.record, out_dir / "figures")
        if not paths:
            continue
        title = f"{run.record['dataset']}, {run.options['method']} ({variant_label(run.options)}, seed {run.options['seed']})"
        lines.append(f"- {title}: " + ", ".join(f"[{path.stem}](figures/{path.name})" for path in paths))
    lines.append("")
    return "\n".join(lines) if len(lines) > 4 else ""


def build_ablation_table(runs: list[RunRecord], records_link: str) -> tuple[pd.DataFrame, str]:
    """Build one row per variant of `ours`, with its difference from the full model under the same seed and budget."""
    from tabulate import tabulate

    rows = []
    by_setting: dict[tuple, dict[str, list[RunRecord]]] = {}
    for run in runs:
        setting = (run.record["dataset"], run.options["profile"], run.options["method"])
        by_setting.setdefault(setting, {}).setdefault(variant_label(run.options), []).append(run)

    for (dataset, profile, method), variants in sorted(by_setting.items()):
        if set(variants) == {"default"}:
            continue
        board = BOARD_OF_DATASET[dataset]
        headline_column, _ = HEADLINE[board]
        candidates = dict(BOARD_METRICS[board])[headline_column]
        full = variants.get("default", [])
        full_by_seed = {run.options["seed"]: metric_value(run.record["metrics"], candidates) for run in full}
        for variant, members in sorted(variants.items(), key=lambda item: (item[0] != "default", item[0])):
            values = [metric_value(run.record["metrics"], candidates) for run in members]
            differences = [value - full_by_seed[run.options["seed"]] for run, value in zip(members, values)
                           if run.options["seed"] in full_by_seed and value is not None]
            rows.append({
                "dataset": dataset, "profile": profile, "method": method, "variant": variant,
                "budget": _budget(members[0]),
                "seeds": ",".join(str(run.options["seed"]) for run in members),
                f"{headline_column} mean": float(np.mean(values)),
                f"{headline_column} std": float(np.std(values, ddof=1)) if len(values) > 1 else None,
                "difference from full model": float(np.mean(differences)) if differences else None,
                "records": ", ".join(f"[{run.run_id}]({records_link}/{run.run_id}/metrics.json)" for run in members),
            })

    frame = pd.DataFrame(rows)
    display = frame.copy()
    for column in display.columns:
        if display[column].dtype.kind == "f":
            display[column] = display[column].map(lambda value: "" if pd.isna(value) else f"{value:+.4f}"
                                                  if column.startswith("difference") else f"{value:.4f}")
    lines = ["# Ablations of `ours`", "",
             "Each variant is trained with the same seed, budget and frame cache as the full model (`default`); "
             "`difference from full model` is the variant's headline metric minus the full model's, averaged over "
             "seeds. `flow off` removes the flow encoder; the fusion convolution then takes the RGB features only. "
             "Reduced budgets are not paper-scale results.", "",
             tabulate(display.values.tolist(), headers=list(display.columns), tablefmt="github"), ""]
    return frame.drop(columns=["records"]), "\n".join(lines)
