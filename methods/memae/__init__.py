"""MemAE of Gong et al., "Memorizing Normality to Detect Anomaly: Memory-augmented Deep Autoencoder for
Unsupervised Anomaly Detection" (ICCV 2019), in its 3D-convolutional video form."""

from methods.memae.method import MemAE, MemAEConfig

__all__ = ["MemAE", "MemAEConfig"]
