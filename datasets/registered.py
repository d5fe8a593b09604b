"""Import every dataset adapter so that each registers itself in DATASETS."""

import datasets.ped2  # noqa: F401
