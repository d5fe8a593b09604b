"""UCSD Ped2 adapter (Mahadevan et al., "Anomaly detection in crowded scenes", CVPR 2010).

Two on-disk layouts are read, with `root` being `<data-root>/ped2`:

- JPEG frames, the layout of widely shared copies: `training/frames/NN/*.jpg`,
  `testing/frames/NN/*.jpg`, pixel masks in `testing/masks/TestNNN_gt/`,
  and `UCSDped2.m` or `ped2.mat` next to them.
- The official release: `UCSDped2/Train/TrainNNN/*.tif`,
  `UCSDped2/Test/TestNNN/*.tif`, masks in `UCSDped2/Test/TestNNN_gt/*.bmp`
  and `UCSDped2/Test/UCSDped2.m`. `root` may also be the `UCSDped2` folder
  itself or contain the extracted `UCSD_Anomaly_Dataset.v1p2/UCSDped2`.

Videos are named `TrainNNN` and `TestNNN` after their folder number in both
layouts (JPEG folder `testing/frames/03` is `Test003`), so results compare.

Three frame-level ground truths circulate, chosen by name:

- `masks`: a frame is anomalous iff its pixel mask has a non-zero pixel.
- `official`: the ranges of `UCSDped2.m`, shipped with the dataset.
- `mat`: variable `gt` of `ped2.mat`. NOTE: in circulated copies of this file
  six test videos start at frame 5 where `UCSDped2.m` starts at frame 1.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io

from datasets import DATASETS
from datasets.base import Dataset, DataError, DatasetNotFoundError, Video, fixed_labels
from datasets.ground_truth import (
    labels_from_ranges,
    read_mask_labels,
    read_mat_ranges,
    read_ucsd_matlab_ranges,
)

logger = logging.getLogger(__name__)

PED2_URL = "http://www.svcl.ucsd.edu/projects/anomaly/dataset.htm"

GROUND_TRUTHS = ("masks", "official", "mat")
"""Ground-truth names, in the order tried when none is requested."""

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"})
# Video files found where Ped2 frame folders are expected show that the folder contains another dataset.
_VIDEO_SUFFIXES = frozenset({".avi", ".mp4", ".mpg", ".mpeg", ".mov", ".mkv", ".webm", ".m4v"})

_TRAIN_DIR = re.compile(r"(?:Train)?(\d+)", re.IGNORECASE)
_TEST_DIR = re.compile(r"(?:Test)?(\d+)", re.IGNORECASE)
_MASK_DIR = re.compile(r"(?:Test)?(\d+)_gt", re.IGNORECASE)


@dataclass(frozen=True)
class _Layout:
    """Locations of the parts of one Ped2 copy, with folders keyed by video number."""

    description: str
    train_dirs: dict[int, Path]
    test_dirs: dict[int, Path]
    masks_dir: Path
    mask_dirs: dict[int, Path]
    matlab_file: Path | None
    mat_file: Path | None


@DATASETS.register("ped2")
def load_ped2(root: Path, ground_truth: str | None = None) -> Dataset:
    """Read UCSD Ped2 from `root` in either layout, with one of `GROUND_TRUTHS`.

    Without `ground_truth`, the masks are used when every test video has
    them, else `UCSDped2.m`, else `ped2.mat`. Raises DatasetNotFoundError when
    no Ped2 layout is found or the requested ground truth is missing, and
    DataError when files exist but disagree with the frames.
    """
    if ground_truth is not None and ground_truth not in GROUND_TRUTHS:
        raise ValueError(f"unknown Ped2 ground truth {ground_truth!r}; valid choices: {', '.join(GROUND_TRUTHS)}")

    root = Path(root)
    layout = _find_layout(root)

    train = [
        Video(name=f"Train{number:03d}", split="train", frame_paths=_frame_files(folder))
        for number, folder in sorted(layout.train_dirs.items())
    ]
    test_frames = {number: _frame_files(folder) for number, folder in sorted(layout.test_dirs.items())}
    if not train:
        raise DatasetNotFoundError(_not_found_message(root, f"{layout.description} has no training video folders"))
    if not test_frames:
        raise DatasetNotFoundError(_not_found_message(root, f"{layout.description} has no test video folders"))

    source = ground_truth or _default_ground_truth(layout, test_frames)
    labels, source_note = _build_labels(source, layout, test_frames)

    test = [
        Video(name=f"Test{number:03d}", split="test", frame_paths=frames, frame_labels=fixed_labels(labels[number]))
        for number, frames in test_frames.items()
    ]
    logger.info(
        "ped2: %d training and %d test videos from %s, ground truth %r (%s)",
        len(train), len(test), layout.description, source, source_note,
    )
    notes = {
        "layout": layout.description,
        "video_names": "TrainNNN and TestNNN, NNN being the video folder number",
        "ground_truth": source_note,
    }
    return Dataset(name="ped2", root=root, train=train, test=test, ground_truth=source, notes=notes)


# ---------------------------------------------------------------- layouts


def _find_layout(root: Path) -> _Layout:
    """Detect which layout `root` contains, preferring JPEG frames when both exist."""
    if not root.is_dir():
        raise DatasetNotFoundError(_not_found_message(root, "the folder does not exist"))

    frames = _frames_layout(root)
    release = _release_layout(root)
    if frames is not None and release is not None:
        logger.warning(
            "ped2: %s contains both the JPEG-frame layout and the official release; reading the JPEG frames",
            root,
        )
        return frames
    if frames is not None:
        return frames
    if release is not None:
        return release

    entries = sorted(entry.name for entry in root.iterdir() if not entry.name.startswith("."))
    listing = ", ".join(entries[:8]) + (", ..." if len(entries) > 8 else "")
    reason = f"it contains {listing}" if entries else "the folder is empty"
    num_videos = sum(1 for name in entries if Path(name).suffix.lower() in _VIDEO_SUFFIXES)
    if num_videos:
        reason += (
            f", including {num_videos} video files, but Ped2 is read from folders of image frames, "
            "so this folder probably holds another dataset"
        )
    raise DatasetNotFoundError(_not_found_message(root, reason))


def _frames_layout(root: Path) -> _Layout | None:
    train_root = root / "training" / "frames"
    test_root = root / "testing" / "frames"
    if not train_root.is_dir() and not test_root.is_dir():
        return None
    for folder in (train_root, test_root):
        if not folder.is_dir():
            raise DatasetNotFoundError(_not_found_message(root, f"{folder} is missing"))

    masks_dir = root / "testing" / "masks"
    mask_dirs = _numbered_dirs(masks_dir, {"mask": _MASK_DIR})["mask"] if masks_dir.is_dir() else {}
    return _Layout(
        description=f"JPEG frames in {train_root} and {test_root}",
        train_dirs=_numbered_dirs(train_root, {"video": _TRAIN_DIR})["video"],
        test_dirs=_numbered_dirs(test_root, {"video": _TEST_DIR})["video"],
        masks_dir=masks_dir,
        mask_dirs=mask_dirs,
        matlab_file=_first_file(root / "UCSDped2.m", root / "testing" / "UCSDped2.m"),
        mat_file=_first_file(root / "ped2.mat"),
    )


def _release_layout(root: Path) -> _Layout | None:
    release = _release_folder(root)
    if release is None:
        return None
    for folder in (release / "Train", release / "Test"):
        if not folder.is_dir():
            raise DatasetNotFoundError(_not_found_message(root, f"{folder} is missing"))

    test_dirs = _numbered_dirs(release / "Test", {"video": _TEST_DIR, "mask": _MASK_DIR})
    return _Layout(
        description=f"official release in {release}",
        train_dirs=_numbered_dirs(release / "Train", {"video": _TRAIN_DIR})["video"],
        test_dirs=test_dirs["video"],
        masks_dir=release / "Test",
        mask_dirs=test_dirs["mask"],
        matlab_file=_first_file(release / "Test" / "UCSDped2.m", release / "UCSDped2.m", root / "UCSDped2.m"),
        mat_file=_first_file(root / "ped2.mat", release / "ped2.mat"),
    )


def _release_folder(root: Path) -> Path | None:
    """Return the `UCSDped2` folder of an official release under `root`, if any."""
    for candidate in (root / "UCSDped2", root / "UCSD_Anomaly_Dataset.v1p2" / "UCSDped2"):
        if candidate.is_dir():
            return candidate

    # `root` itself may be the release folder. Ped1 has the same Train/Test
    # structure, so require its ground-truth file or its name to say Ped2.
    has_splits = (root / "Train").is_dir() or (root / "Test").is_dir()
    named_ped2 = root.resolve().name.lower() in ("ucsdped2", "ped2")
    if has_splits and (named_ped2 or (root / "Test" / "UCSDped2.m").is_file()):
        return root
    return None


def _numbered_dirs(folder: Path, patterns: dict[str, re.Pattern[str]]) -> dict[str, dict[int, Path]]:
    """Sort the subfolders of `folder` into numbered groups by the first pattern they match.

    Hidden folders and `__MACOSX` are skipped silently, other unmatched names
    with a warning. Two folders with the same number in one group raise DataError.
    """
    groups: dict[str, dict[int, Path]] = {kind: {} for kind in patterns}
    for entry in sorted(folder.iterdir()):
        if not entry.is_dir() or entry.name.startswith((".", "_")):
            continue
        for kind, pattern in patterns.items():
            match = pattern.fullmatch(entry.name)
            if match is None:
                continue
            number = int(match.group(1))
            if number in groups[kind]:
                raise DataError(
                    f"{folder}: folders {groups[kind][number].name} and {entry.name} both give "
                    f"video number {number}; remove one of them"
                )
            groups[kind][number] = entry
            break
        else:
            logger.warning("ped2: ignoring folder %s, which is not named like a Ped2 video", entry)
    return groups


def _frame_files(folder: Path) -> tuple[Path, ...]:
    """List the image files of one video folder in frame-number order.

    Frame numbers are read from the last digit group of each name, so
    `001.tif`, `frame001.png` and `1.jpg` all sort numerically. Non-image files
    and `._` resource forks are ignored. Raises DataError for an empty folder,
    a name without a number, a repeated number or a gap in the numbering.
    """
    numbered: dict[int, Path] = {}
    for path in folder.iterdir():
        if path.name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
            continue
        digits = re.findall(r"\d+", path.stem)
        if not digits:
            raise DataError(f"{path}: image name has no frame number; Ped2 frames are numbered like 001.tif")
        number = int(digits[-1])
        if number in numbered:
            raise DataError(f"{folder}: {numbered[number].name} and {path.name} have the same frame number {number}")
        numbered[number] = path

    if not numbered:
        raise DataError(f"{folder}: no image files found (expected .jpg, .png, .tif or .bmp frames)")
    first, last = min(numbered), max(numbered)
    missing = sorted(set(range(first, last + 1)) - set(numbered))
    if missing:
        raise DataError(f"{folder}: frame numbers {first}..{last} have gaps, missing {missing[:10]}")
    return tuple(numbered[number] for number in sorted(numbered))


def _first_file(*candidates: Path) -> Path | None:
    return next((path for path in candidates if path.is_file()), None)


def _not_found_message(root: Path, reason: str) -> str:
    return (
        f"UCSD Ped2 not found in {root}: {reason}. Expected one of two layouts:\n"
        f"  JPEG frames: {root}/training/frames/01/000.jpg, {root}/testing/frames/01/000.jpg, "
        f"masks {root}/testing/masks/Test001_gt/001.png, ground truth {root}/UCSDped2.m or {root}/ped2.mat\n"
        f"  official release: {root}/UCSDped2/Train/Train001/001.tif, {root}/UCSDped2/Test/Test001/001.tif, "
        f"masks {root}/UCSDped2/Test/Test001_gt/001.bmp, ground truth {root}/UCSDped2/Test/UCSDped2.m\n"
        f"Ped2 is published by the UCSD Statistical Visual Computing Lab at {PED2_URL}"
    )


# ---------------------------------------------------------------- ground truth


def _default_ground_truth(layout: _Layout, test_frames: dict[int, tuple[Path, ...]]) -> str:
    missing_masks = sorted(set(test_frames) - set(layout.mask_dirs))
    if not missing_masks:
        return "masks"
    if layout.mask_dirs:
        logger.warning(
            "ped2: no masks in %s for test videos %s; using frame ranges instead",
            layout.masks_dir, missing_masks,
        )
    if layout.matlab_file is not None:
        return "official"
    if layout.mat_file is not None:
        return "mat"
    raise DatasetNotFoundError(
        f"no Ped2 ground truth found for {layout.description}: expected masks in "
        f"{layout.masks_dir}/TestNNN_gt, a UCSDped2.m or a ped2.mat; Ped2 is published at {PED2_URL}"
    )


def _build_labels(
    source: str, layout: _Layout, test_frames: dict[int, tuple[Path, ...]]
) -> tuple[dict[int, np.ndarray], str]:
    """Return 0/1 labels per test video number and a note naming the file they come from."""
    if source == "masks":
        return _mask_labels(layout, test_frames), f"pixel masks in {layout.masks_dir}/TestNNN_gt"

    path = layout.matlab_file if source == "official" else layout.mat_file
    if path is None:
        expected = "UCSDped2.m" if source == "official" else "ped2.mat"
        raise DatasetNotFoundError(
            f"ground truth {source!r} requested but no {expected} found for {layout.description}; "
            f"choose one of {', '.join(GROUND_TRUTHS)} that exists"
        )
    try:
        ranges = read_ucsd_matlab_ranges(path) if source == "official" else read_mat_ranges(path, "gt")
    except scipy.io.matlab.MatReadError as error:
        # NOTE: read_mat_ranges lets this through: scipy 1.17 raises it, an Exception but no ValueError,
        # for an empty or cut-off .mat file.
        raise DataError(
            f"{path}: cannot read the MATLAB file ({error}); restore it from the dataset archive "
            "or choose another ground truth"
        ) from error

    numbers = sorted(test_frames)
    if len(ranges) != len(numbers):
        raise DataError(
            f"{path}: ground truth for {len(ranges)} test videos but {len(numbers)} found "
            f"({_video_list(numbers)}); use the file that belongs to this copy of Ped2"
        )
    if numbers != list(range(1, len(numbers) + 1)):
        raise DataError(
            f"{path}: entries map to Test001..Test{len(numbers):03d} in order, but the test videos "
            f"are {_video_list(numbers)}; restore the missing video folders"
        )

    labels = {
        number: labels_from_ranges(video_ranges, len(test_frames[number]), source=path, video=f"Test{number:03d}")
        for number, video_ranges in zip(numbers, ranges)
    }
    note = f"frame ranges of {path}" if source == "official" else f"frame ranges of {path}, variable gt"
    return labels, note


def _mask_labels(layout: _Layout, test_frames: dict[int, tuple[Path, ...]]) -> dict[int, np.ndarray]:
    missing = sorted(set(test_frames) - set(layout.mask_dirs))
    if missing and not layout.mask_dirs:
        raise DatasetNotFoundError(
            f"ground truth 'masks' requested but {layout.masks_dir} has no TestNNN_gt folders; "
            "choose 'official' or 'mat' instead"
        )
    if missing:
        raise DataError(
            f"{layout.masks_dir}: no mask folder for test videos {_video_list(missing)}; "
            "restore those folders or choose 'official' or 'mat'"
        )
    extra = sorted(set(layout.mask_dirs) - set(test_frames))
    if extra:
        raise DataError(
            f"{layout.masks_dir}: mask folders for test videos {_video_list(extra)}, which have no frames; "
            "restore those videos or remove the extra mask folders"
        )

    mask_files = {number: _frame_files(layout.mask_dirs[number]) for number in test_frames}
    for number, frames in test_frames.items():
        if len(mask_files[number]) != len(frames):
            raise DataError(
                f"{layout.mask_dirs[number]}: video Test{number:03d} has {len(frames)} frames but "
                f"{len(mask_files[number])} mask files; restore the missing files or choose 'official' or 'mat'"
            )

    # Decode every mask in one call so the reader's threads stay busy across videos.
    all_paths = [path for number in test_frames for path in mask_files[number]]
    all_labels = read_mask_labels(all_paths)
    labels, offset = {}, 0
    for number in test_frames:
        count = len(mask_files[number])
        labels[number] = all_labels[offset : offset + count]
        offset += count
    return labels


def _video_list(numbers: list[int]) -> str:
    return ", ".join(f"Test{number:03d}" for number in numbers)
