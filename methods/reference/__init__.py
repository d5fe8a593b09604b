"""Training-free reference scores: flow magnitude and frame difference, to show how much a learned method adds."""

from methods.reference.flow_magnitude import FlowMagnitude, FlowMagnitudeConfig
from methods.reference.frame_difference import FrameDifference, FrameDifferenceConfig

__all__ = ["FlowMagnitude", "FlowMagnitudeConfig", "FrameDifference", "FrameDifferenceConfig"]
