"""Counter-based random numbers: Philox4x64-10 in numba.

Every uniform the engine uses is a pure function of four numbers, so a kernel holds no RNG
state, results do not depend on threads, chunk sizes or workers, and any trial can be
recomputed alone.

Trial -> uniform mapping (the contract the kernel relies on)
-------------------------------------------------------------
The uniform for ``(seed, stream, trial i, purpose p)`` is::

    x = word (i % 4) of philox4x64_10(c0=i // 4, c1=p, c2=0, c3=0, k0=seed, k1=stream)
    u = uniform53(x) = ((x >> 12) + 0.5) * 2**-52        # in (0, 1), never 0 or 1

- ``seed``: the user's seed, an unsigned 64-bit integer (0 .. 2**64 - 1).
- ``stream``: :func:`stream_id` of the input's *name* (``"gpu_spend"``, ``"revenue.Microsoft"``),
  so pinning one input, adding a company or reordering the config leaves every other input's
  draws unchanged.
- ``purpose``: 0 for the main run; other values are reserved (pilot runs, second passes that
  must use different draws, ...).
- ``i``: the trial index, 0 .. 2**64 - 1.

:func:`uniform4` gives the four uniforms of one group of trials inside a kernel; :func:`uniforms`
gives any range of trials as an array (the NumPy reference model and the tests use it).

Generator
---------
:func:`philox4x64_10` is word for word the Random123 Philox4x64 with 10 rounds, which is also
what :class:`numpy.random.Philox` computes. numpy keeps the counter as 4 and the key as 2
little-endian uint64 words and increments the counter (with carry across words) *before* each
block, so ``np.random.Philox(counter=c, key=k).random_raw(4)`` equals
``philox4x64_10(*(c + 1), *k)``. The tests check this, and Random123's known-answer vectors.

Dependency rule: numpy, numba (with its llvmlite, for the i128 multiply) and the standard
library only.
"""

from __future__ import annotations

import hashlib
import operator

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

__all__ = [
    "mulhilo",
    "philox4x64_10",
    "uniform53",
    "uniform4",
    "uniforms",
    "stream_id",
    "raw_block",
]

_U64_MAX = 2**64 - 1

# Philox4x64 multipliers and Weyl key increments (Random123 philox.h; numpy's philox.h).
_M0 = np.uint64(0xD2E7470EE14C6C93)
_M1 = np.uint64(0xCA5A826395121157)
_W0 = np.uint64(0x9E3779B97F4A7C15)
_W1 = np.uint64(0xBB67AE8584CAA73B)

# Literals as uint64: numba promotes uint64 (op) int64 to float64, which would silently
# destroy the low bits.
_U0 = np.uint64(0)
_U1 = np.uint64(1)
_U2 = np.uint64(2)
_U3 = np.uint64(3)
_U12 = np.uint64(12)
_U32 = np.uint64(32)
_MASK32 = np.uint64(0xFFFFFFFF)
_TWO_M52 = 2.0**-52


# ---------------------------------------------------------------------------------------------
# 64 x 64 -> 128-bit multiply
# ---------------------------------------------------------------------------------------------


@intrinsic
def _mulhilo_i128(typingctx, a, b):
    """(lo, hi) of the 128-bit product of two uint64, as LLVM i128 arithmetic.

    zext/mul/lshr/trunc on i128 is the pattern LLVM lowers to one ``mul``/``mulx`` on x86-64
    (and ``mul``+``umulh`` on AArch64); the 32-bit split below needs four multiplies.
    """
    if a != types.uint64 or b != types.uint64:
        return None  # callers cast first (see mulhilo); anything else is a typing error
    sig = types.UniTuple(types.uint64, 2)(types.uint64, types.uint64)

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        i128 = ir.IntType(128)
        prod = builder.mul(builder.zext(args[0], i128), builder.zext(args[1], i128))
        lo = builder.trunc(prod, i64)
        hi = builder.trunc(builder.lshr(prod, ir.Constant(i128, 64)), i64)
        return context.make_tuple(builder, signature.return_type, (lo, hi))

    return sig, codegen


@njit
def mulhilo(a, b):
    """Full 128-bit product of two unsigned 64-bit integers.

    Parameters
    ----------
    a, b : uint64
        Factors (other integer types are cast to uint64, wrapping modulo 2**64).

    Returns
    -------
    lo, hi : uint64
        Low and high 64-bit words of ``a * b``.
    """
    return _mulhilo_i128(np.uint64(a), np.uint64(b))


@njit
def _mulhilo_split(a, b):
    """Reference 128-bit product by 32-bit halves (the portable path of numpy's philox.h).

    Only used to test :func:`mulhilo` against (four multiplies instead of one).
    """
    a = np.uint64(a)
    b = np.uint64(b)
    a_lo = a & _MASK32
    a_hi = a >> _U32
    b_lo = b & _MASK32
    b_hi = b >> _U32
    hh = a_hi * b_hi
    hl = a_hi * b_lo
    lh = a_lo * b_hi
    ll = a_lo * b_lo
    # Each partial product < 2**64, and the sum of three 32-bit pieces < 2**34: no overflow.
    carry = ((hl & _MASK32) + (lh & _MASK32) + (ll >> _U32)) >> _U32
    hi = hh + (hl >> _U32) + (lh >> _U32) + carry
    lo = ll + ((hl + lh) << _U32)  # wrapping sum: only its low 32 bits survive the shift
    return lo, hi


# ---------------------------------------------------------------------------------------------
# Philox4x64-10
# ---------------------------------------------------------------------------------------------


@njit
def _round(c0, c1, c2, c3, k0, k1):
    # One Philox S-box + P-box step; word order exactly as Random123/numpy _philox4x64round.
    lo0, hi0 = _mulhilo_i128(_M0, c0)
    lo1, hi1 = _mulhilo_i128(_M1, c2)
    return hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0


# Not inline="always": numba-IR inlining was measured faster in some caller loops (2.5 vs
# 3.3 ns/word) and 1.6x slower in others (LLVM unrolls the caller and spills registers).
@njit
def philox4x64_10(c0, c1, c2, c3, k0, k1):
    """One Philox4x64-10 block: 4 x 64 random bits from a 256-bit counter and 128-bit key.

    Pure and allocation-free: 20 one-instruction 64x64->128 multiplies and some xors.

    Parameters
    ----------
    c0, c1, c2, c3 : uint64
        Counter words, least significant first.
    k0, k1 : uint64
        Key words, least significant first.

    Returns
    -------
    tuple of 4 uint64
        The block, equal to Random123 ``philox4x64_R(10, ctr, key)``.
    """
    c0 = np.uint64(c0)
    c1 = np.uint64(c1)
    c2 = np.uint64(c2)
    c3 = np.uint64(c3)
    k0 = np.uint64(k0)
    k1 = np.uint64(k1)
    # Round 1 uses the key as given; each later round first bumps it by the Weyl constants.
    c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    for _ in range(9):  # constant trip count: LLVM unrolls it
        k0 += _W0
        k1 += _W1
        c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    return c0, c1, c2, c3


# ---------------------------------------------------------------------------------------------
# Bits -> uniforms and the trial mapping
# ---------------------------------------------------------------------------------------------


@njit
def uniform53(x):
    """Map 64 random bits to a float64 in the open interval (0, 1).

    ``u = ((x >> 12) + 0.5) * 2**-52``: the odd multiples of 2**-53, from 2**-53 to
    1 - 2**-53, each with probability 2**-52.

    Why 52 and not 53 bits: ``((x >> 11) + 0.5) * 2**-53`` would need 54 significant bits
    for ``u >= 0.5``; the addition rounds there, and ``x >> 11 == 2**53 - 1`` rounds to
    exactly 1.0 (an infinite quantile). With 52 bits every output is exact, never 0 or 1, and
    ``1 - u`` is again a grid point (antithetic pairs mirror exactly).

    Parameters
    ----------
    x : uint64
        Random bits; only the top 52 are used.

    Returns
    -------
    float64
        Uniform on the grid ``(2k + 1) * 2**-53``, ``k = 0 .. 2**52 - 1``.
    """
    # x >> 12 < 2**52: converting it (via int64: one signed cvtsi2sd) and adding 0.5 are exact,
    # and scaling by a power of two is exact.
    return (np.float64(np.int64(np.uint64(x) >> _U12)) + 0.5) * _TWO_M52


@njit
def uniform4(seed, stream, group, purpose):
    """The uniforms of trials ``4*group .. 4*group + 3`` of one stream.

    Parameters
    ----------
    seed : uint64
        User seed (Philox key word 0).
    stream : uint64
        :func:`stream_id` of the input's name (key word 1).
    group : uint64
        Trial index // 4 (counter word 0).
    purpose : uint64
        0 for the main run (counter word 1).

    Returns
    -------
    tuple of 4 float64
        ``(u(4*group), u(4*group + 1), u(4*group + 2), u(4*group + 3))``, each in (0, 1).
    """
    x0, x1, x2, x3 = philox4x64_10(group, purpose, _U0, _U0, seed, stream)
    return uniform53(x0), uniform53(x1), uniform53(x2), uniform53(x3)


@njit
def _fill_uniforms(seed, stream, first, purpose, out):
    # One block per group of 4 trials: a ragged head, whole groups, a ragged tail.
    seed = np.uint64(seed)
    stream = np.uint64(stream)
    purpose = np.uint64(purpose)
    first = np.uint64(first)
    n = out.shape[0]
    g = first >> _U2
    k = 0
    w = np.int64(first & _U3)
    if w != 0:
        blk = philox4x64_10(g, purpose, _U0, _U0, seed, stream)
        while w < 4 and k < n:
            out[k] = uniform53(blk[w])
            w += 1
            k += 1
        g += _U1  # wraps only after the last trial, when nothing is left to fill
    while k + 4 <= n:
        x0, x1, x2, x3 = philox4x64_10(g, purpose, _U0, _U0, seed, stream)
        out[k] = uniform53(x0)
        out[k + 1] = uniform53(x1)
        out[k + 2] = uniform53(x2)
        out[k + 3] = uniform53(x3)
        k += 4
        g += _U1
    if k < n:
        blk = philox4x64_10(g, purpose, _U0, _U0, seed, stream)
        for j in range(n - k):
            out[k + j] = uniform53(blk[j])


def _as_u64(value: int, name: str) -> int:
    """Validate a Python/numpy integer in 0 .. 2**64 - 1 and return it as int."""
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(
            f"{name} must be an integer in 0 .. 2**64 - 1, got {type(value).__name__} {value!r}"
        ) from None
    if not 0 <= v <= _U64_MAX:
        raise ValueError(
            f"{name} must be in 0 .. 2**64 - 1 (an unsigned 64-bit integer), got {v}; "
            f"reduce it modulo 2**64 if a larger value was intended"
        )
    return v


def uniforms(seed: int, stream: int, first: int, n: int, purpose: int = 0) -> np.ndarray:
    """Uniforms of trials ``first .. first + n - 1`` of one stream (the NumPy-side entry).

    Element ``j`` is exactly the value the kernel derives for trial ``first + j`` (see the
    module docstring), for any ``first``, aligned to 4 or not.

    Parameters
    ----------
    seed : int
        User seed, 0 .. 2**64 - 1.
    stream : int
        :func:`stream_id` of the input's name, 0 .. 2**64 - 1.
    first : int
        Index of the first trial, 0 .. 2**64 - 1.
    n : int
        Number of trials, ``n >= 0`` and ``first + n <= 2**64``.
    purpose : int, default 0
        0 for the main run; other values are reserved.

    Returns
    -------
    numpy.ndarray
        float64 of shape ``(n,)``, every value in the open interval (0, 1).
    """
    seed = _as_u64(seed, "seed")
    stream = _as_u64(stream, "stream")
    first = _as_u64(first, "first")
    purpose = _as_u64(purpose, "purpose")
    n = operator.index(n)
    if n < 0 or first + n > 2**64:
        raise ValueError(
            f"need 0 <= n and first + n <= 2**64 (trial indices are uint64), got first={first}, "
            f"n={n}"
        )
    out = np.empty(n, dtype=np.float64)
    if n:
        args = (np.uint64(seed), np.uint64(stream), np.uint64(first), np.uint64(purpose))
        _fill_uniforms(*args, out)
    return out


def raw_block(counter: tuple[int, int, int, int], key: tuple[int, int]) -> np.ndarray:
    """One Philox4x64-10 block from Python integers (for tests and debugging).

    Parameters
    ----------
    counter : tuple of 4 int
        Counter words ``(c0, c1, c2, c3)``, least significant first, each 0 .. 2**64 - 1.
    key : tuple of 2 int
        Key words ``(k0, k1)``, least significant first, each 0 .. 2**64 - 1.

    Returns
    -------
    numpy.ndarray
        uint64 of shape ``(4,)``.
    """
    if len(counter) != 4 or len(key) != 2:
        raise ValueError(
            f"counter needs 4 words and key 2 words, got {len(counter)} and {len(key)}"
        )
    c = [np.uint64(_as_u64(w, f"counter[{j}]")) for j, w in enumerate(counter)]
    k = [np.uint64(_as_u64(w, f"key[{j}]")) for j, w in enumerate(key)]
    return np.array(philox4x64_10(*c, *k), dtype=np.uint64)


def stream_id(name: str) -> int:
    """Stream number (Philox key word 1) of an input, derived from its name.

    Stable across processes, platforms and Python versions (unlike ``hash``): the first 8
    bytes, little-endian, of ``blake2b(name.encode("utf-8"), digest_size=8,
    person=b"capexgap-stream")``.

    Parameters
    ----------
    name : str
        Full input name, e.g. ``"gpu_spend"`` or ``"revenue.Microsoft"``.

    Returns
    -------
    int
        0 .. 2**64 - 1.
    """
    if not isinstance(name, str):
        raise TypeError(f"stream name must be a str, got {type(name).__name__} {name!r}")
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8, person=b"capexgap-stream")
    return int.from_bytes(digest.digest(), "little")
