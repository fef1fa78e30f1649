"""Value probes (numbaconv._probes): the facts about values a backend choice rests on.

The finite-value scan (register blocks, the tail, every 64 Ki chunk, every
byte order and layout), the rank-1 test (the cheap pivot test never turns
away a kernel the SVD accepts; symmetric factors made exact), the integer
exactness limit, and :class:`~numbaconv._probes.Probes` asking each
question once and replaying the answers.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import DTYPES, gaussian, make_array
from numbaconv import _probes
from numbaconv._arrays import HostOps
from numbaconv._probes import (Probes, all_finite, int_exact_limit, is_separable, may_be_separable,
                               near_rank1, rank1_factors, separable_factors)
from numbaconv._problem import build_problem


# --------------------------------------------------------------------------
# all_finite
# --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64", "complex128"])
@pytest.mark.parametrize("n", [1, 63, 64, 255, 256, 257, 65536 + 300, 140000])
def test_finite_scan_finds_every_position(dtype, n):
    """The scan the FFT veto rests on: register blocks, the tail, every 64 Ki chunk."""
    rng = np.random.default_rng(n)
    x = make_array((n,), dtype, rng)
    assert all_finite(x) is True
    for pos in sorted({0, n // 2, n - 1, min(n - 1, 65535), min(n - 1, 65536), max(0, n - 2)}):
        for bad in (np.nan, np.inf, -np.inf):
            y = x.copy()
            y[pos] = bad
            assert all_finite(y) is bool(np.isfinite(y).all()) is False, (pos, bad)


def _scan_cases():
    for dtype in DTYPES:
        for order in ("<", ">"):
            yield pytest.param(dtype, order, id=f"{np.dtype(dtype).name}-{order}")


@pytest.mark.parametrize("dtype, order", list(_scan_cases()))
def test_finite_scan_every_dtype_and_byte_order(dtype, order, rng):
    x = make_array((5, 7), dtype, rng)
    x = x.astype(x.dtype.newbyteorder(order))
    try:
        assert all_finite(x) is True
    except Exception as exc:   # noqa: BLE001 - a Numba error is a failure, not an answer
        raise AssertionError(f"{type(exc).__name__}: {str(exc)[:200]}") from exc
    if x.dtype.kind in "fc":
        for bad in (np.nan, np.inf):
            y = x.copy()
            y[2, 3] = bad
            assert all_finite(y) is False
            assert all_finite(y.T) is False and all_finite(y[:, 1::2]) is False


# --------------------------------------------------------------------------
# rank 1
# --------------------------------------------------------------------------

@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(kh=st.integers(2, 24), kw=st.integers(2, 24), noise=st.sampled_from([0.0, 1e-17, 1e-9, 1e-3, 1.0]),
       dtype=st.sampled_from([np.float32, np.float64, np.complex64, np.complex128]),
       seed=st.integers(0, 2**32 - 1))
def test_rank1_pretest_never_rejects_a_separable_kernel(kh, kw, noise, dtype, seed):
    """The cheap pivot test may only turn away kernels that the SVD test rejects too."""
    rng = np.random.default_rng(seed)
    k = np.outer(rng.standard_normal(kh), rng.standard_normal(kw))
    k = k + noise * rng.standard_normal(k.shape) * np.abs(k).max()
    if np.dtype(dtype).kind == "c":
        k = k * (0.6 + 0.8j)
    k = k.astype(dtype)
    svd_says = rank1_factors(k) is not None
    if svd_says:
        assert near_rank1(k)
    assert is_separable(k) == svd_says


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
def test_separable_symmetrised_factor(dtype):
    """A factor symmetric to rounding is made exactly symmetric; one that is not
    is left alone."""
    eps = np.finfo(dtype).eps
    g = np.array([1.0, 2.0, 3.5, 2.0, 1.0], dtype)
    near = g.copy()
    near[0] *= 1 + eps
    sym, ok = _probes._symmetrised(near)
    assert ok and sym.dtype == g.dtype
    np.testing.assert_array_equal(sym, sym[::-1])
    np.testing.assert_allclose(sym, g, rtol=2 * eps)
    skew = g.copy()
    skew[0] = 1.01
    same, ok = _probes._symmetrised(skew)
    assert not ok and same is skew


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128],
                         ids=lambda d: np.dtype(d).name)
def test_factors_reproduce_the_kernel(dtype):
    k = (gaussian((7, 9)) * (1 + 1j if np.dtype(dtype).kind == "c" else 1)).astype(dtype)
    u, v = separable_factors(k)
    assert u.dtype == v.dtype == k.dtype
    np.testing.assert_allclose(np.outer(u, v), k, rtol=0, atol=20 * np.finfo(dtype).eps)


@pytest.mark.parametrize("k", [np.ones((1, 5)), np.ones((5,)), np.ones((3, 3), np.int32),
                               np.zeros((3, 3)), np.full((3, 3), np.nan), np.ones((300, 300))],
                         ids=["row", "1d", "int", "zeros", "nan", "too-big"])
def test_what_is_never_separable(k):
    assert separable_factors(k) is None and not is_separable(k)


def test_may_be_separable_reads_no_values():
    assert may_be_separable(np.full((3, 3), np.nan))
    assert not may_be_separable(np.ones((3, 3), np.int8))
    assert not may_be_separable(np.ones((1, 3)))
    assert not may_be_separable(np.ones((3, 3, 3)))


# --------------------------------------------------------------------------
# the integer limit
# --------------------------------------------------------------------------

@pytest.mark.parametrize("n, m", [(10, 3), (3000, 301), (200000, 30001), (10**7, 10**6)])
def test_int_exact_limit(n, m):
    p = build_problem((n,), (m,), "full", np.dtype(np.int64))
    limit = int_exact_limit(p)
    assert limit == min(2.0 ** 51, 2.0 ** 52 / math.log2(n + m - 1))
    assert 2 ** 40 < limit <= 2 ** 51


# --------------------------------------------------------------------------
# Probes: each question once, answers replayed
# --------------------------------------------------------------------------

class CountingOps(HostOps):
    scans = None

    @classmethod
    def all_finite(cls, x):
        cls.scans["all_finite"] += 1
        return HostOps.all_finite(x)

    @classmethod
    def abs_max(cls, x):
        cls.scans["abs_max"] += 1
        return HostOps.abs_max(x)


@pytest.fixture
def ops(monkeypatch):
    """Host ops counting every pass over an array: the fused :func:`scan` of a contiguous
    array, and the ops' own scans where it does not apply."""
    import collections
    CountingOps.scans = collections.Counter()
    real_scan = _probes.scan

    def counted(x):
        found = real_scan(x)
        if found is not None:
            CountingOps.scans["scan"] += 1
        return found
    monkeypatch.setattr(_probes, "scan", counted)
    return CountingOps


def test_each_question_is_computed_once(ops):
    a, k = np.arange(10.0), gaussian((3, 3))
    p = Probes(ops, a, k)
    for _ in range(3):
        assert p.finite() is True
        assert p.kernel_finite() is True
        assert p.rank1() is True
    assert ops.scans == {"scan": 2}
    assert [name for name, _ in p.asked] == ["finite", "rank1"]   # kernel_finite known from finite


def test_finiteness_and_magnitude_share_one_pass_per_array(ops):
    a, k = np.linspace(-3.0, 2.0, 1000), np.ones((3, 3))
    p = Probes(ops, a, k)
    assert p.finite() is True and p.fft_in_range() is True
    assert ops.scans == {"scan": 2}
    strided = Probes(ops, a[::2], k[::-1, ::-1])    # a strided view: the ops' own scans;
    assert strided.finite() is True and strided.fft_in_range() is True     # a flipped one:
    assert ops.scans == {"scan": 3, "all_finite": 1}                       # read forwards


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
@pytest.mark.parametrize("n", [1, 7, 300, 4099])
def test_scan_matches_all_finite_and_magnitude(dtype, n, rng):
    x = (rng.standard_normal(n) * 1e3).astype(dtype)
    if x.dtype.kind == "c":
        x.imag = rng.standard_normal(n) * 10
    big, finite = _probes.scan(x)
    assert finite is True
    true = float(np.abs(x).max())
    assert true <= big * (1 + 1e-6) and big <= true * (np.sqrt(2) if x.dtype.kind == "c" else 1)
    assert big >= _probes.magnitude(x) / (1 + 1e-6) or x.dtype.kind == "c"
    for bad in (np.nan, np.inf, -np.inf):
        for at in {0, n // 2, n - 1}:                 # in a block and in the scalar tail
            y = x.copy()
            y[at] = bad
            assert _probes.scan(y)[1] is False and not _probes.all_finite(y)
    assert _probes.scan(x.astype(">" + x.dtype.str[1:])) is None    # the ops' own scans
    assert n == 1 or _probes.scan(x[::2]) is None
    assert _probes.scan(x[::-1]) == (big, True)                     # flipped: read forwards
    y = x.copy()
    y[0] = np.nan
    assert _probes.scan(y[::-1])[1] is False
    assert n == 1 or _probes.scan(x[::-2]) is None


def test_kernel_finite_alone_scans_only_the_kernel(ops):
    k = np.ones((3, 3))
    k[1, 1] = np.inf
    p = Probes(ops, np.ones((10, 10)), k)
    assert p.kernel_finite() is False and p.kernel_finite() is False
    assert ops.scans == {"scan": 1}
    assert p.finite() is False


def test_int_bound(ops):
    a = np.array([1, -7, 3], np.int64)
    k = np.array([2, 5], np.int64)
    p = Probes(ops, a, k)
    assert p.int_bound() == p.int_bound() == 7 * 5 * 2
    assert ops.scans == {"abs_max": 2}
    big = np.array([np.iinfo(np.int64).min], np.int64)
    assert Probes(HostOps, big, big).int_bound() == float(2 ** 63) ** 2


def test_replay_detects_a_changed_answer():
    a, k = np.ones(10), np.ones(3)
    first = Probes(HostOps, a, k)
    first.finite()
    assert Probes(HostOps, a + 1, k).replay(first.asked)
    bad = a.copy()
    bad[4] = np.nan
    assert not Probes(HostOps, bad, k).replay(first.asked)
