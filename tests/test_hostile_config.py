"""Hostile or mistyped config input: every case is refused with exit code 2 and one message
naming the file, the key, the rule and the fix, and nothing is written.

Names with control or format characters, names equal once normalised, values outside their
plausible range (a percentage typed for a fraction, dollars for $B) and numbers too large for
float64 are each run through the command in process (``engine.cli.main``) with ``--out``.
"""

from __future__ import annotations

import unicodedata

import pytest

import engine
from engine.cli import main
from engine.base.names import clean_name
from engine.base.errors import CapexgapError, ConfigError, OutputError
from engine.analyses.sweeps import check_sweep_table

ONE_YEAR = """
[scenario]
name = {name}
trials = 2000
seed = 5
{scenario}
[inputs]
gpu_spend = {gpu}
energy_ratio = {energy}
margin = {margin}
useful_life = {life}
cost_of_capital = {rate}
[revenue]
{revenue}
{extra}
"""

VINTAGE = """
[scenario]
model = "vintage"
years = {years}
trials = 2000
{scenario}
[inputs]
gpu_spend = 100
gpu_spend_growth = {growth}
energy_ratio = 1
margin = 0.5
useful_life = 3
[revenue]
{revenue}
[revenue_growth]
{revenue_growth}
"""

DIGITS_400 = "1" + "0" * 400


def one_year(name='"hostile"', scenario="", gpu="100", energy="1.0", margin="0.5", life="3",
             rate="0.08", revenue="Microsoft = 10", extra="") -> str:
    return ONE_YEAR.format(name=name, scenario=scenario, gpu=gpu, energy=energy, margin=margin,
                           life=life, rate=rate, revenue=revenue, extra=extra)


def vintage(years="[2024, 2026]", scenario="", growth="0.1", revenue="A = 10",
            revenue_growth="A = 0.3") -> str:
    return VINTAGE.format(years=years, scenario=scenario, growth=growth, revenue=revenue,
                          revenue_growth=revenue_growth)


def refused(capsys, write_config, tmp_path, text: str, *words: str) -> str:
    """Run `capexgap quote` on `text` with --out: exit 2, one line naming the file and every
    word in `words`, nothing on stdout, no result file, no control character printed."""
    cfg = write_config(text)
    out = tmp_path / "result.nc"
    code = main(["quote", str(cfg), "--out", str(out), "--quiet"])
    stdout, err = capsys.readouterr()
    assert code == 2, err
    assert stdout == ""
    assert not out.exists() and not list(tmp_path.glob("*.nc*"))
    assert err.startswith(f"capexgap: error: {cfg}: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert not any(unicodedata.category(ch) in ("Cc", "Cf") for ch in err.rstrip("\n")), err
    for word in words:
        assert word in err, (word, err)
    return err


# --------------------------------------------------------------------------- names

# (as written in TOML, as shown in a value, as shown in a key, what the message calls it)
BAD_CHARS = [("\\u001b[2J", "\\x1b[2J", "\\u001b[2J", "U+001B"),  # escape sequence
             ("\\u0000", "\\x00", "\\u0000", "U+0000"),            # NUL
             ("\\u007f", "\\x7f", "\\x7f", "U+007F"),              # DEL
             ("\\u0085", "\\x85", "\\x85", "U+0085"),              # C1 (next line)
             ("\\u009b", "\\x9b", "\\x9b", "U+009B"),              # C1 CSI
             ("\\u202e", "\\u202e", "\\u202e", "RIGHT-TO-LEFT OVERRIDE"),
             ("\\u200b", "\\u200b", "\\u200b", "ZERO WIDTH SPACE")]


@pytest.mark.parametrize("toml_escape, shown, in_key, label", BAD_CHARS)
def test_scenario_name_with_a_control_character(capsys, write_config, tmp_path, toml_escape,
                                                shown, in_key, label):
    refused(capsys, write_config, tmp_path,
            one_year(name=f'"P(cover) {toml_escape}= 99%"'),
            "scenario.name: ", label, shown, "Remove it")


@pytest.mark.parametrize("toml_escape, shown, in_key, label", BAD_CHARS)
def test_company_name_with_a_control_character(capsys, write_config, tmp_path, toml_escape,
                                               shown, in_key, label):
    refused(capsys, write_config, tmp_path,
            one_year(revenue=f'"Micro{toml_escape}soft" = 10'),
            f'revenue."Micro{in_key}soft": ', f"(got 'Micro{shown}soft')", label,
            "company name", "Remove it")


def test_vintage_growth_company_with_a_control_character(capsys, write_config, tmp_path):
    refused(capsys, write_config, tmp_path,
            vintage(revenue_growth='"A\\u001b[31m" = 0.3'),
            'revenue_growth."A\\u001b[31m"', "U+001B", "Remove it")


def test_description_with_an_escape_sequence(capsys, write_config, tmp_path):
    refused(capsys, write_config, tmp_path,
            one_year(scenario='description = "fine\\u001b]0;title\\u0007"'),
            "scenario.description: ", "U+001B", "line breaks and tabs are fine")


def test_description_keeps_line_breaks_and_tabs():
    sc = engine.loads(one_year(scenario='description = """two\nlines\tand a tab"""'))
    assert sc.description == "two\nlines\tand a tab"


def test_sweep_key_with_a_control_character(capsys, write_config, tmp_path):
    refused(capsys, write_config, tmp_path,
            one_year(extra='[sweep]\n"margin\\u001b" = [0.3, 0.5]'),
            'sweep."margin\\u001b"', "sweep key", "U+001B")


def test_same_company_with_a_trailing_space(capsys, write_config, tmp_path):
    refused(capsys, write_config, tmp_path,
            one_year(revenue='Microsoft = 10\n"Microsoft " = 5'),
            'revenue."Microsoft ": ', 'the same company name as "Microsoft"',
            '(got "Microsoft ")', "Keep one spelling")


def test_same_company_in_two_unicode_forms(capsys, write_config, tmp_path):
    # NFC and NFD look alike, so both spellings are shown by code point.
    refused(capsys, write_config, tmp_path,
            one_year(revenue='"Nestl\\u00e9" = 10\n"Nestle\\u0301" = 5'),
            '"Nestl\\u00e9"', '"Nestle\\u0301"', "NFC", "Keep one spelling")


def test_blank_company_name(capsys, write_config, tmp_path):
    refused(capsys, write_config, tmp_path, one_year(revenue='"   " = 10'),
            'revenue."   ": ', "company name is empty", "Microsoft = 10")


def test_blank_scenario_name(capsys, write_config, tmp_path):
    refused(capsys, write_config, tmp_path, one_year(name='" \\t "'),
            "scenario.name: ", "is empty", "Give it a name")


def test_names_are_stored_normalised_and_stripped():
    sc = engine.loads(one_year(name='"  Nestle\\u0301 scenario "',
                               revenue='"  Nestle\\u0301 " = 10\n"Tencent 腾讯" = 1\n'
                                       '"🤖 Robots 👨\u200d👩\u200d👧" = 2'))
    assert sc.name == "Nestlé scenario"
    assert [i.name for i in sc.revenue] == ["revenue.Nestlé", "revenue.Tencent 腾讯",
                                            "revenue.🤖 Robots 👨\u200d👩\u200d👧"]


def test_vintage_growth_matches_its_company_after_normalising():
    sc = engine.loads(vintage(revenue='"Nestl\\u00e9" = 10',
                              revenue_growth='"Nestle\\u0301 " = 0.3'))
    assert [i.name for i in sc.revenue] == ["revenue.Nestlé", "revenue_growth.Nestlé"]


def test_sweep_key_names_a_company_by_its_normalised_name():
    sc = engine.loads(one_year(revenue='"Nestl\\u00e9" = 10',
                               extra='[sweep]\nrevenue."Nestle\\u0301 " = [1, 2, 3]'))
    assert dict(sc.sweep) == {"revenue": {"Nestlé": [1, 2, 3]}}
    assert check_sweep_table(sc) == 3


# --------------------------------------------------------------------------- clean_name


@pytest.mark.parametrize("raw, clean", [
    ("Microsoft", "Microsoft"),
    ("  Microsoft \t", "Microsoft"),                # a stray tab at an end is stripped
    ("Nestle\u0301", "Nestl\u00e9"),                 # NFD -> NFC
    ("Tencent 腾讯", "Tencent 腾讯"),
    ("Société Générale", "Société Générale"),
    ("🤖", "🤖"),
    ("👨\u200d👩\u200d👧", "👨\u200d👩\u200d👧"),   # an emoji sequence keeps its joiners
    ("\u00a0A\u3000", "A"),                           # Unicode spaces are stripped too
])
def test_clean_name_keeps_and_normalises(raw, clean):
    assert clean_name("f.toml", "revenue.x", raw) == clean


@pytest.mark.parametrize("raw", ["A\x00B", "A\x1b[2JB", "A\x07", "A\x7fB", "A\x85B", "A\x9bB",
                                 "A\u202eB", "A\u2066B", "A\u200bB", "A\u200dB", "A\ufeffB",
                                 "A\u2028B", "A\nB", "A\tB", " \x00"])
def test_clean_name_refuses_control_and_format_characters(raw):
    with pytest.raises(ConfigError) as info:
        clean_name("f.toml", "revenue.x", raw)
    msg = str(info.value)
    assert "f.toml: revenue.x: " in msg and "Remove it" in msg
    assert "U+" in msg and raw not in msg
    assert not any(unicodedata.category(ch) in ("Cc", "Cf") for ch in msg)


@pytest.mark.parametrize("raw", ["", "   ", "\u3000"])
def test_clean_name_refuses_an_empty_name(raw):
    with pytest.raises(ConfigError, match="is empty"):
        clean_name("f.toml", "scenario.name", raw)


def test_clean_name_refuses_a_very_long_name():
    with pytest.raises(ConfigError, match="longer than 200 characters.*5,000 characters"):
        clean_name("f.toml", "scenario.name", "x" * 5000)


# --------------------------------------------------------------------------- escaped messages


def test_config_error_escapes_every_part():
    exc = ConfigError("dir\x1b[2J/f.toml", "revenue.A\x1b[31m", "rule \u202e here",
                      "Micro\x1b[2Jsoft", "fix \x07 it")
    msg = str(exc)
    assert "\x1b" not in msg and "\u202e" not in msg and "\x07" not in msg
    for part in ("dir\\x1b[2J/f.toml: ", "revenue.A\\x1b[31m: ", "rule \\u202e here",
                 "'Micro\\x1b[2Jsoft'", "fix \\x07 it"):
        assert part in msg, msg
    assert exc.key in msg


def test_every_capexgap_error_is_escaped():
    assert str(OutputError("cannot write a\x1b[2Jb.nc")) == "cannot write a\\x1b[2Jb.nc"
    assert str(CapexgapError("\u202eevil")) == "\\u202eevil"


def test_long_values_are_cut():
    msg = str(ConfigError("f.toml", "scenario.name", "bad", "x" * 10_000, "Fix it."))
    assert len(msg) < 300 and "more characters" in msg
    assert "(401 digits)" in str(ConfigError("f.toml", "k", "bad", 10**400))
    assert "about 5,000 digits" in str(ConfigError("f.toml", "k", "bad", 10**4999))


# --------------------------------------------------------------------------- plausibility

IMPLAUSIBLE = [
    # (config keyword arguments, key, words of the rule and the fix, input to allow)
    (dict(rate="8"), "inputs.cost_of_capital", ["plausible range [0, 0.5]",
                                                "(got 8)", "8 looks like a percentage: write 0.08"],
     "cost_of_capital"),
    (dict(rate='{ dist = "triangular", min = 4, mode = 8, max = 12 }'), "inputs.cost_of_capital",
     ["central 90%", "look like percentages: divide them by 100"], "cost_of_capital"),
    (dict(rate="0.7"), "inputs.cost_of_capital", ["plausible range [0, 0.5]", "(got 0.7)"],
     "cost_of_capital"),
    (dict(energy="80"), "inputs.energy_ratio", ["plausible range [0, 10]", "write 0.8"],
     "energy_ratio"),
    (dict(margin="0.99"), "inputs.margin", ["plausible range [0, 0.95]", "(got 0.99)"],
     "margin"),
    (dict(life="60"), "inputs.useful_life", ["plausible range [0.25, 50]",
                                             "looks like months: write 5 (years)"],
     "useful_life"),
    (dict(life='{ dist = "triangular", min = 24, mode = 48, max = 72 }'), "inputs.useful_life",
     ["central 90%", "look like months"], "useful_life"),
    (dict(gpu="115.2e9"), "inputs.gpu_spend", ["plausible range [0, 10000]",
                                               "looks like dollars", "write 115.2"], "gpu_spend"),
    (dict(revenue="Microsoft = 50000"), "revenue.Microsoft",
     ["looks like millions of dollars", "write 50"], "revenue.Microsoft"),
]


@pytest.mark.parametrize("kw, key, words, allow", IMPLAUSIBLE)
def test_implausible_value_is_refused_with_its_likely_fix(capsys, write_config, tmp_path, kw,
                                                          key, words, allow):
    refused(capsys, write_config, tmp_path, one_year(**kw), f"{key}: ", *words,
            f'add allow_implausible = ["{allow}"] under [scenario]')


@pytest.mark.parametrize("kw, key, words, allow", IMPLAUSIBLE)
def test_allow_implausible_insists(kw, key, words, allow):
    sc = engine.loads(one_year(scenario=f'allow_implausible = ["{allow}"]', **kw))
    assert isinstance(sc, engine.Scenario)


def generational(gy: str = "2", gain: str = "2", scenario: str = "") -> str:
    return one_year(scenario=scenario, life="3", rate="0.08").replace(
        "useful_life = 3", f"generation_years = {gy}\nperf_per_dollar_gain = {gain}")


def test_generation_years_in_months(capsys, write_config, tmp_path):
    refused(capsys, write_config, tmp_path, generational(gy="24"),
            "inputs.generation_years: ", "plausible range [0.5, 10]", "write 2 (years)",
            'allow_implausible = ["generation_years"]')


def test_perf_per_dollar_gain_as_a_percentage(capsys, write_config, tmp_path):
    refused(capsys, write_config, tmp_path, generational(gain="40"),
            "inputs.perf_per_dollar_gain: ", "plausible range [1, 25]",
            "a gain of 40% is 1.4")


def test_perf_per_dollar_gain_as_the_gain_alone_is_a_hard_error(capsys, write_config, tmp_path):
    refused(capsys, write_config, tmp_path, generational(gain="0.4"),
            "inputs.perf_per_dollar_gain: ", "must lie in (1, inf)",
            "for a gain of 40% write 1.4")


def test_growth_as_a_percentage(capsys, write_config, tmp_path):
    refused(capsys, write_config, tmp_path, vintage(growth="20"),
            "inputs.gpu_spend_growth: ", "plausible range [-0.9, 5]", "write 0.2",
            'allow_implausible = ["gpu_spend_growth"]')


def test_negative_growth_as_a_percentage_is_a_hard_error(capsys, write_config, tmp_path):
    refused(capsys, write_config, tmp_path, vintage(revenue_growth="A = -20"),
            "revenue_growth.A: ", "must lie in (-1, inf)", "write -0.2")


def test_an_allow_list_entry_names_every_year_or_company_under_it():
    text = vintage(revenue='A = { 2024 = 10, 2025 = 50e9, 2026 = 60e9 }',
                   revenue_growth="", scenario='allow_implausible = ["revenue.A"]')
    assert engine.loads(text).input("revenue.A.2025").dist.param("value") == 50e9


def test_the_fix_says_to_add_to_an_existing_list(capsys, write_config, tmp_path):
    refused(capsys, write_config, tmp_path,
            one_year(rate="8", energy="80", scenario='allow_implausible = ["energy_ratio"]'),
            "inputs.cost_of_capital: ", 'add "cost_of_capital" to allow_implausible')


def test_margin_as_a_percentage_is_a_hard_error_that_cannot_be_insisted(capsys, write_config,
                                                                         tmp_path):
    refused(capsys, write_config, tmp_path,
            one_year(margin="50", scenario='allow_implausible = ["margin"]'),
            "inputs.margin: ", "must lie in [0, 1)", "(got 50)", "50 looks like a percentage: "
            "write 0.5")


def test_margin_distribution_in_percent(capsys, write_config, tmp_path):
    refused(capsys, write_config, tmp_path,
            one_year(margin='{ dist = "pert", min = 30, mode = 50, max = 70 }'),
            "inputs.margin: ", "must lie in [0, 1)", "look like percentages")


def test_unknown_allow_list_entry(capsys, write_config, tmp_path):
    refused(capsys, write_config, tmp_path,
            one_year(scenario='allow_implausible = ["cost_of_captal"]'),
            "scenario.allow_implausible[0]: ", "names no input of this scenario",
            "Did you mean `cost_of_capital`?")


def test_allow_list_must_be_a_list(capsys, write_config, tmp_path):
    refused(capsys, write_config, tmp_path,
            one_year(scenario='allow_implausible = "margin"'),
            "scenario.allow_implausible: ", "must be a list of input names",
            'allow_implausible = ["cost_of_capital"]')


def test_a_lognormal_is_judged_by_its_stated_quantiles_not_its_tail():
    # Its tail passes 0.5 (rarely), its ci90 does not: plausible.
    sc = engine.loads(one_year(rate='{ dist = "lognormal", ci90 = [0.05, 0.12] }'))
    assert sc.input("cost_of_capital").dist.family == "lognormal"


# --------------------------------------------------------------------------- huge numbers


@pytest.mark.parametrize("kw, key, rule", [
    (dict(scenario=f"quantiles = [{DIGITS_400}]"), "scenario.quantiles[0]",
     "strictly between 0 and 1"),
    (dict(gpu=DIGITS_400), "inputs.gpu_spend", "beyond float64's range"),
    (dict(gpu=f'{{ dist = "lognormal", ci90 = [1, {DIGITS_400}] }}'), "inputs.gpu_spend.ci90[1]",
     "beyond float64's range"),
    (dict(margin=f'{{ dist = "pert", min = 0, mode = 0.5, max = 1, lambda = {DIGITS_400} }}'),
     "inputs.margin.lambda", "beyond float64's range"),
    (dict(revenue=f"A = -{DIGITS_400}"), "revenue.A", "beyond float64's range"),
    (dict(extra=f"[sweep]\nmargin = {{ start = 0.1, stop = 0.5, num = {DIGITS_400} }}"),
     "sweep.margin.num", "beyond float64's range"),
    (dict(extra=f"[sweep]\nmargin = [0.1, {DIGITS_400}]"), "sweep.margin[1]",
     "beyond float64's range"),
])
def test_a_400_digit_number_is_refused(capsys, write_config, tmp_path, kw, key, rule):
    err = refused(capsys, write_config, tmp_path, one_year(**kw), f"{key}: ", rule)
    assert DIGITS_400 not in err and len(err) < 400


@pytest.mark.parametrize("line, key, rule", [
    (f"trials = {DIGITS_400}", "scenario.trials", "must be at most 2**53"),
    (f"seed = {DIGITS_400}", "scenario.seed", "between 0 and 18446744073709551615"),
    (f"seed = -{DIGITS_400}", "scenario.seed", "between 0 and 18446744073709551615"),
])
def test_a_400_digit_trials_or_seed_is_refused(capsys, write_config, tmp_path, line, key, rule):
    text = one_year().replace("trials = 2000\nseed = 5", line)
    err = refused(capsys, write_config, tmp_path, text, f"{key}: ", rule, "(401 digits)")
    assert DIGITS_400 not in err


def test_a_number_past_pythons_digit_limit(capsys, write_config, tmp_path):
    text = one_year(gpu="9" * 5000)
    refused(capsys, write_config, tmp_path, text, "holds a whole number too long to read "
            "(line 8)", "sensible magnitude")


@pytest.mark.parametrize("years, key, rule", [
    (f"[2024, {DIGITS_400}]", "scenario.years[1]", "must be a year from 1000 to 9999"),
    ("[-5, 2026]", "scenario.years[0]", "must be a year from 1000 to 9999"),
])
def test_absurd_years(capsys, write_config, tmp_path, years, key, rule):
    refused(capsys, write_config, tmp_path, vintage(years=years), f"{key}: ", rule)


@pytest.mark.parametrize("year, fix", [
    ("\\uff12\\uff10\\uff12\\uff14", "Write 2024."),   # full-width digits
    ("\\u00b2", "in ASCII digits"),                       # a superscript two: int() fails
    (DIGITS_400, "in ASCII digits"),
    ("02024", "Write 2024."),
])
def test_year_keys_that_are_not_years(capsys, write_config, tmp_path, year, fix):
    text = vintage().replace("gpu_spend = 100", f'gpu_spend = {{ "{year}" = 100 }}')
    refused(capsys, write_config, tmp_path, text, "inputs.gpu_spend.", "is not written as a year",
            fix)


@pytest.mark.parametrize("kw, key, rule", [
    (dict(gpu="inf"), "inputs.gpu_spend", "must be finite"),
    (dict(gpu="1e309"), "inputs.gpu_spend", "must be finite"),
    (dict(gpu="nan"), "inputs.gpu_spend", "must be finite"),
    (dict(margin='{ dist = "uniform", min = 0.1, max = nan }'), "inputs.margin.max",
     "must be finite"),
    (dict(revenue="A = -inf"), "revenue.A", "must be finite"),
    (dict(scenario="quantiles = [nan]"), "scenario.quantiles[0]", "strictly between 0 and 1"),
    (dict(scenario="quantiles = [inf]"), "scenario.quantiles[0]", "strictly between 0 and 1"),
    (dict(extra="[sweep]\nmargin = [0.3, nan]"), None, None),
])
def test_inf_and_nan(capsys, write_config, tmp_path, kw, key, rule):
    if key is None:  # a swept nan is the sweep command's to refuse
        sc = engine.loads(one_year(**kw))
        with pytest.raises(ConfigError, match=r"sweep\.margin\[1\]: must be a finite number"):
            check_sweep_table(sc)
        return
    refused(capsys, write_config, tmp_path, one_year(**kw), f"{key}: ", rule)


@pytest.mark.parametrize("value", ["inf", "nan", "1e400", "-inf"])
def test_inf_and_nan_trials_and_seed(capsys, write_config, tmp_path, value):
    for line, key in ((f"trials = {value}\nseed = 5", "scenario.trials"),
                      (f"trials = 2000\nseed = {value}", "scenario.seed")):
        text = one_year().replace("trials = 2000\nseed = 5", line)
        refused(capsys, write_config, tmp_path, text, f"{key}: ", "must be a whole number")


def test_every_bundled_config_still_loads(configs):
    for path in sorted(configs.glob("*.toml")):
        assert isinstance(engine.load_config(path), engine.Scenario), path
