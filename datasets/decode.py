"""Stream RGB frames out of image folders and video files, and resize them."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from datasets.base import DataError, Video

logger = logging.getLogger(__name__)


def iter_frames(video: Video) -> Iterator[np.ndarray]:
    """Yield the frames of `video` in temporal order as RGB uint8 arrays of shape HxWx3.

    Frames are read one at a time, so memory does not grow with the video
    length. Grayscale images and frames become 3-channel, 16-bit images are
    reduced to 8 bits and an alpha channel is dropped (OpenCV's IMREAD_COLOR).
    Raises DataError naming the file when a frame cannot be read or is a
    truncated JPEG (OpenCV would fill its missing rows with gray), or when the
    frames of an image folder differ in size. It also raises DataError when a
    video file is empty, cannot be opened or yields no frame. A video file that
    stops before the frame count of its header yields the frames it has, with
    a logged warning.

    With `video.frame_range` = (start, end), only frames start <= i < end are
    yielded. Frames before start are still decoded (no seeking), because
    seeking is not frame-exact for every codec. A file that ends inside the
    range yields the frames it has, with a logged warning, and one that ends
    at or before start raises DataError.
    """
    if video.frame_paths is not None:
        paths = video.frame_paths
        if video.frame_range is not None:
            paths = _frame_range_paths(video.name, paths, video.frame_range)
        yield from _iter_image_folder(video.name, paths)
    else:
        yield from _iter_container(video.name, video.video_path, video.frame_range)


def estimate_frame_count(video: Video) -> int:
    """Return the frame count of an image folder, or the count a video file's header reports.

    The header count of a container can be wrong or 0, so callers use it only
    as a size hint and take the real count from `iter_frames`.
    """
    if video.frame_paths is not None:
        count = len(video.frame_paths)
    else:
        capture = cv2.VideoCapture(str(video.video_path))
        try:
            count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
        finally:
            capture.release()
        count = max(count, 0)

    if video.frame_range is None:
        return count
    start, end = video.frame_range
    if count == 0:
        return end - start
    return max(min(count, end) - start, 0)


def resize_square(frame: np.ndarray, size: int) -> np.ndarray:
    """Resize a frame to size x size pixels with area interpolation, ignoring its aspect ratio."""
    if frame.shape[0] == size and frame.shape[1] == size:
        return frame
    return cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA)


def resize_max_side(frame: np.ndarray, max_side: int | None) -> np.ndarray:
    """Downscale a frame so that its longer side is at most `max_side` pixels, keeping the aspect ratio.

    Frames that already fit, and any frame when `max_side` is None, are
    returned unchanged: this function never upscales.
    """
    height, width = frame.shape[:2]
    if max_side is None or max(height, width) <= max_side:
        return frame

    scale = max_side / max(height, width)
    new_width = max(1, round(width * scale))
    new_height = max(1, round(height * scale))
    return cv2.resize(frame, (new_width, new_height), interpolation=cv2.INTER_AREA)


def _to_rgb(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def _iter_image_folder(name: str, paths: tuple[Path, ...]) -> Iterator[np.ndarray]:
    if not paths:
        raise DataError(f"video {name!r} has no frame files; check the dataset layout")

    first_shape = None
    for path in paths:
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if frame is None:
            raise DataError(
                f"video {name!r}: cannot read frame {path}: the file is missing, empty or not "
                "an image format OpenCV decodes; restore it from the original dataset archive"
            )
        if _is_truncated_jpeg(path):
            raise DataError(
                f"video {name!r}: frame {path} is a truncated JPEG (no end-of-image marker after its image "
                "data); restore it from the original dataset archive"
            )

        if first_shape is None:
            first_shape = frame.shape
        elif frame.shape != first_shape:
            raise DataError(
                f"video {name!r}: frame {path} is {frame.shape[1]}x{frame.shape[0]} but the first "
                f"frame is {first_shape[1]}x{first_shape[0]}; all frames of a video must have one size"
            )
        yield _to_rgb(frame)


def _is_truncated_jpeg(path: Path) -> bool:
    """Return True for a JPEG file whose last scan has no end-of-image marker (FFD9) after it.

    libjpeg decodes a cut-off JPEG with a warning only, so this is the check
    that catches it. Inside entropy-coded data a 0xFF byte is followed by 0x00
    or a restart marker, so FFD9 after the last start-of-scan marker (FFDA)
    can only be the real end of the image. Bytes after FFD9 are allowed. Other
    formats return False: OpenCV 5.1 already rejects truncated PNG, TIFF and BMP files.
    """
    with open(path, "rb") as file:
        if file.read(2) != b"\xff\xd8":
            return False
        file.seek(-2, os.SEEK_END)
        if file.read(2) == b"\xff\xd9":
            return False
        file.seek(0)
        data = file.read()
    return data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda")


def _frame_range_paths(name: str, paths: tuple[Path, ...], frame_range: tuple[int, int]) -> tuple[Path, ...]:
    start, end = frame_range
    if start >= len(paths):
        raise DataError(
            f"video {name!r}: frame range [{start}, {end}) starts at or past the end of its {len(paths)} frame files"
        )
    if end > len(paths):
        logger.warning("video %r: frame range [%d, %d) ends past the last of its %d frame files",
                       name, start, end, len(paths))
    return paths[start:end]


def _iter_container(name: str, path: Path, frame_range: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
    if not path.is_file():
        raise DataError(f"video {name!r}: video file {path} not found")
    if path.stat().st_size == 0:
        raise DataError(f"video {name!r}: video file {path} is empty (0 bytes); restore it from the original dataset")

    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise DataError(
                f"video {name!r}: OpenCV cannot open video file {path}; the file is damaged or its "
                "codec is not supported by this OpenCV build (check cv2.getBuildInformation())"
            )
        reported = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        start, end = frame_range if frame_range is not None else (0, None)

        # grab() decodes without converting the frame, so skipped frames cost less than read().
        skipped = 0
        while skipped < start and capture.grab():
            skipped += 1
        if skipped < start:
            raise DataError(_range_past_end_message(name, path, frame_range, skipped))

        count = 0
        while end is None or start + count < end:
            ok, frame = capture.read()
            if not ok:
                break
            count += 1
            yield _to_rgb(frame)
    finally:
        capture.release()

    if count == 0 and frame_range is not None:
        raise DataError(_range_past_end_message(name, path, frame_range, start))
    if count == 0:
        raise DataError(
            f"video {name!r}: video file {path} opened but yielded no frame; the file is damaged, "
            "so restore it from the original dataset"
        )
    if end is not None:
        if start + count < end:
            logger.warning("video %r: frame range [%d, %d) ends past the end of %s, which has %d frames",
                           name, start, end, path, start + count)
        return
    if reported > count:
        # Header counts are estimates for some containers, so a shortfall is logged and not raised.
        logger.warning("video %r: %s decoded %d frames but its header reports %d; if the file is truncated "
                       "or damaged, restore it from the original dataset", name, path, count, reported)


def _range_past_end_message(name: str, path: Path, frame_range: tuple[int, int], num_frames: int) -> str:
    start, end = frame_range
    return (
        f"video {name!r}: frame range [{start}, {end}) starts at or past the end of {path}, which has "
        f"{num_frames} frames; check the range against this copy of the file"
    )
