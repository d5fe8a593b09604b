"""Frame-level evaluation protocol: windowing, alignment and metrics as one set of conventions."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from protocols.alignment import UNSCORED_RULES, align_scores, check_video_names, scored_frame_indices
from protocols.metrics import frame_metrics
from protocols.postprocess import (
    DEFAULT_SMOOTHING_SIGMA,
    DEFAULT_SMOOTHING_WINDOW,
    NORMALIZATION_MODES,
    SMOOTHING_MODES,
    describe_smoothing,
)


def _describe_indices(frame_indices: np.ndarray) -> str:
    if len(frame_indices) == 0:
        return "no indices"
    return f"{len(frame_indices)} indices from {frame_indices[0]} to {frame_indices[-1]}"


@dataclass(frozen=True)
class FrameProtocol:
    """Conventions for frame-level evaluation of a method that scores windows of frames.

    The defaults are the UCSD Ped2 protocol of Kang and Kang, "A Unified
    GAN-Based Framework for Unsupervised Video Anomaly Detection Using Optical
    Flow and RGB Cues" (doi:10.20944/preprints202508.1337.v1): 6-frame windows
    at stride 1, each score compared with the label of the last frame of its
    window, and metrics over the scored frames only. The first 5 frames of
    every test video are therefore excluded and counted.
    """

    name: str = "frame"
    window_length: int = 6
    stride: int = 1
    score_position: int = -1
    unscored: str = "exclude"
    normalization: str = "none"
    smoothing: str = "none"
    smoothing_sigma: float = DEFAULT_SMOOTHING_SIGMA
    smoothing_window: int = DEFAULT_SMOOTHING_WINDOW

    def __post_init__(self) -> None:
        if self.window_length < 1:
            raise ValueError(f"window_length must be >= 1, got {self.window_length}")
        if self.stride < 1:
            raise ValueError(f"stride must be >= 1, got {self.stride}")
        if not -self.window_length <= self.score_position < self.window_length:
            raise ValueError(
                f"score_position must be in [{-self.window_length}, {self.window_length - 1}], "
                f"got {self.score_position}"
            )
        if self.unscored not in UNSCORED_RULES:
            raise ValueError(f"unknown unscored rule {self.unscored!r}; valid rules: {', '.join(UNSCORED_RULES)}")
        if self.normalization not in NORMALIZATION_MODES:
            raise ValueError(
                f"unknown normalization mode {self.normalization!r}; valid modes: {', '.join(NORMALIZATION_MODES)}"
            )
        # Also rejects an unknown smoothing mode.
        describe_smoothing(self.smoothing, self.smoothing_sigma, self.smoothing_window)

    def frame_indices(self, num_frames: int) -> np.ndarray:
        """Return the frame index of each window score for a video of `num_frames` frames."""
        return scored_frame_indices(num_frames, self.window_length, self.stride, self.score_position)

    def _frame_scores(self, name: str, value, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(value, tuple):
            frame_indices, scores = value
            frame_indices = np.asarray(frame_indices)
            expected = self.frame_indices(num_frames)
            if not np.array_equal(frame_indices, expected):
                raise ValueError(
                    f"video {name!r}: frame indices do not match protocol {self.name!r} "
                    f"(window_length={self.window_length}, stride={self.stride}, "
                    f"score_position={self.score_position}): expected {_describe_indices(expected)}, "
                    f"got {_describe_indices(frame_indices)}"
                )
            return frame_indices, np.asarray(scores, dtype=np.float64)

        scores = np.asarray(value, dtype=np.float64)
        expected = self.frame_indices(num_frames)
        if scores.shape != expected.shape:
            raise ValueError(
                f"video {name!r}: {num_frames} frames in windows of {self.window_length} at stride "
                f"{self.stride} give {len(expected)} window scores, got shape {scores.shape}"
            )
        return expected, scores

    def evaluate(
        self,
        video_scores: dict,
        video_labels: dict[str, np.ndarray],
        fixed_threshold: float | None = None,
    ) -> dict:
        """Align window scores to frames, compute frame metrics and add the frame counts.

        `video_scores` maps a video name either to (frame_indices, scores) or
        to the window scores alone, one per window in temporal order. Given
        frame indices must equal the ones this protocol assigns, which catches
        scores computed with another window length, stride or score position.
        `video_labels` maps each test video to its full per-frame 0/1 labels.
        """
        check_video_names(video_scores, video_labels)

        aligned_input = {}
        for name, value in video_scores.items():
            aligned_input[name] = self._frame_scores(name, value, len(video_labels[name]))
        aligned = align_scores(aligned_input, video_labels, unscored=self.unscored)

        result = frame_metrics(
            aligned.frames,
            fixed_threshold=fixed_threshold,
            normalization=self.normalization,
            smoothing=self.smoothing,
            smoothing_sigma=self.smoothing_sigma,
            smoothing_window=self.smoothing_window,
        )
        result["protocol"] = asdict(self)
        result.update(aligned.frame_counts())
        return result
