"""Networks of ConvLSTM-AE: a per-frame convolutional encoder, a ConvLSTM over time and deconvolutional decoders.

Source: W. Luo, W. Liu and S. Gao, "Remembering history with convolutional
LSTM for anomaly detection", ICME 2017. Kernel sizes, strides and widths
follow the authors' Caffe model (github.com/zachluo/convlstm_anomaly_detection,
zstorm_conv_lstm_deconv/train.prototxt); methods/convlstm_ae/README.md lists
where this implementation differs.
"""

from __future__ import annotations

import math

import torch
from torch import nn

DOWNSAMPLING = 16
"""Product of the encoder strides (4, 2, 2): frame sides must be multiples of it."""


class ConvLSTMCell(nn.Module):
    """LSTM cell whose four gates come from one convolution over the concatenated input and hidden state.

    This is the ConvLSTM of Shi et al. (NeurIPS 2015) without peephole
    connections. Input and state are [B, C, H, W], and the state keeps the input's H and W.
    """

    def __init__(self, input_channels: int, hidden_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.hidden_channels = hidden_channels
        self.gates = nn.Conv2d(input_channels + hidden_channels, 4 * hidden_channels, kernel_size,
                               padding=kernel_size // 2)

    def initial_state(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return zero hidden and cell states for an input batch `x` [B, C, H, W]."""
        zeros = x.new_zeros(x.shape[0], self.hidden_channels, *x.shape[2:])
        return zeros, zeros.clone()

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        hidden, cell = state
        input_gate, forget_gate, output_gate, candidate = self.gates(torch.cat([x, hidden], dim=1)).chunk(4, dim=1)
        cell = torch.sigmoid(forget_gate) * cell + torch.sigmoid(input_gate) * torch.tanh(candidate)
        hidden = torch.sigmoid(output_gate) * torch.tanh(cell)
        return hidden, cell


class ConvLSTM(nn.Module):
    """One ConvLSTM layer that runs over a sequence [B, T, C, H, W] from a zero state and returns every hidden state."""

    def __init__(self, input_channels: int, hidden_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.cell = ConvLSTMCell(input_channels, hidden_channels, kernel_size)

    def forward(self, sequence: torch.Tensor) -> torch.Tensor:
        state = self.cell.initial_state(sequence[:, 0])
        hidden_states = []
        for t in range(sequence.shape[1]):
            state = self.cell(sequence[:, t], state)
            hidden_states.append(state[0])
        return torch.stack(hidden_states, dim=1)


def frame_encoder(in_channels: int, widths: tuple[int, int, int]) -> nn.Sequential:
    """Three convolutions with ReLU (7x7 stride 4, 5x5 stride 2, 3x3 stride 2): S x S frames to S/16 x S/16."""
    return nn.Sequential(
        nn.Conv2d(in_channels, widths[0], kernel_size=7, stride=4, padding=3),
        nn.ReLU(inplace=True),
        nn.Conv2d(widths[0], widths[1], kernel_size=5, stride=2, padding=2),
        nn.ReLU(inplace=True),
        nn.Conv2d(widths[1], widths[2], kernel_size=3, stride=2, padding=1),
        nn.ReLU(inplace=True),
    )


def frame_decoder(hidden_channels: int, widths: tuple[int, int, int], out_channels: int) -> nn.Sequential:
    """Mirror of `frame_encoder` with transposed convolutions, ending in tanh: S/16 x S/16 back to S x S.

    Each output_padding is stride - 1, so every stage multiplies the side by
    its stride exactly.
    """
    return nn.Sequential(
        nn.ConvTranspose2d(hidden_channels, widths[1], kernel_size=3, stride=2, padding=1, output_padding=1),
        nn.ReLU(inplace=True),
        nn.ConvTranspose2d(widths[1], widths[0], kernel_size=5, stride=2, padding=2, output_padding=1),
        nn.ReLU(inplace=True),
        nn.ConvTranspose2d(widths[0], out_channels, kernel_size=7, stride=4, padding=3, output_padding=3),
        nn.Tanh(),
    )


def caffe_xavier_init(module: nn.Module) -> None:
    """Initialise convolution weights as Caffe's "xavier" filler does (uniform in +-sqrt(3 / fan_in)) and biases to 0.

    Caffe computes fan_in as the weight count over its first axis, which for
    PyTorch's transposed-convolution layout [in, out, k, k] is out * k * k.
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            fan_in = layer.weight[0].numel()
            bound = math.sqrt(3.0 / fan_in)
            nn.init.uniform_(layer.weight, -bound, bound)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


class ConvLSTMAutoencoder(nn.Module):
    """Encoder, ConvLSTM and decoders of ConvLSTM-AE.

    Input: frames [B, T, in_channels, S, S] with S a multiple of 16. The
    first output, `current` [B, T, out_channels, S, S], rebuilds frame t
    from the hidden state at step t. The second, `past`
    [B, T-1, out_channels, S, S], rebuilds frame t-1 from the hidden state
    at step t, and is None when `past_decoder` is False. Both are in [-1, 1].
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        encoder_channels: tuple[int, int, int] = (128, 256, 512),
        hidden_channels: int = 512,
        past_decoder: bool = True,
    ) -> None:
        super().__init__()
        self.encoder = frame_encoder(in_channels, encoder_channels)
        self.temporal = ConvLSTM(encoder_channels[2], hidden_channels)
        self.current_decoder = frame_decoder(hidden_channels, encoder_channels, out_channels)
        self.past_decoder = frame_decoder(hidden_channels, encoder_channels, out_channels) if past_decoder else None
        caffe_xavier_init(self)

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch_size, steps, channels, height, width = frames.shape
        if height % DOWNSAMPLING or width % DOWNSAMPLING:
            raise ValueError(
                f"frame size {height}x{width} is not a multiple of {DOWNSAMPLING}. "
                f"Prepare the frame cache at a size that is, such as 128."
            )

        features = self.encoder(frames.reshape(batch_size * steps, channels, height, width))
        hidden = self.temporal(features.reshape(batch_size, steps, *features.shape[1:]))

        current = self._decode(self.current_decoder, hidden)
        past = None
        if self.past_decoder is not None:
            # The state at step 0 has seen no earlier frame, so the past decoder starts at step 1.
            past = self._decode(self.past_decoder, hidden[:, 1:])
        return current, past

    @staticmethod
    def _decode(decoder: nn.Sequential, hidden: torch.Tensor) -> torch.Tensor:
        batch_size, steps = hidden.shape[:2]
        frames = decoder(hidden.flatten(0, 1))
        return frames.reshape(batch_size, steps, *frames.shape[1:])
