"""MemAE: memory addressing, network shapes, training, flow on and off, and anomaly scores on generated scenes."""

import math

import numpy as np
import pytest
import torch

from bench.runner import RunOptions, build_method
from methods import METHODS
from methods.memae import MemAE, MemAEConfig
from methods.memae.model import MemAE3D, Memory, addressing_entropy, hard_shrink
from tests.unit.methods.scenes import FAST_SPEED, scene_batch

SMALL = {"channels": (8, 16, 32, 32)}
"""Narrow layers that keep CPU tests fast. Output shapes do not depend on widths."""

SCENE_SIZE = 64


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    """Run this module on one intra-op thread, restoring the previous count afterwards.

    These models are too small to gain from more threads, and on a loaded
    2-core machine two threads per process contend for the cores. In one
    measurement, the 40 training steps of MemAE's trained fixture took about
    8x longer in wall time with two threads than with one.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def small_method(flow=None, **options):
    torch.manual_seed(0)
    config = MemAEConfig(**{**SMALL, **options})
    flow_channels = {"color": 3, "raw": 2, None: 0}[flow]
    method = MemAE(config, use_flow=flow is not None, flow_channels=flow_channels)
    method.attach_optimizers(method.configure_optimizers())
    return method


@pytest.fixture(scope="module")
def trained():
    """A small MemAE with the full 2,000-item memory, trained briefly on normal 16-frame clips."""
    method = small_method(learning_rate=3e-3)
    training_batches = [
        scene_batch(batch_size=4, window_length=16, first_end=15 + offset, stride=8, image_size=SCENE_SIZE, flow=None)
        for offset in (0, 2, 4, 6)
    ]
    for step in range(40):
        method.training_step(training_batches[step % len(training_batches)])
    return method


def held_out(**scene):
    """Clips that end on frames the training batches never end on."""
    return scene_batch(batch_size=4, window_length=16, first_end=18, stride=9, image_size=SCENE_SIZE, flow=None,
                       **scene)


def scores(method, batch):
    return method.score_components(batch)["reconstruction_error"]


def test_hard_shrink_zeroes_small_weights():
    weights = torch.tensor([[0.001, 0.0025, 0.4965, 0.5]])
    shrunk = hard_shrink(weights, threshold=0.0025)
    assert shrunk[0, 0] == 0
    assert shrunk[0, 1] == 0
    torch.testing.assert_close(shrunk[0, 2:], weights[0, 2:])


def test_memory_weights_are_sparse_and_normalised():
    torch.manual_seed(0)
    memory = Memory(num_items=50, feature_channels=8, shrink_threshold=0.03)
    read, weights = memory(torch.randn(2, 8, 2, 4, 4) * 3)
    assert read.shape == (2, 8, 2, 4, 4)
    assert weights.shape == (2 * 2 * 4 * 4, 50)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(64))
    nonzero = weights.detach()[weights > 0]
    assert float(nonzero.min()) > 0.03
    assert int((weights == 0).sum()) > 0


def test_memory_read_is_weighted_sum_of_items():
    torch.manual_seed(0)
    memory = Memory(num_items=5, feature_channels=3, shrink_threshold=0.0)
    encoding = torch.randn(1, 3, 1, 1, 2)
    read, weights = memory(encoding)
    torch.testing.assert_close(read[0, :, 0, 0, :].t(), weights @ memory.items)
    torch.testing.assert_close(weights, torch.softmax(encoding[0, :, 0, 0, :].t() @ memory.items.t(), dim=1))


def test_addressing_entropy_bounds():
    one_hot = torch.eye(4)
    uniform = torch.full((3, 4), 0.25)
    assert float(addressing_entropy(one_hot)) == pytest.approx(0.0, abs=1e-6)
    assert float(addressing_entropy(uniform)) == pytest.approx(math.log(4))


def test_default_autoencoder_output_shapes():
    torch.manual_seed(0)
    model = MemAE3D(in_channels=1, out_channels=1)
    with torch.no_grad():
        reconstruction, weights = model(torch.rand(1, 1, 16, 128, 128))
    assert reconstruction.shape == (1, 1, 16, 128, 128)
    assert weights.shape == (2 * 8 * 8, 2000)
    assert model.memory.items.shape == (2000, 256)


def test_autoencoder_rejects_invalid_clip_sizes():
    model = MemAE3D(in_channels=1, out_channels=1, **SMALL)
    with pytest.raises(ValueError, match="clip length 12"):
        model(torch.rand(1, 1, 12, 64, 64))
    with pytest.raises(ValueError, match="frame size 72x72"):
        model(torch.rand(1, 1, 16, 72, 72))


def test_default_method_scores_one_clip():
    torch.manual_seed(0)
    method = MemAE(use_flow=False)
    batch = scene_batch(batch_size=1, window_length=16, flow=None)
    assert method.window_length == 16
    assert scores(method, batch).shape == (1,)


def test_gray_target_uses_bt601_weights():
    method = small_method()
    batch = {"rgb": torch.tensor([0.0, 0.0, 1.0]).view(1, 1, 3, 1, 1).expand(1, 16, 3, 16, 16)}
    clips, target = method._inputs(batch)
    assert target.shape == (1, 1, 16, 16, 16)
    torch.testing.assert_close(target, torch.full_like(target, 2 * 0.114 - 1))


def test_training_steps_lower_loss():
    method = small_method(learning_rate=1e-3)
    batch = scene_batch(batch_size=2, window_length=16, image_size=SCENE_SIZE, flow=None)
    before = method.validation_loss(batch)
    for _ in range(5):
        logged = method.training_step(batch)
    after = method.validation_loss(batch)
    assert set(logged) == {"loss", "loss_reconstruction", "loss_entropy"}
    assert logged["loss"] == pytest.approx(logged["loss_reconstruction"] + 0.0002 * logged["loss_entropy"])
    assert after < before


def test_adam_with_configured_rate():
    method = small_method()
    optimizer = method.optimizers["autoencoder"]
    assert isinstance(optimizer, torch.optim.Adam)
    assert optimizer.param_groups[0]["lr"] == 1e-4


@pytest.mark.parametrize(("flow", "channels"), [(None, 1), ("color", 4), ("raw", 3)])
def test_runs_with_flow_on_and_off(flow, channels):
    method = small_method(flow=flow)
    batch = scene_batch(batch_size=2, window_length=16, image_size=SCENE_SIZE, flow=flow)
    logged = method.training_step(batch)
    assert method.uses_flow == (flow is not None)
    assert method.autoencoder.encoder[0].in_channels == channels
    assert method.autoencoder.decoder[-1].out_channels == 1
    assert np.isfinite(logged["loss"])
    assert scores(method, batch).shape == (2,)


def test_flow_on_without_flow_in_batch_raises():
    method = small_method(flow="raw")
    with pytest.raises(ValueError, match="no 'flow'"):
        method.validation_loss(scene_batch(batch_size=1, window_length=16, image_size=SCENE_SIZE, flow=None))


def test_scored_frame_is_clip_centre():
    method = small_method()
    assert method.score_position == 8
    np.testing.assert_array_equal(method.scored_frames(np.array([15, 16, 40])), [8, 9, 33])


def test_scored_frame_last_option():
    method = small_method(scored_frame="last")
    assert method.score_position == -1
    np.testing.assert_array_equal(method.scored_frames(np.array([15, 16, 40])), [15, 16, 40])


def test_scored_frame_centre_of_longer_clip():
    method = small_method(window_length=24)
    np.testing.assert_array_equal(method.scored_frames(np.array([23, 30])), [12, 19])


def test_fast_square_scores_higher(trained):
    normal = scores(trained, held_out())
    fast = scores(trained, held_out(speed=FAST_SPEED))
    assert float(fast.min()) > float(normal.max())


def test_intruder_scores_higher(trained):
    normal = scores(trained, held_out())
    intruder = scores(trained, held_out(intruder=True))
    assert float(intruder.min()) > float(normal.max())


def test_config_rejects_invalid_values():
    with pytest.raises(ValueError, match="multiple of 8"):
        MemAEConfig(window_length=10)
    with pytest.raises(ValueError, match="channels must be four"):
        MemAEConfig(channels=(8, 16, 32))
    with pytest.raises(ValueError, match="scored_frame must be one of"):
        MemAEConfig(scored_frame="first")
    with pytest.raises(ValueError, match="shrink_threshold"):
        MemAEConfig(shrink_threshold=1.5)


def test_runner_builds_method_from_options():
    options = RunOptions(method="memae", dataset="ped2", use_flow=True,
                         method_options={"channels": [4, 8, 8, 8], "memory_items": 10})
    method = build_method(options, flow_channels=2)
    assert METHODS.get("memae") is MemAE
    assert isinstance(method, MemAE)
    assert method.config.channels == (4, 8, 8, 8)
    assert method.autoencoder.encoder[0].in_channels == 3
    assert method.describe()["uses_flow"] is True
