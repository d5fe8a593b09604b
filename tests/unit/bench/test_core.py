"""Registry, run records and run options."""

import json
import os

import pytest

from bench.profiles import PROFILES
from bench.records import RunFolder, atomic_write_json, config_hash
from bench.registry import Registry, UnknownNameError
from bench.runner import RunOptions, select_videos, split_validation
from bench.suite import leaderboard_suite, options_for
from datasets import DATASETS
from methods import METHODS


def test_registry_normalises_names():
    registry = Registry("thing")
    registry.register("conv-lstm")(1)
    assert registry.get("CONV_LSTM") == 1
    assert "conv_lstm" in registry


def test_registry_unknown_name_lists_valid():
    registry = Registry("thing")
    registry.register("alpha")(1)
    with pytest.raises(UnknownNameError, match="unknown thing 'beta'; valid names: alpha"):
        registry.get("beta")


def test_registry_rejects_duplicates():
    registry = Registry("thing")
    registry.register("alpha")(1)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("alpha")(2)


def test_atomic_write_leaves_no_temp_files(tmp_path):
    target = tmp_path / "sub" / "metrics.json"
    atomic_write_json(target, {"micro_auc": 0.9})
    atomic_write_json(target, {"micro_auc": 0.8})
    assert json.loads(target.read_text()) == {"micro_auc": 0.8}
    assert os.listdir(target.parent) == ["metrics.json"]


def test_run_folder_status(tmp_path):
    folder = RunFolder(tmp_path / "run")
    assert folder.status() is None
    folder.set_status("running")
    assert folder.status() == "running"


def test_config_hash_is_order_independent():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_run_id_ignores_paths_but_not_options():
    base = RunOptions(method="ours", dataset="ped2", data_root="/a", cache_dir="/c")
    moved = RunOptions(method="ours", dataset="ped2", data_root="/b", cache_dir="/d")
    reseeded = RunOptions(method="ours", dataset="ped2", seed=1)
    dropped = RunOptions(method="ours", dataset="ped2", drop=("perceptual",))
    assert base.default_run_id() == moved.default_run_id()
    assert base.default_run_id() != reseeded.default_run_id()
    assert "drop-perceptual" in dropped.default_run_id()


def test_flow_default_follows_method():
    assert RunOptions(method="ours", dataset="ped2").use_flow is True
    assert RunOptions(method="memae", dataset="ped2").use_flow is False
    assert RunOptions(method="memae", dataset="ped2", use_flow=True).use_flow is True
    assert "_noflow_" in RunOptions(method="convlstm-ae", dataset="ped2").default_run_id()


def test_suite_entries_flow_default():
    # `bench reproduce` starts from options without a method and fills one in per suite entry.
    template = RunOptions(method="", dataset="")
    assert template.use_flow is None
    entries = leaderboard_suite(METHODS.names(), DATASETS.names())
    flows = {(entry.method, entry.drop, entry.use_flow): options_for(entry, template).use_flow for entry in entries}
    assert flows[("ours", (), None)] is True
    assert flows[("ours", (), False)] is False
    assert flows[("convlstm-ae", (), None)] is False
    assert flows[("flow-magnitude", (), None)] is True


class _Video:
    def __init__(self, name):
        self.name = name


def test_validation_split_holds_out_last_videos():
    videos = [_Video(name) for name in ("Train003", "Train001", "Train002")]
    train, validation = split_validation(videos, 1)
    assert [video.name for video in train] == ["Train001", "Train002"]
    assert [video.name for video in validation] == ["Train003"]


def test_validation_split_rejects_all_videos():
    with pytest.raises(ValueError, match="cannot hold out 2 of 2"):
        split_validation([_Video("a"), _Video("b")], 2)


def test_select_videos_unknown_name():
    with pytest.raises(ValueError, match="unknown test video"):
        select_videos([_Video("Test001")], ("Test099",), "test")


def test_profiles_state_their_budget():
    assert PROFILES.get("paper").epochs == 400
    assert PROFILES.get("paper").paper_scale
    assert not PROFILES.get("cpu").paper_scale
    assert PROFILES.get("smoke").steps_per_epoch is not None


@pytest.mark.parametrize("flags", [[], ["--flow", "on"], ["--method", "memae", "--flow", "off"]])
def test_ablate_without_change_rejected(flags, tmp_path, capsys):
    # Each of these asks for the method's full model, so there is no variant to train.
    from bench.cli import main

    assert main(["ablate", *flags, "--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 2
    assert "nothing to ablate" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
