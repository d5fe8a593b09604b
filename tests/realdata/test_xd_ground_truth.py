"""XD-Violence on the real data: annotations against the ground-truth vectors, and the xd-subset adapter.

The vectors in `xd/gt/<name>.npy` are the frame labels used by the weakly
supervised literature. Each has 16 x (number of 16-frame snippets) entries,
so it can be up to 15 frames shorter than its video, while annotations.txt
can run to the video's real end. Labels are therefore built for a video
16 frames longer than the vector and compared over the vector's length.

Needs VADBENCH_DATA_ROOT pointing at a folder that contains `xd/`. These
tests fail, rather than skip, without it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from datasets.base import Dataset, DatasetNotFoundError, resolve_data_root
from datasets.decode import iter_frames
from datasets.xd import frame_labels_from_ranges, is_normal, load_xd_subset, read_annotations, read_video_list

pytestmark = pytest.mark.realdata

MISSING_DATA_HINT = "set VADBENCH_DATA_ROOT=/work/shared/data (the folder that contains xd/) and rerun"

SNIPPET_FRAMES = 16

NORMAL_SEGMENT = "A.Beautiful.Mind.2001__#01-14-30_01-16-59_label_A_1845_2101"
GOLDENEYE = "GoldenEye.1995__#00-10-00_00-10-40_label_G-0-0"
RIOT_SEGMENT = "v=1djrJ0wxlYo__#1_label_B4-0-0_0_759"
EXPLOSION_SEGMENT = "v=JfLYNEsrTew__#1_label_G-0-0_52_431"


@pytest.fixture(scope="module")
def xd_root() -> Path:
    try:
        root = resolve_data_root(None) / "xd"
    except DatasetNotFoundError as error:
        pytest.fail(f"{error}\n{MISSING_DATA_HINT}", pytrace=False)
    if not (root / "annotations.txt").is_file():
        pytest.fail(f"XD-Violence annotations not found in {root}\n{MISSING_DATA_HINT}", pytrace=False)
    return root


@pytest.fixture(scope="module")
def annotations(xd_root) -> dict:
    return read_annotations(xd_root / "annotations.txt")


@pytest.fixture(scope="module")
def listed_names(xd_root) -> list[str]:
    return read_video_list(xd_root / "test-videos.txt")


def test_annotation_names_are_test_videos(annotations, listed_names):
    assert len(annotations) == 500
    assert not any(name.endswith(".mp4") for name in annotations)
    assert set(annotations) <= set(listed_names)


def test_test_list_sizes(listed_names):
    assert len(listed_names) == 800
    assert sum(is_normal(name) for name in listed_names) == 300


def test_labels_match_ground_truth_vectors(xd_root, annotations, listed_names):
    mismatched = []
    for name in listed_names:
        vector = np.load(xd_root / "gt" / f"{name}.npy")
        num_frames = len(vector) + SNIPPET_FRAMES
        labels = frame_labels_from_ranges(annotations.get(name, []), num_frames, source="annotations.txt", video=name)
        if not np.array_equal(labels[: len(vector)], vector.astype(np.int8)):
            mismatched.append(name)

    assert mismatched == []


def test_normal_vectors_all_zero(xd_root, listed_names):
    for name in listed_names:
        if is_normal(name):
            assert not np.load(xd_root / "gt" / f"{name}.npy").any(), name


def test_labels_at_vector_length_match(xd_root, annotations):
    # At exactly the vector's length, ranges ending past it are clipped and must still agree.
    for name, ranges in annotations.items():
        vector = np.load(xd_root / "gt" / f"{name}.npy")
        labels = frame_labels_from_ranges(ranges, len(vector), source="annotations.txt", video=name)
        np.testing.assert_array_equal(labels, vector.astype(np.int8), err_msg=name)


# ---------------------------------------------------------------- xd-subset


@pytest.fixture(scope="module")
def subset(xd_root) -> Dataset:
    return load_xd_subset(xd_root)


@pytest.fixture(scope="module")
def decoded_labels(subset) -> dict[str, np.ndarray]:
    """Labels of every test video, built from its decoded frame count as the cache does."""
    labels = {}
    for video in subset.test:
        labels[video.name] = video.frame_labels(sum(1 for _ in iter_frames(video)))
    return labels


def test_subset_names(subset):
    assert [video.name for video in subset.train] == [
        f"{NORMAL_SEGMENT}[000:032]", f"{NORMAL_SEGMENT}[032:064]",
        f"{NORMAL_SEGMENT}[064:096]", f"{NORMAL_SEGMENT}[096:128]",
    ]
    assert [video.name for video in subset.test] == [
        f"{NORMAL_SEGMENT}[128:256]", GOLDENEYE, RIOT_SEGMENT, EXPLOSION_SEGMENT,
    ]
    assert subset.name == "xd-subset"
    assert subset.protocol == "xd"
    assert "not XD-Violence results" in subset.notes["subset"]


def test_subset_reads_xd_folder():
    assert load_xd_subset.data_folder == "xd"


def test_subset_frame_counts(decoded_labels):
    assert {name: len(labels) for name, labels in decoded_labels.items()} == {
        f"{NORMAL_SEGMENT}[128:256]": 128,
        GOLDENEYE: 961,
        RIOT_SEGMENT: 760,  # one frame more than the source range 0-759 in its name
        EXPLOSION_SEGMENT: 379,
    }


def _ranges(labels: np.ndarray) -> list[list[int]]:
    edges = np.flatnonzero(np.diff(np.concatenate([[0], labels, [0]])))
    return edges.reshape(-1, 2).tolist()


def test_subset_label_ranges_after_shift(decoded_labels):
    # GoldenEye is complete: annotation 621 920. The riot segment starts at source frame 0 (annotation
    # 0 758 880 1533), the explosion segment at 52 (annotation 52 430), so its range shifts to 0 378.
    assert _ranges(decoded_labels[GOLDENEYE]) == [[621, 920]]
    assert _ranges(decoded_labels[RIOT_SEGMENT]) == [[0, 758]]
    assert _ranges(decoded_labels[EXPLOSION_SEGMENT]) == [[0, 378]]
    assert _ranges(decoded_labels[f"{NORMAL_SEGMENT}[128:256]"]) == []


def test_subset_training_pieces_decode(subset):
    counts = [sum(1 for _ in iter_frames(video)) for video in subset.train]

    assert counts == [32, 32, 32, 32]
    assert all(video.frame_labels is None for video in subset.train)


def test_subset_max_frames(xd_root):
    small = load_xd_subset(xd_root, max_frames=48)

    assert [video.frame_range for video in small.test] == [(128, 176), (0, 48), (0, 48), (0, 48)]
    explosion = next(video for video in small.test if video.name.startswith("v=JfLYNEsrTew"))
    assert explosion.frame_labels(48).tolist() == [1] * 48
    assert "first 48 frames" in small.notes["max_frames"]
