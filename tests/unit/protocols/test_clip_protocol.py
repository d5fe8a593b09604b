"""Clip-level fight protocol on hand-computed cases.

Windows are 2 frames long, so a clip of N frames has window scores on
frames 1..N-1. The four scored clips below give, by hand:

    clip  label  window scores     max   mean
    f1    fight  0.9, 0.1, 0.1     0.9   0.3667
    f2    fight  0.5, 0.5, 0.5     0.5   0.5
    n1    normal 0.6, 0.6, 0.6     0.6   0.6
    n2    normal 0.2, 0.3, 0.1     0.3   0.2

Max: fight > normal in 3 of 4 pairs, so clip AUC 0.75. Ranked 0.9 (fight),
0.6, 0.5 (fight), 0.3, AP = 0.5 * 1 + 0.5 * 2/3 = 5/6. Mean: 2 of 4 pairs,
clip AUC 0.5. Clip `s1` has one frame, shorter than the window.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from protocols import PROTOCOLS
from protocols.clip_protocol import ClipProtocol
from protocols.metrics import SingleClassError

WINDOW_SCORES = {
    "f1": [0.9, 0.1, 0.1],
    "f2": [0.5, 0.5, 0.5],
    "n1": [0.6, 0.6, 0.6],
    "n2": [0.2, 0.3, 0.1],
}
CLIP_LABELS = {"f1": 1, "f2": 1, "n1": 0, "n2": 0}


def _inputs(with_short_clip: bool = True) -> tuple[dict, dict]:
    scores = {name: (np.arange(1, 4), np.array(values)) for name, values in WINDOW_SCORES.items()}
    labels = {name: np.full(4, label) for name, label in CLIP_LABELS.items()}
    if with_short_clip:
        scores["s1"] = (np.array([], dtype=np.int64), np.array([]))
        labels["s1"] = np.ones(1, dtype=np.int64)
    return scores, labels


def test_registry_builds_defaults():
    protocol = PROTOCOLS.get("fight-clips")()

    assert protocol.name == "fight-clips"
    assert protocol.aggregation == "max"
    assert protocol.frame_level is False
    assert protocol.window_length == 6


def test_registry_accepts_runner_keywords():
    protocol = PROTOCOLS.get("fight-clips")(window_length=2, score_position=-1, normalization="none",
                                            smoothing="none", smoothing_sigma=2.0, aggregation="mean")

    assert protocol.aggregation == "mean"
    assert protocol.window_length == 2


def test_max_aggregation_hand_computed():
    scores, labels = _inputs()

    result = ClipProtocol(window_length=2).evaluate(scores, labels)

    assert result["clip_auc"] == pytest.approx(0.75)
    assert result["ap"] == pytest.approx(5 / 6)
    assert result["clip_scores"]["f1"]["score"] == pytest.approx(0.9)
    assert result["clip_scores"]["n2"]["score"] == pytest.approx(0.3)
    assert result["conventions"]["clip_score"] == "max of the clip's window scores"


def test_mean_aggregation_changes_result():
    scores, labels = _inputs()

    result = ClipProtocol(window_length=2, aggregation="mean").evaluate(scores, labels)

    assert result["clip_auc"] == pytest.approx(0.5)
    assert result["clip_scores"]["f1"]["score"] == pytest.approx(1.1 / 3)
    assert result["clip_scores"]["n2"]["score"] == pytest.approx(0.2)


def test_short_clip_skipped_and_counted():
    scores, labels = _inputs()

    result = ClipProtocol(window_length=2).evaluate(scores, labels)

    assert result["num_clips"] == 5
    assert result["num_scored_clips"] == 4
    assert result["num_fight_clips"] == 2
    assert result["num_normal_clips"] == 2
    assert result["skipped_clips"]["count"] == 1
    assert result["skipped_clips"]["names"] == ["s1"]
    assert result["skipped_clips"]["fight"] == 1
    assert result["skipped_clips"]["normal"] == 0
    assert "s1" not in result["clip_scores"]


def test_youden_f1_is_oracle():
    scores, labels = _inputs()

    result = ClipProtocol(window_length=2).evaluate(scores, labels)

    # J = 0.5 at thresholds 0.9 and 0.5; ties go to the higher one: 1 of 2 fights found, no false alarm.
    f1 = result["f1_youden_global"]
    assert f1["oracle"] is True
    assert f1["threshold"] == pytest.approx(0.9)
    assert f1["precision"] == pytest.approx(1.0)
    assert f1["recall"] == pytest.approx(0.5)
    assert f1["f1"] == pytest.approx(2 / 3)


def test_fixed_threshold_on_clip_scores():
    scores, labels = _inputs()

    result = ClipProtocol(window_length=2).evaluate(scores, labels, fixed_threshold=0.55)

    # Max scores >= 0.55: f1 (fight) and n1 (normal).
    f1 = result["f1_fixed"]
    assert f1["oracle"] is False
    assert f1["threshold"] == 0.55
    assert f1["precision"] == pytest.approx(0.5)
    assert f1["recall"] == pytest.approx(0.5)
    assert "max of window scores" in f1["compared_with"]


def test_no_fixed_threshold_gives_none():
    scores, labels = _inputs()

    assert ClipProtocol(window_length=2).evaluate(scores, labels)["f1_fixed"] is None


def test_frame_level_option_uses_clip_labels():
    scores, labels = _inputs()

    result = ClipProtocol(window_length=2, frame_level=True).evaluate(scores, labels)

    frame = result["frame_level"]
    # 16 of 36 (fight frame, normal frame) pairs ranked right, ties counting half.
    assert frame["micro_auc"] == pytest.approx(16 / 36)
    assert frame["num_frames"] == 12
    assert frame["excluded_frames"]["total"] == 5
    assert frame["labels"] == "clip label copied to every frame of the clip"
    assert result["clip_auc"] == pytest.approx(0.75)


def test_frame_level_off_by_default():
    scores, labels = _inputs()

    assert "frame_level" not in ClipProtocol(window_length=2).evaluate(scores, labels)


def test_constant_scores_defined():
    scores, labels = _inputs(with_short_clip=False)
    constant = {name: (frames, np.full(len(values), 0.4)) for name, (frames, values) in scores.items()}

    result = ClipProtocol(window_length=2).evaluate(constant, labels, fixed_threshold=0.4)

    assert result["clip_auc"] == pytest.approx(0.5)
    assert result["ap"] == pytest.approx(0.5)
    assert result["f1_youden_global"]["f1"] == pytest.approx(2 / 3)
    json.dumps(result)  # finite numbers only, so the record stays valid JSON


def test_result_has_no_nan():
    scores, labels = _inputs()

    result = ClipProtocol(window_length=2, frame_level=True).evaluate(scores, labels, fixed_threshold=0.3)

    text = json.dumps(result)
    assert "NaN" not in text
    assert math.isfinite(result["clip_auc"])


def test_single_class_raises():
    scores, labels = _inputs(with_short_clip=False)
    fights_only = {name: labels[name] for name in ("f1", "f2")}

    with pytest.raises(SingleClassError, match="all 2 scored clips are fight"):
        ClipProtocol(window_length=2).evaluate({name: scores[name] for name in fights_only}, fights_only)


def test_nan_score_raises():
    scores, labels = _inputs(with_short_clip=False)
    scores["n1"] = (np.arange(1, 4), np.array([0.6, np.nan, 0.6]))

    with pytest.raises(ValueError, match="'n1': 1 frame"):
        ClipProtocol(window_length=2).evaluate(scores, labels)


def test_mixed_labels_in_clip_raise():
    scores, labels = _inputs(with_short_clip=False)
    labels["n1"] = np.array([0, 0, 1, 1])

    with pytest.raises(ValueError, match="one label per clip"):
        ClipProtocol(window_length=2).evaluate(scores, labels)


def test_all_clips_short_raise():
    labels = {"a": np.ones(1, dtype=np.int64), "b": np.zeros(1, dtype=np.int64)}
    scores = {name: (np.array([], dtype=np.int64), np.array([])) for name in labels}

    with pytest.raises(ValueError, match="none of the 2 clips has a window score"):
        ClipProtocol(window_length=2).evaluate(scores, labels)


def test_wrong_frame_indices_raise():
    scores, labels = _inputs(with_short_clip=False)
    scores["f1"] = (np.arange(0, 3), np.array(WINDOW_SCORES["f1"]))

    with pytest.raises(ValueError, match="frame indices do not match"):
        ClipProtocol(window_length=2).evaluate(scores, labels)


def test_unknown_aggregation_raises():
    with pytest.raises(ValueError, match="max, mean"):
        ClipProtocol(aggregation="median")


def test_threshold_from_windows_uses_clip_scores():
    protocol = ClipProtocol(window_length=2)
    held_out = {"a": np.array([0.1, 0.7]), "b": np.array([0.2, 0.3]), "short": np.array([])}

    assert protocol.fixed_threshold_from_windows(held_out, 1.0) == pytest.approx(0.7)
    assert protocol.fixed_threshold_from_windows(held_out, 0.0) == pytest.approx(0.3)
    assert ClipProtocol(aggregation="mean").fixed_threshold_from_windows(held_out, 1.0) == pytest.approx(0.4)
