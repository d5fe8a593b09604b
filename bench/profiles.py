"""Named training budgets. A number is always published with the profile that produced it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from bench.registry import Registry

PROFILES: Registry = Registry("profile")


@dataclass(frozen=True)
class Profile:
    """A training budget.

    An epoch is `steps_per_epoch` optimisation steps on windows drawn without
    replacement from the training set, or one full pass when it is None.
    `patience` stops training after that many epochs without a lower
    validation loss (None: never stop early).
    """

    name: str
    epochs: int
    steps_per_epoch: int | None
    batch_size: int = 4
    patience: int | None = None
    max_validation_batches: int | None = None
    paper_scale: bool = False
    description: str = ""
    # Per-method option overrides that make a model fit the budget (e.g. narrower layers); a run records
    # them, and options given on the command line take precedence.
    method_options: dict = field(default_factory=dict, hash=False)

    def budget(self) -> dict:
        return asdict(self)


def _add(profile: Profile) -> None:
    PROFILES.register(profile.name)(profile)


# Narrower layers for the baselines whose published widths cost several seconds per step on 2 CPU cores.
REDUCED_WIDTHS = {
    "convlstm-ae": {"encoder_channels": [32, 64, 128], "hidden_channels": 128},
    "memae": {"channels": [24, 32, 64, 64]},
}

_add(
    Profile(
        name="paper",
        epochs=400,
        steps_per_epoch=None,
        patience=20,
        paper_scale=True,
        description="Table 1 budget: 400 full epochs at batch 4, stopped early on validation loss",
    )
)
_add(
    Profile(
        name="cpu",
        method_options=REDUCED_WIDTHS,
        epochs=8,
        steps_per_epoch=150,
        max_validation_batches=60,
        description="1,200 steps at batch 4 (about two passes over Ped2's training windows); "
        "training plus scoring of Ped2 fits in 20 minutes on 2 CPU cores",
    )
)
_add(
    Profile(
        name="ci",
        method_options=REDUCED_WIDTHS,
        epochs=2,
        steps_per_epoch=25,
        max_validation_batches=10,
        description="50 steps at batch 4; sized so that CI regenerates every leaderboard and the ablation "
        "table, plus the test suite, within 60 minutes on 2 CPU cores",
    )
)
_add(
    Profile(
        name="smoke",
        method_options=REDUCED_WIDTHS,
        epochs=2,
        steps_per_epoch=2,
        max_validation_batches=2,
        description="2 epochs of 2 steps; for tests of the pipeline, not for numbers",
    )
)
