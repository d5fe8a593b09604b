"""The dual-stream RGB + optical-flow GAN of Kang and Kang (doi:10.20944/preprints202508.1337.v1)."""

from methods.ours.method import DualStreamGAN, OursConfig

__all__ = ["DualStreamGAN", "OursConfig"]
