"""Absolute grayscale difference between a frame and the previous one, registered as `frame-difference`."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from methods import METHODS
from methods.reference.base import TrainingFreeMethod, check_top_fraction, top_fraction_mean

LUMA_WEIGHTS = (0.299, 0.587, 0.114)
"""ITU-R BT.601 weights of R, G and B in the grayscale value, the ones OpenCV's RGB-to-gray conversion uses."""


@dataclass
class FrameDifferenceConfig:
    """Defaults of `frame-difference`."""

    # Share of the frame's pixels, those with the largest absolute difference, that the score averages.
    top_fraction: float = 0.01

    def __post_init__(self) -> None:
        check_top_fraction("frame-difference", self.top_fraction)


def grayscale(rgb: torch.Tensor) -> torch.Tensor:
    """Convert RGB images [..., 3, H, W] in [0, 1] to grayscale [..., H, W] in [0, 1]."""
    weights = rgb.new_tensor(LUMA_WEIGHTS)
    return torch.einsum("...chw,c->...hw", rgb, weights)


@METHODS.register("frame-difference")
class FrameDifference(TrainingFreeMethod):
    """Frame score equal to the mean of the largest absolute grayscale changes from the previous frame.

    The scored frame is the last of a 2-frame window.

    Intensities are in [0, 1], so the score is in [0, 1]. A video's first
    frame ends no 2-frame window and gets no score.
    """

    name = "frame-difference"
    window_length = 2
    score_position = -1
    uses_flow = False
    config_class = FrameDifferenceConfig

    def __init__(self, config: FrameDifferenceConfig | None = None, use_flow: bool | None = None, flow_channels: int = 3) -> None:
        # The flow stream, when the run has it on, is ignored: the score reads RGB only.
        super().__init__()
        self.config = config or FrameDifferenceConfig()

    @torch.no_grad()
    def score_components(self, batch: dict) -> dict[str, torch.Tensor]:
        """Return `frame_difference`: the mean of the top `top_fraction` of per-pixel |gray(t) - gray(t-1)|, [B]."""
        rgb = batch["rgb"]
        if rgb.ndim != 5 or rgb.shape[1] != 2 or rgb.shape[2] != 3:
            raise ValueError(f"frame-difference expects rgb windows [B, 2, 3, H, W], got {tuple(rgb.shape)}")
        gray = grayscale(rgb)
        difference = (gray[:, 1] - gray[:, 0]).abs()
        return {"frame_difference": top_fraction_mean(difference, self.config.top_fraction)}

    def describe(self) -> dict:
        return {"config": asdict(self.config), "uses_flow": False, "training": "none"}
