import json

import numpy as np
import pytest

from bench.registry import UnknownNameError
from protocols import PROTOCOLS
from protocols.frame_protocol import FrameProtocol


@pytest.fixture
def labels() -> dict[str, np.ndarray]:
    return {
        "01": np.array([0, 0, 0, 0, 0, 0, 0, 1, 1, 1]),
        "02": np.array([1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0]),
    }


def _window_scores(labels: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Return one score per 6-frame window, equal to the label of its last frame plus a ramp."""
    return {name: vector[5:] + np.linspace(0.0, 0.1, len(vector) - 5) for name, vector in labels.items()}


def test_registry_builds_ped2_defaults():
    protocol = PROTOCOLS.get("frame")()

    assert protocol.name == "frame"
    assert protocol.window_length == 6
    assert protocol.stride == 1
    assert protocol.score_position == -1
    assert protocol.unscored == "exclude"
    assert protocol.normalization == "none"
    assert protocol.smoothing == "none"


def test_registry_accepts_overrides():
    protocol = PROTOCOLS.get("frame")(window_length=16, normalization="video-minmax")

    assert protocol.window_length == 16
    assert protocol.normalization == "video-minmax"
    assert protocol.name == "frame"


def test_registry_unknown_name_lists_frame():
    with pytest.raises(UnknownNameError, match="frame"):
        PROTOCOLS.get("pixel")


def test_protocol_frame_indices():
    np.testing.assert_array_equal(FrameProtocol().frame_indices(10), [5, 6, 7, 8, 9])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("normalization", "zscore", "none, video-minmax, global-minmax"),
        ("smoothing", "median", "none, gaussian, moving-average"),
        ("unscored", "pad-zero", "exclude, pad-first"),
        ("window_length", 0, "window_length"),
        ("stride", 0, "stride"),
        ("score_position", 6, "score_position"),
    ],
)
def test_protocol_rejects_invalid_fields(field, value, message):
    with pytest.raises(ValueError, match=message):
        FrameProtocol(**{field: value})


def test_evaluate_counts_excluded_frames(labels):
    result = FrameProtocol().evaluate(_window_scores(labels), labels)

    assert result["excluded_frames"] == {"per_video": {"01": 5, "02": 5}, "total": 10}
    assert result["num_frames"] == 5 + 7
    assert result["num_anomalous"] == 3 + 2


def test_evaluate_scores_last_window_frame(labels):
    # Each score equals its frame's label plus a ramp below 0.1, so any shift
    # between scores and labels would cost AUC.
    result = FrameProtocol().evaluate(_window_scores(labels), labels)

    assert result["micro_auc"] == 1.0


def test_evaluate_accepts_index_tuples(labels):
    protocol = FrameProtocol()
    window_scores = _window_scores(labels)
    scores = {name: (protocol.frame_indices(len(labels[name])), window_scores[name]) for name in labels}

    result = protocol.evaluate(scores, labels)

    assert result["micro_auc"] == 1.0


def test_evaluate_rejects_shifted_indices(labels):
    # Indices 0..4 are what score_position=0 would give, not the protocol's last frame.
    window_scores = _window_scores(labels)
    scores = {name: (np.arange(len(labels[name]) - 5), window_scores[name]) for name in labels}

    with pytest.raises(ValueError, match="video '01': frame indices do not match"):
        FrameProtocol().evaluate(scores, labels)


def test_evaluate_rejects_wrong_score_count(labels):
    scores = _window_scores(labels)
    scores["02"] = scores["02"][:-1]

    with pytest.raises(ValueError, match="video '02'.*give 7 window scores"):
        FrameProtocol().evaluate(scores, labels)


def test_evaluate_missing_video_named(labels):
    scores = _window_scores(labels)
    del scores["02"]

    with pytest.raises(ValueError, match="02"):
        FrameProtocol().evaluate(scores, labels)


def test_evaluate_unlabelled_video_named(labels):
    scores = _window_scores(labels)
    scores["03"] = np.ones(5)

    with pytest.raises(ValueError, match="03"):
        FrameProtocol().evaluate(scores, labels)


def test_evaluate_pad_first(labels):
    result = FrameProtocol(unscored="pad-first").evaluate(_window_scores(labels), labels)

    assert result["excluded_frames"]["total"] == 0
    assert result["padded_frames"] == {"per_video": {"01": 5, "02": 5}, "total": 10}
    assert result["num_frames"] == 10 + 12


def test_evaluate_centre_position(labels):
    protocol = FrameProtocol(score_position=3)
    scores = {name: vector[3:-2] for name, vector in labels.items()}

    result = protocol.evaluate(scores, labels)

    assert result["micro_auc"] == 1.0
    assert result["excluded_frames"]["per_video"] == {"01": 5, "02": 5}


def test_evaluate_records_protocol(labels):
    protocol = FrameProtocol(normalization="global-minmax", smoothing="gaussian", smoothing_sigma=1.0)

    result = protocol.evaluate(_window_scores(labels), labels)

    assert result["protocol"]["window_length"] == 6
    assert result["protocol"]["score_position"] == -1
    assert result["conventions"]["normalization"] == "global-minmax"
    assert result["conventions"]["smoothing"] == {"name": "gaussian", "sigma_frames": 1.0}


def test_evaluate_fixed_threshold(labels):
    result = FrameProtocol().evaluate(_window_scores(labels), labels, fixed_threshold=0.5)

    assert result["f1_fixed"]["f1"] == 1.0
    assert result["f1_fixed"]["oracle"] is False


def test_evaluate_result_json_serialisable(labels):
    result = FrameProtocol().evaluate(_window_scores(labels), labels, fixed_threshold=0.5)

    json.dumps(result, allow_nan=False)
