"""End-to-end `bench run` on a few real UCSD Ped2 videos with the smoke profile."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from bench.cli import main
from datasets.ped2 import load_ped2

TRAIN = "Train001,Train002,Train003"
TEST = "Test001,Test002"


@pytest.fixture(scope="module")
def smoke_run(data_root, tmp_path_factory):
    work = tmp_path_factory.mktemp("run")
    arguments = ["run", "--method", "ours", "--dataset", "ped2", "--profile", "smoke",
                 "--train-videos", TRAIN, "--test-videos", TEST, "--validation-videos", "1",
                 "--cache-dir", str(work / "cache"), "--runs-dir", str(work / "runs"),
                 "--run-id", "smoke", "--no-progress", "--option", 'perceptual_frames="last"']
    assert main(arguments) == 0
    return work / "runs" / "smoke", arguments


def test_run_writes_all_records(smoke_run):
    folder, _ = smoke_run
    for name in ("config.json", "metrics.json", "scores.csv", "log.txt", "status.json",
                 "checkpoints/last.pt", "checkpoints/best.pt"):
        assert (folder / name).exists(), name
    assert json.loads((folder / "status.json").read_text())["status"] == "complete"


def test_scores_align_with_ground_truth(smoke_run, data_root):
    folder, _ = smoke_run
    scores = pd.read_csv(folder / "scores.csv", dtype={"video": str})
    dataset = load_ped2(data_root / "ped2")
    videos = {video.name: video for video in dataset.test}
    assert sorted(scores["video"].unique()) == ["Test001", "Test002"]
    for name, table in scores.groupby("video"):
        video = videos[name]
        num_frames = len(video.frame_paths)
        labels = video.frame_labels(num_frames)
        np.testing.assert_array_equal(table["frame"].to_numpy(), np.arange(5, num_frames))
        np.testing.assert_array_equal(table["label"].to_numpy(), labels[5:])


def test_metrics_finite_with_provenance(smoke_run):
    folder, _ = smoke_run
    record = json.loads((folder / "metrics.json").read_text())
    metrics = record["metrics"]
    for key in ("micro_auc", "macro_auc", "ap"):
        assert math.isfinite(metrics[key]), key
    for key in ("f1_youden_global", "f1_youden_per_video", "f1_fixed"):
        assert math.isfinite(metrics[key]["f1"]), key
    assert metrics["f1_youden_global"]["oracle"] is True
    assert metrics["f1_fixed"]["oracle"] is False
    assert metrics["excluded_frames"]["total"] == 10
    provenance = record["provenance"]
    assert provenance["data"]["ground_truth"] == "masks"
    assert provenance["flow"]["backend"] == "dis"
    assert provenance["profile"]["name"] == "smoke"
    assert provenance["paper_scale"] is False
    assert provenance["method"]["perceptual"]["backbone"]
    assert len(provenance["data"]["fingerprint"]) >= 8
    assert provenance["seed"] == 0
    assert record["model_selection"]["uses_test_labels"] is False


def test_existing_run_needs_resume_flag(smoke_run, capsys):
    _, arguments = smoke_run
    assert main(arguments) == 2
    assert "--resume" in capsys.readouterr().err


def test_resume_of_complete_run_repeats_metrics(smoke_run):
    folder, arguments = smoke_run
    before = json.loads((folder / "metrics.json").read_text())["metrics"]
    assert main([*arguments, "--resume"]) == 0
    after = json.loads((folder / "metrics.json").read_text())["metrics"]
    assert after["micro_auc"] == before["micro_auc"]
    assert after["f1_fixed"]["f1"] == before["f1_fixed"]["f1"]
