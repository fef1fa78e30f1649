"""Memoised calls (``numbaconv._api._Plan``): a repeated call shape skips the
validation and the dispatcher, and must still give SciPy's answer.

A plan rests on value tests (the kernel's rank, the finite-value scan); the
tests below change the values between calls of one shape so that a plan has
to notice and decline, and check every result against scipy.signal.
"""
from __future__ import annotations

import numba
import numpy as np
import pytest
import scipy.signal as ss
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import numbaconv
from numbaconv import _coefficients, _dispatch, _plans
from numbaconv._kernels.blocks import block_width
from conftest import assert_matches_scipy, make_array


@pytest.fixture(autouse=True)
def fresh_plans():
    _dispatch.clear_cache()
    _plans.PLANS.clear()
    yield
    _dispatch.clear_cache()
    _plans.PLANS.clear()


def _key_count():
    return len(_plans.PLANS)


def test_repeated_call_is_memoised_and_cleared_with_the_choices():
    a, k = np.arange(50.0), np.ones(3)
    numbaconv.convolve(a, k)
    assert _key_count() == 1
    numbaconv.convolve(a + 1, k)          # same shape and dtype: the same plan
    assert _key_count() == 1
    numbaconv.convolve(a, k, mode="same")
    numbaconv.correlate(a, k)
    numbaconv.convolve(a.astype(np.float32), k)
    assert _key_count() == 4
    with numbaconv.set_workers(1):        # the worker count is part of the key
        numbaconv.convolve(a, k)
    assert _key_count() == 5
    _coefficients.set_coefficients(dict(_coefficients.coefficients()))  # a new version
    numbaconv.convolve(a, k)              # the stale plans are dropped, this one kept
    assert _key_count() == 1


def test_memoised_calls_return_fresh_arrays_and_leave_inputs_alone():
    rng = np.random.default_rng(1)
    a, k = rng.standard_normal(300), rng.standard_normal(7)
    a0, k0 = a.copy(), k.copy()
    first = numbaconv.convolve(a, k)
    kept = first.copy()
    second = numbaconv.convolve(a[::-1].copy(), k)
    assert first is not second and not np.shares_memory(first, second)
    np.testing.assert_array_equal(first, kept)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(k, k0)
    assert_matches_scipy(second, ss.convolve(a[::-1], k, method="direct"), a, k)


def _fft_shape():
    """A float64 shape for which auto picks an FFT method (if finite)."""
    a, k = np.ones(20000), np.ones(4001)
    assert numbaconv.explain(a, k).method in ("fft", "oa")
    return a.shape, k.shape


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_plan_declines_when_a_later_call_has_nonfinite_values(bad):
    sa, sk = _fft_shape()
    rng = np.random.default_rng(2)
    a, k = rng.standard_normal(sa), rng.standard_normal(sk)
    assert_matches_scipy(numbaconv.convolve(a, k), ss.convolve(a, k, method="fft"), a, k)
    a[1234] = bad                          # same shape: the memoised FFT plan must decline
    got = numbaconv.convolve(a, k)
    ref = ss.convolve(a, k, method="direct")
    assert np.isfinite(got).sum() == np.isfinite(ref).sum() > 0   # NaN/inf stayed local
    assert_matches_scipy(got, ref, a, k)
    a[1234] = 0.5                          # and finite values take FFT again, correctly
    assert_matches_scipy(numbaconv.convolve(a, k), ss.convolve(a, k, method="fft"), a, k)


def test_plan_declines_when_the_kernel_is_no_longer_rank_one():
    rng = np.random.default_rng(3)
    img = rng.standard_normal((300, 300))
    g = np.exp(-np.linspace(-2, 2, 15) ** 2)
    gauss = np.outer(g, g)
    assert numbaconv.explain(img, gauss, mode="same").method == "separable"
    assert_matches_scipy(numbaconv.convolve(img, gauss, mode="same"),
                         ss.convolve(img, gauss, mode="same", method="direct"), img, gauss)
    noise = rng.standard_normal(gauss.shape)       # full rank, same shape and dtype
    assert numbaconv.explain(img, noise, mode="same").method != "separable"
    assert_matches_scipy(numbaconv.convolve(img, noise, mode="same"),
                         ss.convolve(img, noise, mode="same", method="direct"), img, noise)
    assert_matches_scipy(numbaconv.convolve(img, gauss, mode="same"),
                         ss.convolve(img, gauss, mode="same", method="direct"), img, gauss)


def test_integer_fft_plan_rechecks_the_exactness_bound():
    """Integers go to FFT only while their sums stay exact in float64: a plan must re-check.

    2**40 * 4001 is below 2**52 but an FFT of that size errs by a unit or two
    (measured): the dispatcher's limit is 2**52 / log2(N), and the direct
    method gives SciPy's exact answer.
    """
    sa, sk = (20000,), (4001,)
    small = np.ones(sa, np.int64)
    kern = np.ones(sk, np.int64)
    ref = ss.convolve(small, kern, method="direct")
    np.testing.assert_array_equal(numbaconv.convolve(small, kern), ref)
    big = small * (2 ** 40)                       # sums beyond the FFT's exact range: direct
    np.testing.assert_array_equal(numbaconv.convolve(big, kern),
                                  ss.convolve(big, kern, method="direct"))


LAYOUTS = [lambda x: x, lambda x: np.repeat(x, 2)[::2], lambda x: x[::-1].copy()[::-1],
           lambda x: x.astype(x.dtype.newbyteorder(">"))]


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(n=st.integers(1, 400), m=st.integers(1, 60),
       dtype=st.sampled_from(["float32", "float64", "complex128", "int16", "uint8"]),
       mode=st.sampled_from(["full", "same", "valid"]),
       fname=st.sampled_from(["convolve", "correlate"]),
       layouts=st.lists(st.integers(0, len(LAYOUTS) - 1), min_size=3, max_size=3),
       seed=st.integers(0, 2 ** 32 - 1))
def test_repeated_shapes_match_scipy(n, m, dtype, mode, fname, layouts, seed):
    """Three calls of one shape (the 2nd and 3rd memoised), new values and layouts each time."""
    rng = np.random.default_rng(seed)
    for lay in layouts:
        a = LAYOUTS[lay](make_array((n,), dtype, rng))
        k = LAYOUTS[lay](make_array((m,), dtype, rng))
        ref = getattr(ss, fname)(a, k, mode=mode, method="direct")
        got = getattr(numbaconv, fname)(a, k, mode=mode)
        assert got.dtype == ref.dtype and got.shape == ref.shape
        assert_matches_scipy(got, ref, a, k)


@pytest.mark.parametrize("n, m", [(3000, 301), (20000, 4001), (200000, 30001)])
def test_integer_fft_just_inside_the_limit_is_exact(n, m):
    """Constant signals (the FFT's worst rounding case) with sums at the veto limit."""
    from numbaconv._probes import int_exact_limit
    from numbaconv._problem import build_problem
    problem = build_problem((n,), (m,), "full", np.int64)
    c = int(int_exact_limit(problem) // m)
    a, k = np.full(n, c, np.int64), np.ones(m, np.int64)
    assert not numbaconv.explain(a, k).vetoes                # FFT still allowed here
    np.testing.assert_array_equal(numbaconv.convolve(a, k), ss.convolve(a, k, method="direct"))
    np.testing.assert_array_equal(numbaconv.convolve(a, k, method="fft"),
                                  ss.convolve(a, k, method="direct"))


@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64", "complex128"])
@pytest.mark.parametrize("n", [1, 63, 64, 255, 256, 257, 65536 + 300, 140000])
def test_finite_scan_finds_every_position(dtype, n):
    """The scan the FFT veto rests on: register blocks, the tail, every 64 Ki chunk."""
    from numbaconv._probes import all_finite
    rng = np.random.default_rng(n)
    x = make_array((n,), dtype, rng)
    assert all_finite(x) is True
    for pos in sorted({0, n // 2, n - 1, min(n - 1, 65535), min(n - 1, 65536), max(0, n - 2)}):
        for bad in (np.nan, np.inf, -np.inf):
            y = x.copy()
            y[pos] = bad
            assert all_finite(y) is bool(np.isfinite(y).all()) is False, (pos, bad)


def test_plan_declines_when_a_kernel_turns_nonfinite():
    """SciPy's N-D direct path multiplies the zero fill: a NaN tap poisons every output
    whose window it covers, inside the signal or not.  A plan made with a finite
    kernel must notice the NaN of a later call of the same shape."""
    rng = np.random.default_rng(5)
    a, k = rng.standard_normal((30, 50)), rng.standard_normal((5, 7))
    for mode in ("full", "same"):
        assert_matches_scipy(numbaconv.convolve(a, k, mode), ss.convolve(a, k, mode), a, k)
        bad = k.copy()
        bad[0, 0] = np.nan
        got = numbaconv.convolve(a, bad, mode)
        ref = ss.convolve(a, bad, mode, method="direct")
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
        assert_matches_scipy(got, ref, a, bad)
        assert_matches_scipy(numbaconv.convolve(a, k, mode), ss.convolve(a, k, mode), a, k)


def test_overlap_add_plans_go_with_the_coefficients():
    """cpu_oa memoises its blocking; a change of cost coefficients must forget it."""
    from numbaconv._backends import cpu_oa
    from numbaconv._problem import build_problem
    problem = build_problem((20000,), (301,), "full", np.float64)
    first = cpu_oa.plan(problem, 2)
    hits = cpu_oa._plan.cache_info().hits
    assert cpu_oa.plan(problem, 2) == first and cpu_oa._plan.cache_info().hits == hits + 1
    old = _coefficients.coefficients()
    try:
        slow_fft = {**old, "fft_nlogn": {key: 100 * v for key, v in old["fft_nlogn"].items()}}
        _coefficients.set_coefficients(slow_fft)          # a new version: the memo is not used
        assert cpu_oa.plan(problem, 2)[3] > 10 * first[3]
    finally:
        _coefficients.set_coefficients(old)
    assert cpu_oa.plan(problem, 2) == first


@pytest.mark.parametrize("shapes, words", [(((1100, 1000), (31, 31)), "tiles ("),
                                           (((20000,), (301,)), "blocks of "),
                                           (((200, 200), (63, 63)), "plain FFT")])
def test_explain_gives_the_overlap_add_plan(shapes, words):
    """explain() names overlap-add's plan: 2-D tiles, 1-D blocks, or none (a small image)."""
    from numbaconv._backends import cpu_oa
    from numbaconv._problem import build_problem
    sa, sk = shapes
    choice = numbaconv.explain(np.ones(sa), np.ones(sk) + np.arange(sk[-1]), "same")
    note = [n for n in choice.notes if n.startswith("cpu_oa: ")]
    assert len(note) == 1 and words in note[0], choice.notes
    assert note[0] in str(choice)
    p = cpu_oa.plan(build_problem(sa, sk, "same", np.float64))
    if p is not None and p[0] is None:   # the tile shape it prints is the plan's
        assert f"{p[1][0]} x {p[1][1]} tiles" in note[0]


@pytest.mark.parametrize("shape_a, shape_k, itemsize, parallel", [
    ((1, 1000), (1, 301), 4, False),     # long rows: a launch costs more than 301k MACs
    ((1, 10000), (1, 31), 8, False),
    ((1, 30000), (1, 31), 4, True),
    ((1, 20000), (1, 31), 8, True),
    ((1, 100000), (1, 3), 4, True),      # short rows and 2-D kernels: from 200k MACs
    ((64, 64), (7, 7), 4, True),
    ((1, 30000), (1, 3), 4, False),
])
def test_direct_parallel_threshold(shape_a, shape_k, itemsize, parallel):
    """The direct kernel is the parallel one only where the measured launch pays."""
    from numbaconv._backends import cpu_direct
    ox = -(shape_k[1] // 2)
    *_, threads = cpu_direct._corr2d_layout(shape_a, shape_k, shape_a, ox, itemsize, 2,
                                            block_width(np.dtype("f%d" % itemsize)))
    assert threads == (min(2, numba.config.NUMBA_NUM_THREADS) if parallel else 1)
    *_, threads = cpu_direct._corr2d_layout(shape_a, shape_k, shape_a, ox, itemsize, 1,
                                            block_width(np.dtype("f%d" % itemsize)))
    assert threads == 1


@pytest.mark.parametrize("shape_a, shape_k, itemsize, padded", [
    ((1, 1000), (1, 31), 8, True),       # small signals pad from a sixteenth of the row's bytes
    ((256, 256), (7, 7), 8, True),
    ((1, 10000), (1, 31), 8, False),
    ((256, 256), (3, 3), 8, False),
    ((1024, 1024), (7, 7), 8, False),    # large ones from a quarter (fresh pages cost more)
    ((1024, 1024), (15, 15), 4, True),
])
def test_direct_pad_rule(shape_a, shape_k, itemsize, padded):
    """Edge columns are padded into register blocks only where the copy measured cheaper,
    and the padded kernel agrees with SciPy."""
    from numbaconv._backends import cpu_direct
    ox = -(shape_k[1] // 2)
    dt = np.dtype("f%d" % itemsize)
    pad_lo, pad_hi, *_ = cpu_direct._corr2d_layout(shape_a, shape_k, shape_a, ox, itemsize, 2,
                                                   block_width(dt))
    assert (pad_lo + pad_hi > 0) is padded
    if shape_a[0] * shape_a[1] <= 65536:
        rng = np.random.default_rng(1)
        a, k = make_array(shape_a, dt, rng), make_array(shape_k, dt, rng)
        assert_matches_scipy(numbaconv.convolve(a, k, "same", method="direct"),
                             ss.convolve(a, k, "same", method="direct"), a, k)
