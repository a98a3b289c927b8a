"""Raw pointers and the AVX-512 switch for the block kernels.

The block kernels take raw pointers, not arrays (see :func:`addr`), and pick between code
written for AVX-512's 8-lane vectors and plain loops by :data:`AVX512`.

Dependency rule: numba, llvmlite and the stdlib only.
"""

from __future__ import annotations

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic


@intrinsic
def addr(typingctx, arr):
    """Pointer to the first element of a C-contiguous array.

    Valid while the array lives, and numba frees an array right after the last use of its
    *name*: take the pointer in the expression that uses it (``f(addr(a))``), never keep it in
    a variable past the array's last use.

    The block kernels take raw pointers, not arrays: a call with array arguments costs an
    atomic refcount increment and decrement per array (tens of ns, per input per sub-block),
    and an ``inline="always"`` body instead is recompiled inside every caller (the kernel's
    cold compile doubled). Pointers are free to pass and let each block kernel compile once.
    """
    if not (isinstance(arr, types.Array) and arr.layout == "C"):
        raise TypingError(f"addr needs a C-contiguous array, got {arr}")
    sig = types.CPointer(arr.dtype)(arr)

    def codegen(context, builder, sig, args):
        return context.make_array(sig.args[0])(context, builder, value=args[0]).data

    return sig, codegen


@intrinsic
def offset(typingctx, ptr, k):
    """``ptr + k`` elements (pointer arithmetic)."""
    if not (isinstance(ptr, types.CPointer) and isinstance(k, types.Integer)):
        return None
    sig = ptr(ptr, types.intp)

    def codegen(context, builder, sig, args):
        return builder.gep(args[0], [args[1]])

    return sig, codegen


def _host_has_avx512() -> bool:
    # The features LLVM compiles for, as numba picks them: NUMBA_CPU_FEATURES when set (e.g. a
    # portable cache), else the host's.
    from numba import config
    from numba.core.codegen import get_host_cpu_features
    feats = config.CPU_FEATURES if config.CPU_FEATURES is not None else get_host_cpu_features()
    return "+avx512f" in feats.split(",")


#: Whether LLVM compiles for AVX-512 here. Kernels then use code written for its 8-lane
#: vectors (:func:`ndtri_block`'s tail listing with ``vcompresspd``, the kernel's fold of the
#: outputs); elsewhere LLVM would expand those vectors into slower code, so other CPUs keep
#: the plain loops. The two give the same bits (tests run both).
AVX512 = _host_has_avx512()
#: float64 lanes of the vectors LLVM uses for the block kernels (AVX-512: 8, AVX2: 4).
VEC = 8 if AVX512 else 4


@njit(inline="always")
def list_flagged(x, m, idx, out, center, radius):
    """List the lanes ``i < m`` with ``not (|x[i] - center| <= radius)`` (nan included) in
    ``idx[0:n]``, increasing, with their values in ``out[0:n]``; return ``n``. Loops with no
    loop-carried state but the count, so that LLVM vectorises the flags: the flags, then the
    list compressed in place (``idx[n]`` is written only after ``idx[i >= n]`` is read), then
    the values gathered (the next loops then run on contiguous data)."""
    for i in range(m):
        idx[i] = not (abs(x[i] - center) <= radius)
    n = 0
    for i in range(m):
        f = idx[i]
        idx[n] = i
        n += f
    for k in range(n):
        out[k] = x[idx[k]]
    return n


@njit(inline="always")
def list_rest(x, lo, m, idx, out, n, center, radius):
    """:func:`list_flagged` one lane at a time for the lanes ``lo <= i < m`` (those after a
    vector compress's whole vectors), appended after the ``n`` listed; returns the new count."""
    for i in range(lo, m):
        xi = x[i]
        idx[n] = i
        out[n] = xi
        n += not (abs(xi - center) <= radius)
    return n


@njit(inline="always")
def pad_lanes(buf, n, m, value):
    """Set ``buf[n:]`` to a harmless ``value`` up to a whole number of vectors (at most ``m``
    lanes) and return that count: a vectorised loop over the first lanes of ``buf`` then has
    no scalar remainder (up to VEC - 1 scalar, latency-bound iterations per call otherwise)."""
    nv = min((n + VEC - 1) & -VEC, m)
    for k in range(n, nv):
        buf[k] = value
    return nv

_W = 8  # lanes of the compress: one 512-bit vector of float64


def _compress8(u, idx, zt, centre: float):
    """Type and code of :func:`compress_tail8` (``centre`` 0.5) and :func:`compress_abs8` (0)."""
    if not (isinstance(u, types.CPointer) and u.dtype == types.float64
            and isinstance(zt, types.CPointer) and zt.dtype == types.float64
            and isinstance(idx, types.CPointer) and idx.dtype == types.int64):
        return None
    sig = types.int64(u, types.int64, idx, zt, types.float64)

    def codegen(context, builder, signature, args):
        u_p, n_v, idx_p, zt_p, c_v = args
        mod = builder.module
        f64, i64, i32 = ir.DoubleType(), ir.IntType(64), ir.IntType(32)
        vd, vi = ir.VectorType(f64, _W), ir.VectorType(i64, _W)
        vm = ir.VectorType(ir.IntType(1), _W)
        fn = cgutils.get_or_insert_function
        fabs = fn(mod, ir.FunctionType(vd, [vd]), "llvm.fabs.v8f64")
        comp_d = fn(mod, ir.FunctionType(vd, [vd, vm, vd]), "llvm.experimental.vector.compress.v8f64")
        comp_i = fn(mod, ir.FunctionType(vi, [vi, vm, vi]), "llvm.experimental.vector.compress.v8i64")
        ctpop = fn(mod, ir.FunctionType(ir.IntType(8), [ir.IntType(8)]), "llvm.ctpop.i8")
        zeros = ir.Constant(ir.VectorType(i32, _W), [0] * _W)

        def splat(x, vt):
            v = builder.insert_element(ir.Constant(vt, ir.Undefined), x, ir.Constant(i32, 0))
            return builder.shuffle_vector(v, v, zeros)

        half = ir.Constant(vd, [centre] * _W)
        cv = splat(c_v, vd)
        lanes = ir.Constant(vi, list(range(_W)))
        nt = cgutils.alloca_once_value(builder, ir.Constant(i64, 0))
        with cgutils.for_range_slice(builder, ir.Constant(i64, 0), n_v, ir.Constant(i64, _W),
                                     intp=i64) as (i, _):
            v = builder.load(builder.bitcast(builder.gep(u_p, [i]), vd.as_pointer()), align=8)
            d = v if centre == 0.0 else builder.fsub(v, half)
            tail = builder.fcmp_unordered(">", builder.call(fabs, [d]), cv)
            k = builder.load(nt)
            builder.store(builder.call(comp_d, [v, tail, ir.Constant(vd, ir.Undefined)]),
                          builder.bitcast(builder.gep(zt_p, [k]), vd.as_pointer()), align=8)
            iv = builder.add(splat(i, vi), lanes)
            builder.store(builder.call(comp_i, [iv, tail, ir.Constant(vi, ir.Undefined)]),
                          builder.bitcast(builder.gep(idx_p, [k]), vi.as_pointer()), align=8)
            cnt = builder.call(ctpop, [builder.bitcast(tail, ir.IntType(8))])
            builder.store(builder.add(k, builder.zext(cnt, i64)), nt)
        return builder.load(nt)

    return sig, codegen


@intrinsic
def compress_tail8(typingctx, u, n, idx, zt, c):
    """Append the lanes ``i < n`` with ``not (|u[i] - 0.5| <= c)`` to ``idx`` (their index) and
    ``zt`` (their ``u``), in increasing order; return their number (``n`` a multiple of 8).

    Eight lanes at a time: a vector compare, ``llvm.experimental.vector.compress`` of the
    values and of the indices (``vcompresspd``/``vpcompressq`` into a register on AVX-512:
    their memory forms are microcoded and ~20x slower on AMD Zen 4), two full-width stores
    at ``idx + nt``/``zt + nt`` (lanes past the count are scratch, overwritten next), and a
    popcount of the mask. Writes stay below ``idx + n`` and ``zt + n``. Pointers as ``addr``.
    """
    return _compress8(u, idx, zt, 0.5)


@intrinsic
def compress_abs8(typingctx, z, n, idx, zt, c):
    """:func:`compress_tail8` for ``not (|z[i]| <= c)``: the lanes of normal scores outside
    ``[-c, c]`` (nan included)."""
    return _compress8(z, idx, zt, 0.0)


class ByAddress:
    """A jitted function handed to a kernel as a function pointer instead of being linked in.

    A kernel that takes a jitted function as an argument (numba's ``Dispatcher`` type) links
    the callee's code into its own and optimises and generates machine code for all of it
    again, in every caller and for every combination of callees, a large part of a cold
    start. Typed as a first-class function of the signature
    ``sig`` (numba's ``FunctionType``), the argument is the address of the callee's compiled
    code, looked up when the kernel is called: the kernel compiles once for any callee of that
    signature, and the callee once for itself (both cached on disk). A call through the
    pointer costs a few ns, once per sub-block.

    Parameters
    ----------
    dispatcher : numba Dispatcher
        The jitted function (compiled for ``sig`` on first use).
    sig : numba Signature
        Its exact signature, as the kernel calls it.
    """

    __slots__ = ("dispatcher", "sig", "_numba_type_")

    def __init__(self, dispatcher, sig):
        from numba.core.types import FunctionType
        self.dispatcher = dispatcher
        self.sig = sig
        self._numba_type_ = FunctionType(sig)

    def __wrapper_address__(self) -> int:
        # numba's protocol: the address of the C-callable wrapper of the compiled code
        # (looked up in this process on every call, so the object can travel to another).
        # _get_wrapper_address is numba's own lookup for first-class functions (private, but
        # there since numba 0.49; tests/test_fast_paths.py runs every kernel that uses it).
        from numba.experimental.function_type import _get_wrapper_address
        args = tuple(self.sig.args)
        if args not in self.dispatcher.overloads:
            # compiled (or loaded from the cache) by its argument types, as a call from another
            # kernel does: numba's cache files it under the form it was asked for, and with the
            # return type as well it would miss what such a call saved, and compile again
            self.dispatcher.compile(args)
        return _get_wrapper_address(self.dispatcher, self.sig)

    def __reduce__(self):
        return (ByAddress, (self.dispatcher, self.sig))
