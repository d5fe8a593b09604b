import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import auc, precision_recall_curve, roc_auc_score

from protocols.metrics import SingleClassError, curves, frame_metrics, youden_threshold
from tests.unit.protocols.tables import score_table


@pytest.fixture
def two_videos() -> pd.DataFrame:
    """Two videos with per-video AUC 0.75 each, on score ranges that do not overlap.

    Pooled micro AUC by hand: anomalous scores {0.2, 0.4, 0.7, 0.9} beat
    1 + 2 + 3 + 4 = 10 of the 16 (anomalous, normal) pairs, so 0.625.
    """
    return score_table(
        {
            "a": ([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4]),
            "b": ([0, 1, 0, 1], [0.6, 0.7, 0.8, 0.9]),
        }
    )


@pytest.fixture
def separable_videos() -> pd.DataFrame:
    """Two videos that each separate perfectly, on score ranges that do not overlap."""
    return score_table(
        {
            "a": ([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]),
            "b": ([0, 0, 1, 1], [0.5, 0.6, 0.7, 0.8]),
        }
    )


def _find_nonfinite(value, path="result"):
    if isinstance(value, float) and not math.isfinite(value):
        return [path]
    if isinstance(value, dict):
        return [found for key, item in value.items() for found in _find_nonfinite(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [found for index, item in enumerate(value) for found in _find_nonfinite(item, f"{path}[{index}]")]
    return []


def test_micro_auc_by_hand(two_videos):
    assert frame_metrics(two_videos)["micro_auc"] == pytest.approx(0.625)


def test_micro_auc_pools_all_frames(two_videos):
    expected = roc_auc_score(two_videos["label"], two_videos["score"])

    assert frame_metrics(two_videos)["micro_auc"] == pytest.approx(expected)


def test_macro_auc_by_hand(two_videos):
    result = frame_metrics(two_videos)

    assert result["macro_auc"] == pytest.approx(0.75)
    assert result["per_video_auc"] == pytest.approx({"a": 0.75, "b": 0.75})
    assert result["macro_auc_videos"] == 2
    assert result["macro_auc_skipped_videos"] == []


def test_micro_and_macro_differ(two_videos):
    result = frame_metrics(two_videos)

    assert result["micro_auc"] != pytest.approx(result["macro_auc"])


def test_video_minmax_changes_micro_auc(two_videos):
    # Both videos map to [0, 1/3, 2/3, 1], so anomalous {1/3, 1} beat 12 of 16 pairs.
    result = frame_metrics(two_videos, normalization="video-minmax")

    assert result["micro_auc"] == pytest.approx(0.75)


def test_video_minmax_keeps_per_video_auc(two_videos):
    plain = frame_metrics(two_videos)
    normalized = frame_metrics(two_videos, normalization="video-minmax")

    assert normalized["per_video_auc"] == pytest.approx(plain["per_video_auc"])
    assert normalized["macro_auc"] == pytest.approx(plain["macro_auc"])


def test_global_minmax_keeps_micro_auc(two_videos):
    result = frame_metrics(two_videos, normalization="global-minmax")

    assert result["micro_auc"] == pytest.approx(0.625)


def test_normalization_recorded(two_videos):
    plain = frame_metrics(two_videos)
    normalized = frame_metrics(two_videos, normalization="video-minmax")

    assert plain["conventions"]["normalization"] == "none"
    assert normalized["conventions"]["normalization"] == "video-minmax"


def test_unknown_normalization_lists_modes(two_videos):
    with pytest.raises(ValueError, match="none, video-minmax, global-minmax"):
        frame_metrics(two_videos, normalization="per-video")


def test_ap_stepwise_by_hand():
    # Ranked labels 1, 0, 1, 0: precision 1 at recall 0.5, then 2/3 at recall 1.
    df = score_table({"v": ([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1])})

    assert frame_metrics(df)["ap"] == pytest.approx(0.5 * 1.0 + 0.5 * 2 / 3)


def test_ap_differs_from_trapezoid():
    df = score_table({"v": ([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1])})
    precision, recall, _ = precision_recall_curve(df["label"], df["score"])

    trapezoid = auc(recall, precision)

    assert trapezoid == pytest.approx(0.5 + 0.5 * (0.5 + 2 / 3) / 2)
    assert frame_metrics(df)["ap"] != pytest.approx(trapezoid)


def test_youden_threshold_by_hand():
    # J = TPR - FPR is 1/3, 2/3, 5/12, 3/4, 1/2, 1/4, 0 from the highest score down.
    labels = [0, 0, 1, 0, 1, 1, 0]
    scores = [0.1, 0.5, 0.4, 0.2, 0.8, 0.9, 0.3]

    assert youden_threshold(labels, scores) == pytest.approx(0.4)


def test_youden_tie_takes_highest_threshold():
    # J is 2/3 at both 0.8 and 0.35.
    labels = [0, 0, 1, 0, 1, 1]
    scores = [0.1, 0.4, 0.35, 0.2, 0.8, 0.9]

    assert youden_threshold(labels, scores) == pytest.approx(0.8)


def test_youden_constant_scores():
    assert youden_threshold([0, 1, 0], [0.5, 0.5, 0.5]) == 0.5


def test_youden_reversed_scores_finite():
    # Every finite threshold has J <= 0, and only the lowest reaches J = 0.
    threshold = youden_threshold([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4])

    assert threshold == pytest.approx(0.1)


@pytest.mark.parametrize("labels", [[0, 0, 0], [1, 1, 1]])
def test_youden_single_class_raises(labels):
    with pytest.raises(SingleClassError):
        youden_threshold(labels, [0.1, 0.2, 0.3])


def test_youden_rejects_nan():
    with pytest.raises(ValueError, match="1 of 3 frames"):
        youden_threshold([0, 1, 0], [0.1, np.nan, 0.3])


def test_f1_youden_global_by_hand():
    # At 0.4, frames 0.9, 0.8, 0.5 and 0.4 are predicted anomalous: TP 3, FP 1, FN 0.
    df = score_table({"v": ([0, 0, 1, 0, 1, 1, 0], [0.1, 0.5, 0.4, 0.2, 0.8, 0.9, 0.3])})

    f1 = frame_metrics(df)["f1_youden_global"]

    assert f1["threshold"] == pytest.approx(0.4)
    assert f1["precision"] == pytest.approx(0.75)
    assert f1["recall"] == pytest.approx(1.0)
    assert f1["f1"] == pytest.approx(6 / 7)


def test_f1_youden_global_pooled(separable_videos):
    # Pooled J is 1/2 at 0.7 and at 0.3, so the threshold is 0.7: TP 2, FP 0, FN 2.
    f1 = frame_metrics(separable_videos)["f1_youden_global"]

    assert f1["threshold"] == pytest.approx(0.7)
    assert f1["f1"] == pytest.approx(2 / 3)


def test_f1_youden_per_video_by_hand(separable_videos):
    f1 = frame_metrics(separable_videos)["f1_youden_per_video"]

    assert f1["thresholds"] == pytest.approx({"a": 0.3, "b": 0.7})
    assert f1["f1"] == pytest.approx(1.0)
    assert f1["global_threshold_videos"] == []


def test_per_video_single_class_uses_global():
    # Pooled J peaks at 2/3 for threshold 0.65, which video c then uses.
    df = score_table(
        {
            "a": ([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]),
            "b": ([0, 0, 1, 1], [0.5, 0.6, 0.7, 0.8]),
            "c": ([1, 1], [0.95, 0.65]),
        }
    )

    result = frame_metrics(df)
    per_video = result["f1_youden_per_video"]

    assert result["f1_youden_global"]["threshold"] == pytest.approx(0.65)
    assert per_video["global_threshold_videos"] == ["c"]
    assert per_video["thresholds"]["c"] == pytest.approx(0.65)
    assert per_video["f1"] == pytest.approx(1.0)


def test_oracle_flags(separable_videos):
    result = frame_metrics(separable_videos, fixed_threshold=0.5)

    assert result["f1_youden_global"]["oracle"] is True
    assert result["f1_youden_per_video"]["oracle"] is True
    assert result["f1_fixed"]["oracle"] is False


def test_f1_fixed_by_hand(separable_videos):
    # At 0.35: TP 3 (0.4, 0.7, 0.8), FP 2 (0.5, 0.6), FN 1 (0.3).
    f1 = frame_metrics(separable_videos, fixed_threshold=0.35)["f1_fixed"]

    assert f1["threshold"] == 0.35
    assert f1["precision"] == pytest.approx(0.6)
    assert f1["recall"] == pytest.approx(0.75)
    assert f1["f1"] == pytest.approx(2 / 3)


def test_f1_fixed_none_without_threshold(separable_videos):
    assert frame_metrics(separable_videos)["f1_fixed"] is None


def test_f1_fixed_above_all_scores(separable_videos):
    f1 = frame_metrics(separable_videos, fixed_threshold=5.0)["f1_fixed"]

    assert f1["f1"] == 0.0
    assert f1["precision"] == 0.0


@pytest.mark.parametrize("threshold", [float("nan"), float("inf")])
def test_f1_fixed_rejects_nonfinite(separable_videos, threshold):
    with pytest.raises(ValueError, match="fixed_threshold"):
        frame_metrics(separable_videos, fixed_threshold=threshold)


def test_constant_scores_defined():
    # Anomalous fraction p = 1/4: AP = p, and F1 = 2p / (1 + p) = 0.4 with every frame predicted anomalous.
    df = score_table({"a": ([0, 0, 0, 1], [0.5] * 4), "b": ([0, 1, 0, 0], [0.5] * 4)})

    result = frame_metrics(df)

    assert result["micro_auc"] == 0.5
    assert result["macro_auc"] == 0.5
    assert result["per_video_auc"] == {"a": 0.5, "b": 0.5}
    assert result["ap"] == pytest.approx(0.25)
    assert result["f1_youden_global"]["threshold"] == 0.5
    assert result["f1_youden_global"]["f1"] == pytest.approx(0.4)
    assert result["f1_youden_per_video"]["f1"] == pytest.approx(0.4)
    assert _find_nonfinite(result) == []


def test_constant_scores_after_video_minmax():
    df = score_table({"a": ([0, 0, 0, 1], [0.5] * 4), "b": ([0, 1, 0, 0], [2.0] * 4)})

    result = frame_metrics(df, normalization="video-minmax")

    assert result["micro_auc"] == 0.5
    assert _find_nonfinite(result) == []


def test_nan_scores_name_video():
    df = score_table({"a": ([0, 1, 0], [0.1, 0.2, 0.3]), "b": ([0, 1, 1], [np.nan, 0.5, np.nan])})

    with pytest.raises(ValueError, match="video 'b': 2 frames"):
        frame_metrics(df)


def test_infinite_scores_name_video():
    df = score_table({"a": ([0, 1, 0], [0.1, -np.inf, 0.3]), "b": ([0, 1, 1], [0.1, 0.5, 0.4])})

    with pytest.raises(ValueError, match="video 'a': 1 frame"):
        frame_metrics(df)


@pytest.mark.parametrize("label", [0, 1])
def test_single_class_test_set_raises(label):
    df = score_table({"a": ([label] * 3, [0.1, 0.2, 0.3]), "b": ([label] * 2, [0.4, 0.5])})

    with pytest.raises(SingleClassError, match="both normal and anomalous"):
        frame_metrics(df)


def test_single_class_curves_raise():
    df = score_table({"a": ([0, 0, 0], [0.1, 0.2, 0.3])})

    with pytest.raises(SingleClassError):
        curves(df)


def test_empty_table_raises():
    df = score_table({"a": ([0], [0.1])}).iloc[:0]

    with pytest.raises(ValueError, match="empty"):
        frame_metrics(df)


def test_video_without_normal_frames_skipped():
    df = score_table(
        {
            "a": ([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4]),
            "all-anomalous": ([1, 1, 1], [0.9, 0.8, 0.7]),
            "b": ([0, 0, 1, 1], [0.5, 0.6, 0.7, 0.8]),
        }
    )

    result = frame_metrics(df)

    assert result["macro_auc_skipped_videos"] == ["all-anomalous"]
    assert result["macro_auc_videos"] == 2
    assert "all-anomalous" not in result["per_video_auc"]
    assert result["macro_auc"] == pytest.approx((0.75 + 1.0) / 2)
    assert result["num_videos"] == 3


def test_macro_auc_none_without_mixed_videos():
    df = score_table({"normal": ([0, 0, 0], [0.1, 0.2, 0.3]), "anomalous": ([1, 1], [0.4, 0.5])})

    result = frame_metrics(df)

    assert result["macro_auc"] is None
    assert result["macro_auc_videos"] == 0
    assert result["macro_auc_skipped_videos"] == ["normal", "anomalous"]
    assert result["micro_auc"] == 1.0
    assert _find_nonfinite(result) == []


@pytest.mark.parametrize("normalization", ["none", "video-minmax", "global-minmax"])
@pytest.mark.parametrize("smoothing", ["none", "gaussian", "moving-average"])
def test_degenerate_result_has_no_nan(normalization, smoothing):
    df = score_table(
        {
            "constant": ([0, 1, 0, 0], [0.5] * 4),
            "all-anomalous": ([1, 1, 1], [0.2, 0.2, 0.2]),
            "single-frame": ([0], [0.3]),
        }
    )

    result = frame_metrics(df, fixed_threshold=0.25, normalization=normalization, smoothing=smoothing)

    assert _find_nonfinite(result) == []
    json.dumps(result, allow_nan=False)


def test_result_is_json_serialisable(two_videos):
    result = frame_metrics(two_videos, fixed_threshold=0.5, smoothing="gaussian")

    decoded = json.loads(json.dumps(result, allow_nan=False))

    assert decoded["micro_auc"] == result["micro_auc"]


def test_result_counts(two_videos):
    result = frame_metrics(two_videos)

    assert result["num_frames"] == 8
    assert result["num_anomalous"] == 4
    assert result["num_videos"] == 2


def test_result_keys(two_videos):
    expected = {
        "micro_auc",
        "macro_auc",
        "macro_auc_videos",
        "macro_auc_skipped_videos",
        "ap",
        "f1_youden_global",
        "f1_youden_per_video",
        "f1_fixed",
        "per_video_auc",
        "num_frames",
        "num_anomalous",
        "num_videos",
        "conventions",
    }

    assert set(frame_metrics(two_videos)) == expected


def test_smoothing_off_by_default(two_videos):
    result = frame_metrics(two_videos)

    assert result["conventions"]["smoothing"] == {"name": "none"}


def test_smoothing_recorded(two_videos):
    result = frame_metrics(two_videos, smoothing="gaussian", smoothing_sigma=2.0)

    assert result["conventions"]["smoothing"] == {"name": "gaussian", "sigma_frames": 2.0}


def test_smoothing_changes_micro_auc():
    # Unsmoothed, the two normal spikes at 0.9 beat all 10 anomalous frames: AUC 80/100.
    # Averaging over 5 frames flattens the spikes below most anomalous scores.
    labels = [0] * 10 + [1] * 10
    scores = [0.1, 0.1, 0.9, 0.1, 0.1, 0.1, 0.9, 0.1, 0.1, 0.1] + [0.5] * 10
    df = score_table({"v": (labels, scores)})

    plain = frame_metrics(df)["micro_auc"]
    smoothed = frame_metrics(df, smoothing="moving-average", smoothing_window=5)["micro_auc"]

    assert plain == pytest.approx(0.8)
    assert smoothed > plain


def test_smoothing_does_not_cross_videos():
    # Video a alone has AUC 1. Smoothing across the boundary would lift a's
    # last normal frames with b's high scores and lower a's AUC.
    df = score_table({"a": ([1, 1, 1, 0, 0, 0], [0.5, 0.5, 0.5, 0.0, 0.0, 0.0]), "b": ([0, 1], [9.0, 9.5])})

    result = frame_metrics(df, smoothing="gaussian", smoothing_sigma=2.0)

    assert result["per_video_auc"]["a"] == 1.0


def test_curves_match_micro_auc(two_videos):
    result = curves(two_videos)
    roc = result["roc"]

    assert roc["fpr"][0] == 0.0
    assert roc["fpr"][-1] == 1.0
    assert len(roc["fpr"]) == len(roc["tpr"])
    assert auc(roc["fpr"], roc["tpr"]) == pytest.approx(0.625)


def test_curves_precision_recall(two_videos):
    pr = curves(two_videos)["precision_recall"]

    assert len(pr["precision"]) == len(pr["recall"])
    assert pr["recall"][0] == 1.0
    assert pr["recall"][-1] == 0.0


def test_curves_apply_normalization(two_videos):
    roc = curves(two_videos, normalization="video-minmax")["roc"]

    assert auc(roc["fpr"], roc["tpr"]) == pytest.approx(0.75)


def test_curves_json_serialisable(two_videos):
    json.dumps(curves(two_videos), allow_nan=False)
