"""Damaged cache entries are found and rebuilt, and processes that share a cache root do not corrupt it."""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import datasets.cache as cache_module
from datasets.base import Dataset, Video
from datasets.cache import CacheConfig, prepare_dataset
from datasets.flow import sha256_file
from tests.unit.preprocess.media import folder_video, make_dataset, moving_square_frames, write_image_folder

SIZE = 32
REPO_ROOT = Path(__file__).resolve().parents[3]
# Seconds a test waits for a child process before it fails.
CHILD_TIMEOUT = 120

# A child process: wait for the start file, prepare the dataset of a data folder, print the frame counts.
CHILD_SCRIPT = """
import json, logging, sys, time
from pathlib import Path
from tests.unit.reliability.test_cache_integrity import load_folder_dataset, prepare

data_root, cache_root, ready_file, start_file = map(Path, sys.argv[1:5])
logging.basicConfig(level=logging.DEBUG, format="%(name)s %(levelname)s: %(message)s")
dataset = load_folder_dataset(data_root)
ready_file.touch()
deadline = time.monotonic() + 60
while not start_file.exists():
    if time.monotonic() > deadline:
        sys.exit("timed out waiting for the start file")
    time.sleep(0.005)
prepared = prepare(dataset, cache_root)
print(json.dumps({video.name: video.num_frames for video in prepared.train}))
"""


def prepare(dataset, cache_root, **kwargs):
    kwargs.setdefault("workers", 1)
    kwargs.setdefault("progress", False)
    return prepare_dataset(dataset, CacheConfig(size=SIZE), cache_root, **kwargs)


def load_folder_dataset(data_root: Path) -> Dataset:
    """Read every subfolder of `data_root` as one training video of sorted image files."""
    videos = [
        Video(name=folder.name, split="train", frame_paths=tuple(sorted(folder.iterdir())))
        for folder in sorted(data_root.iterdir())
    ]
    return Dataset(name="shared", root=data_root, train=videos, test=[], ground_truth="none")


def _write_folder_videos(data_root: Path, num_videos: int, num_frames: int) -> None:
    for index in range(num_videos):
        write_image_folder(data_root / f"V{index}", moving_square_frames(num_frames, step=(1, 1), seed=index))


def _start_child(data_root, cache_root, tag, start_file):
    log_path = cache_root.parent / f"{tag}.log"
    ready_file = cache_root.parent / f"{tag}.ready"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", CHILD_SCRIPT, str(data_root), str(cache_root), str(ready_file), str(start_file)],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    return process, log_path, ready_file


def _wait_for(condition, description):
    deadline = time.monotonic() + CHILD_TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {CHILD_TIMEOUT} s waiting for {description}")
        time.sleep(0.01)


def _finish_child(process, log_path):
    stdout, _ = process.communicate(timeout=CHILD_TIMEOUT)
    log = log_path.read_text()
    assert process.returncode == 0, f"child process failed:\n{log}"
    return json.loads(stdout), log


def _assert_entry_checksums(entry_dir: Path) -> None:
    meta = json.loads((entry_dir / "meta.json").read_text())
    for info in meta["arrays"].values():
        path = entry_dir / info["file"]
        assert path.stat().st_size == info["bytes"], path
        assert sha256_file(path) == info["sha256"], path


def _cache_leftovers(cache_root: Path) -> list[str]:
    return sorted(
        path.name for path in cache_root.rglob("*")
        if cache_module.TEMP_MARKER in path.name or path.name == cache_module.LOCK_FILE
    )


# --------------------------------------------------------------------------- damaged entries


@pytest.fixture
def built(tmp_path):
    """One cached 4-frame video, with copies of its arrays as first built."""
    dataset = make_dataset(tmp_path / "data", [folder_video(tmp_path / "data", "Train001", moving_square_frames(4))])
    video = prepare(dataset, tmp_path / "cache").train[0]
    return dataset, video.entry_dir, np.array(video.rgb), np.array(video.flow)


def _truncate(path):
    with open(path, "r+b") as file:
        file.truncate(path.stat().st_size // 2)


def _flip_middle(path, count=64):
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    for index in range(middle, middle + count):
        data[index] ^= 0xFF
    path.write_bytes(bytes(data))


DAMAGES = {
    "rgb truncated": ("rgb.npy", _truncate, "rgb.npy has {half} bytes, expected {size}"),
    "flow truncated": ("flow.npy", _truncate, "flow.npy has {half} bytes, expected {size}"),
    "rgb zero bytes": ("rgb.npy", lambda path: path.write_bytes(b""), "rgb.npy has 0 bytes, expected {size}"),
    "flow missing": ("flow.npy", Path.unlink, "flow.npy is missing"),
    "meta zero bytes": ("meta.json", lambda path: path.write_bytes(b""), "meta.json is unreadable"),
    "meta truncated": ("meta.json", _truncate, "meta.json is unreadable"),
    "rgb bytes flipped": ("rgb.npy", _flip_middle, "the sha256 of rgb.npy does not match meta.json"),
    "flow bytes flipped": ("flow.npy", _flip_middle, "the sha256 of flow.npy does not match meta.json"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damaged_entry_rebuilt_by_default(tmp_path, caplog, built, damage):
    dataset, entry_dir, rgb, flow = built
    file_name, apply_damage, expected_log = DAMAGES[damage]
    path = entry_dir / file_name
    size = path.stat().st_size
    apply_damage(path)

    with caplog.at_level(logging.WARNING, logger="datasets.cache"):
        video = prepare(dataset, tmp_path / "cache").train[0]

    assert f"rebuilding {entry_dir}: " + expected_log.format(half=size // 2, size=size) in caplog.text
    np.testing.assert_array_equal(video.rgb, rgb)
    np.testing.assert_array_equal(video.flow, flow)
    _assert_entry_checksums(entry_dir)


def test_flipped_bytes_kept_without_verification(tmp_path, caplog, built):
    dataset, entry_dir, rgb, _ = built
    _flip_middle(entry_dir / "rgb.npy")

    with caplog.at_level(logging.INFO, logger="datasets.cache"):
        video = prepare(dataset, tmp_path / "cache", verify_checksums=False).train[0]

    # Same size, shape and dtype: only the sha256 finds this damage, so turning it off keeps it.
    assert "rebuilding" not in caplog.text
    assert not np.array_equal(video.rgb, rgb)


def test_damaged_npy_header_rebuilt_without_verification(tmp_path, caplog, built):
    dataset, entry_dir, rgb, _ = built
    path = entry_dir / "rgb.npy"
    path.write_bytes(b"\x00" * 6 + path.read_bytes()[6:])  # overwrite the magic string "\x93NUMPY"

    with caplog.at_level(logging.WARNING, logger="datasets.cache"):
        video = prepare(dataset, tmp_path / "cache", verify_checksums=False).train[0]

    assert "rgb.npy is not a valid .npy file" in caplog.text
    np.testing.assert_array_equal(video.rgb, rgb)


def test_stale_lock_file_ignored(tmp_path, caplog, built):
    # A process killed while holding the lock leaves its lock file, but the kernel releases the lock.
    dataset, entry_dir, rgb, _ = built
    (entry_dir / cache_module.LOCK_FILE).write_text("")

    with caplog.at_level(logging.INFO, logger="datasets.cache"):
        video = prepare(dataset, tmp_path / "cache").train[0]

    assert "waiting" not in caplog.text
    np.testing.assert_array_equal(video.rgb, rgb)
    assert _cache_leftovers(tmp_path / "cache") == []


def test_read_only_cache_checked_without_lock(tmp_path, caplog, monkeypatch, built):
    dataset, entry_dir, rgb, _ = built
    real_open = os.open

    def open_without_write_permission(path, flags, *args, **kwargs):
        if Path(path).name == cache_module.LOCK_FILE:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    # Running as root ignores file modes, so the denial is simulated at os.open.
    monkeypatch.setattr(os, "open", open_without_write_permission)
    with caplog.at_level(logging.WARNING, logger="datasets.cache"):
        video = prepare(dataset, tmp_path / "cache").train[0]

    assert f"using {entry_dir} without a lock" in caplog.text
    np.testing.assert_array_equal(video.rgb, rgb)


# --------------------------------------------------------------------------- processes sharing a cache root


def test_two_processes_prepare_one_cache(tmp_path):
    data_root, cache_root = tmp_path / "data", tmp_path / "shared" / "cache"
    cache_root.parent.mkdir()
    num_videos = 4
    _write_folder_videos(data_root, num_videos, num_frames=30)
    start_file = cache_root.parent / "start"

    children = [_start_child(data_root, cache_root, tag, start_file) for tag in ("a", "b")]
    _wait_for(lambda: all(ready.exists() for _, _, ready in children), "both processes to load the dataset")
    start_file.touch()
    results = [_finish_child(process, log_path) for process, log_path, _ in children]

    counts = [counts for counts, _ in results]
    assert counts[0] == counts[1] == {f"V{index}": 30 for index in range(num_videos)}
    builds = sum(log.count("building cache entry") for _, log in results)
    assert builds == num_videos, "each entry must be built by exactly one process"
    assert _cache_leftovers(cache_root) == []

    fresh = prepare(load_folder_dataset(data_root), tmp_path / "fresh")
    for video in fresh.train:
        shared_entry = cache_root / "shared" / fresh.config.key() / "train" / video.name
        _assert_entry_checksums(shared_entry)
        np.testing.assert_array_equal(np.load(shared_entry / "rgb.npy"), video.rgb)
        np.testing.assert_array_equal(np.load(shared_entry / "flow.npy"), video.flow)


def test_second_process_waits_then_reuses_entry(tmp_path):
    data_root, cache_root = tmp_path / "data", tmp_path / "shared" / "cache"
    cache_root.parent.mkdir()
    _write_folder_videos(data_root, num_videos=1, num_frames=8)
    donor = prepare(load_folder_dataset(data_root), tmp_path / "donor").train[0]
    entry_dir = cache_root / "shared" / CacheConfig(size=SIZE).key() / "train" / "V0"
    start_file = cache_root.parent / "start"
    start_file.touch()

    with cache_module._entry_lock(entry_dir):
        process, log_path, _ = _start_child(data_root, cache_root, "waiter", start_file)
        _wait_for(lambda: f"waiting for cache entry {entry_dir}" in log_path.read_text(), "the lock wait")
        assert process.poll() is None
        assert not (entry_dir / "meta.json").exists()
        # Finish the entry as a building process would: arrays first, meta.json last.
        for name in ("rgb.npy", "flow.npy", "meta.json"):
            shutil.copy2(donor.entry_dir / name, entry_dir / name)

    counts, log = _finish_child(process, log_path)

    assert counts == {"V0": 8}
    assert "all 1 cache entries" in log
    assert "building cache entry" not in log
    _assert_entry_checksums(entry_dir)
    assert _cache_leftovers(cache_root) == []
