"""Damaged, degenerate and misplaced input files: each gives a clear error or a logged, counted warning.

Every test writes real media into tmp_path (JPEG, PNG, .mp4, .avi, .mat)
and damages it on purpose, so the checks run through OpenCV's and scipy's
real decoders and not through mocks.
"""

from __future__ import annotations

import logging
import re

import cv2
import numpy as np
import pytest

from datasets.base import DataError, DatasetNotFoundError, Video
from datasets.cache import CacheConfig, prepare_dataset
from datasets.decode import iter_frames
from datasets.ped2 import load_ped2
from datasets.windows import WindowDataset
from tests.fakes import write_ped2_frames
from tests.unit.preprocess.media import (
    folder_video,
    make_dataset,
    moving_square_frames,
    write_image_folder,
    write_mp4,
)

SIZE = 32
# Window length of the `ours` method and of the Ped2 frame protocol.
WINDOW_LENGTH = 6
SAFE_ENTRY_NAME = re.compile(r"[A-Za-z0-9._-]+")


def _prepare(dataset, cache_root, size=SIZE, **kwargs):
    kwargs.setdefault("workers", 1)
    kwargs.setdefault("progress", False)
    return prepare_dataset(dataset, CacheConfig(size=size), cache_root, **kwargs)


def _file_dataset(root, path, split="train"):
    """Return a one-video dataset reading the container file `path`."""
    return make_dataset(root, [Video(name=path.stem, split=split, video_path=path)])


def _write_mjpeg_avi(path, frames, fps=10.0):
    """Write RGB frames as Motion-JPEG .avi with OpenCV's own encoder, which keeps odd frame sizes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened(), f"cv2.VideoWriter cannot write {path}"
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def _write_gray_mp4(path, frames, fps=10.0):
    """Write the luma of RGB frames as a single-channel mp4v .mp4."""
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height), False)
    assert writer.isOpened(), f"cv2.VideoWriter cannot write {path}"
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))
    writer.release()
    return path


def _flip_bytes(path, start, count):
    data = bytearray(path.read_bytes())
    for index in range(start, start + count):
        data[index] ^= 0xFF
    path.write_bytes(bytes(data))


# --------------------------------------------------------------------------- truncated or corrupt videos


def test_mp4_cut_in_half_rejected(tmp_path):
    path = write_mp4(tmp_path / "data" / "clip.mp4", moving_square_frames(30, step=(1, 1)))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the index (moov atom) is at the end, so it is lost

    with pytest.raises(DataError) as error:
        _prepare(_file_dataset(tmp_path / "data", path), tmp_path / "cache")

    message = str(error.value)
    assert str(path) in message
    assert "cannot open video file" in message
    assert "damaged" in message


def test_mp4_missing_tail_rejected(tmp_path):
    path = write_mp4(tmp_path / "data" / "clip.mp4", moving_square_frames(30, step=(1, 1)))
    path.write_bytes(path.read_bytes()[:-100])

    with pytest.raises(DataError) as error:
        _prepare(_file_dataset(tmp_path / "data", path), tmp_path / "cache")

    message = str(error.value)
    assert str(path) in message
    assert "yielded no frame" in message
    assert "restore it from the original dataset" in message


def test_random_bytes_named_mp4_rejected(tmp_path):
    path = tmp_path / "data" / "clip.mp4"
    path.parent.mkdir()
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())

    with pytest.raises(DataError, match=re.escape(str(path))):
        _prepare(_file_dataset(tmp_path / "data", path), tmp_path / "cache")


def test_damaged_video_error_from_worker_process(tmp_path):
    root = tmp_path / "data"
    good = write_mp4(root / "good.mp4", moving_square_frames(4))
    damaged = root / "damaged.mp4"
    damaged.write_bytes(b"\x00not a video" * 100)
    dataset = make_dataset(root, [Video(name=path.stem, split="train", video_path=path) for path in (good, damaged)])

    with pytest.raises(DataError, match=re.escape(str(damaged))):
        _prepare(dataset, tmp_path / "cache", workers=2)


@pytest.mark.parametrize("damage", ["avi cut in half", "mp4 with flipped bytes"])
def test_partly_decodable_video_warned_and_counted(tmp_path, caplog, damage):
    frames = moving_square_frames(30, step=(1, 1))
    if damage == "avi cut in half":
        path = _write_mjpeg_avi(tmp_path / "data" / "clip.avi", frames)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        path = write_mp4(tmp_path / "data" / "clip.mp4", frames)
        _flip_bytes(path, path.stat().st_size // 3, 2000)
    dataset = _file_dataset(tmp_path / "data", path)

    with caplog.at_level(logging.WARNING):
        prepared = _prepare(dataset, tmp_path / "cache")

    video = prepared.train[0]
    assert 0 < video.num_frames < 30
    assert video.meta["reported_frames"] == 30
    assert f"decoded {video.num_frames} frames but its header reports 30" in caplog.text
    summary = "1 of 1 videos decoded fewer frames than their file headers report"
    assert summary in caplog.text
    assert f"{path} ({video.num_frames} of 30 frames)" in caplog.text
    assert "restore the damaged ones" in caplog.text

    # The count comes from the cache entry, so a run that reuses the entry reports it again.
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        _prepare(dataset, tmp_path / "cache")
    assert summary in caplog.text


# --------------------------------------------------------------------------- zero-byte files


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_zero_byte_video_rejected(tmp_path, suffix):
    path = tmp_path / "data" / f"clip{suffix}"
    path.parent.mkdir()
    path.write_bytes(b"")

    with pytest.raises(DataError) as error:
        _prepare(_file_dataset(tmp_path / "data", path), tmp_path / "cache")

    message = str(error.value)
    assert str(path) in message
    assert "empty (0 bytes)" in message
    assert "restore it" in message


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_zero_byte_frame_rejected(tmp_path, suffix):
    paths = write_image_folder(tmp_path / "data" / "Train001", moving_square_frames(4), suffix=suffix)
    paths[2].write_bytes(b"")
    dataset = make_dataset(tmp_path / "data", [Video(name="Train001", split="train", frame_paths=paths)])

    with pytest.raises(DataError) as error:
        _prepare(dataset, tmp_path / "cache")

    message = str(error.value)
    assert str(paths[2]) in message
    assert "restore it from the original dataset archive" in message


# --------------------------------------------------------------------------- videos shorter than the window


def test_short_video_skipped_and_counted(tmp_path, caplog):
    root = tmp_path / "data"
    frames = moving_square_frames(9)
    short = write_mp4(root / "test" / "Short.mp4", frames[:4])
    videos = [
        folder_video(root, "Long", frames, split="test", labels=[0] * 9),
        Video(name="Short", split="test", video_path=short, frame_labels=lambda count: np.zeros(count, np.int8)),
    ]
    prepared = _prepare(make_dataset(root, [], videos), tmp_path / "cache")

    with caplog.at_level(logging.WARNING, logger="datasets.windows"):
        windows = WindowDataset(prepared.test, window_length=WINDOW_LENGTH)

    assert prepared.test[1].num_frames == 4
    assert windows.skipped_videos == ["Short"]
    assert len(windows) == 9 - (WINDOW_LENGTH - 1)
    assert "1 video(s) shorter than the 6-frame window give no window: Short" in caplog.text


# --------------------------------------------------------------------------- missing and unreadable frames


def test_ped2_gap_in_jpeg_numbering_rejected(tmp_path):
    fake = write_ped2_frames(tmp_path / "ped2")
    (fake.root / "training" / "frames" / "01" / "005.jpg").unlink()

    with pytest.raises(DataError) as error:
        load_ped2(fake.root)

    message = str(error.value)
    assert str(fake.root / "training" / "frames" / "01") in message
    assert "frame numbers 0..11 have gaps, missing [5]" in message


def test_ped2_corrupt_jpeg_rejected_at_prepare(tmp_path):
    fake = write_ped2_frames(tmp_path / "ped2")
    broken = fake.root / "testing" / "frames" / "02" / "003.jpg"
    broken.write_bytes(np.random.default_rng(0).integers(0, 256, broken.stat().st_size, dtype=np.uint8).tobytes())
    dataset = load_ped2(fake.root)

    with pytest.raises(DataError) as error:
        _prepare(dataset, tmp_path / "cache")

    message = str(error.value)
    assert "'Test002'" in message
    assert str(broken) in message
    assert "restore it from the original dataset archive" in message


def test_truncated_jpeg_rejected(tmp_path):
    paths = write_image_folder(tmp_path / "data" / "Train001", moving_square_frames(4), suffix=".jpg")
    data = paths[1].read_bytes()
    paths[1].write_bytes(data[: len(data) // 2])
    # libjpeg decodes the cut file with a warning and gray rows, so only the marker check catches it.
    assert cv2.imread(str(paths[1])) is not None
    dataset = make_dataset(tmp_path / "data", [Video(name="Train001", split="train", frame_paths=paths)])

    with pytest.raises(DataError) as error:
        _prepare(dataset, tmp_path / "cache")

    message = str(error.value)
    assert str(paths[1]) in message
    assert "truncated JPEG" in message


def test_truncated_jpeg_with_embedded_thumbnail_rejected(tmp_path):
    frame = cv2.cvtColor(moving_square_frames(1)[0], cv2.COLOR_RGB2BGR)
    thumbnail = cv2.imencode(".jpg", cv2.resize(frame, (16, 12)))[1].tobytes()
    image = cv2.imencode(".jpg", frame)[1].tobytes()
    # A comment segment (FFFE) right after the start-of-image marker contains a whole JPEG, end marker included.
    comment = b"\xff\xfe" + (len(thumbnail) + 2).to_bytes(2, "big") + thumbnail
    path = tmp_path / "000.jpg"
    path.write_bytes(image[:2] + comment + image[2 : len(image) // 2])

    with pytest.raises(DataError, match="truncated JPEG"):
        list(iter_frames(Video(name="v", split="train", frame_paths=(path,))))


def test_jpeg_with_trailing_bytes_accepted(tmp_path):
    frame = moving_square_frames(1)[0]
    path = tmp_path / "000.jpg"
    path.write_bytes(cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))[1].tobytes() + b"\x00" * 32)

    decoded = list(iter_frames(Video(name="v", split="train", frame_paths=(path,))))

    assert decoded[0].shape == frame.shape


# --------------------------------------------------------------------------- grayscale and odd sizes


def _assert_cached_at_128(video, num_frames):
    assert video.rgb.shape == (num_frames, 128, 128, 3)
    assert video.rgb.dtype == np.uint8
    assert video.flow.shape == (num_frames, 128, 128, 2)
    assert np.isfinite(np.asarray(video.flow, dtype=np.float32)).all()
    assert video.rgb[3].max() > 150  # the bright square survived decoding and resizing


def test_grayscale_video_cached_as_three_channels(tmp_path):
    frames = moving_square_frames(8, height=60, width=96, step=(2, 1))
    path = _write_gray_mp4(tmp_path / "data" / "gray.mp4", frames)

    video = _prepare(_file_dataset(tmp_path / "data", path), tmp_path / "cache", size=128).train[0]

    _assert_cached_at_128(video, 8)
    rgb = np.asarray(video.rgb, dtype=np.int16)
    assert np.abs(rgb[..., 0] - rgb[..., 1]).max() <= 1
    assert np.abs(rgb[..., 0] - rgb[..., 2]).max() <= 1


def test_odd_resolution_video_cached_at_128(tmp_path):
    frames = moving_square_frames(8, height=61, width=97, step=(2, 1))
    path = _write_mjpeg_avi(tmp_path / "data" / "odd.avi", frames)

    video = _prepare(_file_dataset(tmp_path / "data", path), tmp_path / "cache", size=128).train[0]

    _assert_cached_at_128(video, 8)
    assert video.meta["source_resolution"] == [61, 97]


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_odd_size_gray_frames_cached(tmp_path, suffix):
    frames = moving_square_frames(8, height=61, width=97, step=(2, 1))
    paths = write_image_folder(tmp_path / "data" / "Train001", frames, suffix=suffix, grayscale=True)
    assert cv2.imread(str(paths[0]), cv2.IMREAD_UNCHANGED).ndim == 2
    dataset = make_dataset(tmp_path / "data", [Video(name="Train001", split="train", frame_paths=paths)])

    video = _prepare(dataset, tmp_path / "cache", size=128).train[0]

    _assert_cached_at_128(video, 8)
    assert video.meta["source_resolution"] == [61, 97]
    rgb = np.asarray(video.rgb)
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 1])
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])


# --------------------------------------------------------------------------- ground truth files


@pytest.mark.parametrize("damage", ["zero bytes", "cut in half"])
def test_ped2_damaged_mat_file_rejected(tmp_path, damage):
    fake = write_ped2_frames(tmp_path / "ped2")
    path = fake.root / "ped2.mat"
    data = path.read_bytes()
    path.write_bytes(b"" if damage == "zero bytes" else data[: len(data) // 2])

    with pytest.raises(DataError) as error:
        load_ped2(fake.root, ground_truth="mat")

    message = str(error.value)
    assert str(path) in message
    assert "cannot read the MATLAB file" in message


def test_ped2_zero_byte_matlab_ranges_rejected(tmp_path):
    fake = write_ped2_frames(tmp_path / "ped2")
    (fake.root / "UCSDped2.m").write_bytes(b"")

    with pytest.raises(DataError, match=r"UCSDped2\.m: no `gt_frame = \[\.\.\.\]` entries found"):
        load_ped2(fake.root, ground_truth="official")


def test_ped2_zero_based_range_rejected(tmp_path):
    # A 0-based file: Ped2 ranges are 1-based, so frame 0 does not exist.
    fake = write_ped2_frames(tmp_path / "ped2", official_ranges=[[(0, 6)], [(1, 4)]])

    with pytest.raises(DataError) as error:
        load_ped2(fake.root, ground_truth="official")

    message = str(error.value)
    assert "invalid anomalous range [0:6] for video Test001" in message
    assert "ranges must be 1-based" in message


def test_ped2_zero_byte_mask_rejected(tmp_path):
    fake = write_ped2_frames(tmp_path / "ped2")
    mask = fake.root / "testing" / "masks" / "Test001_gt" / "004.png"
    mask.write_bytes(b"")

    with pytest.raises(DataError, match=re.escape(f"{mask}: cannot read the mask image")):
        load_ped2(fake.root, ground_truth="masks")


# --------------------------------------------------------------------------- file names with special characters

# Shapes of real XD-Violence names, plus characters that URL and printf-style parsers treat specially.
SPECIAL_NAMES = [
    "v=0Bu6FhFq6SA__#1_label_B1-0-0",
    "Bad Boys II (2003) #01-11-58 A&B = C__#00-01_label_B2-G-0",
    "100%_it's ünïcode",
]


def test_special_character_names_decoded_and_cached(tmp_path):
    root = tmp_path / "da ta#1"
    frames = moving_square_frames(5)
    videos = [
        Video(name=name, split="test", video_path=write_mp4(root / f"{name}.mp4", frames),
              frame_labels=lambda count: np.zeros(count, np.int8))
        for name in SPECIAL_NAMES
    ]
    folder_paths = write_image_folder(root / "frames & more #2", frames)
    videos.append(Video(name="frames & more #2", split="train", frame_paths=folder_paths))
    dataset = make_dataset(root, [videos[-1]], videos[:-1])

    prepared = _prepare(dataset, tmp_path / "cache")

    for video in prepared.videos:
        assert video.num_frames == 5
        assert SAFE_ENTRY_NAME.fullmatch(video.entry_dir.name), video.entry_dir.name
        assert video.entry_dir.parent.parent == prepared.cache_dir
        assert (video.entry_dir / "meta.json").is_file()
    assert len({video.entry_dir for video in prepared.videos}) == len(prepared.videos)
    np.testing.assert_array_equal(prepared.test[0].rgb, prepared.test[1].rgb)


def test_special_character_names_reuse_cache(tmp_path, caplog):
    root = tmp_path / "data"
    frames = moving_square_frames(3)
    videos = [Video(name=name, split="train", video_path=write_mp4(root / f"{name}.mp4", frames))
              for name in SPECIAL_NAMES]
    dataset = make_dataset(root, videos)
    _prepare(dataset, tmp_path / "cache")

    with caplog.at_level(logging.INFO, logger="datasets.cache"):
        _prepare(dataset, tmp_path / "cache")

    assert f"all {len(SPECIAL_NAMES)} cache entries" in caplog.text
    assert "building" not in caplog.text


# --------------------------------------------------------------------------- data root of another dataset


def test_ped2_given_folder_of_video_clips(tmp_path):
    root = tmp_path / "ped2"
    frames = moving_square_frames(3)
    for name in ("fi1_xvid.avi", "no1_xvid.avi"):
        _write_mjpeg_avi(root / name, frames)
    write_mp4(root / "fi2_xvid.mp4", frames)

    with pytest.raises(DatasetNotFoundError) as error:
        load_ped2(root)

    message = str(error.value)
    assert f"UCSD Ped2 not found in {root}" in message
    assert "it contains fi1_xvid.avi, fi2_xvid.mp4, no1_xvid.avi, including 3 video files" in message
    assert "this folder probably holds another dataset" in message
    assert "training/frames/01/000.jpg" in message


def test_ped2_given_fight_folders(tmp_path):
    root = tmp_path / "ped2"
    frames = moving_square_frames(3)
    write_mp4(root / "fight" / "fi001.mp4", frames)
    write_mp4(root / "noFight" / "nofi001.mp4", frames)

    with pytest.raises(DatasetNotFoundError) as error:
        load_ped2(root)

    message = str(error.value)
    assert "it contains fight, noFight" in message
    assert "UCSDped2/Train/Train001/001.tif" in message
