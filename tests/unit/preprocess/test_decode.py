"""Frame decoding from image folders and video files, and the resize helpers."""

from __future__ import annotations

import types

import cv2
import numpy as np
import pytest

from datasets.base import DataError, Video
from datasets.decode import estimate_frame_count, iter_frames, resize_max_side, resize_square

from .media import moving_square_frames, write_image_folder, write_mp4


def test_image_folder_yields_rgb_frames(tmp_path):
    frames = moving_square_frames(4, height=64, width=96)
    paths = write_image_folder(tmp_path / "v", frames)

    decoded = list(iter_frames(Video(name="v", split="train", frame_paths=paths)))

    assert len(decoded) == 4
    for original, frame in zip(frames, decoded):
        assert frame.dtype == np.uint8
        assert frame.shape == (64, 96, 3)
        np.testing.assert_array_equal(frame, original)  # PNG is lossless, so RGB order must match exactly


def test_iter_frames_is_lazy(tmp_path):
    paths = write_image_folder(tmp_path / "v", moving_square_frames(3, height=64, width=96))
    paths[2].write_bytes(b"")  # a broken last frame must not stop the first frames from streaming

    frames = iter_frames(Video(name="v", split="train", frame_paths=paths))

    assert isinstance(frames, types.GeneratorType)
    assert next(frames).shape == (64, 96, 3)
    assert next(frames).shape == (64, 96, 3)
    with pytest.raises(DataError):
        next(frames)


def test_grayscale_images_become_three_channels(tmp_path):
    frames = moving_square_frames(2, height=64, width=96)
    paths = write_image_folder(tmp_path / "v", frames, suffix=".tif", grayscale=True)

    decoded = list(iter_frames(Video(name="v", split="train", frame_paths=paths)))

    assert decoded[0].shape == (64, 96, 3)
    np.testing.assert_array_equal(decoded[0][..., 0], decoded[0][..., 1])
    np.testing.assert_array_equal(decoded[0][..., 0], decoded[0][..., 2])
    np.testing.assert_array_equal(decoded[0][..., 0], cv2.cvtColor(frames[0], cv2.COLOR_RGB2GRAY))


def test_mp4_yields_every_frame_in_rgb(tmp_path):
    frames = [np.full((48, 64, 3), (200, 40, 10), np.uint8) for _ in range(7)]
    path = write_mp4(tmp_path / "v.mp4", frames)
    video = Video(name="v", split="test", video_path=path)

    decoded = list(iter_frames(video))

    assert len(decoded) == 7
    assert decoded[0].shape == (48, 64, 3)
    # Lossy codec: compare the mean colour, which an RGB/BGR swap would change by about 190.
    np.testing.assert_allclose(decoded[3].reshape(-1, 3).mean(axis=0), (200, 40, 10), atol=12)
    assert estimate_frame_count(video) == 7


def test_unreadable_image_names_file(tmp_path):
    paths = write_image_folder(tmp_path / "v", moving_square_frames(2, height=64, width=96))
    paths[1].write_text("not an image")

    with pytest.raises(DataError, match=r"001\.png"):
        list(iter_frames(Video(name="v", split="train", frame_paths=paths)))


def test_zero_byte_image_names_file(tmp_path):
    paths = write_image_folder(tmp_path / "v", moving_square_frames(2, height=64, width=96))
    paths[0].write_bytes(b"")

    with pytest.raises(DataError, match=r"000\.png") as error:
        list(iter_frames(Video(name="v", split="train", frame_paths=paths)))
    assert "restore it" in str(error.value)


def test_mixed_frame_sizes_rejected(tmp_path):
    paths = write_image_folder(tmp_path / "v", moving_square_frames(2, height=64, width=96))
    cv2.imwrite(str(paths[1]), np.zeros((40, 96, 3), np.uint8))

    with pytest.raises(DataError, match="one size"):
        list(iter_frames(Video(name="v", split="train", frame_paths=paths)))


def test_zero_byte_mp4_rejected(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")

    with pytest.raises(DataError, match=r"empty\.mp4.*0 bytes"):
        list(iter_frames(Video(name="v", split="test", video_path=path)))


def test_damaged_mp4_rejected(tmp_path):
    path = tmp_path / "damaged.mp4"
    path.write_bytes(b"\x00garbage" * 200)

    with pytest.raises(DataError, match=r"damaged\.mp4"):
        list(iter_frames(Video(name="v", split="test", video_path=path)))


def test_missing_mp4_rejected(tmp_path):
    with pytest.raises(DataError, match="not found"):
        list(iter_frames(Video(name="v", split="test", video_path=tmp_path / "missing.mp4")))


def test_resize_square_uses_area_interpolation():
    frame = np.random.default_rng(0).integers(0, 256, (240, 360, 3), dtype=np.uint8)

    resized = resize_square(frame, 128)

    assert resized.shape == (128, 128, 3)
    np.testing.assert_array_equal(resized, cv2.resize(frame, (128, 128), interpolation=cv2.INTER_AREA))


def test_resize_max_side_keeps_aspect():
    frame = np.zeros((600, 800, 3), np.uint8)

    assert resize_max_side(frame, 480).shape == (360, 480, 3)
    assert resize_max_side(np.zeros((240, 360, 3), np.uint8), 480).shape == (240, 360, 3)
    assert resize_max_side(frame, None).shape == (600, 800, 3)
