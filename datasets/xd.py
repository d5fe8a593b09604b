"""XD-Violence adapters (Wu et al., "Not only look, but also listen", ECCV 2020).

XD-Violence names every video after its labels: `..._label_A` is normal,
other codes are violent classes (B1 fighting, B2 shooting, B4 riot, B5
abuse, B6 car accident, G explosion). The official `annotations.txt` gives
each violent test video's frames as lines `<name> s1 e1 [s2 e2 ...]`:
0-based frame indices at 24 fps, each range END-EXCLUSIVE (`621 920` marks
frames 621 to 919). Some names in that file carry a stray `.mp4`, which is
removed. Labels are built from the real decoded frame count of each video.

- `xd`: the published layout, with `root` being `<data-root>/xd`:
  `annotations.txt`, a test list (`test-videos.txt` with lines
  `<name> <label code>`, or the official `list/rgb_test.list` of feature
  paths `.../<name>__<crop>.npy`), an optional training list (`rgb.list`
  or `train-videos.txt`), and the `.mp4` files anywhere under `root`.
  Training uses the normal (`label_A`) training videos only, because the
  methods here learn from normal video. `manifest=PATH` (a list in the same
  formats) keeps only the videos it names.
- `xd-subset`: the few real clips of `<data-root>/xd/videos`, complete test
  videos and test segments cut from them. Its numbers describe that subset
  and are never XD-Violence results.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from datasets import DATASETS
from datasets.base import Dataset, DataError, DatasetNotFoundError, Video

logger = logging.getLogger(__name__)

XD_URL = "https://roc-ng.github.io/XD-Violence/"

GROUND_TRUTH = "annotations"
"""The only ground truth read here: the frame ranges of the official annotations.txt."""

ANNOTATION_FPS = 24
NORMAL_CODE = "A"
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mkv", ".webm", ".mov"})

TEST_LISTS = ("test-videos.txt", "test.list", "rgb_test.list", "list/test-videos.txt", "list/rgb_test.list")
"""Test lists looked up under the dataset root, in this order."""
TRAIN_LISTS = ("train-videos.txt", "train.list", "rgb.list", "list/train-videos.txt", "list/rgb.list")
"""Optional training lists looked up under the dataset root, in this order."""

FrameRange = tuple[int, int]
"""0-based (start, end) frame range, end exclusive."""

_LABEL_MARK = "_label_"
# A whole line of annotations.txt: the name (which may contain spaces), then pairs of integers.
_ANNOTATION_LINE = re.compile(r"(?P<name>.*?\S)(?P<numbers>(?:\s+\d+)+)\s*")
# Optional ending of a list entry after the label code: a feature crop index and a file suffix.
_ENTRY_SUFFIX = re.compile(r"(?:__\d+)?(?:\.npy|\.mp4)?$", re.IGNORECASE)
# A test segment cut from a source video: `<source name>_<start>_<end>`, in source frames.
_SEGMENT_NAME = re.compile(r"(?P<source>.+_label_[^_\s]+)_(?P<start>\d+)_(?P<end>\d+)")


# ---------------------------------------------------------------- names, lists and annotations


def video_name(text: str) -> str:
    """Return an XD-Violence video name without surrounding spaces or a trailing `.mp4`."""
    name = text.strip()
    return name[: -len(".mp4")] if name.lower().endswith(".mp4") else name


def label_code(name: str) -> str:
    """Return the label code of a video name, e.g. `B2-0-0`, or `A` for a normal video."""
    index = name.rfind(_LABEL_MARK)
    if index < 0:
        raise DataError(f"video name {name!r} has no `{_LABEL_MARK}<code>` part, so it is not an XD-Violence name")
    return name[index + len(_LABEL_MARK):]


def is_normal(name: str) -> bool:
    return label_code(name) == NORMAL_CODE


def read_annotations(path: Path) -> dict[str, list[FrameRange]]:
    """Read the violent frame ranges of annotations.txt, keyed by video name.

    Each line is `<name> s1 e1 [s2 e2 ...]` with 0-based, end-exclusive frame
    indices at 24 fps. A stray `.mp4` after a name is removed. Raises DataError
    for a line without ranges, an odd number of indices, an empty range or a
    name given twice.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise DataError(f"{path}: cannot read the annotation file ({error})") from error

    annotations: dict[str, list[FrameRange]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _ANNOTATION_LINE.fullmatch(line)
        if match is None:
            raise DataError(
                f"{path}, line {number}: expected `<name> start end [start end ...]`, got {line.strip()!r}"
            )
        name = video_name(match.group("name"))
        values = [int(value) for value in match.group("numbers").split()]
        if len(values) % 2:
            raise DataError(f"{path}, line {number}: {len(values)} frame indices for {name!r}; ranges come in pairs")
        ranges = list(zip(values[0::2], values[1::2]))
        for start, end in ranges:
            if end <= start:
                raise DataError(
                    f"{path}, line {number}: empty range {start} {end} for {name!r}; ranges are "
                    "`start end` with end exclusive, so end must be greater than start"
                )
        if name in annotations:
            raise DataError(f"{path}, line {number}: {name!r} is annotated twice; keep one line per video")
        annotations[name] = ranges
    return annotations


def read_video_list(path: Path) -> list[str]:
    """Read the video names of a test, training or manifest list, in file order without repeats.

    Accepted entries, one per line:
      - `<name>` or `<name> <label code>`, as in test-videos.txt; a given
        label code must match the name's own.
      - feature or video paths such as `/any/dir/<name>__0.npy` or
        `<name>.mp4`, as in the official rgb_test.list, with the five crops
        of a video giving one name.
      - `<path>,<label>` rows of a CSV list, whose label column is ignored.
    Blank lines, lines starting with `#` and a first line without
    `_label_` (a header) are skipped.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise DataError(f"{path}: cannot read the video list ({error})") from error

    names: dict[str, None] = {}
    first_entry = True
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if _LABEL_MARK not in text:
            if first_entry:
                first_entry = False
                continue
            raise DataError(
                f"{path}, line {number}: {text!r} names no XD-Violence video (no `{_LABEL_MARK}` in it)"
            )
        first_entry = False
        names[_list_entry_name(text, path, number)] = None
    return list(names)


def _list_entry_name(text: str, path: Path, number: int) -> str:
    index = text.rfind(_LABEL_MARK)
    comma = text.find(",", index)
    check_label = comma < 0
    if comma >= 0:
        text = text[:comma]  # a CSV row: the label column is another vocabulary, so it is not checked

    # Video names never contain a slash, so only the last path component can be the name.
    base = re.split(r"[\\/]", text)[-1]
    index = base.rfind(_LABEL_MARK)
    head, parts = base[:index], base[index + len(_LABEL_MARK):].split()
    if not parts or len(parts) > 2:
        raise DataError(f"{path}, line {number}: expected `<name> [label code]` or a file path, got {text!r}")

    code = _ENTRY_SUFFIX.sub("", parts[0])
    if check_label and len(parts) == 2 and parts[1] != code:
        raise DataError(
            f"{path}, line {number}: label column {parts[1]!r} does not match the code {code!r} in the video name"
        )
    return f"{head}{_LABEL_MARK}{code}"


# ---------------------------------------------------------------- labels


def frame_labels_from_ranges(
    ranges: Sequence[FrameRange], num_frames: int, *, source: Path | str, video: str
) -> np.ndarray:
    """Build the 0/1 labels of a whole video of `num_frames` decoded frames from end-exclusive ranges.

    A range that ends past the last frame is clipped to it with a logged
    warning, because annotation ends can pass the last frame by a few frames
    (71 of the 500 official lines end after the published ground-truth
    vectors do). A range that starts at or past the end cannot belong to
    this video and raises DataError.
    """
    labels = np.zeros(num_frames, dtype=np.int8)
    for start, end in ranges:
        if start >= num_frames:
            raise DataError(
                f"{source}: violent range {start} {end} of video {video!r} starts at or past its end "
                f"({num_frames} decoded frames); check that the file belongs to these annotations"
            )
        if end > num_frames:
            logger.warning(
                "%s: violent range %d %d of video %r ends past its %d decoded frames; labelled up to the last frame",
                source, start, end, video, num_frames,
            )
        labels[start:min(end, num_frames)] = 1
    return labels


def segment_labels(ranges: Sequence[FrameRange], start: int, num_frames: int) -> np.ndarray:
    """Build the labels of a segment whose frame i is source frame `start + i`.

    Each range is shifted by -start and clipped to the segment's
    `num_frames` decoded frames. Parts of ranges outside the segment are
    dropped, because the segment is a cut of a longer video.
    """
    labels = np.zeros(num_frames, dtype=np.int8)
    for range_start, range_end in ranges:
        first = max(range_start - start, 0)
        last = min(range_end - start, num_frames)
        if first < last:
            labels[first:last] = 1
    return labels


def _whole_video_labels(ranges: tuple[FrameRange, ...], source: str, video: str, num_frames: int) -> np.ndarray:
    return frame_labels_from_ranges(ranges, num_frames, source=source, video=video)


def _segment_labels(
    ranges: tuple[FrameRange, ...], start: int, expected_frames: int | None, video: str, num_frames: int
) -> np.ndarray:
    if expected_frames is not None and num_frames != expected_frames:
        logger.warning(
            "segment %r decodes %d frames where its name gives %d; frame i is labelled as source frame %d + i",
            video, num_frames, expected_frames, start,
        )
    return segment_labels(ranges, start, num_frames)


def _normal_labels(num_frames: int) -> np.ndarray:
    return np.zeros(num_frames, dtype=np.int8)


# ---------------------------------------------------------------- the published layout


@DATASETS.register("xd")
def load_xd(root: Path, ground_truth: str | None = None, manifest: str | os.PathLike | None = None) -> Dataset:
    """Read XD-Violence from `root` in its published layout, for the `xd` protocol.

    Test videos come from the test list, training videos from the training
    list (or, without one, every other video file), normal ones only.
    `manifest` is a video list that selects a subset of both. Raises
    DatasetNotFoundError when annotations.txt, the test list or listed video
    files are missing, and DataError for invalid annotations or lists.
    """
    _check_ground_truth(ground_truth)
    root = Path(root)
    if not root.is_dir():
        raise DatasetNotFoundError(_xd_not_found(root, "the folder does not exist"))
    annotations_path = root / "annotations.txt"
    if not annotations_path.is_file():
        raise DatasetNotFoundError(_xd_not_found(root, "annotations.txt is missing"))
    test_list = _first_file(root, TEST_LISTS)
    if test_list is None:
        raise DatasetNotFoundError(_xd_not_found(root, f"no test list ({', '.join(TEST_LISTS)})"))

    annotations = read_annotations(annotations_path)
    files = _video_files(root)
    test_names = read_video_list(test_list)
    train_list = _first_file(root, TRAIN_LISTS)
    if train_list is not None:
        train_candidates = read_video_list(train_list)
    else:
        test_set = set(test_names)
        train_candidates = sorted(name for name in files if name not in test_set and _LABEL_MARK in name)
    train_names = [name for name in train_candidates if is_normal(name)]
    skipped_violent_train = len(train_candidates) - len(train_names)

    notes = {
        "source": f"XD-Violence (Wu et al., ECCV 2020), {XD_URL}",
        "annotations": f"{annotations_path}: 0-based frame ranges at {ANNOTATION_FPS} fps, end exclusive",
        "test_list": str(test_list),
        "train_list": str(train_list) if train_list is not None else "none: every video file not in the test list",
        "training_videos": f"normal (label_A) videos only; {skipped_violent_train} violent training videos skipped",
        "labels": "built from the decoded frame count; a range ending past the last frame is clipped with a "
                  "logged warning, one starting past it raises DataError",
    }
    if manifest is not None:
        test_names, train_names = _apply_manifest(Path(manifest), root, test_names, train_names)
        notes["manifest"] = f"{manifest}: {len(test_names)} test and {len(train_names)} training videos selected"

    _check_files(root, files, [*test_names, *train_names])
    missing_annotations = [name for name in test_names if not is_normal(name) and name not in annotations]
    if missing_annotations:
        raise DataError(
            f"{annotations_path}: no violent ranges for {len(missing_annotations)} violent test videos, e.g. "
            f"{missing_annotations[0]!r}; use the complete official annotations.txt"
        )

    train = [Video(name=name, split="train", video_path=files[name]) for name in train_names]
    test = [
        Video(name=name, split="test", video_path=files[name], frame_labels=_test_labels(name, annotations, annotations_path))
        for name in test_names
    ]
    if not train:
        raise DataError(f"no normal training video selected in {root}; the methods need normal video to train on")
    if not test:
        raise DataError(f"no test video selected in {root}")

    logger.info("xd: %d training and %d test videos from %s (test list %s)", len(train), len(test), root, test_list)
    return Dataset(name="xd", root=root, train=train, test=test, ground_truth=GROUND_TRUTH, notes=notes, protocol="xd")


def _test_labels(name: str, annotations: dict[str, list[FrameRange]], source: Path):
    if name in annotations:
        return functools.partial(_whole_video_labels, tuple(annotations[name]), str(source), name)
    return _normal_labels


def _apply_manifest(path: Path, root: Path, test_names: list[str], train_names: list[str]) -> tuple[list[str], list[str]]:
    path = path.expanduser()
    if not path.is_file() and not path.is_absolute() and (root / path).is_file():
        path = root / path
    if not path.is_file():
        raise DatasetNotFoundError(f"manifest {path} not found; pass the path of a video list")

    selected = read_video_list(path)
    known = set(test_names) | set(train_names)
    unknown = [name for name in selected if name not in known]
    if unknown:
        raise DataError(
            f"manifest {path}: {len(unknown)} names are neither test videos nor normal training videos, "
            f"e.g. {unknown[0]!r}"
        )
    chosen = set(selected)
    return [name for name in test_names if name in chosen], [name for name in train_names if name in chosen]


def _check_files(root: Path, files: dict[str, Path], names: list[str]) -> None:
    missing = [name for name in names if name not in files]
    if missing:
        raise DatasetNotFoundError(
            f"{len(missing)} listed XD-Violence videos have no file under {root}, e.g. {missing[0]!r}.mp4; "
            f"download them from {XD_URL} or select the videos present with manifest=PATH"
        )


def _video_files(root: Path) -> dict[str, Path]:
    """Map each video name to its file, from every video file under `root`."""
    files: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        if path.name.startswith(".") or path.suffix.lower() not in VIDEO_SUFFIXES or not path.is_file():
            continue
        if path.stem in files:
            raise DataError(f"{root}: video files {files[path.stem]} and {path} have the same name; remove one")
        files[path.stem] = path
    return files


def _first_file(root: Path, candidates: Sequence[str]) -> Path | None:
    return next((root / name for name in candidates if (root / name).is_file()), None)


def _check_ground_truth(ground_truth: str | None) -> None:
    if ground_truth is not None and ground_truth != GROUND_TRUTH:
        raise ValueError(f"unknown XD-Violence ground truth {ground_truth!r}; the only choice is {GROUND_TRUTH!r}")


def _xd_not_found(root: Path, reason: str) -> str:
    return (
        f"XD-Violence not found in {root}: {reason}. Expected {root}/annotations.txt (the official "
        f"frame ranges), a test list {root}/test-videos.txt (`<name> <label code>` lines) or "
        f"{root}/list/rgb_test.list, an optional training list {root}/list/rgb.list, and the videos "
        f"as {root}/<any folder>/<name>.mp4. XD-Violence is published at {XD_URL}"
    )


# ---------------------------------------------------------------- the real subset


@dataclass(frozen=True)
class _SubsetFile:
    """One file of the subset: a complete video, or a segment of source frames [start, end)."""

    name: str
    path: Path
    source_name: str
    start: int | None = None
    end: int | None = None


@DATASETS.register("xd-subset")
def load_xd_subset(
    root: Path,
    ground_truth: str | None = None,
    train_fraction: float = 0.5,
    train_pieces: int = 4,
    max_frames: int | None = None,
) -> Dataset:
    """Read the real XD-Violence clips in `root/videos` as a small dataset of its own.

    Files named `<name>.mp4` are complete test videos. Files named
    `<name>_<start>_<end>.mp4` are re-encoded segments of test video `<name>`
    that start at its frame `start` (24 fps frame indices), so a segment's
    labels are the annotation ranges of `<name>` shifted by -start and
    clipped to the segment's decoded frames.

    Normal videos are split by time: their first `train_fraction` of frames
    trains the model, cut into `train_pieces` consecutive training videos
    so that the runner can hold some out for validation, and the rest is
    one test video. Violent videos are test videos. Names of the parts end
    in `[start:end]`, their decoded frame range. `max_frames` keeps only the
    first frames of every video and part, for quick runs.
    """
    _check_ground_truth(ground_truth)
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be between 0 and 1 (exclusive), got {train_fraction}")
    if isinstance(train_pieces, bool) or not isinstance(train_pieces, int) or train_pieces < 1:
        raise ValueError(f"train_pieces must be a positive integer, got {train_pieces!r}")
    if max_frames is not None and (isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1):
        raise ValueError(f"max_frames must be a positive integer or None, got {max_frames!r}")

    root = Path(root)
    videos_dir = root / "videos"
    annotations_path = root / "annotations.txt"
    if not videos_dir.is_dir() or not annotations_path.is_file():
        raise DatasetNotFoundError(
            f"XD-Violence subset not found in {root}: expected {videos_dir}/<name>.mp4 or "
            f"{videos_dir}/<name>_<start>_<end>.mp4 and {annotations_path}. XD-Violence is published at {XD_URL}"
        )
    annotations = read_annotations(annotations_path)
    files = _subset_files(videos_dir)
    if not files:
        raise DatasetNotFoundError(f"XD-Violence subset not found: {videos_dir} contains no .mp4 file")
    _check_in_test_list(root, files)

    train: list[Video] = []
    test: list[Video] = []
    for item in files:
        if is_normal(item.source_name):
            pieces, rest = _split_normal(item, train_fraction, train_pieces, max_frames)
            train += pieces
            test.append(rest)
        else:
            test.append(_violent_video(item, annotations, annotations_path, max_frames))

    if not train:
        raise DataError(f"{videos_dir}: no normal (label_A) video, so there is nothing to train on")
    train.sort(key=lambda video: video.name)
    test.sort(key=lambda video: video.name)

    notes = {
        "subset": f"{len(files)} real XD-Violence test files in {videos_dir}; results describe this subset only "
                  "and are not XD-Violence results",
        "files": "; ".join(
            item.path.name if item.start is None else f"{item.path.name} (source frames {item.start} to {item.end})"
            for item in files
        ),
        "annotations": f"{annotations_path}: 0-based frame ranges at {ANNOTATION_FPS} fps, end exclusive; "
                       "a segment's ranges are shifted by -start and clipped to its decoded frames",
        "split": f"normal videos: first {train_fraction} of the frames in {train_pieces} training pieces, the rest "
                 "one test video; violent videos: test",
    }
    if max_frames is not None:
        notes["max_frames"] = f"every video and part cut to its first {max_frames} frames; names end in [start:end]"
    logger.info("xd-subset: %d training pieces and %d test videos from %s", len(train), len(test), videos_dir)
    return Dataset(name="xd-subset", root=root, train=train, test=test, ground_truth=GROUND_TRUTH,
                   notes=notes, protocol="xd")


load_xd_subset.data_folder = "xd"


def _subset_files(videos_dir: Path) -> list[_SubsetFile]:
    files = []
    for path in sorted(videos_dir.iterdir()):
        if path.name.startswith(".") or path.suffix.lower() != ".mp4" or not path.is_file():
            continue
        match = _SEGMENT_NAME.fullmatch(path.stem)
        if match is None:
            label_code(path.stem)  # raises DataError for a name that is not an XD-Violence name
            files.append(_SubsetFile(path.stem, path, path.stem))
            continue
        start, end = int(match.group("start")), int(match.group("end"))
        if end <= start:
            raise DataError(f"{path}: segment range {start} to {end} is empty; the name must end in _<start>_<end>")
        files.append(_SubsetFile(path.stem, path, match.group("source"), start, end))
    return files


def _check_in_test_list(root: Path, files: list[_SubsetFile]) -> None:
    test_list = _first_file(root, TEST_LISTS)
    if test_list is None:
        return
    test_names = set(read_video_list(test_list))
    outside = [item.path.name for item in files if item.source_name not in test_names]
    if outside:
        raise DataError(f"{test_list}: the sources of {outside} are not XD-Violence test videos")


def _violent_video(
    item: _SubsetFile, annotations: dict[str, list[FrameRange]], annotations_path: Path, max_frames: int | None
) -> Video:
    if item.source_name not in annotations:
        raise DataError(f"{annotations_path}: no violent ranges for {item.source_name!r}, the source of {item.path.name}")
    ranges = tuple(annotations[item.source_name])
    if max_frames is not None:
        # A cut video is labelled like a segment starting at its first frame, so ranges after the cut are dropped.
        start = item.start or 0
        expected = None if item.end is None else min(item.end - start, max_frames)
        labels = functools.partial(_segment_labels, ranges, start, expected, item.name)
        return Video(name=f"{item.name}[0:{max_frames}]", split="test", video_path=item.path,
                      frame_range=(0, max_frames), frame_labels=labels)
    if item.start is None:
        labels = functools.partial(_whole_video_labels, ranges, str(annotations_path), item.name)
    else:
        labels = functools.partial(_segment_labels, ranges, item.start, item.end - item.start, item.name)
    return Video(name=item.name, split="test", video_path=item.path, frame_labels=labels)


def _split_normal(
    item: _SubsetFile, train_fraction: float, train_pieces: int, max_frames: int | None
) -> tuple[list[Video], Video]:
    num_frames = count_frames(item.path)
    num_train = int(num_frames * train_fraction)
    if num_train < train_pieces or num_frames - num_train < 1:
        raise DataError(
            f"{item.path}: {num_frames} frames are too few to give {train_pieces} training pieces and a test part"
        )

    width = len(str(num_frames))
    bounds = np.linspace(0, num_train, train_pieces + 1).round().astype(int).tolist()

    def part(start: int, end: int, split: str) -> Video:
        if max_frames is not None:
            end = min(end, start + max_frames)
        name = f"{item.name}[{start:0{width}d}:{end:0{width}d}]"
        labels = _normal_labels if split == "test" else None
        return Video(name=name, split=split, video_path=item.path, frame_range=(start, end), frame_labels=labels)

    pieces = [part(start, end, "train") for start, end in zip(bounds[:-1], bounds[1:])]
    return pieces, part(num_train, num_frames, "test")


def count_frames(path: Path) -> int:
    """Count the frames OpenCV decodes from a video file, without converting them.

    Raises DataError when the file cannot be opened or contains no frame.
    """
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise DataError(f"OpenCV cannot open video file {path}; the file is damaged or its codec is not supported")
        count = 0
        while capture.grab():
            count += 1
    finally:
        capture.release()
    if count == 0:
        raise DataError(f"video file {path} contains no frame that OpenCV can decode")
    return count
