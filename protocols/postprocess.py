"""Score normalisation and temporal smoothing, each a named convention.

Both change AUC: per-video min-max normalisation before pooling gives another
micro AUC than normalising once or not at all, and smoothing over time can
move AUC by several points. Both are off by default. Every function returns a
new table and records its convention in `df.attrs`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter1d

from protocols.alignment import validate_score_table

NORMALIZATION_MODES = ("none", "video-minmax", "global-minmax")
SMOOTHING_MODES = ("none", "gaussian", "moving-average")

DEFAULT_SMOOTHING_SIGMA = 3.0
"""Standard deviation in frames of the Gaussian kernel, used only when smoothing is "gaussian"."""
DEFAULT_SMOOTHING_WINDOW = 5
"""Window length in frames of the moving average, used only when smoothing is "moving-average"."""


def _minmax(scores: pd.Series) -> pd.Series:
    low = scores.min()
    span = scores.max() - low
    if span == 0:
        return pd.Series(0.0, index=scores.index)
    return (scores - low) / span


def normalize_scores(df: pd.DataFrame, mode: str = "none") -> pd.DataFrame:
    """Return a copy of the score table with scores normalised by `mode`.

    Modes:
      - "none": scores are left as they are.
      - "video-minmax": scores are mapped to [0, 1] with the minimum and
        maximum of their own video, then pooled.
      - "global-minmax": scores are mapped to [0, 1] once, with the minimum and
        maximum over the whole table.

    A video (or, for "global-minmax", a table) whose scores are all equal maps
    to 0, because min-max scaling divides by zero there.
    """
    if mode not in NORMALIZATION_MODES:
        raise ValueError(f"unknown normalization mode {mode!r}; valid modes: {', '.join(NORMALIZATION_MODES)}")
    validate_score_table(df)

    result = df.copy()
    if mode == "video-minmax":
        result["score"] = result.groupby("video", sort=False)["score"].transform(_minmax)
    elif mode == "global-minmax" and len(result) > 0:
        result["score"] = _minmax(result["score"])

    result.attrs["normalization"] = mode
    return result


def describe_smoothing(
    mode: str, sigma: float = DEFAULT_SMOOTHING_SIGMA, window: int = DEFAULT_SMOOTHING_WINDOW
) -> dict:
    """Return the smoothing convention as a dict of its name and its one parameter in frames."""
    if mode not in SMOOTHING_MODES:
        raise ValueError(f"unknown smoothing mode {mode!r}; valid modes: {', '.join(SMOOTHING_MODES)}")
    if mode == "gaussian":
        return {"name": mode, "sigma_frames": float(sigma)}
    if mode == "moving-average":
        return {"name": mode, "window_frames": int(window)}
    return {"name": mode}


def _moving_average(scores: np.ndarray, window: int) -> np.ndarray:
    # Near the ends of a video the window is cut to the frames that exist, so
    # each output is the mean of the scores actually summed.
    half = window // 2
    positions = np.arange(len(scores))
    starts = np.maximum(positions - half, 0)
    stops = np.minimum(positions + half + 1, len(scores))
    # Summing offsets from the first score keeps constant runs exactly constant; a plain running sum
    # rounds them apart and turns ties into an arbitrary ranking.
    offset = scores[0] if len(scores) else 0.0
    cumulative = np.concatenate([[0.0], np.cumsum(scores - offset)])
    return (cumulative[stops] - cumulative[starts]) / (stops - starts) + offset


def smooth_scores(
    df: pd.DataFrame,
    mode: str = "none",
    sigma: float = DEFAULT_SMOOTHING_SIGMA,
    window: int = DEFAULT_SMOOTHING_WINDOW,
) -> pd.DataFrame:
    """Return a copy of the score table with scores smoothed over time within each video.

    Modes:
      - "none": scores are left as they are.
      - "gaussian": `scipy.ndimage.gaussian_filter1d` with standard deviation
        `sigma` frames, reflecting the scores at both ends of the video.
      - "moving-average": centred mean over `window` frames (an odd number),
        cut to the frames that exist at both ends of the video.

    Smoothing never mixes scores of two videos. Within a video it runs over the
    rows in frame order, so two rows count as neighbours even where frames
    between them were excluded.
    """
    convention = describe_smoothing(mode, sigma, window)
    if mode == "gaussian" and not sigma > 0:
        raise ValueError(f"sigma must be > 0 frames for gaussian smoothing, got {sigma}")
    if mode == "moving-average" and (window < 1 or window % 2 == 0):
        raise ValueError(f"window must be an odd number of frames >= 1 for a centred moving average, got {window}")
    validate_score_table(df)

    result = df.copy()
    if mode != "none":
        scores = result["score"].to_numpy(dtype=np.float64, copy=True)
        frames = result["frame"].to_numpy()
        for positions in result.groupby("video", sort=False).indices.values():
            ordered = positions[np.argsort(frames[positions], kind="stable")]
            if mode == "gaussian":
                scores[ordered] = gaussian_filter1d(scores[ordered], sigma=sigma, mode="reflect")
            else:
                scores[ordered] = _moving_average(scores[ordered], window)
        result["score"] = scores

    result.attrs["smoothing"] = convention
    return result
