import numpy as np
import pandas as pd
import pytest
from scipy.ndimage import gaussian_filter1d

from protocols.postprocess import describe_smoothing, normalize_scores, smooth_scores
from tests.unit.protocols.tables import score_table


@pytest.fixture
def two_videos() -> pd.DataFrame:
    return score_table({"a": ([0, 1, 0, 1], [1.0, 2.0, 3.0, 5.0]), "b": ([0, 1, 0, 1], [10.0, 20.0, 30.0, 40.0])})


def _scores(df: pd.DataFrame, video: str) -> np.ndarray:
    return df.loc[df["video"] == video].sort_values("frame")["score"].to_numpy()


def test_normalize_none_unchanged(two_videos):
    result = normalize_scores(two_videos)

    pd.testing.assert_frame_equal(result, two_videos)


def test_video_minmax_by_hand(two_videos):
    result = normalize_scores(two_videos, "video-minmax")

    np.testing.assert_allclose(_scores(result, "a"), [0.0, 0.25, 0.5, 1.0])
    np.testing.assert_allclose(_scores(result, "b"), [0.0, 1 / 3, 2 / 3, 1.0])


def test_video_minmax_constant_video_zero():
    df = score_table({"flat": ([0, 1, 0], [7.0, 7.0, 7.0]), "b": ([0, 1], [1.0, 2.0])})

    result = normalize_scores(df, "video-minmax")

    np.testing.assert_array_equal(_scores(result, "flat"), [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(_scores(result, "b"), [0.0, 1.0])


def test_global_minmax_by_hand(two_videos):
    result = normalize_scores(two_videos, "global-minmax")

    np.testing.assert_allclose(_scores(result, "a"), np.array([0.0, 1.0, 2.0, 4.0]) / 39)
    np.testing.assert_allclose(_scores(result, "b"), np.array([9.0, 19.0, 29.0, 39.0]) / 39)


def test_global_minmax_constant_table_zero():
    df = score_table({"a": ([0, 1], [3.0, 3.0]), "b": ([1, 0], [3.0, 3.0])})

    result = normalize_scores(df, "global-minmax")

    np.testing.assert_array_equal(result["score"], np.zeros(4))


def test_normalize_unknown_mode_lists_valid(two_videos):
    with pytest.raises(ValueError, match="none, video-minmax, global-minmax"):
        normalize_scores(two_videos, "zscore")


def test_normalize_leaves_input_unchanged(two_videos):
    original = two_videos.copy()

    normalize_scores(two_videos, "video-minmax")

    pd.testing.assert_frame_equal(two_videos, original)


def test_normalize_records_mode(two_videos):
    result = normalize_scores(two_videos, "global-minmax")

    assert result.attrs["normalization"] == "global-minmax"


def test_normalize_rejects_nan():
    df = score_table({"v": ([0, 1], [np.nan, 1.0])})

    with pytest.raises(ValueError, match="video 'v': 1 frame"):
        normalize_scores(df, "video-minmax")


def test_gaussian_stays_within_video():
    rising = np.arange(10, dtype=float) * 10
    df = score_table({"zeros": ([0] * 10, np.zeros(10)), "rising": ([1] * 10, rising)})

    result = smooth_scores(df, "gaussian", sigma=2.0)

    np.testing.assert_array_equal(_scores(result, "zeros"), np.zeros(10))
    np.testing.assert_allclose(_scores(result, "rising"), gaussian_filter1d(rising, 2.0, mode="reflect"))


def test_gaussian_first_video_untouched_by_next():
    # A step at the start of the second video would leak into the end of the
    # first if the filter ran over the pooled scores.
    df = score_table({"a": ([0] * 6, np.ones(6)), "b": ([1] * 6, np.full(6, 100.0))})

    result = smooth_scores(df, "gaussian", sigma=3.0)

    np.testing.assert_allclose(_scores(result, "a"), np.ones(6))
    np.testing.assert_allclose(_scores(result, "b"), np.full(6, 100.0))


def test_moving_average_by_hand():
    df = score_table({"a": ([0] * 5, [1.0, 2.0, 3.0, 4.0, 8.0]), "b": ([1] * 3, [100.0, 100.0, 100.0])})

    result = smooth_scores(df, "moving-average", window=3)

    np.testing.assert_allclose(_scores(result, "a"), [1.5, 2.0, 3.0, 5.0, 6.0])
    np.testing.assert_allclose(_scores(result, "b"), [100.0, 100.0, 100.0])


def test_moving_average_window_beyond_video():
    df = score_table({"a": ([0, 0, 1], [1.0, 2.0, 3.0])})

    result = smooth_scores(df, "moving-average", window=7)

    np.testing.assert_allclose(result["score"], [2.0, 2.0, 2.0])


def test_smoothing_follows_frame_order():
    ordered = score_table({"a": ([0] * 5, [1.0, 2.0, 3.0, 4.0, 8.0]), "b": ([1] * 4, [5.0, 0.0, 5.0, 0.0])})
    shuffled = ordered.sample(frac=1.0, random_state=3)

    expected = smooth_scores(ordered, "moving-average", window=3)
    result = smooth_scores(shuffled, "moving-average", window=3)

    merged = result.merge(expected, on=["video", "frame"], suffixes=("", "_expected"))
    np.testing.assert_allclose(merged["score"], merged["score_expected"])
    assert list(result.index) == list(shuffled.index)


def test_smoothing_none_unchanged():
    df = score_table({"a": ([0, 1, 0], [3.0, 1.0, 2.0])})

    result = smooth_scores(df)

    pd.testing.assert_frame_equal(result, df)


def test_smoothing_records_parameter():
    df = score_table({"a": ([0, 1, 0], [3.0, 1.0, 2.0])})

    gaussian = smooth_scores(df, "gaussian", sigma=1.5)
    moving = smooth_scores(df, "moving-average", window=3)

    assert gaussian.attrs["smoothing"] == {"name": "gaussian", "sigma_frames": 1.5}
    assert moving.attrs["smoothing"] == {"name": "moving-average", "window_frames": 3}


def test_describe_smoothing_none():
    assert describe_smoothing("none") == {"name": "none"}


@pytest.mark.parametrize(
    ("mode", "options", "message"),
    [
        ("median", {}, "none, gaussian, moving-average"),
        ("gaussian", {"sigma": 0.0}, "sigma"),
        ("moving-average", {"window": 4}, "odd"),
        ("moving-average", {"window": 0}, "odd"),
    ],
)
def test_smoothing_rejects_invalid_options(mode, options, message):
    df = score_table({"a": ([0, 1, 0], [3.0, 1.0, 2.0])})

    with pytest.raises(ValueError, match=message):
        smooth_scores(df, mode, **options)


def test_smoothing_rejects_infinite_scores():
    df = score_table({"a": ([0, 1, 0], [3.0, np.inf, 2.0])})

    with pytest.raises(ValueError, match="video 'a': 1 frame"):
        smooth_scores(df, "gaussian")
