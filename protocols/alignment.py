"""Map window scores to frame indices and pair them with per-frame labels.

A method that scores T-frame windows cannot score every frame of a video: with
the score on the last frame of each window, the first T-1 frames get none. The
functions here state which frame each score belongs to, build one table of
(video, frame, score, label) rows, and count the frames left without a score.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

SCORE_COLUMNS = ("video", "frame", "score", "label")
UNSCORED_RULES = ("exclude", "pad-first")


def window_end_frames(num_frames: int, window_length: int, stride: int = 1) -> np.ndarray:
    """Return the 0-based index of the last frame of every full window of a video.

    Windows start at frame 0 and advance by `stride` frames. The result is empty
    when the video is shorter than one window.
    """
    if num_frames < 0:
        raise ValueError(f"num_frames must be >= 0, got {num_frames}")
    if window_length < 1:
        raise ValueError(f"window_length must be >= 1, got {window_length}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")

    return np.arange(window_length - 1, num_frames, stride, dtype=np.int64)


def scored_frame_indices(
    num_frames: int, window_length: int, stride: int = 1, score_position: int = -1
) -> np.ndarray:
    """Return the frame index that each window's score belongs to.

    `score_position` is the position of the scored frame inside the window and
    counts from the end when negative, as in Python indexing: -1 is the last
    frame, 0 the first and `window_length // 2` the centre.
    """
    if not -window_length <= score_position < window_length:
        raise ValueError(
            f"score_position must be in [{-window_length}, {window_length - 1}] "
            f"for windows of {window_length} frames, got {score_position}"
        )

    ends = window_end_frames(num_frames, window_length, stride)
    position = score_position % window_length
    starts = ends - (window_length - 1)
    return starts + position


def validate_score_table(df: pd.DataFrame) -> None:
    """Raise ValueError unless `df` is a valid table of frame scores.

    The table needs the columns video, frame, score and label. Every score must
    be finite and every label 0 or 1. The error for non-finite scores names each
    video with the number of its frames affected.
    """
    missing = [column for column in SCORE_COLUMNS if column not in df.columns]
    if missing:
        raise ValueError(f"score table is missing columns {missing} (expected columns {list(SCORE_COLUMNS)})")

    scores = df["score"].to_numpy(dtype=np.float64)
    nonfinite = ~np.isfinite(scores)
    if nonfinite.any():
        counts = df.loc[nonfinite, "video"].value_counts(sort=False)
        details = ", ".join(
            f"video {video!r}: {count} frame{'' if count == 1 else 's'}" for video, count in counts.items()
        )
        raise ValueError(
            f"scores contain NaN or infinite values ({details}). "
            "Fix the method's scoring before evaluating."
        )

    invalid_labels = ~df["label"].isin([0, 1])
    if invalid_labels.any():
        videos = sorted(df.loc[invalid_labels, "video"].unique())
        raise ValueError(f"labels must be 0 or 1, but videos {videos} contain other values")


@dataclass
class AlignedScores:
    """Frame scores of one method paired with the labels of the same frames.

    `frames` has one row per evaluated frame with the columns video, frame,
    score and label, with videos in the order of the label dict and frames in
    increasing order within each video. The per-video counts cover every
    labelled video, zeros included.
    """

    frames: pd.DataFrame
    unscored: str
    """Rule applied to frames without a score: "exclude" or "pad-first"."""
    excluded_frames: dict[str, int]
    """Frames without a score, left out of `frames`, per video."""
    padded_frames: dict[str, int]
    """Frames that got a score from the pad-first rule, per video."""
    dropped_frames: dict[str, int] = field(default_factory=dict)
    """Frames removed by `restrict_to_common_frames` because another method did not score them, per video."""

    @property
    def total_excluded_frames(self) -> int:
        return int(sum(self.excluded_frames.values()))

    @property
    def total_padded_frames(self) -> int:
        return int(sum(self.padded_frames.values()))

    @property
    def total_dropped_frames(self) -> int:
        return int(sum(self.dropped_frames.values()))

    def frame_counts(self) -> dict:
        """Return the excluded, padded and dropped frame counts as a JSON-serialisable dict."""
        return {
            "unscored_rule": self.unscored,
            "excluded_frames": {"per_video": dict(self.excluded_frames), "total": self.total_excluded_frames},
            "padded_frames": {"per_video": dict(self.padded_frames), "total": self.total_padded_frames},
            "dropped_not_common_frames": {
                "per_video": dict(self.dropped_frames),
                "total": self.total_dropped_frames,
            },
        }


def check_video_names(video_scores: dict, video_labels: dict) -> None:
    """Raise ValueError unless scores and labels are given for the same videos."""
    unscored_videos = [name for name in video_labels if name not in video_scores]
    if unscored_videos:
        raise ValueError(
            f"labelled videos {unscored_videos} have no scores. Score every test video before evaluating."
        )

    unlabelled_videos = [name for name in video_scores if name not in video_labels]
    if unlabelled_videos:
        raise ValueError(
            f"videos {unlabelled_videos} have scores but no labels. Check that the video names match."
        )


def _validate_video(name: str, frame_indices: np.ndarray, scores: np.ndarray, labels: np.ndarray) -> None:
    if labels.ndim != 1:
        raise ValueError(f"video {name!r}: labels must be a 1-D vector, got shape {labels.shape}")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(f"video {name!r}: labels must be 0 or 1, got values {np.unique(labels).tolist()}")

    if frame_indices.ndim != 1 or scores.ndim != 1:
        raise ValueError(
            f"video {name!r}: frame indices and scores must be 1-D, "
            f"got shapes {frame_indices.shape} and {scores.shape}"
        )
    if len(frame_indices) != len(scores):
        raise ValueError(
            f"video {name!r}: got {len(frame_indices)} frame indices but {len(scores)} scores, "
            "and each score needs exactly one frame index"
        )
    if len(frame_indices) == 0:
        return

    steps = np.diff(frame_indices)
    if (steps == 0).any():
        duplicates = np.unique(frame_indices[1:][steps == 0]).tolist()
        raise ValueError(f"video {name!r}: duplicate frame indices {duplicates[:10]}")
    if (steps < 0).any():
        raise ValueError(f"video {name!r}: frame indices must be sorted in increasing order")

    num_frames = len(labels)
    if frame_indices[0] < 0 or frame_indices[-1] >= num_frames:
        raise ValueError(
            f"video {name!r}: frame indices must be in [0, {num_frames - 1}] for a video of "
            f"{num_frames} labelled frames, got range [{frame_indices[0]}, {frame_indices[-1]}]"
        )


def _as_index_array(name: str, frame_indices) -> np.ndarray:
    array = np.asarray(frame_indices)
    if array.size and not np.issubdtype(array.dtype, np.integer):
        if not np.array_equal(array, np.round(array)):
            raise ValueError(f"video {name!r}: frame indices must be integers")
    return array.astype(np.int64)


def align_scores(
    video_scores: dict[str, tuple[np.ndarray, np.ndarray]],
    video_labels: dict[str, np.ndarray],
    unscored: str = "exclude",
) -> AlignedScores:
    """Pair each score with the label of its frame and apply the rule for unscored frames.

    `video_scores` maps a video name to (frame_indices, scores), and
    `video_labels` maps it to the full per-frame 0/1 label vector. Frame indices
    must be unique, sorted and inside the video. Every labelled video needs
    scores, and every scored video needs labels.

    Rules for frames without a score:
      - "exclude": the frame is left out and counted in `excluded_frames`.
      - "pad-first": each frame before the first scored frame of its video gets
        that first score and is counted in `padded_frames`. Other unscored
        frames, such as gaps left by a stride above 1 or frames after the last
        window, are still excluded and counted.

    A video without any score (shorter than one window) has all its frames
    excluded under both rules.
    """
    if unscored not in UNSCORED_RULES:
        raise ValueError(f"unknown unscored rule {unscored!r}; valid rules: {', '.join(UNSCORED_RULES)}")

    check_video_names(video_scores, video_labels)

    pieces: list[pd.DataFrame] = []
    excluded: dict[str, int] = {}
    padded: dict[str, int] = {}

    for name, labels in video_labels.items():
        frame_indices, scores = video_scores[name]
        frame_indices = _as_index_array(name, frame_indices)
        scores = np.asarray(scores, dtype=np.float64)
        labels = np.asarray(labels)
        _validate_video(name, frame_indices, scores, labels)

        num_padded = 0
        if unscored == "pad-first" and len(frame_indices) > 0:
            num_padded = int(frame_indices[0])
            frame_indices = np.concatenate([np.arange(num_padded, dtype=np.int64), frame_indices])
            scores = np.concatenate([np.full(num_padded, scores[0]), scores])

        if len(frame_indices) == 0:
            logger.warning("video %r has no scores, so all its %d frames are excluded", name, len(labels))

        excluded[name] = len(labels) - len(frame_indices)
        padded[name] = num_padded
        pieces.append(
            pd.DataFrame(
                {
                    "video": name,
                    "frame": frame_indices,
                    "score": scores,
                    "label": labels[frame_indices].astype(np.int64),
                }
            )
        )

    frames = _concat_tables(pieces)
    validate_score_table(frames)
    return AlignedScores(
        frames=frames,
        unscored=unscored,
        excluded_frames=excluded,
        padded_frames=padded,
        dropped_frames={name: 0 for name in video_labels},
    )


def _concat_tables(pieces: list[pd.DataFrame]) -> pd.DataFrame:
    if not pieces:
        return _empty_table()
    frames = pd.concat(pieces, ignore_index=True)
    return frames.astype({"video": object, "frame": np.int64, "score": np.float64, "label": np.int64})


def _empty_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "video": pd.Series(dtype=object),
            "frame": pd.Series(dtype=np.int64),
            "score": pd.Series(dtype=np.float64),
            "label": pd.Series(dtype=np.int64),
        }
    )


def restrict_to_common_frames(tables: dict[str, AlignedScores]) -> dict[str, AlignedScores]:
    """Keep only the (video, frame) pairs that every method scored.

    Methods with different window lengths score different frames: with the
    last frame scored, 6-frame windows leave 5 frames per video unscored and
    16-frame windows leave 15. Comparing them on the same frames needs this
    restriction. `tables` maps a method name to its aligned scores, and the
    result maps it to a copy whose `dropped_frames` counts the frames removed.
    A frame padded by the pad-first rule counts as scored.

    All tables must cover the same videos and agree on the label of every
    common frame.
    """
    if not tables:
        return {}

    methods = list(tables)
    reference_videos = set(tables[methods[0]].excluded_frames)
    for method in methods[1:]:
        videos = set(tables[method].excluded_frames)
        if videos != reference_videos:
            difference = sorted(videos.symmetric_difference(reference_videos))
            raise ValueError(
                f"methods {methods[0]!r} and {method!r} cover different videos (differing: {difference}). "
                "Align all methods against the same labels."
            )

    common = tables[methods[0]].frames[["video", "frame", "label"]]
    for method in methods[1:]:
        other = tables[method].frames[["video", "frame", "label"]]
        common = common.merge(other, on=["video", "frame"], suffixes=("", "_other"))
        mismatched = common["label"] != common["label_other"]
        if mismatched.any():
            videos = sorted(common.loc[mismatched, "video"].unique())
            raise ValueError(f"method {method!r} has other labels than {methods[0]!r} in videos {videos}")
        common = common.drop(columns="label_other")
    common_keys = common[["video", "frame"]]

    restricted: dict[str, AlignedScores] = {}
    for method, table in tables.items():
        # An inner merge keeps the row order of the left table.
        common_rows = table.frames.merge(common_keys, on=["video", "frame"], how="inner")
        before = table.frames["video"].value_counts()
        after = common_rows["video"].value_counts()

        dropped = {}
        for video in table.excluded_frames:
            previous = table.dropped_frames.get(video, 0)
            dropped[video] = previous + int(before.get(video, 0)) - int(after.get(video, 0))

        restricted[method] = AlignedScores(
            frames=common_rows,
            unscored=table.unscored,
            excluded_frames=dict(table.excluded_frames),
            padded_frames=dict(table.padded_frames),
            dropped_frames=dropped,
        )
        logger.info(
            "method %r: kept %d frames scored by all methods, dropped %d",
            method,
            len(common_rows),
            restricted[method].total_dropped_frames,
        )

    return restricted
