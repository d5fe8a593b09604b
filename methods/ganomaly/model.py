"""DCGAN encoder, decoder and discriminator of GANomaly.

Source: S. Akcay, A. Atapour-Abarghouei and T. P. Breckon, "GANomaly:
Semi-Supervised Anomaly Detection via Adversarial Training", ACCV 2018
(arXiv:1805.06725). The layer pattern follows the DCGAN rule of the authors'
code (samet-akcay/ganomaly, lib/networks.py): 4x4 stride-2 convolutions halve
the image and double the channels until the map is 4x4, then a 4x4
convolution without padding gives a 1x1 output. At 128x128 that rule gives
four doubling stages after the first convolution instead of the two of the
paper's 32x32 input (see methods/ganomaly/README.md).
"""

from __future__ import annotations

import torch
from torch import nn

FINAL_MAP_SIZE = 4
"""Side of the feature map that the last encoder convolution reduces to 1x1."""


def check_image_size(image_size: int) -> None:
    """Raise ValueError unless `image_size` is a power of two of at least 16, as the DCGAN pyramid needs."""
    if image_size < 16 or image_size & (image_size - 1):
        raise ValueError(f"ganomaly: image_size must be a power of two of at least 16, got {image_size}")


def init_dcgan_weights(module: nn.Module) -> None:
    """Draw convolution weights from N(0, 0.02) and batch-norm scales from N(1, 0.02), as DCGAN does."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
        module.reset_running_stats()


class Encoder(nn.Module):
    """DCGAN encoder from an image [B, C, S, S] to a vector [B, out_features].

    `features` ends with the last 4x4 map (the layer GANomaly's feature
    matching compares), and `head` is the 4x4 convolution to 1x1.
    """

    def __init__(self, in_channels: int, out_features: int, image_size: int = 128, base_channels: int = 64) -> None:
        super().__init__()
        check_image_size(image_size)
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, base_channels, kernel_size=4, stride=2, padding=1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        size, channels = image_size // 2, base_channels
        while size > FINAL_MAP_SIZE:
            layers += [
                nn.Conv2d(channels, channels * 2, kernel_size=4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(channels * 2),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            size, channels = size // 2, channels * 2

        self.features = nn.Sequential(*layers)
        self.feature_channels = channels
        self.head = nn.Conv2d(channels, out_features, kernel_size=FINAL_MAP_SIZE, stride=1, padding=0, bias=False)

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the output vector [B, out_features] and the last feature map [B, K, 4, 4]."""
        features = self.features(x)
        return self.head(features).flatten(1), features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_features(x)[0]


class Decoder(nn.Module):
    """DCGAN decoder from a latent vector [B, latent_size] to an image [B, out_channels, S, S] in [-1, 1].

    It mirrors `Encoder`: a 4x4 transposed convolution makes a 4x4 map, and
    4x4 stride-2 transposed convolutions double the size and halve the
    channels until the last one outputs the image through tanh.
    """

    def __init__(self, latent_size: int, out_channels: int = 3, image_size: int = 128, base_channels: int = 64) -> None:
        super().__init__()
        check_image_size(image_size)
        # Channels of the 4x4 map: base_channels at S/2, doubled for each halving down to 4x4, as in Encoder.
        channels = base_channels * (image_size // 2 // FINAL_MAP_SIZE)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_size, channels, kernel_size=FINAL_MAP_SIZE, stride=1, padding=0, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        ]
        size = FINAL_MAP_SIZE
        while size < image_size // 2:
            layers += [
                nn.ConvTranspose2d(channels, channels // 2, kernel_size=4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(channels // 2),
                nn.ReLU(inplace=True),
            ]
            size, channels = size * 2, channels // 2
        layers += [
            nn.ConvTranspose2d(channels, out_channels, kernel_size=4, stride=2, padding=1, bias=False),
            nn.Tanh(),
        ]
        self.layers = nn.Sequential(*layers)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.layers(latent[:, :, None, None])


class Generator(nn.Module):
    """Encoder G_E, decoder G_D and second encoder E of GANomaly.

    Input: the RGB frame [B, 3, S, S] in [-1, 1] and, when `condition_channels`
    is above 0, condition images [B, condition_channels, S, S] (the flow of the
    frame). Both encoders see the RGB image (real for G_E, reconstructed for
    E) concatenated with the condition, and the decoder outputs RGB only.
    """

    def __init__(
        self,
        image_size: int = 128,
        latent_size: int = 100,
        base_channels: int = 64,
        condition_channels: int = 0,
    ) -> None:
        super().__init__()
        self.condition_channels = condition_channels
        in_channels = 3 + condition_channels
        self.encoder = Encoder(in_channels, latent_size, image_size, base_channels)
        self.decoder = Decoder(latent_size, 3, image_size, base_channels)
        self.second_encoder = Encoder(in_channels, latent_size, image_size, base_channels)

    def forward(
        self, rgb: torch.Tensor, condition: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return the reconstruction x_hat [B, 3, S, S], the latent z and the latent z_hat = E(x_hat) [B, latent_size]."""
        latent = self.encoder(with_condition(rgb, condition, self.condition_channels))
        reconstruction = self.decoder(latent)
        latent_hat = self.second_encoder(with_condition(reconstruction, condition, self.condition_channels))
        return reconstruction, latent, latent_hat


class Discriminator(nn.Module):
    """DCGAN encoder with one output logit, whose last 4x4 feature map is the feature-matching layer.

    The authors' discriminator ends with a sigmoid. Here it returns the logit
    and the loss applies the sigmoid inside `binary_cross_entropy_with_logits`,
    which is the same loss computed more stably.
    """

    def __init__(self, image_size: int = 128, base_channels: int = 64, condition_channels: int = 0) -> None:
        super().__init__()
        self.condition_channels = condition_channels
        self.encoder = Encoder(3 + condition_channels, 1, image_size, base_channels)

    def forward(self, rgb: torch.Tensor, condition: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the real-versus-fake logits [B] and the last feature map [B, K, 4, 4]."""
        logits, features = self.encoder.forward_with_features(with_condition(rgb, condition, self.condition_channels))
        return logits.squeeze(1), features


def with_condition(rgb: torch.Tensor, condition: torch.Tensor | None, condition_channels: int) -> torch.Tensor:
    """Concatenate the condition images to the RGB channels, checking that a network built for them gets them."""
    if condition_channels == 0:
        if condition is not None:
            raise ValueError("this network was built without condition channels but received a condition input")
        return rgb
    if condition is None or condition.shape[1] != condition_channels:
        got = "none" if condition is None else condition.shape[1]
        raise ValueError(f"this network expects {condition_channels} condition channels, got {got}")
    return torch.cat([rgb, condition], dim=1)
