"""UCSD Ped2 adapter: missing data, other datasets and ground truth that does not fit the frames."""

from __future__ import annotations

import shutil

import pytest

from datasets.base import DataError, DatasetNotFoundError
from datasets.ped2 import PED2_URL, load_ped2
from tests.fakes import write_mat_ranges, write_ped2_frames, write_ped2_release, write_ucsd_matlab_ranges


def _assert_names_both_layouts(message: str) -> None:
    assert "training/frames/01/000.jpg" in message
    assert "UCSDped2/Train/Train001/001.tif" in message
    assert "UCSDped2/Test/UCSDped2.m" in message
    assert PED2_URL in message
    assert "Statistical Visual Computing Lab" in message


def test_missing_root(tmp_path):
    with pytest.raises(DatasetNotFoundError) as error:
        load_ped2(tmp_path / "ped2")

    assert "does not exist" in str(error.value)
    _assert_names_both_layouts(str(error.value))


def test_empty_root(tmp_path):
    (tmp_path / "ped2").mkdir()

    with pytest.raises(DatasetNotFoundError) as error:
        load_ped2(tmp_path / "ped2")

    assert "empty" in str(error.value)
    _assert_names_both_layouts(str(error.value))


def test_root_with_xd_violence(tmp_path):
    root = tmp_path / "ped2"
    (root / "videos").mkdir(parents=True)
    (root / "gt").mkdir()
    (root / "annotations.txt").write_text("v=abc__#1_label_B1-0-0 10 50\n")
    (root / "videos" / "GoldenEye.1995__#00-10-00_00-10-40_label_G-0-0.mp4").write_bytes(b"\x00")

    with pytest.raises(DatasetNotFoundError) as error:
        load_ped2(root)

    assert "annotations.txt, gt, videos" in str(error.value)
    _assert_names_both_layouts(str(error.value))


def test_root_with_ped1_release(tmp_path):
    # Ped1 has the same Train/Test structure; it must not load as Ped2.
    release = tmp_path / "data" / "UCSDped1"
    (release / "Train" / "Train001").mkdir(parents=True)
    (release / "Test" / "Test001").mkdir(parents=True)
    (release / "Test" / "UCSDped1.m").write_text("TestVideoFile{end+1}.gt_frame = [60:152];\n")

    with pytest.raises(DatasetNotFoundError, match="it contains UCSDped1"):
        load_ped2(tmp_path / "data")
    with pytest.raises(DatasetNotFoundError):
        load_ped2(release)


def test_frames_layout_without_test_split(tmp_path):
    fake = write_ped2_frames(tmp_path / "ped2")
    (fake.root / "testing").rename(tmp_path / "elsewhere")

    with pytest.raises(DatasetNotFoundError, match="testing/frames is missing"):
        load_ped2(fake.root)


def test_no_ground_truth_at_all(tmp_path):
    fake = write_ped2_frames(tmp_path / "ped2", write_masks=False, write_official=False, write_mat=False)

    with pytest.raises(DatasetNotFoundError, match="no Ped2 ground truth found"):
        load_ped2(fake.root)


@pytest.mark.parametrize("ground_truth", ["official", "mat"])
def test_range_past_end_of_video(tmp_path, ground_truth):
    # Test002 has 8 frames; the range 5:9 ends one frame past it.
    ranges = [[(3, 7)], [(5, 9)]]
    fake = write_ped2_frames(tmp_path / "ped2", official_ranges=ranges, mat_ranges=ranges)
    path = fake.root / ("UCSDped2.m" if ground_truth == "official" else "ped2.mat")

    with pytest.raises(DataError) as error:
        load_ped2(fake.root, ground_truth=ground_truth)

    message = str(error.value)
    assert str(path) in message
    assert "Test002" in message
    assert "[5:9]" in message
    assert "8 frames" in message
    assert "choose another ground truth" in message


@pytest.mark.parametrize("ground_truth", ["official", "mat"])
def test_wrong_number_of_videos(tmp_path, ground_truth):
    fake = write_ped2_release(tmp_path / "ped2")
    three_videos = [[(3, 7)], [(1, 4)], [(1, 2)]]
    if ground_truth == "official":
        path = fake.root / "UCSDped2" / "Test" / "UCSDped2.m"
        write_ucsd_matlab_ranges(path, three_videos)
    else:
        path = fake.root / "ped2.mat"
        write_mat_ranges(path, three_videos)

    with pytest.raises(DataError) as error:
        load_ped2(fake.root, ground_truth=ground_truth)

    message = str(error.value)
    assert str(path) in message
    assert "3 test videos but 2 found (Test001, Test002)" in message
    assert "use the file that belongs to this copy" in message


def test_ranges_for_missing_video_folder(tmp_path):
    fake = write_ped2_frames(tmp_path / "ped2", test_frames=(10, 8, 9), anomalies=[[(1, 2)], [(1, 2)], [(1, 2)]])
    (fake.root / "testing" / "frames" / "02").rename(tmp_path / "02")
    write_ucsd_matlab_ranges(fake.root / "UCSDped2.m", [[(1, 2)], [(1, 2)]])

    with pytest.raises(DataError, match="the test videos are Test001, Test003; restore the missing video folders"):
        load_ped2(fake.root, ground_truth="official")


def test_mask_count_mismatch(tmp_path):
    fake = write_ped2_release(tmp_path / "ped2")
    (fake.root / "UCSDped2" / "Test" / "Test001_gt" / "010.bmp").unlink()

    with pytest.raises(DataError) as error:
        load_ped2(fake.root, ground_truth="masks")

    message = str(error.value)
    assert "Test001" in message
    assert "10 frames" in message
    assert "9 mask files" in message


def test_masks_missing_for_one_video(tmp_path):
    fake = write_ped2_frames(tmp_path / "ped2")
    (fake.root / "testing" / "masks" / "Test002_gt").rename(tmp_path / "Test002_gt")

    with pytest.raises(DataError, match="no mask folder for test videos Test002"):
        load_ped2(fake.root, ground_truth="masks")


def test_mask_folder_without_video(tmp_path):
    fake = write_ped2_frames(tmp_path / "ped2")
    masks = fake.root / "testing" / "masks"
    shutil.copytree(masks / "Test002_gt", masks / "Test003_gt")

    with pytest.raises(DataError, match="Test003, which have no frames"):
        load_ped2(fake.root, ground_truth="masks")


def test_unreadable_mask(tmp_path):
    fake = write_ped2_frames(tmp_path / "ped2")
    broken = fake.root / "testing" / "masks" / "Test002_gt" / "frame004.png"
    broken.write_bytes(b"not a png")

    with pytest.raises(DataError, match=f"{broken}: cannot read the mask image"):
        load_ped2(fake.root)


def test_malformed_matlab_file(tmp_path):
    fake = write_ped2_frames(tmp_path / "ped2")
    (fake.root / "UCSDped2.m").write_text("TestVideoFile{end+1}.gt_frame = [3:seven];\n")

    with pytest.raises(DataError, match="cannot parse '3:seven'"):
        load_ped2(fake.root, ground_truth="official")


def test_duplicate_frame_numbers(tmp_path):
    fake = write_ped2_frames(tmp_path / "ped2")
    folder = fake.root / "training" / "frames" / "01"
    (folder / "frame003.png").write_bytes((folder / "003.jpg").read_bytes())

    with pytest.raises(DataError, match="same frame number 3"):
        load_ped2(fake.root)


def test_gap_in_frame_numbers(tmp_path):
    fake = write_ped2_release(tmp_path / "ped2")
    (fake.root / "UCSDped2" / "Train" / "Train002" / "005.tif").unlink()

    with pytest.raises(DataError, match=r"Train002: frame numbers 1\.\.12 have gaps, missing \[5\]"):
        load_ped2(fake.root)


def test_empty_video_folder(tmp_path):
    fake = write_ped2_frames(tmp_path / "ped2")
    (fake.root / "training" / "frames" / "03").mkdir()

    with pytest.raises(DataError, match="03: no image files found"):
        load_ped2(fake.root)
