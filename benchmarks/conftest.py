"""pytest-benchmark suite (not part of the test run: ``testpaths = ["tests"]``).

    python -m pytest benchmarks/ --benchmark-only [--benchmark-json out.json]

The same measurements as ``capexgap bench`` (engine/cli/bench.py), as pytest-benchmark cases with
warm-up rounds, so compile time never lands in a timing. Sizes: ``BENCH_TRIALS`` (default
2,000,000) trials per round.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def trials() -> int:
    return int(os.environ.get("BENCH_TRIALS", 2_000_000))
