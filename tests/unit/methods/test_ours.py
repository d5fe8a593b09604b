"""Networks, losses and training step of the `ours` method on small generated windows."""

import numpy as np
import pytest
import torch

from methods import METHODS
from methods.base import ScoreCalibration
from methods.ours import DualStreamGAN, OursConfig
from methods.ours import loss as losses
from methods.ours.model import Discriminator, Generator


def moving_square_batch(batch_size=2, steps=6, speed=5):
    """Windows of a bright square moving right over a horizontal gradient."""
    _, xx = torch.meshgrid(torch.linspace(0, 1, 128), torch.linspace(0, 1, 128), indexing="ij")
    rgb = torch.zeros(batch_size, steps, 3, 128, 128)
    for b in range(batch_size):
        for t in range(steps):
            image = (0.2 + 0.3 * xx).expand(3, 128, 128).clone()
            left = 10 + speed * t + 3 * b
            image[:, 40:60, left:left + 20] = 0.9
            rgb[b, t] = image
    flow = torch.zeros(batch_size, steps, 3, 128, 128)
    flow[:, 1:, 0, 40:60] = 0.5
    return {"rgb": rgb, "flow": flow, "video": torch.zeros(batch_size, dtype=torch.long),
            "frame": torch.arange(batch_size) + 5}


def test_generator_output_shapes():
    rgb, flow = torch.rand(2, 6, 3, 128, 128), torch.rand(2, 6, 3, 128, 128)
    all_frames = Generator(output_frames="all")(rgb, flow)
    last_frame = Generator(output_frames="last")(rgb, flow)
    assert all_frames.shape == (2, 6, 3, 128, 128)
    assert last_frame.shape == (2, 1, 3, 128, 128)
    assert float(all_frames.min()) >= 0.0
    assert float(all_frames.max()) <= 1.0


def test_generator_without_flow_stream():
    generator = Generator(use_flow=False)
    assert generator.flow_encoder is None
    assert generator(torch.rand(1, 6, 3, 128, 128)).shape == (1, 6, 3, 128, 128)


def test_generator_lstm_and_raw_flow():
    generator = Generator(temporal_cell="lstm", flow_channels=2)
    out = generator(torch.rand(1, 6, 3, 128, 128), torch.rand(1, 6, 2, 128, 128))
    assert isinstance(generator.temporal, torch.nn.LSTM)
    assert out.shape == (1, 6, 3, 128, 128)


def test_generator_requires_flow_input():
    with pytest.raises(ValueError, match="no flow input"):
        Generator(use_flow=True)(torch.rand(1, 6, 3, 128, 128))


def test_discriminator_outputs_and_features():
    output, features = Discriminator()(torch.rand(3, 6, 3, 128, 128))
    assert output.shape == (3,)
    assert features["conv"].shape == (3, 6, 64 * 16)
    assert features["lstm"].shape == (3, 6, 256)
    assert features["residual"].shape == (3, 256)


def test_temporal_loss_zero_for_static_frames():
    static = torch.rand(1, 1, 3, 8, 8).expand(2, 6, 3, 8, 8)
    assert float(losses.temporal_loss(static)) == 0.0
    assert float(losses.temporal_loss(static[:, :1])) == 0.0


def test_temporal_loss_real_difference_target():
    moving = torch.rand(2, 6, 3, 8, 8)
    assert float(losses.temporal_loss(moving)) > 0.0
    assert float(losses.temporal_loss(moving, real=moving)) == 0.0


def test_lsgan_losses_at_optimum():
    ones, zeros = torch.ones(4), torch.zeros(4)
    assert float(losses.lsgan_discriminator_loss(ones, zeros)) == 0.0
    assert float(losses.lsgan_discriminator_loss(zeros, ones)) == 1.0
    assert float(losses.lsgan_generator_loss(ones)) == 0.0


def test_dropping_loss_terms():
    weights = losses.LossWeights().without(("perceptual", "temporal"))
    assert weights.perceptual == 0.0
    assert weights.temporal == 0.0
    assert weights.pixel == 1.0
    with pytest.raises(ValueError, match="unknown loss term"):
        losses.LossWeights().without(("style",))


def test_dropped_perceptual_builds_no_vgg():
    config = OursConfig(weights=losses.LossWeights().without(("perceptual",)))
    method = DualStreamGAN(config)
    assert method.perceptual is None
    assert method.describe()["perceptual"]["backbone"] == "none"


def test_missing_vgg_weights_fall_back_and_are_recorded(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with caplog.at_level("WARNING"):
        method = DualStreamGAN()
    assert method.describe()["perceptual"]["backbone"] == "vgg16-random-init(seed=0)"
    assert "not found" in caplog.text


def test_explicit_missing_vgg_weights_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="perceptual weights file"):
        DualStreamGAN(OursConfig(perceptual_weights=str(tmp_path / "missing.pth")))


def test_training_steps_lower_loss():
    torch.manual_seed(0)
    method = DualStreamGAN(OursConfig(learning_rate=1e-3))
    method.attach_optimizers(method.configure_optimizers())
    batch = moving_square_batch()
    before = method.validation_loss(batch)
    for _ in range(5):
        logged = method.training_step(batch)
    after = method.validation_loss(batch)
    assert set(logged) >= {"loss_pixel", "loss_feature", "loss_temporal", "loss_perceptual", "loss_discriminator"}
    assert after < before


def test_training_is_deterministic():
    results = []
    for _ in range(2):
        torch.manual_seed(0)
        method = DualStreamGAN(OursConfig(weights=losses.LossWeights().without(("perceptual",))))
        method.attach_optimizers(method.configure_optimizers())
        results.append(method.training_step(moving_square_batch()))
    assert results[0] == results[1]


def test_score_components_and_combination():
    torch.manual_seed(0)
    method = DualStreamGAN(OursConfig(weights=losses.LossWeights().without(("perceptual",))))
    components = method.score_components(moving_square_batch(batch_size=3))
    assert components["pixel"].shape == (3,)
    assert components["feature"].shape == (3,)
    arrays = {name: value.numpy() for name, value in components.items()}
    calibration = ScoreCalibration.fit(arrays)
    combined = method.combine_scores(arrays, calibration)
    expected = (arrays["pixel"] - arrays["pixel"].mean()) / arrays["pixel"].std() + (
        arrays["feature"] - arrays["feature"].mean()) / arrays["feature"].std()
    np.testing.assert_allclose(combined, expected, rtol=1e-6)


def test_last_frame_mode_scores_last_frame():
    method = DualStreamGAN(OursConfig(output_frames="last", weights=losses.LossWeights().without(("perceptual",))))
    target, fake, fake_clip = method._reconstruct(moving_square_batch())
    assert target.shape[1] == 1
    assert fake.shape[1] == 1
    assert fake_clip.shape[1] == 6


def test_scored_frame_is_window_end():
    method = METHODS.get("ours")(OursConfig(weights=losses.LossWeights().without(("perceptual",))))
    np.testing.assert_array_equal(method.scored_frames(np.array([5, 6, 9])), [5, 6, 9])


def test_registry_reports_valid_names():
    with pytest.raises(KeyError, match="valid names: .*ours"):
        METHODS.get("not-a-method")
