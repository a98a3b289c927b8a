"""Tests of engine.rng: bit-exact streams, known answers, the trial mapping, goodness of fit."""

from __future__ import annotations

import hashlib
import math
import platform

import numpy as np
import pytest
from numba import njit
from numpy.testing import assert_array_equal
from scipy import stats

from engine.core import rng

U64 = 2**64 - 1
U32 = 2**32 - 1


def _uniform_ref(raw: np.ndarray) -> np.ndarray:
    # Independent NumPy statement of uniform53 (vectorised, not the jitted code).
    return ((raw >> np.uint64(12)).astype(np.float64) + 0.5) * 2.0**-52


# ---------------------------------------------------------------------------------------------
# 1. An independent reference: Philox in plain Python integers, from the Random123 paper
#    (Salmon et al., SC'11) and philox.h. Generic in word size and rounds, so the same code is
#    checked against numpy.random.Philox (4x64-10) and Random123's known answers (4x32 and 4x64,
#    7 and 10 rounds) before it is used to check ours.
# ---------------------------------------------------------------------------------------------

_PHILOX_CONSTANTS = {
    32: ((0xD2511F53, 0xCD9E8D57), (0x9E3779B9, 0xBB67AE85)),
    64: ((0xD2E7470EE14C6C93, 0xCA5A826395121157), (0x9E3779B97F4A7C15, 0xBB67AE8584CAA73B)),
}


def philox4_ref(counter, key, width=32, rounds=10):
    (m0, m1), (w0, w1) = _PHILOX_CONSTANTS[width]
    mask = (1 << width) - 1
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for r in range(rounds):
        if r:
            k0, k1 = (k0 + w0) & mask, (k1 + w1) & mask
        p0, p1 = m0 * c0, m1 * c2
        c0, c1, c2, c3 = ((p1 >> width) ^ c1 ^ k0, p1 & mask, (p0 >> width) ^ c3 ^ k1,
                          p0 & mask)
    return c0, c1, c2, c3


# Random123 tests/kat_vectors (github.com/DEShawResearch/random123): name, rounds, counter,
# key, expected; words least significant first.
KAT = [
    (32, 7, (0, 0, 0, 0), (0, 0), (0x5F6FB709, 0x0D893F64, 0x4F121F81, 0x4F730A48)),
    (32, 7, (U32, U32, U32, U32), (U32, U32), (0x5207DDC2, 0x45165E59, 0x4D8EE751, 0x8C52F662)),
    (32, 7, (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0x4DFCCABA, 0x190A87F0, 0xC47362BA, 0xB6B5242A)),
    (32, 10, (0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    (32, 10, (U32, U32, U32, U32), (U32, U32), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (32, 10, (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
    (64, 7, (0, 0, 0, 0), (0, 0),
     (0x5DC8EE6268EC62CD, 0x139BC570B6C125A0, 0x84D6DEB4FB65F49E, 0xAFF7583376D378C2)),
    (64, 10, (0, 0, 0, 0), (0, 0),
     (0x16554D9ECA36314C, 0xDB20FE9D672D0FDC, 0xD7E772CEE186176B, 0x7E68B68AEC7BA23B)),
    (64, 10, (U64, U64, U64, U64), (U64, U64),
     (0x87B092C3013FE90B, 0x438C3C67BE8D0224, 0x9CC7D7C69CD777B6, 0xA09CAEBF594F0BA0)),
    (64, 10, (0x243F6A8885A308D3, 0x13198A2E03707344, 0xA4093822299F31D0, 0x082EFA98EC4E6C89),
     (0x452821E638D01377, 0xBE5466CF34E90C6C),
     (0xA528F45403E61D95, 0x38C72DBD566E9788, 0xA5A1610E72FD18B5, 0x57BD43B5E52B7FE6)),
]  # fmt: skip


@pytest.mark.parametrize("width,rounds,counter,key,expected", KAT)
def test_reference_reproduces_random123_known_answers(width, rounds, counter, key, expected):
    assert philox4_ref(counter, key, width, rounds) == expected


def test_reference_reproduces_numpy_philox4x64():
    # numpy increments its 256-bit counter before each block: block j of
    # Philox(counter=c, key=k) is philox(c + 1 + j, k).
    rs = np.random.default_rng(20240601)
    for _ in range(20):
        c = int.from_bytes(rs.bytes(32), "little")
        k = int.from_bytes(rs.bytes(16), "little")
        raw = np.random.Philox(counter=c, key=k).random_raw(8)
        for j in range(2):
            cc = (c + 1 + j) % 2**256
            words = tuple((cc >> (64 * i)) & U64 for i in range(4))
            kw = (k & U64, k >> 64)
            assert tuple(int(x) for x in raw[4 * j:4 * j + 4]) == philox4_ref(words, kw, 64, 10)


# ---------------------------------------------------------------------------------------------
# 2. Our numba Philox4x32-10, word for word
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", [c for c in KAT if c[0] == 32 and c[1] == 10],
                         ids=lambda c: f"ctr={c[2][0]:x}")
def test_random123_known_answers(case):
    _, _, counter, key, expected = case
    assert tuple(int(x) for x in rng.raw_block(counter, key)) == expected


def test_blocks_equal_reference_on_random_and_edge_inputs():
    rs = np.random.default_rng(7)
    cases = [((0, 0, 0, 0), (0, 0)), ((U32, U32, U32, U32), (U32, U32)),
             ((1, 0, 0, 0), (0, 1)), ((0, 0, 0, 1 << 31), (1 << 31, 0))]
    for _ in range(500):
        w = [int(x) for x in rs.integers(0, 2**32, 6, dtype=np.uint64)]
        cases.append((tuple(w[:4]), tuple(w[4:])))
    for counter, key in cases:
        got = tuple(int(x) for x in rng.raw_block(counter, key))
        assert got == philox4_ref(counter, key), (counter, key)


def test_raw_block_validates_words():
    with pytest.raises(ValueError, match="counter needs 4 words"):
        rng.raw_block((0, 0, 0), (0, 0))
    with pytest.raises(ValueError, match="a 32-bit word"):
        rng.raw_block((2**32, 0, 0, 0), (0, 0))


def _contract(seed: int, stream: int, trial: int, purpose: int = 0) -> float:
    # The trial -> uniform mapping of engine.core.rng's docstring, with the pure-Python reference.
    g = trial // 2
    w = stream ^ ((purpose * 0x9E3779B97F4A7C15) & U64)
    y = philox4_ref((g & U32, g >> 32, w & U32, w >> 32), (seed & U32, seed >> 32))
    x = y[0] | (y[1] << 32) if trial % 2 == 0 else y[2] | (y[3] << 32)
    return ((x >> 12) + 0.5) * 2.0**-52


# ---------------------------------------------------------------------------------------------
# 4. uniform53
# ---------------------------------------------------------------------------------------------


def test_uniform53_extremes_and_grid():
    lo = rng.uniform53(np.uint64(0))
    hi = rng.uniform53(np.uint64(U64))
    assert lo == 2.0**-53
    assert hi == 1.0 - 2.0**-53
    assert 0.0 < lo and hi < 1.0
    # the step between adjacent outputs is 2**-52 everywhere, also just above and below 1/2
    step = np.uint64(1 << 12)
    mid = np.uint64(1 << 63)
    assert rng.uniform53(mid) - rng.uniform53(mid - step) == 2.0**-52
    assert rng.uniform53(mid) == 0.5 + 2.0**-53


def test_uniform53_outputs_are_exact_odd_multiples():
    raw = np.random.Philox(counter=0, key=3).random_raw(20_000)
    raw[:4] = [0, U64, 1 << 63, (1 << 63) - 1]
    u = np.array([rng.uniform53(x) for x in raw[:200]])
    assert_array_equal(u, _uniform_ref(raw[:200]))
    m = u * 2.0**53  # exact scaling
    assert np.all(m == np.round(m)) and np.all(np.mod(m, 2) == 1)
    assert np.all((u > 0) & (u < 1))
    # antithetic partner is on the same grid and exact: 1 - u(x) == u(~x)
    assert_array_equal(1.0 - u, _uniform_ref(~raw[:200]))


def test_why_not_53_bits():
    # The 53-bit variant ((x >> 11) + 0.5) * 2**-53 rounds to exactly 1.0 at the top: the
    # reason uniform53 keeps 52 bits (see its docstring).
    assert ((2**53 - 1) + 0.5) * 2.0**-53 == 1.0


# ---------------------------------------------------------------------------------------------
# 5. Trial mapping
# ---------------------------------------------------------------------------------------------

SEED = 20240601
STREAM = rng.stream_id("gpu_spend")


def test_pieces_with_odd_boundaries_concatenate():
    whole = rng.uniforms(SEED, STREAM, 0, 1000)
    cuts = [0, 3, 8, 9, 10, 11, 17, 64, 65, 401, 402, 999, 1000]
    pieces = [rng.uniforms(SEED, STREAM, a, b - a) for a, b in zip(cuts[:-1], cuts[1:])]
    assert_array_equal(np.concatenate(pieces), whole)
    for i in [0, 1, 2, 3, 4, 5, 498, 999]:
        assert rng.uniforms(SEED, STREAM, i, 1)[0] == whole[i]


@pytest.mark.parametrize("trial", [0, 1, 7, 10**12 + 3, 2**63 + 5, 2**64 - 1])
@pytest.mark.parametrize("purpose", [0, 3])
def test_single_trial_follows_documented_contract(trial, purpose):
    assert rng.uniforms(SEED, STREAM, trial, 1, purpose=purpose)[0] == _contract(
        SEED, STREAM, trial, purpose)


def test_many_trials_follow_documented_contract():
    # Every trial of a run of 3,000 (odd start, big seed), against the pure-Python statement.
    seed, first, n = 2**64 - 12345, 10**9 + 1, 3000
    got = rng.uniforms(seed, STREAM, first, n, purpose=0)
    want = np.array([_contract(seed, STREAM, first + i) for i in range(n)])
    assert_array_equal(got, want)


def test_last_trials_of_the_index_space():
    tail = rng.uniforms(SEED, STREAM, 2**64 - 6, 6)
    want = [_contract(SEED, STREAM, 2**64 - 6 + i) for i in range(6)]
    assert_array_equal(tail, want)
    with pytest.raises(ValueError, match="first \\+ n <= 2\\*\\*64"):
        rng.uniforms(SEED, STREAM, 2**64 - 6, 7)


@njit
def _kernel_like(seed, word, first, n, sub, out):
    # Called as the kernel does: sub-blocks of `sub` (even) trials at even offsets, one scratch.
    w = np.empty((4, rng.PAIR_SCRATCH), dtype=np.uint32)
    u = np.empty(sub)
    for s0 in range(0, n, sub):
        m = min(sub, n - s0)
        rng.fill_uniforms(seed, word, first + s0, m, u, w)
        out[s0:s0 + m] = u[:m]


@pytest.mark.parametrize("sub", [2, 128, 256, 4094])
def test_kernel_generator_matches_uniforms(sub):
    n = 10_001
    out = np.empty(n)
    word = rng.stream_word(np.uint64(STREAM), np.uint64(5))
    _kernel_like(np.uint64(SEED), word, 4096, n, sub, out)
    assert_array_equal(out, rng.uniforms(SEED, STREAM, 4096, n, purpose=5))


@njit
def _pairs(seed, word, n_pairs, out):
    for g in range(n_pairs):
        out[2 * g], out[2 * g + 1] = rng.uniform2(seed, word, g)


def test_uniform2_matches_uniforms():
    out = np.empty(400)
    _pairs(np.uint64(SEED), np.uint64(STREAM), 200, out)
    assert_array_equal(out, rng.uniforms(SEED, STREAM, 0, 400))


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86-64 assembly")
def test_generator_is_vectorised():
    # The point of Philox4x32: its 32x32->64-bit multiplies become vpmuludq/pmuludq, several
    # lanes at a time (a scalar build would be 2.5x slower; benchmarks/ measures it).
    out = np.empty(256)
    _kernel_like(np.uint64(1), np.uint64(2), 0, 256, 256, out)
    asm = "\n".join(_kernel_like.inspect_asm().values())
    assert "pmuludq" in asm


def test_streams_seeds_and_purposes_differ():
    base = rng.uniforms(SEED, STREAM, 0, 64)
    for other in [
        rng.uniforms(SEED + 1, STREAM, 0, 64),
        rng.uniforms(SEED, rng.stream_id("gpu_spend.2027"), 0, 64),
        rng.uniforms(SEED, STREAM, 0, 64, purpose=1),
    ]:
        assert not np.any(other == base)


def test_argument_validation():
    with pytest.raises(ValueError, match="seed must be in 0 .. 2\\*\\*64 - 1"):
        rng.uniforms(-1, STREAM, 0, 4)
    with pytest.raises(ValueError, match="stream"):
        rng.uniforms(0, 2**64, 0, 4)
    with pytest.raises(TypeError, match="seed must be an integer"):
        rng.uniforms(1.5, STREAM, 0, 4)
    assert rng.uniforms(np.uint64(SEED), np.int64(1), np.int32(0), 0).shape == (0,)


# ---------------------------------------------------------------------------------------------
# 6. stream_id
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["gpu_spend", "revenue.Microsoft", "revenue.Großbank", "gpu_spend.2027"]
)
def test_stream_id_formula(name):
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8, person=b"capexgap-stream")
    assert rng.stream_id(name) == int.from_bytes(digest.digest(), "little")


def test_stream_id_pinned():
    # Literal values: catch a change of `person`, digest size, encoding or byte order.
    assert rng.stream_id("gpu_spend") == 0x59C518593EEEA610
    assert rng.stream_id("revenue.Großbank") == 0xCDCCE857AF196B25
    with pytest.raises(TypeError):
        rng.stream_id(b"gpu_spend")


# ---------------------------------------------------------------------------------------------
# 7. Goodness of fit (fixed seed, so deterministic; thresholds stated)
# ---------------------------------------------------------------------------------------------

N_FIT = 1_000_000


def test_chi_square_uniform_1000_bins():
    alpha = 1e-3
    bins = 1000
    u = rng.uniforms(SEED, STREAM, 0, N_FIT)
    counts = np.bincount((u * bins).astype(np.int64), minlength=bins)
    assert counts.size == bins
    expected = N_FIT / bins
    stat = float(np.sum((counts - expected) ** 2) / expected)
    threshold = float(stats.chi2.ppf(1 - alpha, bins - 1))
    assert stat < threshold, f"chi2 = {stat:.1f} >= {threshold:.1f} (alpha={alpha}, df={bins - 1})"


def test_mean_within_k_standard_errors():
    k = 5.0
    u = rng.uniforms(SEED, STREAM, 0, N_FIT)
    se = math.sqrt(1 / 12 / N_FIT)  # ~2.9e-4: a meaningful bound
    assert abs(u.mean() - 0.5) < k * se, f"mean {u.mean()} vs 0.5 +- {k} * {se:.2e}"


@pytest.mark.parametrize(
    "other",
    [
        ("revenue.Google", SEED, 0),  # another name
        ("revenue.Microsoft", SEED + 1, 0),  # adjacent seed
        ("revenue.Microsoft", SEED, 1),  # another purpose
    ],
    ids=["name", "seed+1", "purpose"],
)
def test_streams_uncorrelated(other):
    k = 5.0  # |r| < k / sqrt(n): the SE of Pearson's r under independence is 1/sqrt(n)
    u = rng.uniforms(SEED, rng.stream_id("revenue.Microsoft"), 0, N_FIT)
    name, seed, purpose = other
    v = rng.uniforms(seed, rng.stream_id(name), 0, N_FIT, purpose=purpose)
    r = float(np.corrcoef(u, v)[0, 1])
    bound = k / math.sqrt(N_FIT)
    assert abs(r) < bound, f"r = {r:.2e}, bound {bound:.2e} (k={k}, n={N_FIT})"


@njit
def _quads(seed, stream, n_groups, purpose, out):
    for g in range(n_groups):
        out[4 * g], out[4 * g + 1], out[4 * g + 2], out[4 * g + 3] = rng.uniform4(
            seed, stream, g, purpose)


def test_uniform4_compatibility_matches_uniforms():
    # uniform4 (trials 4g .. 4g+3) is kept for kernels written against the earlier API.
    out = np.empty(400)
    _quads(np.uint64(SEED), np.uint64(STREAM), 100, np.uint64(3), out)
    assert_array_equal(out, rng.uniforms(SEED, STREAM, 0, 400, purpose=3))
