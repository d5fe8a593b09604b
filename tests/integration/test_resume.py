"""A `bench run` killed with SIGKILL resumes to the same weights and metrics as an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from bench.leaderboard import load_completed_runs
from bench.training import load_checkpoint
from datasets.base import resolve_data_root


def _arguments(work, run_id):
    return [sys.executable, "-m", "bench.cli", "run", "--method", "ours", "--dataset", "ped2",
            "--profile", "smoke", "--train-videos", "Train001,Train002,Train003", "--validation-videos", "1",
            "--test-videos", "Test001", "--cache-dir", str(work / "cache"), "--runs-dir", str(work / "runs"),
            "--run-id", run_id, "--no-progress", "--drop", "perceptual"]


def _wait_for_checkpoint(path, process, timeout=600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return
        if process.poll() is not None:
            pytest.fail(f"run exited with {process.returncode} before writing {path}")
        time.sleep(0.05)
    pytest.fail(f"no checkpoint at {path} after {timeout} s")


def test_killed_run_resumes_identically(tmp_path):
    try:
        resolve_data_root(None)
    except FileNotFoundError as error:
        pytest.fail(f"{error}. Set VADBENCH_DATA_ROOT=/path/to/shared/data to run the real-data tests.")

    subprocess.run(_arguments(tmp_path, "reference"), check=True, capture_output=True)

    killed = subprocess.Popen(_arguments(tmp_path, "killed"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = tmp_path / "runs" / "killed" / "checkpoints" / "last.pt"
    _wait_for_checkpoint(checkpoint, killed)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    killed_at_epoch = load_checkpoint(checkpoint)["epoch"]

    status = json.loads((tmp_path / "runs" / "killed" / "status.json").read_text())["status"]
    assert status == "running"
    assert [run.run_id for run in load_completed_runs(tmp_path / "runs")] == ["reference"]
    assert killed_at_epoch >= 1

    subprocess.run([*_arguments(tmp_path, "killed"), "--resume"], check=True, capture_output=True)

    reference = load_checkpoint(tmp_path / "runs" / "reference" / "checkpoints" / "last.pt")
    resumed = load_checkpoint(checkpoint)
    assert resumed["epoch"] == reference["epoch"]
    for name, tensor in reference["model"].items():
        assert torch.equal(resumed["model"][name], tensor), name
    reference_metrics = json.loads((tmp_path / "runs" / "reference" / "metrics.json").read_text())["metrics"]
    resumed_metrics = json.loads((tmp_path / "runs" / "killed" / "metrics.json").read_text())["metrics"]
    assert resumed_metrics["micro_auc"] == reference_metrics["micro_auc"]
    assert resumed_metrics["ap"] == reference_metrics["ap"]
