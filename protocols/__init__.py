"""Evaluation protocols: pure functions over frame scores and labels."""

from bench.registry import Registry
from protocols.frame_protocol import FrameProtocol

PROTOCOLS: Registry = Registry("protocol")


@PROTOCOLS.register("frame")
def build_frame_protocol(**overrides) -> FrameProtocol:
    """Build the UCSD Ped2 frame-level protocol, with any field of FrameProtocol overridden by keyword."""
    return FrameProtocol(**{"name": "frame", **overrides})
