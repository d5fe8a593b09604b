"""Clip-level protocol for fight datasets: one label per clip, one score per clip.

Fight datasets such as Hockey Fight label whole clips, fight (1, anomalous)
or not (0). A method still scores windows of frames, so each clip's score
aggregates its window scores, and ROC AUC, AP and F1 are computed over
clips. Clips shorter than one window get no score, and they are left out
and listed by name.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, precision_recall_fscore_support, roc_auc_score

from protocols.alignment import check_video_names, validate_score_table
from protocols.frame_protocol import FrameProtocol
from protocols.metrics import SingleClassError, _assert_no_nan, youden_threshold
from protocols.postprocess import describe_smoothing, normalize_scores, smooth_scores

logger = logging.getLogger(__name__)

AGGREGATIONS = ("max", "mean")


@dataclass(frozen=True)
class ClipProtocol(FrameProtocol):
    """Clip-level evaluation of window scores, with the window conventions of FrameProtocol.

    A clip's score is the maximum (default) or the mean of its window
    scores, taken after the optional smoothing and normalisation of the
    frame protocol. With `frame_level=True` the result also contains the frame
    protocol's metrics with the clip label copied to every frame, under the
    key `frame_level`.
    """

    name: str = "fight-clips"
    aggregation: str = "max"
    frame_level: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {self.aggregation!r}; valid: {', '.join(AGGREGATIONS)}")
        if not isinstance(self.frame_level, bool):
            raise ValueError(f"frame_level must be true or false, got {self.frame_level!r}")

    def aggregate(self, window_scores) -> float:
        """Return the clip score of one clip's window scores under this protocol's aggregation."""
        window_scores = np.asarray(window_scores, dtype=np.float64)
        if window_scores.size == 0:
            raise ValueError("a clip without window scores has no clip score")
        return float(window_scores.max() if self.aggregation == "max" else window_scores.mean())

    def fixed_threshold_from_windows(self, clip_window_scores: dict[str, np.ndarray], quantile: float) -> float:
        """Return the `quantile` of the clip scores of held-out normal clips, given their window scores.

        A threshold fitted this way is on the scale of clip scores, whatever
        the aggregation. Clips without window scores are ignored.
        """
        if not 0.0 <= quantile <= 1.0:
            raise ValueError(f"quantile must be in [0, 1], got {quantile}")
        clip_scores = [self.aggregate(scores) for scores in clip_window_scores.values() if len(scores)]
        if not clip_scores:
            raise ValueError("no held-out clip has a window score, so no threshold can be fitted")
        return float(np.quantile(clip_scores, quantile))

    def evaluate(
        self,
        video_scores: dict,
        video_labels: dict[str, np.ndarray],
        fixed_threshold: float | None = None,
    ) -> dict:
        """Aggregate window scores into clip scores and compute clip-level metrics.

        `video_scores` maps each test clip to (frame_indices, scores) or to its
        window scores alone, as in FrameProtocol.evaluate. `video_labels`
        maps it to per-frame labels, which must all equal the clip label.

        `fixed_threshold`, chosen without test labels, is compared with the
        clip scores. With max aggregation that flags a clip when any one of
        its windows reaches the threshold. A threshold fitted on window
        scores therefore raises more false alarms per clip than per window,
        and more on longer clips. `fixed_threshold_from_windows` fits one on
        clip scores instead.

        Raises ValueError for NaN or infinite scores, for a clip whose frames
        carry different labels and when no clip has a window score, and
        SingleClassError when the scored clips are all fights or all normal.
        """
        if fixed_threshold is not None and not math.isfinite(fixed_threshold):
            raise ValueError(f"fixed_threshold must be a finite number or None, got {fixed_threshold}")
        check_video_names(video_scores, video_labels)
        if not video_labels:
            raise ValueError("no test clips to evaluate")

        clip_labels = {name: _clip_label(name, video_labels[name]) for name in video_labels}
        frames = self._score_table(video_scores, video_labels)
        clip_scores, window_counts = self._clip_scores(frames)

        skipped = [name for name in video_labels if name not in clip_scores]
        if skipped:
            logger.warning(
                "%d clip(s) shorter than the %d-frame window have no score and are left out: %s",
                len(skipped), self.window_length, ", ".join(skipped),
            )
        scored = [name for name in video_labels if name in clip_scores]
        if not scored:
            raise ValueError(
                f"none of the {len(video_labels)} clips has a window score: every clip is shorter than "
                f"the {self.window_length}-frame window"
            )

        labels = np.array([clip_labels[name] for name in scored], dtype=np.int64)
        scores = np.array([clip_scores[name] for name in scored], dtype=np.float64)
        num_fights = int(labels.sum())
        if num_fights in (0, len(labels)):
            present = "fight" if num_fights else "normal"
            raise SingleClassError(
                f"clip-level AUC and AP need both fight and normal clips, but all {len(labels)} scored clips "
                f"are {present}. Check the test split."
            )

        youden = youden_threshold(labels, scores)
        f1_youden = _f1_at_threshold(labels, scores, youden)
        f1_youden.update({"oracle": True, "threshold": youden})

        f1_fixed = None
        if fixed_threshold is not None:
            f1_fixed = _f1_at_threshold(labels, scores, float(fixed_threshold))
            f1_fixed.update({
                "oracle": False,
                "threshold": float(fixed_threshold),
                "compared_with": f"clip scores ({self.aggregation} of window scores)",
            })

        result = {
            "clip_auc": float(roc_auc_score(labels, scores)),
            "ap": float(average_precision_score(labels, scores)),
            "f1_youden_global": f1_youden,
            "f1_fixed": f1_fixed,
            "num_clips": len(video_labels),
            "num_scored_clips": len(scored),
            "num_fight_clips": num_fights,
            "num_normal_clips": len(scored) - num_fights,
            "skipped_clips": {
                "count": len(skipped),
                "fight": sum(clip_labels[name] for name in skipped),
                "normal": sum(1 - clip_labels[name] for name in skipped),
                "names": skipped,
                "rule": f"clips shorter than the {self.window_length}-frame window have no score "
                        "and are left out of every clip metric",
            },
            "clip_scores": {
                name: {"score": clip_scores[name], "label": clip_labels[name], "windows": window_counts[name]}
                for name in scored
            },
            "protocol": asdict(self),
            "conventions": {
                "clip_score": f"{self.aggregation} of the clip's window scores",
                "label": "1 = fight clip (anomalous), 0 = normal clip",
                "clip_auc": "ROC AUC over the scored test clips",
                "ap": "step-wise average precision over the scored test clips (sklearn average_precision_score)",
                "f1_youden_global": "F1 at the Youden threshold chosen on the test clip labels (oracle)",
                "f1_fixed": "F1 at a threshold chosen without test labels, compared with clip scores",
                "normalization": self.normalization,
                "smoothing": describe_smoothing(self.smoothing, self.smoothing_sigma, self.smoothing_window),
                "postprocess_order": "smoothing, then normalization, then aggregation per clip",
                "threshold_rule": "a clip is predicted fight when its score >= threshold",
            },
        }
        if self.frame_level:
            frame_result = super().evaluate(video_scores, video_labels, fixed_threshold=fixed_threshold)
            frame_result["labels"] = "clip label copied to every frame of the clip"
            result["frame_level"] = frame_result

        _assert_no_nan(result)
        return result

    def _score_table(self, video_scores: dict, video_labels: dict[str, np.ndarray]) -> pd.DataFrame:
        """Return the post-processed (video, frame, score, label) rows of every scored window."""
        pieces = []
        for name, value in video_scores.items():
            labels = np.asarray(video_labels[name])
            frame_indices, scores = self._frame_scores(name, value, len(labels))
            pieces.append(pd.DataFrame({
                "video": name,
                "frame": frame_indices.astype(np.int64),
                "score": scores,
                "label": labels[frame_indices.astype(np.int64)].astype(np.int64),
            }))
        table = pd.concat(pieces, ignore_index=True)
        validate_score_table(table)

        # Same order as the frame protocol: smoothing within each clip, then normalisation.
        table = smooth_scores(table, self.smoothing, sigma=self.smoothing_sigma, window=self.smoothing_window)
        if self.normalization == "video-minmax" and self.aggregation == "max":
            logger.warning("video-minmax normalisation maps the maximum of every clip to 1 (or a constant clip "
                           "to 0), so max-aggregated clip scores carry almost no information")
        return normalize_scores(table, self.normalization)

    def _clip_scores(self, table: pd.DataFrame) -> tuple[dict[str, float], dict[str, int]]:
        """Return the score and the number of windows of every clip that has a window."""
        grouped = table.groupby("video", sort=False)["score"]
        scores = grouped.agg(self.aggregation)
        return {name: float(score) for name, score in scores.items()}, grouped.size().to_dict()


def _clip_label(name: str, labels) -> int:
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"clip {name!r}: labels must be a non-empty 1-D vector, got shape {labels.shape}")
    values = np.unique(labels).tolist()
    if len(values) != 1 or values[0] not in (0, 1):
        raise ValueError(
            f"clip {name!r}: the fight-clips protocol needs one label per clip (0 or 1 on every frame), "
            f"got values {values}; evaluate frame-level ground truth with the frame protocol"
        )
    return int(values[0])


def _f1_at_threshold(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict:
    predictions = (scores >= threshold).astype(np.int64)
    precision, recall, f1, _ = precision_recall_fscore_support(labels, predictions, average="binary", zero_division=0)
    return {"f1": float(f1), "precision": float(precision), "recall": float(recall)}
