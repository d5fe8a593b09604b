"""The set of runs behind the committed leaderboards, and the check that CI applies to them."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

logger = logging.getLogger(__name__)

# Absolute difference allowed between a regenerated metric and the committed one. Runs are seeded and
# deterministic on CPU; the slack covers rounding differences between BLAS builds and thread counts.
TOLERANCE = 0.005


@dataclass(frozen=True)
class SuiteEntry:
    method: str
    dataset: str
    drop: tuple[str, ...] = ()
    use_flow: bool | None = None
    flow_backend: str = "dis"
    dataset_options: dict = field(default_factory=dict, hash=False)


PED2_METHODS = ("ours", "convlstm-ae", "memae", "ganomaly", "flow-magnitude", "frame-difference")
ABLATIONS = (
    SuiteEntry("ours", "ped2", drop=("perceptual",)),
    SuiteEntry("ours", "ped2", drop=("feature",)),
    SuiteEntry("ours", "ped2", drop=("temporal",)),
    SuiteEntry("ours", "ped2", drop=("adversarial",)),
    SuiteEntry("ours", "ped2", drop=("pixel",)),
    SuiteEntry("ours", "ped2", use_flow=False),
)


def leaderboard_suite(registered_methods: list[str], registered_datasets: list[str]) -> list[SuiteEntry]:
    """List every run the committed tables are built from, leaving out unregistered methods and datasets."""
    entries = [SuiteEntry(method, "ped2") for method in PED2_METHODS if method in registered_methods]
    if "surveillance-fight" in registered_datasets:
        # A seeded subset of 60 of the 300 clips keeps the CI run short; the table names the subset.
        entries.append(SuiteEntry("ours", "surveillance-fight", dataset_options={"max_clips": 60}))
    if "xd-subset" in registered_datasets:
        entries.append(SuiteEntry("ours", "xd-subset"))
    entries.extend(ABLATIONS)
    return entries


def options_for(entry: SuiteEntry, base) -> object:
    """RunOptions of a suite entry, taking paths, profile and seed from `base`."""
    return replace(base, method=entry.method, dataset=entry.dataset, drop=entry.drop, use_flow=entry.use_flow,
                   flow_backend=entry.flow_backend, dataset_options=dict(entry.dataset_options), run_id=None)


def compare_tables(committed_dir: Path, regenerated_dir: Path, tolerance: float = TOLERANCE) -> list[str]:
    """Return one message per regenerated number that differs from the committed one by more than `tolerance`."""
    problems = []
    for regenerated in sorted(Path(regenerated_dir).glob("*.csv")):
        committed = Path(committed_dir) / regenerated.name
        if not committed.exists():
            problems.append(f"{regenerated.name}: no committed table")
            continue
        new, old = pd.read_csv(regenerated), pd.read_csv(committed)
        keys = [column for column in ("source", "dataset", "method", "variant", "profile") if column in new.columns]
        new_rows = {tuple(row[k] for k in keys): row for _, row in new.iterrows()}
        old_rows = {tuple(row[k] for k in keys): row for _, row in old.iterrows()}
        for key in sorted(set(new_rows) | set(old_rows), key=str):
            if key not in old_rows:
                problems.append(f"{regenerated.name}: new row {key}")
                continue
            if key not in new_rows:
                problems.append(f"{regenerated.name}: row {key} is committed but was not regenerated")
                continue
            for column in new.columns:
                if column in keys or new[column].dtype.kind != "f":
                    continue
                a, b = new_rows[key][column], old_rows[key].get(column)
                if _both_missing(a, b):
                    continue
                if _missing(a) or _missing(b) or abs(float(a) - float(b)) > tolerance:
                    problems.append(f"{regenerated.name}: {key} {column}: committed {b}, regenerated {a}")
    return problems


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _both_missing(a, b) -> bool:
    return _missing(a) and _missing(b)
