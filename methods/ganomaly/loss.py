"""Generator and discriminator losses of GANomaly (Akcay, Atapour-Abarghouei and Breckon, ACCV 2018).

Every error is averaged over its elements, as in the authors' code
(samet-akcay/ganomaly), so the weights keep their published meaning.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

LOSS_TERMS = ("adversarial", "contextual", "encoder")


@dataclass(frozen=True)
class LossWeights:
    """Weights of the generator loss terms, by default the paper's w_adv = 1, w_con = 50 and w_enc = 1."""

    adversarial: float = 1.0
    contextual: float = 50.0
    encoder: float = 1.0

    def without(self, dropped: tuple[str, ...]) -> "LossWeights":
        """Return a copy with the weights of the `dropped` terms set to 0."""
        unknown = sorted(set(dropped) - set(LOSS_TERMS))
        if unknown:
            raise ValueError(f"unknown loss term(s) {unknown}; valid terms: {', '.join(LOSS_TERMS)}")
        return LossWeights(**{term: 0.0 if term in dropped else getattr(self, term) for term in LOSS_TERMS})


def adversarial_loss(real_features: torch.Tensor, fake_features: torch.Tensor) -> torch.Tensor:
    """Mean squared distance between the discriminator features of real and reconstructed frames (feature matching)."""
    return F.mse_loss(fake_features, real_features.detach())


def contextual_loss(real: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
    """Mean absolute error between a frame and its reconstruction."""
    return F.l1_loss(reconstruction, real)


def encoder_loss(latent: torch.Tensor, latent_hat: torch.Tensor) -> torch.Tensor:
    """Mean squared distance between the latent code of the frame and that of its reconstruction."""
    return F.mse_loss(latent_hat, latent)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the binary cross-entropy on real frames (label 1) and on reconstructed frames (label 0)."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real, fake
