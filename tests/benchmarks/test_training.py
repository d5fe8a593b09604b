"""Training throughput of `ours` against the reference pipeline of Kang and Kang (2025).

The reference path is a straightforward eager float32 implementation, fed
the way the code of Kang and Kang feeds it. It stores one torch.save file
per 6-frame window holding a float32 tensor [12, 128, 128, 3] (6 RGB frames,
then 6 colour-coded flow frames) and reads it with a Dataset that
torch.loads each file. It trains with the default (not fused)
torch.optim.Adam and torch's default thread count. Our path reads
windows as index views of the per-frame cache, uses the method's own fused
Adam and one intra-op thread. Both paths train the same model with the same
losses on the same batches, and the paths alternate inside one run so that
the load of a shared machine hits both alike.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from bench.profiles import PROFILES
from bench.runner import RunOptions, build_method
from datasets.windows import WindowDataset
from methods.base import Method
from tests.benchmarks.conftest import load_average, machine_state, torch_threads

BATCH_SIZE = 4
TRAIN_VIDEOS = 2
EQUALITY_STEPS = 3
TIMED_STEPS = 3
ROUNDS = 4
SEED = 0
# Intra-op threads of our path: on a shared 2-core machine, 1 thread ran a step 2.5x faster than 2.
OUR_THREADS = 1
# Relative tolerance of the loss comparison. Fused and default Adam, and different thread counts,
# round differently, so the losses of the two paths agree only to floating-point rounding.
LOSS_RTOL = 1e-4


class PaperWindowFiles(torch.utils.data.Dataset):
    """Windows stored one per file as float32 [2T, S, S, 3]: T RGB frames, then T flow frames."""

    def __init__(self, paths: list[Path], window_length: int = 6) -> None:
        self.paths = paths
        self.window_length = window_length

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        window = torch.load(self.paths[index]).permute(0, 3, 1, 2)
        return {"rgb": window[: self.window_length].contiguous(), "flow": window[self.window_length :].contiguous()}


def write_paper_windows(windows: WindowDataset, indices: list[int], folder: Path) -> list[Path]:
    """Save each window of `indices` as the paper's [12, S, S, 3] float32 tensor; return the paths in order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for position, index in enumerate(indices):
        item = windows[index]
        window = torch.cat([item["rgb"], item["flow"]]).permute(0, 2, 3, 1).contiguous()
        path = folder / f"window_{position:05d}.pt"
        torch.save(window, path)
        paths.append(path)
    return paths


def build_ours(flow_channels: int) -> Method:
    torch.manual_seed(SEED)
    return build_method(RunOptions(method="ours", dataset="ped2"), flow_channels=flow_channels,
                        profile=PROFILES.get("cpu"))


def attach_default_adam(method: Method) -> None:
    """Give the method torch's default Adam, which on CPU updates each parameter in a Python loop."""
    config = method.config
    method.attach_optimizers({
        "generator": torch.optim.Adam(method.generator.parameters(), lr=config.learning_rate, betas=config.betas),
        "discriminator": torch.optim.Adam(method.discriminator.parameters(), lr=config.learning_rate,
                                          betas=config.betas),
    })


def train_block(method: Method, loader: DataLoader, threads: int) -> tuple[float, list[dict[str, float]]]:
    """Train on every batch of `loader`; return the wall seconds, data loading included, and the logged losses."""
    with torch_threads(threads):
        started = time.perf_counter()
        logged = [method.training_step(batch) for batch in loader]
        return time.perf_counter() - started, logged


def loading_seconds(loader: DataLoader) -> float:
    started = time.perf_counter()
    for _ in loader:
        pass
    return time.perf_counter() - started


@pytest.fixture(scope="module")
def train_windows(ped2_prepared) -> WindowDataset:
    return WindowDataset(ped2_prepared.train[:TRAIN_VIDEOS], window_length=6, stride=1, flow_encoding="color")


def test_training_throughput_against_paper_pipeline(benchmark, train_windows, tmp_path):
    generator = np.random.default_rng(SEED)
    equality_indices = generator.choice(len(train_windows), EQUALITY_STEPS * BATCH_SIZE, replace=False).tolist()
    timed_indices = generator.choice(len(train_windows), TIMED_STEPS * BATCH_SIZE, replace=False).tolist()

    paper_equality = PaperWindowFiles(write_paper_windows(train_windows, equality_indices, tmp_path / "equality"))
    paper_timed = PaperWindowFiles(write_paper_windows(train_windows, timed_indices, tmp_path / "timed"))

    def our_loader(indices: list[int]) -> DataLoader:
        return DataLoader(train_windows, batch_size=BATCH_SIZE, sampler=indices)

    def paper_loader(files: PaperWindowFiles) -> DataLoader:
        return DataLoader(files, batch_size=BATCH_SIZE, shuffle=False)

    # Same seed, same weights, same batches.
    reference = build_ours(train_windows.num_flow_channels)
    attach_default_adam(reference)
    ours = build_ours(train_windows.num_flow_channels)
    ours.attach_optimizers(ours.configure_optimizers())
    for name, value in reference.state_dict().items():
        assert torch.equal(value, ours.state_dict()[name]), name
    for paper_batch, our_batch in zip(paper_loader(paper_equality), our_loader(equality_indices), strict=True):
        assert torch.equal(paper_batch["rgb"], our_batch["rgb"])
        assert torch.equal(paper_batch["flow"], our_batch["flow"])

    _, reference_losses = train_block(reference, paper_loader(paper_equality), torch.get_num_threads())
    _, our_losses = train_block(ours, our_loader(equality_indices), OUR_THREADS)
    for step, (expected, actual) in enumerate(zip(reference_losses, our_losses, strict=True)):
        for term in expected:
            assert actual[term] == pytest.approx(expected[term], rel=LOSS_RTOL), f"step {step} {term}"

    # Timed rounds: each round trains the reference (default threads, then one thread), then ours.
    default_threads = torch.get_num_threads()
    reference_seconds: dict[str, list[float]] = {"default_threads": [], "one_thread": []}

    def train_reference_round():
        reference_seconds["default_threads"].append(
            train_block(reference, paper_loader(paper_timed), default_threads)[0])
        reference_seconds["one_thread"].append(train_block(reference, paper_loader(paper_timed), 1)[0])

    def train_our_round():
        train_block(ours, our_loader(timed_indices), OUR_THREADS)

    load_before = load_average()
    benchmark.pedantic(train_our_round, setup=train_reference_round, rounds=ROUNDS, iterations=1)
    our_seconds = benchmark.stats.stats.median

    samples = TIMED_STEPS * BATCH_SIZE
    reference_median = statistics.median(reference_seconds["default_threads"])
    reference_one_thread_median = statistics.median(reference_seconds["one_thread"])
    with torch_threads(OUR_THREADS):
        our_loading = loading_seconds(our_loader(timed_indices)) / TIMED_STEPS
        paper_loading = loading_seconds(paper_loader(paper_timed)) / TIMED_STEPS
    figures = {
        **machine_state(),
        "load_average_before": load_before,
        "default_threads": default_threads,
        "our_threads": OUR_THREADS,
        "our_samples_per_second": samples / our_seconds,
        "reference_samples_per_second": samples / reference_median,
        "reference_one_thread_samples_per_second": samples / reference_one_thread_median,
        "speedup": reference_median / our_seconds,
        "speedup_over_reference_one_thread": reference_one_thread_median / our_seconds,
        "reference_round_seconds": reference_seconds,
        "our_loading_seconds_per_batch": our_loading,
        "paper_loading_seconds_per_batch": paper_loading,
    }
    benchmark.extra_info.update(figures)
    print(figures)


def test_training_step_profile(benchmark, train_windows):
    """Profile two training steps of our path with torch.profiler and time the discriminator passes.

    The discriminator's second pass over the real clip (in the discriminator
    update) repeats the outputs of its first pass (in the generator update).
    But each train-mode pass also updates the batch-norm running statistics
    that scoring uses, so removing it would change the scores. Its cost is
    timed here to show what it would save.
    """
    from torch.profiler import ProfilerActivity, profile

    method = build_ours(train_windows.num_flow_channels)
    method.attach_optimizers(method.configure_optimizers())
    batch = next(iter(DataLoader(train_windows, batch_size=BATCH_SIZE, shuffle=False)))

    def profiled_steps():
        with torch_threads(OUR_THREADS), profile(activities=[ProfilerActivity.CPU]) as profiler:
            for _ in range(2):
                method.training_step(batch)
        return profiler

    def real_pass_seconds() -> float:
        with torch_threads(OUR_THREADS):
            method.train()
            started = time.perf_counter()
            output, _ = method.discriminator(batch["rgb"])
            output.pow(2).mean().backward()
            method.discriminator.zero_grad(set_to_none=True)
            return time.perf_counter() - started

    with torch_threads(OUR_THREADS):
        method.training_step(batch)
    load_before = load_average()
    profiler = benchmark.pedantic(profiled_steps, rounds=1, iterations=1)
    step_seconds = benchmark.stats.stats.median / 2
    real_pass = statistics.median(real_pass_seconds() for _ in range(3))
    table = profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=15)
    figures = {**machine_state(), "load_average_before": load_before, "threads": OUR_THREADS,
               "profiled_step_seconds": step_seconds, "discriminator_real_pass_seconds": real_pass,
               "discriminator_real_pass_share": real_pass / step_seconds}
    benchmark.extra_info.update(figures)
    print(table)
    print(figures)
