"""Training and scoring glue of MemAE on video clips, registered as `memae`."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from methods import METHODS
from methods.base import Method
from methods.memae.model import TEMPORAL_DOWNSAMPLING, MemAE3D, addressing_entropy

GRAY_WEIGHTS = (0.299, 0.587, 0.114)
"""ITU-R BT.601 luma weights of R, G and B."""

SCORED_FRAMES = ("centre", "last")


@dataclass
class MemAEConfig:
    """Defaults of `memae`. methods/memae/README.md gives the source of each."""

    window_length: int = 16
    channels: tuple[int, int, int, int] = (96, 128, 256, 256)
    memory_items: int = 2000
    shrink_threshold: float = 0.0025
    entropy_weight: float = 0.0002
    learning_rate: float = 1e-4
    scored_frame: str = "centre"

    def __post_init__(self) -> None:
        self.channels = tuple(self.channels)
        if self.window_length < TEMPORAL_DOWNSAMPLING or self.window_length % TEMPORAL_DOWNSAMPLING:
            raise ValueError(
                f"memae: window_length must be a positive multiple of {TEMPORAL_DOWNSAMPLING} "
                f"(the encoder halves time three times), got {self.window_length}"
            )
        if len(self.channels) != 4 or min(self.channels) < 1:
            raise ValueError(f"memae: channels must be four positive widths, got {list(self.channels)}")
        if self.memory_items < 1:
            raise ValueError(f"memae: memory_items must be positive, got {self.memory_items}")
        if not 0 <= self.shrink_threshold < 1:
            raise ValueError(f"memae: shrink_threshold must be in [0, 1), got {self.shrink_threshold}")
        if self.entropy_weight < 0:
            raise ValueError(f"memae: entropy_weight must be >= 0, got {self.entropy_weight}")
        if self.learning_rate <= 0:
            raise ValueError(f"memae: learning_rate must be positive, got {self.learning_rate}")
        if self.scored_frame not in SCORED_FRAMES:
            raise ValueError(f"memae: scored_frame must be one of {SCORED_FRAMES}, got {self.scored_frame!r}")


def rgb_to_gray(rgb: torch.Tensor) -> torch.Tensor:
    """Convert frames [..., 3, H, W] to luma [..., 1, H, W] with the BT.601 weights."""
    weights = rgb.new_tensor(GRAY_WEIGHTS).view(3, 1, 1)
    return (rgb * weights).sum(dim=-3, keepdim=True)


@METHODS.register("memae")
class MemAE(Method):
    """Reconstructs a grayscale clip through a memory of normal patterns and scores the clip's centre frame by its error."""

    name = "memae"
    window_length = 16
    score_position = 8
    config_class = MemAEConfig

    def __init__(self, config: MemAEConfig | None = None, use_flow: bool | None = None, flow_channels: int = 3) -> None:
        super().__init__()
        use_flow = self.default_flow if use_flow is None else use_flow
        self.config = config or MemAEConfig()
        self.window_length = self.config.window_length
        # The authors' evaluation pairs the clip of frames i..i+15 with frame i+8.
        self.score_position = self.window_length // 2 if self.config.scored_frame == "centre" else -1
        self.uses_flow = use_flow
        if use_flow and flow_channels < 1:
            raise ValueError(f"memae: the flow stream is on but flow_channels is {flow_channels}")
        self.flow_channels = flow_channels if use_flow else 0

        self.autoencoder = MemAE3D(
            in_channels=1 + self.flow_channels,
            out_channels=1,
            channels=self.config.channels,
            num_items=self.config.memory_items,
            shrink_threshold=self.config.shrink_threshold,
        )

    # ----------------------------------------------------------------- helpers

    def _inputs(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (clips [B, 1 + C_flow, T, S, S], target [B, 1, T, S, S] in [-1, 1])."""
        device = next(self.parameters()).device
        gray = rgb_to_gray(batch["rgb"].to(device)) * 2 - 1  # [B, T, 1, S, S]
        target = gray.transpose(1, 2)
        if not self.uses_flow:
            return target, target

        if "flow" not in batch:
            raise ValueError(
                "memae was built with the flow stream on, but the batch has no 'flow'. "
                "Run with the flow stream on, or build the method with use_flow=False."
            )
        flow = batch["flow"].to(device)
        if flow.shape[2] != self.flow_channels:
            raise ValueError(f"memae expects {self.flow_channels} flow channels, the batch has {flow.shape[2]}")
        return torch.cat([gray, flow], dim=2).transpose(1, 2), target

    def _losses(self, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Return the weighted training loss and its unweighted terms (reconstruction MSE, addressing entropy)."""
        clips, target = self._inputs(batch)
        reconstruction, weights = self.autoencoder(clips)
        terms = {
            "reconstruction": (reconstruction - target).pow(2).mean(),
            "entropy": addressing_entropy(weights),
        }
        total = terms["reconstruction"] + self.config.entropy_weight * terms["entropy"]
        return total, terms

    # ----------------------------------------------------------------- Method API

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"autoencoder": torch.optim.Adam(self.autoencoder.parameters(), lr=self.config.learning_rate)}

    def training_step(self, batch: dict) -> dict[str, float]:
        self.train()
        optimizer = self.optimizers["autoencoder"]
        total, terms = self._losses(batch)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()

        logged = {"loss": float(total.detach())}
        logged.update({f"loss_{name}": float(value.detach()) for name, value in terms.items()})
        return logged

    @torch.no_grad()
    def validation_loss(self, batch: dict) -> float:
        """Return the reconstruction MSE of a batch, without the entropy term."""
        self.eval()
        _, terms = self._losses(batch)
        return float(terms["reconstruction"])

    @torch.no_grad()
    def score_components(self, batch: dict) -> dict[str, torch.Tensor]:
        """Return the mean absolute reconstruction error over all frames and pixels of each clip.

        With one output channel this is the authors' clip score: the mean over
        the clip of the per-pixel L2 norm of the error across channels.
        """
        self.eval()
        clips, target = self._inputs(batch)
        reconstruction, _ = self.autoencoder(clips)
        return {"reconstruction_error": (reconstruction - target).abs().flatten(1).mean(dim=1)}

    def describe(self) -> dict:
        return {
            "config": asdict(self.config),
            "uses_flow": self.uses_flow,
            "flow_channels": self.flow_channels,
            "input": "grayscale (BT.601) clips scaled to [-1, 1]"
            + (f" plus {self.flow_channels} flow channels" if self.uses_flow else ""),
            "score": f"mean absolute reconstruction error of the clip, attributed to window position {self.score_position}",
        }
