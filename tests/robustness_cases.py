"""A small config whose inputs a test sets, and ``capexgap quote`` called in process.

Shared by test_robustness.py and test_robustness_numeric.py.
"""

from __future__ import annotations

from engine.cli import main

SMALL = """
[scenario]
name = "edge"
trials = 4096
seed = 3
allow_implausible = ["gpu_spend", "energy_ratio", "margin", "revenue"]  # extremes on purpose
[inputs]
gpu_spend = {gpu}
energy_ratio = {energy}
margin = {margin}
[revenue]
{revenue}
"""


def small_text(gpu='{ dist = "lognormal", ci90 = [100, 200] }', energy="1.0", margin="0.5",
               revenue='A = { dist = "lognormal", ci90 = [5, 20] }'):
    return SMALL.format(gpu=gpu, energy=energy, margin=margin, revenue=revenue)


def small(write_config, **kw):
    return write_config(small_text(**kw))


def quote(capsys, *argv):
    code = main(["quote", *map(str, argv)])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err
