"""Training and scoring glue of GANomaly on single frames, registered as `ganomaly`."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

import torch

from datasets.windows import FLOW_ENCODINGS
from methods import METHODS
from methods.base import Method
from methods.ganomaly import loss as losses
from methods.ganomaly.model import Discriminator, Generator, check_image_size, init_dcgan_weights

logger = logging.getLogger(__name__)


def _downscale(images: torch.Tensor, size: int) -> torch.Tensor:
    """Average-pool [B, C, S, S] images to [B, C, size, size]; S must be a multiple of size."""
    if images.shape[-1] == size:
        return images
    return torch.nn.functional.avg_pool2d(images, kernel_size=images.shape[-1] // size)


@dataclass
class GanomalyConfig:
    """Defaults of `ganomaly`, with their sources and deviations listed in methods/ganomaly/README.md."""

    # Frames from the 128x128 cache are averaged down to this size (64: the size of the paper's
    # larger experiments); 128 builds four doubling stages and makes a step about 4x slower on CPU.
    image_size: int = 64
    latent_size: int = 100
    base_channels: int = 64
    learning_rate: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    # The authors' code re-initialises the discriminator when its loss falls below this value. 0 turns the reset off.
    discriminator_reset_loss: float = 1e-5
    weights: losses.LossWeights = field(default_factory=losses.LossWeights)

    def __post_init__(self) -> None:
        check_image_size(self.image_size)
        for name in ("latent_size", "base_channels"):
            if getattr(self, name) < 1:
                raise ValueError(f"ganomaly: {name} must be at least 1, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ValueError(f"ganomaly: learning_rate must be positive, got {self.learning_rate}")
        if self.discriminator_reset_loss < 0:
            raise ValueError(f"ganomaly: discriminator_reset_loss must be 0 or more, got {self.discriminator_reset_loss}")
        if isinstance(self.weights, dict):
            self.weights = losses.LossWeights(**self.weights)
        self.betas = tuple(self.betas)


@METHODS.register("ganomaly")
class Ganomaly(Method):
    """Encoder-decoder-encoder GAN on single frames, scored by the distance between z = G_E(x) and z_hat = E(G(x)).

    With flow on, the flow image of the frame is concatenated to the RGB
    input of G_E, E and D as a condition, and the decoder still reconstructs
    the RGB frame only.
    """

    name = "ganomaly"
    window_length = 1
    score_position = -1
    config_class = GanomalyConfig

    def __init__(self, config: GanomalyConfig | None = None, use_flow: bool | None = None, flow_channels: int = 3) -> None:
        super().__init__()
        use_flow = self.default_flow if use_flow is None else use_flow
        self.config = config or GanomalyConfig()
        self.uses_flow = use_flow
        if use_flow and flow_channels < 1:
            raise ValueError(f"ganomaly: the flow stream is on but flow_channels is {flow_channels}")
        self.flow_channels = flow_channels if use_flow else 0

        self.generator = Generator(
            image_size=self.config.image_size,
            latent_size=self.config.latent_size,
            base_channels=self.config.base_channels,
            condition_channels=self.flow_channels,
        )
        self.discriminator = Discriminator(
            image_size=self.config.image_size,
            base_channels=self.config.base_channels,
            condition_channels=self.flow_channels,
        )
        self.generator.apply(init_dcgan_weights)
        self.discriminator.apply(init_dcgan_weights)
        # A buffer, so checkpoints keep the count with the weights it belongs to.
        self.register_buffer("discriminator_resets", torch.zeros((), dtype=torch.long))

    # ----------------------------------------------------------------- helpers

    def _inputs(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Return the window's frame in [-1, 1] [B, 3, S, S] and its flow condition [B, C, S, S] (None with flow off)."""
        rgb = batch["rgb"]
        size = self.config.image_size
        if rgb.ndim != 5 or rgb.shape[1] != 1 or rgb.shape[-1] < size or rgb.shape[-1] % size:
            raise ValueError(f"ganomaly expects rgb windows [B, 1, 3, S, S] with S a multiple of {size}, "
                             f"got {tuple(rgb.shape)}")
        frame = _downscale(rgb[:, -1], size) * 2 - 1
        if not self.uses_flow:
            return frame, None

        if "flow" not in batch:
            raise ValueError("ganomaly was built with the flow stream on, but the batch has no 'flow'. "
                             "Pass flow windows, or build it with use_flow=False to score RGB only")
        flow = _downscale(batch["flow"][:, -1], size)
        # Colour-encoded flow is an image in [0, 1] and gets the RGB scaling. Raw flow (u, v) is
        # already signed around 0 and passes unchanged.
        if flow.shape[1] == FLOW_ENCODINGS["color"]:
            flow = flow * 2 - 1
        return frame, flow

    def reset_discriminator(self) -> None:
        """Draw fresh DCGAN weights for the discriminator, as the authors' code does when its loss collapses.

        Every discriminator parameter is a convolution weight or a batch-norm
        scale or shift, so `init_dcgan_weights` replaces all of them. The
        optimizer's moment estimates are kept, as in the authors' code.
        """
        self.discriminator.apply(init_dcgan_weights)
        self.discriminator_resets += 1

    # ----------------------------------------------------------------- Method API

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        lr, betas = self.config.learning_rate, self.config.betas
        return {
            "generator": torch.optim.Adam(self.generator.parameters(), lr=lr, betas=betas),
            "discriminator": torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=betas),
        }

    def generator_losses(
        self, frame: torch.Tensor, flow: torch.Tensor | None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """Return the weighted generator loss, its unweighted terms and the reconstruction."""
        reconstruction, latent, latent_hat = self.generator(frame, flow)
        with torch.no_grad():
            _, real_features = self.discriminator(frame, flow)
        _, fake_features = self.discriminator(reconstruction, flow)

        terms = {
            "adversarial": losses.adversarial_loss(real_features, fake_features),
            "contextual": losses.contextual_loss(frame, reconstruction),
            "encoder": losses.encoder_loss(latent, latent_hat),
        }
        weights = self.config.weights
        total = sum(getattr(weights, name) * value for name, value in terms.items())
        return total, terms, reconstruction

    def training_step(self, batch: dict) -> dict[str, float]:
        optimizers = self.optimizers
        self.train()
        frame, flow = self._inputs(batch)

        # Generator step. The discriminator's weights take no gradient from it.
        self.discriminator.requires_grad_(False)
        total, terms, reconstruction = self.generator_losses(frame, flow)
        optimizers["generator"].zero_grad(set_to_none=True)
        total.backward()
        optimizers["generator"].step()
        self.discriminator.requires_grad_(True)

        # Discriminator step on the real frame and the detached reconstruction.
        real_logits, _ = self.discriminator(frame, flow)
        fake_logits, _ = self.discriminator(reconstruction.detach(), flow)
        real_loss, fake_loss = losses.discriminator_loss(real_logits, fake_logits)
        discriminator_loss = (real_loss + fake_loss) / 2
        optimizers["discriminator"].zero_grad(set_to_none=True)
        discriminator_loss.backward()
        optimizers["discriminator"].step()

        logged = {f"loss_{name}": float(value.detach()) for name, value in terms.items()}
        logged["loss_generator"] = float(total.detach())
        logged["loss_discriminator"] = float(discriminator_loss.detach())

        if logged["loss_discriminator"] < self.config.discriminator_reset_loss:
            self.reset_discriminator()
            logger.info("ganomaly: discriminator loss %.2e below %.0e, so the discriminator was re-initialised (reset %d)",
                        logged["loss_discriminator"], self.config.discriminator_reset_loss,
                        int(self.discriminator_resets))
        return logged

    @torch.no_grad()
    def validation_loss(self, batch: dict) -> float:
        """Return the contextual loss: mean absolute error of the reconstruction on the [-1, 1] scale."""
        self.eval()
        frame, flow = self._inputs(batch)
        reconstruction, _, _ = self.generator(frame, flow)
        return float(losses.contextual_loss(frame, reconstruction))

    @torch.no_grad()
    def score_components(self, batch: dict) -> dict[str, torch.Tensor]:
        """Return `latent`: the mean over latent dimensions of (z - z_hat)^2 for each frame [B]."""
        self.eval()
        frame, flow = self._inputs(batch)
        _, latent, latent_hat = self.generator(frame, flow)
        return {"latent": (latent - latent_hat).pow(2).mean(dim=1)}

    def describe(self) -> dict:
        return {
            "config": asdict(self.config),
            "uses_flow": self.uses_flow,
            "input_channels": 3 + self.flow_channels,
            "discriminator_resets": int(self.discriminator_resets),
        }
