"""UCSD Ped2 adapter: the three ground truths, the default choice and the range parsers."""

from __future__ import annotations

import numpy as np
import pytest

from datasets.base import DataError, DatasetNotFoundError
from datasets.ground_truth import read_mat_ranges, read_ucsd_matlab_ranges
from datasets.ped2 import load_ped2
from tests.fakes import write_mat_ranges, write_ped2_frames, write_ped2_release


def _labels(dataset) -> list[np.ndarray]:
    return [video.frame_labels(len(video.frame_paths)) for video in dataset.test]


@pytest.mark.parametrize("writer", [write_ped2_frames, write_ped2_release])
@pytest.mark.parametrize("ground_truth", ["masks", "official", "mat"])
def test_each_ground_truth_labels(tmp_path, writer, ground_truth):
    fake = writer(
        tmp_path / "ped2",
        test_frames=(10, 8, 12),
        anomalies=[[(3, 7)], [(1, 4)], [(2, 3), (9, 12)]],
        write_mat=True,
    )

    dataset = load_ped2(fake.root, ground_truth=ground_truth)

    assert dataset.ground_truth == ground_truth
    for labels, expected in zip(_labels(dataset), fake.expected_labels(ground_truth)):
        assert labels.dtype == np.int8
        np.testing.assert_array_equal(labels, expected)


def test_default_is_masks(tmp_path):
    fake = write_ped2_frames(tmp_path / "ped2")

    dataset = load_ped2(fake.root)

    assert dataset.ground_truth == "masks"
    assert "masks" in dataset.notes["ground_truth"]


def test_default_official_without_masks(tmp_path):
    fake = write_ped2_frames(tmp_path / "ped2", write_masks=False)

    dataset = load_ped2(fake.root)

    assert dataset.ground_truth == "official"
    assert dataset.notes["ground_truth"] == f"frame ranges of {fake.root / 'UCSDped2.m'}"


def test_default_mat_without_masks_or_m_file(tmp_path):
    fake = write_ped2_frames(tmp_path / "ped2", write_masks=False, write_official=False)

    dataset = load_ped2(fake.root)

    assert dataset.ground_truth == "mat"
    assert str(fake.root / "ped2.mat") in dataset.notes["ground_truth"]


def test_default_skips_incomplete_masks(tmp_path):
    fake = write_ped2_release(tmp_path / "ped2")
    for path in (fake.root / "UCSDped2" / "Test" / "Test002_gt").iterdir():
        path.unlink()
    (fake.root / "UCSDped2" / "Test" / "Test002_gt").rmdir()

    dataset = load_ped2(fake.root)

    assert dataset.ground_truth == "official"


def test_masks_and_official_disagreement(tmp_path):
    # Masks mark frames 3-7 of Test001; UCSDped2.m gives 3-9, so frames 8 and 9 differ.
    fake = write_ped2_frames(
        tmp_path / "ped2",
        anomalies=[[(3, 7)], [(1, 4)]],
        official_ranges=[[(3, 9)], [(1, 4)]],
    )

    by_masks = _labels(load_ped2(fake.root, ground_truth="masks"))
    by_official = _labels(load_ped2(fake.root, ground_truth="official"))

    differing = [np.flatnonzero(a != b) + 1 for a, b in zip(by_masks, by_official)]
    assert differing[0].tolist() == [8, 9]
    assert differing[1].tolist() == []


def test_mat_late_start_differs_by_four_frames(tmp_path):
    # Like the circulated ped2.mat: Test002 starts at frame 5 where the masks start at 1.
    fake = write_ped2_frames(tmp_path / "ped2", anomalies=[[(3, 7)], [(1, 6)]], mat_ranges=[[(3, 7)], [(5, 6)]])

    by_masks = _labels(load_ped2(fake.root, ground_truth="masks"))
    by_mat = _labels(load_ped2(fake.root, ground_truth="mat"))

    np.testing.assert_array_equal(by_masks[0], by_mat[0])
    assert (np.flatnonzero(by_masks[1] != by_mat[1]) + 1).tolist() == [1, 2, 3, 4]


def test_labels_reject_other_frame_count(tmp_path):
    fake = write_ped2_frames(tmp_path / "ped2")
    video = load_ped2(fake.root).test[0]

    with pytest.raises(DataError, match="10 frames but the video has 11"):
        video.frame_labels(11)


def test_unknown_ground_truth_name(tmp_path):
    fake = write_ped2_frames(tmp_path / "ped2")

    with pytest.raises(ValueError, match="masks, official, mat"):
        load_ped2(fake.root, ground_truth="pixel")


@pytest.mark.parametrize(
    ("ground_truth", "options", "expected"),
    [
        ("masks", {"write_masks": False}, "TestNNN_gt"),
        ("official", {"write_official": False}, "UCSDped2.m"),
        ("mat", {"write_mat": False}, "ped2.mat"),
    ],
)
def test_requested_ground_truth_missing(tmp_path, ground_truth, options, expected):
    fake = write_ped2_frames(tmp_path / "ped2", **options)

    with pytest.raises(DatasetNotFoundError, match=expected):
        load_ped2(fake.root, ground_truth=ground_truth)


def test_matlab_parser_ranges_and_indices(tmp_path):
    path = tmp_path / "UCSDped2.m"
    path.write_text(
        "% frame-level ground truth\n"
        "TestVideoFile = {};\n"
        "TestVideoFile{end+1}.gt_frame = [61:180];\n"
        "TestVideoFile{end+1}.gt_frame = [1:10, 20 : 30];  % two events\n"
        "TestVideoFile{3}.gt_frame = [5 7:8 ...\n"
        "    12];\n"
        "TestVideoFile{end+1}.gt_frame = [];\n"
    )

    ranges = read_ucsd_matlab_ranges(path)

    assert ranges == [[(61, 180)], [(1, 10), (20, 30)], [(5, 5), (7, 8), (12, 12)], []]


def test_matlab_parser_rejects_unknown_syntax(tmp_path):
    path = tmp_path / "UCSDped2.m"
    path.write_text("TestVideoFile{end+1}.gt_frame = [1:2:9];\n")

    with pytest.raises(DataError, match="cannot parse '1:2:9'"):
        read_ucsd_matlab_ranges(path)


def test_matlab_parser_rejects_file_without_entries(tmp_path):
    path = tmp_path / "UCSDped2.m"
    path.write_text("gt = [61 180];\n")

    with pytest.raises(DataError, match="no `gt_frame"):
        read_ucsd_matlab_ranges(path)


def test_mat_reader_several_ranges(tmp_path):
    path = tmp_path / "ped2.mat"
    write_mat_ranges(path, [[(61, 180)], [(1, 10), (20, 30)], []])

    assert read_mat_ranges(path) == [[(61, 180)], [(1, 10), (20, 30)], []]


def test_mat_reader_missing_variable(tmp_path):
    path = tmp_path / "ped2.mat"
    write_mat_ranges(path, [[(1, 2)]], variable="labels")

    with pytest.raises(DataError, match="variable 'gt' not found; variables present: \\['labels'\\]"):
        read_mat_ranges(path)
