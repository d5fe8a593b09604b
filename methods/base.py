"""Interface every registered method implements, so one runner trains and scores all of them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn


def adam(parameters, lr: float, betas: tuple[float, float] = (0.9, 0.999)) -> torch.optim.Adam:
    """Adam with the fused kernel, which is about 10x faster per step than the default on CPU.

    Fused and default Adam compute the same update up to floating-point rounding.
    """
    return torch.optim.Adam(parameters, lr=lr, betas=betas, fused=True)


@dataclass
class ScoreCalibration:
    """Label-free statistics of score components on held-out normal training video."""

    mean: dict[str, float] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)

    @classmethod
    def fit(cls, components: dict[str, np.ndarray]) -> "ScoreCalibration":
        mean = {name: float(np.mean(values)) for name, values in components.items()}
        # A floor keeps a component that is constant on validation video from dividing by zero.
        std = {name: max(float(np.std(values)), 1e-8) for name, values in components.items()}
        return cls(mean=mean, std=std)

    def to_dict(self) -> dict:
        return {"mean": self.mean, "std": self.std}


class Method(nn.Module, ABC):
    """A trainable anomaly detector over fixed-length windows.

    A batch is the dict produced by `datasets.windows.WindowDataset`:
    `rgb` [B, T, 3, S, S] in [0, 1], `flow` [B, T, C, S, S] when the flow
    stream is on, and the window's `video` and end `frame`.
    Each window's score belongs to frame `end - (window_length - 1) + score_position`
    when score_position >= 0, or to `end + 1 + score_position` when negative.
    """

    name: str = ""
    window_length: int = 6
    score_position: int = -1
    uses_flow: bool = False
    # Flow setting of a run that sets none: the input of the method's source paper.
    default_flow: bool = False
    trainable: bool = True
    config_class: type | None = None
    # Flow encoding the method requires regardless of the run options (e.g. "raw" for flow magnitudes).
    # None means the run's --flow-encoding applies.
    required_flow_encoding: str | None = None

    def attach_optimizers(self, optimizers: dict[str, torch.optim.Optimizer]) -> None:
        """Give the method the optimizers (restored from a checkpoint on resume) that training_step uses."""
        self.optimizers = optimizers

    def scored_frames(self, end_frames: np.ndarray) -> np.ndarray:
        """Map window end frames to the frame index each window's score belongs to."""
        end_frames = np.asarray(end_frames)
        if self.score_position >= 0:
            return end_frames - (self.window_length - 1) + self.score_position
        return end_frames + 1 + self.score_position

    @abstractmethod
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Build the optimizers; the runner stores and restores their state in checkpoints."""

    @abstractmethod
    def training_step(self, batch: dict) -> dict[str, float]:
        """Run one optimisation step on a batch and return the loss terms as floats."""

    @abstractmethod
    def validation_loss(self, batch: dict) -> float:
        """Return the reconstruction loss of a batch of normal windows (used for model selection)."""

    @abstractmethod
    def score_components(self, batch: dict) -> dict[str, torch.Tensor]:
        """Return per-window anomaly score components, each a tensor of shape [B]."""

    def combine_scores(self, components: dict[str, np.ndarray], calibration: ScoreCalibration | None) -> np.ndarray:
        """Combine score components into one score per window (higher = more anomalous)."""
        if len(components) != 1:
            raise NotImplementedError(f"{type(self).__name__} has several score components and must combine them")
        return next(iter(components.values())).astype(np.float64)

    def describe(self) -> dict:
        """Return what a run record must know about this method beyond its config."""
        return {}
