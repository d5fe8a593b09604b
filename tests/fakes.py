"""Small generated datasets in the real on-disk layouts, for tests that must not need real data.

UCSD Ped2, in both layouts that `datasets.ped2` reads:

    fake = write_ped2_frames(tmp_path / "ped2")    # training/frames/NN/000.jpg, testing/masks, ...
    fake = write_ped2_release(tmp_path / "ped2")   # UCSDped2/Train/Train001/001.tif, ...
    dataset = load_ped2(fake.root)

Every frame shows one bright square on a dark background. In every video
the square's top-left corner is at `square_start + t * square_step` on
frame t (0-based, x then y, in pixels), so flow tests know the true motion.
The part of the square outside the image is clipped.

Test videos have known anomalous frames, given as 1-based inclusive
`(start, end)` ranges per video. The pixel masks mark the square on those
frames, and `UCSDped2.m` and `ped2.mat` hold the same ranges unless
`official_ranges` or `mat_ranges` give others, which builds a copy whose
ground truths disagree on purpose. `FakePed2.expected_labels` returns the
labels each ground truth should give.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import scipy.io

Ranges = Sequence[tuple[int, int]]
"""1-based inclusive (start, end) frame ranges of one video."""

DEFAULT_ANOMALIES: tuple[Ranges, ...] = (((3, 7),), ((1, 4),))
"""Mask ranges for the default two test videos. The second starts at frame 1,
so a `mat_ranges` starting at 5 mimics the known `ped2.mat` difference."""


@dataclass(frozen=True)
class FakePed2:
    """What a generated Ped2 copy contains, for checking an adapter's output."""

    root: Path
    layout: str
    train_frames: tuple[int, ...]
    test_frames: tuple[int, ...]
    size: tuple[int, int]
    anomalies: tuple[tuple[tuple[int, int], ...], ...]
    official_ranges: tuple[tuple[tuple[int, int], ...], ...]
    mat_ranges: tuple[tuple[tuple[int, int], ...], ...]
    square_size: int
    square_start: tuple[int, int]
    square_step: tuple[int, int]

    @property
    def train_names(self) -> list[str]:
        return [f"Train{number:03d}" for number in range(1, len(self.train_frames) + 1)]

    @property
    def test_names(self) -> list[str]:
        return [f"Test{number:03d}" for number in range(1, len(self.test_frames) + 1)]

    def square_top_left(self, frame_index: int) -> tuple[int, int]:
        """Return the square's (x, y) top-left corner on 0-based frame `frame_index`."""
        return square_top_left(frame_index, self.square_start, self.square_step)

    def expected_labels(self, ground_truth: str) -> list[np.ndarray]:
        """Return the 0/1 labels per test video for "masks", "official" or "mat".

        Raises ValueError when that ground truth has a range past the end of
        a video or a different number of videos, because it then has no labels.
        """
        ranges = {"masks": self.anomalies, "official": self.official_ranges, "mat": self.mat_ranges}[ground_truth]
        if len(ranges) != len(self.test_frames):
            raise ValueError(f"{ground_truth} ranges cover {len(ranges)} videos, the copy has {len(self.test_frames)}")
        return [ranges_to_labels(video_ranges, count) for video_ranges, count in zip(ranges, self.test_frames)]


def square_top_left(frame_index: int, start: tuple[int, int], step: tuple[int, int]) -> tuple[int, int]:
    """Return the (x, y) top-left corner of the moving square on 0-based frame `frame_index`."""
    return start[0] + frame_index * step[0], start[1] + frame_index * step[1]


def ranges_to_labels(ranges: Ranges, num_frames: int) -> np.ndarray:
    """Turn 1-based inclusive ranges into a 0/1 int8 vector of `num_frames` frames."""
    labels = np.zeros(num_frames, dtype=np.int8)
    for start, end in ranges:
        if not 1 <= start <= end <= num_frames:
            raise ValueError(f"range ({start}, {end}) does not fit in {num_frames} frames")
        labels[start - 1 : end] = 1
    return labels


def write_ped2_frames(
    root: Path,
    *,
    train_frames: Sequence[int] = (12, 12),
    test_frames: Sequence[int] = (10, 8),
    size: tuple[int, int] = (48, 32),
    anomalies: Sequence[Ranges] = DEFAULT_ANOMALIES,
    official_ranges: Sequence[Ranges] | None = None,
    mat_ranges: Sequence[Ranges] | None = None,
    write_masks: bool = True,
    write_official: bool = True,
    write_mat: bool = True,
    mask_names: Sequence[str] = ("{:03d}.png", "frame{:03d}.png"),
    square_size: int = 8,
    square_start: tuple[int, int] = (4, 4),
    square_step: tuple[int, int] = (1, 0),
    square_value: int = 220,
    anomaly_value: int | None = None,
    background: int = 30,
) -> FakePed2:
    """Write a fake Ped2 in the JPEG-frame layout under `root` and describe it.

    Writes `training/frames/NN/000.jpg..` and `testing/frames/NN/000.jpg..`
    (3-channel JPEG, numbered from 000), masks `testing/masks/TestNNN_gt/`
    (PNG, numbered from 001, named after `mask_names` cycled per test video,
    as the real copy mixes `001.png` and `frame001.png`), `UCSDped2.m` and
    `ped2.mat`. `size` is (width, height) in pixels. `anomaly_value`, when
    set, draws the square with that gray level on anomalous test frames so a
    detector has something to find. `FakePed2.root` is `root`.
    """
    root = Path(root)
    spec = _Spec.build(
        train_frames, test_frames, size, anomalies, square_size, square_start, square_step,
        square_value, anomaly_value, background,
    )

    for index, count in enumerate(spec.train_frames, start=1):
        _write_frames(root / "training" / "frames" / f"{index:02d}", spec, count, None, "{:03d}.jpg", first=0)
    for index, count in enumerate(spec.test_frames, start=1):
        ranges = spec.anomalies[index - 1]
        _write_frames(root / "testing" / "frames" / f"{index:02d}", spec, count, ranges, "{:03d}.jpg", first=0)
        if write_masks:
            name = mask_names[(index - 1) % len(mask_names)]
            _write_masks(root / "testing" / "masks" / f"Test{index:03d}_gt", spec, count, ranges, name)

    return _finish(
        root, "frames", spec, official_ranges, mat_ranges,
        official_path=root / "UCSDped2.m" if write_official else None,
        mat_path=root / "ped2.mat" if write_mat else None,
    )


def write_ped2_release(
    root: Path,
    *,
    train_frames: Sequence[int] = (12, 12),
    test_frames: Sequence[int] = (10, 8),
    size: tuple[int, int] = (48, 32),
    anomalies: Sequence[Ranges] = DEFAULT_ANOMALIES,
    official_ranges: Sequence[Ranges] | None = None,
    mat_ranges: Sequence[Ranges] | None = None,
    write_masks: bool = True,
    write_official: bool = True,
    write_mat: bool = False,
    nested: bool = True,
    junk_files: bool = False,
    square_size: int = 8,
    square_start: tuple[int, int] = (4, 4),
    square_step: tuple[int, int] = (1, 0),
    square_value: int = 220,
    anomaly_value: int | None = None,
    background: int = 30,
) -> FakePed2:
    """Write a fake Ped2 in the official release layout under `root` and describe it.

    Writes `UCSDped2/Train/TrainNNN/001.tif..` and `UCSDped2/Test/TestNNN/001.tif..`
    (grayscale TIFF, numbered from 001), masks `UCSDped2/Test/TestNNN_gt/001.bmp..`
    and `UCSDped2/Test/UCSDped2.m`. With `nested=False` the `UCSDped2` level is
    left out, so `root` is the release folder itself. `junk_files` adds a
    `Thumbs.db` and a `._001.tif` resource fork to every video and mask folder.
    The release has no `ped2.mat`; `write_mat=True` puts one in `root`. Other
    options are those of `write_ped2_frames`.
    """
    root = Path(root)
    release = root / "UCSDped2" if nested else root
    spec = _Spec.build(
        train_frames, test_frames, size, anomalies, square_size, square_start, square_step,
        square_value, anomaly_value, background,
    )

    folders: list[Path] = []
    for index, count in enumerate(spec.train_frames, start=1):
        folders.append(release / "Train" / f"Train{index:03d}")
        _write_frames(folders[-1], spec, count, None, "{:03d}.tif", first=1)
    for index, count in enumerate(spec.test_frames, start=1):
        ranges = spec.anomalies[index - 1]
        folders.append(release / "Test" / f"Test{index:03d}")
        _write_frames(folders[-1], spec, count, ranges, "{:03d}.tif", first=1)
        if write_masks:
            folders.append(release / "Test" / f"Test{index:03d}_gt")
            _write_masks(folders[-1], spec, count, ranges, "{:03d}.bmp")

    if junk_files:
        for folder in folders:
            (folder / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0 not an image")
            (folder / "._001.tif").write_bytes(b"\x00\x05\x16\x07 resource fork")

    return _finish(
        root, "release", spec, official_ranges, mat_ranges,
        official_path=release / "Test" / "UCSDped2.m" if write_official else None,
        mat_path=root / "ped2.mat" if write_mat else None,
    )


def write_ucsd_matlab_ranges(path: Path, ranges: Sequence[Ranges]) -> None:
    """Write ranges in the format of UCSDped2.m, one `gt_frame` line per test video."""
    lines = ["TestVideoFile = {};"]
    for video_ranges in ranges:
        body = ", ".join(f"{start}:{end}" for start, end in video_ranges)
        lines.append(f"TestVideoFile{{end+1}}.gt_frame = [{body}];")
    Path(path).write_text("\n".join(lines) + "\n")


def write_mat_ranges(path: Path, ranges: Sequence[Ranges], variable: str = "gt") -> None:
    """Write ranges like ped2.mat: a 1xN cell of 2xK [start; end] arrays."""
    cell = np.empty((1, len(ranges)), dtype=object)
    for index, video_ranges in enumerate(ranges):
        cell[0, index] = np.array(video_ranges, dtype=np.float64).T.reshape(2, -1)
    scipy.io.savemat(str(path), {variable: cell})


# ---------------------------------------------------------------- internals


@dataclass(frozen=True)
class _Spec:
    train_frames: tuple[int, ...]
    test_frames: tuple[int, ...]
    size: tuple[int, int]
    anomalies: tuple[tuple[tuple[int, int], ...], ...]
    square_size: int
    square_start: tuple[int, int]
    square_step: tuple[int, int]
    square_value: int
    anomaly_value: int
    background: int

    @classmethod
    def build(
        cls, train_frames, test_frames, size, anomalies, square_size, square_start, square_step,
        square_value, anomaly_value, background,
    ) -> _Spec:
        anomalies = _freeze(anomalies)
        if len(anomalies) != len(test_frames):
            raise ValueError(f"anomalies give {len(anomalies)} videos but test_frames has {len(test_frames)}")
        for video_ranges, count in zip(anomalies, test_frames):
            ranges_to_labels(video_ranges, count)  # raises ValueError for a range past the end
        return cls(
            train_frames=tuple(train_frames),
            test_frames=tuple(test_frames),
            size=tuple(size),
            anomalies=anomalies,
            square_size=square_size,
            square_start=tuple(square_start),
            square_step=tuple(square_step),
            square_value=square_value,
            anomaly_value=square_value if anomaly_value is None else anomaly_value,
            background=background,
        )

    def square_slices(self, frame_index: int) -> tuple[slice, slice]:
        """Return the (rows, columns) of the square on a frame, clipped to the image."""
        x, y = square_top_left(frame_index, self.square_start, self.square_step)
        width, height = self.size
        rows = slice(min(max(y, 0), height), min(max(y + self.square_size, 0), height))
        columns = slice(min(max(x, 0), width), min(max(x + self.square_size, 0), width))
        return rows, columns


def _freeze(ranges: Sequence[Ranges]) -> tuple[tuple[tuple[int, int], ...], ...]:
    return tuple(tuple((int(start), int(end)) for start, end in video) for video in ranges)


def _write_frames(folder: Path, spec: _Spec, count: int, ranges: Ranges | None, name: str, first: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    anomalous = ranges_to_labels(ranges, count) if ranges is not None else np.zeros(count, dtype=np.int8)
    width, height = spec.size

    for t in range(count):
        image = np.full((height, width), spec.background, dtype=np.uint8)
        image[spec.square_slices(t)] = spec.anomaly_value if anomalous[t] else spec.square_value
        if name.endswith(".jpg"):
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)  # the real JPEGs are 3-channel
        _write_image(folder / name.format(first + t), image)


def _write_masks(folder: Path, spec: _Spec, count: int, ranges: Ranges, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    anomalous = ranges_to_labels(ranges, count)
    width, height = spec.size

    for t in range(count):
        mask = np.zeros((height, width), dtype=np.uint8)
        if anomalous[t]:
            mask[spec.square_slices(t)] = 255
            if not mask.any():
                raise ValueError(f"frame {t + 1} is anomalous but the square is outside the image, so its mask is empty")
        _write_image(folder / name.format(t + 1), mask)


def _write_image(path: Path, image: np.ndarray) -> None:
    if not cv2.imwrite(str(path), image):
        raise OSError(f"cv2.imwrite failed for {path}")


def _finish(
    root: Path,
    layout: str,
    spec: _Spec,
    official_ranges: Sequence[Ranges] | None,
    mat_ranges: Sequence[Ranges] | None,
    *,
    official_path: Path | None,
    mat_path: Path | None,
) -> FakePed2:
    """Write the range files and return the description of the copy."""
    official = spec.anomalies if official_ranges is None else _freeze(official_ranges)
    mat = spec.anomalies if mat_ranges is None else _freeze(mat_ranges)
    if official_path is not None:
        write_ucsd_matlab_ranges(official_path, official)
    if mat_path is not None:
        write_mat_ranges(mat_path, mat)

    return FakePed2(
        root=root,
        layout=layout,
        train_frames=spec.train_frames,
        test_frames=spec.test_frames,
        size=spec.size,
        anomalies=spec.anomalies,
        official_ranges=official,
        mat_ranges=mat,
        square_size=spec.square_size,
        square_start=spec.square_start,
        square_step=spec.square_step,
    )
