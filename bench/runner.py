"""One run: load a dataset, prepare the frame cache, train a method, score test frames, evaluate, record."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

import datasets.registered  # noqa: F401  (fills the dataset registry)
import methods.registered  # noqa: F401  (fills the method registry)
from bench.allocator import limit_malloc_arenas
from bench.profiles import PROFILES, Profile
from bench.records import (
    STATUS_COMPLETE,
    STATUS_FAILED,
    STATUS_RUNNING,
    RunFolder,
    atomic_write_text,
    config_hash,
    device_description,
    git_state,
    library_versions,
    utc_now,
)
from bench.training import BEST_CHECKPOINT, LAST_CHECKPOINT, epoch_checkpoint_name, load_checkpoint, train
from datasets import DATASETS
from datasets.base import Dataset, resolve_data_root
from datasets.cache import CacheConfig, PreparedDataset, PreparedVideo, prepare_dataset
from datasets.windows import WindowDataset
from methods import METHODS
from methods.base import Method, ScoreCalibration
from protocols import PROTOCOLS

logger = logging.getLogger(__name__)

SELECTION_RULES = ("validation-loss", "last-epoch", "test-auc")
DEFAULT_CACHE_ENV = "VADBENCH_CACHE_DIR"
# Inference batch; every method scores in eval mode, so scores depend on it only through rounding.
SCORE_BATCH_SIZE = 16


class RunExistsError(RuntimeError):
    """Raised when the run folder already exists and neither resume nor overwrite was requested."""


def default_cache_dir() -> Path:
    return Path(os.environ.get(DEFAULT_CACHE_ENV, Path.home() / ".cache" / "vadbench"))


@dataclass
class RunOptions:
    """Everything that defines a run; its resolved form is written to `config.json`."""

    method: str
    dataset: str
    profile: str = "cpu"
    seed: int = 0
    data_root: str | None = None
    cache_dir: str | None = None
    runs_dir: str = "runs"
    run_id: str | None = None
    resume: bool = False
    overwrite: bool = False
    ground_truth: str | None = None
    dataset_options: dict = field(default_factory=dict)
    protocol: str | None = None
    protocol_options: dict = field(default_factory=dict)
    flow_backend: str = "dis"
    flow_encoding: str = "color"
    # None: the method's own default (`Method.default_flow`), the input its source paper used.
    use_flow: bool | None = None
    first_flow: str = "zero"
    perceptual_weights: str | None = None
    drop: tuple[str, ...] = ()
    method_options: dict = field(default_factory=dict)
    normalization: str = "none"
    smoothing: str = "none"
    smoothing_sigma: float = 2.0
    selection: str = "validation-loss"
    validation_videos: int | None = None
    fixed_threshold_quantile: float = 0.95
    train_videos: tuple[str, ...] | None = None
    test_videos: tuple[str, ...] | None = None
    workers: int = 2
    threads: int | None = None
    device: str = "cpu"
    progress: bool = True

    def __post_init__(self) -> None:
        # Resolved here so that the config hash, the run id and the record name the flow setting actually used.
        # Options without a registered method (a template that a suite fills in) keep None until one is set.
        if self.use_flow is None and self.method in METHODS:
            self.use_flow = METHODS.get(self.method).default_flow

    def identity(self) -> dict:
        """Options that change the result; they define the config hash and the default run id."""
        excluded = {"data_root", "cache_dir", "runs_dir", "run_id", "resume", "overwrite", "workers", "threads",
                    "progress"}
        return {key: value for key, value in dataclasses.asdict(self).items() if key not in excluded}

    def default_run_id(self) -> str:
        flow = self.flow_backend if self.use_flow else "noflow"
        dropped = "-drop-" + "-".join(sorted(self.drop)) if self.drop else ""
        return f"{self.dataset}_{self.method}{dropped}_{flow}_{self.profile}_seed{self.seed}_{config_hash(self.identity())[:8]}"


def select_videos(videos: list, names: tuple[str, ...] | None, split: str) -> list:
    if names is None:
        return videos
    known = {video.name: video for video in videos}
    missing = [name for name in names if name not in known]
    if missing:
        raise ValueError(f"unknown {split} video(s) {missing}; available: {', '.join(sorted(known))}")
    return [known[name] for name in names]


def split_validation(videos: list[PreparedVideo], count: int) -> tuple[list[PreparedVideo], list[PreparedVideo]]:
    """Hold out the last `count` normal training videos (sorted by name) for model selection and calibration."""
    ordered = sorted(videos, key=lambda video: video.name)
    if count < 1 or count >= len(ordered):
        raise ValueError(
            f"cannot hold out {count} of {len(ordered)} training videos for validation; "
            "use --validation-videos between 1 and the number of training videos minus 1"
        )
    return ordered[:-count], ordered[-count:]


def build_method(options: RunOptions, flow_channels: int, profile: Profile | None = None) -> Method:
    method_class = METHODS.get(options.method)
    values = dict(profile.method_options.get(method_class.name, {})) if profile else {}
    values.update(options.method_options)
    config_class = method_class.config_class
    if config_class is not None:
        field_names = {item.name for item in dataclasses.fields(config_class)}
        if options.perceptual_weights is not None and "perceptual_weights" in field_names:
            values["perceptual_weights"] = options.perceptual_weights
        if options.drop:
            if "weights" not in field_names:
                raise ValueError(f"method {options.method!r} has no loss terms to drop")
            defaults = config_class().weights
            values["weights"] = defaults.without(tuple(options.drop))
        unknown = sorted(set(values) - field_names)
        if unknown:
            raise ValueError(f"unknown option(s) {unknown} for method {options.method!r}; valid: {sorted(field_names)}")
        config = config_class(**values)
    elif values or options.drop:
        raise ValueError(f"method {options.method!r} takes no options")
    else:
        config = None
    return method_class(config, use_flow=options.use_flow, flow_channels=flow_channels)


def score_windows(method: Method, windows: WindowDataset, batch_size: int, progress: bool, desc: str) -> dict:
    """Score every window; return component arrays plus the video index and end frame of each window."""
    from tqdm.auto import tqdm

    loader = DataLoader(windows, batch_size=batch_size, shuffle=False)
    components: dict[str, list[np.ndarray]] = {}
    videos, frames = [], []
    with torch.inference_mode():
        for batch in tqdm(loader, desc=desc, disable=not progress, leave=False):
            for name, value in method.score_components(batch).items():
                components.setdefault(name, []).append(value.double().cpu().numpy())
            videos.append(np.asarray(batch["video"]))
            frames.append(np.asarray(batch["frame"]))
    if not videos:
        raise ValueError(f"{desc}: no windows to score")
    return {
        "components": {name: np.concatenate(values) for name, values in components.items()},
        "video": np.concatenate(videos),
        "frame": np.concatenate(frames),
    }


@dataclass
class Evaluation:
    metrics: dict
    scores_table: pd.DataFrame
    # Scores of the held-out normal windows that calibrate the score and fit the fixed threshold.
    validation_table: pd.DataFrame
    fixed_threshold: float | None
    calibration: ScoreCalibration
    score_seconds: float


def evaluate(method: Method, validation_windows: WindowDataset, test_windows: WindowDataset,
             test_videos: list[PreparedVideo], protocol, options: RunOptions, batch_size: int) -> Evaluation:
    """Calibrate on held-out normal windows, score the test windows and apply the protocol."""
    started = time.perf_counter()
    batch_size = max(batch_size, SCORE_BATCH_SIZE)
    validation_scores = score_windows(method, validation_windows, batch_size, options.progress, "score validation")
    calibration = ScoreCalibration.fit(validation_scores["components"])
    validation_final = method.combine_scores(validation_scores["components"], calibration)
    test_scores = score_windows(method, test_windows, batch_size, options.progress, "score test")
    test_final = method.combine_scores(test_scores["components"], calibration)
    score_seconds = time.perf_counter() - started

    video_scores, video_labels, rows = {}, {}, []
    scored_frames = method.scored_frames(test_scores["frame"])
    for index, video in enumerate(test_videos):
        mask = test_scores["video"] == index
        order = np.argsort(scored_frames[mask])
        frames, scores = scored_frames[mask][order], test_final[mask][order]
        if len(frames) == 0:
            logger.warning("test video %s has %d frames, fewer than the window of %d; it has no scores",
                           video.name, video.num_frames, method.window_length)
        labels = np.asarray(video.labels)
        video_scores[video.name] = (frames, scores)
        video_labels[video.name] = labels
        rows.append(pd.DataFrame({"video": video.name, "frame": frames, "score": scores, "label": labels[frames]}))

    # A threshold fixed without test labels only makes sense on the raw score scale.
    fixed_threshold = None
    if options.normalization == "none" and options.smoothing == "none":
        if hasattr(protocol, "fixed_threshold_from_windows"):
            # Clip protocols compare the threshold with clip scores, so it is fitted on held-out clip scores.
            held_out = {index: validation_final[validation_scores["video"] == index]
                        for index in np.unique(validation_scores["video"])}
            fixed_threshold = protocol.fixed_threshold_from_windows(held_out, options.fixed_threshold_quantile)
        else:
            fixed_threshold = float(np.quantile(validation_final, options.fixed_threshold_quantile))
    metrics = protocol.evaluate(video_scores, video_labels, fixed_threshold=fixed_threshold)
    validation_names = np.array([video.name for video in validation_windows.videos])
    validation_table = pd.DataFrame({
        "video": validation_names[validation_scores["video"]],
        "frame": method.scored_frames(validation_scores["frame"]),
        "score": validation_final,
    })
    return Evaluation(metrics, pd.concat(rows, ignore_index=True), validation_table, fixed_threshold, calibration,
                      score_seconds)


def headline_metric(metrics: dict) -> tuple[str, float]:
    """Return the protocol's headline metric: AP for XD-Violence, clip AUC for fight clips, else micro AUC."""
    for name in (metrics.get("headline_metric"), "clip_auc", "micro_auc"):
        if name and metrics.get(name) is not None:
            return name, float(metrics[name])
    raise KeyError(f"no headline metric among {sorted(metrics)}")


def _select_on_test_labels(method: Method, folder: RunFolder, training, evaluate_current) -> dict:
    """Pick the epoch with the best headline test metric. This uses test labels and is marked as such."""
    logger.warning("selection rule test-auc picks the epoch by test AUC; the result is label-informed "
                   "and not comparable with label-free runs")
    aucs = {}
    for epoch in range(1, training.epochs_completed + 1):
        path = folder.checkpoint_dir / epoch_checkpoint_name(epoch)
        if not path.exists():
            continue
        method.load_state_dict(load_checkpoint(path)["model"])
        aucs[epoch] = headline_metric(evaluate_current().metrics)[1]
    if not aucs:
        raise FileNotFoundError(f"no per-epoch checkpoints in {folder.checkpoint_dir} to select from")
    chosen = max(aucs, key=aucs.get)
    method.load_state_dict(load_checkpoint(folder.checkpoint_dir / epoch_checkpoint_name(chosen))["model"])
    return {"uses_test_labels": True, "checkpoint": epoch_checkpoint_name(chosen), "test_auc_by_epoch": aucs}


def run(options: RunOptions) -> dict:
    """Execute a run and return its metrics record (also written to `metrics.json`)."""
    limit_malloc_arenas()
    profile: Profile = PROFILES.get(options.profile)
    if options.selection not in SELECTION_RULES:
        raise ValueError(f"unknown selection rule {options.selection!r}; valid: {', '.join(SELECTION_RULES)}")
    run_id = options.run_id or options.default_run_id()
    folder = RunFolder(Path(options.runs_dir) / run_id)
    _claim_run_folder(folder, options)

    log_handler = logging.FileHandler(folder.file("log.txt"))
    log_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(log_handler)
    try:
        return _run(options, profile, run_id, folder)
    except BaseException as error:
        folder.set_status(STATUS_FAILED, error=f"{type(error).__name__}: {error}")
        raise
    finally:
        logging.getLogger().removeHandler(log_handler)
        log_handler.close()


def _claim_run_folder(folder: RunFolder, options: RunOptions) -> None:
    if folder.path.exists() and not (options.resume or options.overwrite):
        raise RunExistsError(
            f"run folder {folder.path} already exists (status: {folder.status()}); "
            "pass --resume to continue it, --overwrite to start again, or --run-id to choose another name"
        )
    if folder.path.exists() and options.overwrite:
        import shutil

        shutil.rmtree(folder.path)
    folder.path.mkdir(parents=True, exist_ok=True)


def _run(options: RunOptions, profile: Profile, run_id: str, folder: RunFolder) -> dict:
    started = time.perf_counter()
    if options.threads is not None:
        torch.set_num_threads(options.threads)
    torch.manual_seed(options.seed)
    np.random.seed(options.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    folder.set_status(STATUS_RUNNING, started=utc_now())
    folder.write_json("config.json", {"run_id": run_id, "options": dataclasses.asdict(options),
                                      "profile": profile.budget(), "config_hash": config_hash(options.identity())})
    logger.info("run %s: method %s on %s, profile %s (%s), seed %d",
                run_id, options.method, options.dataset, profile.name, profile.description, options.seed)

    # Data: adapter, subsets, frame cache.
    data_root = resolve_data_root(options.data_root)
    adapter = DATASETS.get(options.dataset)
    # An adapter may read another dataset's folder (e.g. a named subset), named by its `data_folder`.
    dataset_folder = data_root / getattr(adapter, "data_folder", options.dataset)
    dataset: Dataset = adapter(dataset_folder, ground_truth=options.ground_truth, **options.dataset_options)
    dataset.train = select_videos(dataset.train, options.train_videos, "training")
    dataset.test = select_videos(dataset.test, options.test_videos, "test")
    cache_config = CacheConfig(flow_backend=options.flow_backend, first_flow=options.first_flow)
    cache_root = Path(options.cache_dir) if options.cache_dir else default_cache_dir()
    prepare_started = time.perf_counter()
    prepared: PreparedDataset = prepare_dataset(dataset, cache_config, cache_root, workers=options.workers,
                                                progress=options.progress)
    prepare_seconds = time.perf_counter() - prepare_started

    # Method and windows.
    validation_count = options.validation_videos or dataset.validation_videos
    train_videos, validation_videos = split_validation(prepared.train, validation_count)
    method_class = METHODS.get(options.method)
    window_length = _window_length(options, method_class)

    flow_encoding = method_class.required_flow_encoding or options.flow_encoding

    def windows(videos: list[PreparedVideo]) -> WindowDataset:
        return WindowDataset(videos, window_length=window_length, stride=1,
                             flow_encoding=flow_encoding, use_flow=options.use_flow)

    train_windows, validation_windows, test_windows = windows(train_videos), windows(validation_videos), windows(prepared.test)
    method = build_method(options, flow_channels=train_windows.num_flow_channels, profile=profile)

    protocol_name = options.protocol or dataset.protocol
    protocol = PROTOCOLS.get(protocol_name)(
        window_length=window_length,
        score_position=method.score_position,
        normalization=options.normalization,
        smoothing=options.smoothing,
        smoothing_sigma=options.smoothing_sigma,
        **options.protocol_options,
    )

    def evaluate_current() -> Evaluation:
        return evaluate(method, validation_windows, test_windows, prepared.test, protocol, options, profile.batch_size)

    # Training and model selection; only `test-auc` looks at test labels.
    training, selection = None, {"rule": options.selection, "uses_test_labels": False}
    if method.trainable:
        training = train(method, train_windows, validation_windows, profile, folder.checkpoint_dir,
                         seed=options.seed, resume=options.resume, progress=options.progress,
                         keep_every_epoch=options.selection == "test-auc")
        selection.update(best_epoch=training.best_epoch, best_validation_loss=training.best_validation_loss)
        if options.selection == "test-auc":
            selection.update(_select_on_test_labels(method, folder, training, evaluate_current))
        else:
            selected = BEST_CHECKPOINT if options.selection == "validation-loss" else LAST_CHECKPOINT
            method.load_state_dict(load_checkpoint(folder.checkpoint_dir / selected)["model"])
            selection["checkpoint"] = selected

    result = evaluate_current()
    atomic_write_text(folder.file("scores.csv"), result.scores_table.to_csv(index=False))
    atomic_write_text(folder.file("validation_scores.csv"), result.validation_table.to_csv(index=False))
    metrics, fixed_threshold, calibration = result.metrics, result.fixed_threshold, result.calibration
    if selection["uses_test_labels"]:
        metrics["label_informed_selection"] = True

    record = {
        "run_id": run_id,
        "method": options.method,
        "dataset": options.dataset,
        "subset": _subset_label(options),
        "protocol": protocol_name,
        "metrics": metrics,
        "fixed_threshold": {
            "value": fixed_threshold,
            "rule": f"quantile {options.fixed_threshold_quantile} of scores on held-out normal training videos"
            if fixed_threshold is not None else "not defined when scores are normalised or smoothed",
        },
        "model_selection": selection,
        "training": dataclasses.asdict(training) if training else None,
        "calibration": calibration.to_dict(),
        "provenance": {
            "code": git_state(),
            "config_hash": config_hash(options.identity()),
            "seed": options.seed,
            "profile": profile.budget(),
            "paper_scale": profile.paper_scale,
            "data": {
                "fingerprint": prepared.fingerprint,
                "ground_truth": dataset.ground_truth,
                "notes": dataset.notes,
                "train_videos": [video.name for video in train_videos],
                "validation_videos": [video.name for video in validation_videos],
                "test_videos": [video.name for video in prepared.test],
                # Videos shorter than the window give no windows; they are listed and counted, never dropped silently.
                "skipped_short_videos": {
                    split: {"count": len(windows_.skipped_videos), "videos": list(windows_.skipped_videos)}
                    for split, windows_ in (("train", train_windows), ("validation", validation_windows),
                                            ("test", test_windows))
                },
            },
            "cache": prepared.provenance(),
            "flow": {"enabled": options.use_flow, "backend": options.flow_backend if options.use_flow else None,
                     "encoding": flow_encoding if options.use_flow else None},
            "method": method.describe(),
            "device": device_description(options.device),
            "libraries": library_versions(),
            "wall_seconds": {
                "prepare": prepare_seconds,
                "train": training.wall_seconds if training else 0.0,
                "score": result.score_seconds,
                "total": time.perf_counter() - started,
            },
            "finished": utc_now(),
        },
    }
    folder.write_json("metrics.json", record)
    folder.set_status(STATUS_COMPLETE, finished=utc_now())
    headline_name, headline_value = headline_metric(metrics)
    logger.info("run %s complete: %s %.4f", run_id, headline_name, headline_value)
    return record


def _window_length(options: RunOptions, method_class: type) -> int:
    config_class = method_class.config_class
    if config_class is not None and "window_length" in {item.name for item in dataclasses.fields(config_class)}:
        return int(options.method_options.get("window_length", config_class().window_length))
    return int(method_class.window_length)


def _subset_label(options: RunOptions) -> str | None:
    parts = []
    if options.train_videos is not None:
        parts.append(f"train={','.join(options.train_videos)}")
    if options.test_videos is not None:
        parts.append(f"test={','.join(options.test_videos)}")
    return "; ".join(parts) or None
