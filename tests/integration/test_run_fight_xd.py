"""End-to-end `bench run` with the smoke profile on small real subsets of surveillance-fight and xd-subset.

Each run takes about a minute on 2 CPU cores: 8 surveillance clips
(`max_clips=8`) and the XD-Violence clips cut to 48 frames each
(`max_frames=48`).
"""

import json
import math

import numpy as np
import pandas as pd
import pytest

from bench.cli import main


def _run(work, dataset: str, *options: str) -> dict:
    arguments = ["run", "--method", "ours", "--dataset", dataset, "--profile", "smoke",
                 "--cache-dir", str(work / "cache"), "--runs-dir", str(work / "runs"),
                 "--run-id", dataset, "--no-progress", *options]
    assert main(arguments) == 0
    return json.loads((work / "runs" / dataset / "metrics.json").read_text())


@pytest.fixture(scope="module")
def fight_run(data_root, tmp_path_factory):
    work = tmp_path_factory.mktemp("fight")
    record = _run(work, "surveillance-fight", "--dataset-option", "max_clips=8", "--validation-videos", "1")
    return record, work / "runs" / "surveillance-fight"


@pytest.fixture(scope="module")
def fight_record(fight_run):
    return fight_run[0]


@pytest.fixture(scope="module")
def xd_record(data_root, tmp_path_factory):
    work = tmp_path_factory.mktemp("xd")
    record = _run(work, "xd-subset", "--dataset-option", "max_frames=48")
    return record, work / "runs" / "xd-subset"


def test_fight_metrics_finite(fight_record):
    metrics = fight_record["metrics"]

    for key in ("clip_auc", "ap"):
        assert math.isfinite(metrics[key]), key
    assert math.isfinite(metrics["f1_youden_global"]["f1"])
    assert metrics["f1_youden_global"]["oracle"] is True
    assert metrics["f1_fixed"]["oracle"] is False


def test_fight_record_names_dataset(fight_record):
    assert fight_record["dataset"] == "surveillance-fight"
    assert fight_record["protocol"] == "fight-clips"
    assert "not Hockey Fight" in fight_record["provenance"]["data"]["notes"]["source"]
    assert "max_clips=8" in fight_record["provenance"]["data"]["notes"]["subset"]


def test_fight_threshold_uses_clip_scores(fight_run):
    record, folder = fight_run
    validation = pd.read_csv(folder / "validation_scores.csv", dtype={"video": str})
    held_out_clip_scores = validation.groupby("video")["score"].max()
    assert len(held_out_clip_scores) == 1
    # The threshold is a quantile of held-out clip scores (max over windows), not of single window scores.
    threshold = record["fixed_threshold"]["value"]
    assert threshold == pytest.approx(np.quantile(held_out_clip_scores, 0.95))
    window_quantile = np.quantile(validation["score"], 0.95)
    assert threshold != pytest.approx(window_quantile)

    test = pd.read_csv(folder / "scores.csv", dtype={"video": str}).groupby("video")
    clip_scores, clip_labels = test["score"].max(), test["label"].max()
    predicted = (clip_scores >= threshold).astype(int)
    true_positives = int(((predicted == 1) & (clip_labels == 1)).sum())
    precision = true_positives / max(int(predicted.sum()), 1)
    recall = true_positives / int(clip_labels.sum())
    expected_f1 = 2 * precision * recall / (precision + recall) if true_positives else 0.0
    assert record["metrics"]["f1_fixed"]["f1"] == pytest.approx(expected_f1)


def test_fight_clip_counts(fight_record):
    metrics = fight_record["metrics"]

    assert metrics["num_clips"] == 6
    assert metrics["num_fight_clips"] == 4
    assert metrics["skipped_clips"]["count"] == 0
    assert metrics["protocol"]["aggregation"] == "max"


def test_xd_metrics_finite(xd_record):
    record, _ = xd_record
    metrics = record["metrics"]

    for key in ("ap", "micro_auc"):
        assert math.isfinite(metrics[key]), key
    assert metrics["headline_metric"] == "ap"
    assert metrics["unscored_rule"] == "pad-first"


def test_xd_record_names_subset(xd_record):
    record, _ = xd_record

    assert record["dataset"] == "xd-subset"
    assert record["protocol"] == "xd"
    assert "not XD-Violence results" in record["provenance"]["data"]["notes"]["subset"]


def test_xd_every_frame_counted(xd_record):
    record, folder = xd_record
    metrics = record["metrics"]

    # Four test videos of 48 frames; the first 5 of each are padded, none excluded.
    assert metrics["num_frames"] == 4 * 48
    assert metrics["padded_frames"]["total"] == 4 * 5
    assert metrics["excluded_frames"]["total"] == 0
    scores = pd.read_csv(folder / "scores.csv", dtype={"video": str})
    assert len(scores) == 4 * 43
