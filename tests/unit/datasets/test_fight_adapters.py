"""Hockey Fight adapter on generated clips in its published layouts, and the shared clip split."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from datasets import DATASETS
from datasets.base import DataError, DatasetNotFoundError
from datasets.decode import iter_frames
from datasets.fight import HOCKEY_URL, Clip, load_hockey, load_surveillance_fight, split_clips

NUM_CLIPS = 6
"""Fight and non-fight clips each, in the generated copies."""

FRAMES_PER_CLIP = 4


def _write_avi(path: Path, value: int, fourcc: str = "XVID") -> Path:
    """Write a tiny clip whose frames are uniform grey `value`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 25.0, (32, 24))
    assert writer.isOpened(), f"cv2.VideoWriter cannot write {path}"
    for _ in range(FRAMES_PER_CLIP):
        writer.write(np.full((24, 32, 3), value, dtype=np.uint8))
    writer.release()
    return path


def _write_flat(root: Path) -> Path:
    """Write Hockey Fight as published: fiN_xvid.avi and noN_xvid.avi in one folder."""
    for number in range(1, NUM_CLIPS + 1):
        _write_avi(root / f"fi{number}_xvid.avi", 200)
        _write_avi(root / f"no{number}_xvid.avi", 50)
    return root


def _write_folders(root: Path, normal_folder: str, fourcc: str = "MJPG") -> Path:
    for number in range(1, NUM_CLIPS + 1):
        _write_avi(root / "fight" / f"fi{number}_xvid.avi", 200, fourcc)
        _write_avi(root / normal_folder / f"no{number}_xvid.avi", 50, fourcc)
    return root


@pytest.fixture
def flat_root(tmp_path) -> Path:
    return _write_flat(tmp_path / "hockey")


def test_registered_names():
    assert DATASETS.get("hockey") is load_hockey
    assert DATASETS.get("surveillance-fight") is load_surveillance_fight


def test_flat_layout_clips_and_labels(flat_root):
    dataset = load_hockey(flat_root)

    names = {video.name for video in dataset.videos}
    assert names == {f"fi{n}_xvid" for n in range(1, 7)} | {f"no{n}_xvid" for n in range(1, 7)}
    for video in dataset.videos:
        assert video.clip_label == (1 if video.name.startswith("fi") else 0)
    assert dataset.name == "hockey"
    assert dataset.protocol == "fight-clips"
    assert dataset.ground_truth == "clip-labels"


def test_flat_layout_split_sizes(flat_root):
    dataset = load_hockey(flat_root)

    assert len(dataset.train) == 3
    assert len(dataset.test) == 9
    assert all(video.clip_label == 0 for video in dataset.train)
    assert sum(video.clip_label for video in dataset.test) == NUM_CLIPS
    assert not {video.name for video in dataset.train} & {video.name for video in dataset.test}


def test_frame_labels_repeat_clip_label(flat_root):
    dataset = load_hockey(flat_root)

    for video in dataset.test:
        labels = video.frame_labels(5)
        assert labels.dtype == np.int8
        np.testing.assert_array_equal(labels, np.full(5, video.clip_label))
    assert all(video.frame_labels is None for video in dataset.train)


def test_generated_clips_decode(flat_root):
    dataset = load_hockey(flat_root)

    frames = list(iter_frames(dataset.test[0]))

    assert len(frames) == FRAMES_PER_CLIP
    assert frames[0].shape == (24, 32, 3)


@pytest.mark.parametrize("normal_folder", ["nonfight", "noFight", "NonFight"])
def test_subfolder_layout(tmp_path, normal_folder):
    root = _write_folders(tmp_path / "hockey", normal_folder)

    dataset = load_hockey(root)

    assert len(dataset.train) == 3
    assert len(dataset.test) == 9
    assert "subfolders" in dataset.notes["layout"]
    assert {video.clip_label for video in dataset.test if video.name.startswith("fi")} == {1}


def test_split_same_seed_same_clips(flat_root):
    first = load_hockey(flat_root, split_seed=3)
    second = load_hockey(flat_root, split_seed=3)

    assert [video.name for video in first.train] == [video.name for video in second.train]
    assert [video.name for video in first.test] == [video.name for video in second.test]


def test_split_other_seed_other_clips(flat_root):
    trains = {tuple(video.name for video in load_hockey(flat_root, split_seed=seed).train) for seed in range(4)}

    assert len(trains) > 1


def test_split_follows_documented_rule():
    clips = [Clip(f"no{n}", Path(f"no{n}.avi"), 0) for n in (10, 2, 1, 3)] + [Clip("fi1", Path("fi1.avi"), 1)]

    train, test = split_clips(clips, split_seed=7, train_fraction=0.5)

    # Non-fight clips sorted by name with numbers as numbers (no1, no2, no3, no10), then shuffled by the seed.
    ordered = ["no1", "no2", "no3", "no10"]
    shuffled = [ordered[i] for i in np.random.default_rng(7).permutation(4)]
    assert sorted(clip.name for clip in train) == sorted(shuffled[:2])
    assert sorted(clip.name for clip in test) == sorted(shuffled[2:] + ["fi1"])


def test_train_fraction_sets_share(flat_root):
    dataset = load_hockey(flat_root, train_fraction=0.7)

    assert len(dataset.train) == 4  # round(0.7 * 6)
    assert "round(0.7" in dataset.notes["split"]


def test_max_clips_keeps_balanced_subset(flat_root):
    dataset = load_hockey(flat_root, max_clips=8)

    assert len(dataset.train) == 2
    assert len(dataset.test) == 6
    assert sum(video.clip_label for video in dataset.test) == 4
    assert "max_clips=8" in dataset.notes["subset"]


def test_max_clips_subset_of_full_order(flat_root):
    full = load_hockey(flat_root, split_seed=1)
    small = load_hockey(flat_root, split_seed=1, max_clips=4)

    assert {video.name for video in small.train} <= {video.name for video in full.train}


@pytest.mark.parametrize("value", [0, 3, 2.5, True])
def test_invalid_max_clips(flat_root, value):
    with pytest.raises(ValueError, match="max_clips"):
        load_hockey(flat_root, max_clips=value)


@pytest.mark.parametrize("value", [0.0, 1.0, 1.5])
def test_invalid_train_fraction(flat_root, value):
    with pytest.raises(ValueError, match="train_fraction"):
        load_hockey(flat_root, train_fraction=value)


def test_unknown_ground_truth(flat_root):
    with pytest.raises(ValueError, match="clip-labels"):
        load_hockey(flat_root, ground_truth="masks")


def test_missing_root_names_layouts(tmp_path):
    with pytest.raises(DatasetNotFoundError) as error:
        load_hockey(tmp_path / "hockey")

    message = str(error.value)
    assert "does not exist" in message
    assert "fi1_xvid.avi" in message
    assert "nonfight" in message
    assert HOCKEY_URL in message


def test_empty_root(tmp_path):
    (tmp_path / "hockey").mkdir()

    with pytest.raises(DatasetNotFoundError, match="the folder is empty"):
        load_hockey(tmp_path / "hockey")


def test_fight_folder_alone(tmp_path):
    _write_avi(tmp_path / "hockey" / "fight" / "fi1_xvid.avi", 200)

    with pytest.raises(DatasetNotFoundError, match="no nonfight/ or noFight/ folder"):
        load_hockey(tmp_path / "hockey")


def test_other_files_ignored(flat_root):
    (flat_root / "readme.txt").write_text("Hockey Fight")
    _write_avi(flat_root / "extra.avi", 10)

    dataset = load_hockey(flat_root)

    assert len(dataset.videos) == 2 * NUM_CLIPS


def test_duplicate_clip_names(tmp_path):
    root = _write_folders(tmp_path / "hockey", "nonfight")
    _write_avi(root / "nonfight" / "fi1_xvid.avi", 50)

    with pytest.raises(DataError, match="same name 'fi1_xvid'"):
        load_hockey(root)


def test_no_fight_clip(tmp_path):
    root = tmp_path / "hockey"
    for number in range(1, 4):
        _write_avi(root / f"no{number}_xvid.avi", 50)

    with pytest.raises(DataError, match="no fight clip"):
        load_hockey(root)


def test_surveillance_missing_folders(tmp_path):
    (tmp_path / "surveillance-fight").mkdir()
    (tmp_path / "surveillance-fight" / "videos.txt").write_text("sources")

    with pytest.raises(DatasetNotFoundError) as error:
        load_surveillance_fight(tmp_path / "surveillance-fight")

    assert "it contains videos.txt" in str(error.value)
    assert "noFight/nofi001.mp4" in str(error.value)
