"""Build small score tables for protocol tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def score_table(videos: dict[str, tuple[list, list]]) -> pd.DataFrame:
    """Return a table with columns video, frame, score, label from {video: (labels, scores)}.

    Frames are numbered from 0 in the order given.
    """
    pieces = []
    for name, (labels, scores) in videos.items():
        pieces.append(
            pd.DataFrame(
                {
                    "video": name,
                    "frame": np.arange(len(labels), dtype=np.int64),
                    "score": np.asarray(scores, dtype=np.float64),
                    "label": np.asarray(labels, dtype=np.int64),
                }
            )
        )
    return pd.concat(pieces, ignore_index=True)
