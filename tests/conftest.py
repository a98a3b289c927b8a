"""Shared fixtures: paths to the bundled configs and a small-scenario factory."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

# A test run started in the background of a non-interactive shell inherits SIGINT ignored, and
# its subprocesses inherit that too; capexgap rightly keeps an ignored signal ignored, so the
# tests of Ctrl-C handling would see nothing. Give the test process Python's own handling.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# The first kernel-running command on a cold cache starts a helper process that compiles the
# runner's kernels alongside (engine.core.prewarm). tests/test_prewarm.py tests it; elsewhere a
# background compile would only make the other tests' timings depend on when they ran.
os.environ.setdefault("CAPEXGAP_PREWARM", "0")

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


@pytest.fixture
def configs() -> Path:
    return CONFIGS


@pytest.fixture
def write_config(tmp_path):
    """Write TOML text to a file in a temporary folder and return its path."""

    def _write(text: str, name: str = "scenario.toml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write


# ------------------------------ sweep modules (a module-level BASE and GRID; TEMPLATE, DEFAULTS)


@pytest.fixture(scope="module")
def base_path(request, tmp_path_factory) -> Path:
    """The requesting module's ``BASE`` config text, written to a file."""
    path = tmp_path_factory.mktemp("base") / "base.toml"
    path.write_text(request.module.BASE, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def base(base_path):
    """The requesting module's ``BASE`` scenario."""
    import engine

    return engine.load_config(base_path)


@pytest.fixture(scope="module")
def grid_ds(request, base):
    """``engine.sweep`` of ``BASE`` over the module's ``GRID``, ``N_ODD`` trials."""
    import engine

    return engine.sweep(base, request.module.GRID, trials=request.module.N_ODD)


@pytest.fixture(scope="module")
def pinned_by_text(request, base):
    """``pinned_by_text(**fields)``: the requesting module's ``BASE`` with some inputs rewritten
    in the TOML text (its ``TEMPLATE`` filled from ``DEFAULTS`` and ``fields``, not through
    engine.pin), keeping the base's source and text so that the provenance attributes agree."""
    import dataclasses

    import engine

    def pinned(**fields):
        text = request.module.TEMPLATE.format(**{**request.module.DEFAULTS, **fields})
        return dataclasses.replace(engine.loads(text, source=base.source), text=base.text)

    return pinned


# ------------------------------------------- plot modules (a module-level SMALL, plots in a folder)


@pytest.fixture(scope="module")
def scenario(request):
    """The requesting module's ``SMALL`` scenario (the plot modules': plot_cases.SMALL)."""
    import engine

    return engine.loads(request.module.SMALL, source="small.toml")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A temporary folder for one module's plots and results."""
    return tmp_path_factory.mktemp("plots")


@pytest.fixture(scope="module")
def quote(scenario, folder):
    """A quote of ``scenario`` (plot_cases.TRIALS trials), written and re-opened."""
    import engine
    from plot_cases import TRIALS, roundtrip

    return roundtrip(engine.simulate(scenario, trials=TRIALS), folder, "quote.nc")


# --------------------------------------------------------------------------- fuzz statistics

_FUZZ_STATS = pytest.StashKey[dict]()


@pytest.fixture(scope="session")
def fuzz_stats(request) -> dict:
    """{fuzzer: {"outcome": count, ..., "seconds": s}}, printed at the end of the run."""
    return request.config.stash.setdefault(_FUZZ_STATS, {})


def _print_fuzz_stats(terminalreporter, config):
    stats = config.stash.get(_FUZZ_STATS, None)
    if not stats:
        return
    terminalreporter.write_sep("-", "fuzz examples (tests/test_fuzz.py)")
    total = seconds = 0
    for name, rec in stats.items():
        n = sum(v for k, v in rec.items() if k != "seconds")
        total += n
        seconds += rec.get("seconds", 0.0)
        outcomes = ", ".join(f"{v:,} {k}" for k, v in sorted(rec.items()) if k != "seconds")
        terminalreporter.write_line(f"{name}: {n:,} examples in {rec.get('seconds', 0.0):.1f} s"
                                    f" ({outcomes})")
    terminalreporter.write_line(f"total: {total:,} examples in {seconds:.1f} s")


_REPORT = pytest.StashKey[list]()


@pytest.fixture(scope="session")
def measurements(request) -> list:
    """Lines of measured figures (e.g. stop latency after a signal), printed at the end."""
    return request.config.stash.setdefault(_REPORT, [])


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    _print_fuzz_stats(terminalreporter, config)
    lines = config.stash.get(_REPORT, None)
    if lines:
        terminalreporter.write_sep("-", "measurements (tests/test_robustness.py)")
        for line in lines:
            terminalreporter.write_line(line)
