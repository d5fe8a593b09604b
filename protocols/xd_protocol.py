"""XD-Violence protocol: frame-level average precision over all test frames pooled.

The headline number is step-wise average precision over every frame of
every test video (`sklearn.metrics.average_precision_score`), with frame
ROC AUC (pooled, `micro_auc`) beside it. NOTE: the official XD-Violence
evaluation code (Roc-Ng/XDVioDet, test.py) computes instead the trapezoid
area under the precision-recall curve, `auc(recall, precision)`, which is a
different number. It is reported separately as `pr_auc_trapezoid`, for
comparison with published results, and never as `ap`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import auc, precision_recall_curve

from protocols.alignment import align_scores
from protocols.frame_protocol import FrameProtocol
from protocols.postprocess import normalize_scores, smooth_scores


@dataclass(frozen=True)
class XDProtocol(FrameProtocol):
    """Frame-level XD-Violence evaluation of window scores.

    Every frame of a test video counts, so the default rule for the first
    window_length - 1 frames, which no window score ends on, is "pad-first":
    they take the first score of their video and are counted as padded
    frames. The rule "exclude" leaves them out and counts them instead.
    Frames after the last window under a stride above 1, and every frame of
    a video shorter than one window, are excluded and counted under both
    rules.
    """

    name: str = "xd"
    unscored: str = "pad-first"

    def evaluate(self, video_scores: dict, video_labels: dict, fixed_threshold: float | None = None) -> dict:
        """Compute the frame protocol's metrics with AP as the headline number.

        The result contains `ap` (step-wise, the headline), `micro_auc`
        (frame ROC AUC over all frames pooled), `pr_auc_trapezoid`, the other
        keys of FrameProtocol's result and `unscored_frames`, which states the
        rule applied to frames without their own window score.
        """
        result = super().evaluate(video_scores, video_labels, fixed_threshold=fixed_threshold)
        result["headline_metric"] = "ap"
        result["pr_auc_trapezoid"] = self._trapezoid_pr_auc(video_scores, video_labels)
        result["conventions"]["pr_auc_trapezoid"] = (
            "trapezoid area under the pooled precision-recall curve, as the official XD-Violence test code "
            "computes it; not average precision"
        )
        if self.unscored == "pad-first":
            rule = (
                f"the first {self.window_length - 1} frames of each video have no window score of their own; "
                "they take the video's first score and count in every metric (padded_frames)"
            )
        else:
            rule = (
                f"the first {self.window_length - 1} frames of each video have no window score; "
                "they are left out of every metric and counted (excluded_frames)"
            )
        result["unscored_frames"] = rule
        return result

    def _trapezoid_pr_auc(self, video_scores: dict, video_labels: dict) -> float:
        """Return the trapezoid area under the precision-recall curve of the frames `evaluate` scores."""
        aligned_input = {
            name: self._frame_scores(name, value, len(video_labels[name])) for name, value in video_scores.items()
        }
        frames = align_scores(aligned_input, video_labels, unscored=self.unscored).frames
        frames = smooth_scores(frames, self.smoothing, sigma=self.smoothing_sigma, window=self.smoothing_window)
        frames = normalize_scores(frames, self.normalization)
        labels = frames["label"].to_numpy(dtype=np.int64)
        precision, recall, _ = precision_recall_curve(labels, frames["score"].to_numpy(dtype=np.float64))
        return float(auc(recall, precision))
