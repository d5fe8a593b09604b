"""Flow encodings and fixed-length frame windows over cached videos, built as index views."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch

from datasets.cache import PreparedVideo

logger = logging.getLogger(__name__)

FLOW_ENCODINGS = {"color": 3, "raw": 2}
"""Flow encoding name to its number of channels."""

# Frames encoded at a time, which bounds the float32 scratch memory of `encode_flow`.
_ENCODE_CHUNK_FRAMES = 256


def encode_flow(flow: np.ndarray, encoding: str = "color") -> np.ndarray:
    """Encode flow fields [N, S, S, 2] ((u, v) in pixels) as float32 images [N, C, S, S].

    `color` (C=3) is the usual flow rendering: hue is the direction
    atan2(v, u) in image coordinates (0 deg = right = red, 90 deg = down),
    saturation is 1, and value is the magnitude min-max normalised per
    frame. The result is converted to RGB in [0, 1]. A frame
    of constant magnitude has no range to normalise, so its value is 0 where
    the magnitude is 0 and 1 elsewhere: a zero flow field gives an all-zero
    image and a uniform translation a uniform colour.

    `raw` (C=2) is (u / width, v / height), that is, displacements in image
    widths and heights.
    """
    if encoding not in FLOW_ENCODINGS:
        raise ValueError(f"unknown flow encoding {encoding!r}; valid: {', '.join(FLOW_ENCODINGS)}")
    flow = np.asarray(flow, dtype=np.float32)
    if flow.ndim != 4 or flow.shape[-1] != 2:
        raise ValueError(f"flow must have shape [N, H, W, 2], got {flow.shape}")

    u = flow[..., 0]
    v = flow[..., 1]
    if encoding == "raw":
        height, width = flow.shape[1:3]
        return np.stack([u / width, v / height], axis=1)

    magnitude = np.hypot(u, v)
    low = magnitude.min(axis=(1, 2), keepdims=True)
    span = magnitude.max(axis=(1, 2), keepdims=True) - low
    normalised = (magnitude - low) / np.where(span > 0, span, 1.0)
    value = np.where(span > 0, normalised, (magnitude > 0).astype(np.float32))
    return _hsv_to_rgb(np.arctan2(v, u), value)


def _hsv_to_rgb(angle: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Convert hue angles (radians) and values at saturation 1 to RGB channels [N, 3, H, W]."""
    hue = np.mod(angle, 2 * np.pi) * (6 / (2 * np.pi))
    hue = np.where(hue >= 6, 0, hue)  # mod can round up to exactly 2 pi
    sector = np.floor(hue).astype(np.int8)
    rising = value * (1 - np.abs(np.mod(hue, 2) - 1))  # the second-largest channel

    zero = np.zeros_like(value)
    # Standard HSV sectors of 60 degrees: (R, G, B) for each, with chroma = value.
    red = np.select([sector == 0, sector == 1, sector == 4, sector == 5], [value, rising, rising, value], zero)
    green = np.select([sector == 0, sector == 1, sector == 2, sector == 3], [rising, value, value, rising], zero)
    blue = np.select([sector == 2, sector == 3, sector == 4, sector == 5], [rising, value, value, rising], zero)
    return np.stack([red, green, blue], axis=1).astype(np.float32)


def _encode_video(flow: np.ndarray, encoding: str) -> np.ndarray:
    encoded = np.empty((len(flow), FLOW_ENCODINGS[encoding], *flow.shape[1:3]), dtype=np.float16)
    for start in range(0, len(flow), _ENCODE_CHUNK_FRAMES):
        stop = start + _ENCODE_CHUNK_FRAMES
        encoded[start:stop] = encode_flow(flow[start:stop], encoding)
    return encoded


class WindowDataset(torch.utils.data.Dataset):
    """Windows of `window_length` consecutive frames at `stride`, indexed by their end frame.

    Window i of a video ends at frame (window_length - 1) + i * stride and
    covers the window_length frames up to it. When (N - window_length) is
    not a multiple of `stride`, the last frames of an N-frame video end no
    window. Videos shorter than the window give no window and are
    listed in `skipped_videos`.

    RGB is read from the cache's memory-mapped array at each access. Flow is
    encoded once per video at construction and kept in memory as float16
    [N, C, S, S], which costs 2 * C * S * S bytes per frame (98 KB for
    `color` at S=128). Only the (video, end frame) index is stored per window.

    Items are dicts: `rgb` float32 [T, 3, S, S] in [0, 1], `flow` float32
    [T, C, S, S] (the key is absent when `use_flow` is False), `video` (the
    index into `videos`) and `frame` (the end frame index).
    """

    def __init__(
        self,
        videos: Sequence[PreparedVideo],
        window_length: int = 6,
        stride: int = 1,
        flow_encoding: str = "color",
        use_flow: bool = True,
    ) -> None:
        if window_length < 1:
            raise ValueError(f"window_length must be at least 1, got {window_length}")
        if stride < 1:
            raise ValueError(f"stride must be at least 1, got {stride}")
        if flow_encoding not in FLOW_ENCODINGS:
            raise ValueError(f"unknown flow encoding {flow_encoding!r}; valid: {', '.join(FLOW_ENCODINGS)}")
        sizes = {video.rgb.shape[1:3] for video in videos}
        if len(sizes) > 1:
            raise ValueError(f"videos have different frame sizes {sorted(sizes)}; prepare them with one cache size")

        self.videos = list(videos)
        self.window_length = window_length
        self.stride = stride
        self.flow_encoding = flow_encoding
        self.use_flow = use_flow
        self.num_flow_channels = FLOW_ENCODINGS[flow_encoding] if use_flow else 0
        self.skipped_videos: list[str] = []

        video_indices = []
        end_frames = []
        self._encoded_flow: list[np.ndarray | None] = []
        for index, video in enumerate(self.videos):
            if video.num_frames < window_length:
                self.skipped_videos.append(video.name)
                self._encoded_flow.append(None)
                continue

            ends = np.arange(window_length - 1, video.num_frames, stride, dtype=np.int64)
            video_indices.append(np.full(len(ends), index, dtype=np.int32))
            end_frames.append(ends)
            self._encoded_flow.append(_encode_video(video.flow, flow_encoding) if use_flow else None)

        self._video_index = np.concatenate(video_indices) if video_indices else np.zeros(0, dtype=np.int32)
        self._end_frame = np.concatenate(end_frames) if end_frames else np.zeros(0, dtype=np.int64)

        if self.skipped_videos:
            logger.warning(
                "%d video(s) shorter than the %d-frame window give no window: %s",
                len(self.skipped_videos), window_length, ", ".join(self.skipped_videos),
            )
        logger.info("%d windows of %d frames at stride %d from %d videos", len(self), window_length, stride, len(self.videos))

    def __len__(self) -> int:
        return len(self._end_frame)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int]:
        video_index = int(self._video_index[index])
        end = int(self._end_frame[index])
        start = end - self.window_length + 1

        # Conversions stay in NumPy: tiny torch ops pay for thread start-up on every call,
        # which made loading about 25x slower on a busy 2-core machine.
        rgb = self.videos[video_index].rgb[start : end + 1].transpose(0, 3, 1, 2).astype(np.float32)
        rgb *= np.float32(1 / 255)
        item: dict[str, torch.Tensor | int] = {
            "rgb": torch.from_numpy(rgb),
            "video": video_index,
            "frame": end,
        }
        if self.use_flow:
            item["flow"] = torch.from_numpy(self._encoded_flow[video_index][start : end + 1].astype(np.float32))
        return item

    def window_index(self) -> tuple[np.ndarray, np.ndarray]:
        """Return (video name, end frame) arrays with one entry per window, in item order."""
        names = np.array([video.name for video in self.videos], dtype=object)
        return names[self._video_index], self._end_frame.copy()
