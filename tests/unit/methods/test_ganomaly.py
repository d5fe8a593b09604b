"""Networks, losses, training step and anomaly score of `ganomaly` on small generated videos.

Training tests use 8 base channels instead of 64 and a learning rate of
1e-3 instead of 2e-4, so that 150 steps at batch 8 on CPU are enough for
a bright object to raise the score of a frame. With those settings, seeds
0 to 11 all passed the paired test below, while 100 steps at 2e-3 failed
for one seed in six.
"""

import numpy as np
import pytest
import torch

from bench.runner import RunOptions, build_method
from datasets.windows import encode_flow
from methods import METHODS
from methods.ganomaly import Ganomaly, GanomalyConfig
from methods.ganomaly import loss as losses
from methods.ganomaly.model import Decoder, Discriminator, Encoder, Generator
from protocols.alignment import scored_frame_indices, window_end_frames

SIZE = 128
SMALL = {"base_channels": 8, "learning_rate": 1e-3}
TRAIN_STEPS = 150


@pytest.fixture(autouse=True)
def single_thread():
    """Run each test on one intra-op thread and restore the setting after it.

    These networks are small, and on a shared CPU several threads that wait
    for busy cores made the training tests over ten times slower than one thread.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def walkway_video(seed, num_frames=16, speed=2, bright_object=False):
    """Return frames [N, 3, S, S] in [0, 1] and flow [N, S, S, 2] in pixels of one generated video.

    A gray pedestrian (12x24) walks right at `speed` pixels per frame from a
    random start over a horizontal gradient. With `bright_object`, a white
    28x28 object, never seen in training, is at a random place in the lower
    part of every frame.
    """
    generator = torch.Generator().manual_seed(seed)
    start = int(torch.randint(0, SIZE - 12 - speed * num_frames, (1,), generator=generator))
    object_left = int(torch.randint(0, SIZE - 28, (1,), generator=generator))

    gradient = 0.25 + 0.25 * torch.linspace(0, 1, SIZE)
    frames = gradient.expand(num_frames, 3, SIZE, SIZE).clone()
    flow = np.zeros((num_frames, SIZE, SIZE, 2), dtype=np.float32)
    for t in range(num_frames):
        left = start + speed * t
        frames[t, :, 52:76, left:left + 12] = 0.55
        if t > 0:
            flow[t, 52:76, left:left + 12, 0] = speed
        if bright_object:
            frames[t, :, 90:118, object_left:object_left + 28] = 1.0
    return frames, flow


def frame_batch(frames, flow=None, encoding="color"):
    """One-frame windows of every frame, with the flow encoded as the runner does when `flow` is given."""
    batch = {"rgb": frames[:, None], "video": torch.zeros(len(frames), dtype=torch.long),
             "frame": torch.arange(len(frames))}
    if flow is not None:
        batch["flow"] = torch.from_numpy(encode_flow(flow, encoding))[:, None]
    return batch


def training_batches(use_flow):
    """Frames of four normal videos, as one pool of one-frame windows."""
    videos = [walkway_video(seed) for seed in range(4)]
    frames = torch.cat([frames for frames, _ in videos])
    flow = np.concatenate([flow for _, flow in videos])
    return frame_batch(frames, flow if use_flow else None)


def train_briefly(method, pool, steps=TRAIN_STEPS, batch_size=8):
    method.attach_optimizers(method.configure_optimizers())
    sampler = torch.Generator().manual_seed(0)
    for _ in range(steps):
        index = torch.randint(0, len(pool["rgb"]), (batch_size,), generator=sampler)
        method.training_step({key: value[index] for key, value in pool.items()})


# ----------------------------------------------------------------- networks


@pytest.mark.parametrize("image_size, feature_channels", [(32, 8 * 4), (128, 8 * 16)])
def test_encoder_output_and_feature_shapes(image_size, feature_channels):
    encoder = Encoder(in_channels=5, out_features=100, image_size=image_size, base_channels=8)
    output, features = encoder.forward_with_features(torch.rand(2, 5, image_size, image_size))
    assert output.shape == (2, 100)
    assert features.shape == (2, feature_channels, 4, 4)


@pytest.mark.parametrize("image_size", [32, 128])
def test_decoder_output_shape_and_range(image_size):
    image = Decoder(latent_size=100, image_size=image_size, base_channels=8)(torch.randn(2, 100))
    assert image.shape == (2, 3, image_size, image_size)
    assert float(image.detach().abs().max()) <= 1.0


def test_generator_outputs():
    reconstruction, latent, latent_hat = Generator(base_channels=8)(torch.rand(3, 3, SIZE, SIZE) * 2 - 1)
    assert reconstruction.shape == (3, 3, SIZE, SIZE)
    assert latent.shape == (3, 100)
    assert latent_hat.shape == (3, 100)


def test_discriminator_outputs():
    logits, features = Discriminator(base_channels=8, condition_channels=2)(
        torch.rand(3, 3, SIZE, SIZE), torch.rand(3, 2, SIZE, SIZE))
    assert logits.shape == (3,)
    assert features.shape == (3, 8 * 16, 4, 4)


def test_condition_channel_mismatch_raises():
    with pytest.raises(ValueError, match="expects 3 condition channels"):
        Generator(base_channels=8, condition_channels=3)(torch.rand(1, 3, SIZE, SIZE))
    with pytest.raises(ValueError, match="without condition channels"):
        Discriminator(base_channels=8)(torch.rand(1, 3, SIZE, SIZE), torch.rand(1, 3, SIZE, SIZE))


@pytest.mark.parametrize("image_size", [8, 96, 100])
def test_invalid_image_size_raises(image_size):
    with pytest.raises(ValueError, match="power of two"):
        GanomalyConfig(image_size=image_size)


# ----------------------------------------------------------------- losses and config


def test_loss_weights_defaults_and_drop():
    weights = losses.LossWeights()
    assert (weights.adversarial, weights.contextual, weights.encoder) == (1.0, 50.0, 1.0)
    dropped = weights.without(("adversarial",))
    assert dropped.adversarial == 0.0
    assert dropped.contextual == 50.0
    with pytest.raises(ValueError, match="unknown loss term"):
        weights.without(("pixel",))


def test_discriminator_loss_at_optimum_and_worst():
    confident = torch.full((4,), 30.0)
    real, fake = losses.discriminator_loss(confident, -confident)
    assert float(real) < 1e-6
    assert float(fake) < 1e-6
    real, fake = losses.discriminator_loss(-confident, confident)
    assert float(real) > 10
    assert float(fake) > 10


def test_config_defaults_and_options():
    config = GanomalyConfig(weights={"contextual": 10.0}, betas=[0.5, 0.9])
    assert GanomalyConfig().latent_size == 100
    assert GanomalyConfig().learning_rate == 2e-4
    assert GanomalyConfig().betas == (0.5, 0.999)
    assert config.weights == losses.LossWeights(contextual=10.0)
    assert config.betas == (0.5, 0.9)


def test_runner_builds_with_dropped_term():
    options = RunOptions(method="ganomaly", dataset="ped2", drop=("adversarial",), method_options={"base_channels": 8})
    method = build_method(options, flow_channels=3)
    assert isinstance(method, Ganomaly)
    assert method.config.weights.adversarial == 0.0
    # GANomaly's paper reads images only, so a run without --flow keeps the flow stream off.
    assert options.use_flow is False
    assert method.describe()["input_channels"] == 3
    with_flow = build_method(RunOptions(method="ganomaly", dataset="ped2", use_flow=True,
                                        method_options={"base_channels": 8}), flow_channels=3)
    assert with_flow.describe()["input_channels"] == 6


# ----------------------------------------------------------------- method


def test_registered_attributes():
    method_class = METHODS.get("ganomaly")
    assert method_class is Ganomaly
    assert method_class.trainable is True
    assert method_class.window_length == 1
    assert method_class.score_position == -1


def test_scored_frame_is_the_frame_itself():
    method = Ganomaly(GanomalyConfig(base_channels=8), use_flow=False)
    ends = window_end_frames(12, method.window_length)
    np.testing.assert_array_equal(method.scored_frames(ends), ends)
    np.testing.assert_array_equal(method.scored_frames(ends), scored_frame_indices(12, 1, score_position=-1))


def test_score_components_shape():
    torch.manual_seed(0)
    frames, flow = walkway_video(seed=0, num_frames=5)
    components = Ganomaly(GanomalyConfig(base_channels=8)).score_components(frame_batch(frames, flow))
    assert set(components) == {"latent"}
    assert components["latent"].shape == (5,)
    assert bool((components["latent"] >= 0).all())


def test_training_steps_lower_loss():
    torch.manual_seed(0)
    method = Ganomaly(GanomalyConfig(**SMALL), use_flow=True)
    frames, flow = walkway_video(seed=0, num_frames=8)
    batch = frame_batch(frames, flow)
    method.attach_optimizers(method.configure_optimizers())

    before = method.validation_loss(batch)
    for _ in range(10):
        logged = method.training_step(batch)
    after = method.validation_loss(batch)
    assert set(logged) == {"loss_adversarial", "loss_contextual", "loss_encoder", "loss_generator",
                           "loss_discriminator"}
    assert after < before


def test_training_is_deterministic():
    frames, _ = walkway_video(seed=0, num_frames=4)
    results = []
    for _ in range(2):
        torch.manual_seed(0)
        method = Ganomaly(GanomalyConfig(**SMALL), use_flow=False)
        method.attach_optimizers(method.configure_optimizers())
        results.append(method.training_step(frame_batch(frames)))
    assert results[0] == results[1]


def test_collapsed_discriminator_is_reset():
    torch.manual_seed(0)
    # A threshold above any reachable loss forces the reset on the first step.
    method = Ganomaly(GanomalyConfig(base_channels=8, discriminator_reset_loss=100.0), use_flow=False)
    method.attach_optimizers(method.configure_optimizers())
    frames, _ = walkway_video(seed=0, num_frames=4)
    method.training_step(frame_batch(frames))
    assert method.describe()["discriminator_resets"] == 1
    assert int(method.state_dict()["discriminator_resets"]) == 1


@pytest.mark.parametrize("use_flow", [False, True], ids=["flow-off", "flow-on"])
def test_bright_object_scores_higher_after_training(use_flow):
    torch.manual_seed(0)
    method = Ganomaly(GanomalyConfig(**SMALL), use_flow=use_flow)
    train_briefly(method, training_batches(use_flow))

    # A held-out normal video, and the same video with a bright object; the motion is the same in both.
    # Each frame is compared with itself without the object, because scores of different
    # frames spread more than the object raises them after such short training.
    frames, flow = walkway_video(seed=10, num_frames=8)
    anomalous_frames, _ = walkway_video(seed=10, num_frames=8, bright_object=True)
    normal = method.score_components(frame_batch(frames, flow if use_flow else None))["latent"]
    anomalous = method.score_components(frame_batch(anomalous_frames, flow if use_flow else None))["latent"]
    assert bool((anomalous > normal).all()), f"normal {normal.tolist()}, anomalous {anomalous.tolist()}"


def test_flow_reaches_the_score():
    torch.manual_seed(0)
    method = Ganomaly(GanomalyConfig(base_channels=8), use_flow=True)
    frames, flow = walkway_video(seed=0, num_frames=4)
    still = np.zeros_like(flow)
    moving = method.score_components(frame_batch(frames, flow))["latent"]
    static = method.score_components(frame_batch(frames, still))["latent"]
    assert float(moving[0]) == float(static[0])  # frame 0 has zero flow in both
    assert bool((moving[1:] != static[1:]).all())


def test_flow_off_ignores_flow():
    torch.manual_seed(0)
    method = Ganomaly(GanomalyConfig(base_channels=8), use_flow=False)
    frames, flow = walkway_video(seed=0, num_frames=4)
    assert method.describe()["input_channels"] == 3
    torch.testing.assert_close(method.score_components(frame_batch(frames))["latent"],
                               method.score_components(frame_batch(frames, flow))["latent"])


def test_flow_on_without_flow_in_batch_raises():
    method = Ganomaly(GanomalyConfig(base_channels=8), use_flow=True)
    frames, _ = walkway_video(seed=0, num_frames=2)
    with pytest.raises(ValueError, match="no 'flow'"):
        method.score_components(frame_batch(frames))


def test_raw_flow_input():
    torch.manual_seed(0)
    method = Ganomaly(GanomalyConfig(base_channels=8), use_flow=True, flow_channels=2)
    frames, flow = walkway_video(seed=0, num_frames=3)
    assert method.describe()["input_channels"] == 5
    assert method.score_components(frame_batch(frames, flow, encoding="raw"))["latent"].shape == (3,)


def test_wrong_window_length_raises():
    method = Ganomaly(GanomalyConfig(base_channels=8), use_flow=False)
    with pytest.raises(ValueError, match=r"\[B, 1, 3, S, S\]"):
        method.score_components({"rgb": torch.rand(1, 2, 3, SIZE, SIZE)})
