"""Types returned by dataset adapters: videos, their frames or files, and their labels."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

DATA_ROOT_ENV = "VADBENCH_DATA_ROOT"


class DatasetNotFoundError(FileNotFoundError):
    """Raised when a dataset is missing or not in a layout the adapter reads."""


class DataError(ValueError):
    """Raised when dataset files exist but are invalid (bad ground truth, unreadable frames)."""


def resolve_data_root(data_root: str | os.PathLike | None) -> Path:
    """Return the data root from the argument or from VADBENCH_DATA_ROOT."""
    value = data_root if data_root is not None else os.environ.get(DATA_ROOT_ENV)
    if not value:
        raise DatasetNotFoundError(
            f"no data root given: pass --data-root DIR or set {DATA_ROOT_ENV}=DIR, "
            "where DIR contains one folder per dataset (for example DIR/ped2)"
        )
    root = Path(value).expanduser()
    if not root.is_dir():
        raise DatasetNotFoundError(f"data root {root} is not a directory")
    return root


@dataclass(frozen=True)
class Video:
    """One video of a dataset split.

    Exactly one of `frame_paths` (a folder of images, in temporal order) and
    `video_path` (a container file decoded with OpenCV) is set.

    `frame_labels` maps the decoded frame count to a per-frame 0/1 vector
    (1 = anomalous). Adapters whose ground truth is given as frame ranges
    build it from the real count, so labels never rely on a count from
    metadata. It is None for training videos. `clip_label` is the single
    label of clip-level datasets, None elsewhere.

    `frame_range` = (start, end) restricts the video to the decoded frames
    start <= i < end (0-based, end exclusive) of its file or image folder, for
    datasets that cut several videos out of one file, and `frame_labels` then
    receives the number of frames decoded inside the range. None keeps every frame.
    """

    name: str
    split: str
    frame_paths: tuple[Path, ...] | None = None
    video_path: Path | None = None
    frame_labels: Callable[[int], np.ndarray] | None = field(default=None, compare=False)
    clip_label: int | None = None
    frame_range: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if (self.frame_paths is None) == (self.video_path is None):
            raise ValueError(f"video {self.name!r}: set exactly one of frame_paths and video_path")
        if self.split not in ("train", "test"):
            raise ValueError(f"video {self.name!r}: split must be 'train' or 'test', got {self.split!r}")
        if self.frame_range is not None:
            start, end = self.frame_range
            if not 0 <= start < end:
                raise ValueError(
                    f"video {self.name!r}: frame_range must be (start, end) with 0 <= start < end, "
                    f"got {self.frame_range!r}"
                )

    @property
    def source_files(self) -> tuple[Path, ...]:
        """Files whose content defines this video (used for fingerprints)."""
        return self.frame_paths if self.frame_paths is not None else (self.video_path,)


def fixed_labels(labels: np.ndarray) -> Callable[[int], np.ndarray]:
    """Wrap a per-frame label vector whose length must equal the decoded frame count."""
    labels = np.asarray(labels, dtype=np.int8)

    def build(num_frames: int) -> np.ndarray:
        if num_frames != len(labels):
            raise DataError(
                f"ground truth has {len(labels)} frames but the video has {num_frames}; "
                "check that the ground truth matches this copy of the dataset"
            )
        return labels.copy()

    return build


@dataclass
class Dataset:
    """A dataset as read by an adapter: training and test videos plus provenance."""

    name: str
    root: Path
    train: list[Video]
    test: list[Video]
    ground_truth: str
    notes: dict[str, str] = field(default_factory=dict)
    # Registered protocol that evaluates this dataset unless the run names another.
    protocol: str = "frame"
    # Normal training videos held out for model selection, calibration and the fixed threshold,
    # unless the run sets --validation-videos.
    validation_videos: int = 2

    @property
    def videos(self) -> list[Video]:
        return [*self.train, *self.test]
