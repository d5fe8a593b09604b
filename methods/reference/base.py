"""Shared parts of the training-free reference methods: the top-fraction pooling and the no-training API."""

from __future__ import annotations

import math

import torch

from methods.base import Method


def check_top_fraction(method_name: str, top_fraction: float) -> None:
    """Raise ValueError unless 0 < top_fraction <= 1."""
    if not 0 < top_fraction <= 1:
        raise ValueError(f"{method_name}: top_fraction must be in (0, 1], got {top_fraction}")


def top_fraction_mean(values: torch.Tensor, top_fraction: float) -> torch.Tensor:
    """Return the mean of the largest ceil(top_fraction * N) of the N values of each row of [B, ...], as [B].

    At least one value is kept, so a tiny fraction still gives the maximum.
    """
    flat = values.flatten(1)
    count = max(1, math.ceil(top_fraction * flat.shape[1]))
    return flat.topk(count, dim=1).values.mean(dim=1)


class TrainingFreeMethod(Method):
    """A method with a fixed scoring rule: the runner skips training and calls `score_components` directly."""

    trainable = False

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {}

    def training_step(self, batch: dict) -> dict[str, float]:
        raise NotImplementedError(f"{self.name} is training-free (trainable=False), so call score_components directly")

    def validation_loss(self, batch: dict) -> float:
        raise NotImplementedError(f"{self.name} is training-free (trainable=False) and has no validation loss")
