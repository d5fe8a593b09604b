"""Networks of the dual-stream RGB + optical-flow GAN.

Source: S.-H. Kang and H.-S. Kang, "A Unified GAN-Based Framework for
Unsupervised Video Anomaly Detection Using Optical Flow and RGB Cues",
Preprints.org 2025, doi:10.20944/preprints202508.1337.v1 (sections 3.5-3.6).
Kernel sizes, strides and widths that the paper leaves open are listed with
their alternatives in methods/ours/README.md.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SqueezeExcitation(nn.Module):
    """Channel recalibration of Hu et al. (CVPR 2018) with reduction ratio `reduction`."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(channels, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.gate(x)
        return x * weights[:, :, None, None]


def stream_encoder(in_channels: int) -> nn.Sequential:
    """Two stride-2 convolutions with ReLU: 128x128 input to 32 channels at 32x32."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 16, kernel_size=3, stride=2, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(16, 32, kernel_size=3, stride=2, padding=1),
        nn.ReLU(inplace=True),
    )


class TemporalAttention(nn.Module):
    """Additive attention over time steps that pools a sequence into one vector."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.score = nn.Sequential(nn.Linear(hidden_size, hidden_size), nn.Tanh(), nn.Linear(hidden_size, 1))

    def forward(self, sequence: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        weights = torch.softmax(self.score(sequence).squeeze(-1), dim=1)  # [B, T]
        context = torch.einsum("bt,bth->bh", weights, sequence)
        return context, weights


class Generator(nn.Module):
    """Dual-stream encoder, recurrent bottleneck with attention, SE decoder.

    Input: RGB window [B, T, 3, S, S] and, when `use_flow`, the flow window
    [B, T, C, S, S]; output: reconstructed frames [B, F, 3, S, S] in [0, 1],
    where F is T (`output_frames="all"`) or 1 (`"last"`).
    """

    def __init__(
        self,
        window_length: int = 6,
        image_size: int = 128,
        flow_channels: int = 3,
        use_flow: bool = True,
        temporal_cell: str = "gru",
        hidden_size: int = 256,
        output_frames: str = "all",
    ) -> None:
        super().__init__()
        if image_size != 128:
            raise ValueError(f"the generator decodes 128x128 frames; got image_size={image_size}")
        if output_frames not in ("all", "last"):
            raise ValueError(f"output_frames must be 'all' or 'last', got {output_frames!r}")
        if temporal_cell not in ("gru", "lstm"):
            raise ValueError(f"temporal_cell must be 'gru' or 'lstm', got {temporal_cell!r}")

        self.window_length = window_length
        self.use_flow = use_flow
        self.output_frames = output_frames
        self.num_output_frames = window_length if output_frames == "all" else 1

        self.rgb_encoder = stream_encoder(3)
        self.flow_encoder = stream_encoder(flow_channels) if use_flow else None
        fused_channels = 64 if use_flow else 32
        self.fusion = nn.Sequential(
            nn.Conv2d(fused_channels, 64, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d((16, 16)),
        )

        recurrent = nn.GRU if temporal_cell == "gru" else nn.LSTM
        self.temporal = recurrent(64 * 16 * 16, hidden_size, batch_first=True)
        self.attention = TemporalAttention(hidden_size)
        self.project = nn.Linear(hidden_size, 512 * 4 * 4)

        stages = []
        for in_channels, out_channels in ((512, 256), (256, 128), (128, 64), (64, 32)):
            stages += [
                nn.ConvTranspose2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1),
                SqueezeExcitation(out_channels),
                nn.ReLU(inplace=True),
            ]
        self.decoder = nn.Sequential(*stages)  # 4x4 -> 64x64
        self.output = nn.Sequential(
            nn.ConvTranspose2d(32, 3 * self.num_output_frames, kernel_size=4, stride=2, padding=1),
            nn.Sigmoid(),
        )

    def forward(self, rgb: torch.Tensor, flow: torch.Tensor | None = None) -> torch.Tensor:
        batch, steps = rgb.shape[:2]
        features = self.rgb_encoder(rgb.flatten(0, 1))
        if self.use_flow:
            if flow is None:
                raise ValueError("this generator was built with use_flow=True but got no flow input")
            features = torch.cat([features, self.flow_encoder(flow.flatten(0, 1))], dim=1)

        fused = self.fusion(features).reshape(batch, steps, -1)
        sequence, _ = self.temporal(fused)
        context, _ = self.attention(sequence)

        bottleneck = self.project(context).reshape(batch, 512, 4, 4)
        frames = self.output(self.decoder(bottleneck))
        return frames.reshape(batch, self.num_output_frames, 3, *frames.shape[-2:])


class Discriminator(nn.Module):
    """Per-frame convolution module, LSTM over time, temporal mean, residual MLP head.

    `forward` returns the real/fake output [B] and the intermediate features
    used by the feature-matching loss and the anomaly score:
    `conv` [B, T, hidden*16], `lstm` [B, T, lstm_size] and `residual` [B, lstm_size].
    """

    def __init__(self, conv_channels: int = 64, lstm_size: int = 256) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(3, conv_channels, kernel_size=4, stride=2, padding=1),
            nn.BatchNorm2d(conv_channels),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d((4, 4)),
        )
        self.lstm = nn.LSTM(conv_channels * 16, lstm_size, batch_first=True)
        self.residual = nn.Sequential(
            nn.Linear(lstm_size, lstm_size),
            nn.LayerNorm(lstm_size),
            nn.ReLU(inplace=True),
            nn.Linear(lstm_size, lstm_size),
        )
        self.head = nn.Sequential(
            nn.Linear(lstm_size, 128),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(128, 64),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(64, 1),
        )

    def forward(self, clip: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        batch, steps = clip.shape[:2]
        frames = clip.flatten(0, 1)
        conv = self.conv(frames) if self.training else self._conv_eval(frames)
        conv = conv.reshape(batch, steps, -1)
        lstm, _ = self.lstm(conv)
        pooled = lstm.mean(dim=1)
        residual = pooled + self.residual(pooled)
        output = self.head(residual).squeeze(-1)
        return output, {"conv": conv, "lstm": lstm, "residual": residual}

    def _conv_eval(self, frames: torch.Tensor) -> torch.Tensor:
        """Compute `self.conv` in eval mode with batch norm folded into the convolution, in channels-last layout.

        Equal to `self.conv(frames)` up to floating-point rounding. For 96 frames of 128x128 it
        took 80 ms instead of 240 ms (1 thread on a busy 2-core machine, docs/benchmarks.md).
        """
        convolution, norm, _, pool = self.conv
        scale = norm.weight * torch.rsqrt(norm.running_var + norm.eps)
        weight = (convolution.weight * scale[:, None, None, None]).contiguous(memory_format=torch.channels_last)
        bias = (convolution.bias - norm.running_mean) * scale + norm.bias
        frames = frames.contiguous(memory_format=torch.channels_last)
        features = F.conv2d(frames, weight, bias, stride=convolution.stride, padding=convolution.padding)
        return pool(F.relu(features, inplace=True))
