"""Every bundled config's result and two sweeps are bit-identical to the stored digests
(tests/golden.py says what a digest covers, how to regenerate them, and what is compared under
another toolchain than the one they were made with)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from golden import CASES, CROSS_RTOL, GOLDEN, digest, kept_values, run_case, toolchain

STORED = json.loads(GOLDEN.read_text(encoding="utf-8"))
SAME_TOOLCHAIN = STORED["toolchain"] == toolchain()


def test_every_case_has_a_stored_digest():
    assert sorted(STORED["cases"]) == sorted(name for name, *_ in CASES)


@pytest.mark.parametrize("name, config, kind, trials, seed", CASES, ids=[c[0] for c in CASES])
def test_result_is_identical_to_the_golden_one(name, config, kind, trials, seed):
    ds = run_case(config, kind, trials, seed)
    gold = STORED["cases"][name]
    hint = (f"{name}: the numbers changed. If that is intended, run `python tests/golden.py` "
            "and say which results changed and why.")
    if SAME_TOOLCHAIN:
        assert digest(ds) == gold["digest"], hint
        return
    # Another numba/LLVM/numpy/scipy: the kept values, counts exactly, floats to CROSS_RTOL.
    if gold["importance"]:
        pytest.skip("importance sampling's design point moves with scipy.optimize's version: "
                    f"compared bit for bit only under {STORED['toolchain']}")
    now = kept_values(ds)
    assert sorted(now) == sorted(gold["values"]), hint
    for var, want in gold["values"].items():
        got = now[var]
        if np.asarray(ds[var].values).dtype.kind in "iu":
            assert got == want, f"{hint} ({var})"
            continue
        a = np.array([np.nan if v is None else v for v in got], dtype=float)
        b = np.array([np.nan if v is None else v for v in want], dtype=float)
        np.testing.assert_allclose(a, b, rtol=CROSS_RTOL, atol=0, equal_nan=True,
                                   err_msg=f"{hint} ({var})")


def test_digest_sees_one_bit():
    import xarray as xr

    a = xr.Dataset({"x": ("t", np.array([1.0, 2.0]))})
    b = xr.Dataset({"x": ("t", np.array([1.0, np.nextafter(2.0, 3.0)]))})
    assert digest(a) != digest(b) and digest(a) == digest(a.copy(deep=True))
