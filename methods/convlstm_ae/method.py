"""Training and scoring glue of ConvLSTM-AE, registered as `convlstm-ae`."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from methods import METHODS
from methods.base import Method
from methods.convlstm_ae.model import ConvLSTMAutoencoder

GRAY_WEIGHTS = (0.299, 0.587, 0.114)
"""ITU-R BT.601 luma weights of R, G and B."""

COLORS = ("gray", "rgb")
OPTIMIZERS = ("adagrad", "adam")


@dataclass
class ConvLSTMAEConfig:
    """Defaults of `convlstm-ae`. methods/convlstm_ae/README.md gives the source of each."""

    window_length: int = 10
    color: str = "gray"
    encoder_channels: tuple[int, int, int] = (128, 256, 512)
    hidden_channels: int = 512
    past_weight: float = 1.0
    optimizer: str = "adagrad"
    learning_rate: float = 1e-3
    weight_decay: float = 5e-4

    def __post_init__(self) -> None:
        self.encoder_channels = tuple(self.encoder_channels)
        if self.color not in COLORS:
            raise ValueError(f"convlstm-ae: color must be one of {COLORS}, got {self.color!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"convlstm-ae: optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if len(self.encoder_channels) != 3 or min(self.encoder_channels) < 1:
            raise ValueError(
                f"convlstm-ae: encoder_channels must be three positive widths, got {list(self.encoder_channels)}"
            )
        if self.hidden_channels < 1:
            raise ValueError(f"convlstm-ae: hidden_channels must be positive, got {self.hidden_channels}")
        if self.past_weight < 0:
            raise ValueError(f"convlstm-ae: past_weight must be >= 0, got {self.past_weight}")
        minimum_window = 2 if self.past_weight > 0 else 1
        if self.window_length < minimum_window:
            raise ValueError(
                f"convlstm-ae: window_length must be at least {minimum_window} "
                f"(past_weight={self.past_weight}), got {self.window_length}"
            )
        if self.learning_rate <= 0:
            raise ValueError(f"convlstm-ae: learning_rate must be positive, got {self.learning_rate}")
        if self.weight_decay < 0:
            raise ValueError(f"convlstm-ae: weight_decay must be >= 0, got {self.weight_decay}")


def rgb_to_gray(rgb: torch.Tensor) -> torch.Tensor:
    """Convert frames [..., 3, H, W] to luma [..., 1, H, W] with the BT.601 weights."""
    weights = rgb.new_tensor(GRAY_WEIGHTS).view(3, 1, 1)
    return (rgb * weights).sum(dim=-3, keepdim=True)


@METHODS.register("convlstm-ae")
class ConvLSTMAE(Method):
    """Reconstructs every frame of a window through a ConvLSTM and scores the last frame by its reconstruction error."""

    name = "convlstm-ae"
    window_length = 10
    score_position = -1
    config_class = ConvLSTMAEConfig

    def __init__(self, config: ConvLSTMAEConfig | None = None, use_flow: bool | None = None, flow_channels: int = 3) -> None:
        super().__init__()
        use_flow = self.default_flow if use_flow is None else use_flow
        self.config = config or ConvLSTMAEConfig()
        self.window_length = self.config.window_length
        self.uses_flow = use_flow
        if use_flow and flow_channels < 1:
            raise ValueError(f"convlstm-ae: the flow stream is on but flow_channels is {flow_channels}")
        self.flow_channels = flow_channels if use_flow else 0

        self.image_channels = 1 if self.config.color == "gray" else 3
        self.autoencoder = ConvLSTMAutoencoder(
            in_channels=self.image_channels + self.flow_channels,
            out_channels=self.image_channels,
            encoder_channels=self.config.encoder_channels,
            hidden_channels=self.config.hidden_channels,
            past_decoder=self.config.past_weight > 0,
        )

    # ----------------------------------------------------------------- helpers

    def _inputs(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (encoder input [B, T, C_in, S, S], target frames [B, T, C_img, S, S] in [-1, 1])."""
        device = next(self.parameters()).device
        rgb = batch["rgb"].to(device)
        frames = rgb_to_gray(rgb) if self.config.color == "gray" else rgb
        target = frames * 2 - 1
        if not self.uses_flow:
            return target, target

        if "flow" not in batch:
            raise ValueError(
                "convlstm-ae was built with the flow stream on, but the batch has no 'flow'. "
                "Run with the flow stream on, or build the method with use_flow=False."
            )
        flow = batch["flow"].to(device)
        if flow.shape[2] != self.flow_channels:
            raise ValueError(f"convlstm-ae expects {self.flow_channels} flow channels, the batch has {flow.shape[2]}")
        return torch.cat([target, flow], dim=2), target

    def _losses(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Return (objective to minimise, weighted mean squared error, unweighted mean squared error terms).

        The objective scales each term as Caffe's Euclidean loss does (summed
        squared error over 2 x the number of time steps). The optimiser's
        steps barely depend on that scale, but the weight decay (5e-4 by default) is
        added to the gradient and keeps the authors' relative strength only
        at that scale. Logs and validation use the per-pixel means.
        """
        inputs, target = self._inputs(batch)
        current, past = self.autoencoder(inputs)
        steps = target.shape[1]

        current_error = (current - target).pow(2)
        terms = {"current": current_error.mean()}
        objective = current_error.sum() / (2 * steps)
        if past is not None:
            past_error = (past - target[:, :-1]).pow(2)
            terms["past"] = past_error.mean()
            objective = objective + self.config.past_weight * past_error.sum() / (2 * (steps - 1))

        weighted = terms["current"] + self.config.past_weight * terms.get("past", 0.0)
        return objective, weighted, terms

    def _parameter_groups(self) -> list[dict]:
        """Split parameters as the authors' solver does: biases get twice the learning rate and no weight decay."""
        weights, biases = [], []
        for name, parameter in self.autoencoder.named_parameters():
            (biases if name.endswith("bias") else weights).append(parameter)
        learning_rate = self.config.learning_rate
        return [
            {"params": weights, "lr": learning_rate, "weight_decay": self.config.weight_decay},
            {"params": biases, "lr": 2 * learning_rate, "weight_decay": 0.0},
        ]

    # ----------------------------------------------------------------- Method API

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        groups = self._parameter_groups()
        if self.config.optimizer == "adagrad":
            return {"autoencoder": torch.optim.Adagrad(groups, lr=self.config.learning_rate)}
        return {"autoencoder": torch.optim.Adam(groups, lr=self.config.learning_rate)}

    def training_step(self, batch: dict) -> dict[str, float]:
        self.train()
        optimizer = self.optimizers["autoencoder"]
        objective, weighted, terms = self._losses(batch)
        optimizer.zero_grad(set_to_none=True)
        objective.backward()
        optimizer.step()

        logged = {"loss": float(weighted.detach())}
        logged.update({f"loss_{name}": float(value.detach()) for name, value in terms.items()})
        return logged

    @torch.no_grad()
    def validation_loss(self, batch: dict) -> float:
        """Return the weighted mean squared error of both decoders."""
        self.eval()
        _, weighted, _ = self._losses(batch)
        return float(weighted)

    @torch.no_grad()
    def score_components(self, batch: dict) -> dict[str, torch.Tensor]:
        """Return e(t) of the last frame t of each window: the root of its mean squared reconstruction error.

        With the past decoder, the error of reconstructing frame t-1 from the
        state at step t is added before the root, as in the authors' test
        script. Per-video min-max normalisation of e(t) turns it into
        1 - regularity (the protocol's `video-minmax`).
        """
        self.eval()
        inputs, target = self._inputs(batch)
        current, past = self.autoencoder(inputs)
        squared_error = (current[:, -1] - target[:, -1]).pow(2).flatten(1).mean(dim=1)
        if past is not None:
            squared_error = squared_error + (past[:, -1] - target[:, -2]).pow(2).flatten(1).mean(dim=1)
        return {"reconstruction_error": squared_error.sqrt()}

    def describe(self) -> dict:
        return {
            "config": asdict(self.config),
            "uses_flow": self.uses_flow,
            "flow_channels": self.flow_channels,
            "input": f"{self.config.color} frames scaled to [-1, 1]"
            + (f" plus {self.flow_channels} flow channels" if self.uses_flow else ""),
            "score": "root mean squared reconstruction error of the window's last frame (raw, not min-max normalised)",
        }

