"""XD-Violence adapter on a generated copy of the published layout, and its label building.

The generated copy uses names with spaces, `#`, `=` and `&`, a stray `.mp4`
in annotations.txt, violent and normal test videos, and normal and violent
training videos.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from datasets import DATASETS
from datasets.base import DataError, DatasetNotFoundError
from datasets.decode import iter_frames
from datasets.xd import (
    XD_URL,
    frame_labels_from_ranges,
    load_xd,
    read_annotations,
    read_video_list,
    segment_labels,
)
from tests.unit.preprocess.media import write_mp4

FIGHT = "Movie & Co #1=2_label_B1-0-0"
EXPLOSION = "v=abc__#1_label_G-0-0"
QUIET = "Quiet Film #2_label_A"
TRAIN_NORMAL = ("Train Movie #3_label_A", "v=zz&q__#1_label_A")
TRAIN_VIOLENT = "Fight Train_label_B1-0-0"

FRAMES = {FIGHT: 12, EXPLOSION: 10, QUIET: 8, TRAIN_NORMAL[0]: 6, TRAIN_NORMAL[1]: 6, TRAIN_VIOLENT: 6}

ANNOTATIONS = f"{FIGHT}.mp4 2 5 8 10\n{EXPLOSION} 3 7\n"
"""The fight video's ranges mark frames 2, 3, 4, 8 and 9 (end exclusive); its name carries a stray .mp4."""


def _frames(count: int) -> list[np.ndarray]:
    return [np.full((24, 32, 3), 20 * index % 256, dtype=np.uint8) for index in range(count)]


def _write_layout(root: Path, annotations: str = ANNOTATIONS) -> Path:
    for name, count in FRAMES.items():
        folder = "test" if name in (FIGHT, EXPLOSION, QUIET) else "train"
        write_mp4(root / "videos" / folder / f"{name}.mp4", _frames(count))
    (root / "annotations.txt").write_text(annotations, encoding="utf-8")
    test_lines = [f"{name} {name.rsplit('_label_', 1)[1]}" for name in (FIGHT, EXPLOSION, QUIET)]
    (root / "test-videos.txt").write_text("# name label\n" + "\n".join(test_lines) + "\n", encoding="utf-8")
    return root


def _write_official_lists(root: Path) -> None:
    """Write list/rgb_test.list and list/rgb.list as feature paths, five crops per video."""
    (root / "list").mkdir()

    def paths(names, folder):
        return "".join(f"/features/{folder}/{name}__{crop}.npy\n" for name in names for crop in range(5))

    (root / "list" / "rgb_test.list").write_text(paths([FIGHT, EXPLOSION, QUIET], "RGBTest"), encoding="utf-8")
    (root / "list" / "rgb.list").write_text(paths([TRAIN_VIOLENT, *TRAIN_NORMAL], "RGB"), encoding="utf-8")
    (root / "test-videos.txt").unlink()


@pytest.fixture
def xd_root(tmp_path) -> Path:
    return _write_layout(tmp_path / "xd")


def test_registered_name():
    assert DATASETS.get("xd") is load_xd


def test_test_and_training_videos(xd_root):
    dataset = load_xd(xd_root)

    assert [video.name for video in dataset.test] == [FIGHT, EXPLOSION, QUIET]
    assert sorted(video.name for video in dataset.train) == sorted(TRAIN_NORMAL)
    assert dataset.protocol == "xd"
    assert dataset.ground_truth == "annotations"
    assert "1 violent training videos skipped" in dataset.notes["training_videos"]


def test_names_with_special_characters_decode(xd_root):
    dataset = load_xd(xd_root)

    for video in dataset.videos:
        assert sum(1 for _ in iter_frames(video)) == FRAMES[video.name]


def test_labels_end_exclusive(xd_root):
    videos = {video.name: video for video in load_xd(xd_root).test}

    np.testing.assert_array_equal(videos[FIGHT].frame_labels(12), [0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0])
    np.testing.assert_array_equal(videos[EXPLOSION].frame_labels(10), [0, 0, 0, 1, 1, 1, 1, 0, 0, 0])


def test_normal_test_video_all_zero(xd_root):
    videos = {video.name: video for video in load_xd(xd_root).test}

    np.testing.assert_array_equal(videos[QUIET].frame_labels(8), np.zeros(8))


def test_official_list_format(xd_root):
    _write_official_lists(xd_root)

    dataset = load_xd(xd_root)

    assert [video.name for video in dataset.test] == [FIGHT, EXPLOSION, QUIET]
    assert [video.name for video in dataset.train] == list(TRAIN_NORMAL)
    assert dataset.notes["test_list"].endswith("rgb_test.list")


def test_manifest_selects_subset(xd_root, tmp_path):
    manifest = tmp_path / "manifest.txt"
    manifest.write_text(f"{FIGHT}\n{QUIET}.mp4\n{TRAIN_NORMAL[1]}\n", encoding="utf-8")

    dataset = load_xd(xd_root, manifest=manifest)

    assert [video.name for video in dataset.test] == [FIGHT, QUIET]
    assert [video.name for video in dataset.train] == [TRAIN_NORMAL[1]]
    assert "2 test and 1 training videos" in dataset.notes["manifest"]


def test_manifest_relative_to_root(xd_root):
    (xd_root / "small.txt").write_text(f"{EXPLOSION}\n{TRAIN_NORMAL[0]}\n", encoding="utf-8")

    dataset = load_xd(xd_root, manifest="small.txt")

    assert [video.name for video in dataset.test] == [EXPLOSION]


def test_manifest_unknown_name(xd_root, tmp_path):
    manifest = tmp_path / "manifest.txt"
    manifest.write_text("Unknown_label_A\n", encoding="utf-8")

    with pytest.raises(DataError, match="'Unknown_label_A'"):
        load_xd(xd_root, manifest=manifest)


def test_manifest_allows_missing_files(xd_root, tmp_path):
    (xd_root / "videos" / "test" / f"{EXPLOSION}.mp4").unlink()
    manifest = tmp_path / "manifest.txt"
    manifest.write_text(f"{FIGHT}\n{TRAIN_NORMAL[0]}\n", encoding="utf-8")

    with pytest.raises(DatasetNotFoundError, match="manifest=PATH"):
        load_xd(xd_root)
    assert [video.name for video in load_xd(xd_root, manifest=manifest).test] == [FIGHT]


def test_missing_annotations(xd_root):
    (xd_root / "annotations.txt").unlink()

    with pytest.raises(DatasetNotFoundError) as error:
        load_xd(xd_root)

    assert "annotations.txt is missing" in str(error.value)
    assert XD_URL in str(error.value)


def test_missing_test_list(xd_root):
    (xd_root / "test-videos.txt").unlink()

    with pytest.raises(DatasetNotFoundError, match="no test list"):
        load_xd(xd_root)


def test_violent_test_video_without_ranges(xd_root):
    (xd_root / "annotations.txt").write_text(f"{FIGHT} 2 5\n", encoding="utf-8")

    with pytest.raises(DataError, match="no violent ranges for 1 violent test videos"):
        load_xd(xd_root)


def test_label_column_must_match_name(xd_root):
    (xd_root / "test-videos.txt").write_text(f"{FIGHT} B2-0-0\n", encoding="utf-8")

    with pytest.raises(DataError, match="does not match the code 'B1-0-0'"):
        load_xd(xd_root)


# ---------------------------------------------------------------- annotation and list parsing


def test_read_annotations_strips_stray_suffix(tmp_path):
    path = tmp_path / "annotations.txt"
    path.write_text(f"{FIGHT}.mp4 2 5 8 10\n\n{EXPLOSION} 0 3\n", encoding="utf-8")

    annotations = read_annotations(path)

    assert annotations == {FIGHT: [(2, 5), (8, 10)], EXPLOSION: [(0, 3)]}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (f"{FIGHT} 2 5 8", "ranges come in pairs"),
        (f"{FIGHT} 5 5", "empty range 5 5"),
        (f"{FIGHT}", "expected `<name> start end"),
        (f"{FIGHT} 2 5\n{FIGHT}.mp4 7 9", "annotated twice"),
    ],
)
def test_read_annotations_rejects(tmp_path, line, message):
    path = tmp_path / "annotations.txt"
    path.write_text(line + "\n", encoding="utf-8")

    with pytest.raises(DataError, match=message):
        read_annotations(path)


def test_read_video_list_formats(tmp_path):
    path = tmp_path / "list.txt"
    path.write_text(
        "path,label\n"
        f"/data/RGBTest/{FIGHT}__0.npy,B1\n"
        f"/data/RGBTest/{FIGHT}__1.npy,B1\n"
        f"{EXPLOSION} G-0-0\n"
        f"{QUIET}.mp4\n"
        f"C:\\features\\{TRAIN_NORMAL[0]}__3.npy\n",
        encoding="utf-8",
    )

    assert read_video_list(path) == [FIGHT, EXPLOSION, QUIET, TRAIN_NORMAL[0]]


def test_read_video_list_rejects_other_names(tmp_path):
    path = tmp_path / "list.txt"
    path.write_text(f"{FIGHT}\nnot a video name\n", encoding="utf-8")

    with pytest.raises(DataError, match="line 2"):
        read_video_list(path)


# ---------------------------------------------------------------- label building


def test_labels_from_ranges_end_exclusive():
    labels = frame_labels_from_ranges([(1, 3), (5, 6)], 7, source="a.txt", video="v")

    np.testing.assert_array_equal(labels, [0, 1, 1, 0, 0, 1, 0])
    assert labels.dtype == np.int8


def test_range_past_end_clipped_with_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="datasets.xd"):
        labels = frame_labels_from_ranges([(3, 20)], 6, source="a.txt", video="v")

    np.testing.assert_array_equal(labels, [0, 0, 0, 1, 1, 1])
    assert "ends past its 6 decoded frames" in caplog.text


def test_range_starting_past_end_raises():
    with pytest.raises(DataError, match="starts at or past its end"):
        frame_labels_from_ranges([(6, 9)], 6, source="a.txt", video="v")


def test_segment_labels_shift_and_clip():
    # Source ranges [10, 14) and [18, 30); the segment contains source frames 12 to 19.
    labels = segment_labels([(10, 14), (18, 30), (40, 50)], start=12, num_frames=8)

    np.testing.assert_array_equal(labels, [1, 1, 0, 0, 0, 0, 1, 1])
