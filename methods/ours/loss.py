"""DASLoss for the generator and the least-squares GAN losses.

Terms follow equations 1-6 of Kang and Kang (doi:10.20944/preprints202508.1337.v1).
Every squared or absolute error is averaged over its elements, so the
weights compare terms of similar scale whatever the frame size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

LOSS_TERMS = ("pixel", "feature", "temporal", "perceptual", "adversarial")


@dataclass(frozen=True)
class LossWeights:
    """DASLoss weights (Table 1 of the paper) plus the generator's adversarial weight."""

    pixel: float = 1.0
    feature: float = 0.1
    temporal: float = 0.1
    perceptual: float = 0.01
    adversarial: float = 0.05

    def without(self, dropped: tuple[str, ...]) -> "LossWeights":
        unknown = sorted(set(dropped) - set(LOSS_TERMS))
        if unknown:
            raise ValueError(f"unknown loss term(s) {unknown}; valid terms: {', '.join(LOSS_TERMS)}")
        return LossWeights(**{term: 0.0 if term in dropped else getattr(self, term) for term in LOSS_TERMS})


def pixel_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Mean squared error between real and reconstructed frames (equation 2)."""
    return F.mse_loss(fake, real)


def feature_matching_loss(real_features: list[torch.Tensor], fake_features: list[torch.Tensor]) -> torch.Tensor:
    """Mean over layers of the L1 distance between discriminator features (equation 3)."""
    distances = [F.l1_loss(fake, real.detach()) for real, fake in zip(real_features, fake_features, strict=True)]
    return torch.stack(distances).mean()


def temporal_loss(fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
    """Squared difference of consecutive reconstructed frames (equation 4).

    With `real` given, the reconstructed frame differences are compared with
    the real ones instead of with zero (the `real-difference` alternative).
    `fake` is [B, T, 3, H, W]; with a single frame the term is zero.
    """
    if fake.shape[1] < 2:
        return fake.new_zeros(())
    fake_steps = fake[:, 1:] - fake[:, :-1]
    if real is None:
        return fake_steps.pow(2).mean()
    real_steps = real[:, 1:] - real[:, :-1]
    return F.mse_loss(fake_steps, real_steps)


def perceptual_loss(real_features: list[torch.Tensor], fake_features: list[torch.Tensor]) -> torch.Tensor:
    """Sum over VGG16 layers of the mean squared feature distance (equation 5)."""
    distances = [F.mse_loss(fake, real.detach()) for real, fake in zip(real_features, fake_features, strict=True)]
    return torch.stack(distances).sum()


def lsgan_discriminator_loss(real_output: torch.Tensor, fake_output: torch.Tensor) -> torch.Tensor:
    """Least-squares discriminator loss (equation 6): real towards 1, fake towards 0."""
    return 0.5 * (real_output - 1).pow(2).mean() + 0.5 * fake_output.pow(2).mean()


def lsgan_generator_loss(fake_output: torch.Tensor) -> torch.Tensor:
    """Least-squares generator loss: reconstructed clips towards the real label 1."""
    return 0.5 * (fake_output - 1).pow(2).mean()
