"""Flow backends: direction and units of each, RAFT weights lookup, precomputed files, rescaling."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from datasets.base import DataError, DatasetNotFoundError, Video
from datasets.flow import FLOW_BACKENDS, PrecomputedFlow, build_flow_backend, resize_flow

from .media import moving_square_frames, square_interior


@pytest.fixture
def no_network(monkeypatch):
    """Make any attempt to open a network connection fail the test."""

    def reject(*args, **kwargs):
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", reject)
    monkeypatch.setattr(socket, "create_connection", reject)


@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    """Point torch.hub.get_dir() at an empty temporary folder."""
    folder = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(folder))
    return folder


def test_registry_lists_backends():
    assert FLOW_BACKENDS.names() == ["dis", "farneback", "precomputed", "raft-large", "raft-small"]


@pytest.mark.parametrize("name", ["dis", "farneback"])
def test_backend_flow_is_forward_in_pixels(name):
    frames = moving_square_frames(2, step=(3, 2))
    backend = build_flow_backend(name)
    rows, cols = square_interior(0)

    forward = backend.compute(frames[0], frames[1])
    backward = backend.compute(frames[1], frames[0])

    assert forward.dtype == np.float32
    assert forward.shape == (120, 160, 2)
    np.testing.assert_allclose(forward[rows, cols].mean(axis=(0, 1)), (3, 2), atol=0.3)
    np.testing.assert_allclose(np.abs(forward[100:, 120:]).mean(), 0, atol=0.1)  # static background
    rows, cols = square_interior(1)
    np.testing.assert_allclose(backward[rows, cols].mean(axis=(0, 1)), (-3, -2), atol=0.3)


def test_backend_logs_choice(caplog):
    with caplog.at_level(logging.INFO, logger="datasets.flow"):
        build_flow_backend("dis", {"preset": "fast"})

    assert "flow backend dis: params {'preset': 'fast'}, weights none" in caplog.text


def test_describe_names_params_and_versions():
    description = build_flow_backend("farneback", {"winsize": 21}).describe()

    assert description["name"] == "farneback"
    assert description["params"]["winsize"] == 21
    assert description["params"]["levels"] == 3
    assert set(description["library_versions"]) == {"opencv", "numpy"}
    assert description["weights"] is None


def test_unknown_parameter_rejected():
    with pytest.raises(ValueError, match="no parameter window.*valid: preset"):
        build_flow_backend("dis", {"window": 3})


def test_invalid_dis_preset_rejected():
    with pytest.raises(ValueError, match="ultrafast, fast, medium"):
        build_flow_backend("dis", {"preset": "slow"})


def test_flow_dir_rejected_for_dis(tmp_path):
    with pytest.raises(ValueError, match="precomputed flow folder"):
        build_flow_backend("dis", flow_dir=tmp_path)


def test_resize_flow_scales_each_axis():
    field = np.zeros((80, 160, 2), np.float32)
    field[..., 0] = 4.0
    field[..., 1] = 2.0

    resized = resize_flow(field, 32)

    assert resized.shape == (32, 32, 2)
    assert resized.dtype == np.float32
    np.testing.assert_allclose(resized[..., 0], 4.0 * 32 / 160, rtol=1e-6)
    np.testing.assert_allclose(resized[..., 1], 2.0 * 32 / 80, rtol=1e-6)


def test_resize_flow_scales_when_upsampling():
    field = np.ones((10, 20, 2), np.float32)

    resized = resize_flow(field, 40)

    np.testing.assert_allclose(resized[..., 0], 2.0, rtol=1e-6)
    np.testing.assert_allclose(resized[..., 1], 4.0, rtol=1e-6)


@pytest.mark.parametrize(("name", "file_name"), [
    ("raft-small", "raft_small_C_T_V2-01064c6d.pth"),
    ("raft-large", "raft_large_C_T_SKHT_V2-ff5fadd5.pth"),
])
def test_raft_missing_weights_error(name, file_name, hub_dir, no_network):
    with pytest.raises(FileNotFoundError) as error:
        build_flow_backend(name)

    message = str(error.value)
    assert str(hub_dir / "checkpoints" / file_name) in message
    assert "nothing is downloaded" in message
    assert f"https://download.pytorch.org/models/{file_name}" in message


def test_raft_explicit_weights_missing(tmp_path, no_network):
    with pytest.raises(FileNotFoundError, match=r"absent\.pth.*nothing is downloaded"):
        build_flow_backend("raft-small", {"weights": str(tmp_path / "absent.pth")})


def test_raft_small_runs_from_local_weights(hub_dir, no_network):
    from torchvision.models.optical_flow import raft_small

    torch.manual_seed(0)
    weights = hub_dir / "checkpoints" / "raft_small_C_T_V2-01064c6d.pth"
    weights.parent.mkdir(parents=True)
    torch.save(raft_small(weights=None).state_dict(), weights)  # random weights: only shapes are checked
    frames = moving_square_frames(2, height=64, width=76)

    backend = build_flow_backend("raft-small", {"device": "cpu", "num_flow_updates": 2})
    flow = backend.compute(frames[0], frames[1])

    assert flow.shape == (64, 76, 2)  # 76 is not a multiple of 8, so padding was cropped
    assert flow.dtype == np.float32
    assert np.isfinite(flow).all()
    assert backend.describe()["weights"]["path"] == str(weights)
    assert len(backend.describe()["weights"]["sha256"]) == 64


def _video(name: str = "v1", split: str = "test") -> Video:
    return Video(name=name, split=split, video_path=Path(f"/nonexistent/{name}.mp4"))


def test_precomputed_reads_entries_after_first(tmp_path):
    flows = np.zeros((4, 10, 20, 2), np.float32)
    flows[0] = 99.0  # entry 0 is ignored
    flows[1:, ..., 0] = np.arange(1, 4)[:, None, None]
    np.save(tmp_path / "v1.npy", flows)

    fields = list(build_flow_backend("precomputed", flow_dir=tmp_path).read_fields(_video(), 4))

    assert len(fields) == 3
    assert [field[0, 0, 0] for field in fields] == [1.0, 2.0, 3.0]


def test_precomputed_prefers_split_folder(tmp_path):
    (tmp_path / "test").mkdir()
    np.save(tmp_path / "v1.npy", np.zeros((2, 4, 4, 2), np.float32))
    np.save(tmp_path / "test" / "v1.npy", np.zeros((2, 4, 4, 2), np.float32))

    backend = build_flow_backend("precomputed", flow_dir=tmp_path)

    assert backend.flow_file(_video(split="test")) == tmp_path / "test" / "v1.npy"
    assert backend.flow_file(_video(split="train")) == tmp_path / "v1.npy"


def test_precomputed_missing_file_names_paths(tmp_path):
    backend = build_flow_backend("precomputed", flow_dir=tmp_path)

    with pytest.raises(DataError, match=r"test/v1\.npy or .*v1\.npy"):
        backend.flow_file(_video())


def test_precomputed_one_entry_short_gives_hint(tmp_path):
    np.save(tmp_path / "v1.npy", np.zeros((3, 4, 4, 2), np.float32))
    backend = build_flow_backend("precomputed", flow_dir=tmp_path)

    with pytest.raises(DataError, match="has 3 entries but video 'v1' has 4 frames.*prepend one zero field"):
        list(backend.read_fields(_video(), 4))


@pytest.mark.parametrize(("array", "match"), [
    (np.zeros((4, 4, 4, 3), np.float32), r"shape \(4, 4, 4, 3\)"),
    (np.zeros((4, 4, 2), np.float32), "expected \\[N, H, W, 2\\]"),
    (np.zeros((4, 4, 4, 2), np.int16), "dtype int16"),
])
def test_precomputed_bad_array_rejected(tmp_path, array, match):
    np.save(tmp_path / "v1.npy", array)
    backend = build_flow_backend("precomputed", flow_dir=tmp_path)

    with pytest.raises(DataError, match=match):
        list(backend.read_fields(_video(), 4))


def test_precomputed_nan_entry_rejected(tmp_path):
    flows = np.zeros((4, 4, 4, 2), np.float32)
    flows[2, 1, 1, 0] = np.nan
    np.save(tmp_path / "v1.npy", flows)
    backend = build_flow_backend("precomputed", flow_dir=tmp_path)

    with pytest.raises(DataError, match="entry 2 contains NaN"):
        list(backend.read_fields(_video(), 4))


def test_precomputed_needs_existing_folder(tmp_path):
    with pytest.raises(ValueError, match="precomputed_flow_dir"):
        build_flow_backend("precomputed")
    with pytest.raises(DatasetNotFoundError, match="not found"):
        build_flow_backend("precomputed", flow_dir=tmp_path / "absent")


def test_precomputed_has_no_pairwise_compute(tmp_path):
    backend = build_flow_backend("precomputed", flow_dir=tmp_path)

    assert isinstance(backend, PrecomputedFlow)
    assert not backend.pairwise
    with pytest.raises(TypeError, match="computes no flow"):
        backend.compute(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 3), np.uint8))
