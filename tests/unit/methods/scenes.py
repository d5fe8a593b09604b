"""Generated scenes in the batch format of the methods, for tests that train a method briefly.

Every scene has one static textured background and a bright yellow square
that moves right along a fixed row at `speed` pixels per frame and wraps
around at the right edge. Normal video moves it at NORMAL_SPEED. Two kinds of
anomaly are available: the same square at FAST_SPEED, and an intruder, a
smaller white square, brighter than anything in normal video, that moves
down a fixed column.

    normal = scene_batch(window_length=10)                       # training windows
    held_out = scene_batch(window_length=10, first_end=12)       # other normal windows
    fast = scene_batch(window_length=10, speed=FAST_SPEED)       # anomaly: fast square
    intruder = scene_batch(window_length=10, intruder=True)      # anomaly: new object

A batch has the keys of stacked `datasets.windows.WindowDataset` items:
`rgb` float32 [B, T, 3, S, S] in [0, 1], `flow` float32 [B, T, C, S, S]
(absent when `flow` is None), `video` (all 0) and `frame` (each window's end
frame). Flow is exact: flow[t] is the displacement from frame t-1 to frame t
in pixels, set inside each object on frame t and zero elsewhere and on
frame 0, as the frame cache pairs flow. It is then encoded with the
pipeline's `encode_flow` ("color": 3 channels, "raw": 2 channels).
"""

from __future__ import annotations

import numpy as np
import torch

from datasets.windows import FLOW_ENCODINGS, encode_flow

IMAGE_SIZE = 128
SQUARE_SIZE = 16
NORMAL_SPEED = 2
FAST_SPEED = 12

SQUARE_COLOR = (0.95, 0.9, 0.3)
INTRUDER_COLOR = (1.0, 1.0, 1.0)
INTRUDER_SIZE = 12


def background(image_size: int = IMAGE_SIZE) -> np.ndarray:
    """Return the static background [3, S, S]: a smooth dim texture with a horizontal gradient."""
    y, x = np.mgrid[0:image_size, 0:image_size].astype(np.float32) / image_size
    gray = 0.3 + 0.08 * np.sin(2 * np.pi * 3 * x) * np.cos(2 * np.pi * 2 * y) + 0.1 * x
    tint = np.array([1.0, 0.95, 0.85], dtype=np.float32)[:, None, None]
    return (gray[None] * tint).astype(np.float32)


def _paint(frame: np.ndarray, flow: np.ndarray | None, top: int, left: int, size: int,
           color: tuple[float, float, float], displacement: tuple[float, float]) -> None:
    """Paint a square whose rows and columns wrap around the image edges, and set its flow when `flow` is given."""
    image_size = frame.shape[-1]
    rows = np.arange(top, top + size) % image_size
    columns = np.arange(left, left + size) % image_size
    frame[:, rows[:, None], columns[None, :]] = np.asarray(color, dtype=np.float32)[:, None, None]
    if flow is not None:
        flow[rows[:, None], columns[None, :]] = displacement


def render_scene(
    num_frames: int,
    speed: int = NORMAL_SPEED,
    intruder: bool = False,
    image_size: int = IMAGE_SIZE,
    square_size: int = SQUARE_SIZE,
) -> tuple[np.ndarray, np.ndarray]:
    """Render a video and return RGB frames [N, 3, S, S] in [0, 1] and flow fields [N, S, S, 2] in pixels.

    The square's left edge is at `speed * t` (modulo S) on frame t. The
    intruder, when present, moves down at NORMAL_SPEED and is painted over
    the square where they overlap.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be at least 1, got {num_frames}")
    scene_background = background(image_size)
    rgb = np.empty((num_frames, 3, image_size, image_size), dtype=np.float32)
    flow = np.zeros((num_frames, image_size, image_size, 2), dtype=np.float32)
    square_row = image_size // 2 - square_size // 2

    for t in range(num_frames):
        rgb[t] = scene_background
        # Frame 0 has no previous frame, so its flow stays zero.
        flow_t = flow[t] if t > 0 else None
        _paint(rgb[t], flow_t, square_row, speed * t, square_size, SQUARE_COLOR, (speed, 0.0))
        if intruder:
            _paint(rgb[t], flow_t, NORMAL_SPEED * t, image_size // 4, INTRUDER_SIZE, INTRUDER_COLOR,
                   (0.0, NORMAL_SPEED))
    return rgb, flow


def scene_batch(
    batch_size: int = 4,
    window_length: int = 6,
    speed: int = NORMAL_SPEED,
    intruder: bool = False,
    flow: str | None = "color",
    first_end: int | None = None,
    stride: int = 5,
    image_size: int = IMAGE_SIZE,
    square_size: int = SQUARE_SIZE,
) -> dict[str, torch.Tensor]:
    """Return `batch_size` windows of one rendered scene, ending at `first_end + i * stride`.

    `first_end` defaults to `window_length - 1`, the first complete window.
    `flow` is a flow encoding of `datasets.windows.FLOW_ENCODINGS` or None
    for a run with the flow stream off.
    """
    if flow is not None and flow not in FLOW_ENCODINGS:
        raise ValueError(f"unknown flow encoding {flow!r}. Valid values: {', '.join(FLOW_ENCODINGS)} or None.")
    first_end = window_length - 1 if first_end is None else first_end
    if first_end < window_length - 1:
        raise ValueError(f"first_end {first_end} is before the end of the first {window_length}-frame window")

    ends = first_end + stride * np.arange(batch_size)
    rgb, flow_fields = render_scene(int(ends[-1]) + 1, speed, intruder, image_size, square_size)
    frame_indices = ends[:, None] - np.arange(window_length - 1, -1, -1)[None, :]  # [B, T], ascending in time

    batch: dict[str, torch.Tensor] = {
        "rgb": torch.from_numpy(rgb[frame_indices]),
        "video": torch.zeros(batch_size, dtype=torch.long),
        "frame": torch.from_numpy(ends.astype(np.int64)),
    }
    if flow is not None:
        encoded = encode_flow(flow_fields, flow)  # [N, C, S, S]
        batch["flow"] = torch.from_numpy(encoded[frame_indices])
    return batch
