"""Property tests: random problems, numbaconv vs scipy.signal.

For a random function, rank (1-3), shapes (0-12 per axis; the kernel may be
the larger input), dtype pair, mode, method, boundary and memory layout,
numbaconv and SciPy must raise the same exception type or agree within the
tolerance table.  The runs are derandomised and use no example database,
so CI is reproducible.
"""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from compare import METHODS, MODES, check_2d, check_conv, check_fft
from conftest import DTYPE_PAIRS, make_array, native, nc, run_both

FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck), print_blob=False)

LAYOUTS = {
    "c": lambda x: x,
    "reversed": lambda x: x[(slice(None, None, -1),) * x.ndim].copy()[(slice(None, None, -1),) * x.ndim],
    "strided": lambda x: np.repeat(x, 2, axis=-1)[..., ::2] if x.ndim else x,
    "fortran": np.asfortranarray,
    "bigendian": lambda x: x.astype(x.dtype.newbyteorder(">")),
}


@st.composite
def problems(draw, ndim=None):
    ndim = draw(st.integers(1, 3)) if ndim is None else ndim
    # about one example in five may contain empty axes
    lo = 0 if draw(st.integers(0, 4)) == 0 else 1
    size = st.integers(lo, 12)
    sa = tuple(draw(st.lists(size, min_size=ndim, max_size=ndim)))
    sb = tuple(draw(st.lists(size, min_size=ndim, max_size=ndim)))
    dt1, dt2 = draw(st.sampled_from(DTYPE_PAIRS))
    small = draw(st.integers(0, 3)) > 0  # sometimes full-range integers (wrapping)
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    a = make_array(sa, dt1, rng, small=small)
    b = make_array(sb, dt2, rng, small=small)
    a = LAYOUTS[draw(st.sampled_from(sorted(LAYOUTS)))](a)
    b = LAYOUTS[draw(st.sampled_from(sorted(LAYOUTS)))](b)
    return a, b


def _untouched(a, b, fn):
    a0, b0 = a.copy(), b.copy()
    fn()
    np.testing.assert_array_equal(a, a0, err_msg="in1 was modified")
    np.testing.assert_array_equal(b, b0, err_msg="in2 was modified")


@FUZZ
@given(problem=problems(), fname=st.sampled_from(["convolve", "correlate"]),
       mode=st.sampled_from(MODES), method=st.sampled_from(METHODS))
def test_fuzz_convolve_correlate(problem, fname, mode, method):
    a, b = problem
    _untouched(a, b, lambda: check_conv(fname, a, b, mode, method))


@FUZZ
@given(problem=problems(), fname=st.sampled_from(["fftconvolve", "oaconvolve"]),
       mode=st.sampled_from(MODES), axes_seed=st.integers(0, 2 ** 16), use_axes=st.booleans())
def test_fuzz_fftconvolve_oaconvolve(problem, fname, mode, axes_seed, use_axes):
    a, b = problem
    axes = None
    if use_axes:
        rng = np.random.default_rng(axes_seed)
        axes = sorted(set(rng.integers(-a.ndim, a.ndim, rng.integers(1, a.ndim + 1)).tolist()))
        # make the non-convolved axes broadcast-compatible most of the time
        if rng.random() < 0.8:
            norm = {ax % a.ndim for ax in axes}
            for ax in range(a.ndim):
                if ax not in norm and a.shape[ax] != b.shape[ax]:
                    b = np.take(b, [0] * a.shape[ax], axis=ax) if b.shape[ax] else b
    _untouched(a, b, lambda: check_fft(fname, a, b, mode, axes=axes))


@FUZZ
@given(problem=problems(ndim=2), fname=st.sampled_from(["convolve2d", "correlate2d"]),
       mode=st.sampled_from(MODES),
       boundary=st.sampled_from(["fill", "wrap", "symm", "pad", "circular", "symmetric"]),
       fillvalue=st.sampled_from([0, 1, -2, 0.5, 3.25]))
def test_fuzz_convolve2d_correlate2d(problem, fname, mode, boundary, fillvalue):
    a, b = problem
    # scipy.signal's wrap/symm kernels crash the process (SIGFPE) on empty inputs
    assume(boundary in ("fill", "pad") or (a.size and b.size))
    _untouched(a, b, lambda: check_2d(fname, a, b, mode, boundary, fillvalue))


@FUZZ
@given(problem=problems(), mode=st.sampled_from(MODES))
def test_fuzz_choose_conv_method(problem, mode):
    import scipy.signal as ss
    a, b = problem
    out = run_both(lambda: nc().choose_conv_method(a, b, mode),
                   lambda: ss.choose_conv_method(native(a), native(b), mode))
    if out.ok:
        assert out.ours in ("direct", "fft")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kh=st.integers(2, 24), kw=st.integers(2, 24), noise=st.sampled_from([0.0, 1e-17, 1e-9, 1e-3, 1.0]),
       dtype=st.sampled_from([np.float32, np.float64, np.complex64, np.complex128]),
       seed=st.integers(0, 2**32 - 1))
def test_rank1_pretest_never_rejects_a_separable_kernel(kh, kw, noise, dtype, seed):
    """The cheap pivot test may only turn away kernels that the SVD test rejects too."""
    from numbaconv._probes import is_separable, rank1_factors
    from numbaconv._probes import near_rank1 as _near_rank1
    rng = np.random.default_rng(seed)
    k = np.outer(rng.standard_normal(kh), rng.standard_normal(kw))
    k = k + noise * rng.standard_normal(k.shape) * np.abs(k).max()
    if np.dtype(dtype).kind == "c":
        k = k * (0.6 + 0.8j)
    k = k.astype(dtype)
    svd_says = rank1_factors(k) is not None
    if svd_says:
        assert _near_rank1(k)
    assert is_separable(k) == svd_says
