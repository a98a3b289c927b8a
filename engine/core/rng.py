"""Counter-based random numbers: Philox4x32-10 in numba, vectorised over trials.

Every uniform the engine uses is a pure function of four numbers, so a kernel holds no RNG
state, results do not depend on threads, chunk sizes or workers, and any trial can be
recomputed alone.

Trial -> uniform mapping (the contract the kernel relies on)
-------------------------------------------------------------
The uniform for ``(seed, stream, trial i, purpose p)`` is::

    g = i // 2                                   # one Philox block serves two trials
    w = stream ^ (p * 0x9E3779B97F4A7C15 mod 2**64)
    y0, y1, y2, y3 = philox4x32_10(ctr=(g mod 2**32, g >> 32, w mod 2**32, w >> 32),
                                   key=(seed mod 2**32, seed >> 32))
    x = y0 + 2**32 * y1  if i is even  else  y2 + 2**32 * y3
    u = uniform53(x) = ((x >> 12) + 0.5) * 2**-52          # in (0, 1), never 0 or 1

- ``seed``: the user's seed, an unsigned 64-bit integer (0 .. 2**64 - 1): the whole 64-bit key.
- ``stream``: :func:`stream_id` of the input's *name* (``"gpu_spend"``, ``"revenue.Microsoft"``),
  so pinning one input, adding a company or reordering the config leaves every other input's
  draws unchanged.
- ``purpose``: 0 for the main run (then ``w == stream``); other values are reserved (pilot runs,
  second passes that must use different draws, ...). The odd multiplier makes ``p -> w`` a
  bijection for each stream.
- ``i``: the trial index, 0 .. 2**64 - 1.

In words: the 128-bit counter is (trial pair, stream word) and the 64-bit key is the seed; the
128 output bits are read as two little-endian 64-bit words, one per trial.

:func:`uniform2` gives the two uniforms of one pair of trials (scalar code: ``engine.trace``);
:func:`fill_uniforms` fills a run of trials at once, vectorised (the kernel);
:func:`uniforms` gives any range of trials as an array (the NumPy reference model and tests).

Generator
---------
:func:`philox4x32_10` is word for word the Random123 Philox4x32 with 10 rounds (tested against
Random123's known-answer vectors and an independent pure-Python implementation). Why 4x32 and not
the 4x64 variant that :class:`numpy.random.Philox` implements: a 64x64->128-bit multiply has no
SIMD instruction on x86 (AVX2), so Philox4x64 runs one block at a time, latency-bound (3.8 ns per
uniform on this project's reference machine), while Philox4x32's 32x32->64-bit multiplies map to
``vpmuludq``, four at a time, and LLVM vectorises :func:`fill_uniforms` across trials
(about 1.5 ns per uniform, same machine; ``benchmarks/`` measures it). Both pass BigCrush with
10 rounds (Salmon et al., SC'11).

Dependency rule: numpy, numba (with its llvmlite, for a bitcast) and the standard library only.
"""

from __future__ import annotations

import hashlib
import operator

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from distributions._jitcache import CACHE

__all__ = [
    "philox4x32_10",
    "uniform53",
    "uniform2",
    "uniform4",
    "fill_uniforms",
    "uniforms",
    "stream_id",
    "stream_word",
    "raw_block",
    "PAIR_SCRATCH",
]

_U64_MAX = 2**64 - 1

# Philox4x32 multipliers and Weyl key increments (Random123 philox.h).
_M0 = np.uint32(0xD2511F53)
_M1 = np.uint32(0xCD9E8D57)
_W0 = np.uint32(0x9E3779B9)
_W1 = np.uint32(0xBB67AE85)
#: Multiplier that spreads ``purpose`` over the stream word (2**64 / golden ratio, odd).
_PURPOSE_MUL = np.uint64(0x9E3779B97F4A7C15)

# Literals as unsigned: numba promotes uint64 (op) int64 to float64, which would silently
# destroy the low bits.
_U1 = np.uint64(1)
_U12 = np.uint64(12)
_U32 = np.uint64(32)
_MASK32 = np.uint64(0xFFFFFFFF)
_ONE_BITS = np.uint64(0x3FF0000000000000)  # bit pattern of 1.0
_ONE_MINUS_HALF_ULP = 1.0 - 2.0**-53
_TWO_M52 = 2.0**-52

#: Trials per call of the vectorised core of :func:`fill_uniforms`: the size of the scratch
#: array it needs is ``uint32[4, PAIR_SCRATCH]`` (one column per pair of trials).
PAIR_SCRATCH = 2048


# ---------------------------------------------------------------------------------------------
# Philox4x32-10
# ---------------------------------------------------------------------------------------------


@njit(inline="always")
def _mulhilo32(m, c):
    # 32 x 32 -> 64-bit product as (hi, lo); a multiply of two zero-extended 32-bit values is
    # what LLVM lowers to vpmuludq when the loop is vectorised.
    p = np.uint64(m) * np.uint64(c)
    return np.uint32(p >> _U32), np.uint32(p)


@njit(inline="always")
def _philox10(c0, c1, c2, c3, k0, k1):
    # Random123 philox4x32round, 10 rounds; the key is bumped by the Weyl constants before
    # every round but the first. All values uint32 (wrapping arithmetic).
    for r in range(10):  # constant trip count: LLVM unrolls it
        if r > 0:
            k0 = np.uint32(k0 + _W0)
            k1 = np.uint32(k1 + _W1)
        hi0, lo0 = _mulhilo32(_M0, c0)
        hi1, lo1 = _mulhilo32(_M1, c2)
        c0, c1, c2, c3 = np.uint32(hi1 ^ c1 ^ k0), lo1, np.uint32(hi0 ^ c3 ^ k1), lo0
    return c0, c1, c2, c3


@njit
def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """One Philox4x32-10 block: 4 x 32 random bits from a 128-bit counter and a 64-bit key.

    Pure and allocation-free: 20 32x32->64-bit multiplies and some xors.

    Parameters
    ----------
    c0, c1, c2, c3 : uint32 (any integer type, reduced modulo 2**32)
        Counter words, least significant first.
    k0, k1 : uint32 (any integer type, reduced modulo 2**32)
        Key words, least significant first.

    Returns
    -------
    tuple of 4 uint32
        The block, equal to Random123 ``philox4x32_R(10, ctr, key)``.
    """
    return _philox10(np.uint32(c0), np.uint32(c1), np.uint32(c2), np.uint32(c3),
                     np.uint32(k0), np.uint32(k1))


# ---------------------------------------------------------------------------------------------
# Bits -> uniforms and the trial mapping
# ---------------------------------------------------------------------------------------------


@intrinsic
def _bits_to_f64(typingctx, x):
    """Reinterpret a uint64's bits as a float64 (a no-op bitcast in LLVM; vectorises)."""
    if x != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.uint64), codegen


@njit(inline="always")
def _u53(x):
    # uniform53 without an int->float conversion (AVX2 has no vector one for 64-bit ints):
    # the bits 0x3FF | (x >> 12) are the double 1 + (x >> 12) 2**-52, exactly, and subtracting
    # 1 - 2**-53 gives (x >> 12) 2**-52 + 2**-53 exactly (an odd multiple of 2**-53 < 1, so
    # representable): the same value as ((x >> 12) + 0.5) * 2**-52.
    return _bits_to_f64((x >> _U12) | _ONE_BITS) - _ONE_MINUS_HALF_ULP


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
    return _u53(np.uint64(x))


@njit(inline="always")
def _pair_bits(lo, hi):
    # Two 32-bit words as one little-endian 64-bit word.
    return (np.uint64(hi) << _U32) | np.uint64(lo)


@njit(inline="always")
def philox64(ctr, word, seed):
    """The Philox4x32-10 block of counter (``ctr``, ``word``) under key ``seed``, each a 64-bit
    value split into its low and high 32-bit words: a tuple of 4 uint32."""
    ctr = np.uint64(ctr)
    word = np.uint64(word)
    seed = np.uint64(seed)
    return _philox10(np.uint32(ctr), np.uint32(ctr >> _U32), np.uint32(word),
                     np.uint32(word >> _U32), np.uint32(seed), np.uint32(seed >> _U32))


@njit
def stream_word(stream, purpose):
    """Counter words 2-3 of an input's stream for a purpose: ``stream ^ (purpose * C)``."""
    return np.uint64(stream) ^ (np.uint64(purpose) * _PURPOSE_MUL)


@njit
def uniform2(seed, word, pair):
    """The uniforms of trials ``2*pair`` and ``2*pair + 1`` of one stream.

    Parameters
    ----------
    seed : uint64
        User seed (the Philox key).
    word : uint64
        :func:`stream_word` of the input's stream and the purpose (counter words 2-3).
    pair : uint64
        Trial index // 2 (counter words 0-1).

    Returns
    -------
    tuple of 2 float64
        ``(u(2*pair), u(2*pair + 1))``, each in (0, 1).
    """
    y0, y1, y2, y3 = philox64(pair, word, seed)
    return _u53(_pair_bits(y0, y1)), _u53(_pair_bits(y2, y3))


@njit
def uniform4(seed, stream, group, purpose):
    """The uniforms of trials ``4*group .. 4*group + 3`` of ``(stream, purpose)``.

    Kept for kernels written against the Philox4x64 API (one block served 4 trials); under
    Philox4x32 it is two :func:`uniform2` blocks, so it follows the contract above.
    """
    word = stream_word(stream, purpose)
    pair = np.uint64(group) << _U1
    a, b = uniform2(seed, word, pair)
    c, d = uniform2(seed, word, pair + _U1)
    return a, b, c, d


@njit(inline="always")
def fill_uniforms(seed, word, first, m, u, w):
    """``u[0:m]`` = the uniforms of trials ``first .. first + m - 1`` of one stream.

    The kernel's generator: the Philox rounds run over ``(m + 1) // 2`` trial pairs in one loop
    that LLVM vectorises (words go to the scratch ``w``), then a second loop turns word pairs
    into uniforms.

    Parameters
    ----------
    seed, word : uint64
        The key and :func:`stream_word`.
    first : int
        First trial; must be even.
    m : int
        Number of trials, ``0 <= m <= 2 * w.shape[1]`` and ``m <= u.shape[0]``.
    u : float64[>= m]
        Output.
    w : uint32[4, >= (m + 1) // 2]
        Scratch.
    """
    seed = np.uint64(seed)
    word = np.uint64(word)
    k0 = np.uint32(seed)
    k1 = np.uint32(seed >> _U32)
    s0 = np.uint32(word)
    s1 = np.uint32(word >> _U32)
    g0 = np.uint64(first) >> _U1
    n_pairs = (m + 1) // 2
    for g in range(n_pairs):
        pair = g0 + np.uint64(g)
        y0, y1, y2, y3 = _philox10(np.uint32(pair), np.uint32(pair >> _U32), s0, s1, k0, k1)
        w[0, g] = y0
        w[1, g] = y1
        w[2, g] = y2
        w[3, g] = y3
    for g in range(m // 2):
        u[2 * g] = _u53(_pair_bits(w[0, g], w[1, g]))
        u[2 * g + 1] = _u53(_pair_bits(w[2, g], w[3, g]))
    if m % 2:
        g = m // 2
        u[m - 1] = _u53(_pair_bits(w[0, g], w[1, g]))


@njit
def _fill_any(seed, word, first, out):
    # Any first (even or odd) and length: an odd head from one block, then whole pieces.
    # (unsigned literals only: numba turns uint64 (op) int64 into float64)
    n = out.shape[0]
    first = np.uint64(first)
    w = np.empty((4, PAIR_SCRATCH), dtype=np.uint32)
    k = 0
    if (first & _U1) == _U1 and n > 0:
        out[0] = uniform2(seed, word, first >> _U1)[1]
        k = 1
    while k < n:
        m = min(n - k, 2 * PAIR_SCRATCH)
        fill_uniforms(seed, word, first + np.uint64(k), m, out[k:k + m], w)
        k += m


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
    module docstring), for any ``first``, even or odd.

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
        word = (stream ^ (purpose * int(_PURPOSE_MUL))) & _U64_MAX
        _fill_any(np.uint64(seed), np.uint64(word), np.uint64(first), out)
    return out


def raw_block(counter: tuple[int, int, int, int], key: tuple[int, int]) -> np.ndarray:
    """One Philox4x32-10 block from Python integers (for tests and debugging).

    Parameters
    ----------
    counter : tuple of 4 int
        Counter words ``(c0, c1, c2, c3)``, least significant first, each 0 .. 2**32 - 1.
    key : tuple of 2 int
        Key words ``(k0, k1)``, least significant first, each 0 .. 2**32 - 1.

    Returns
    -------
    numpy.ndarray
        uint32 of shape ``(4,)``.
    """
    if len(counter) != 4 or len(key) != 2:
        raise ValueError(
            f"counter needs 4 words and key 2 words, got {len(counter)} and {len(key)}"
        )
    words = []
    for j, w in enumerate(list(counter) + list(key)):
        name = f"counter[{j}]" if j < 4 else f"key[{j - 4}]"
        v = operator.index(w)
        if not 0 <= v < 2**32:
            raise ValueError(f"{name} must be in 0 .. 2**32 - 1 (a 32-bit word), got {v}")
        words.append(np.uint32(v))
    return np.array(philox4x32_10(*words), dtype=np.uint32)


def stream_id(name: str) -> int:
    """Stream number (Philox counter words 2-3) of an input, derived from its name.

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


@njit(nogil=True, cache=CACHE)
def _floor_fill(seed, n_streams, first, n, sub):
    """The generator alone, as the kernel drives it: ``n_streams`` streams x trials
    ``first .. first + n - 1`` in sub-blocks of ``sub`` (the benchmarks' floor). Returns a
    checksum so the work cannot be optimised away."""
    u = np.empty(sub)
    w = np.empty((4, sub // 2), dtype=np.uint32)
    acc = 0.0
    for s0 in range(first, first + n, sub):
        m = min(sub, first + n - s0)
        for j in range(n_streams):
            fill_uniforms(seed, np.uint64(j), s0, m, u, w)
            acc += u[0]
    return acc
