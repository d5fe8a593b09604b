"""UCSD Ped2 adapter: both on-disk layouts, video names, order and frames."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from datasets import DATASETS
from datasets.ped2 import load_ped2
from tests.fakes import write_ped2_frames, write_ped2_release


def test_registered_as_ped2():
    assert "ped2" in DATASETS
    assert DATASETS.get("ped2") is load_ped2


def test_frames_layout_names_and_counts(tmp_path):
    fake = write_ped2_frames(tmp_path / "ped2", train_frames=(12, 9, 11), test_frames=(10, 8))

    dataset = load_ped2(fake.root)

    assert dataset.name == "ped2"
    assert dataset.root == fake.root
    assert [video.name for video in dataset.train] == ["Train001", "Train002", "Train003"]
    assert [video.name for video in dataset.test] == ["Test001", "Test002"]
    assert [len(video.frame_paths) for video in dataset.train] == [12, 9, 11]
    assert [len(video.frame_paths) for video in dataset.test] == [10, 8]
    assert all(video.split == "train" and video.frame_labels is None for video in dataset.train)
    assert all(video.split == "test" and video.frame_labels is not None for video in dataset.test)


def test_frames_layout_frame_order(tmp_path):
    fake = write_ped2_frames(tmp_path / "ped2")

    dataset = load_ped2(fake.root)

    first = dataset.test[0].frame_paths
    assert [path.name for path in first[:3]] == ["000.jpg", "001.jpg", "002.jpg"]
    assert first[0].parent == fake.root / "testing" / "frames" / "01"
    assert dataset.train[1].frame_paths[0].parent == fake.root / "training" / "frames" / "02"


def test_release_layout_names_and_counts(tmp_path):
    fake = write_ped2_release(tmp_path / "ped2", train_frames=(12, 9, 11), test_frames=(10, 8), junk_files=True)

    dataset = load_ped2(fake.root)

    assert [video.name for video in dataset.train] == ["Train001", "Train002", "Train003"]
    assert [video.name for video in dataset.test] == ["Test001", "Test002"]
    assert [len(video.frame_paths) for video in dataset.train] == [12, 9, 11]
    assert [len(video.frame_paths) for video in dataset.test] == [10, 8]
    assert all(path.suffix == ".tif" for video in dataset.videos for path in video.frame_paths)
    assert dataset.test[0].frame_paths[0].name == "001.tif"


def test_release_ignores_junk_files(tmp_path):
    fake = write_ped2_release(tmp_path / "ped2", junk_files=True)

    dataset = load_ped2(fake.root)

    names = {path.name for video in dataset.videos for path in video.frame_paths}
    assert "Thumbs.db" not in names
    assert "._001.tif" not in names
    assert dataset.ground_truth == "masks"


def test_release_folder_as_root(tmp_path):
    fake = write_ped2_release(tmp_path / "UCSDped2", nested=False)

    dataset = load_ped2(tmp_path / "UCSDped2")

    assert [video.name for video in dataset.test] == fake.test_names
    assert "official release" in dataset.notes["layout"]


def test_release_inside_extracted_archive(tmp_path):
    write_ped2_release(tmp_path / "ped2" / "UCSD_Anomaly_Dataset.v1p2")

    dataset = load_ped2(tmp_path / "ped2")

    assert [video.name for video in dataset.test] == ["Test001", "Test002"]


def test_layouts_give_same_videos_and_labels(tmp_path):
    frames = load_ped2(write_ped2_frames(tmp_path / "a").root)
    release = load_ped2(write_ped2_release(tmp_path / "b").root)

    assert [video.name for video in frames.videos] == [video.name for video in release.videos]
    assert [len(video.frame_paths) for video in frames.videos] == [len(video.frame_paths) for video in release.videos]
    for ours, theirs in zip(frames.test, release.test):
        count = len(ours.frame_paths)
        np.testing.assert_array_equal(ours.frame_labels(count), theirs.frame_labels(count))


def test_frames_sorted_by_number_not_text(tmp_path):
    fake = write_ped2_frames(tmp_path / "ped2", train_frames=(12,))
    folder = fake.root / "training" / "frames" / "01"
    for path in folder.iterdir():
        path.rename(folder / f"{int(path.stem)}.jpg")  # 000.jpg -> 0.jpg, 011.jpg -> 11.jpg

    dataset = load_ped2(fake.root)

    assert [path.name for path in dataset.train[0].frame_paths] == [f"{index}.jpg" for index in range(12)]


def test_both_layouts_prefers_jpeg_frames(tmp_path, caplog):
    write_ped2_frames(tmp_path / "ped2", test_frames=(10, 8))
    write_ped2_release(tmp_path / "ped2", test_frames=(7, 6))

    with caplog.at_level(logging.WARNING, logger="datasets.ped2"):
        dataset = load_ped2(tmp_path / "ped2")

    assert [len(video.frame_paths) for video in dataset.test] == [10, 8]
    assert dataset.notes["layout"].startswith("JPEG frames")
    assert "both" in caplog.text


def test_notes_name_layout_and_source(tmp_path):
    fake = write_ped2_frames(tmp_path / "ped2")

    dataset = load_ped2(fake.root)

    assert set(dataset.notes) == {"layout", "video_names", "ground_truth"}
    assert str(fake.root / "training" / "frames") in dataset.notes["layout"]
    assert str(fake.root / "testing" / "masks") in dataset.notes["ground_truth"]


@pytest.mark.parametrize("writer", [write_ped2_frames, write_ped2_release])
def test_fake_square_moves_by_step(tmp_path, writer):
    fake = writer(tmp_path / "ped2", square_start=(2, 5), square_step=(3, 1), square_size=6, train_frames=(8,))
    dataset = load_ped2(fake.root)

    for t in (0, 4, 7):
        image = cv2.imread(str(dataset.train[0].frame_paths[t]), cv2.IMREAD_GRAYSCALE)
        bright_rows, bright_columns = np.nonzero(image > 128)
        x, y = fake.square_top_left(t)
        assert image.shape == (32, 48)
        assert (bright_columns.min(), bright_rows.min()) == (x, y)
        assert (bright_columns.max(), bright_rows.max()) == (x + 5, y + 5)
