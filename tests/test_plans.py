"""Memoised calls (``numbaconv._plans``): a repeated call shape skips the
validation and the dispatcher, and must still give SciPy's answer.

A plan rests on value tests (the kernel's rank, the finite-value scan); the
tests below change the values between calls of one shape so that a plan has
to notice and decline, and check every result against scipy.signal.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.signal as ss
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import numbaconv
from helpers import assert_matches_scipy, make_array
from numbaconv import _coefficients, _plans


@pytest.fixture(autouse=True)
def fresh_plans():
    _plans.forget()
    yield
    _plans.forget()


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
    assert_matches_scipy(second, ss.convolve(a[::-1], k, method="direct"), a[::-1], k)


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
                         ss.convolve(img, gauss, mode="same", method="direct"), img, gauss,
                         "convolve", "same")
    noise = rng.standard_normal(gauss.shape)       # full rank, same shape and dtype
    assert numbaconv.explain(img, noise, mode="same").method != "separable"
    assert_matches_scipy(numbaconv.convolve(img, noise, mode="same"),
                         ss.convolve(img, noise, mode="same", method="direct"), img, noise,
                         "convolve", "same")
    assert_matches_scipy(numbaconv.convolve(img, gauss, mode="same"),
                         ss.convolve(img, gauss, mode="same", method="direct"), img, gauss,
                         "convolve", "same")


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
        assert_matches_scipy(got, ref, a, k, fname, mode)


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(shapes=st.sampled_from([((300,), (7,)), ((7,), (300,)), ((40, 30), (5, 3)),
                               ((5, 3), (40, 30)), ((64, 64), (5, 5)), ((2000,), (301,)),
                               ((1, 2), (2, 2)), ((30, 1), (5, 4)), ((6, 40), (1, 7))]),
       dtype=st.sampled_from(["float32", "float64", "complex128", "int16"]),
       mode=st.sampled_from(["full", "same", "valid"]),
       fname=st.sampled_from(["fftconvolve", "oaconvolve"]), into=st.booleans(),
       seed=st.integers(0, 2 ** 32 - 1))
def test_repeated_fft_family_calls_match_scipy(shapes, dtype, mode, fname, into, seed):
    """fftconvolve/oaconvolve: three calls of one shape (the 2nd and 3rd memoised), new
    values each time, ``out=`` given or not: SciPy's dtype (float64 for integers), shape
    and values, and a C-contiguous result as the first call gives.  An axis of length 1
    on one side broadcasts: the kernel is not flipped along it."""
    _plans.forget()
    rng = np.random.default_rng(seed)
    for _ in range(3):
        a, k = make_array(shapes[0], dtype, rng), make_array(shapes[1], dtype, rng)
        ref = getattr(ss, fname)(a, k, mode)
        out = np.empty(ref.shape, ref.dtype) if into else None
        got = getattr(numbaconv, fname)(a, k, mode, out=out)
        assert out is None or got is out
        assert got.dtype == ref.dtype and got.shape == ref.shape and got.flags.c_contiguous
        assert_matches_scipy(got, ref, a, k, "convolve", mode)
    assert [key[0] for key in _plans.PLANS] == [fname]


LAYOUTS_2D = [lambda x: x, lambda x: np.repeat(x, 2, axis=1)[:, ::2],
              lambda x: x[::-1, ::-1].copy()[::-1, ::-1],
              lambda x: x.astype(x.dtype.newbyteorder(">"))]


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(sa=st.tuples(st.integers(1, 40), st.integers(1, 40)),
       sk=st.tuples(st.integers(1, 9), st.integers(1, 9)),
       dtype=st.sampled_from(["float32", "float64", "complex128", "int16", "uint8"]),
       mode=st.sampled_from(["full", "same", "valid"]),
       boundary=st.sampled_from(["fill", "wrap", "symm"]),
       fillvalue=st.sampled_from([0, 2, 1.5]),
       fname=st.sampled_from(["convolve2d", "correlate2d"]),
       swap=st.booleans(), into=st.booleans(),
       layouts=st.lists(st.integers(0, len(LAYOUTS_2D) - 1), min_size=3, max_size=3),
       seed=st.integers(0, 2 ** 32 - 1))
def test_repeated_2d_shapes_match_scipy(sa, sk, dtype, mode, boundary, fillvalue, fname, swap,
                                        into, layouts, seed):
    """convolve2d/correlate2d: three calls of one shape (the 2nd and 3rd memoised), new
    values and layouts each time; the kernel the larger operand where ``swap`` ('valid'
    then swaps them, and a swapped correlation is flipped); ``out=`` given or not."""
    rng = np.random.default_rng(seed)
    if swap:
        sa, sk = sk, (sa[0] + sk[0], sa[1] + sk[1])
    if mode == "valid" and not (all(x >= y for x, y in zip(sa, sk))
                                or all(y >= x for x, y in zip(sa, sk))):
        sk = sa
    if fillvalue == 1.5 and np.dtype(dtype).kind in "iu":
        fillvalue = 2                       # SciPy casts the fill value; keep it exact
    _plans.forget()
    seen, memoised = set(), False
    for lay in layouts:
        a = LAYOUTS_2D[lay](make_array(sa, dtype, rng))
        k = LAYOUTS_2D[lay](make_array(sk, dtype, rng))
        ref = getattr(ss, fname)(a, k, mode, boundary, fillvalue)
        out = np.empty(ref.shape, ref.dtype) if into else None
        got = getattr(numbaconv, fname)(a, k, mode, boundary, fillvalue, out=out)
        assert out is None or got is out
        seen.update(_plans.PLANS)
        memoised |= a.dtype.isnative and k.dtype.isnative
        assert got.dtype == ref.dtype and got.shape == ref.shape
        assert_matches_scipy(got, ref, a, k, fname, mode, boundary=boundary,
                             fillvalue=fillvalue)
    # one plan, replayed (byte-swapped inputs are never memoised)
    assert len([key for key in seen if key[0] == fname]) == memoised


def test_plan_declines_when_a_kernel_turns_nonfinite():
    """SciPy's N-D direct path multiplies the zero fill: a NaN tap poisons every output
    whose window it covers, inside the signal or not.  A plan made with a finite
    kernel must notice the NaN of a later call of the same shape."""
    rng = np.random.default_rng(5)
    a, k = rng.standard_normal((30, 50)), rng.standard_normal((5, 7))
    for mode in ("full", "same"):
        assert_matches_scipy(numbaconv.convolve(a, k, mode), ss.convolve(a, k, mode), a, k,
                             "convolve", mode)
        bad = k.copy()
        bad[0, 0] = np.nan
        got = numbaconv.convolve(a, bad, mode)
        ref = ss.convolve(a, bad, mode, method="direct")
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
        assert_matches_scipy(got, ref, a, bad, "convolve", mode)
        assert_matches_scipy(numbaconv.convolve(a, k, mode), ss.convolve(a, k, mode), a, k,
                             "convolve", mode)


def test_a_plan_asks_again_only_for_new_kernel_bytes(monkeypatch):
    """A plan whose questions were about the kernel alone skips them for the kernel bytes
    it last answered for, and asks again when the same array is changed in place."""
    from numbaconv import _probes
    replays = []
    replay = _probes.Probes.replay

    def spy(self, asked):
        replays.append(asked)
        return replay(self, asked)

    monkeypatch.setattr(_probes.Probes, "replay", spy)
    rng = np.random.default_rng(6)
    a, k = rng.standard_normal((30, 50)), rng.standard_normal((5, 7))
    for _ in range(4):
        assert_matches_scipy(numbaconv.convolve(a, k, "same"), ss.convolve(a, k, "same"), a, k,
                             "convolve", "same")
    assert replays == [(("kernel_finite", True),)]     # the first memoised call only
    k[2, 3] = np.nan                                     # same array, new values
    got = numbaconv.convolve(a, k, "same")
    ref = ss.convolve(a, k, "same", method="direct")
    assert len(replays) == 2
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    assert_matches_scipy(got, ref, a, k, "convolve", "same")


def test_a_plan_follows_new_coefficients(monkeypatch):
    """A memoised call shape is decided again when other coefficients are put in force."""
    import copy

    from numbaconv._backends import cpu_fft, cpu_oa
    rng = np.random.default_rng(8)
    a, k = rng.standard_normal(4000), rng.standard_normal(150)    # direct with every shipped set
    ran = []
    for module in (cpu_fft, cpu_oa):
        run = module.run
        monkeypatch.setattr(module, "run", lambda *args, run=run, name=module.NAME, **kw:
                            ran.append(name) or run(*args, **kw))
    numbaconv.convolve(a, k)
    numbaconv.convolve(a, k)                          # memoised: the direct kernel
    assert ran == [] and _key_count() == 1
    dear = copy.deepcopy(_coefficients.coefficients())
    dear["direct_mac"] = {key: v * 1e4 for key, v in dear["direct_mac"].items()}
    _coefficients.set_coefficients(dear)
    got = numbaconv.convolve(a, k)
    assert ran, "the plan made under the old coefficients was used"
    assert_matches_scipy(got, ss.convolve(a, k), a, k)
