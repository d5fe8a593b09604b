"""Evaluation protocols: pure functions over frame scores and labels."""

from bench.registry import Registry
from protocols.clip_protocol import ClipProtocol
from protocols.frame_protocol import FrameProtocol
from protocols.xd_protocol import XDProtocol

PROTOCOLS: Registry = Registry("protocol")


@PROTOCOLS.register("frame")
def build_frame_protocol(**overrides) -> FrameProtocol:
    """Build the UCSD Ped2 frame-level protocol, with any field of FrameProtocol overridden by keyword."""
    return FrameProtocol(**{"name": "frame", **overrides})


@PROTOCOLS.register("fight-clips")
def build_clip_protocol(**overrides) -> ClipProtocol:
    """Build the clip-level fight protocol (max of window scores per clip), with any field overridden by keyword."""
    return ClipProtocol(**{"name": "fight-clips", **overrides})


@PROTOCOLS.register("xd")
def build_xd_protocol(**overrides) -> XDProtocol:
    """Build the XD-Violence frame-level AP protocol (pad-first for unscored frames), with any field overridden."""
    return XDProtocol(**{"name": "xd", **overrides})
