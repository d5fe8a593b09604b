"""The frame and flow cache: config key, pairing, reuse, rebuilds, atomic writes, workers, size."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

import datasets.cache as cache_module
from datasets.base import DataError, Video
from datasets.cache import CacheConfig, prepare_dataset, video_key

from .media import folder_video, make_dataset, moving_square_frames, square_interior, write_mp4

SIZE = 32
STEP = (3, 2)


def _square_dataset(root, num_frames=6, height=120, width=160, test_labels=None):
    frames = moving_square_frames(num_frames, height=height, width=width, step=STEP)
    train = [folder_video(root, "Train001", frames)]
    test = []
    if test_labels is not None:
        test = [folder_video(root, "Test001", frames, split="test", labels=test_labels)]
    return make_dataset(root, train, test)


def _prepare(dataset, cache_root, config=None, **kwargs):
    kwargs.setdefault("workers", 1)
    kwargs.setdefault("progress", False)
    return prepare_dataset(dataset, config or CacheConfig(size=SIZE), cache_root, **kwargs)


def _temp_files(cache_root):
    return sorted(path.name for path in cache_root.rglob(f"*{cache_module.TEMP_MARKER}*"))


# --------------------------------------------------------------------------- CacheConfig


def test_config_key_is_stable_and_short():
    key = CacheConfig().key()

    assert key == CacheConfig().key()
    assert len(key) == 16
    assert key == CacheConfig(flow_params={"preset": "medium"}).key()  # defaults are resolved


def test_config_key_changes_with_each_field():
    keys = {
        CacheConfig().key(),
        CacheConfig(size=64).key(),
        CacheConfig(flow_backend="farneback").key(),
        CacheConfig(flow_params={"preset": "fast"}).key(),
        CacheConfig(flow_max_side=240).key(),
        CacheConfig(first_flow="repeat").key(),
    }

    assert len(keys) == 6


def test_config_accepts_mapping_or_pairs():
    from_mapping = CacheConfig(flow_backend="farneback", flow_params={"winsize": 21, "levels": 4})
    from_pairs = CacheConfig(flow_backend="farneback", flow_params=(("levels", 4), ("winsize", 21)))

    assert from_mapping == from_pairs
    assert from_mapping.flow_params == (("levels", 4), ("winsize", 21))
    assert hash(from_mapping) == hash(from_pairs)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"size": 0}, "positive int"),
    ({"first_flow": "copy"}, "zero, repeat"),
    ({"flow_max_side": 4}, "at least 8"),
    ({"flow_backend": "pwc"}, "unknown flow backend 'pwc'"),
    ({"flow_params": {"window": 3}}, "no parameter window"),
])
def test_config_rejects_invalid_fields(kwargs, match):
    with pytest.raises((ValueError, KeyError), match=match):
        CacheConfig(**kwargs)


def test_config_rejects_non_scalar_param():
    with pytest.raises(TypeError, match="'preset' must be"):
        CacheConfig(flow_params={"preset": ["medium"]})


# --------------------------------------------------------------------------- building entries


def test_prepare_builds_arrays_and_meta(tmp_path):
    dataset = _square_dataset(tmp_path / "data", num_frames=6)

    prepared = _prepare(dataset, tmp_path / "cache")

    video = prepared.train[0]
    entry = tmp_path / "cache" / "toy" / CacheConfig(size=SIZE).key() / "train" / "Train001"
    assert video.entry_dir == entry
    assert video.num_frames == 6
    assert isinstance(video.rgb, np.memmap)
    assert video.rgb.shape == (6, SIZE, SIZE, 3)
    assert video.rgb.dtype == np.uint8
    assert video.flow.shape == (6, SIZE, SIZE, 2)
    assert video.flow.dtype == np.float16
    assert video.labels is None

    meta = json.loads((entry / "meta.json").read_text())
    assert meta["num_frames"] == 6
    assert meta["source_resolution"] == [120, 160]
    assert meta["flow_resolution"] == [120, 160]
    assert meta["flow_backend"]["name"] == "dis"
    assert meta["arrays"]["rgb"]["shape"] == [6, SIZE, SIZE, 3]
    assert meta["arrays"]["flow"]["bytes"] == (entry / "flow.npy").stat().st_size
    assert len(meta["fingerprint"]) == 64


def test_flow_pairing_is_forward_and_rescaled(tmp_path):
    dataset = _square_dataset(tmp_path / "data", num_frames=6, height=120, width=160)

    flow = _prepare(dataset, tmp_path / "cache").train[0].flow.astype(np.float32)

    assert not flow[0].any()  # first frame: zero flow
    expected = (STEP[0] * SIZE / 160, STEP[1] * SIZE / 120)
    for t in range(1, 6):
        # flow[t] is defined on the pixels of frame t-1, where the square sat before moving.
        rows, cols = square_interior(t - 1)
        rows = slice(rows.start * SIZE // 120 + 1, rows.stop * SIZE // 120)
        cols = slice(cols.start * SIZE // 160 + 1, cols.stop * SIZE // 160)
        np.testing.assert_allclose(flow[t][rows, cols].mean(axis=(0, 1)), expected, atol=0.15)


def test_first_flow_repeat_copies_second(tmp_path):
    dataset = _square_dataset(tmp_path / "data", num_frames=4)

    flow = _prepare(dataset, tmp_path / "cache", CacheConfig(size=SIZE, first_flow="repeat")).train[0].flow

    assert flow[1].any()
    np.testing.assert_array_equal(flow[0], flow[1])


def test_flow_max_side_downscales_before_flow(tmp_path):
    dataset = _square_dataset(tmp_path / "data", num_frames=4, height=120, width=160)
    config = CacheConfig(size=SIZE, flow_max_side=80)

    video = _prepare(dataset, tmp_path / "cache", config).train[0]

    assert video.meta["flow_resolution"] == [60, 80]
    # Flow at 80x60 moves 1.5 x 1 px and is rescaled to the same SxS units as at full size.
    rows, cols = square_interior(1)
    rows = slice(rows.start * SIZE // 120 + 1, rows.stop * SIZE // 120)
    cols = slice(cols.start * SIZE // 160 + 1, cols.stop * SIZE // 160)
    mean = video.flow[2].astype(np.float32)[rows, cols].mean(axis=(0, 1))
    np.testing.assert_allclose(mean, (STEP[0] * SIZE / 160, STEP[1] * SIZE / 120), atol=0.2)


def test_single_frame_video_gets_zero_flow(tmp_path):
    dataset = _square_dataset(tmp_path / "data", num_frames=1)

    video = _prepare(dataset, tmp_path / "cache", CacheConfig(size=SIZE, first_flow="repeat")).train[0]

    assert video.num_frames == 1
    assert not video.flow[0].any()


def test_mp4_source_is_cached(tmp_path):
    frames = moving_square_frames(5)
    path = write_mp4(tmp_path / "data" / "clip.mp4", frames)
    dataset = make_dataset(tmp_path / "data", [], [Video(name="clip", split="test", video_path=path, clip_label=1)])

    video = _prepare(dataset, tmp_path / "cache").test[0]

    assert video.num_frames == 5
    assert video.clip_label == 1
    assert video.labels is None
    assert video.meta["source_resolution"] == [120, 160]


def test_test_labels_use_decoded_count(tmp_path):
    labels = [0, 0, 1, 1, 0]
    dataset = _square_dataset(tmp_path / "data", num_frames=5, test_labels=labels)

    prepared = _prepare(dataset, tmp_path / "cache")

    assert prepared.test[0].labels.dtype == np.int8
    np.testing.assert_array_equal(prepared.test[0].labels, labels)
    assert prepared.train[0].labels is None


def test_label_count_mismatch_raises(tmp_path):
    dataset = _square_dataset(tmp_path / "data", num_frames=5, test_labels=[0, 1, 0])

    with pytest.raises(DataError, match="3 frames but the video has 5"):
        _prepare(dataset, tmp_path / "cache")


def test_video_key_is_safe_and_distinct():
    plain = Video(name="Test001", split="test", video_path=Path("a.mp4"))
    spaced = Video(name="a b/c", split="train", video_path=Path("a.mp4"))
    underscored = Video(name="a_b_c", split="train", video_path=Path("a.mp4"))

    assert video_key(plain) == "test/Test001"
    assert video_key(spaced).startswith("train/a_b_c-")
    assert video_key(spaced) != video_key(underscored)


def test_provenance_lists_preprocessing_facts(tmp_path):
    dataset = _square_dataset(tmp_path / "data", num_frames=3)
    config = CacheConfig(size=SIZE)

    provenance = _prepare(dataset, tmp_path / "cache", config).provenance()

    assert set(provenance) == {
        "dataset", "ground_truth", "size", "flow_backend", "flow_resolution_rule",
        "flow_pairing", "first_flow", "cache_key", "fingerprint",
    }
    assert provenance["size"] == SIZE
    assert provenance["cache_key"] == config.key()
    assert provenance["flow_backend"]["params"] == {"preset": "medium"}
    assert "480 px" in provenance["flow_resolution_rule"]
    assert provenance["first_flow"] == "zero"


# --------------------------------------------------------------------------- reuse and rebuilds


def _fail(*args, **kwargs):
    raise AssertionError("a valid cache entry was rebuilt")


def test_valid_entries_reused_without_work(tmp_path, monkeypatch):
    dataset = _square_dataset(tmp_path / "data", num_frames=4, test_labels=[0, 1, 1, 0])
    first = _prepare(dataset, tmp_path / "cache")

    monkeypatch.setattr(cache_module, "iter_frames", _fail)
    monkeypatch.setattr(cache_module, "build_flow_backend", _fail)
    monkeypatch.setattr(cache_module, "_build_entry", _fail)
    second = _prepare(dataset, tmp_path / "cache", workers=2)

    assert second.fingerprint == first.fingerprint
    np.testing.assert_array_equal(second.train[0].flow, first.train[0].flow)
    np.testing.assert_array_equal(second.test[0].labels, [0, 1, 1, 0])


def test_moved_dataset_reuses_cache(tmp_path, monkeypatch):
    dataset = _square_dataset(tmp_path / "data", num_frames=3)
    first = _prepare(dataset, tmp_path / "cache")
    shutil.copytree(tmp_path / "data", tmp_path / "moved")  # copy2 keeps modification times
    paths = tuple(sorted((tmp_path / "moved" / "train" / "Train001").glob("*.png")))
    moved = make_dataset(tmp_path / "moved", [Video(name="Train001", split="train", frame_paths=paths)])

    monkeypatch.setattr(cache_module, "_build_entry", _fail)
    second = _prepare(moved, tmp_path / "cache")

    assert second.fingerprint == first.fingerprint


def test_truncated_array_rebuilt(tmp_path, caplog):
    dataset = _square_dataset(tmp_path / "data", num_frames=4)
    first = _prepare(dataset, tmp_path / "cache")
    rgb_path = first.train[0].entry_dir / "rgb.npy"
    expected = np.array(first.train[0].rgb)
    del first
    with open(rgb_path, "r+b") as file:
        file.truncate(rgb_path.stat().st_size // 2)

    with caplog.at_level(logging.WARNING, logger="datasets.cache"):
        second = _prepare(dataset, tmp_path / "cache")

    assert "rebuilding" in caplog.text
    assert "rgb.npy has" in caplog.text
    np.testing.assert_array_equal(second.train[0].rgb, expected)


def test_missing_meta_rebuilt(tmp_path, caplog):
    dataset = _square_dataset(tmp_path / "data", num_frames=3)
    entry = _prepare(dataset, tmp_path / "cache").train[0].entry_dir
    (entry / "meta.json").unlink()

    with caplog.at_level(logging.INFO, logger="datasets.cache"):
        _prepare(dataset, tmp_path / "cache")

    assert "no complete cache entry" in caplog.text
    assert (entry / "meta.json").is_file()


def test_changed_checksum_rebuilt_when_verified(tmp_path, caplog):
    dataset = _square_dataset(tmp_path / "data", num_frames=3)
    flow_path = _prepare(dataset, tmp_path / "cache").train[0].entry_dir / "flow.npy"
    data = bytearray(flow_path.read_bytes())
    data[-1] ^= 0xFF  # same size, different content
    flow_path.write_bytes(bytes(data))

    with caplog.at_level(logging.WARNING, logger="datasets.cache"):
        _prepare(dataset, tmp_path / "cache", verify_checksums=True)

    assert "sha256 of flow.npy does not match" in caplog.text


def test_changed_source_frame_rebuilt(tmp_path, caplog):
    dataset = _square_dataset(tmp_path / "data", num_frames=3)
    first = _prepare(dataset, tmp_path / "cache")
    frame_path = dataset.train[0].frame_paths[1]
    cv2.imwrite(str(frame_path), np.zeros((120, 160, 3), np.uint8))

    with caplog.at_level(logging.INFO, logger="datasets.cache"):
        second = _prepare(dataset, tmp_path / "cache")

    assert "source files or the cache format changed" in caplog.text
    assert second.fingerprint != first.fingerprint
    assert not second.train[0].rgb[1].any()


# --------------------------------------------------------------------------- atomic writes


def test_no_temp_files_left_after_build(tmp_path):
    dataset = _square_dataset(tmp_path / "data", num_frames=3)

    prepared = _prepare(dataset, tmp_path / "cache")

    assert _temp_files(tmp_path / "cache") == []
    assert sorted(p.name for p in prepared.train[0].entry_dir.iterdir()) == ["flow.npy", "meta.json", "rgb.npy"]


def test_failed_build_leaves_no_valid_entry(tmp_path):
    frames = moving_square_frames(4)
    video = folder_video(tmp_path / "data", "Train001", frames)
    video.frame_paths[2].write_text("broken")
    dataset = make_dataset(tmp_path / "data", [video])

    with pytest.raises(DataError, match=r"002\.png"):
        _prepare(dataset, tmp_path / "cache")

    entry = tmp_path / "cache" / "toy" / CacheConfig(size=SIZE).key() / "train" / "Train001"
    assert not (entry / "meta.json").exists()
    assert _temp_files(tmp_path / "cache") == []


def test_leftover_temp_files_removed_on_rebuild(tmp_path):
    dataset = _square_dataset(tmp_path / "data", num_frames=3)
    entry = _prepare(dataset, tmp_path / "cache").train[0].entry_dir
    (entry / "meta.json").unlink()
    (entry / "rgb.npy.tmp-1-deadbeef").write_bytes(b"partial")

    _prepare(dataset, tmp_path / "cache")

    assert _temp_files(tmp_path / "cache") == []


def test_row_writer_grows_and_shrinks(tmp_path):
    writer = cache_module._NpyRowWriter(tmp_path / "a.npy", (2,), np.int16, capacity=2)
    for value in range(5):
        writer.append(np.full(2, value))
    writer.commit()

    array = np.load(tmp_path / "a.npy")
    np.testing.assert_array_equal(array[:, 0], [0, 1, 2, 3, 4])
    assert _temp_files(tmp_path) == []


# --------------------------------------------------------------------------- workers, precomputed, size


def test_worker_processes_match_in_process_build(tmp_path):
    frames = moving_square_frames(4)
    root = tmp_path / "data"
    dataset = make_dataset(root, [folder_video(root, "Train001", frames), folder_video(root, "Train002", frames[::-1])])

    pooled = _prepare(dataset, tmp_path / "pooled", workers=2)
    local = _prepare(dataset, tmp_path / "local", workers=1)

    for pooled_video, local_video in zip(pooled.train, local.train):
        np.testing.assert_array_equal(pooled_video.rgb, local_video.rgb)
        np.testing.assert_array_equal(pooled_video.flow, local_video.flow)


def test_precomputed_flow_cached_with_rescaling(tmp_path):
    dataset = _square_dataset(tmp_path / "data", num_frames=4, height=120, width=160)
    flow_dir = tmp_path / "flow"
    flow_dir.mkdir()
    flows = np.zeros((4, 60, 40, 2), np.float32)  # any resolution, here 40x60 (W x H)
    flows[0] = 50.0
    flows[1:, ..., 0] = 2.0
    flows[1:, ..., 1] = 3.0
    np.save(flow_dir / "Train001.npy", flows)
    config = CacheConfig(size=SIZE, flow_backend="precomputed")

    video = _prepare(dataset, tmp_path / "cache", config, precomputed_flow_dir=flow_dir).train[0]

    assert video.meta["flow_resolution"] == [60, 40]
    assert not video.flow[0].any()
    np.testing.assert_allclose(video.flow[1:, ..., 0].astype(np.float32), 2.0 * SIZE / 40, rtol=1e-3)
    np.testing.assert_allclose(video.flow[1:, ..., 1].astype(np.float32), 3.0 * SIZE / 60, rtol=1e-3)


def test_precomputed_file_change_rebuilds(tmp_path):
    dataset = _square_dataset(tmp_path / "data", num_frames=3)
    flow_dir = tmp_path / "flow"
    flow_dir.mkdir()
    np.save(flow_dir / "Train001.npy", np.ones((3, 8, 8, 2), np.float32))
    config = CacheConfig(size=SIZE, flow_backend="precomputed")
    first = _prepare(dataset, tmp_path / "cache", config, precomputed_flow_dir=flow_dir)

    np.save(flow_dir / "Train001.npy", np.zeros((3, 8, 8, 2), np.float32))
    second = _prepare(dataset, tmp_path / "cache", config, precomputed_flow_dir=flow_dir)

    assert second.fingerprint != first.fingerprint
    assert not second.train[0].flow.any()


def test_precomputed_dir_rejected_for_dis(tmp_path):
    dataset = _square_dataset(tmp_path / "data", num_frames=2)

    with pytest.raises(ValueError, match="precomputed_flow_dir"):
        _prepare(dataset, tmp_path / "cache", precomputed_flow_dir=tmp_path)


def test_cache_stores_under_02_mb_per_frame(tmp_path):
    dataset = _square_dataset(tmp_path / "data", num_frames=8)

    video = _prepare(dataset, tmp_path / "cache", CacheConfig(size=128)).train[0]

    stored = sum(path.stat().st_size for path in video.entry_dir.iterdir())
    assert stored / video.num_frames <= 0.2e6
    assert (video.entry_dir / "rgb.npy").stat().st_size - 128 == 8 * 128 * 128 * 3
    assert (video.entry_dir / "flow.npy").stat().st_size - 128 == 8 * 128 * 128 * 2 * 2
