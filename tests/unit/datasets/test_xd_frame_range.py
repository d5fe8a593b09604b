"""Videos that cover a frame range of a file: decoding, frame counts and cache entries."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest

from datasets.base import DataError, Dataset, Video
from datasets.cache import CacheConfig, fingerprint_video, prepare_dataset, video_key
from datasets.decode import estimate_frame_count, iter_frames
from tests.unit.preprocess.media import write_image_folder, write_mp4

NUM_FRAMES = 10
STEP = 25
"""Grey level step between frames: frame i is uniformly 10 + STEP * i, far apart enough to survive mp4v."""


def _frames() -> list[np.ndarray]:
    return [np.full((32, 48, 3), 10 + STEP * index, dtype=np.uint8) for index in range(NUM_FRAMES)]


def _frame_numbers(frames: list[np.ndarray]) -> list[int]:
    return [round((float(frame.mean()) - 10) / STEP) for frame in frames]


@pytest.fixture
def mp4(tmp_path):
    return write_mp4(tmp_path / "clip.mp4", _frames())


def test_container_range_yields_its_frames(mp4):
    video = Video(name="part", split="train", video_path=mp4, frame_range=(3, 7))

    assert _frame_numbers(list(iter_frames(video))) == [3, 4, 5, 6]


def test_container_without_range_unchanged(mp4):
    video = Video(name="whole", split="train", video_path=mp4)

    assert _frame_numbers(list(iter_frames(video))) == list(range(NUM_FRAMES))


def test_image_folder_range(tmp_path):
    paths = write_image_folder(tmp_path / "frames", _frames())
    video = Video(name="part", split="train", frame_paths=paths, frame_range=(0, 2))

    decoded = list(iter_frames(video))

    assert len(decoded) == 2
    np.testing.assert_array_equal(decoded[1], _frames()[1])


def test_image_folder_range_past_end_raises(tmp_path):
    paths = write_image_folder(tmp_path / "frames", _frames()[:2])
    video = Video(name="outside", split="train", frame_paths=paths, frame_range=(2, 4))

    with pytest.raises(DataError, match="starts at or past the end of its 2 frame files"):
        list(iter_frames(video))


def test_range_past_end_yields_rest_with_warning(mp4, caplog):
    video = Video(name="tail", split="train", video_path=mp4, frame_range=(8, 20))

    with caplog.at_level(logging.WARNING, logger="datasets.decode"):
        frames = list(iter_frames(video))

    assert _frame_numbers(frames) == [8, 9]
    assert "ends past the end" in caplog.text


@pytest.mark.parametrize("frame_range", [(10, 12), (15, 20)])
def test_range_starting_past_end_raises(mp4, frame_range):
    video = Video(name="outside", split="train", video_path=mp4, frame_range=frame_range)

    with pytest.raises(DataError, match="starts at or past the end"):
        list(iter_frames(video))


@pytest.mark.parametrize("frame_range", [(5, 5), (-1, 3), (4, 2)])
def test_invalid_range_rejected(mp4, frame_range):
    with pytest.raises(ValueError, match="frame_range"):
        Video(name="bad", split="train", video_path=mp4, frame_range=frame_range)


def test_estimate_frame_count_with_range(mp4):
    assert estimate_frame_count(Video(name="a", split="train", video_path=mp4, frame_range=(3, 7))) == 4
    assert estimate_frame_count(Video(name="b", split="train", video_path=mp4, frame_range=(8, 20))) == 2


def test_fingerprint_depends_on_range(mp4, tmp_path):
    whole = Video(name="v", split="train", video_path=mp4)
    first = dataclasses.replace(whole, frame_range=(0, 5))
    second = dataclasses.replace(whole, frame_range=(5, 10))

    fingerprints = {fingerprint_video(video, tmp_path) for video in (whole, first, second)}

    assert len(fingerprints) == 3


def test_cache_builds_one_entry_per_range(mp4, tmp_path):
    first = Video(name="clip[0:4]", split="train", video_path=mp4, frame_range=(0, 4))
    second = Video(name="clip[4:10]", split="test", video_path=mp4, frame_range=(4, 10),
                   frame_labels=lambda count: np.zeros(count, dtype=np.int8))
    dataset = Dataset(name="ranges", root=tmp_path, train=[first], test=[second], ground_truth="generated")

    prepared = prepare_dataset(dataset, CacheConfig(size=16), tmp_path / "cache", workers=1, progress=False)

    assert video_key(first) != video_key(second)
    assert [video.num_frames for video in prepared.videos] == [4, 6]
    assert prepared.test[0].labels.shape == (6,)
    assert prepared.train[0].rgb[0].mean() < prepared.test[0].rgb[0].mean()


def test_cache_rebuilds_entry_when_range_changes(mp4, tmp_path):
    video = Video(name="clip", split="train", video_path=mp4, frame_range=(0, 4))
    config = CacheConfig(size=16)

    before = prepare_dataset(Dataset("ranges", tmp_path, [video], [], "generated"), config, tmp_path / "cache",
                             workers=1, progress=False)
    moved = dataclasses.replace(video, frame_range=(0, 7))
    after = prepare_dataset(Dataset("ranges", tmp_path, [moved], [], "generated"), config, tmp_path / "cache",
                            workers=1, progress=False)

    assert before.train[0].num_frames == 4
    assert after.train[0].num_frames == 7
