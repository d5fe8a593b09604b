"""Networks of MemAE for video: a 3D-convolutional autoencoder with a memory read between encoder and decoder.

Source: D. Gong et al., "Memorizing Normality to Detect Anomaly:
Memory-augmented Deep Autoencoder for Unsupervised Anomaly Detection",
ICCV 2019. Layer widths, kernels, strides, the shrinkage formula and the
initialisation follow the authors' PyTorch code
(github.com/donggong1/memae-anomaly-detection, models/memae_3dconv.py,
models/memory_module.py, utils/utils.py); methods/memae/README.md lists
where this implementation differs.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

SPATIAL_DOWNSAMPLING = 16
"""Product of the encoder's spatial strides: frame sides must be multiples of it."""

TEMPORAL_DOWNSAMPLING = 8
"""Product of the encoder's temporal strides: clip lengths must be multiples of it."""


def hard_shrink(weights: torch.Tensor, threshold: float, epsilon: float = 1e-12) -> torch.Tensor:
    """Zero the addressing weights at or below `threshold` and keep the others unchanged.

    ReLU(w - threshold) * w / (|w - threshold| + epsilon) is a continuous
    form of hard shrinkage, so gradients reach the weights that survive.
    """
    return F.relu(weights - threshold) * weights / ((weights - threshold).abs() + epsilon)


class Memory(nn.Module):
    """A matrix of `num_items` memory items of `feature_channels` values, read by sparse attention.

    Every spatio-temporal position of the encoding is a query. Its addressing
    weights are the softmax over items of the dot products with the query,
    hard-shrunk with `shrink_threshold` and renormalised to sum to 1. The
    read is the weighted sum of items, so a query whose weights all fall
    below the threshold reads a zero vector.
    """

    def __init__(self, num_items: int = 2000, feature_channels: int = 256, shrink_threshold: float = 0.0025) -> None:
        super().__init__()
        self.shrink_threshold = shrink_threshold
        self.items = nn.Parameter(torch.empty(num_items, feature_channels))
        bound = 1.0 / math.sqrt(feature_channels)
        nn.init.uniform_(self.items, -bound, bound)

    def forward(self, encoding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the read [B, C, T, H, W] and the addressing weights [B * T * H * W, num_items]."""
        channels = encoding.shape[1]
        queries = encoding.movedim(1, -1)  # [B, T, H, W, C]
        grid_shape = queries.shape[:-1]
        queries = queries.reshape(-1, channels)

        weights = torch.softmax(queries @ self.items.t(), dim=1)
        if self.shrink_threshold > 0:
            weights = F.normalize(hard_shrink(weights, self.shrink_threshold), p=1, dim=1)

        read = (weights @ self.items).reshape(*grid_shape, channels).movedim(-1, 1)
        return read, weights


def _down(in_channels: int, out_channels: int, stride: tuple[int, int, int]) -> list[nn.Module]:
    return [
        nn.Conv3d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1),
        nn.BatchNorm3d(out_channels),
        nn.LeakyReLU(0.2, inplace=True),
    ]


def _up(in_channels: int, out_channels: int, stride: tuple[int, int, int]) -> list[nn.Module]:
    # output_padding = stride - 1 makes each stage multiply every side by its stride exactly.
    output_padding = tuple(step - 1 for step in stride)
    return [
        nn.ConvTranspose3d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1,
                           output_padding=output_padding),
        nn.BatchNorm3d(out_channels),
        nn.LeakyReLU(0.2, inplace=True),
    ]


class MemAE3D(nn.Module):
    """3D-convolutional MemAE over clips [B, in_channels, T, S, S], with T a multiple of 8 and S of 16.

    Encoder: four 3x3x3 convolutions with batch norm and LeakyReLU(0.2), the
    first striding (1, 2, 2) and the others (2, 2, 2). The decoder mirrors
    it with transposed convolutions and has no activation after the last
    one, so the reconstruction is unbounded. `channels` gives the encoder
    widths, and the last width is the memory's feature size.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        channels: tuple[int, int, int, int] = (96, 128, 256, 256),
        num_items: int = 2000,
        shrink_threshold: float = 0.0025,
    ) -> None:
        super().__init__()
        strides = [(1, 2, 2), (2, 2, 2), (2, 2, 2), (2, 2, 2)]
        widths = [in_channels, *channels]

        encoder_layers: list[nn.Module] = []
        for index, stride in enumerate(strides):
            encoder_layers += _down(widths[index], widths[index + 1], stride)
        self.encoder = nn.Sequential(*encoder_layers)

        self.memory = Memory(num_items, channels[-1], shrink_threshold)

        decoder_layers: list[nn.Module] = []
        for index in range(len(strides) - 1, 0, -1):
            decoder_layers += _up(widths[index + 1], widths[index], strides[index])
        decoder_layers.append(nn.ConvTranspose3d(widths[1], out_channels, kernel_size=3, stride=strides[0],
                                                 padding=1, output_padding=(0, 1, 1)))
        self.decoder = nn.Sequential(*decoder_layers)
        self._init_weights()

    def _init_weights(self) -> None:
        """Draw convolution weights from N(0, 0.02) and batch-norm scales from N(1, 0.02), as the authors do."""
        for layer in self.modules():
            if isinstance(layer, (nn.Conv3d, nn.ConvTranspose3d)):
                nn.init.normal_(layer.weight, 0.0, 0.02)
            elif isinstance(layer, nn.BatchNorm3d):
                nn.init.normal_(layer.weight, 1.0, 0.02)
                nn.init.zeros_(layer.bias)

    def forward(self, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the reconstruction [B, out_channels, T, S, S] and the memory addressing weights."""
        steps, height, width = clips.shape[2:]
        if steps % TEMPORAL_DOWNSAMPLING:
            raise ValueError(f"clip length {steps} is not a multiple of {TEMPORAL_DOWNSAMPLING}")
        if height % SPATIAL_DOWNSAMPLING or width % SPATIAL_DOWNSAMPLING:
            raise ValueError(
                f"frame size {height}x{width} is not a multiple of {SPATIAL_DOWNSAMPLING}. "
                f"Prepare the frame cache at a size that is, such as 128."
            )
        read, weights = self.memory(self.encoder(clips))
        return self.decoder(read), weights


def addressing_entropy(weights: torch.Tensor, epsilon: float = 1e-12) -> torch.Tensor:
    """Return the mean entropy of addressing weights [P, num_items] over the P queries."""
    return -(weights * torch.log(weights + epsilon)).sum(dim=1).mean()
