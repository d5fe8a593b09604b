"""Surveillance Camera Fight Dataset on the real data: clips, split sizes and split determinism.

Needs VADBENCH_DATA_ROOT pointing at a folder that contains
`surveillance-fight/`. These tests fail, rather than skip, without it.
"""

from __future__ import annotations

import pytest

from datasets.base import Dataset, DatasetNotFoundError, resolve_data_root
from datasets.decode import iter_frames
from datasets.fight import load_surveillance_fight

pytestmark = pytest.mark.realdata

MISSING_DATA_HINT = "set VADBENCH_DATA_ROOT=/work/shared/data (the folder that contains surveillance-fight/) and rerun"


def _load(**options) -> Dataset:
    try:
        return load_surveillance_fight(resolve_data_root(None) / "surveillance-fight", **options)
    except DatasetNotFoundError as error:
        message = f"Surveillance Camera Fight Dataset not found: {error}\n{MISSING_DATA_HINT}"
    pytest.fail(message, pytrace=False)


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return _load()


def test_all_clips_found(dataset):
    names = {video.name for video in dataset.videos}

    assert len(names) == 300
    assert {f"fi{n:03d}" for n in range(1, 151)} <= names
    assert {f"nofi{n:03d}" for n in range(1, 151)} <= names


def test_clip_labels_follow_folders(dataset):
    for video in dataset.videos:
        assert video.clip_label == (0 if video.name.startswith("nofi") else 1), video.name
        assert video.video_path.parent.name == ("noFight" if video.clip_label == 0 else "fight")


def test_split_sizes(dataset):
    assert len(dataset.train) == 75
    assert len(dataset.test) == 225
    assert sum(video.clip_label for video in dataset.test) == 150
    assert all(video.clip_label == 0 for video in dataset.train)
    assert not {video.name for video in dataset.train} & {video.name for video in dataset.test}


def test_split_same_across_calls(dataset):
    again = _load()

    assert [video.name for video in again.train] == [video.name for video in dataset.train]
    assert [video.name for video in again.test] == [video.name for video in dataset.test]


def test_other_seed_other_split(dataset):
    other = _load(split_seed=1)

    assert len(other.train) == 75
    assert {video.name for video in other.train} != {video.name for video in dataset.train}


def test_named_as_itself(dataset):
    assert dataset.name == "surveillance-fight"
    assert dataset.protocol == "fight-clips"
    assert "not Hockey Fight" in dataset.notes["source"]


def test_max_clips_subset():
    small = _load(max_clips=24)

    assert len(small.train) == 6
    assert len(small.test) == 18
    assert sum(video.clip_label for video in small.test) == 12
    assert "max_clips=24" in small.notes["subset"]


def test_clip_decodes_with_labels(dataset):
    video = next(video for video in dataset.test if video.name == "fi001")

    count = sum(1 for _ in iter_frames(video))

    assert 20 <= count <= 142
    assert video.frame_labels(count).tolist() == [1] * count
