"""Frame-level metrics: micro and macro ROC AUC, average precision and F1.

All metrics take a score table with the columns video, frame, score and label
(see `protocols.alignment`). A frame is predicted anomalous when its score is
greater than or equal to the threshold, the rule of `sklearn.metrics.roc_curve`.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    precision_recall_fscore_support,
    roc_auc_score,
    roc_curve,
)

from protocols.alignment import validate_score_table
from protocols.postprocess import (
    DEFAULT_SMOOTHING_SIGMA,
    DEFAULT_SMOOTHING_WINDOW,
    describe_smoothing,
    normalize_scores,
    smooth_scores,
)

logger = logging.getLogger(__name__)


class SingleClassError(ValueError):
    """Raised when labels contain only normal or only anomalous frames.

    ROC AUC, average precision and the Youden threshold are undefined then.
    """


def _check_labels_and_scores(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float64)
    if labels.shape != scores.shape or labels.ndim != 1:
        raise ValueError(
            f"labels and scores must be 1-D of equal length, got shapes {labels.shape} and {scores.shape}"
        )
    if len(labels) == 0:
        raise ValueError("labels and scores are empty, so there are no frames to evaluate")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(f"labels must be 0 or 1, got values {np.unique(labels).tolist()}")
    nonfinite = int((~np.isfinite(scores)).sum())
    if nonfinite:
        raise ValueError(f"scores contain NaN or infinite values in {nonfinite} of {len(scores)} frames")
    return labels.astype(np.int64), scores


def _require_both_classes(labels: np.ndarray, metric_name: str) -> None:
    num_anomalous = int(labels.sum())
    if num_anomalous == 0 or num_anomalous == len(labels):
        present = "anomalous" if num_anomalous else "normal"
        raise SingleClassError(
            f"{metric_name} needs both normal and anomalous frames, but all {len(labels)} frames are {present}. "
            "Check the test labels."
        )


def youden_threshold(labels, scores) -> float:
    """Return the threshold that maximises Youden's J = TPR - FPR.

    Candidates are the distinct scores, each a threshold of
    `roc_curve(drop_intermediate=False)`. The "no frame anomalous" point above
    the highest score is no candidate, so the threshold is always one of the
    scores. With constant scores it is that constant, and every frame is
    predicted anomalous. Ties go to the highest threshold, which raises the
    fewest alarms.

    Raises SingleClassError when the labels contain a single class.
    """
    labels, scores = _check_labels_and_scores(labels, scores)
    _require_both_classes(labels, "the Youden threshold")

    fpr, tpr, thresholds = roc_curve(labels, scores, drop_intermediate=False)

    # J = TP/P - FP/N compares exactly as TP*N - FP*P in integers, so equal J
    # values tie even where the float rates round differently.
    num_anomalous = int(labels.sum())
    num_normal = len(labels) - num_anomalous
    true_positives = np.rint(tpr * num_anomalous).astype(np.int64)
    false_positives = np.rint(fpr * num_normal).astype(np.int64)
    scaled_j = true_positives * num_normal - false_positives * num_anomalous

    # Index 0 is the point where no frame is predicted anomalous (threshold inf).
    best = 1 + int(np.argmax(scaled_j[1:]))  # first maximum, thresholds are decreasing
    return float(thresholds[best])


def _f1_of_predictions(labels: np.ndarray, predictions: np.ndarray) -> dict:
    precision, recall, f1, _ = precision_recall_fscore_support(
        labels, predictions.astype(np.int64), average="binary", zero_division=0
    )
    return {"f1": float(f1), "precision": float(precision), "recall": float(recall)}


def _f1_at_threshold(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict:
    return _f1_of_predictions(labels, scores >= threshold)


def postprocess_scores(
    df: pd.DataFrame, normalization: str, smoothing: str, smoothing_sigma: float, smoothing_window: int
) -> pd.DataFrame:
    """Smooth the score table within each video, then normalise it, as the frame metrics do."""
    # Smoothing comes first, so normalised scores stay inside [0, 1].
    smoothed = smooth_scores(df, smoothing, sigma=smoothing_sigma, window=smoothing_window)
    return normalize_scores(smoothed, normalization)


def _per_video_auc(df: pd.DataFrame) -> tuple[dict[str, float], list[str]]:
    aucs: dict[str, float] = {}
    skipped: list[str] = []
    for video, rows in df.groupby("video", sort=False):
        labels = rows["label"].to_numpy()
        if labels.min() == labels.max():
            skipped.append(video)
            continue
        aucs[video] = float(roc_auc_score(labels, rows["score"].to_numpy()))
    return aucs, skipped


def _youden_per_video(df: pd.DataFrame, global_threshold: float) -> dict:
    labels = df["label"].to_numpy(dtype=np.int64)
    scores = df["score"].to_numpy(dtype=np.float64)
    predictions = np.zeros(len(df), dtype=bool)
    thresholds: dict[str, float] = {}
    fallback_videos: list[str] = []

    # Each frame is compared with the threshold of its own video, then all
    # frames are pooled into one F1.
    for video, positions in df.groupby("video", sort=False).indices.items():
        video_labels = labels[positions]
        video_scores = scores[positions]
        if video_labels.min() == video_labels.max():
            threshold = global_threshold
            fallback_videos.append(video)
        else:
            threshold = youden_threshold(video_labels, video_scores)
        thresholds[video] = threshold
        predictions[positions] = video_scores >= threshold

    result = _f1_of_predictions(labels, predictions)
    result.update({"oracle": True, "thresholds": thresholds, "global_threshold_videos": fallback_videos})
    return result


def _assert_no_nan(value, path: str = "result") -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise RuntimeError(f"internal error: frame_metrics produced {value} at {path}")
    if isinstance(value, dict):
        for key, item in value.items():
            _assert_no_nan(item, f"{path}[{key!r}]")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _assert_no_nan(item, f"{path}[{index}]")


def frame_metrics(
    df: pd.DataFrame,
    fixed_threshold: float | None = None,
    normalization: str = "none",
    smoothing: str = "none",
    smoothing_sigma: float = DEFAULT_SMOOTHING_SIGMA,
    smoothing_window: int = DEFAULT_SMOOTHING_WINDOW,
) -> dict:
    """Compute frame-level metrics and return them with their conventions as a JSON-serialisable dict.

    Scores are smoothed within each video, then normalised (see
    `protocols.postprocess`), before any metric. Keys:
      - micro_auc: ROC AUC over all frames pooled, the usual UCSD Ped2 number.
      - macro_auc: mean of per-video ROC AUCs over the videos with both
        classes, or None when no video has both. macro_auc_videos counts those
        videos and macro_auc_skipped_videos names the others.
      - ap: step-wise average precision over all frames pooled
        (`sklearn.metrics.average_precision_score`), not a trapezoid area.
      - f1_youden_global, f1_youden_per_video: F1 at Youden thresholds chosen
        on the test labels, so both carry "oracle": True. Per video, each video
        with both classes gets its own threshold, and a video with a single
        class uses the global threshold (listed in global_threshold_videos).
      - f1_fixed: F1 at `fixed_threshold`, which the caller chose without test
        labels, or None when no threshold is given. It is compared with the
        scores after smoothing and normalisation.
      - per_video_auc, num_frames, num_anomalous, num_videos, conventions.

    Constant scores give micro AUC 0.5, AP equal to the fraction of anomalous
    frames, and a Youden threshold equal to the constant. Every frame is then
    predicted anomalous, so F1 is 2p / (1 + p) for an anomalous fraction p.

    Raises ValueError on NaN or infinite scores, naming each video with its
    number of such frames, and SingleClassError when all frames share one label.
    """
    if fixed_threshold is not None and not math.isfinite(fixed_threshold):
        raise ValueError(f"fixed_threshold must be a finite number or None, got {fixed_threshold}")
    validate_score_table(df)
    if len(df) == 0:
        raise ValueError("the score table is empty, so there are no frames to evaluate")
    df = postprocess_scores(df, normalization, smoothing, smoothing_sigma, smoothing_window)

    labels = df["label"].to_numpy(dtype=np.int64)
    scores = df["score"].to_numpy(dtype=np.float64)
    _require_both_classes(labels, "frame-level AUC and AP")

    per_video_auc, skipped_videos = _per_video_auc(df)
    if skipped_videos:
        logger.info("macro AUC skips videos with a single class: %s", skipped_videos)
    macro_auc = float(np.mean(list(per_video_auc.values()))) if per_video_auc else None

    global_threshold = youden_threshold(labels, scores)
    f1_global = _f1_at_threshold(labels, scores, global_threshold)
    f1_global.update({"oracle": True, "threshold": global_threshold})

    f1_fixed = None
    if fixed_threshold is not None:
        if normalization != "none":
            # NOTE: a threshold taken from raw training scores does not match normalised test scores.
            logger.warning(
                "fixed_threshold %s is compared with %s-normalised scores. "
                "Compute it on scores normalised the same way.",
                fixed_threshold,
                normalization,
            )
        f1_fixed = _f1_at_threshold(labels, scores, float(fixed_threshold))
        f1_fixed.update({"oracle": False, "threshold": float(fixed_threshold)})

    result = {
        "micro_auc": float(roc_auc_score(labels, scores)),
        "macro_auc": macro_auc,
        "macro_auc_videos": len(per_video_auc),
        "macro_auc_skipped_videos": skipped_videos,
        "ap": float(average_precision_score(labels, scores)),
        "f1_youden_global": f1_global,
        "f1_youden_per_video": _youden_per_video(df, global_threshold),
        "f1_fixed": f1_fixed,
        "per_video_auc": per_video_auc,
        "num_frames": int(len(labels)),
        "num_anomalous": int(labels.sum()),
        "num_videos": int(df["video"].nunique()),
        "conventions": {
            "micro_auc": "ROC AUC over all test frames pooled",
            "macro_auc": "mean of per-video ROC AUCs over videos with both classes",
            "ap": "step-wise average precision (sklearn average_precision_score)",
            "normalization": normalization,
            "smoothing": describe_smoothing(smoothing, smoothing_sigma, smoothing_window),
            "postprocess_order": "smoothing, then normalization",
            "threshold_rule": "a frame is anomalous when score >= threshold",
        },
    }
    _assert_no_nan(result)
    return result


def curves(
    df: pd.DataFrame,
    normalization: str = "none",
    smoothing: str = "none",
    smoothing_sigma: float = DEFAULT_SMOOTHING_SIGMA,
    smoothing_window: int = DEFAULT_SMOOTHING_WINDOW,
) -> dict:
    """Compute the pooled ROC and precision-recall curves, for plotting.

    The options post-process scores as in `frame_metrics`, so the curves match
    its numbers when given the same conventions. Returns lists of floats:
    {"roc": {"fpr", "tpr"}, "precision_recall": {"precision", "recall"}}.
    Raises SingleClassError when all frames share one label.
    """
    validate_score_table(df)
    if len(df) == 0:
        raise ValueError("the score table is empty, so there are no frames to evaluate")
    df = postprocess_scores(df, normalization, smoothing, smoothing_sigma, smoothing_window)

    labels = df["label"].to_numpy(dtype=np.int64)
    scores = df["score"].to_numpy(dtype=np.float64)
    _require_both_classes(labels, "ROC and precision-recall curves")

    fpr, tpr, _ = roc_curve(labels, scores)
    precision, recall, _ = precision_recall_curve(labels, scores)
    return {
        "roc": {"fpr": fpr.tolist(), "tpr": tpr.tolist()},
        "precision_recall": {"precision": precision.tolist(), "recall": recall.tolist()},
    }
