import numpy as np
import pytest

from protocols.alignment import (
    align_scores,
    restrict_to_common_frames,
    scored_frame_indices,
    window_end_frames,
)


def test_window_ends_full_windows():
    np.testing.assert_array_equal(window_end_frames(10, 6), [5, 6, 7, 8, 9])


def test_window_ends_with_stride():
    np.testing.assert_array_equal(window_end_frames(10, 6, stride=2), [5, 7, 9])


def test_window_ends_exact_length():
    np.testing.assert_array_equal(window_end_frames(6, 6), [5])


def test_window_ends_short_video_empty():
    ends = window_end_frames(5, 6)

    assert len(ends) == 0
    assert np.issubdtype(ends.dtype, np.integer)


@pytest.mark.parametrize(
    ("num_frames", "window_length", "stride", "message"),
    [(-1, 6, 1, "num_frames"), (10, 0, 1, "window_length"), (10, 6, 0, "stride")],
)
def test_window_ends_invalid_arguments(num_frames, window_length, stride, message):
    with pytest.raises(ValueError, match=message):
        window_end_frames(num_frames, window_length, stride)


def test_scored_frames_last_position():
    np.testing.assert_array_equal(scored_frame_indices(10, 6), [5, 6, 7, 8, 9])


def test_scored_frames_first_position():
    np.testing.assert_array_equal(scored_frame_indices(10, 6, score_position=0), [0, 1, 2, 3, 4])


def test_scored_frames_centre_position():
    indices = scored_frame_indices(10, 6, score_position=6 // 2)

    np.testing.assert_array_equal(indices, [3, 4, 5, 6, 7])


def test_scored_frames_negative_position():
    np.testing.assert_array_equal(scored_frame_indices(10, 6, score_position=-6), [0, 1, 2, 3, 4])


def test_scored_frames_stride_and_centre():
    indices = scored_frame_indices(12, 5, stride=3, score_position=2)

    np.testing.assert_array_equal(indices, [2, 5, 8])


@pytest.mark.parametrize("score_position", [6, -7])
def test_scored_frames_position_out_of_range(score_position):
    with pytest.raises(ValueError, match="score_position"):
        scored_frame_indices(10, 6, score_position=score_position)


def test_align_excludes_first_frames():
    labels = np.array([0, 0, 0, 0, 0, 0, 1, 1, 0, 0])
    scores = np.array([0.1, 0.2, 0.9, 0.8, 0.3])

    aligned = align_scores({"v": (scored_frame_indices(10, 6), scores)}, {"v": labels})

    np.testing.assert_array_equal(aligned.frames["frame"], [5, 6, 7, 8, 9])
    np.testing.assert_array_equal(aligned.frames["score"], scores)
    np.testing.assert_array_equal(aligned.frames["label"], labels[5:])
    assert aligned.excluded_frames == {"v": 5}
    assert aligned.total_excluded_frames == 5
    assert aligned.padded_frames == {"v": 0}


def test_align_table_columns():
    labels = np.zeros(8, dtype=int)
    aligned = align_scores({"v": (np.arange(3, 8), np.ones(5))}, {"v": labels})

    assert list(aligned.frames.columns) == ["video", "frame", "score", "label"]


def test_align_labels_follow_frame_indices():
    labels = {"a": np.array([0, 1, 0, 1, 0, 1, 1, 0, 1, 0]), "b": np.array([1, 1, 0, 0, 0, 0, 0, 1])}
    scores = {
        name: (scored_frame_indices(len(vector), 6), np.arange(len(vector) - 5, dtype=float))
        for name, vector in labels.items()
    }

    aligned = align_scores(scores, labels)

    for name, vector in labels.items():
        rows = aligned.frames[aligned.frames["video"] == name]
        assert len(rows) == len(vector) - aligned.excluded_frames[name]
        np.testing.assert_array_equal(rows["label"], vector[rows["frame"]])
        np.testing.assert_array_equal(rows["score"], scores[name][1])


def test_align_keeps_label_order_of_videos():
    labels = {"b": np.zeros(7, dtype=int), "a": np.zeros(7, dtype=int)}
    scores = {"a": (np.array([5, 6]), np.ones(2)), "b": (np.array([5, 6]), np.ones(2))}

    aligned = align_scores(scores, labels)

    assert aligned.frames["video"].tolist() == ["b", "b", "a", "a"]


def test_align_pad_first_rule():
    labels = np.array([0, 0, 0, 0, 0, 0, 1, 1, 0, 0])
    scores = np.array([0.4, 0.2, 0.9, 0.8, 0.3])

    aligned = align_scores({"v": (np.arange(5, 10), scores)}, {"v": labels}, unscored="pad-first")

    np.testing.assert_array_equal(aligned.frames["frame"], np.arange(10))
    np.testing.assert_array_equal(aligned.frames["score"][:5], np.full(5, 0.4))
    np.testing.assert_array_equal(aligned.frames["score"][5:], scores)
    np.testing.assert_array_equal(aligned.frames["label"], labels)
    assert aligned.padded_frames == {"v": 5}
    assert aligned.excluded_frames == {"v": 0}


def test_pad_first_excludes_stride_gaps():
    labels = np.zeros(10, dtype=int)
    indices = scored_frame_indices(10, 6, stride=2)

    aligned = align_scores({"v": (indices, np.array([1.0, 2.0, 3.0]))}, {"v": labels}, unscored="pad-first")

    np.testing.assert_array_equal(aligned.frames["frame"], [0, 1, 2, 3, 4, 5, 7, 9])
    assert aligned.padded_frames == {"v": 5}
    assert aligned.excluded_frames == {"v": 2}


def test_align_video_without_scores():
    labels = {"short": np.zeros(4, dtype=int), "long": np.array([0, 0, 0, 0, 0, 0, 1])}
    scores = {"short": (np.array([], dtype=int), np.array([])), "long": (np.array([5, 6]), np.array([0.1, 0.9]))}

    aligned = align_scores(scores, labels)

    assert aligned.excluded_frames == {"short": 4, "long": 5}
    assert aligned.total_excluded_frames == 9
    assert "short" not in set(aligned.frames["video"])


def test_align_missing_video_named():
    labels = {"v01": np.zeros(7, dtype=int), "v02": np.zeros(7, dtype=int)}
    scores = {"v01": (np.array([5, 6]), np.ones(2))}

    with pytest.raises(ValueError, match="v02"):
        align_scores(scores, labels)


def test_align_unlabelled_video_named():
    labels = {"v01": np.zeros(7, dtype=int)}
    scores = {"v01": (np.array([5, 6]), np.ones(2)), "extra": (np.array([5, 6]), np.ones(2))}

    with pytest.raises(ValueError, match="extra"):
        align_scores(scores, labels)


@pytest.mark.parametrize(
    ("indices", "scores", "message"),
    [
        ([5, 5, 6], [1.0, 2.0, 3.0], "duplicate"),
        ([6, 5, 7], [1.0, 2.0, 3.0], "sorted"),
        ([8, 9, 10], [1.0, 2.0, 3.0], "must be in"),
        ([-1, 0, 1], [1.0, 2.0, 3.0], "must be in"),
        ([5, 6, 7], [1.0, 2.0], "3 frame indices but 2 scores"),
        ([5.5, 6.5], [1.0, 2.0], "integers"),
    ],
)
def test_align_rejects_invalid_indices(indices, scores, message):
    labels = {"v": np.zeros(10, dtype=int)}

    with pytest.raises(ValueError, match=message):
        align_scores({"v": (np.array(indices), np.array(scores))}, labels)


def test_align_error_names_video():
    labels = {"v07": np.zeros(10, dtype=int)}

    with pytest.raises(ValueError, match="v07"):
        align_scores({"v07": (np.array([5, 5]), np.ones(2))}, labels)


def test_align_rejects_nonfinite_scores():
    labels = {"good": np.zeros(8, dtype=int), "bad": np.zeros(8, dtype=int)}
    scores = {
        "good": (np.arange(5, 8), np.ones(3)),
        "bad": (np.arange(5, 8), np.array([np.nan, 1.0, np.inf])),
    }

    with pytest.raises(ValueError, match=r"video 'bad': 2 frames"):
        align_scores(scores, labels)


def test_align_rejects_invalid_labels():
    labels = {"v": np.array([0, 0, 0, 0, 0, 2, 1])}

    with pytest.raises(ValueError, match="0 or 1"):
        align_scores({"v": (np.array([5, 6]), np.ones(2))}, labels)


def test_align_unknown_unscored_rule():
    labels = {"v": np.zeros(7, dtype=int)}

    with pytest.raises(ValueError, match="exclude, pad-first"):
        align_scores({"v": (np.array([5, 6]), np.ones(2))}, labels, unscored="pad-zero")


def test_frame_counts_totals():
    labels = {"a": np.zeros(10, dtype=int), "b": np.zeros(7, dtype=int)}
    scores = {name: (scored_frame_indices(len(v), 6), np.ones(len(v) - 5)) for name, v in labels.items()}

    counts = align_scores(scores, labels).frame_counts()

    assert counts["excluded_frames"] == {"per_video": {"a": 5, "b": 5}, "total": 10}
    assert counts["padded_frames"]["total"] == 0
    assert counts["dropped_not_common_frames"] == {"per_video": {"a": 0, "b": 0}, "total": 0}
    assert counts["unscored_rule"] == "exclude"


def _windowed(labels: dict[str, np.ndarray], window_length: int):
    scores = {}
    for name, vector in labels.items():
        indices = scored_frame_indices(len(vector), window_length)
        scores[name] = (indices, indices * 0.1 + window_length)
    return align_scores(scores, labels)


def test_restrict_window_6_and_16():
    labels = {"a": np.r_[np.zeros(12), np.ones(8)].astype(int), "b": np.r_[np.zeros(10), np.ones(8)].astype(int)}
    tables = {"short": _windowed(labels, 6), "long": _windowed(labels, 16)}

    restricted = restrict_to_common_frames(tables)

    for method in ("short", "long"):
        frames = restricted[method].frames
        np.testing.assert_array_equal(frames.loc[frames["video"] == "a", "frame"], np.arange(15, 20))
        np.testing.assert_array_equal(frames.loc[frames["video"] == "b", "frame"], np.arange(15, 18))
    assert restricted["short"].dropped_frames == {"a": 10, "b": 10}
    assert restricted["short"].total_dropped_frames == 20
    assert restricted["long"].dropped_frames == {"a": 0, "b": 0}


def test_restrict_keeps_scores_and_labels():
    labels = {"a": np.r_[np.zeros(12), np.ones(8)].astype(int)}
    tables = {"short": _windowed(labels, 6), "long": _windowed(labels, 16)}

    short = restrict_to_common_frames(tables)["short"].frames

    np.testing.assert_allclose(short["score"], np.arange(15, 20) * 0.1 + 6)
    np.testing.assert_array_equal(short["label"], labels["a"][15:20])


def test_restrict_keeps_excluded_counts():
    labels = {"a": np.zeros(20, dtype=int)}
    tables = {"short": _windowed(labels, 6), "long": _windowed(labels, 16)}

    restricted = restrict_to_common_frames(tables)

    assert restricted["short"].excluded_frames == {"a": 5}
    assert restricted["long"].excluded_frames == {"a": 15}


def test_restrict_leaves_input_unchanged():
    labels = {"a": np.zeros(20, dtype=int)}
    tables = {"short": _windowed(labels, 6), "long": _windowed(labels, 16)}

    restrict_to_common_frames(tables)

    assert len(tables["short"].frames) == 15
    assert tables["short"].dropped_frames == {"a": 0}


def test_restrict_single_method_unchanged():
    labels = {"a": np.zeros(20, dtype=int)}

    restricted = restrict_to_common_frames({"only": _windowed(labels, 6)})

    assert len(restricted["only"].frames) == 15
    assert restricted["only"].total_dropped_frames == 0


def test_restrict_empty_mapping():
    assert restrict_to_common_frames({}) == {}


def test_restrict_rejects_different_videos():
    first = _windowed({"a": np.zeros(20, dtype=int)}, 6)
    second = _windowed({"b": np.zeros(20, dtype=int)}, 16)

    with pytest.raises(ValueError, match="different videos"):
        restrict_to_common_frames({"first": first, "second": second})


def test_restrict_rejects_different_labels():
    first = _windowed({"a": np.zeros(20, dtype=int)}, 6)
    second = _windowed({"a": np.ones(20, dtype=int)}, 16)

    with pytest.raises(ValueError, match="other labels"):
        restrict_to_common_frames({"first": first, "second": second})
