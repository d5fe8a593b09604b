"""Dataset adapters, registered by name, and the shared frame cache."""

from bench.registry import Registry

DATASETS: Registry = Registry("dataset")
from datasets import ped2  # noqa: E402, F401  (registers the "ped2" adapter)
from datasets import fight  # noqa: E402, F401  (registers "hockey" and "surveillance-fight")
from datasets import xd  # noqa: E402, F401  (registers "xd" and "xd-subset")
