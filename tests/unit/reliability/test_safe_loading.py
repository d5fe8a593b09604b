"""Checkpoints load without running code, and unfinished runs never reach a leaderboard."""

import json
import pickle

import pytest
import torch

from bench.leaderboard import load_completed_runs
from bench.records import RunFolder
from bench.training import load_checkpoint, save_checkpoint

MARKER_NAME = "pwned.txt"


class _WritesMarker:
    """Unpickling this object would create a file: the payload a crafted checkpoint would carry."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_crafted_pickle_checkpoint_rejected(tmp_path):
    marker = tmp_path / MARKER_NAME
    crafted = tmp_path / "crafted.pt"
    with open(crafted, "wb") as handle:
        pickle.dump({"model": _WritesMarker(str(marker))}, handle)
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(crafted)
    assert not marker.exists()


def test_crafted_torch_save_checkpoint_rejected(tmp_path):
    marker = tmp_path / MARKER_NAME
    crafted = tmp_path / "crafted.pt"
    torch.save({"model": _WritesMarker(str(marker))}, crafted)
    marker.unlink(missing_ok=True)
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(crafted)
    assert not marker.exists()


def test_checkpoint_roundtrip(tmp_path):
    state = {"model": {"weight": torch.arange(4.0)}, "epoch": 3, "history": [{"loss": 0.5}]}
    save_checkpoint(tmp_path / "last.pt", state)
    loaded = load_checkpoint(tmp_path / "last.pt")
    assert torch.equal(loaded["model"]["weight"], state["model"]["weight"])
    assert loaded["epoch"] == 3


def _fake_run(runs_dir, name, status):
    folder = RunFolder(runs_dir / name)
    folder.path.mkdir(parents=True)
    folder.set_status(status)
    folder.write_json("metrics.json", {"dataset": "ped2", "metrics": {}})
    folder.write_json("config.json", {"options": {"method": "ours"}})


def test_unfinished_runs_never_listed(tmp_path):
    _fake_run(tmp_path, "done", "complete")
    _fake_run(tmp_path, "killed", "running")
    _fake_run(tmp_path, "crashed", "failed")
    assert [run.run_id for run in load_completed_runs(tmp_path)] == ["done"]


def test_complete_run_missing_metrics_skipped(tmp_path):
    _fake_run(tmp_path, "broken", "complete")
    (tmp_path / "broken" / "metrics.json").unlink()
    assert load_completed_runs(tmp_path) == []
    assert json.loads((tmp_path / "broken" / "status.json").read_text())["status"] == "complete"
