"""Value probes: the facts about array values a backend choice may rest on.

The dispatcher's choice depends on values in three ways: non-finite values
veto FFT methods, integer sums beyond :func:`int_exact_limit` veto them too,
and only a rank-1 kernel runs on the separable path.  :class:`Probes` asks
each question at most once per call, and only when the choice depends on
it; the memoised plans of :mod:`numbaconv._plans` replay the answers.
"""
from __future__ import annotations

import math

import numpy as np

from ._jit import jit
from ._kernels.simd import block_zeros, fma_at

@jit
def _all_finite_ser(x):
    """No NaN/inf in the 1-D contiguous float array ``x``.

    ``0 * v`` is 0 for finite ``v`` and NaN otherwise, so one register block
    accumulates ``0 * x`` (packed FMAs at load speed); a NaN lane anywhere
    means a non-finite value.  Chunks of 64 Ki elements stop early.
    """
    n = x.shape[0]
    w = block_zeros(x).shape[0]
    zero = x.dtype.type(0)
    i = 0
    while i < n:
        acc = block_zeros(x)
        end = min(n, i + 65536)
        while i + w <= end:
            fma_at(acc, zero, x, i)
            i += w
        s = zero
        for j in range(w):
            s += acc[j]
        while i < end:
            s += zero * x[i]
            i += 1
        if s != s:
            return False
    return True


def all_finite(x) -> bool:
    """True when no element of the host array ``x`` is NaN or infinite (no temporaries).

    Examples
    --------
    >>> import numpy as np
    >>> from numbaconv._probes import all_finite
    >>> all_finite(np.array([1.0, 2.0])), all_finite(np.array([1.0, np.inf], ">c8"))
    (True, False)
    """
    x = np.asarray(x)
    if x.dtype.kind not in "fc" or x.size == 0:
        return True
    if not x.dtype.isnative or x.dtype.itemsize > (16 if x.dtype.kind == "c" else 8):
        return bool(np.isfinite(x).all())     # the compiled scan reads native single/double
    if x.dtype.kind == "c":
        x = np.ascontiguousarray(x).view(x.real.dtype)
    if x.dtype == np.float16 or not x.flags.c_contiguous:
        return bool(np.isfinite(x).all())
    # serial on purpose: it runs right before an FFT, and a parallel region's spinning
    # threads would slow scipy.fft's own workers (see numbaconv._jit)
    return bool(_all_finite_ser(x.reshape(-1)))


@jit
def _scan_ser(x):
    """``(max |x|, no NaN or inf)`` of the 1-D contiguous float array ``x``, in one pass.

    Per lane of a register block, the largest ``|x|`` so far and :func:`_all_finite_ser`'s
    ``0 * x`` sum (NaN for any non-finite value); a NaN is never the maximum, which the
    second answer reports instead.
    """
    n = x.shape[0]
    w = block_zeros(x).shape[0]
    zero = x.dtype.type(0)
    big = block_zeros(x)
    bad = block_zeros(x)
    i = 0
    while i + w <= n:
        fma_at(bad, zero, x, i)
        for j in range(w):
            v = abs(x[i + j])
            big[j] = v if v > big[j] else big[j]
        i += w
    m = zero
    s = zero
    for j in range(w):
        s += bad[j]
        m = big[j] if big[j] > m else m
    while i < n:
        v = x[i]
        s += zero * v
        v = abs(v)
        m = v if v > m else m
        i += 1
    return m, s == s


def scan(x):
    """``(bound of max |x|, finite)`` of a host float or complex array in one pass, or None
    where the compiled pass does not apply (other arrays, byte orders, strides, widths).
    Axes stepped backwards (an oriented kernel) are read forwards.

    One pass for what :func:`all_finite` and :func:`magnitude` read in three: 4.6 against
    12.2 ms on 4096² float64.  A complex array's bound is ``sqrt(2)`` times its largest
    part, as :func:`magnitude`'s is at most.

    Examples
    --------
    >>> import numpy as np
    >>> from numbaconv._probes import scan
    >>> scan(np.array([1.0, -3.0])), scan(np.array([1.0, np.nan]))[1]
    ((3.0, True), False)
    """
    if type(x) is not np.ndarray:
        return None
    if min(x.strides, default=0) < 0:    # a flipped kernel: neither answer depends on order
        x = x[tuple(slice(None, None, -1) if s < 0 else slice(None) for s in x.strides)]
    if (x.dtype.kind not in "fc" or not x.dtype.isnative
            or x.dtype.itemsize > (16 if x.dtype.kind == "c" else 8) or x.dtype == np.float16
            or not x.flags.c_contiguous or x.size == 0):
        return None
    flat = x.reshape(-1)
    if x.dtype.kind == "c":
        flat = flat.view(x.real.dtype)
    m, finite = _scan_ser(flat)
    m = float(m)
    return (math.hypot(m, m) if x.dtype.kind == "c" else m), bool(finite)


#: kernels larger than this (elements) are not tested for separability
MAX_KERNEL = 256 * 256


def rank1_factors(k):
    """``(u, v)`` with ``outer(u, v) == k`` to the dtype's precision, or None.

    The test is relative: ``s[1] <= s[0] * eps * sqrt(k.size)`` with ``eps``
    the machine epsilon of ``k``'s dtype, so that the two passes reproduce
    the direct result within that dtype's rounding.
    """
    k = np.asarray(k)
    if k.ndim != 2 or k.dtype.kind not in "fc" or k.size > MAX_KERNEL or min(k.shape) < 2:
        return None
    if not np.isfinite(k).all():
        return None
    work = k.astype(np.complex128 if k.dtype.kind == "c" else np.float64)
    try:
        u, s, vt = np.linalg.svd(work, full_matrices=False)
    except np.linalg.LinAlgError:
        return None
    if s[0] == 0:
        return None
    eps = np.finfo(k.dtype).eps
    if s[1] > s[0] * eps * np.sqrt(k.size):
        return None
    root = np.sqrt(s[0])
    col, _ = _symmetrised((u[:, 0] * root).astype(k.dtype))
    return col, (vt[0] * root).astype(k.dtype)


def _symmetrised(u):
    """``(u', True)`` with ``u'`` exactly symmetric where ``u`` is symmetric to its
    dtype's rounding (the SVD factor of a symmetric kernel is, to a few ulps),
    else ``(u, False)``.  ``u'`` differs from ``u`` by less than the
    factorisation's own error; exact symmetry keeps a symmetric kernel's
    result exactly as symmetric as SciPy's."""
    rev = u[::-1]
    eps = np.finfo(u.dtype).eps
    # the SVD leaves symmetric factors up to 1.4 eps * kh apart (float64); 4 eps * kh is a margin
    if np.abs(u - rev).max() > 4 * eps * len(u) * np.abs(u).max():
        return u, False
    return np.ascontiguousarray((u + rev) / 2, dtype=u.dtype), True


def near_rank1(k) -> bool:
    """Cheap necessary condition for rank 1 (O(size), no SVD).

    Eliminating with the largest element ``p`` at ``(i, j)`` leaves
    ``K - K[:, j] K[i, :] / p``, which is zero for a rank-1 kernel and of the
    order of the second singular value otherwise.  The tolerance is looser
    than :func:`rank1_factors`'s, so the test only turns away kernels that
    are far from rank 1 -- almost every kernel that is not separable -- before
    the SVD is paid for.
    """
    w = np.asarray(k, dtype=np.complex128 if np.asarray(k).dtype.kind == "c" else np.float64)
    i, j = np.unravel_index(np.argmax(np.abs(w)), w.shape)
    p = w[i, j]
    if p == 0 or not np.isfinite(p):
        return False
    resid = np.abs(w - np.outer(w[:, j], w[i, :] / p)).max()
    eps = np.finfo(np.asarray(k).dtype).eps
    return bool(resid <= 64 * eps * np.sqrt(w.size) * abs(p))


_FACTOR_CACHE: dict = {}
_NOT_RANK1 = object()


def separable_factors(k):
    """:func:`rank1_factors` of ``k`` behind the cheap :func:`near_rank1` test.

    Memoised on the kernel's bytes, so that the dispatcher's rank test and
    :func:`run` share one SVD, and a kernel applied to many images pays it once.
    """
    k = np.asarray(k)
    if k.ndim != 2 or k.dtype.kind not in "fc" or k.size > MAX_KERNEL or min(k.shape) < 2:
        return None
    key = (k.shape, k.dtype.str, np.ascontiguousarray(k).tobytes())
    hit = _FACTOR_CACHE.get(key)
    if hit is None:
        hit = (near_rank1(k) and rank1_factors(k)) or _NOT_RANK1
        if len(_FACTOR_CACHE) >= 64:
            _FACTOR_CACHE.clear()
        _FACTOR_CACHE[key] = hit
    return None if hit is _NOT_RANK1 else hit


def is_separable(k) -> bool:
    """Whether ``k`` has numerical rank 1 (see :func:`separable_factors`)."""
    return separable_factors(k) is not None


def magnitude(x) -> float:
    """An upper bound of ``max |x|`` for a finite float or complex array (NumPy or CuPy),
    without a temporary of ``x``'s size; 0 when empty.

    >>> from numbaconv._probes import magnitude
    >>> magnitude(np.array([1.5, -3.0])), magnitude(np.array([3 + 4j]))
    (3.0, 5.0)
    """
    if x.size == 0:
        return 0.0
    if x.dtype.kind == "c":
        return math.hypot(magnitude(x.real), magnitude(x.imag))
    return max(abs(float(x.max())), abs(float(x.min())))


def int_exact_limit(problem) -> float:
    """Largest bound ``|A|max * |K|max * taps`` for which a float64 FFT of integers rounds exactly.

    The FFT's absolute error grows like ``eps * bound * log2(N)`` (``N`` the
    transform size); measured worst cases stay below ``0.18 * eps * bound *
    log2(N)``.  Rounding is exact while the error is under 0.5, so the limit
    is ``2**52 / log2(N)``, and never above SciPy's own ``2**51``.
    """
    n = math.prod(problem.shape_a[ax] + problem.shape_k[ax] - 1 for ax in problem.axes)
    return min(float(2 ** 51), 2.0 ** 52 / max(1.0, math.log2(max(n, 2))))


def may_be_separable(k) -> bool:
    """Whether the separable path could run on ``k`` (shape and type only, no values read)."""
    return k.ndim == 2 and k.dtype.kind in "fc" and 0 < k.size <= MAX_KERNEL and min(k.shape) >= 2


#: kernels of at most this many elements have their own facts (finite, rank 1) memoised
#: on their bytes: a memoised call of a small kernel replays them in a dictionary lookup,
#: not a scan and an SVD test (several microseconds of a 50-microsecond call)
MEMO_KERNEL = 1024
_KERNEL_FACTS: dict = {}
#: the facts of the kernel alone
KERNEL_FACTS = ("kernel_finite", "rank1")


def kernel_bytes(k):
    """The bytes of a small host kernel (at most :data:`MEMO_KERNEL` elements), or None."""
    if type(k) is not np.ndarray or k.size > MEMO_KERNEL:
        return None
    return k.tobytes()


def _kernel_key(k):
    """The memo key of a small host kernel's values, or None."""
    values = kernel_bytes(k)
    return None if values is None else (k.shape, k.dtype.str, values)


class Probes:
    """The value facts of one call's arrays ``a`` (signal) and ``k`` (prepared kernel).

    Each fact is computed on first request and kept, so a call never scans
    an array twice; ``asked`` lists ``(name, answer)`` in the order asked,
    which a memoised plan replays (:meth:`replay`).

    Parameters
    ----------
    ops : ArrayOps
        The array operations of the arrays' device (``all_finite``,
        ``abs_max``, ``to_host``).
    a, k : array
        The signal and the prepared kernel.
    """

    __slots__ = ("ops", "a", "k", "asked", "_answers", "_facts", "_scans")

    def __init__(self, ops, a, k):
        self.ops, self.a, self.k = ops, a, k
        self.asked = []
        self._answers = {}
        self._facts = None
        self._scans = {}

    def _scan(self, x):
        """:func:`scan` of ``a`` or ``k``, once per call: the finiteness and magnitude
        questions share its one pass."""
        key = id(x)
        if key not in self._scans:
            self._scans[key] = scan(x)
        return self._scans[key]

    def _finite(self, x) -> bool:
        s = self._scan(x)
        return s[1] if s is not None else bool(self.ops.all_finite(x))

    def _magnitude(self, x) -> float:
        s = self._scan(x)
        return s[0] if s is not None else magnitude(x)

    def _ask(self, name, compute):
        if name not in self._answers:
            if name in KERNEL_FACTS:
                if self._facts is None:
                    key = _kernel_key(self.k)
                    self._facts = {} if key is None else _KERNEL_FACTS.setdefault(key, {})
                    if len(_KERNEL_FACTS) > 64:
                        _KERNEL_FACTS.clear()
                if name not in self._facts:
                    self._facts[name] = compute()
                self._answers[name] = self._facts[name]
            else:
                self._answers[name] = compute()
            self.asked.append((name, self._answers[name]))
        return self._answers[name]

    def finite(self) -> bool:
        """No NaN or inf in either array (integers are finite)."""
        return self._ask("finite", lambda: self._finite(self.a) and self._finite(self.k))

    def kernel_finite(self) -> bool:
        """No NaN or inf in the kernel."""
        if "finite" in self._answers and self._answers["finite"]:
            return True
        return self._ask("kernel_finite", lambda: self._finite(self.k))

    def int_bound(self) -> float:
        """``|a|max * |k|max * min(a.size, k.size)``: a bound of every integer sum."""
        def bound():
            return (float(self.ops.abs_max(self.a)) * float(self.ops.abs_max(self.k))
                    * float(min(self.a.size, self.k.size)))
        return self._ask("int_bound", bound)

    def fft_in_range(self) -> bool:
        """Whether an FFT of the two arrays stays far inside its float type's range.

        A spectrum of ``a`` reaches ``sum|a| <= a.size * max|a|``, their
        product that times the kernel's, and the inverse transform sums the
        transform's length of those before it scales: values a direct sum
        keeps finite can overflow there.  True for integers (their own
        exactness bound is far stricter).
        """
        def test():
            dtype = np.result_type(self.a.dtype, self.k.dtype)
            if dtype.kind not in "fc":
                return True
            single = dtype.itemsize <= (8 if dtype.kind == "c" else 4)
            top = float(np.finfo(np.float32 if single else np.float64).max)
            length = math.prod(m + n for m, n in zip(self.a.shape, self.k.shape))
            bound = ((self._magnitude(self.a) * self.a.size)
                     * (self._magnitude(self.k) * self.k.size) * length)
            return bound <= top / 16
        return self._ask("fft_in_range", test)

    def rank1(self) -> bool:
        """Whether the kernel has numerical rank 1 (:func:`separable_factors`)."""
        def test():
            k = self.ops.to_host(self.k)
            return separable_factors(k) is not None
        return self._ask("rank1", test)

    def replay(self, asked) -> bool:
        """Ask again what a memoised call asked; True when every answer is the same."""
        return all(getattr(self, name)() == answer for name, answer in asked)
