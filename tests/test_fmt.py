"""The one way probabilities, percentages and money are written (engine.base.fmt), at the edges of
its rules, and the quote text that uses it."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from engine.base import fmt

ROOT = Path(__file__).resolve().parents[1]
SCI = re.compile(r"^-?\d\.\d\de-?\d+$")  # "5.99e-6": three significant digits, no padding
PERCENT = re.compile(r"^-?\d+\.\d+%$")
NON_FINITE = (math.nan, math.inf, -math.inf)


@pytest.mark.parametrize("p, text", [
    (0.0, "0"),
    (1.0, "100.00%"),
    (0.1234, "12.34%"),
    (0.5, "50.00%"),
    (0.01, "1.00%"),                # 1%: two decimals from here up
    (0.0099999, "1.00%"),           # rounds up to 1%: written as 1% is, not "1.000%"
    (0.00999, "0.999%"),            # just below 1%: three significant digits
    (0.00267, "0.267%"),
    (0.003, "0.300%"),              # three significant digits, zeros kept
    (0.000123, "0.0123%"),
    (1e-4, "0.0100%"),              # 1e-4: still a percentage
    (9.99e-5, "9.99e-5"),           # just below: the probability in scientific notation
    (5.99e-6, "5.99e-6"),
    (1e-5, "1.00e-5"),
    (9.66e-259, "9.66e-259"),
    (5e-324, "4.94e-324"),          # the smallest float64
    (-0.25, "-25.00%"),             # a negative value keeps its sign, sized by its magnitude
    (-0.002, "-0.200%"),
    (-5.99e-6, "-5.99e-6"),
])
def test_probability(p, text):
    assert fmt.pct(p) == text


@pytest.mark.parametrize("bad", NON_FINITE)
def test_non_finite_probability_is_na(bad):
    assert fmt.pct(bad) == "n/a"
    assert fmt.pct_tick(bad) == "n/a" and fmt.pct_short(bad) == "n/a"
    assert fmt.p_interval(bad, bad) == "n/a to n/a"


def test_scientific_notation_has_no_exponent_padding():
    for p in (9.99e-5, 1.5e-7, 3e-10, 1e-100, 2.5e-300):
        text = fmt.pct(p)
        assert SCI.match(text) and "e-0" not in text and "e+" not in text, text
        assert float(text) == pytest.approx(p, rel=5e-3)  # 3 significant digits round-trip


@pytest.mark.parametrize("lo, hi, text", [
    (0.00123, 0.00456, "0.123% to 0.456%"),
    (0.0, 0.000300, "0 to 0.0300%"),        # 0 is unitless: the other end sets the style
    (0.0, 5.99e-6, "0 to 5.99e-6"),
    (1.77e-5, 5.66e-4, "1.77e-5 to 5.66e-4"),  # straddles 1e-4: both ends scientific
    (1e-4, 0.5, "0.0100% to 50.00%"),       # 1e-4 itself is a percentage
    (9.99e-5, 0.5, "9.99e-5 to 5.00e-1"),   # just below: both ends scientific
    (0.0, 0.0, "0 to 0"),
    (0.25, 0.35, "25.00% to 35.00%"),
])
def test_interval_is_written_in_one_style(lo, hi, text):
    assert fmt.p_interval(lo, hi) == text


def test_interval_styles_never_mix():
    values = [0.0, 1e-9, 5.99e-6, 9.99e-5, 1e-4, 1.01e-4, 0.00267, 0.0099, 0.01, 0.5, 1.0]
    for lo in values:
        for hi in values:
            ends = [e for e in fmt.p_interval(lo, hi).split(" to ") if e != "0"]
            styles = {bool(SCI.match(e)) for e in ends}
            assert len(styles) <= 1, (lo, hi, ends)
            assert all(SCI.match(e) or PERCENT.match(e) for e in ends), (lo, hi, ends)


def test_tick_and_short_labels():
    assert fmt.pct_tick(0.025) == "2.5%" and fmt.pct_tick(0.5) == "50%"
    assert fmt.pct_tick(1 - 1e-6) == "99.9999%" and fmt.pct_tick(1e-4) == "0.01%"
    assert fmt.pct_tick(1e-5) == "1e-5" and fmt.pct_tick(1e-6) == "1e-6"
    assert fmt.pct_tick(0.0) == "0"
    assert [fmt.pct_short(p) for p in (0.0, 0.0009, 0.001, 0.042, 0.42)] == \
        ["0", "<0.1%", "0.1%", "4.2%", "42%"]


def test_shares_differences_and_levels():
    assert fmt.percent(0.015) == "1.5%" and fmt.percent(0.0025) == "0.25%"
    assert fmt.percent(1.0) == "100%" and fmt.percent(0.0) == "0%"
    assert fmt.percent(math.inf) == "n/a" and fmt.percent(math.nan) == "n/a"
    assert fmt.pp(0.015) == "+1.5 pp" and fmt.pp(-0.0025) == "-0.25 pp" and fmt.pp(0.0) == "0"
    assert fmt.pp(math.nan) == "n/a"
    assert [fmt.pctl(q) for q in (0.05, 0.1, 0.5, 0.975)] == ["5%", "10%", "50%", "97.5%"]
    assert [fmt.ordinal(q) for q in (0.01, 0.02, 0.03, 0.1, 0.11, 0.12, 0.21, 0.9, 0.975)] == \
        ["1st", "2nd", "3rd", "10th", "11th", "12th", "21st", "90th", "97.5th"]


@pytest.mark.parametrize("v, money, cell", [
    (0.0, "$0.0B", "0.0"),
    (1234.5, "$1,234.5B", "1,234.5"),
    (600.0, "$600.0B", "600.0"),
    (1_234_567.89, "$1,234,567.9B", "1,234,567.9"),
    (0.05, "$0.1B", "0.1"),             # from 0.05 up: one decimal
    (0.0499, "$0.0499B", "0.0499"),     # below: three significant digits
    (0.0123, "$0.0123B", "0.0123"),
    (1e-7, "$1e-07B", "1e-07"),
    (-3.0, "-$3.0B", "-3.0"),           # the sign before the $
    (-1234.5, "-$1,234.5B", "-1,234.5"),
    (-0.0123, "-$0.0123B", "-0.0123"),
    (2.5e15, "$2.5e+15B", "2.5e+15"),   # from 1e15 up: four significant digits
    (-1.23456e300, "-$1.235e+300B", "-1.235e+300"),
    (math.nan, "n/a", "n/a"),
    (math.inf, "inf", "inf"),
    (-math.inf, "-inf", "-inf"),
])
def test_money(v, money, cell):
    assert fmt.usd(v) == money and fmt.amount(v) == cell


def test_quote_interval_straddling_1e_4_prints_one_style():
    # A plain Monte Carlo quote with 1 covering trial of 20,000: its exact interval runs from
    # about 1e-6 to about 3e-4, across 1e-4. The run's other figures are kept; P(cover), the
    # hit count and the interval are those of that count, from the engine's own interval.
    import engine
    from engine.cli import format_quote
    from engine.core.reduce import BLOCK
    from engine.core.dataset import proportion_interval

    ds = engine.simulate(engine.load_config(ROOT / "configs" / "wsj-17x-2023.toml"),
                         trials=BLOCK, seed=1)
    assert ds.attrs.get("method") != "importance"
    n, hits = 20_000, 1
    lo, hi, _ = proportion_interval(hits, n)
    assert lo < fmt.SCI_BELOW < hi
    ds.attrs["trials"] = n
    ds["hits"] = ds["hits"].copy(data=hits)
    ds["p_cover"] = ds["p_cover"].copy(data=hits / n)
    ds["p_cover_ci95"] = ds["p_cover_ci95"].copy(data=[lo, hi])
    text = format_quote(ds, "straddle.toml")
    line = next(ln for ln in text.splitlines() if ln.startswith("P(AI revenue covers"))
    a, b = re.search(r"95% CI (\S+) to (\S+?),", line).groups()
    assert SCI.match(a) and SCI.match(b), line
    assert f"= {fmt.pct(hits / n)}  (95% CI {fmt.p_interval(lo, hi)}," in line


def test_thread_counts_take_their_noun():
    assert [fmt.threads(n) for n in (1, 2, 16, None)] == [
        "1 thread", "2 threads", "16 threads", "? threads"]
    attrs = {"seed": 7, "elapsed_s": 0.5, "threads": 1, "compile_s": 0.0}
    assert fmt.run_line("1,000", attrs) == "1,000 trials, seed 7, 0.50 s on 1 thread"
