"""Optical-flow magnitude of a frame as its anomaly score, registered as `flow-magnitude`."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from methods import METHODS
from methods.reference.base import TrainingFreeMethod, check_top_fraction, top_fraction_mean


@dataclass
class FlowMagnitudeConfig:
    """Defaults of `flow-magnitude`."""

    # Share of the frame's pixels, those with the largest flow magnitude, that the score averages.
    top_fraction: float = 0.01

    def __post_init__(self) -> None:
        check_top_fraction("flow-magnitude", self.top_fraction)


@METHODS.register("flow-magnitude")
class FlowMagnitude(TrainingFreeMethod):
    """Frame score equal to the mean of the frame's largest per-pixel flow magnitudes, in pixels.

    The batch's raw flow is (u / width, v / height) for the motion from the
    previous frame to this one, so the magnitude in pixels is
    hypot(u * width, v * height). A video's first frame has zero flow and
    scores 0.
    """

    name = "flow-magnitude"
    window_length = 1
    score_position = -1
    uses_flow = True
    default_flow = True
    required_flow_encoding = "raw"
    config_class = FlowMagnitudeConfig

    def __init__(self, config: FlowMagnitudeConfig | None = None, use_flow: bool = True, flow_channels: int = 2) -> None:
        super().__init__()
        if not use_flow:
            raise ValueError("flow-magnitude scores optical flow, so it needs the flow stream. Run it with --flow on")
        if flow_channels != 2:
            raise ValueError(f"flow-magnitude needs raw (u, v) flow with 2 channels, got flow_channels={flow_channels}")
        self.config = config or FlowMagnitudeConfig()

    def frame_magnitudes(self, batch: dict) -> torch.Tensor:
        """Return the per-pixel flow magnitude in pixels of each window's frame, [B, H, W]."""
        if "flow" not in batch:
            raise ValueError("flow-magnitude needs the batch's 'flow' in the raw encoding, but the batch has no 'flow'")
        flow = batch["flow"]
        if flow.ndim != 5 or flow.shape[1] != 1 or flow.shape[2] != 2:
            raise ValueError(f"flow-magnitude expects raw flow windows [B, 1, 2, H, W], got {tuple(flow.shape)}")
        height, width = flow.shape[-2:]
        u_pixels = flow[:, -1, 0] * width
        v_pixels = flow[:, -1, 1] * height
        return torch.hypot(u_pixels, v_pixels)

    @torch.no_grad()
    def score_components(self, batch: dict) -> dict[str, torch.Tensor]:
        """Return `flow_magnitude`: the mean of the top `top_fraction` of pixel flow magnitudes, in pixels, [B]."""
        magnitudes = self.frame_magnitudes(batch)
        return {"flow_magnitude": top_fraction_mean(magnitudes, self.config.top_fraction)}

    def describe(self) -> dict:
        return {"config": asdict(self.config), "uses_flow": True, "flow_encoding": "raw", "training": "none"}
