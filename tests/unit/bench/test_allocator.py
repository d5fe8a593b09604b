"""The glibc arena limit that keeps long scoring runs from fragmenting memory."""

import subprocess
import sys

import pytest

from bench.allocator import limit_malloc_arenas


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is a glibc function")
def test_arena_limit_applied_on_linux():
    # A fresh interpreter, so the setting does not leak into the test process.
    code = "from bench.allocator import limit_malloc_arenas; print(limit_malloc_arenas())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "True"


def test_arena_limit_skipped_off_linux(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    assert limit_malloc_arenas() is False
