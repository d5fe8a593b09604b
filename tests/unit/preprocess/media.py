"""Small generated videos for the preprocessing tests: image folders, .mp4 files and datasets."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from datasets.base import Dataset, Video, fixed_labels

SQUARE_SIDE = 32
SQUARE_ORIGIN = (20, 16)  # (x, y) of the square's top-left corner in frame 0


def moving_square_frames(
    num_frames: int,
    height: int = 120,
    width: int = 160,
    step: tuple[int, int] = (3, 2),
    seed: int = 0,
) -> list[np.ndarray]:
    """Return RGB uint8 frames of a bright textured square moving `step` = (dx, dy) pixels per frame.

    The static background is dim, smooth noise, and the square carries its
    own bright texture, so flow methods can match points inside it.
    """
    rng = np.random.default_rng(seed)
    background = cv2.GaussianBlur(rng.uniform(0, 255, (height, width)).astype(np.float32), (0, 0), 3)
    background = cv2.normalize(background, None, 30, 110, cv2.NORM_MINMAX)
    texture = cv2.GaussianBlur(rng.uniform(0, 255, (SQUARE_SIDE, SQUARE_SIDE)).astype(np.float32), (0, 0), 1.5)
    texture = cv2.normalize(texture, None, 170, 255, cv2.NORM_MINMAX)

    frames = []
    for t in range(num_frames):
        image = background.copy()
        x0 = SQUARE_ORIGIN[0] + step[0] * t
        y0 = SQUARE_ORIGIN[1] + step[1] * t
        image[y0 : y0 + SQUARE_SIDE, x0 : x0 + SQUARE_SIDE] = texture
        gray = image.astype(np.uint8)
        # Tint the channels differently so an RGB/BGR swap shows in the tests.
        frames.append(np.stack([gray, (gray * 0.8).astype(np.uint8), (gray * 0.5).astype(np.uint8)], axis=-1))
    return frames


def square_interior(t: int, step: tuple[int, int] = (3, 2), margin: int = 8) -> tuple[slice, slice]:
    """Return (rows, cols) slices inside the square of frame t, `margin` pixels from its edges."""
    x0 = SQUARE_ORIGIN[0] + step[0] * t
    y0 = SQUARE_ORIGIN[1] + step[1] * t
    return slice(y0 + margin, y0 + SQUARE_SIDE - margin), slice(x0 + margin, x0 + SQUARE_SIDE - margin)


def write_image_folder(folder: Path, frames: list[np.ndarray], suffix: str = ".png", grayscale: bool = False) -> tuple[Path, ...]:
    """Write RGB frames as numbered images and return their paths in order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, frame in enumerate(frames):
        path = folder / f"{index:03d}{suffix}"
        image = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if grayscale else cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        assert cv2.imwrite(str(path), image), f"cv2.imwrite failed for {path}"
        paths.append(path)
    return tuple(paths)


def write_mp4(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    """Write RGB frames to an .mp4 file with the mp4v codec."""
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    assert writer.isOpened(), f"cv2.VideoWriter cannot write {path}"
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def folder_video(root: Path, name: str, frames: list[np.ndarray], split: str = "train", labels=None) -> Video:
    """Write `frames` under root/<split>/<name>/ and return the Video."""
    paths = write_image_folder(root / split / name, frames)
    frame_labels = fixed_labels(np.asarray(labels)) if labels is not None else None
    return Video(name=name, split=split, frame_paths=paths, frame_labels=frame_labels)


def make_dataset(root: Path, train: list[Video], test: list[Video] | None = None, name: str = "toy") -> Dataset:
    return Dataset(name=name, root=root, train=train, test=test or [], ground_truth="generated")
