"""Shared fixtures of the benchmarks: real Ped2 data, its frame cache and the machine state.

Benchmarks run only on request (`python -m pytest tests/benchmarks --benchmark-enable`).
They read UCSD Ped2 from the data root and fail, rather than skip, when it is missing.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest
import torch

from bench.runner import default_cache_dir
from datasets.base import resolve_data_root
from datasets.cache import CacheConfig, PreparedDataset, prepare_dataset
from datasets.ped2 import load_ped2


def load_average() -> list[float]:
    """Return the 1, 5 and 15 minute load averages, recorded beside every measured figure."""
    return [round(value, 2) for value in os.getloadavg()]


def machine_state() -> dict:
    """Describe the machine a figure was measured on: CPU count, CPU model and current load."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "cpu_model": model, "load_average": load_average()}


@contextlib.contextmanager
def torch_threads(count: int):
    """Run the body with `count` intra-op threads, then restore the previous setting."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def ped2_root() -> Path:
    try:
        return resolve_data_root(None) / "ped2"
    except FileNotFoundError as error:
        pytest.fail(f"{error}. Set VADBENCH_DATA_ROOT=/path/to/shared/data to run the benchmarks.")


@pytest.fixture(scope="session")
def ped2_prepared(ped2_root) -> PreparedDataset:
    """Ped2 in the default frame cache ($VADBENCH_CACHE_DIR or ~/.cache/vadbench), built first if missing."""
    dataset = load_ped2(ped2_root)
    return prepare_dataset(dataset, CacheConfig(), default_cache_dir(), workers=2, progress=False)
