"""Fixtures shared by the end-to-end runs on real data."""

import pytest

from datasets.base import resolve_data_root


@pytest.fixture(scope="module")
def data_root():
    try:
        return resolve_data_root(None)
    except FileNotFoundError as error:
        pytest.fail(f"{error}. Set VADBENCH_DATA_ROOT=/path/to/shared/data to run the real-data tests.")
