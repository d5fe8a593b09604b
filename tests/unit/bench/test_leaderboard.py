"""Leaderboard tables from run records, and the CI comparison of regenerated tables."""

import pandas as pd
import pytest

from bench.leaderboard import is_ablation_variant, variant_label, write_leaderboards
from bench.records import RunFolder
from bench.suite import compare_tables


def _write_run(runs_dir, run_id, *, method="ours", dataset="ped2", seed=0, micro_auc=0.8, drop=(), use_flow=True,
               subset=None, status="complete", profile="ci", normalization="none"):
    folder = RunFolder(runs_dir / run_id)
    folder.path.mkdir(parents=True)
    options = {"method": method, "dataset": dataset, "seed": seed, "drop": list(drop), "use_flow": use_flow,
               "flow_backend": "dis", "profile": profile, "normalization": normalization, "smoothing": "none",
               "selection": "validation-loss", "method_options": {}, "dataset_options": {}}
    folder.write_json("config.json", {"options": options})
    metrics = {"micro_auc": micro_auc, "macro_auc": micro_auc - 0.1, "ap": 0.7, "f1_fixed": {"f1": 0.5},
               "f1_youden_per_video": {"f1": 0.9}, "protocol": {"normalization": normalization, "smoothing": "none"}}
    folder.write_json("metrics.json", {
        "run_id": run_id, "method": method, "dataset": dataset, "subset": subset, "metrics": metrics,
        "training": {"steps": 50}, "provenance": {"profile": {"name": profile, "batch_size": 4}}})
    folder.set_status(status)


def test_seeds_averaged_into_one_row(tmp_path):
    runs = tmp_path / "runs"
    _write_run(runs, "a0", seed=0, micro_auc=0.80)
    _write_run(runs, "a1", seed=1, micro_auc=0.90)
    boards = write_leaderboards(runs, tmp_path / "out", figures=False)
    ours = boards["ped2"][boards["ped2"]["source"] == "run"]
    assert len(ours) == 1
    assert ours["micro AUC mean"].iloc[0] == pytest.approx(0.85)
    assert ours["micro AUC std"].iloc[0] == pytest.approx(0.0707, abs=1e-3)
    assert ours["seeds"].iloc[0] == "0,1"
    assert ours["gap to paper"].iloc[0] == pytest.approx(0.85 - 0.96)


def test_reported_rows_marked(tmp_path):
    boards = write_leaderboards(tmp_path / "empty", tmp_path / "out", figures=False)
    reported = boards["ped2"][boards["ped2"]["source"] == "reported"]
    assert "ours (paper)" in set(reported["method"])
    markdown = (tmp_path / "out" / "ped2.md").read_text()
    assert "reported" in markdown
    assert "doi:10.20944/preprints202508.1337.v1" in markdown


def test_stand_in_dataset_has_no_paper_gap(tmp_path):
    runs = tmp_path / "runs"
    _write_run(runs, "s", dataset="surveillance-fight")
    boards = write_leaderboards(runs, tmp_path / "out", figures=False)
    row = boards["fight"][boards["fight"]["source"] == "run"].iloc[0]
    assert row["dataset"] == "surveillance-fight"
    assert pd.isna(row["gap to paper"])


def test_subset_run_has_no_paper_gap(tmp_path):
    runs = tmp_path / "runs"
    _write_run(runs, "s", subset="test=Test001")
    boards = write_leaderboards(runs, tmp_path / "out", figures=False)
    row = boards["ped2"][boards["ped2"]["source"] == "run"].iloc[0]
    assert "test=Test001" in row["dataset"]
    assert pd.isna(row["gap to paper"])


def test_unfinished_run_not_in_table(tmp_path):
    runs = tmp_path / "runs"
    _write_run(runs, "done", micro_auc=0.8)
    _write_run(runs, "killed", seed=1, micro_auc=0.1, status="running")
    boards = write_leaderboards(runs, tmp_path / "out", figures=False)
    assert boards["ped2"][boards["ped2"]["source"] == "run"]["seeds"].tolist() == ["0"]


def test_ablation_table_differences(tmp_path):
    runs = tmp_path / "runs"
    _write_run(runs, "full", micro_auc=0.80)
    _write_run(runs, "noperc", micro_auc=0.75, drop=("perceptual",))
    _write_run(runs, "noflow", micro_auc=0.70, use_flow=False)
    boards = write_leaderboards(runs, tmp_path / "out", figures=False)
    table = boards["ablations"].set_index("variant")
    assert table.loc["default", "difference from full model"] == pytest.approx(0.0)
    assert table.loc["without perceptual", "difference from full model"] == pytest.approx(-0.05)
    assert table.loc["flow off", "difference from full model"] == pytest.approx(-0.10)
    assert len(boards["ped2"][boards["ped2"]["source"] == "run"]) == 1


def test_variant_labels():
    assert variant_label({"method": "ours", "drop": ["temporal", "pixel"]}) == "without pixel, temporal"
    assert variant_label({"method": "ours", "use_flow": False}) == "flow off"
    assert variant_label({"method": "ours"}) == "default"


def test_variant_label_flow_default_per_method():
    # The baselines' source papers read frames only, so flow off is their default and flow on is the variant.
    assert variant_label({"method": "convlstm-ae", "use_flow": False}) == "default"
    assert variant_label({"method": "convlstm-ae", "use_flow": True}) == "flow on"
    assert variant_label({"method": "memae", "use_flow": True, "flow_backend": "farneback"}) == "flow on"
    assert variant_label({"method": "flow-magnitude", "use_flow": True}) == "default"
    assert not is_ablation_variant({"method": "ganomaly", "use_flow": False})
    assert is_ablation_variant({"method": "ours", "use_flow": False})
    # The flow backend matters only when the flow stream is read.
    assert not is_ablation_variant({"method": "memae", "use_flow": False, "flow_backend": "farneback"})
    assert is_ablation_variant({"method": "ours", "use_flow": True, "flow_backend": "farneback"})


def test_compare_tables_within_tolerance(tmp_path):
    committed, regenerated = tmp_path / "committed", tmp_path / "regenerated"
    committed.mkdir()
    regenerated.mkdir()
    frame = pd.DataFrame({"source": ["run"], "dataset": ["ped2"], "method": ["ours"], "variant": ["default"],
                          "profile": ["ci"], "micro AUC mean": [0.8000]})
    frame.to_csv(committed / "ped2.csv", index=False)
    frame.assign(**{"micro AUC mean": [0.8004]}).to_csv(regenerated / "ped2.csv", index=False)
    assert compare_tables(committed, regenerated) == []
    frame.assign(**{"micro AUC mean": [0.81]}).to_csv(regenerated / "ped2.csv", index=False)
    problems = compare_tables(committed, regenerated)
    assert len(problems) == 1
    assert "committed 0.8, regenerated 0.81" in problems[0]


def test_common_frames_column(tmp_path):
    runs = tmp_path / "runs"
    _write_run(runs, "short", method="ours")
    _write_run(runs, "long", method="memae")
    frames = {"short": range(5, 12), "long": range(8, 12)}
    for run_id, scored in frames.items():
        table = pd.DataFrame({"video": "Test001", "frame": list(scored)})
        table["label"] = (table["frame"] >= 10).astype(int)
        table["score"] = table["frame"] if run_id == "short" else -table["frame"]
        table.to_csv(runs / run_id / "scores.csv", index=False)
    boards = write_leaderboards(runs, tmp_path / "out", figures=False)
    rows = boards["ped2"][boards["ped2"]["source"] == "run"].set_index("method")
    assert rows.loc["ours", "common frames"] == 4
    assert rows.loc["ours", "micro AUC common frames mean"] == pytest.approx(1.0)
    assert rows.loc["memae", "micro AUC common frames mean"] == pytest.approx(0.0)


def test_common_frames_normalization_columns(tmp_path):
    # Video A has high raw scores and video B low ones. Pooled raw scores rank B's anomaly below A's normal
    # frames, and per-video min-max scaling puts both videos on one scale.
    runs = tmp_path / "runs"
    _write_run(runs, "raw", method="convlstm-ae", use_flow=False)
    _write_run(runs, "scaled", method="memae", use_flow=False, normalization="video-minmax")
    table = pd.DataFrame({"video": ["A"] * 4 + ["B"] * 4, "frame": [0, 1, 2, 3] * 2,
                          "score": [10.0, 11.0, 12.0, 13.0, 0.0, 1.0, 2.0, 3.0], "label": [0, 0, 1, 1, 0, 0, 0, 1]})
    for run_id in ("raw", "scaled"):
        table.to_csv(runs / run_id / "scores.csv", index=False)
    boards = write_leaderboards(runs, tmp_path / "out", figures=False)
    rows = boards["ped2"][boards["ped2"]["source"] == "run"].set_index("method")
    assert rows.loc["convlstm-ae", "variant"] == "default"
    assert rows.loc["convlstm-ae", "micro AUC common frames mean"] == pytest.approx(13 / 15)
    assert rows.loc["convlstm-ae", "micro AUC common frames, per-video min-max mean"] == pytest.approx(14.5 / 15)
    # A run evaluated with video-minmax gets that scale in both columns.
    assert rows.loc["memae", "micro AUC common frames mean"] == pytest.approx(14.5 / 15)
    assert rows.loc["memae", "micro AUC common frames, per-video min-max mean"] == pytest.approx(14.5 / 15)
    markdown = (tmp_path / "out" / "ped2.md").read_text()
    assert "per-video min-max" in markdown
