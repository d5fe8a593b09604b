"""Optical flow backends, registered by name, and flow-field resizing.

Every backend returns the flow from a previous frame to the next one as a
float32 HxWx2 array of (u, v) displacements in pixels at the input
resolution: pixel (x, y) of the previous frame moves to (x + u, y + v) in
the next frame.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.registry import Registry
from datasets.base import DataError, DatasetNotFoundError, Video

logger = logging.getLogger(__name__)

FLOW_BACKENDS: Registry[type["FlowBackend"]] = Registry("flow backend")

DEFAULT_FLOW_BACKEND = "dis"


class FlowBackend:
    """An optical flow method with fixed parameters.

    Subclasses set `name` and `default_params` and implement `compute`.
    `pairwise` is False for backends that read finished flow files in place
    of computing flow from frame pairs. Worker processes limit torch to one
    thread when `uses_torch` is True.
    """

    name: str = ""
    default_params: Mapping[str, Any] = {}
    pairwise: bool = True
    uses_torch: bool = False

    def __init__(self, **params: Any) -> None:
        self.params = resolve_flow_params(self.name, params)

    def describe(self) -> dict[str, Any]:
        """Return the backend name, its resolved parameters, library versions and weights file."""
        return {
            "name": self.name,
            "params": dict(self.params),
            "library_versions": self._library_versions(),
            "weights": None,
        }

    def compute(self, prev_rgb: np.ndarray, next_rgb: np.ndarray) -> np.ndarray:
        """Compute the flow from `prev_rgb` to `next_rgb` (RGB uint8 HxWx3) as float32 HxWx2."""
        raise NotImplementedError

    def _library_versions(self) -> dict[str, str]:
        return {"opencv": cv2.__version__, "numpy": np.__version__}

    def _log_choice(self, weights: str | None = None) -> None:
        logger.info("flow backend %s: params %s, weights %s", self.name, dict(self.params), weights or "none")


def resolve_flow_params(backend_name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Merge `params` over the backend's defaults, raising ValueError on an unknown parameter name."""
    backend_class = FLOW_BACKENDS.get(backend_name)
    unknown = sorted(set(params) - set(backend_class.default_params))
    if unknown:
        valid = ", ".join(sorted(backend_class.default_params)) or "(none)"
        raise ValueError(f"flow backend {backend_class.name!r} has no parameter {', '.join(unknown)}; valid: {valid}")
    return {**backend_class.default_params, **params}


def build_flow_backend(
    name: str = DEFAULT_FLOW_BACKEND,
    params: Mapping[str, Any] | None = None,
    flow_dir: str | Path | None = None,
) -> FlowBackend:
    """Build the backend registered under `name`. Only `precomputed` takes `flow_dir`."""
    backend_class = FLOW_BACKENDS.get(name)
    params = dict(params or {})
    if backend_class is PrecomputedFlow:
        return PrecomputedFlow(flow_dir=flow_dir, **params)
    if flow_dir is not None:
        raise ValueError(f"a precomputed flow folder was given, but the flow backend is {backend_class.name!r}")
    return backend_class(**params)


def resize_flow(field: np.ndarray, size: int) -> np.ndarray:
    """Resize a flow field to size x size and rescale it to pixels of the new grid.

    u is multiplied by size / width and v by size / height of the input
    field. Area interpolation is used when both sides shrink, bilinear
    otherwise. Returns float32.
    """
    height, width = field.shape[:2]
    field = np.asarray(field, dtype=np.float32)
    if (height, width) != (size, size):
        shrinking = size <= height and size <= width
        interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        field = cv2.resize(field, (size, size), interpolation=interpolation)

    scaled = np.empty_like(field)
    scaled[..., 0] = field[..., 0] * (size / width)
    scaled[..., 1] = field[..., 1] * (size / height)
    return scaled


def _to_gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


@FLOW_BACKENDS.register("dis")
class DisFlow(FlowBackend):
    """Dense Inverse Search flow (OpenCV's DISOpticalFlow) on grayscale frames."""

    name = "dis"
    default_params = {"preset": "medium"}
    _presets = {
        "ultrafast": cv2.DISOpticalFlow_PRESET_ULTRAFAST,
        "fast": cv2.DISOpticalFlow_PRESET_FAST,
        "medium": cv2.DISOpticalFlow_PRESET_MEDIUM,
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        preset = self.params["preset"]
        if preset not in self._presets:
            raise ValueError(f"DIS preset must be one of {', '.join(self._presets)}, got {preset!r}")
        self._dis = cv2.DISOpticalFlow_create(self._presets[preset])
        self._log_choice()

    def compute(self, prev_rgb: np.ndarray, next_rgb: np.ndarray) -> np.ndarray:
        flow = self._dis.calc(_to_gray(prev_rgb), _to_gray(next_rgb), None)
        return flow.astype(np.float32, copy=False)


@FLOW_BACKENDS.register("farneback")
class FarnebackFlow(FlowBackend):
    """Gunnar Farneback's polynomial-expansion flow (cv2.calcOpticalFlowFarneback) on grayscale frames.

    The defaults are the values of OpenCV's optical flow tutorial: a
    3-level pyramid at scale 0.5, 15x15 averaging window, 3 iterations,
    5-pixel polynomial neighbourhood with sigma 1.2.
    """

    name = "farneback"
    default_params = {
        "pyr_scale": 0.5,
        "levels": 3,
        "winsize": 15,
        "iterations": 3,
        "poly_n": 5,
        "poly_sigma": 1.2,
        "flags": 0,
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._log_choice()

    def compute(self, prev_rgb: np.ndarray, next_rgb: np.ndarray) -> np.ndarray:
        p = self.params
        flow = cv2.calcOpticalFlowFarneback(
            _to_gray(prev_rgb),
            _to_gray(next_rgb),
            None,
            p["pyr_scale"],
            p["levels"],
            p["winsize"],
            p["iterations"],
            p["poly_n"],
            p["poly_sigma"],
            p["flags"],
        )
        return flow.astype(np.float32, copy=False)


# torchvision's RAFT rejects inputs under 128 pixels a side, because its correlation pyramid
# halves the 1/8-resolution feature maps three times.
_RAFT_MIN_SIDE = 128


class _RaftFlow(FlowBackend):
    """RAFT from torchvision.models.optical_flow, loaded only from a weights file already on disk.

    Nothing is ever downloaded. The weights are looked up at the `weights`
    parameter when set, else in torch.hub.get_dir()/checkpoints under the
    file name of torchvision's published checkpoint. Frames are scaled to
    [-1, 1] as torchvision's optical flow transforms do. They are padded by
    edge replication to a multiple of 8 pixels and to at least 128 pixels a
    side, which RAFT requires, and the flow is cropped back.
    """

    default_params = {"weights": None, "num_flow_updates": 12, "device": "auto"}
    uses_torch = True
    _weights_enum: str = ""
    _weights_member: str = ""
    _builder: str = ""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.weights_path = self._find_weights()
        self._weights_sha256: str | None = None
        self._model = None
        self._device = None
        self._log_choice(str(self.weights_path))

    def _published_url(self) -> str:
        from torchvision.models import optical_flow

        return getattr(getattr(optical_flow, self._weights_enum), self._weights_member).url

    def _find_weights(self) -> Path:
        if self.params["weights"] is not None:
            path = Path(self.params["weights"]).expanduser()
            if not path.is_file():
                raise FileNotFoundError(
                    f"{self.name} weights file {path} (flow parameter 'weights') not found; nothing is "
                    "downloaded, so copy the checkpoint there or fix the path"
                )
            return path

        import torch

        url = self._published_url()
        path = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
        if not path.is_file():
            raise FileNotFoundError(
                f"{self.name} weights not found at {path}; nothing is downloaded. Fetch {url} on a "
                "machine with network access and copy it to that path, or set the flow parameter "
                "'weights' to the checkpoint file"
            )
        return path

    def describe(self) -> dict[str, Any]:
        if self._weights_sha256 is None:
            self._weights_sha256 = sha256_file(self.weights_path)
        description = super().describe()
        description["weights"] = {"path": str(self.weights_path), "sha256": self._weights_sha256}
        return description

    def _library_versions(self) -> dict[str, str]:
        import torch
        import torchvision

        return {**super()._library_versions(), "torch": torch.__version__, "torchvision": torchvision.__version__}

    def _load_model(self):
        import torch
        from torchvision.models import optical_flow

        device = self.params["device"]
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self._device = torch.device(device)

        model = getattr(optical_flow, self._builder)(weights=None, progress=False)
        state = torch.load(self.weights_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        self._model = model.eval().to(self._device)
        logger.info("loaded %s weights %s on %s", self.name, self.weights_path, self._device)

    def _to_tensor(self, rgb: np.ndarray):
        import torch

        image = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float()
        return (image / 127.5 - 1.0).unsqueeze(0).to(self._device)

    def compute(self, prev_rgb: np.ndarray, next_rgb: np.ndarray) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        if self._model is None:
            self._load_model()

        height, width = prev_rgb.shape[:2]
        padded_height = max(_RAFT_MIN_SIDE, height + (-height) % 8)
        padded_width = max(_RAFT_MIN_SIDE, width + (-width) % 8)
        pad = (0, padded_width - width, 0, padded_height - height)
        image1 = F.pad(self._to_tensor(prev_rgb), pad, mode="replicate")
        image2 = F.pad(self._to_tensor(next_rgb), pad, mode="replicate")

        # NOTE: one frame pair per call; batching pairs would be faster on a GPU.
        with torch.inference_mode():
            predictions = self._model(image1, image2, num_flow_updates=self.params["num_flow_updates"])
        flow = predictions[-1][0, :, :height, :width].permute(1, 2, 0)
        return flow.cpu().numpy().astype(np.float32)


@FLOW_BACKENDS.register("raft-small")
class RaftSmallFlow(_RaftFlow):
    name = "raft-small"
    _weights_enum = "Raft_Small_Weights"
    _weights_member = "C_T_V2"
    _builder = "raft_small"


@FLOW_BACKENDS.register("raft-large")
class RaftLargeFlow(_RaftFlow):
    name = "raft-large"
    _weights_enum = "Raft_Large_Weights"
    _weights_member = "C_T_SKHT_V2"
    _builder = "raft_large"


@FLOW_BACKENDS.register("precomputed")
class PrecomputedFlow(FlowBackend):
    """Flow computed elsewhere (for example with UniMatch), read from one .npy file per video.

    The file for a video is `<flow_dir>/<split>/<video name>.npy` when it
    exists, else `<flow_dir>/<video name>.npy` (use the split folders when
    train and test videos share names). It contains a float array of shape
    [N, H, W, 2] for a video of N decoded frames, in (u, v) pixels of its own
    HxW grid, which may differ from the frame size. Entry t, for t >= 1, is
    the flow from frame t-1 to frame t. Entry 0 must be present, but its
    values are ignored because the cache sets the first frame's flow by its
    own first-frame rule.
    """

    name = "precomputed"
    default_params: Mapping[str, Any] = {}
    pairwise = False

    def __init__(self, flow_dir: str | Path | None = None, **params: Any) -> None:
        super().__init__(**params)
        if flow_dir is None:
            raise ValueError("flow backend 'precomputed' needs the folder of flow files (precomputed_flow_dir)")
        self.flow_dir = Path(flow_dir).expanduser()
        if not self.flow_dir.is_dir():
            raise DatasetNotFoundError(f"precomputed flow folder {self.flow_dir} not found")
        logger.info("flow backend precomputed: reading flow files from %s", self.flow_dir)

    def describe(self) -> dict[str, Any]:
        description = super().describe()
        description["flow_dir"] = str(self.flow_dir)
        return description

    def compute(self, prev_rgb: np.ndarray, next_rgb: np.ndarray) -> np.ndarray:
        raise TypeError("the precomputed flow backend reads flow files with read_fields() and computes no flow")

    def flow_file(self, video: Video) -> Path:
        """Return the flow file of `video`, raising DataError when neither candidate path exists."""
        candidates = [self.flow_dir / video.split / f"{video.name}.npy", self.flow_dir / f"{video.name}.npy"]
        for path in candidates:
            if path.is_file():
                return path
        raise DataError(
            f"video {video.name!r}: no precomputed flow file; expected {candidates[0]} or {candidates[1]}"
        )

    def open_array(self, video: Video, num_frames: int) -> np.ndarray:
        """Open the flow file of `video` memory-mapped and check it against the convention.

        Raises DataError naming the file when it is not a float array of shape
        [num_frames, H, W, 2].
        """
        path = self.flow_file(video)
        try:
            flows = np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError as error:
            raise DataError(f"precomputed flow file {path} is not a readable .npy array: {error}") from error

        if flows.ndim != 4 or flows.shape[-1] != 2:
            raise DataError(f"precomputed flow file {path} has shape {flows.shape}; expected [N, H, W, 2]")
        if not np.issubdtype(flows.dtype, np.floating):
            raise DataError(f"precomputed flow file {path} has dtype {flows.dtype}; expected a float dtype")
        if len(flows) != num_frames:
            hint = ""
            if len(flows) == num_frames - 1:
                hint = (
                    "; if entry i is the flow from frame i to i+1, prepend one zero field "
                    "so that entry t is the flow from frame t-1 to frame t"
                )
            raise DataError(
                f"precomputed flow file {path} has {len(flows)} entries but video {video.name!r} "
                f"has {num_frames} frames; expected one entry per frame{hint}"
            )
        return flows

    def read_fields(self, video: Video, num_frames: int) -> Iterator[np.ndarray]:
        """Yield the float32 flow fields of entries 1 .. num_frames - 1, one at a time.

        Raises DataError as `open_array` does, and when an entry contains NaN
        or infinite values.
        """
        flows = self.open_array(video, num_frames)
        for t in range(1, num_frames):
            field = np.asarray(flows[t], dtype=np.float32)
            if not np.isfinite(field).all():
                raise DataError(f"precomputed flow file {self.flow_file(video)}: entry {t} contains NaN or infinite values")
            yield field


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    """Return the hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()
