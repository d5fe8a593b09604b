"""UCSD Ped2 on the real data: split sizes and how the three ground truths compare.

Needs VADBENCH_DATA_ROOT pointing at a folder that contains `ped2/`. These
tests fail, rather than skip, without it, so a missing data root cannot pass
for a green run.
"""

from __future__ import annotations

import numpy as np
import pytest

from datasets.base import Dataset, DatasetNotFoundError, resolve_data_root
from datasets.ped2 import load_ped2

pytestmark = pytest.mark.realdata

MISSING_DATA_HINT = "set VADBENCH_DATA_ROOT=/work/shared/data (the folder that contains ped2/) and rerun"

TEST_FRAMES = [180, 180, 150, 180, 150, 180, 180, 180, 120, 150, 180, 180]

# Anomalous ranges of UCSDped2.m, 1-based inclusive, one per test video.
OFFICIAL_RANGES = [
    (61, 180), (95, 180), (1, 146), (31, 180), (1, 129), (1, 159),
    (46, 180), (1, 180), (1, 120), (1, 150), (1, 180), (88, 180),
]

# Test videos (1-based) whose ped2.mat range starts at frame 5 instead of 1.
MAT_LATE_START_VIDEOS = [3, 5, 8, 9, 10, 11]


def _load(ground_truth: str | None) -> Dataset:
    try:
        data_root = resolve_data_root(None)
        return load_ped2(data_root / "ped2", ground_truth=ground_truth)
    except DatasetNotFoundError as error:
        message = f"UCSD Ped2 real data not found: {error}\n{MISSING_DATA_HINT}"
    pytest.fail(message, pytrace=False)


def _labels(dataset: Dataset) -> list[np.ndarray]:
    return [video.frame_labels(len(video.frame_paths)) for video in dataset.test]


@pytest.fixture(scope="module")
def by_masks() -> Dataset:
    return _load("masks")


@pytest.fixture(scope="module")
def by_official() -> Dataset:
    return _load("official")


@pytest.fixture(scope="module")
def by_mat() -> Dataset:
    return _load("mat")


def test_training_split_size(by_masks):
    assert len(by_masks.train) == 16
    assert sum(len(video.frame_paths) for video in by_masks.train) == 2550
    assert [video.name for video in by_masks.train] == [f"Train{number:03d}" for number in range(1, 17)]


def test_test_split_size(by_masks):
    assert [video.name for video in by_masks.test] == [f"Test{number:03d}" for number in range(1, 13)]
    assert [len(video.frame_paths) for video in by_masks.test] == TEST_FRAMES
    assert sum(TEST_FRAMES) == 2010


def test_default_is_masks():
    dataset = _load(None)

    assert dataset.ground_truth == "masks"


def test_official_file_parsed_as_published(by_official):
    for number, (labels, (start, end)) in enumerate(zip(_labels(by_official), OFFICIAL_RANGES), start=1):
        assert np.flatnonzero(labels).tolist() == list(range(start - 1, end)), f"Test{number:03d}"


def test_masks_agree_with_official(by_masks, by_official):
    masks = np.concatenate(_labels(by_masks))
    official = np.concatenate(_labels(by_official))

    assert masks.shape == (2010,)
    assert int(np.count_nonzero(masks != official)) == 0


def test_mat_differs_on_six_videos(by_masks, by_mat):
    total_differing = 0
    for number, (masks, mat) in enumerate(zip(_labels(by_masks), _labels(by_mat)), start=1):
        differing = (np.flatnonzero(masks != mat) + 1).tolist()
        total_differing += len(differing)

        if number in MAT_LATE_START_VIDEOS:
            assert differing == [1, 2, 3, 4], f"Test{number:03d}"
            assert mat[:4].tolist() == [0, 0, 0, 0], f"Test{number:03d}: ped2.mat should leave frames 1-4 normal"
        else:
            assert differing == [], f"Test{number:03d}"

    assert total_differing == 24
