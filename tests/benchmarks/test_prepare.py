"""Preparation of all of UCSD Ped2 into a fresh frame cache, and its reuse.

Our layout stores each frame once (uint8 RGB and float16 flow at 128x128).
The reference layout of Kang and Kang (2025) stores one float32
[12, 128, 128, 3] tensor per 6-frame window, so at stride 1 every frame is
stored 6 times; its size here is that of a real torch.save file of one
window times the number of windows, because writing all of them would take
about 10 GB.
"""

from __future__ import annotations

import time

import numpy as np
import torch

import datasets.cache as cache
from datasets.cache import CacheConfig, prepare_dataset
from datasets.ped2 import load_ped2
from datasets.windows import WindowDataset
from tests.benchmarks.conftest import load_average, machine_state

WORKERS = 2
WINDOW_LENGTH = 6
TARGET_SECONDS = 60.0
TARGET_BYTES_PER_FRAME = 0.2e6
TARGET_SIZE_RATIO = 10.0


def paper_window_file_bytes(prepared, folder) -> int:
    """Return the size of one window saved as the paper does: float32 [12, S, S, 3] through torch.save."""
    window = WindowDataset(prepared.train[:1], window_length=WINDOW_LENGTH)[0]
    tensor = torch.cat([window["rgb"], window["flow"]]).permute(0, 2, 3, 1).contiguous()
    path = folder / "window.pt"
    torch.save(tensor, path)
    return path.stat().st_size


def test_prepare_ped2_from_scratch(benchmark, ped2_root, tmp_path):
    dataset = load_ped2(ped2_root)
    cache_root = tmp_path / "cache"

    load_before = load_average()
    prepared = benchmark.pedantic(prepare_dataset, args=(dataset, CacheConfig(), cache_root),
                                  kwargs={"workers": WORKERS, "progress": False}, rounds=1, iterations=1)
    seconds = benchmark.stats.stats.median
    load_after = load_average()

    num_frames = sum(video.num_frames for video in prepared.videos)
    cache_bytes = sum(path.stat().st_size for path in prepared.cache_dir.rglob("*.npy"))
    num_windows = sum(max(video.num_frames - WINDOW_LENGTH + 1, 0) for video in prepared.videos)
    paper_bytes = paper_window_file_bytes(prepared, tmp_path) * num_windows
    figures = {
        **machine_state(),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "workers": WORKERS,
        "frames": num_frames,
        "seconds": seconds,
        "frames_per_second": num_frames / seconds,
        "cache_bytes": cache_bytes,
        "cache_bytes_per_frame": cache_bytes / num_frames,
        "paper_layout_bytes": paper_bytes,
        "paper_layout_bytes_per_frame": paper_bytes / num_frames,
        "size_ratio": paper_bytes / cache_bytes,
        "target_seconds": TARGET_SECONDS,
        "meets_target": seconds < TARGET_SECONDS,
    }
    benchmark.extra_info.update(figures)
    print(figures)

    assert num_frames == 4560
    assert figures["cache_bytes_per_frame"] <= TARGET_BYTES_PER_FRAME
    assert figures["size_ratio"] >= TARGET_SIZE_RATIO
    # NOTE: the time target is reported, not asserted: it depends on the load of the shared machine.


def test_prepare_ped2_reuses_cache(benchmark, ped2_prepared, ped2_root, monkeypatch):
    """A second preparation of a complete cache decodes no frame, computes no flow and starts no worker."""
    calls = {"iter_frames": 0, "build_flow_backend": 0, "run_jobs": 0}

    def counting(name, function):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(cache, "iter_frames", counting("iter_frames", cache.iter_frames))
    monkeypatch.setattr(cache, "build_flow_backend", counting("build_flow_backend", cache.build_flow_backend))
    monkeypatch.setattr(cache, "_run_jobs", counting("run_jobs", cache._run_jobs))

    dataset = load_ped2(ped2_root)
    cache_root = ped2_prepared.cache_dir.parent.parent
    load_before = load_average()
    prepared = benchmark.pedantic(prepare_dataset, args=(dataset, CacheConfig(), cache_root),
                                  kwargs={"workers": WORKERS, "progress": False}, rounds=3, iterations=1)
    figures = {**machine_state(), "load_average_before": load_before,
               "seconds_median": benchmark.stats.stats.median, "calls": calls}
    benchmark.extra_info.update(figures)
    print(figures)

    assert calls == {"iter_frames": 0, "build_flow_backend": 0, "run_jobs": 0}
    assert prepared.cache_dir == ped2_prepared.cache_dir
    np.testing.assert_array_equal(prepared.train[0].rgb, ped2_prepared.train[0].rgb)
