"""Clip-level fight datasets: Hockey Fight and the Surveillance Camera Fight Dataset.

Both label whole clips, fight or not, and are evaluated with the
`fight-clips` protocol. Neither publishes a train/test split for
unsupervised detection, so the split here is our own (see `split_clips`):
a seeded share of the non-fight clips trains the model, and the other
non-fight clips plus every fight clip form the test set.

- `hockey`: Hockey Fight (Nievas, Deniz, Bueno, Sukthankar, "Violence
  detection in video using computer vision techniques", CAIP 2011): 1,000
  clips of ice hockey games, 500 fights and 500 non-fights, published as
  `fiN_xvid.avi` and `noN_xvid.avi` in one folder. Copies that sort the
  clips into `fight/` and `nonfight/` (or `noFight/`) subfolders are read too.
- `surveillance-fight`: the Surveillance Camera Fight Dataset (Akti,
  Tataroglu, Ekenel, "Vision-based fight detection from surveillance
  cameras", IPTA 2019): 300 clips, `fight/fi001.mp4`..`fi150.mp4` and
  `noFight/nofi001.mp4`..`nofi150.mp4`, of mixed resolutions and lengths.
  It has the shape of Hockey Fight but other footage, so its results are
  recorded under its own name and never as Hockey Fight results.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datasets import DATASETS
from datasets.base import Dataset, DataError, DatasetNotFoundError, Video

logger = logging.getLogger(__name__)

HOCKEY_URL = "https://academictorrents.com/details/70e0794e2292fc051a13f05ea6f5b6c16f3d3635"
SURVEILLANCE_FIGHT_URL = "https://github.com/seymanurakti/fight-detection-surv-dataset"

GROUND_TRUTH = "clip-labels"
"""The only ground truth of these datasets: one fight / non-fight label per clip."""

VIDEO_SUFFIXES = frozenset({".avi", ".mp4", ".mpg", ".mpeg", ".mov", ".mkv", ".webm", ".m4v"})

FIGHT_FOLDERS = ("fight", "fights")
NON_FIGHT_FOLDERS = ("nonfight", "nofight", "non-fight", "non_fight", "no_fight", "nonfights")

# Hockey Fight's own file names, e.g. fi12_xvid.avi (fight) and no7_xvid.avi (non-fight).
_HOCKEY_FILE = re.compile(r"(fi|no)(\d+)_xvid\.avi", re.IGNORECASE)


@dataclass(frozen=True)
class Clip:
    """One clip file with its label (1 = fight, 0 = non-fight)."""

    name: str
    path: Path
    label: int


@DATASETS.register("hockey")
def load_hockey(
    root: Path,
    ground_truth: str | None = None,
    split_seed: int = 0,
    train_fraction: float = 0.5,
    max_clips: int | None = None,
) -> Dataset:
    """Read Hockey Fight from `root`, split by `split_clips`, for the fight-clips protocol.

    `root` contains the published `fiN_xvid.avi` / `noN_xvid.avi` files, or a
    `fight/` and a `nonfight/` (or `noFight/`) subfolder of clips. Clips are
    named after their file (`fi1_xvid`). `max_clips` keeps a seeded subset
    of about half fights and half non-fights, for quick runs. Raises
    DatasetNotFoundError when neither layout is found.
    """
    _check_ground_truth(ground_truth, "Hockey Fight")
    root = Path(root)
    if not root.is_dir():
        raise DatasetNotFoundError(_hockey_not_found(root, "the folder does not exist"))

    clips = _clips_in_folders(root)
    if clips is not None:
        layout = f"fight and non-fight subfolders of {root}"
    else:
        clips = _hockey_flat_clips(root)
        layout = f"fiN_xvid.avi and noN_xvid.avi files in {root}"
    if not clips:
        raise DatasetNotFoundError(_hockey_not_found(root, _describe_contents(root)))

    return _build_dataset(
        "hockey", root, clips, layout=layout, source=f"Hockey Fight (Nievas et al., CAIP 2011), {HOCKEY_URL}",
        split_seed=split_seed, train_fraction=train_fraction, max_clips=max_clips,
    )


@DATASETS.register("surveillance-fight")
def load_surveillance_fight(
    root: Path,
    ground_truth: str | None = None,
    split_seed: int = 0,
    train_fraction: float = 0.5,
    max_clips: int | None = None,
) -> Dataset:
    """Read the Surveillance Camera Fight Dataset from `root`, split by `split_clips`.

    `root` contains `fight/fiNNN.mp4` and `noFight/nofiNNN.mp4`. Clips are named
    after their file (`fi001`, `nofi001`). `max_clips` keeps a seeded subset
    of about half fights and half non-fights, for quick runs. Raises
    DatasetNotFoundError when either folder is missing or contains no clip.
    """
    _check_ground_truth(ground_truth, "the Surveillance Camera Fight Dataset")
    root = Path(root)
    if not root.is_dir():
        raise DatasetNotFoundError(_surveillance_not_found(root, "the folder does not exist"))

    clips = _clips_in_folders(root)
    if not clips:
        raise DatasetNotFoundError(_surveillance_not_found(root, _describe_contents(root)))

    return _build_dataset(
        "surveillance-fight", root, clips, layout=f"fight and noFight subfolders of {root}",
        source=f"Surveillance Camera Fight Dataset (Akti et al., IPTA 2019), {SURVEILLANCE_FIGHT_URL}; "
               "not Hockey Fight",
        split_seed=split_seed, train_fraction=train_fraction, max_clips=max_clips,
    )


# ---------------------------------------------------------------- split


def split_clips(
    clips: list[Clip], split_seed: int = 0, train_fraction: float = 0.5, max_clips: int | None = None
) -> tuple[list[Clip], list[Clip]]:
    """Split clips into (train, test), both sorted by name.

    Rule: the fight and the non-fight clips are each sorted by name (numbers
    in names compare as numbers) and shuffled with
    `numpy.random.default_rng(split_seed)`, non-fight clips first. The first
    round(train_fraction * number of non-fight clips) non-fight clips of
    that order are training clips. The remaining non-fight clips and every
    fight clip are test clips. At least one non-fight clip goes to each
    side.

    With `max_clips`, only the first ceil(max_clips / 2) non-fight and
    floor(max_clips / 2) fight clips of those orders are kept before the
    split, so a subset is reproducible and balanced.
    """
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be between 0 and 1 (exclusive), got {train_fraction}")
    if max_clips is not None and (isinstance(max_clips, bool) or not isinstance(max_clips, int) or max_clips < 4):
        raise ValueError(f"max_clips must be an integer of at least 4 (2 fight and 2 non-fight clips), got {max_clips!r}")

    rng = np.random.default_rng(split_seed)
    normal = sorted((clip for clip in clips if clip.label == 0), key=lambda clip: _natural_key(clip.name))
    fights = sorted((clip for clip in clips if clip.label == 1), key=lambda clip: _natural_key(clip.name))
    normal = [normal[i] for i in rng.permutation(len(normal))]
    fights = [fights[i] for i in rng.permutation(len(fights))]

    if max_clips is not None:
        normal = normal[: math.ceil(max_clips / 2)]
        fights = fights[: max_clips // 2]
    if len(normal) < 2:
        raise DataError(
            f"{len(normal)} non-fight clip(s) found; the split needs at least 2, one to train on and one to test"
        )
    if not fights:
        raise DataError("no fight clip found; the test set needs fight clips")

    num_train = min(max(round(train_fraction * len(normal)), 1), len(normal) - 1)
    train = sorted(normal[:num_train], key=lambda clip: _natural_key(clip.name))
    test = sorted(normal[num_train:] + fights, key=lambda clip: _natural_key(clip.name))
    return train, test


def _natural_key(name: str) -> tuple:
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name))


# ---------------------------------------------------------------- layouts


def _clips_in_folders(root: Path) -> list[Clip] | None:
    """Return the clips of a fight and a non-fight subfolder, or None when `root` has neither.

    Raises DatasetNotFoundError when only one of the two folders exists, and
    DataError when two clips share a name.
    """
    folders = {entry.name.lower(): entry for entry in root.iterdir() if entry.is_dir()}
    fight = next((folders[name] for name in FIGHT_FOLDERS if name in folders), None)
    normal = next((folders[name] for name in NON_FIGHT_FOLDERS if name in folders), None)
    if fight is None and normal is None:
        return None
    if fight is None or normal is None:
        present, missing = (fight, "nonfight/ or noFight/") if normal is None else (normal, "fight/")
        raise DatasetNotFoundError(
            f"{root} has the clip folder {present.name}/ but no {missing} folder; "
            "fight datasets need one folder of fight clips and one of non-fight clips"
        )

    clips = [Clip(path.stem, path, 1) for path in _video_files(fight)]
    clips += [Clip(path.stem, path, 0) for path in _video_files(normal)]
    _check_unique_names(clips, root)
    return clips


def _hockey_flat_clips(root: Path) -> list[Clip]:
    clips = []
    for path in _video_files(root):
        match = _HOCKEY_FILE.fullmatch(path.name)
        if match is None:
            logger.warning("hockey: ignoring %s, which is not named like fiN_xvid.avi or noN_xvid.avi", path)
            continue
        clips.append(Clip(path.stem, path, 1 if match.group(1).lower() == "fi" else 0))
    _check_unique_names(clips, root)
    return clips


def _video_files(folder: Path) -> list[Path]:
    """List the video files of `folder`, skipping hidden files such as `._` resource forks."""
    return sorted(
        path for path in folder.iterdir()
        if path.is_file() and not path.name.startswith(".") and path.suffix.lower() in VIDEO_SUFFIXES
    )


def _check_unique_names(clips: list[Clip], root: Path) -> None:
    seen: dict[str, Path] = {}
    for clip in clips:
        if clip.name in seen:
            raise DataError(
                f"{root}: clips {seen[clip.name]} and {clip.path} have the same name {clip.name!r}; "
                "remove or rename one of them"
            )
        seen[clip.name] = clip.path


def _describe_contents(root: Path) -> str:
    entries = sorted(entry.name for entry in root.iterdir() if not entry.name.startswith("."))
    if not entries:
        return "the folder is empty"
    return "it contains " + ", ".join(entries[:8]) + (", ..." if len(entries) > 8 else "")


# ---------------------------------------------------------------- dataset


def _build_dataset(
    name: str, root: Path, clips: list[Clip], *, layout: str, source: str,
    split_seed: int, train_fraction: float, max_clips: int | None,
) -> Dataset:
    train_clips, test_clips = split_clips(clips, split_seed, train_fraction, max_clips)
    train = [Video(name=clip.name, split="train", video_path=clip.path, clip_label=0) for clip in train_clips]
    test = [
        Video(name=clip.name, split="test", video_path=clip.path, clip_label=clip.label,
              frame_labels=functools.partial(_clip_frame_labels, clip.label))
        for clip in test_clips
    ]

    num_fights = sum(clip.label for clip in clips)
    test_fights = sum(clip.label for clip in test_clips)
    logger.info(
        "%s: %d clips (%d fight, %d non-fight) in %s; %d training and %d test clips (%d fight), split seed %d",
        name, len(clips), num_fights, len(clips) - num_fights, layout,
        len(train), len(test), test_fights, split_seed,
    )
    notes = {
        "source": source,
        "layout": layout,
        "clips_found": f"{len(clips)} ({num_fights} fight, {len(clips) - num_fights} non-fight)",
        "split": (
            f"seed {split_seed}: fight and non-fight clips sorted by name and shuffled with "
            f"numpy.random.default_rng({split_seed}); the first round({train_fraction} x non-fight clips) "
            "non-fight clips train the model, the other non-fight clips and every fight clip are test clips"
        ),
        "split_sizes": f"{len(train)} training clips, {len(test)} test clips ({test_fights} fight)",
        "labels": "one label per clip (1 = fight, anomalous), copied to every frame of a test clip",
    }
    if max_clips is not None:
        notes["subset"] = (
            f"max_clips={max_clips}: the first {math.ceil(max_clips / 2)} non-fight and {max_clips // 2} fight "
            "clips of the seeded order were kept before the split; results cover this subset only"
        )
    # A fifth of the training clips (at least 2) are held out: the fixed threshold is a quantile of
    # their clip scores, and a quantile of 2 clips is a poor estimate.
    return Dataset(name=name, root=root, train=train, test=test, ground_truth=GROUND_TRUTH,
                   notes=notes, protocol="fight-clips", validation_videos=max(2, round(0.2 * len(train))))


def _clip_frame_labels(label: int, num_frames: int) -> np.ndarray:
    return np.full(num_frames, label, dtype=np.int8)


def _check_ground_truth(ground_truth: str | None, dataset: str) -> None:
    if ground_truth is not None and ground_truth != GROUND_TRUTH:
        raise ValueError(f"unknown ground truth {ground_truth!r} for {dataset}; the only choice is {GROUND_TRUTH!r}")


def _hockey_not_found(root: Path, reason: str) -> str:
    return (
        f"Hockey Fight not found in {root}: {reason}. Expected one of two layouts:\n"
        f"  as published: {root}/fi1_xvid.avi .. fi500_xvid.avi and {root}/no1_xvid.avi .. no500_xvid.avi\n"
        f"  sorted: {root}/fight/<clip>.avi and {root}/nonfight/<clip>.avi (or {root}/noFight/)\n"
        f"Hockey Fight (Nievas et al., CAIP 2011) is published at {HOCKEY_URL}"
    )


def _surveillance_not_found(root: Path, reason: str) -> str:
    return (
        f"Surveillance Camera Fight Dataset not found in {root}: {reason}. Expected "
        f"{root}/fight/fi001.mp4 .. fi150.mp4 and {root}/noFight/nofi001.mp4 .. nofi150.mp4. "
        f"The dataset (Akti et al., IPTA 2019) is published at {SURVEILLANCE_FIGHT_URL}"
    )
