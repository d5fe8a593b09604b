"""Degenerate window scores through FrameProtocol.evaluate: a defined result or a clear error, never NaN."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from protocols.frame_protocol import FrameProtocol
from protocols.metrics import SingleClassError

# Ped2 protocol: 6-frame windows at stride 1, so a video of N frames has N - 5 window scores.
WINDOW_LENGTH = 6


@pytest.fixture
def labels() -> dict[str, np.ndarray]:
    return {
        "01": np.array([0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0]),
        "02": np.array([0, 0, 0, 0, 0, 1, 1, 0, 0, 0]),
    }


def _constant_scores(labels, value=0.7):
    return {name: np.full(max(len(vector) - (WINDOW_LENGTH - 1), 0), value) for name, vector in labels.items()}


def _nonfinite_paths(value, path="result"):
    """Return the paths of every NaN or infinite float inside a nested result."""
    if isinstance(value, float):
        return [] if math.isfinite(value) else [path]
    if isinstance(value, dict):
        return [found for key, item in value.items() for found in _nonfinite_paths(item, f"{path}[{key!r}]")]
    if isinstance(value, list):
        return [found for index, item in enumerate(value) for found in _nonfinite_paths(item, f"{path}[{index}]")]
    return []


def test_constant_scores_give_defined_metrics(labels):
    result = FrameProtocol().evaluate(_constant_scores(labels), labels, fixed_threshold=0.5)

    # Scored frames are frames 5.. of each video: 7 + 5 = 12 frames, 3 + 2 of them anomalous.
    anomalous_fraction = 5 / 12
    assert result["num_frames"] == 12
    assert result["micro_auc"] == 0.5
    assert result["macro_auc"] == 0.5
    assert result["ap"] == pytest.approx(anomalous_fraction)
    assert result["f1_youden_global"]["threshold"] == 0.7
    assert result["f1_youden_global"]["f1"] == pytest.approx(2 * anomalous_fraction / (1 + anomalous_fraction))
    assert result["f1_fixed"]["recall"] == 1.0
    assert _nonfinite_paths(result) == []
    json.dumps(result, allow_nan=False)


@pytest.mark.parametrize("normalization", ["none", "video-minmax", "global-minmax"])
@pytest.mark.parametrize("smoothing", ["none", "gaussian", "moving-average"])
def test_constant_scores_postprocessed_without_nan(labels, normalization, smoothing):
    protocol = FrameProtocol(normalization=normalization, smoothing=smoothing)

    result = protocol.evaluate(_constant_scores(labels), labels)

    assert _nonfinite_paths(result) == []
    json.dumps(result, allow_nan=False)


@pytest.mark.parametrize("normalization", ["none", "video-minmax", "global-minmax"])
@pytest.mark.parametrize("smoothing", ["none", "gaussian", "moving-average"])
def test_constant_scores_postprocessed_keep_chance_auc(labels, normalization, smoothing):
    protocol = FrameProtocol(normalization=normalization, smoothing=smoothing)

    result = protocol.evaluate(_constant_scores(labels), labels)

    assert result["micro_auc"] == 0.5
    assert result["macro_auc"] == 0.5


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("with_indices", [False, True])
def test_nonfinite_window_score_rejected(labels, bad_value, with_indices):
    scores = _constant_scores(labels)
    scores["02"][1] = bad_value
    scores["02"][3] = 0.2
    if with_indices:
        protocol = FrameProtocol()
        scores = {name: (protocol.frame_indices(len(labels[name])), values) for name, values in scores.items()}

    with pytest.raises(ValueError) as error:
        FrameProtocol().evaluate(scores, labels)

    message = str(error.value)
    assert "NaN or infinite" in message
    assert "video '02': 1 frame" in message
    assert "'01'" not in message


def test_video_shorter_than_window_counted(labels):
    labels = {**labels, "short": np.array([0, 1, 1, 0])}
    scores = _constant_scores(labels)
    assert len(scores["short"]) == 0
    scores["01"] = np.linspace(0.1, 0.9, len(scores["01"]))

    result = FrameProtocol().evaluate(scores, labels)

    assert result["excluded_frames"]["per_video"]["short"] == 4
    assert result["excluded_frames"]["total"] == 5 + 5 + 4
    assert result["num_videos"] == 2
    assert _nonfinite_paths(result) == []


def test_all_videos_shorter_than_window_rejected():
    labels = {"a": np.array([0, 1, 0]), "b": np.array([1, 0, 0, 1, 0])}
    scores = {name: np.zeros(0) for name in labels}

    with pytest.raises(ValueError, match="no frames to evaluate"):
        FrameProtocol().evaluate(scores, labels)


def test_video_without_normal_frames_keeps_macro_defined(labels):
    labels = {**labels, "all-anomalous": np.ones(9, dtype=np.int64)}

    result = FrameProtocol().evaluate(_constant_scores(labels), labels)

    assert result["macro_auc_skipped_videos"] == ["all-anomalous"]
    assert result["macro_auc"] == 0.5
    assert _nonfinite_paths(result) == []


@pytest.mark.parametrize("label", [0, 1])
def test_single_class_test_set_rejected(labels, label):
    labels = {name: np.full(len(vector), label) for name, vector in labels.items()}

    with pytest.raises(SingleClassError, match="needs both normal and anomalous frames"):
        FrameProtocol().evaluate(_constant_scores(labels), labels)
