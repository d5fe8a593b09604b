"""Flow encodings and the window dataset built as an index over cached videos."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from datasets.cache import CacheConfig, prepare_dataset
from datasets.windows import WindowDataset, encode_flow

from .media import folder_video, make_dataset, moving_square_frames

SIZE = 16


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """Three cached videos of 9, 7 and 4 frames."""
    tmp_path = tmp_path_factory.mktemp("windows")
    root = tmp_path / "data"
    frames = moving_square_frames(9)
    videos = [
        folder_video(root, "Test001", frames, split="test", labels=[0] * 9),
        folder_video(root, "Test002", frames[:7], split="test", labels=[0] * 7),
        folder_video(root, "Test003", frames[:4], split="test", labels=[0] * 4),
    ]
    dataset = make_dataset(root, [], videos)
    return prepare_dataset(dataset, CacheConfig(size=SIZE), tmp_path / "cache", workers=1, progress=False)


def _disk_bytes(prepared_dataset):
    return sum(path.stat().st_size for path in prepared_dataset.cache_dir.rglob("*") if path.is_file())


# --------------------------------------------------------------------------- encode_flow


def _uniform_flow(u, v, frames=1, size=4):
    flow = np.zeros((frames, size, size, 2), np.float32)
    flow[..., 0] = u
    flow[..., 1] = v
    return flow


def test_zero_flow_encodes_to_black():
    encoded = encode_flow(np.zeros((2, 8, 8, 2), np.float16))

    assert encoded.shape == (2, 3, 8, 8)
    assert encoded.dtype == np.float32
    assert not encoded.any()


@pytest.mark.parametrize(("u", "v", "rgb"), [
    (1.0, 0.0, (1.0, 0.0, 0.0)),   # right: hue 0 deg
    (0.0, 1.0, (0.5, 1.0, 0.0)),   # down: hue 90 deg
    (-1.0, 0.0, (0.0, 1.0, 1.0)),  # left: hue 180 deg
    (0.0, -1.0, (0.5, 0.0, 1.0)),  # up: hue 270 deg
])
def test_color_encoding_hue_is_direction(u, v, rgb):
    encoded = encode_flow(_uniform_flow(u, v))

    # A uniform non-zero field has no magnitude range, so its value is 1 everywhere.
    np.testing.assert_allclose(encoded[0, :, 0, 0], rgb, atol=1e-6)


def test_color_value_is_min_max_magnitude():
    flow = np.zeros((1, 1, 3, 2), np.float32)
    flow[0, 0, :, 0] = [1.0, 2.0, 3.0]  # all pointing right, magnitudes 1, 2, 3

    encoded = encode_flow(flow)

    np.testing.assert_allclose(encoded[0, 0, 0], [0.0, 0.5, 1.0], atol=1e-6)
    assert not encoded[0, 1:].any()


def test_color_normalises_each_frame_separately():
    flow = np.concatenate([_uniform_flow(1.0, 0.0), _uniform_flow(5.0, 0.0)])
    flow[1, 0, 0, 0] = 10.0

    encoded = encode_flow(flow)

    assert encoded[0, 0].max() == pytest.approx(1.0)
    assert encoded[1, 0, 0, 0] == pytest.approx(1.0)
    assert encoded[1, 0, 1, 1] == pytest.approx(0.0)


def test_color_encoding_matches_opencv_hsv():
    flow = np.random.default_rng(1).normal(0, 3, (2, 16, 16, 2)).astype(np.float32)

    encoded = encode_flow(flow)

    for frame, field in zip(encoded, flow):
        magnitude = np.hypot(field[..., 0], field[..., 1])
        value = (magnitude - magnitude.min()) / (magnitude.max() - magnitude.min())
        hue = np.degrees(np.arctan2(field[..., 1], field[..., 0])) % 360
        hsv = np.stack([hue, np.ones_like(value), value], axis=-1).astype(np.float32)
        reference = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).transpose(2, 0, 1)
        np.testing.assert_allclose(frame, reference, atol=1e-5)


def test_raw_encoding_is_in_image_widths():
    encoded = encode_flow(_uniform_flow(4.0, -2.0, size=8), "raw")

    assert encoded.shape == (1, 2, 8, 8)
    np.testing.assert_allclose(encoded[0, 0], 0.5)
    np.testing.assert_allclose(encoded[0, 1], -0.25)


def test_unknown_encoding_rejected():
    with pytest.raises(ValueError, match="valid: color, raw"):
        encode_flow(np.zeros((1, 4, 4, 2)), "hsv")


# --------------------------------------------------------------------------- WindowDataset


def test_window_count_and_end_frames(prepared):
    windows = WindowDataset(prepared.test, window_length=6)

    names, ends = windows.window_index()

    assert len(windows) == 4 + 2
    assert list(names) == ["Test001"] * 4 + ["Test002"] * 2
    assert list(ends) == [5, 6, 7, 8, 5, 6]


def test_stride_spaces_end_frames(prepared):
    windows = WindowDataset(prepared.test[:1], window_length=3, stride=4)

    assert list(windows.window_index()[1]) == [2, 6]


def test_short_video_skipped(prepared, caplog):
    windows = WindowDataset(prepared.test, window_length=6)

    assert windows.skipped_videos == ["Test003"]
    assert "Test003" in caplog.text


def test_item_matches_cache_rows(prepared):
    windows = WindowDataset(prepared.test, window_length=6, flow_encoding="raw")
    video = prepared.test[0]

    item = windows[2]

    assert item["video"] == 0
    assert item["frame"] == 7
    assert item["rgb"].dtype == torch.float32
    assert item["rgb"].shape == (6, 3, SIZE, SIZE)
    assert item["flow"].dtype == torch.float32
    assert item["flow"].shape == (6, 2, SIZE, SIZE)
    expected_rgb = video.rgb[2:8].transpose(0, 3, 1, 2).astype(np.float32) / 255
    np.testing.assert_allclose(item["rgb"].numpy(), expected_rgb, rtol=1e-6)
    expected_flow = video.flow[2:8].astype(np.float32).transpose(0, 3, 1, 2) / SIZE
    np.testing.assert_allclose(item["flow"].numpy(), expected_flow, rtol=2e-3, atol=1e-4)


def test_color_flow_matches_encoding(prepared):
    windows = WindowDataset(prepared.test, window_length=6)
    video = prepared.test[1]

    item = windows[5]  # second window of Test002, ending at frame 6

    assert windows.num_flow_channels == 3
    assert item["flow"].shape == (6, 3, SIZE, SIZE)
    np.testing.assert_allclose(item["flow"].numpy(), encode_flow(video.flow[1:7]), atol=1e-3)
    assert item["flow"].min() >= 0.0
    assert item["flow"].max() <= 1.0


def test_use_flow_false_omits_flow(prepared):
    windows = WindowDataset(prepared.test, window_length=6, use_flow=False)

    assert "flow" not in windows[0]
    assert windows.num_flow_channels == 0


def test_windows_are_index_views(prepared):
    before = _disk_bytes(prepared)

    windows = WindowDataset(prepared.test, window_length=6)

    assert _disk_bytes(prepared) == before
    assert windows.videos[0].rgb is prepared.test[0].rgb  # RGB stays memory-mapped, not copied
    assert windows._end_frame.nbytes + windows._video_index.nbytes == len(windows) * 12


def test_batches_through_dataloader(prepared):
    windows = WindowDataset(prepared.test, window_length=6)

    batch = next(iter(torch.utils.data.DataLoader(windows, batch_size=4)))

    assert batch["rgb"].shape == (4, 6, 3, SIZE, SIZE)
    assert batch["flow"].shape == (4, 6, 3, SIZE, SIZE)
    assert batch["frame"].tolist() == [5, 6, 7, 8]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"window_length": 0}, "window_length"),
    ({"stride": 0}, "stride"),
    ({"flow_encoding": "hsv"}, "unknown flow encoding"),
])
def test_invalid_window_arguments_rejected(prepared, kwargs, match):
    with pytest.raises(ValueError, match=match):
        WindowDataset(prepared.test, **kwargs)
