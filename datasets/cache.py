"""Per-video cache of resized RGB frames and optical flow, built once and memory-mapped.

Each video gets a folder `cache_root/<dataset>/<config key>/<split>/<video>/`
holding `rgb.npy` (uint8 [N, S, S, 3]), `flow.npy` (float16 [N, S, S, 2],
(u, v) in pixels of the SxS grid, flow[t] = flow from frame t-1 to frame t)
and `meta.json`. docs/preprocessing.md gives every convention and its
alternative.

Each entry is built under an inter-process lock (`fcntl.flock` on
`<video>/.lock`), so several processes may prepare one cache root at once:
one builds an entry while the others wait, then reuse it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import datetime
import errno
import hashlib
import json
import logging
import mmap
import multiprocessing
import os
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

try:
    import fcntl
except ImportError:  # Windows has no fcntl.
    fcntl = None

from datasets.base import DataError, Dataset, Video
from datasets.decode import estimate_frame_count, iter_frames, resize_max_side, resize_square
from datasets.flow import (
    DEFAULT_FLOW_BACKEND,
    FLOW_BACKENDS,
    FlowBackend,
    PrecomputedFlow,
    build_flow_backend,
    resize_flow,
    resolve_flow_params,
    sha256_file,
)

logger = logging.getLogger(__name__)

# Bump when the layout or the content of cache entries changes, so old entries get a new key.
CACHE_FORMAT_VERSION = 1

FIRST_FLOW_RULES = ("zero", "repeat")
FINGERPRINT_SAMPLE_BYTES = 64 * 1024
META_FILE = "meta.json"
RGB_FILE = "rgb.npy"
FLOW_FILE = "flow.npy"
TEMP_MARKER = ".tmp-"
LOCK_FILE = ".lock"

# Rows allocated for a video file whose header reports no frame count.
_DEFAULT_CAPACITY = 256
# Rows copied at a time when a memory-mapped temp file is resized.
_COPY_CHUNK_ROWS = 256
# Files named in one warning about videos shorter than their headers report.
_MAX_LISTED_FILES = 20


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class CacheConfig:
    """Everything that changes the content of a cache entry; `key()` names the entry folder.

    `flow_params` accepts a mapping or (name, value) pairs and is stored as
    sorted pairs. Values must be str, int, float, bool or None (a Path is
    stored as str). `flow_max_side=None` computes flow at native resolution
    for every video. The precomputed backend ignores `flow_max_side`.
    """

    size: int = 128
    flow_backend: str = DEFAULT_FLOW_BACKEND
    flow_params: tuple[tuple[str, Any], ...] | Mapping[str, Any] = ()
    flow_max_side: int | None = 480
    first_flow: str = "zero"

    def __post_init__(self) -> None:
        items = self.flow_params.items() if isinstance(self.flow_params, Mapping) else self.flow_params
        normalized = tuple(sorted((str(name), _json_scalar(name, value)) for name, value in items))
        object.__setattr__(self, "flow_params", normalized)

        if not isinstance(self.size, int) or self.size < 1:
            raise ValueError(f"cache size must be a positive int, got {self.size!r}")
        if self.flow_max_side is not None and (not isinstance(self.flow_max_side, int) or self.flow_max_side < 8):
            raise ValueError(f"flow_max_side must be None or an int of at least 8 pixels, got {self.flow_max_side!r}")
        if self.first_flow not in FIRST_FLOW_RULES:
            raise ValueError(f"first_flow must be one of {', '.join(FIRST_FLOW_RULES)}, got {self.first_flow!r}")
        resolve_flow_params(self.flow_backend, dict(normalized))

    @property
    def backend_name(self) -> str:
        """Canonical registry name of the flow backend."""
        return FLOW_BACKENDS.get(self.flow_backend).name

    def resolved_flow_params(self) -> dict[str, Any]:
        """Return the backend's default parameters overridden by `flow_params`."""
        return resolve_flow_params(self.flow_backend, dict(self.flow_params))

    def key(self) -> str:
        """Return a 16-hex-digit hash of the cache format version and every field, with defaults resolved."""
        payload = {
            "format_version": CACHE_FORMAT_VERSION,
            "size": self.size,
            "flow_backend": self.backend_name,
            "flow_params": self.resolved_flow_params(),
            "flow_max_side": self.flow_max_side,
            "first_flow": self.first_flow,
        }
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def flow_resolution_rule(self) -> str:
        """Describe in words at which resolution flow is computed."""
        if self.backend_name == PrecomputedFlow.name:
            return "resolution of the precomputed flow files"
        if self.flow_max_side is None:
            return "native frame resolution"
        return (
            f"native frame resolution, except that frames whose longer side exceeds {self.flow_max_side} px "
            f"are downscaled (aspect ratio kept) to a longer side of {self.flow_max_side} px"
        )


def _json_scalar(name: Any, value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"flow parameter {name!r} must be str, int, float, bool or None, got {type(value).__name__}")


# --------------------------------------------------------------------------- prepared data


@dataclass
class PreparedVideo:
    """One cached video: memory-mapped arrays plus its labels.

    `rgb` is uint8 [N, S, S, 3] and `flow` float16 [N, S, S, 2], both opened
    with mmap_mode="r". `labels` is the int8 per-frame vector of a test
    video with frame-level ground truth, else None.
    """

    name: str
    split: str
    num_frames: int
    rgb: np.ndarray
    flow: np.ndarray
    labels: np.ndarray | None
    clip_label: int | None
    entry_dir: Path
    meta: dict[str, Any]


@dataclass
class PreparedDataset:
    """A dataset whose videos are all in the cache, with the facts needed to reproduce them."""

    name: str
    ground_truth: str
    train: list[PreparedVideo]
    test: list[PreparedVideo]
    fingerprint: str
    cache_dir: Path
    config: CacheConfig
    flow_backend_description: dict[str, Any]

    @property
    def videos(self) -> list[PreparedVideo]:
        return [*self.train, *self.test]

    def provenance(self) -> dict[str, Any]:
        """Return the preprocessing facts to record with every result."""
        return {
            "dataset": self.name,
            "ground_truth": self.ground_truth,
            "size": self.config.size,
            "flow_backend": self.flow_backend_description,
            "flow_resolution_rule": self.config.flow_resolution_rule(),
            "flow_pairing": "flow[t] is the flow from frame t-1 to frame t, in pixels of the SxS grid",
            "first_flow": self.config.first_flow,
            "cache_key": self.config.key(),
            "fingerprint": self.fingerprint,
        }


# --------------------------------------------------------------------------- fingerprints


def fingerprint_file(path: Path, root: Path | None = None) -> list[Any]:
    """Return [path relative to root, size, mtime_ns, sha256 of a content sample] for one file.

    The sample is the first and the last 64 KiB, or the whole file when it is
    at most 128 KiB, so a changed file is found without reading large videos
    in full. Raises DataError when the file is missing.
    """
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise DataError(f"source file {path} not found") from None

    digest = hashlib.sha256()
    with open(path, "rb") as file:
        if stat.st_size <= 2 * FINGERPRINT_SAMPLE_BYTES:
            digest.update(file.read())
        else:
            digest.update(file.read(FINGERPRINT_SAMPLE_BYTES))
            file.seek(-FINGERPRINT_SAMPLE_BYTES, os.SEEK_END)
            digest.update(file.read(FINGERPRINT_SAMPLE_BYTES))

    absolute = Path(os.path.abspath(path))
    name = absolute.as_posix()
    if root is not None and absolute.is_relative_to(os.path.abspath(root)):
        name = absolute.relative_to(os.path.abspath(root)).as_posix()
    return [name, stat.st_size, stat.st_mtime_ns, digest.hexdigest()]


def fingerprint_video(video: Video, root: Path, extra_files: tuple[Path, ...] = (), extra_root: Path | None = None) -> str:
    """Return the sha256 over the fingerprints of a video's source files, its frame range and `extra_files`.

    A video without a frame range keeps the fingerprint it had before ranges
    existed, so existing cache entries stay valid.
    """
    records = [fingerprint_file(Path(path), root) for path in video.source_files]
    if video.frame_range is not None:
        records.append(["frame_range", *(int(value) for value in video.frame_range)])
    records += [["extra", *fingerprint_file(Path(path), extra_root)] for path in extra_files]
    text = json.dumps(records, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def video_key(video: Video) -> str:
    """Return the entry folder of a video relative to the config folder: `<split>/<name>`.

    Characters outside [A-Za-z0-9._-] are replaced by "_", and a hash of the
    original name is appended in that case so distinct names stay distinct.
    """
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", video.name)
    if safe != video.name or safe in ("", ".", ".."):
        safe = f"{safe}-{hashlib.sha256(video.name.encode()).hexdigest()[:8]}"
    return f"{video.split}/{safe}"


# --------------------------------------------------------------------------- atomic files


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    # Directories cannot be opened for fsync on Windows; there os.replace is the only guarantee.
    if os.name == "posix":
        _fsync_path(path)


def _temp_path(final_path: Path) -> Path:
    return final_path.with_name(f"{final_path.name}{TEMP_MARKER}{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    temp = _temp_path(path)
    try:
        with open(temp, "w", encoding="utf-8") as file:
            json.dump(data, file, indent=2, sort_keys=True)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


# Rows written between two releases of the mapping's pages (about 28 MB of float16 flow at 128x128).
_RELEASE_EVERY_ROWS = 256


class _NpyRowWriter:
    """Append rows to a memory-mapped .npy temp file, then move it into place atomically.

    Memory stays at one row whatever the video length. The file starts with
    `capacity` rows. When more rows arrive it is copied into a file of twice
    the capacity, and `commit` copies it into an exact-size file when fewer
    rows arrived, so a wrong frame count in a video header costs a copy.
    """

    def __init__(self, final_path: Path, row_shape: tuple[int, ...], dtype: np.dtype, capacity: int) -> None:
        self.final_path = final_path
        self.row_shape = row_shape
        self.dtype = np.dtype(dtype)
        self.count = 0
        self._temp_path: Path | None = None
        self._array: np.memmap | None = None
        self._allocate(max(capacity, 1))

    def _allocate(self, capacity: int) -> None:
        new_path = _temp_path(self.final_path)
        new_array = np.lib.format.open_memmap(new_path, mode="w+", dtype=self.dtype, shape=(capacity, *self.row_shape))
        if self._array is not None:
            for start in range(0, self.count, _COPY_CHUNK_ROWS):
                stop = min(start + _COPY_CHUNK_ROWS, self.count)
                new_array[start:stop] = self._array[start:stop]
            self.discard()
        self._array, self._temp_path = new_array, new_path

    def append(self, row: np.ndarray) -> None:
        if self.count == len(self._array):
            self._allocate(2 * len(self._array))
        self._array[self.count] = row
        self.count += 1
        if self.count % _RELEASE_EVERY_ROWS == 0:
            self._release_pages()

    def _release_pages(self) -> None:
        """Write dirty pages to the file and drop them from this process's resident memory.

        Without this, every written page of the mapping counts as resident until
        `commit`, so peak memory grew with the video's length.
        """
        self._array.flush()
        mapping = getattr(self._array, "_mmap", None)
        if mapping is not None and hasattr(mmap, "MADV_DONTNEED"):
            mapping.madvise(mmap.MADV_DONTNEED)

    def set_row(self, index: int, row: np.ndarray) -> None:
        self._array[index] = row

    def row(self, index: int) -> np.ndarray:
        return np.array(self._array[index])

    def commit(self) -> None:
        """Flush, fsync and rename the temp file to `final_path`."""
        if self.count != len(self._array):
            self._allocate(self.count)
        self._array.flush()
        self._array = None
        _fsync_path(self._temp_path)
        os.replace(self._temp_path, self.final_path)
        self._temp_path = None
        _fsync_dir(self.final_path.parent)

    def discard(self) -> None:
        """Delete the temp file, if any (no-op after `commit`)."""
        self._array = None
        if self._temp_path is not None:
            self._temp_path.unlink(missing_ok=True)
            self._temp_path = None


# --------------------------------------------------------------------------- locking an entry


def _same_file(fd: int, path: Path) -> bool:
    try:
        linked = path.stat()
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (linked.st_dev, linked.st_ino) == (opened.st_dev, opened.st_ino)


@contextlib.contextmanager
def _entry_lock(entry_dir: Path, read_only_ok: bool = False) -> Iterator[None]:
    """Hold an exclusive inter-process lock on one cache entry: `fcntl.flock` on `entry_dir/.lock`.

    The holder deletes the lock file just before it releases the lock, so a
    finished entry contains only its data files. Creates `entry_dir`. With
    `read_only_ok`, a lock file that cannot be created for lack of write
    permission (a read-only cache) logs a warning and the body runs unlocked.
    """
    entry_dir.mkdir(parents=True, exist_ok=True)
    lock_path = entry_dir / LOCK_FILE
    # NOTE: without fcntl (Windows) entries are not locked, so two processes must not prepare one cache at once.
    fd = _acquire_lock_file(lock_path, read_only_ok) if fcntl is not None else None
    try:
        yield
    finally:
        if fd is not None:
            lock_path.unlink(missing_ok=True)
            os.close(fd)


def _acquire_lock_file(lock_path: Path, read_only_ok: bool) -> int | None:
    """Return a descriptor of `lock_path` holding LOCK_EX, or None when `read_only_ok` and it cannot be created."""
    while True:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as error:
            if not read_only_ok or error.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise
            logger.warning("using %s without a lock, because the lock file cannot be created (%s)",
                           lock_path.parent, error)
            return None

        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                logger.info("waiting for cache entry %s, which another process is checking or building",
                            lock_path.parent)
                fcntl.flock(fd, fcntl.LOCK_EX)
            # The previous holder may have deleted the file while this process waited on it. A lock
            # on a deleted file does not exclude other processes, so lock the file now at that path.
            if _same_file(fd, lock_path):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def _open_entry_locked(
    entry_dir: Path, config_key: str, fingerprint: str, verify_checksums: bool
) -> tuple[dict[str, Any], np.ndarray, np.ndarray] | None:
    """Check an entry as `_open_valid_entry` does, under its lock, so that no build runs meanwhile.

    A missing entry folder is reported without creating it, and a read-only
    cache is checked without a lock.
    """
    if not entry_dir.is_dir():
        return _open_valid_entry(entry_dir, config_key, fingerprint, verify_checksums)
    with _entry_lock(entry_dir, read_only_ok=True):
        return _open_valid_entry(entry_dir, config_key, fingerprint, verify_checksums)


# --------------------------------------------------------------------------- building one entry


@dataclass(frozen=True)
class _BuildJob:
    """Inputs for building one cache entry. Jobs are pickled for workers, so the video has no label function."""

    video: Video
    entry_dir: Path
    config: CacheConfig
    fingerprint: str
    precomputed_flow_dir: Path | None
    verify_checksums: bool = False


def _remove_temp_files(entry_dir: Path) -> None:
    # Runs under the entry lock, so temp files found here were left by a process that died mid-build.
    for path in entry_dir.glob(f"*{TEMP_MARKER}*"):
        logger.info("removing leftover temp file %s", path)
        path.unlink(missing_ok=True)


def _write_computed_flow(job: _BuildJob, backend: FlowBackend, rgb: _NpyRowWriter, flow: _NpyRowWriter) -> dict[str, Any]:
    size = job.config.size
    previous = None
    shapes: dict[str, Any] = {}

    for t, frame in enumerate(iter_frames(job.video)):
        rgb.append(resize_square(frame, size))
        flow_frame = resize_max_side(frame, job.config.flow_max_side)

        if previous is None:
            shapes = {"source_resolution": list(frame.shape[:2]), "flow_resolution": list(flow_frame.shape[:2])}
            flow.append(np.zeros((size, size, 2), dtype=np.float32))
        else:
            field = backend.compute(previous, flow_frame)
            if not np.isfinite(field).all():
                raise DataError(f"video {job.video.name!r}: flow backend {backend.name} returned NaN or infinite flow at frame {t}")
            flow.append(resize_flow(field, size))
        previous = flow_frame

    return shapes


def _write_precomputed_flow(job: _BuildJob, backend: PrecomputedFlow, rgb: _NpyRowWriter, flow: _NpyRowWriter) -> dict[str, Any]:
    size = job.config.size
    source_resolution = None
    for frame in iter_frames(job.video):
        rgb.append(resize_square(frame, size))
        source_resolution = list(frame.shape[:2])

    flows = backend.open_array(job.video, rgb.count)
    flow.append(np.zeros((size, size, 2), dtype=np.float32))
    for field in backend.read_fields(job.video, rgb.count):
        flow.append(resize_flow(field, size))

    return {"source_resolution": source_resolution, "flow_resolution": list(flows.shape[1:3])}


def _build_entry(job: _BuildJob, backend: FlowBackend) -> dict[str, Any]:
    """Build one entry under its lock, unless another process built it meanwhile. Returns the meta dict."""
    with _entry_lock(job.entry_dir):
        # The caller found the entry invalid and logged why, so this second check stays quiet.
        opened = _open_valid_entry(job.entry_dir, job.config.key(), job.fingerprint, job.verify_checksums, quiet=True)
        if opened is not None:
            logger.info("reusing %s, which another process built", job.entry_dir)
            return opened[0]
        logger.debug("building cache entry %s", job.entry_dir)
        return _write_entry(job, backend)


def _write_entry(job: _BuildJob, backend: FlowBackend) -> dict[str, Any]:
    """Decode one video, compute its flow and write its three files. Returns the meta dict."""
    entry_dir = job.entry_dir
    entry_dir.mkdir(parents=True, exist_ok=True)
    # Remove meta.json first: until the new one is written, the entry reads as invalid.
    (entry_dir / META_FILE).unlink(missing_ok=True)
    _remove_temp_files(entry_dir)

    size = job.config.size
    estimated_frames = estimate_frame_count(job.video)
    capacity = estimated_frames or _DEFAULT_CAPACITY
    rgb = _NpyRowWriter(entry_dir / RGB_FILE, (size, size, 3), np.uint8, capacity)
    flow = _NpyRowWriter(entry_dir / FLOW_FILE, (size, size, 2), np.float16, capacity)
    try:
        if backend.pairwise:
            shapes = _write_computed_flow(job, backend, rgb, flow)
        else:
            shapes = _write_precomputed_flow(job, backend, rgb, flow)

        if job.config.first_flow == "repeat" and flow.count >= 2:
            flow.set_row(0, flow.row(1))
        num_frames = rgb.count
        rgb.commit()
        flow.commit()
    finally:
        rgb.discard()
        flow.discard()

    arrays = {}
    for name, file_name, dtype, channels in (("rgb", RGB_FILE, "uint8", 3), ("flow", FLOW_FILE, "float16", 2)):
        path = entry_dir / file_name
        arrays[name] = {
            "file": file_name,
            "dtype": dtype,
            "shape": [num_frames, size, size, channels],
            "bytes": path.stat().st_size,
            "sha256": sha256_file(path),
        }

    meta = {
        "format_version": CACHE_FORMAT_VERSION,
        "video": job.video.name,
        "split": job.video.split,
        "num_frames": num_frames,
        # Frame count of the container header (None for image folders or when unknown), kept to report truncated files.
        "reported_frames": estimated_frames if job.video.video_path is not None and estimated_frames > 0 else None,
        **shapes,
        "size": size,
        "first_flow": job.config.first_flow,
        "config_key": job.config.key(),
        "fingerprint": job.fingerprint,
        "arrays": arrays,
        "flow_backend": backend.describe(),
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    _write_json_atomic(entry_dir / META_FILE, meta)
    return meta


# Backends built in this worker process, reused across its videos.
_worker_backends: dict[str, FlowBackend] = {}


def _init_worker(uses_torch: bool, log_level: int) -> None:
    # A spawned process starts with logging unconfigured, so its log lines would be lost.
    logging.basicConfig(level=log_level, format="%(processName)s %(name)s %(levelname)s: %(message)s")
    cv2.setNumThreads(1)
    if uses_torch:
        import torch

        torch.set_num_threads(1)


def _build_entry_in_worker(job: _BuildJob) -> dict[str, Any]:
    backend_id = json.dumps([job.config.key(), str(job.precomputed_flow_dir)])
    if backend_id not in _worker_backends:
        _worker_backends[backend_id] = build_flow_backend(
            job.config.flow_backend, dict(job.config.flow_params), job.precomputed_flow_dir
        )
    return _build_entry(job, _worker_backends[backend_id])


# --------------------------------------------------------------------------- checking an entry


def _open_valid_entry(
    entry_dir: Path, config_key: str, fingerprint: str, verify_checksums: bool, quiet: bool = False
) -> tuple[dict[str, Any], np.ndarray, np.ndarray] | None:
    """Return (meta, rgb, flow) when the entry is complete and current, else None after logging why.

    With `quiet`, the reason is logged at DEBUG level.
    """
    log_info = logger.debug if quiet else logger.info
    log_warning = logger.debug if quiet else logger.warning
    meta_path = entry_dir / META_FILE
    if not meta_path.is_file():
        log_info("building %s: no complete cache entry", entry_dir)
        return None

    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        arrays = meta["arrays"]
        stale = (
            meta["format_version"] != CACHE_FORMAT_VERSION
            or meta["config_key"] != config_key
            or meta["fingerprint"] != fingerprint
        )
    except (OSError, ValueError, KeyError, TypeError) as error:
        log_warning("rebuilding %s: %s is unreadable (%s)", entry_dir, META_FILE, error)
        return None
    if stale:
        log_info("rebuilding %s: the source files or the cache format changed", entry_dir)
        return None

    opened = []
    for name in ("rgb", "flow"):
        info = arrays.get(name, {})
        path = entry_dir / info.get("file", "")
        if not path.is_file():
            log_warning("rebuilding %s: %s is missing", entry_dir, path.name)
            return None
        actual_bytes = path.stat().st_size
        if actual_bytes != info.get("bytes"):
            log_warning("rebuilding %s: %s has %d bytes, expected %s", entry_dir, path.name, actual_bytes, info.get("bytes"))
            return None
        if verify_checksums and sha256_file(path) != info.get("sha256"):
            log_warning("rebuilding %s: the sha256 of %s does not match %s", entry_dir, path.name, META_FILE)
            return None
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError as error:
            log_warning("rebuilding %s: %s is not a valid .npy file (%s)", entry_dir, path.name, error)
            return None
        if list(array.shape) != info.get("shape") or str(array.dtype) != info.get("dtype"):
            log_warning("rebuilding %s: %s has shape %s %s, expected %s %s", entry_dir, path.name,
                        array.shape, array.dtype, info.get("shape"), info.get("dtype"))
            return None
        opened.append(array)

    return meta, opened[0], opened[1]


# --------------------------------------------------------------------------- preparing a dataset


def _run_jobs(jobs: list[_BuildJob], backend: FlowBackend, workers: int,
              progress: bool, dataset_name: str) -> None:
    bar = tqdm(total=len(jobs), unit="video", desc=f"preparing {dataset_name}", disable=not progress)
    try:
        if workers <= 1 or len(jobs) == 1:
            for job in jobs:
                _build_entry(job, backend)
                bar.update()
            return

        # spawn, not fork: a forked child inherits thread pools and CUDA state it cannot use safely.
        with concurrent.futures.ProcessPoolExecutor(
            max_workers=min(workers, len(jobs)),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(backend.uses_torch, logging.getLogger().getEffectiveLevel()),
        ) as executor:
            futures = [executor.submit(_build_entry_in_worker, job) for job in jobs]
            try:
                for future in concurrent.futures.as_completed(futures):
                    future.result()
                    bar.update()
            except BaseException:
                executor.shutdown(wait=True, cancel_futures=True)
                raise
    finally:
        bar.close()


def _frame_labels(video: Video, num_frames: int) -> np.ndarray | None:
    if video.frame_labels is None:
        return None
    labels = np.asarray(video.frame_labels(num_frames), dtype=np.int8)
    if labels.shape != (num_frames,):
        raise DataError(f"video {video.name!r}: ground truth gives {labels.shape} labels for {num_frames} decoded frames")
    return labels


def _warn_short_videos(dataset: Dataset, entries: dict[int, tuple[dict[str, Any], np.ndarray, np.ndarray]]) -> None:
    """Log one warning that counts and names the video files that decoded fewer frames than their headers report."""
    short = []
    for index, video in enumerate(dataset.videos):
        meta = entries[index][0]
        reported = meta.get("reported_frames")
        if reported and meta["num_frames"] < reported:
            short.append(f"{video.video_path} ({meta['num_frames']} of {reported} frames)")
    if not short:
        return
    listed = "; ".join(short[:_MAX_LISTED_FILES]) + ("; ..." if len(short) > _MAX_LISTED_FILES else "")
    logger.warning(
        "dataset %s: %d of %d videos decoded fewer frames than their file headers report, so they may be "
        "truncated or damaged: %s. Compare these files with the original dataset archive and restore the "
        "damaged ones; restored files are rebuilt automatically.",
        dataset.name, len(short), len(dataset.videos), listed,
    )


def prepare_dataset(
    dataset: Dataset,
    config: CacheConfig,
    cache_root: str | os.PathLike,
    workers: int = 2,
    progress: bool = True,
    precomputed_flow_dir: str | os.PathLike | None = None,
    *,
    verify_checksums: bool = True,
) -> PreparedDataset:
    """Build the missing or stale cache entries of `dataset` and return all videos memory-mapped.

    Entries are checked by their meta.json (config key, source fingerprint)
    and the size, shape and dtype of both arrays, plus their sha256 unless
    `verify_checksums` is False. Hashing reads the whole cache: it added
    0.6 s for UCSD Ped2's 523 MB (2-core virtual machine, warm page cache),
    so very large caches may turn it off. Valid entries are reused without decoding or
    flow work. The others are built in `workers` processes, or in this
    process when `workers` is 1 or less. Labels are not cached: test labels
    come from `video.frame_labels(num_frames)` at every call, so a ground
    truth change needs no rebuild.

    Workers are started with the "spawn" method, so a script that calls this
    function with workers > 1 needs the usual `if __name__ == "__main__":`
    guard.
    """
    if not dataset.videos:
        raise DataError(f"dataset {dataset.name!r} has no videos to prepare")

    backend_class = FLOW_BACKENDS.get(config.flow_backend)
    flow_dir = Path(precomputed_flow_dir).expanduser() if precomputed_flow_dir is not None else None
    if backend_class.pairwise and flow_dir is not None:
        raise ValueError(f"precomputed_flow_dir was given, but the flow backend is {backend_class.name!r}")

    # The precomputed backend is needed now to fingerprint its flow files. Other backends are
    # built only when an entry has to be built, so a valid cache needs no RAFT weights file.
    backend = None
    if not backend_class.pairwise:
        backend = build_flow_backend(config.flow_backend, dict(config.flow_params), flow_dir)

    cache_dir = Path(cache_root).expanduser() / dataset.name / config.key()
    config_key = config.key()

    entries: dict[int, tuple[dict[str, Any], np.ndarray, np.ndarray]] = {}
    jobs: dict[int, _BuildJob] = {}
    fingerprints = []
    for index, video in enumerate(dataset.videos):
        extra = (backend.flow_file(video),) if isinstance(backend, PrecomputedFlow) else ()
        fingerprint = fingerprint_video(video, dataset.root, extra, flow_dir)
        fingerprints.append([video.split, video.name, fingerprint])

        entry_dir = cache_dir / video_key(video)
        opened = _open_entry_locked(entry_dir, config_key, fingerprint, verify_checksums)
        if opened is not None:
            entries[index] = opened
        else:
            job_video = dataclasses.replace(video, frame_labels=None)
            jobs[index] = _BuildJob(job_video, entry_dir, config, fingerprint, flow_dir, verify_checksums)

    if jobs:
        logger.info("dataset %s: building %d of %d cache entries in %s", dataset.name, len(jobs), len(dataset.videos), cache_dir)
        if backend is None:
            # Built here even when workers build their own, to log the choice and to fail early.
            backend = build_flow_backend(config.flow_backend, dict(config.flow_params), flow_dir)
        _run_jobs(list(jobs.values()), backend, workers, progress, dataset.name)
        for index, job in jobs.items():
            opened = _open_entry_locked(job.entry_dir, config_key, job.fingerprint, verify_checksums=False)
            if opened is None:
                raise DataError(f"cache entry {job.entry_dir} is still invalid right after it was built")
            entries[index] = opened
    else:
        logger.info("dataset %s: all %d cache entries in %s are valid", dataset.name, len(dataset.videos), cache_dir)

    prepared = []
    for index, video in enumerate(dataset.videos):
        meta, rgb, flow = entries[index]
        num_frames = meta["num_frames"]
        prepared.append(PreparedVideo(
            name=video.name,
            split=video.split,
            num_frames=num_frames,
            rgb=rgb,
            flow=flow,
            labels=_frame_labels(video, num_frames) if video.split == "test" else None,
            clip_label=video.clip_label,
            entry_dir=cache_dir / video_key(video),
            meta=meta,
        ))

    _warn_short_videos(dataset, entries)
    descriptions = {json.dumps(entries[i][0]["flow_backend"], sort_keys=True) for i in entries}
    if len(descriptions) > 1:
        logger.warning("dataset %s: cache entries were built with %d different flow backend descriptions "
                       "(library versions?); provenance reports the first video's", dataset.name, len(descriptions))

    text = json.dumps({"config_key": config_key, "videos": fingerprints}, separators=(",", ":"))
    return PreparedDataset(
        name=dataset.name,
        ground_truth=dataset.ground_truth,
        train=[p for p in prepared if p.split == "train"],
        test=[p for p in prepared if p.split == "test"],
        fingerprint=hashlib.sha256(text.encode()).hexdigest(),
        cache_dir=cache_dir,
        config=config,
        flow_backend_description=prepared[0].meta["flow_backend"],
    )
