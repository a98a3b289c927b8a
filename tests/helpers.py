"""What several test modules share: a config written to a file and loaded, `capexgap` run in
process, the closed-form oracle scenario, distribution specs that reach every branch of the
quantile kernels, and a run checked against the trials `engine.trace` recomputes.
"""

from __future__ import annotations

import math
from pathlib import Path

import scipy.stats

import engine
from engine.cli import main
from engine.models import one_year


def load_written(tmp_path_factory, folder: str, name: str, text: str) -> engine.Scenario:
    """`text` written to ``name`` in a fresh temporary folder, loaded from there (so the
    scenario's source is a real file), for module-scoped fixtures."""
    path: Path = tmp_path_factory.mktemp(folder) / name
    path.write_text(text, encoding="utf-8")
    return engine.load_config(path)


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    """`capexgap ARGV` in process: (exit code, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------------ closed-form oracle

# Fixed ratios k (energy) and m (margin), lognormal spend and one lognormal revenue, a life of
# one year and no cost of capital: ln R - ln G is normal, so
# P(R >= G (1 + k) / (1 - m)) = Phi((mu_R - mu_G - ln((1 + k) / (1 - m))) / sqrt(sG^2 + sR^2)).
ORACLE = """
[scenario]
name = "closed-form oracle"
seed = {seed}
[inputs]
gpu_spend = {{ dist = "lognormal", mu = {mu_g}, sigma = {s_g} }}
energy_ratio = {k}
margin = {m}
useful_life = 1
cost_of_capital = 0
[revenue]
All = {{ dist = "lognormal", mu = {mu_r}, sigma = {s_r} }}
"""


def oracle_text(seed: int, mu_g: float, s_g: float, mu_r: float, s_r: float, k: float = 1.0,
                m: float = 0.5) -> str:
    """The oracle scenario's TOML text."""
    return ORACLE.format(seed=seed, mu_g=mu_g, s_g=s_g, mu_r=mu_r, s_r=s_r, k=k, m=m)


def oracle_p(mu_g: float, s_g: float, mu_r: float, s_r: float, k: float = 1.0,
             m: float = 0.5) -> float:
    """The oracle scenario's exact P(cover)."""
    return scipy.stats.norm.cdf((mu_r - mu_g - math.log((1 + k) / (1 - m)))
                                / math.hypot(s_g, s_r))


# ------------------------------------------------------------------------ distribution specs

# Every family, with shapes that reach every branch: both sides of the uniform and triangular
# splits, the table's interior and tails, truncation, and exp's libm fallback (lognormals whose
# log-value leaves [-708, 708]: only for extreme scores, for |z| > 2.4, or even in the centre).
SPECS = {
    "fixed": 7.5,
    "uniform": {"dist": "uniform", "min": 0.35, "max": 0.65},
    "normal": {"dist": "normal", "mean": 1.0, "sd": 2.0},
    "lognormal": {"dist": "lognormal", "ci90": [100, 200]},
    "lognormal-musigma": {"dist": "lognormal", "mu": 0.5, "sigma": 1.2},
    "lognormal-wide": {"dist": "lognormal", "mu": 0.0, "sigma": 300.0},
    # |mu| + 1.5 sigma > 708: central lanes can leave exp's fast range too (checked per lane)
    "lognormal-far": {"dist": "lognormal", "mu": 700.0, "sigma": 10.0},
    "lognormal-far-low": {"dist": "lognormal", "mu": -700.0, "sigma": 10.0},
    "triangular": {"dist": "triangular", "min": 0.6, "mode": 1.0, "max": 1.6},
    "triangular-mode-at-min": {"dist": "triangular", "min": 0.0, "mode": 0.0, "max": 1.0},
    "triangular-mode-at-max": {"dist": "triangular", "min": 0.0, "mode": 1.0, "max": 1.0},
    "pert": {"dist": "pert", "min": 0.3, "mode": 0.5, "max": 0.7},
    "pert-mode-at-min": {"dist": "pert", "min": 0, "mode": 0, "max": 1},
    "beta": {"dist": "beta", "alpha": 0.5, "beta": 5},
    "beta-small": {"dist": "beta", "alpha": 0.1, "beta": 0.1},
    "beta-large": {"dist": "beta", "alpha": 30, "beta": 30, "min": 10, "max": 14},
    "truncnormal": {"dist": "truncnormal", "mean": 0.0, "sd": 1.0, "min": -1, "max": 2},
    "truncnormal-lower": {"dist": "truncnormal", "mean": 100.0, "sd": 20.0, "min": 0},
    "truncnormal-upper-tail": {"dist": "truncnormal", "mean": 0.0, "sd": 1.0, "max": -3},
}


# ------------------------------------------------------------------------ runs


def assert_trace_recomputes_the_run(scenario: engine.Scenario, trials: int, seed: int) -> None:
    """Per-trial identity, through a one-year run's extremes: its min and max of every output
    are values that engine.trace recomputes bit for bit, and its hits are the trials traced as
    covering."""
    ds = engine.simulate(scenario, trials=trials, seed=seed)
    tr = engine.trace(scenario, 0, trials, seed=seed)
    for name in one_year.OUTPUTS:
        assert float(ds[f"{name}_min"]) == tr[name].values.min(), name
        assert float(ds[f"{name}_max"]) == tr[name].values.max(), name
    assert int(ds["hits"]) == int(tr["covers"].sum())
