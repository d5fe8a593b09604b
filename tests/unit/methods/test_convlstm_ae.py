"""ConvLSTM-AE: network shapes, training, flow on and off, and anomaly scores on generated scenes."""

import numpy as np
import pytest
import torch

from bench.runner import RunOptions, build_method
from methods import METHODS
from methods.convlstm_ae import ConvLSTMAE, ConvLSTMAEConfig
from methods.convlstm_ae.model import ConvLSTMAutoencoder, ConvLSTMCell
from tests.unit.methods.scenes import FAST_SPEED, scene_batch

SMALL = {"encoder_channels": (16, 32, 64), "hidden_channels": 64}
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
    config = ConvLSTMAEConfig(**{**SMALL, **options})
    flow_channels = {"color": 3, "raw": 2, None: 0}[flow]
    method = ConvLSTMAE(config, use_flow=flow is not None, flow_channels=flow_channels)
    method.attach_optimizers(method.configure_optimizers())
    return method


@pytest.fixture(scope="module")
def trained():
    """A small ConvLSTM-AE trained briefly on normal 10-frame windows of the moving-square scene."""
    method = small_method(optimizer="adam", learning_rate=3e-3)
    training_batches = [
        scene_batch(batch_size=4, window_length=10, first_end=9 + offset, stride=8, image_size=SCENE_SIZE, flow=None)
        for offset in (0, 2, 4, 6)
    ]
    for step in range(60):
        method.training_step(training_batches[step % len(training_batches)])
    return method


def held_out(**scene):
    """Windows that end on frames the training batches never end on."""
    return scene_batch(batch_size=4, window_length=10, first_end=12, stride=9, image_size=SCENE_SIZE, flow=None,
                       **scene)


def scores(method, batch):
    return method.score_components(batch)["reconstruction_error"]


def test_conv_lstm_cell_keeps_spatial_size():
    cell = ConvLSTMCell(input_channels=5, hidden_channels=7)
    x = torch.rand(2, 5, 8, 8)
    hidden, state = cell(x, cell.initial_state(x))
    assert hidden.shape == (2, 7, 8, 8)
    assert state.shape == (2, 7, 8, 8)


def test_autoencoder_output_shapes():
    model = ConvLSTMAutoencoder(in_channels=4, out_channels=1, **SMALL)
    with torch.no_grad():
        current, past = model(torch.rand(2, 10, 4, 128, 128))
    assert current.shape == (2, 10, 1, 128, 128)
    assert past.shape == (2, 9, 1, 128, 128)
    assert float(current.abs().max()) <= 1.0


def test_autoencoder_without_past_decoder():
    model = ConvLSTMAutoencoder(in_channels=1, out_channels=1, past_decoder=False, **SMALL)
    current, past = model(torch.rand(1, 3, 1, 64, 64))
    assert current.shape == (1, 3, 1, 64, 64)
    assert past is None


def test_autoencoder_rejects_size_not_multiple_of_16():
    model = ConvLSTMAutoencoder(in_channels=1, out_channels=1, **SMALL)
    with pytest.raises(ValueError, match="not a multiple of 16"):
        model(torch.rand(1, 2, 1, 120, 120))


def test_default_method_scores_one_window():
    torch.manual_seed(0)
    method = ConvLSTMAE(use_flow=False)
    batch = scene_batch(batch_size=1, window_length=10, flow=None)
    assert method.window_length == 10
    assert method.autoencoder.encoder[0].in_channels == 1
    assert scores(method, batch).shape == (1,)


def test_rgb_color_reconstructs_three_channels():
    method = small_method(color="rgb")
    inputs, target = method._inputs(scene_batch(batch_size=1, window_length=4, image_size=SCENE_SIZE, flow=None))
    current, _ = method.autoencoder(inputs)
    assert target.shape == (1, 4, 3, SCENE_SIZE, SCENE_SIZE)
    assert current.shape == target.shape


def test_gray_target_uses_bt601_weights():
    method = small_method()
    batch = {"rgb": torch.tensor([1.0, 0.0, 0.0]).view(1, 1, 3, 1, 1).expand(1, 2, 3, 16, 16)}
    _, target = method._inputs(batch)
    assert torch.allclose(target, torch.full_like(target, 2 * 0.299 - 1))


def test_training_steps_lower_loss():
    method = small_method(optimizer="adam", learning_rate=1e-3)
    batch = scene_batch(batch_size=2, window_length=10, image_size=SCENE_SIZE, flow=None)
    before = method.validation_loss(batch)
    for _ in range(5):
        logged = method.training_step(batch)
    after = method.validation_loss(batch)
    assert set(logged) == {"loss", "loss_current", "loss_past"}
    assert after < before


def test_biases_get_double_rate_and_no_decay():
    method = small_method(learning_rate=0.01, weight_decay=0.001)
    weights, biases = method.optimizers["autoencoder"].param_groups
    assert isinstance(method.optimizers["autoencoder"], torch.optim.Adagrad)
    assert (weights["lr"], weights["weight_decay"]) == (0.01, 0.001)
    assert (biases["lr"], biases["weight_decay"]) == (0.02, 0.0)
    assert all(parameter.dim() == 1 for parameter in biases["params"])


@pytest.mark.parametrize(("flow", "channels"), [(None, 1), ("color", 4), ("raw", 3)])
def test_runs_with_flow_on_and_off(flow, channels):
    method = small_method(flow=flow)
    batch = scene_batch(batch_size=2, window_length=10, image_size=SCENE_SIZE, flow=flow)
    logged = method.training_step(batch)
    assert method.uses_flow == (flow is not None)
    assert method.autoencoder.encoder[0].in_channels == channels
    assert np.isfinite(logged["loss"])
    assert scores(method, batch).shape == (2,)


def test_flow_on_without_flow_in_batch_raises():
    method = small_method(flow="color")
    with pytest.raises(ValueError, match="no 'flow'"):
        method.validation_loss(scene_batch(batch_size=1, window_length=10, image_size=SCENE_SIZE, flow=None))


def test_flow_channel_mismatch_raises():
    method = small_method(flow="color")
    with pytest.raises(ValueError, match="expects 3 flow channels"):
        method.validation_loss(scene_batch(batch_size=1, window_length=10, image_size=SCENE_SIZE, flow="raw"))


def test_scored_frame_is_window_end():
    method = small_method()
    assert method.score_position == -1
    np.testing.assert_array_equal(method.scored_frames(np.array([9, 10, 57])), [9, 10, 57])


def test_fast_square_scores_higher(trained):
    normal = scores(trained, held_out())
    fast = scores(trained, held_out(speed=FAST_SPEED))
    assert float(fast.min()) > float(normal.max())


def test_intruder_scores_higher(trained):
    normal = scores(trained, held_out())
    intruder = scores(trained, held_out(intruder=True))
    assert float(intruder.min()) > float(normal.max())


def test_score_reads_last_frame(trained):
    normal, intruder = held_out(), held_out(intruder=True)
    intruder_last = {**normal, "rgb": torch.cat([normal["rgb"][:, :-1], intruder["rgb"][:, -1:]], dim=1)}
    intruder_first = {**normal, "rgb": torch.cat([intruder["rgb"][:, :1], normal["rgb"][:, 1:]], dim=1)}
    assert torch.all(scores(trained, intruder_last) > scores(trained, intruder_first))


def test_config_rejects_invalid_values():
    with pytest.raises(ValueError, match="color must be one of"):
        ConvLSTMAEConfig(color="hsv")
    with pytest.raises(ValueError, match="window_length must be at least 2"):
        ConvLSTMAEConfig(window_length=1)
    with pytest.raises(ValueError, match="encoder_channels must be three"):
        ConvLSTMAEConfig(encoder_channels=(8, 16))
    assert ConvLSTMAEConfig(window_length=1, past_weight=0).window_length == 1


def test_runner_builds_method_from_options():
    options = RunOptions(method="convlstm_ae", dataset="ped2", use_flow=False,
                         method_options={"encoder_channels": [8, 16, 32], "hidden_channels": 16, "window_length": 6})
    method = build_method(options, flow_channels=0)
    assert METHODS.get("convlstm-ae") is ConvLSTMAE
    assert isinstance(method, ConvLSTMAE)
    assert method.window_length == 6
    assert method.config.encoder_channels == (8, 16, 32)
    assert method.describe()["uses_flow"] is False
