"""Frame-level ground truth readers: frame ranges, MATLAB files and pixel masks.

Ranges are 1-based and inclusive, as in the UCSD and Avenue releases:
`(61, 180)` marks frames 61 to 180, that is 0-based indices 60 to 179.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import scipy.io

from datasets.base import DataError

FrameRange = tuple[int, int]

# One test video's entry in a UCSD ground-truth file, for example
# `TestVideoFile{end+1}.gt_frame = [61:180];` or `TestVideoFile{3}.gt_frame = [1:10, 20:30];`.
_UCSD_ENTRY = re.compile(
    r"(\w+)\s*\{\s*([^}]*?)\s*\}\s*\.\s*gt_frame\s*=\s*\[([^\]]*)\]",
    re.DOTALL,
)
_RANGE_TOKEN = re.compile(r"(\d+)(?::(\d+))?")

# Threads for mask decoding. cv2.imread releases the GIL, so threads overlap
# file reads and PNG/BMP decoding without the cost of worker processes.
_MASK_READ_THREADS = 4


def labels_from_ranges(
    ranges: Sequence[FrameRange], num_frames: int, *, source: Path | str, video: str
) -> np.ndarray:
    """Build a 0/1 label vector of `num_frames` frames from 1-based inclusive ranges.

    Raises DataError, naming `source` and `video`, for a range that is empty,
    starts before frame 1 or ends past the last frame.
    """
    labels = np.zeros(num_frames, dtype=np.int8)
    for start, end in ranges:
        if start < 1 or end < start:
            raise DataError(
                f"{source}: invalid anomalous range [{start}:{end}] for video {video}; "
                "ranges must be 1-based with start <= end, so fix or replace this file"
            )
        if end > num_frames:
            raise DataError(
                f"{source}: anomalous range [{start}:{end}] for video {video} ends past its "
                f"last frame ({num_frames} frames); check that this file belongs to this copy "
                "of the dataset or choose another ground truth"
            )
        labels[start - 1 : end] = 1
    return labels


def read_ucsd_matlab_ranges(path: Path) -> list[list[FrameRange]]:
    """Read the per-video anomalous frame ranges of a UCSD ground-truth `.m` file.

    The file assigns one `gt_frame` vector per test video, written with MATLAB
    colon ranges (`[61:180]`, `[1:10, 20:30]`) or single frame numbers. Entries
    are indexed with `{end+1}` or an explicit 1-based `{N}`. Returns one list of
    1-based inclusive ranges per video, in video order.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise DataError(f"{path}: cannot read the ground-truth file ({error})") from error

    code = "\n".join(line.split("%", 1)[0] for line in text.splitlines())
    code = code.replace("...", " ")

    entries: dict[int, list[FrameRange]] = {}
    next_index = 1
    for match in _UCSD_ENTRY.finditer(code):
        index_text, body = match.group(2), match.group(3)
        if re.fullmatch(r"end\s*\+\s*1", index_text):
            index = next_index
        elif index_text.isdigit():
            index = int(index_text)
        else:
            raise DataError(f"{path}: unsupported cell index {{{index_text}}} in {match.group(0)!r}")
        if index in entries:
            raise DataError(f"{path}: test video {index} has more than one gt_frame entry")

        entries[index] = _parse_matlab_vector(body, path=path, entry=match.group(0))
        next_index = max(next_index, index + 1)

    if not entries:
        raise DataError(
            f"{path}: no `gt_frame = [...]` entries found; expected lines such as "
            "`TestVideoFile{end+1}.gt_frame = [61:180];`"
        )
    missing = sorted(set(range(1, max(entries) + 1)) - set(entries))
    if missing:
        raise DataError(f"{path}: no gt_frame entry for test videos {missing}")
    return [entries[index] for index in sorted(entries)]


def _parse_matlab_vector(body: str, *, path: Path, entry: str) -> list[FrameRange]:
    """Parse the inside of a MATLAB vector literal made of `a:b` ranges and integers."""
    body = re.sub(r"\s*:\s*", ":", body.strip())
    tokens = [token for token in re.split(r"[\s,;]+", body) if token]

    ranges: list[FrameRange] = []
    for token in tokens:
        match = _RANGE_TOKEN.fullmatch(token)
        if match is None:
            raise DataError(
                f"{path}: cannot parse {token!r} in {entry!r}; expected frame ranges "
                "such as [61:180] or [1:10, 20:30]"
            )
        start = int(match.group(1))
        end = int(match.group(2)) if match.group(2) is not None else start
        ranges.append((start, end))
    return ranges


def read_mat_ranges(path: Path, variable: str = "gt") -> list[list[FrameRange]]:
    """Read per-video ranges from a MATLAB `.mat` cell of 2xK [start; end] arrays.

    This is the format of the `ped2.mat` and `avenue.mat` files that circulate
    with the JPEG-frame copies: a 1xN cell, one entry per test video, each
    column a 1-based inclusive range.
    """
    try:
        contents = scipy.io.loadmat(str(path))
    except (OSError, ValueError, NotImplementedError) as error:
        # NotImplementedError: MATLAB v7.3 files are HDF5, which loadmat does not read.
        raise DataError(f"{path}: cannot read the MATLAB file ({error})") from error
    if variable not in contents:
        found = sorted(key for key in contents if not key.startswith("__"))
        raise DataError(f"{path}: variable {variable!r} not found; variables present: {found}")

    cell = np.asarray(contents[variable])
    if cell.dtype != object or cell.ndim != 2 or 1 not in cell.shape:
        raise DataError(
            f"{path}: variable {variable!r} must be a 1xN cell array, one entry per test "
            f"video, but has shape {cell.shape} and dtype {cell.dtype}"
        )

    videos: list[list[FrameRange]] = []
    for number, entry in enumerate(cell.ravel(), start=1):
        array = np.asarray(entry)
        if array.ndim == 1 and array.size == 2:
            array = array.reshape(2, 1)
        if array.size == 0:
            videos.append([])
            continue
        if array.ndim != 2 or array.shape[0] != 2:
            raise DataError(
                f"{path}: entry {number} of {variable!r} has shape {array.shape}; "
                "expected 2xK with rows [start; end]"
            )
        if not np.all(np.isfinite(array)) or not np.array_equal(array, np.round(array)):
            raise DataError(f"{path}: entry {number} of {variable!r} contains non-integer frame numbers")
        videos.append([(int(start), int(end)) for start, end in array.T])
    return videos


def read_mask_labels(mask_paths: Sequence[Path]) -> np.ndarray:
    """Label each frame 1 if its pixel mask has any non-zero pixel, else 0.

    Raises DataError naming the first mask file that OpenCV cannot decode.
    """

    def is_anomalous(path: Path) -> bool | None:
        mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        return None if mask is None else bool(np.any(mask))

    with ThreadPoolExecutor(max_workers=_MASK_READ_THREADS) as pool:
        results = list(pool.map(is_anomalous, mask_paths))

    for path, result in zip(mask_paths, results):
        if result is None:
            raise DataError(f"{path}: cannot read the mask image; replace the file or choose another ground truth")
    return np.asarray(results, dtype=np.int8)
