"""XD-Violence protocol: step-wise frame AP over all frames, and the first frames of each video.

The hand-computed video has 2-frame windows, window scores on frames 1..5
and the labels below. Under pad-first, frame 0 takes the first score, 0.9:

    frame   0    1    2    3    4    5
    score  0.9  0.9  0.2  0.8  0.4  0.1
    label   0    1    0    1    0    1

Thresholds from the top: 0.9 gives precision 1/2 at recall 1/3, 0.8 gives
2/3 at 2/3, 0.1 gives 3/6 at 1. Step-wise AP = 1/3 * 1/2 + 1/3 * 2/3 +
1/3 * 1/2 = 5/9. Without frame 0 ("exclude"), it is 1/3 + 1/3 + 1/3 * 3/5
= 13/15.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import auc, precision_recall_curve

from protocols import PROTOCOLS
from protocols.xd_protocol import XDProtocol

LABELS = np.array([0, 1, 0, 1, 0, 1])
WINDOW_SCORES = np.array([0.9, 0.2, 0.8, 0.4, 0.1])


def _inputs() -> tuple[dict, dict]:
    return {"v": (np.arange(1, 6), WINDOW_SCORES)}, {"v": LABELS}


def test_registry_builds_defaults():
    protocol = PROTOCOLS.get("xd")()

    assert protocol.name == "xd"
    assert protocol.unscored == "pad-first"
    assert protocol.window_length == 6


def test_ap_is_step_wise_hand_computed():
    scores, labels = _inputs()

    result = XDProtocol(window_length=2).evaluate(scores, labels)

    assert result["ap"] == pytest.approx(5 / 9)
    assert result["headline_metric"] == "ap"


def test_trapezoid_area_reported_apart():
    scores, labels = _inputs()
    padded = np.concatenate([[0.9], WINDOW_SCORES])
    precision, recall, _ = precision_recall_curve(LABELS, padded)

    result = XDProtocol(window_length=2).evaluate(scores, labels)

    assert result["pr_auc_trapezoid"] == pytest.approx(auc(recall, precision))
    assert result["pr_auc_trapezoid"] != pytest.approx(result["ap"], abs=1e-3)
    assert "not average precision" in result["conventions"]["pr_auc_trapezoid"]


def test_frame_auc_hand_computed():
    scores, labels = _inputs()

    result = XDProtocol(window_length=2).evaluate(scores, labels)

    # Positive vs negative frames: 0.9 beats 0.2 and 0.4 and ties 0.9; 0.8 beats two; 0.1 beats none.
    assert result["micro_auc"] == pytest.approx(4.5 / 9)


def test_first_frames_padded_and_counted():
    scores, labels = _inputs()

    result = XDProtocol(window_length=2).evaluate(scores, labels)

    assert result["num_frames"] == 6
    assert result["padded_frames"]["total"] == 1
    assert result["excluded_frames"]["total"] == 0
    assert result["unscored_rule"] == "pad-first"
    assert "take the video's first score" in result["unscored_frames"]


def test_exclude_rule_drops_and_counts_first_frames():
    scores, labels = _inputs()

    result = XDProtocol(window_length=2, unscored="exclude").evaluate(scores, labels)

    assert result["ap"] == pytest.approx(13 / 15)
    assert result["num_frames"] == 5
    assert result["excluded_frames"]["total"] == 1
    assert "left out" in result["unscored_frames"]


def test_ap_pools_frames_of_all_videos():
    scores, labels = _inputs()
    scores["normal"] = (np.arange(1, 3), np.array([0.85, 0.85]))
    labels["normal"] = np.zeros(3, dtype=np.int64)

    result = XDProtocol(window_length=2).evaluate(scores, labels)

    # Three normal frames at 0.85 enter between 0.9 and 0.8: precision 2/6 at recall 2/3.
    assert result["ap"] == pytest.approx(1 / 3 * 1 / 2 + 1 / 3 * 2 / 6 + 1 / 3 * 3 / 9)
    assert result["num_videos"] == 2


def test_short_video_frames_excluded_and_counted():
    scores, labels = _inputs()
    scores["short"] = (np.array([], dtype=np.int64), np.array([]))
    labels["short"] = np.ones(1, dtype=np.int64)

    result = XDProtocol(window_length=2).evaluate(scores, labels)

    assert result["excluded_frames"]["per_video"]["short"] == 1
    assert result["ap"] == pytest.approx(5 / 9)


def test_nan_scores_raise():
    scores, labels = _inputs()
    scores["v"] = (np.arange(1, 6), np.array([0.9, np.nan, 0.8, 0.4, 0.1]))

    with pytest.raises(ValueError, match="NaN"):
        XDProtocol(window_length=2).evaluate(scores, labels)
