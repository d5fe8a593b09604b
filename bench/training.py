"""Seeded training loop with per-epoch checkpoints, resume and label-free model selection."""

from __future__ import annotations

import io
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, RandomSampler

from bench.profiles import Profile
from bench.records import atomic_write_bytes
from methods.base import Method

logger = logging.getLogger(__name__)

LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"


@dataclass
class TrainingResult:
    epochs_completed: int
    steps: int
    best_epoch: int | None
    best_validation_loss: float | None
    stopped_early: bool
    history: list[dict] = field(default_factory=list)
    wall_seconds: float = 0.0


def epoch_checkpoint_name(epoch: int) -> str:
    return f"epoch_{epoch:04d}.pt"


def save_checkpoint(path: Path, state: dict) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: Path) -> dict:
    """Load a checkpoint without executing code from the file (`weights_only=True`)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """Sampling order of an epoch depends only on (seed, epoch), so a resumed run draws the same windows."""
    return torch.Generator().manual_seed(seed * 100_003 + epoch)


def validation_loss(method: Method, loader: DataLoader, max_batches: int | None) -> float:
    losses, sizes = [], []
    for index, batch in enumerate(loader):
        if max_batches is not None and index >= max_batches:
            break
        losses.append(method.validation_loss(batch))
        sizes.append(len(batch["rgb"]))
    if not losses:
        raise ValueError("the validation set produced no windows; hold out longer normal training videos")
    return float(np.average(losses, weights=sizes))


def train(
    method: Method,
    train_windows: torch.utils.data.Dataset,
    validation_windows: torch.utils.data.Dataset,
    profile: Profile,
    checkpoint_dir: Path,
    seed: int,
    resume: bool = False,
    progress: bool = True,
    keep_every_epoch: bool = False,
) -> TrainingResult:
    """Train `method` under `profile`, keeping `last.pt` after every epoch and `best.pt` at the lowest validation loss.

    With `keep_every_epoch`, the weights after each epoch are also kept as
    `epoch_NNNN.pt` (for selection rules that compare epochs afterwards).
    """
    from tqdm.auto import tqdm

    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    optimizers = method.configure_optimizers()
    method.attach_optimizers(optimizers)

    start_epoch, step, history = 0, 0, []
    best_loss, best_epoch, epochs_without_gain = math.inf, None, 0
    last_path = checkpoint_dir / LAST_CHECKPOINT
    if resume and last_path.exists():
        state = load_checkpoint(last_path)
        method.load_state_dict(state["model"])
        for name, optimizer in optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        start_epoch, step, history = state["epoch"], state["step"], state["history"]
        best_loss = state["best_validation_loss"] if state["best_validation_loss"] is not None else math.inf
        best_epoch, epochs_without_gain = state["best_epoch"], state["epochs_without_gain"]
        logger.info("resumed from %s after epoch %d (step %d)", last_path, start_epoch, step)
    elif resume:
        logger.info("no checkpoint at %s; starting from scratch", last_path)

    if len(train_windows) == 0:
        raise ValueError("the training set produced no windows; check the training videos and window length")
    steps_per_epoch = profile.steps_per_epoch or math.ceil(len(train_windows) / profile.batch_size)
    validation_loader = DataLoader(validation_windows, batch_size=profile.batch_size, shuffle=False)

    started = time.perf_counter()
    stopped_early = False
    for epoch in range(start_epoch, profile.epochs):
        if profile.patience is not None and epochs_without_gain >= profile.patience:
            stopped_early = True
            break

        sampler = RandomSampler(
            train_windows,
            replacement=False,
            num_samples=min(steps_per_epoch * profile.batch_size, len(train_windows)),
            generator=epoch_generator(seed, epoch),
        )
        loader = DataLoader(train_windows, batch_size=profile.batch_size, sampler=sampler, drop_last=False)
        totals: dict[str, float] = {}
        bar = tqdm(loader, desc=f"train epoch {epoch + 1}/{profile.epochs}", disable=not progress, leave=False)
        batches = 0
        for batch in bar:
            logged = method.training_step(batch)
            for name, value in logged.items():
                totals[name] = totals.get(name, 0.0) + value
            batches += 1
            step += 1
            bar.set_postfix(loss=f"{logged.get('loss_generator', next(iter(logged.values()))):.4f}")
        bar.close()

        epoch_loss = validation_loss(method, validation_loader, profile.max_validation_batches)
        record = {"epoch": epoch + 1, "step": step, "validation_loss": epoch_loss}
        record.update({name: value / max(batches, 1) for name, value in totals.items()})
        history.append(record)

        if epoch_loss < best_loss:
            best_loss, best_epoch, epochs_without_gain = epoch_loss, epoch + 1, 0
            save_checkpoint(checkpoint_dir / BEST_CHECKPOINT, {"model": method.state_dict(), "epoch": epoch + 1})
        else:
            epochs_without_gain += 1
        if keep_every_epoch:
            save_checkpoint(checkpoint_dir / epoch_checkpoint_name(epoch + 1), {"model": method.state_dict(), "epoch": epoch + 1})

        save_checkpoint(
            last_path,
            {
                "model": method.state_dict(),
                "optimizers": {name: optimizer.state_dict() for name, optimizer in optimizers.items()},
                "epoch": epoch + 1,
                "step": step,
                "history": history,
                "best_validation_loss": best_loss if best_epoch is not None else None,
                "best_epoch": best_epoch,
                "epochs_without_gain": epochs_without_gain,
            },
        )
        logger.info("epoch %d/%d: validation loss %.6f (best %.6f at epoch %s)",
                    epoch + 1, profile.epochs, epoch_loss, best_loss, best_epoch)

    return TrainingResult(
        epochs_completed=len(history),
        steps=step,
        best_epoch=best_epoch,
        best_validation_loss=best_loss if best_epoch is not None else None,
        stopped_early=stopped_early,
        history=history,
        wall_seconds=time.perf_counter() - started,
    )
