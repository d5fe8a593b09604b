"""Training and scoring glue of the dual-stream GAN, registered as `ours`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from methods import METHODS
from methods.base import Method, ScoreCalibration, adam
from methods.ours import loss as losses
from methods.ours.model import Discriminator, Generator
from methods.perceptual import VGGFeatures


@dataclass
class OursConfig:
    """Defaults of `ours`. Where Kang and Kang leave a choice open, README.md beside this file gives ours and the alternative."""

    window_length: int = 6
    image_size: int = 128
    learning_rate: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    temporal_cell: str = "gru"
    hidden_size: int = 256
    output_frames: str = "all"
    temporal_target: str = "zero"
    discriminator_channels: int = 64
    discriminator_lstm_size: int = 256
    feature_layers: tuple[str, ...] = ("conv", "lstm")
    perceptual_layers: tuple[str, ...] = ("relu1_2", "relu2_2")
    perceptual_frames: str = "last"
    perceptual_weights: str | None = None
    score_feature_layer: str = "residual"
    score_alpha: float = 1.0
    score_beta: float = 1.0
    score_standardize: bool = True
    weights: losses.LossWeights = field(default_factory=losses.LossWeights)

    def __post_init__(self) -> None:
        choices = {
            "output_frames": ("all", "last"),
            "temporal_target": ("zero", "real-difference"),
            "perceptual_frames": ("last", "all"),
            "score_feature_layer": ("residual", "lstm-last"),
            "temporal_cell": ("gru", "lstm"),
        }
        for name, valid in choices.items():
            if getattr(self, name) not in valid:
                raise ValueError(f"ours: {name} must be one of {valid}, got {getattr(self, name)!r}")
        if isinstance(self.weights, dict):
            self.weights = losses.LossWeights(**self.weights)
        self.betas = tuple(self.betas)
        self.feature_layers = tuple(self.feature_layers)
        self.perceptual_layers = tuple(self.perceptual_layers)


@METHODS.register("ours")
class DualStreamGAN(Method):
    """Reconstructs the frames of a window from RGB and flow; scores its last frame (equation 7)."""

    name = "ours"
    default_flow = True
    score_position = -1
    config_class = OursConfig

    def __init__(self, config: OursConfig | None = None, use_flow: bool | None = None, flow_channels: int = 3) -> None:
        super().__init__()
        use_flow = self.default_flow if use_flow is None else use_flow
        self.config = config or OursConfig()
        self.window_length = self.config.window_length
        self.uses_flow = use_flow

        self.generator = Generator(
            window_length=self.config.window_length,
            image_size=self.config.image_size,
            flow_channels=flow_channels,
            use_flow=use_flow,
            temporal_cell=self.config.temporal_cell,
            hidden_size=self.config.hidden_size,
            output_frames=self.config.output_frames,
        )
        self.discriminator = Discriminator(self.config.discriminator_channels, self.config.discriminator_lstm_size)
        self.perceptual = None
        if self.config.weights.perceptual > 0:
            self.perceptual = VGGFeatures(self.config.perceptual_layers, self.config.perceptual_weights)

    # ----------------------------------------------------------------- helpers

    def _reconstruct(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return (target frames, reconstructed frames, fake clip for the discriminator)."""
        rgb = batch["rgb"]
        fake = self.generator(rgb, batch.get("flow") if self.uses_flow else None)
        if self.config.output_frames == "all":
            return rgb, fake, fake
        # One output frame: the discriminator gets the real context frames plus the reconstructed last frame.
        fake_clip = torch.cat([rgb[:, :-1], fake], dim=1)
        return rgb[:, -1:], fake, fake_clip

    def _perceptual_frames(self, frames: torch.Tensor) -> torch.Tensor:
        chosen = frames[:, -1:] if self.config.perceptual_frames == "last" else frames
        return chosen.flatten(0, 1)

    # ----------------------------------------------------------------- Method API

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        lr, betas = self.config.learning_rate, self.config.betas
        return {
            "generator": adam(self.generator.parameters(), lr=lr, betas=betas),
            "discriminator": adam(self.discriminator.parameters(), lr=lr, betas=betas),
        }

    def generator_losses(self, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """Return the weighted DASLoss, its unweighted terms and the fake clip."""
        weights = self.config.weights
        target, fake, fake_clip = self._reconstruct(batch)
        terms = {"pixel": losses.pixel_loss(target, fake)}

        needs_discriminator = weights.feature > 0 or weights.adversarial > 0
        if needs_discriminator:
            with torch.no_grad():
                _, real_features = self.discriminator(batch["rgb"])
            fake_output, fake_features = self.discriminator(fake_clip)
            layers = self.config.feature_layers
            terms["feature"] = losses.feature_matching_loss(
                [real_features[name] for name in layers], [fake_features[name] for name in layers]
            )
            terms["adversarial"] = losses.lsgan_generator_loss(fake_output)

        real_for_temporal = target if self.config.temporal_target == "real-difference" else None
        terms["temporal"] = losses.temporal_loss(fake, real_for_temporal)

        if self.perceptual is not None:
            with torch.no_grad():
                real_vgg = self.perceptual(self._perceptual_frames(target))
            fake_vgg = self.perceptual(self._perceptual_frames(fake))
            terms["perceptual"] = losses.perceptual_loss(real_vgg, fake_vgg)

        total = sum(getattr(weights, name) * value for name, value in terms.items())
        return total, terms, fake_clip

    def training_step(self, batch: dict) -> dict[str, float]:
        optimizers = self.optimizers
        self.train()

        total, terms, fake_clip = self.generator_losses(batch)
        optimizers["generator"].zero_grad(set_to_none=True)
        total.backward()
        optimizers["generator"].step()

        real_output, _ = self.discriminator(batch["rgb"])
        fake_output, _ = self.discriminator(fake_clip.detach())
        discriminator_loss = losses.lsgan_discriminator_loss(real_output, fake_output)
        optimizers["discriminator"].zero_grad(set_to_none=True)
        discriminator_loss.backward()
        optimizers["discriminator"].step()

        logged = {f"loss_{name}": float(value.detach()) for name, value in terms.items()}
        logged["loss_generator"] = float(total.detach())
        logged["loss_discriminator"] = float(discriminator_loss.detach())
        return logged

    @torch.no_grad()
    def validation_loss(self, batch: dict) -> float:
        self.eval()
        target, fake, _ = self._reconstruct(batch)
        return float(losses.pixel_loss(target, fake))

    @torch.no_grad()
    def score_components(self, batch: dict) -> dict[str, torch.Tensor]:
        """Pixel error of the last frame and discriminator feature error (both terms of equation 7)."""
        self.eval()
        rgb = batch["rgb"]
        target, fake, fake_clip = self._reconstruct(batch)
        pixel = (target[:, -1] - fake[:, -1]).pow(2).flatten(1).mean(dim=1)

        _, real_features = self.discriminator(rgb)
        _, fake_features = self.discriminator(fake_clip)
        if self.config.score_feature_layer == "residual":
            real_layer, fake_layer = real_features["residual"], fake_features["residual"]
        else:
            real_layer, fake_layer = real_features["lstm"][:, -1], fake_features["lstm"][:, -1]
        feature = (real_layer - fake_layer).abs().flatten(1).mean(dim=1)
        return {"pixel": pixel, "feature": feature}

    def combine_scores(self, components: dict[str, np.ndarray], calibration: ScoreCalibration | None) -> np.ndarray:
        pixel = components["pixel"].astype(np.float64)
        feature = components["feature"].astype(np.float64)
        if self.config.score_standardize:
            if calibration is None:
                raise ValueError("score_standardize needs calibration statistics from held-out normal video")
            pixel = (pixel - calibration.mean["pixel"]) / calibration.std["pixel"]
            feature = (feature - calibration.mean["feature"]) / calibration.std["feature"]
        return self.config.score_alpha * pixel + self.config.score_beta * feature

    def describe(self) -> dict:
        perceptual = self.perceptual.description if self.perceptual is not None else {"backbone": "none"}
        config = asdict(self.config)
        return {"perceptual": perceptual, "config": config, "uses_flow": self.uses_flow}
