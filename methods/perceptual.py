"""VGG16 feature extractor for perceptual losses, loaded strictly from disk.

ImageNet weights are looked up in an explicit file or in the torch hub cache
(`torch.hub.get_dir()/checkpoints/vgg16-397923af.pth`, the file torchvision's
`VGG16_Weights.IMAGENET1K_V1` downloads). Nothing is downloaded here. When no
weights file exists, the backbone falls back to a VGG16 with a fixed seeded
random initialisation, logs a warning, and reports the fallback in
`description`, so a run record always names the backbone actually used.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import torch
from torch import nn

logger = logging.getLogger(__name__)

IMAGENET_FILE_NAME = "vgg16-397923af.pth"
RANDOM_INIT_SEED = 0

# Indices in torchvision's vgg16().features after which each named ReLU output is taken.
VGG16_LAYERS = {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22}

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def default_weights_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / IMAGENET_FILE_NAME


def _file_sha256_prefix(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


class VGGFeatures(nn.Module):
    """Frozen VGG16 trunk returning the requested ReLU activations of [0, 1] RGB input."""

    def __init__(self, layers: tuple[str, ...] = ("relu1_2", "relu2_2"), weights: str | Path | None = None) -> None:
        super().__init__()
        from torchvision.models import vgg16

        unknown = [name for name in layers if name not in VGG16_LAYERS]
        if unknown:
            raise ValueError(f"unknown VGG16 layer(s) {unknown}; valid layers: {sorted(VGG16_LAYERS)}")
        self.layers = tuple(sorted(layers, key=VGG16_LAYERS.get))
        last = VGG16_LAYERS[self.layers[-1]]

        weights_path = Path(weights).expanduser() if weights is not None else default_weights_path()
        if weights is not None and not weights_path.is_file():
            raise FileNotFoundError(
                f"perceptual weights file {weights_path} not found; pass the path of torchvision's "
                f"{IMAGENET_FILE_NAME} (VGG16 ImageNet weights) or omit the option"
            )

        if weights_path.is_file():
            network = vgg16(weights=None)
            state = torch.load(weights_path, map_location="cpu", weights_only=True)
            network.load_state_dict(state)
            self.description = {
                "backbone": "vgg16-imagenet",
                "weights_file": str(weights_path),
                "weights_sha256_prefix": _file_sha256_prefix(weights_path),
            }
            logger.info("perceptual backbone: VGG16 ImageNet weights from %s", weights_path)
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(RANDOM_INIT_SEED)
                network = vgg16(weights=None)
            self.description = {
                "backbone": f"vgg16-random-init(seed={RANDOM_INIT_SEED})",
                "weights_file": None,
                "reason": f"no weights at {weights_path}",
            }
            logger.warning(
                "VGG16 ImageNet weights not found at %s; the perceptual loss uses a VGG16 with a fixed "
                "random initialisation (seed %d). Put %s there or pass --perceptual-weights PATH "
                "to use ImageNet features.",
                weights_path,
                RANDOM_INIT_SEED,
                IMAGENET_FILE_NAME,
            )

        self.features = network.features[: last + 1].eval()
        for parameter in self.features.parameters():
            parameter.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def train(self, mode: bool = True) -> "VGGFeatures":
        super().train(mode)
        self.features.eval()  # the trunk stays frozen and in eval mode
        return self

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        x = (images - self.mean) / self.std
        wanted = {VGG16_LAYERS[name] for name in self.layers}
        outputs = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in wanted:
                outputs.append(x)
        return outputs
