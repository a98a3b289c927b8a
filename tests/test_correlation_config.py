"""The ``[correlation]`` section: name resolution (one-year and vintage), every rule a
ConfigError naming the key, the positive semi-definite check with its pasteable fix, and
``repair_correlation``."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from engine.base.errors import ConfigError
from engine.cli import main
from engine.core import copula
from engine.io import correlation_config
from engine.io.config import load_config, loads

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# the default scenario without its own [correlation] section (the last table of the file)
ONE = (CONFIGS / "ai-capex-2024.toml").read_text(encoding="utf-8").split("\n[correlation]")[0]
VIN = (CONFIGS / "vintage-2024-2032.toml").read_text(encoding="utf-8")
COMPANIES = ("Microsoft", "OpenAI", "Google", "Amazon", "Meta", "Apple", "Oracle", "CoreWeave",
             "Anthropic", "ByteDance", "Alibaba", "Tencent", "X", "Tesla", "Other companies")
# Three inputs whose asked correlations cannot hold together.
CONFLICT = ('pairs = [{ between = ["gpu_spend", "margin"], rho = 0.9 },\n'
            '         { between = ["margin", "energy_ratio"], rho = 0.9 },\n'
            '         { between = ["gpu_spend", "energy_ratio"], rho = -0.9 }]')


def load(body: str, base: str = ONE, **kw):
    return loads(f"{base}\n[correlation]\n{body}\n", source="c.toml", **kw)


def refused(body: str, key: str, *words: str, base: str = ONE) -> str:
    """The message of loading `body` as [correlation]: it names the file, `key` and `words`."""
    with pytest.raises(ConfigError) as info:
        load(body, base)
    msg = str(info.value)
    assert msg.startswith(f"c.toml: {key}: "), msg
    for word in words:
        assert word in msg, (word, msg)
    return msg


# --------------------------------------------------------------------------- one-year names


def test_one_year_groups_and_pairs_expand_to_inputs():
    corr = load('groups = [{ members = "revenue", rho = 0.5 }]\n'
                'pairs = [{ between = ["gpu_spend", "Microsoft"], rho = 0.3 },\n'
                '         { between = ["margin", "revenue"], rho = 0 }]').correlation
    (group,) = corr.groups
    assert group.members == tuple(f"revenue.{c}" for c in COMPANIES)
    assert group.rho == 0.5 and group.key == "correlation.groups[0]"
    first, second = corr.pairs
    assert (first.a, first.b, first.rho) == (("gpu_spend",), ("revenue.Microsoft",), 0.3)
    assert second.a == ("margin",) and second.b == group.members
    assert type(second.rho) is float and second.key == "correlation.pairs[1]"
    assert not corr.repair and corr.names == () and corr.matrix == ()


def test_a_pair_overrides_its_group():
    s = load('groups = [{ members = ["Microsoft", "OpenAI", "Google"], rho = 0.5 }]\n'
             'pairs = [{ between = ["revenue.OpenAI", "Microsoft"], rho = 0.8 }]')
    m = copula.spearman_matrix(s.correlation, ["revenue.Microsoft", "revenue.OpenAI",
                                               "revenue.Google"])
    assert m[0, 1] == m[1, 0] == 0.8 and m[0, 2] == m[1, 2] == 0.5


def test_company_names_are_cleaned_like_revenue_keys():
    base = ONE + '"Cafe\u0301 AI" = { dist = "lognormal", ci90 = [1, 2] }\n'
    corr = load('pairs = [{ between = [" Caf\u00e9 AI\t", "Other companies "], rho = 0.4 }]',
                base).correlation
    assert corr.pairs[0].a == ("revenue.Caf\u00e9 AI",)
    assert corr.pairs[0].b == ("revenue.Other companies",)


def test_a_fixed_input_is_refused_by_name():
    base = ONE.replace('useful_life = { dist = "triangular", min = 1, mode = 3, max = 6 }',
                       "useful_life = 3")
    refused('pairs = [{ between = ["margin", "useful_life"], rho = 0.5 }]',
            "correlation.pairs[0].between[1]",
            "useful_life is the fixed number 3 here; correlation needs a distribution",
            "Give useful_life a distribution", base=base)


def test_unknown_name_gets_a_close_match_and_the_list():
    msg = refused('pairs = [{ between = ["gpu_spend", "Micrsoft"], rho = 0.3 }]',
                  "correlation.pairs[0].between[1]", "names no input or company",
                  "'Micrsoft'", "Did you mean `Microsoft`?")
    assert "gpu_spend, " in msg and "revenue.Tesla" in msg


# --------------------------------------------------------------------------- vintage names


def test_vintage_names_expand_and_drop_fixed_inputs():
    corr = load('groups = [{ members = "revenue", rho = 0.3 },\n'
                '          { members = "revenue_growth", rho = 0.4 }]\n'
                'pairs = [{ between = ["gpu_spend", "OpenAI"], rho = 0.2 },\n'
                '         { between = ["gpu_spend_growth", "revenue.Microsoft"], rho = 0.1 },\n'
                '         { between = ["Google", "margin"], rho = 0.1 }]', VIN).correlation
    revenue, growth = corr.groups
    assert "revenue.OpenAI.2024" not in revenue.members  # fixed: dropped
    assert revenue.members[:4] == ("revenue.OpenAI.2026", "revenue.Anthropic.2024",
                                   "revenue.Anthropic.2025", "revenue.Anthropic.2026")
    assert "revenue.Google" in revenue.members and len(revenue.members) == 15
    assert not any(m.startswith("revenue_growth") for m in revenue.members)
    assert len(growth.members) == 9 and growth.members[0] == "revenue_growth.OpenAI"
    gpu_openai, growth_msft, google = corr.pairs
    assert gpu_openai.a == ("gpu_spend.2026",) and gpu_openai.b == ("revenue.OpenAI.2026",)
    assert growth_msft.a == ("gpu_spend_growth",)
    assert growth_msft.b == tuple(f"revenue.Microsoft.{y}" for y in (2024, 2025, 2026))
    assert google.a == ("revenue.Google",)


def test_vintage_fixed_year_and_self_pair():
    refused('pairs = [{ between = ["gpu_spend.2024", "margin"], rho = 0.5 }]',
            "correlation.pairs[0].between[0]", "gpu_spend.2024 is the fixed number 115.2 here",
            base=VIN)
    refused('pairs = [{ between = ["gpu_spend", "gpu_spend.2026"], rho = 0.5 }]',
            "correlation.pairs[0].between", "with itself", "gpu_spend.2026", base=VIN)


# --------------------------------------------------------------------------- rules


@pytest.mark.parametrize("body, key, words", [
    ("group = []", "correlation.group", ("unknown key", "Did you mean `groups`?")),
    ('groups = [{ member = "revenue", rho = 0.5 }]', "correlation.groups[0].member",
     ("unknown key", "`members`")),
    ('pairs = [{ between = ["margin", "X"], rhoo = 0.5 }]', "correlation.pairs[0].rhoo",
     ("unknown key",)),
    ('groups = [{ members = "revenue" }]', "correlation.groups[0].rho", ("is required",)),
    ('groups = { members = "revenue", rho = 0.5 }', "correlation.groups",
     ("must be a list of tables",)),
    ("pairs = [1]", "correlation.pairs[0]", ("must be a table", "(got 1)")),
    ('groups = [{ members = "revenue", rho = "0.5" }]', "correlation.groups[0].rho",
     ("must be a number", "'0.5'")),
    ('groups = [{ members = "revenue", rho = true }]', "correlation.groups[0].rho",
     ("must be a number", "True")),
    ('pairs = [{ between = ["margin", "X"], rho = 1.5 }]', "correlation.pairs[0].rho",
     ("from -1 to 1", "1.5")),
    ('pairs = [{ between = ["margin", "X"], rho = -2 }]', "correlation.pairs[0].rho",
     ("from -1 to 1", "-2")),
    ('pairs = [{ between = ["margin", "X"], rho = nan }]', "correlation.pairs[0].rho",
     ("from -1 to 1", "nan")),
    ('pairs = [{ between = ["margin", "X"], rho = inf }]', "correlation.pairs[0].rho",
     ("from -1 to 1", "inf")),
    ('groups = [{ members = ["Microsoft"], rho = 0.5 }]', "correlation.groups[0].members",
     ("at least two", "revenue.Microsoft")),
    ('groups = [{ members = ["Microsoft", "revenue.Microsoft"], rho = 0.5 }]',
     "correlation.groups[0].members", ("at least two",)),
    ('groups = [{ members = 5, rho = 0.5 }]', "correlation.groups[0].members",
     ("must be a list", "(got 5)")),
    ('groups = [{ members = [], rho = 0.5 }]', "correlation.groups[0].members",
     ("must be a list",)),
    ('groups = [{ members = ["Microsoft", 7], rho = 0.5 }]', "correlation.groups[0].members[1]",
     ("must be a string", "7")),
    ('pairs = [{ between = ["margin"], rho = 0.5 }]', "correlation.pairs[0].between",
     ("exactly two", "['margin']")),
    ('pairs = [{ between = "margin", rho = 0.5 }]', "correlation.pairs[0].between",
     ("exactly two", "'margin'")),
    ('pairs = [{ between = ["margin", "Microsoft", "X"], rho = 0.5 }]',
     "correlation.pairs[0].between", ("exactly two",)),
    ('pairs = [{ between = ["margin", " margin"], rho = 0.5 }]', "correlation.pairs[0].between",
     ("pairs the input margin with itself",)),
    (('pairs = [{ between = ["margin", "Microsoft"], rho = 0.5 },\n'
      '         { between = ["revenue", "margin"], rho = 0.2 }]'), "correlation.pairs[1]",
     ("margin", "revenue.Microsoft", "correlation.pairs[0]")),
])
def test_each_rule_names_its_key(body, key, words):
    refused(body, key, *words)


def test_a_section_that_is_not_a_table():
    with pytest.raises(ConfigError, match=r"c\.toml: correlation: must be a table \(got 5\)"):
        loads("correlation = 5\n" + ONE, source="c.toml")


@pytest.mark.parametrize("body", ["", "groups = []\npairs = []"])
def test_an_empty_section_correlates_nothing(body):
    assert load(body).correlation is None


def test_the_limit_on_correlated_inputs(monkeypatch):
    monkeypatch.setattr(correlation_config, "MAX_CORRELATED", 3)
    refused('groups = [{ members = "revenue", rho = 0.5 }]', "correlation",
            "correlates 15 inputs, more than the limit of 3")


# --------------------------------------------------------------------------- full form

FULL_OK = ('names = ["gpu_spend", "Microsoft", "revenue.OpenAI"]\n'
           "matrix = [[1, 0.4, 0.2], [0.4, 1, 0.5], [0.2, 0.5, 1]]")


def test_full_form_loads():
    corr = load(FULL_OK + '\npairs = [{ between = ["margin", "gpu_spend"], rho = 0.1 }]'
                ).correlation
    assert corr.names == ("gpu_spend", "revenue.Microsoft", "revenue.OpenAI")
    assert corr.matrix == ((1.0, 0.4, 0.2), (0.4, 1.0, 0.5), (0.2, 0.5, 1.0))


@pytest.mark.parametrize("body, key, words", [
    ('names = ["gpu_spend", "margin"]', "correlation.matrix", ("is required",)),
    ("matrix = [[1, 0.4], [0.4, 1]]", "correlation.names", ("is required",)),
    ('names = ["gpu_spend"]\nmatrix = [[1]]', "correlation.names", ("at least two",)),
    ('names = ["gpu_spend", "revenue"]\nmatrix = [[1, 0.4], [0.4, 1]]', "correlation.names[1]",
     ("names 15 random inputs", "one input per name")),
    ('names = ["Microsoft", "revenue.Microsoft"]\nmatrix = [[1, 0.4], [0.4, 1]]',
     "correlation.names[1]", ("same input as correlation.names[0]", "'revenue.Microsoft'")),
    ('names = ["gpu_spend", "nope"]\nmatrix = [[1, 0.4], [0.4, 1]]', "correlation.names[1]",
     ("names no input",)),
    ('names = ["gpu_spend", "margin", "X"]\nmatrix = [[1, 0.4], [0.4, 1]]',
     "correlation.matrix", ("square matrix of 3 rows", "2 rows")),
    ('names = ["gpu_spend", "margin"]\nmatrix = [[1, 0.4], [0.4]]', "correlation.matrix[1]",
     ("row of 2 numbers", "1 numbers")),
    ('names = ["gpu_spend", "margin"]\nmatrix = [[1, 0.4], [0.3, 1]]',
     "correlation.matrix[1][0]", ("symmetric", "0.3")),
    ('names = ["gpu_spend", "margin"]\nmatrix = [[0.9, 0.4], [0.4, 1]]',
     "correlation.matrix[0][0]", ("must be 1", "0.9")),
    ('names = ["gpu_spend", "margin"]\nmatrix = [[1, 1.4], [1.4, 1]]',
     "correlation.matrix[0][1]", ("from -1 to 1", "1.4")),
    ('names = ["gpu_spend", "margin"]\nmatrix = [[1, false], [false, 1]]',
     "correlation.matrix[0][1]", ("must be a number", "False")),
])
def test_full_form_rules(body, key, words):
    refused(body, key, *words)


# --------------------------------------------------------------------------- PSD


def _asked() -> np.ndarray:
    # gpu_spend, energy_ratio, margin: the scenario's order
    return np.array([[1, -0.9, 0.9], [-0.9, 1, 0.9], [0.9, 0.9, 1]])


def test_a_matrix_that_is_not_psd_is_refused_with_a_pasteable_fix():
    lam = copula.min_eigenvalue(copula.pearson_from_spearman(_asked()))
    msg = refused(CONFLICT, "correlation", "is not positive semi-definite once converted to "
                  f"the copula's normal scale (smallest eigenvalue {lam:.4g})",
                  "the pairs that conflict most: ", "gpu_spend ~ margin (asked 0.9, nearest ",
                  "gpu_spend ~ energy_ratio (asked -0.9, nearest ",
                  "Use these values, the nearest valid matrix (Higham), or run with "
                  "--repair-correlation: ")
    assert lam < -0.5
    names = re.search(r"names = \[[^\]]*\]", msg).group(0)
    matrix = re.search(r"matrix = \[\[.*?\]\]", msg).group(0)
    assert names == 'names = ["gpu_spend", "energy_ratio", "margin"]'
    corr = load(f"{names}\n{matrix}").correlation  # pasted in place of the pairs: valid
    pasted = np.array(corr.matrix)
    nearest = copula.spearman_from_pearson(copula.nearest_correlation(
        copula.pearson_from_spearman(_asked())))
    assert np.all(np.abs(pasted - nearest) <= 2e-3)
    assert pasted[0, 2] < 0.9 and pasted[0, 1] > -0.9


def test_a_large_conflict_is_described_without_the_matrix(monkeypatch):
    monkeypatch.setattr(correlation_config, "_PASTE_LIMIT", 2)
    msg = refused(CONFLICT, "correlation", "smallest eigenvalue", "conflict most",
                  "too large to show here")
    assert "matrix = " not in msg


def test_repair_correlation_keeps_the_matrix(write_config):
    corr = load(CONFLICT, repair_correlation=True).correlation
    assert corr.repair is True and len(corr.pairs) == 3
    path = write_config(f"{ONE}\n[correlation]\n{CONFLICT}\n")
    assert load_config(path, repair_correlation=True).correlation.repair is True
    assert load(FULL_OK).correlation.repair is False


def test_the_cli_exits_2(capsys, write_config, tmp_path):
    path = write_config(f"{ONE}\n[correlation]\n{CONFLICT}\n")
    out = tmp_path / "r.nc"
    assert main(["quote", str(path), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"capexgap: error: {path}: correlation: is not positive")
    assert not out.exists()
