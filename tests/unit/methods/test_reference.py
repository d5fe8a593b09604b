"""Training-free references `flow-magnitude` and `frame-difference` on small generated videos."""

import numpy as np
import pytest
import torch

from bench.runner import RunOptions, build_method
from datasets.windows import encode_flow
from methods import METHODS
from methods.reference import FlowMagnitude, FlowMagnitudeConfig, FrameDifference, FrameDifferenceConfig
from methods.reference.base import top_fraction_mean
from protocols.alignment import scored_frame_indices, window_end_frames

SIZE = 128
NORMAL_SPEED = 2
FAST_SPEED = 20
FAST_OBJECT_FRAMES = range(10, 14)


def street_video(num_frames=16, fast_object_frames=()):
    """Return frames [N, 3, S, S] in [0, 1] and their flow [N, S, S, 2] in pixels.

    Two gray pedestrians (12x24) walk right at NORMAL_SPEED pixels per frame
    over a horizontal gradient. On `fast_object_frames` a white 16x16 object
    crosses the lower part of the frame at FAST_SPEED pixels per frame. The
    flow of frame t is the true motion from frame t-1, zero on frame 0.
    """
    gradient = 0.2 + 0.3 * torch.linspace(0, 1, SIZE)
    frames = gradient.expand(num_frames, 3, SIZE, SIZE).clone()
    flow = np.zeros((num_frames, SIZE, SIZE, 2), dtype=np.float32)
    for t in range(num_frames):
        moving = t > 0
        for top, start in ((20, 5), (70, 40)):
            left = start + NORMAL_SPEED * t
            frames[t, :, top:top + 24, left:left + 12] = 0.6
            if moving:
                flow[t, top:top + 24, left:left + 12, 0] = NORMAL_SPEED
        if t in fast_object_frames:
            left = FAST_SPEED * (t - fast_object_frames[0])
            frames[t, :, 100:116, left:left + 16] = 1.0
            if t != fast_object_frames[0]:
                flow[t, 100:116, left:left + 16, 0] = FAST_SPEED
    return frames, flow


def flow_windows(flow, ends):
    """Raw-encoded flow windows of one frame ending at `ends`, as the runner builds them."""
    raw = torch.from_numpy(encode_flow(flow, "raw"))
    return {"flow": raw[ends][:, None], "rgb": torch.zeros(len(ends), 1, 3, SIZE, SIZE),
            "video": torch.zeros(len(ends), dtype=torch.long), "frame": torch.as_tensor(ends)}


def rgb_windows(frames, ends):
    """Two-frame RGB windows ending at `ends`."""
    ends = np.asarray(ends)
    rgb = torch.stack([frames[end - 1:end + 1] for end in ends])
    return {"rgb": rgb, "video": torch.zeros(len(ends), dtype=torch.long), "frame": torch.as_tensor(ends)}


# ----------------------------------------------------------------- shared pooling


def test_top_fraction_mean_keeps_largest_values():
    values = torch.arange(200, dtype=torch.float32).reshape(2, 10, 10)
    np.testing.assert_allclose(top_fraction_mean(values, 0.05), [97.0, 197.0])  # mean of the top 5 of each row
    np.testing.assert_allclose(top_fraction_mean(values, 1e-6), [99.0, 199.0])  # at least one value
    np.testing.assert_allclose(top_fraction_mean(values, 1.0), [49.5, 149.5])


@pytest.mark.parametrize("config_class", [FlowMagnitudeConfig, FrameDifferenceConfig])
@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5])
def test_invalid_top_fraction_raises(config_class, fraction):
    with pytest.raises(ValueError, match="top_fraction must be in"):
        config_class(top_fraction=fraction)


# ----------------------------------------------------------------- flow-magnitude


def test_flow_magnitude_registered_attributes():
    method_class = METHODS.get("flow-magnitude")
    assert method_class is FlowMagnitude
    assert method_class.trainable is False
    assert method_class.uses_flow is True
    assert method_class.required_flow_encoding == "raw"
    assert method_class.window_length == 1
    assert method_class.score_position == -1


def test_flow_magnitude_output_shape():
    method = FlowMagnitude(flow_channels=2)
    components = method.score_components({"flow": torch.rand(5, 1, 2, SIZE, SIZE)})
    assert set(components) == {"flow_magnitude"}
    assert components["flow_magnitude"].shape == (5,)


def test_flow_magnitude_is_in_pixels():
    flow = np.zeros((2, SIZE, SIZE, 2), dtype=np.float32)
    flow[0, ..., 0], flow[0, ..., 1] = 3.0, -4.0  # a uniform 5-pixel motion
    # 100 pixels moving 20 px, 64 of the remaining at 1 px: the top 1% is ceil(163.84) = 164 pixels.
    flow[1, ..., 0] = 1.0
    flow[1, :10, :10, 0] = 20.0

    scores = FlowMagnitude().score_components(flow_windows(flow, [0, 1]))["flow_magnitude"]
    np.testing.assert_allclose(scores.numpy(), [5.0, (100 * 20 + 64 * 1) / 164], rtol=1e-3)


def test_flow_magnitude_top_fraction_option():
    flow = np.zeros((1, SIZE, SIZE, 2), dtype=np.float32)
    flow[0, :1, :2, 0] = 8.0  # two pixels
    method = FlowMagnitude(FlowMagnitudeConfig(top_fraction=1 / SIZE**2))
    np.testing.assert_allclose(method.score_components(flow_windows(flow, [0]))["flow_magnitude"].numpy(), [8.0],
                               rtol=1e-3)


def test_flow_magnitude_scores_fast_object_highest():
    _, flow = street_video(fast_object_frames=FAST_OBJECT_FRAMES)
    ends = np.arange(len(flow))
    scores = FlowMagnitude().score_components(flow_windows(flow, ends))["flow_magnitude"].numpy()

    fast = np.isin(ends, FAST_OBJECT_FRAMES[1:])  # the object's first frame has no motion yet
    normal = ~np.isin(ends, FAST_OBJECT_FRAMES) & (ends > 0)
    assert scores[fast].min() > scores[normal].max()
    assert scores[0] == 0.0  # a video's first frame has zero flow


def test_flow_magnitude_without_flow_stream_raises():
    with pytest.raises(ValueError, match="needs the flow stream"):
        FlowMagnitude(use_flow=False)


def test_flow_magnitude_rejects_colour_flow():
    with pytest.raises(ValueError, match="raw"):
        FlowMagnitude(flow_channels=3)


def test_flow_magnitude_batch_without_flow_raises():
    with pytest.raises(ValueError, match="'flow'"):
        FlowMagnitude().score_components({"rgb": torch.rand(2, 1, 3, SIZE, SIZE)})


def test_flow_magnitude_runner_with_flow_off_raises():
    options = RunOptions(method="flow-magnitude", dataset="ped2", use_flow=False)
    with pytest.raises(ValueError, match="--flow on"):
        build_method(options, flow_channels=0)


def test_flow_magnitude_runner_passes_options():
    options = RunOptions(method="flow-magnitude", dataset="ped2", method_options={"top_fraction": 0.05})
    method = build_method(options, flow_channels=2)
    assert method.config.top_fraction == 0.05
    assert method.describe()["config"] == {"top_fraction": 0.05}


# ----------------------------------------------------------------- frame-difference


def test_frame_difference_registered_attributes():
    method_class = METHODS.get("frame-difference")
    assert method_class is FrameDifference
    assert method_class.trainable is False
    assert method_class.uses_flow is False
    assert method_class.window_length == 2
    assert method_class.score_position == -1


def test_frame_difference_output_shape():
    components = FrameDifference().score_components({"rgb": torch.rand(3, 2, 3, SIZE, SIZE)})
    assert set(components) == {"frame_difference"}
    assert components["frame_difference"].shape == (3,)


def test_frame_difference_uses_grayscale_intensity():
    rgb = torch.zeros(2, 2, 3, SIZE, SIZE)
    rgb[0, 1, :, :20, :20] = 0.5  # a gray patch of 400 pixels appears
    rgb[1, 1, 0, :20, :20] = 1.0  # a pure red patch appears: gray value 0.299
    scores = FrameDifference().score_components({"rgb": rgb})["frame_difference"]
    np.testing.assert_allclose(scores.numpy(), [0.5, 0.299], rtol=1e-5)


def test_frame_difference_static_scene_scores_zero():
    still = torch.rand(1, 1, 3, SIZE, SIZE).expand(1, 2, 3, SIZE, SIZE)
    assert float(FrameDifference().score_components({"rgb": still})["frame_difference"][0]) == 0.0


def test_frame_difference_scores_fast_object_highest():
    frames, _ = street_video(fast_object_frames=FAST_OBJECT_FRAMES)
    ends = np.arange(1, len(frames))
    scores = FrameDifference().score_components(rgb_windows(frames, ends))["frame_difference"].numpy()

    # The object changes the frame from its first frame to the first frame after it.
    changed = np.isin(ends, [*FAST_OBJECT_FRAMES, FAST_OBJECT_FRAMES[-1] + 1])
    assert scores[changed].min() > scores[~changed].max()


def test_frame_difference_ignores_flow():
    frames, flow = street_video()
    batch = rgb_windows(frames, [3, 4])
    without_flow = FrameDifference(use_flow=False).score_components(batch)["frame_difference"]
    batch["flow"] = torch.rand(2, 2, 3, SIZE, SIZE)
    with_flow = FrameDifference(use_flow=True).score_components(batch)["frame_difference"]
    torch.testing.assert_close(without_flow, with_flow)


def test_frame_difference_rejects_wrong_window():
    with pytest.raises(ValueError, match=r"\[B, 2, 3, H, W\]"):
        FrameDifference().score_components({"rgb": torch.rand(1, 3, 3, SIZE, SIZE)})


# ----------------------------------------------------------------- both


@pytest.mark.parametrize("method", [FlowMagnitude(), FrameDifference()], ids=["flow-magnitude", "frame-difference"])
def test_scored_frames_match_protocol(method):
    ends = window_end_frames(20, method.window_length)
    expected = scored_frame_indices(20, method.window_length, score_position=method.score_position)
    np.testing.assert_array_equal(method.scored_frames(ends), expected)
    np.testing.assert_array_equal(method.scored_frames(ends), ends)  # the window's last frame


@pytest.mark.parametrize("method", [FlowMagnitude(), FrameDifference()], ids=["flow-magnitude", "frame-difference"])
def test_training_free_api(method):
    assert method.configure_optimizers() == {}
    assert list(method.parameters()) == []
    with pytest.raises(NotImplementedError, match="training-free"):
        method.training_step({})
    with pytest.raises(NotImplementedError, match="training-free"):
        method.validation_loss({})
