"""Dataset adapters, registered by name, and the shared frame cache."""

from bench.registry import Registry

DATASETS: Registry = Registry("dataset")
