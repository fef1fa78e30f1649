"""The FFT backend (numbaconv._backends.cpu_fft): correlation through scipy.fft.

``run()`` against SciPy for every mode, rank, broadcast axes and dtype (the
transforms as long as the output window needs), ``supports()``, the
thread threshold of the transforms, and integers exact by FFT right up to
the dispatcher's limit.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.signal as ss

import numbaconv
from helpers import MODES, assert_matches_scipy, make_array, shape_id
from numbaconv import _coefficients
from numbaconv._backends import cpu_fft
from numbaconv._problem import build_problem

RUN_CASES = [((50,), (7,)), ((7,), (50,)), ((257,), (64,)), ((20, 30), (3, 5)), ((64, 64), (15, 9)),
             ((6, 5, 7), (2, 3, 3))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128, np.int16],
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shapes", RUN_CASES, ids=lambda s: shape_id(*s))
def test_run_is_scipys_correlation(shapes, mode, dtype, rng):
    sa, sk = shapes
    a, k = make_array(sa, dtype, rng), make_array(sk, dtype, rng)
    if mode == "valid" and a.size < k.size:
        a, k = k, a
    problem = build_problem(a.shape, k.shape, mode, np.dtype(dtype))
    got = cpu_fft.run(problem, a, k, workers=2)
    ref = ss.correlate(a.astype(got.dtype), np.conj(k).astype(got.dtype), mode, method="direct")
    expected = np.float64 if np.dtype(dtype).kind == "i" else dtype      # ints transform in float64
    assert got.dtype == expected
    assert_matches_scipy(got, ref, a, k, "correlate", mode)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", [((3, 40), (3, 9), (1,)), ((3, 40), (1, 9), (1,)),
                                  ((5, 6, 30), (1, 6, 7), (0, 2))],
                         ids=lambda c: f"{shape_id(c[0], c[1])}-axes{c[2]}")
def test_run_with_broadcast_axes(case, mode, rng):
    sa, sk, axes = case
    a, k = make_array(sa, np.float64, rng), make_array(sk, np.float64, rng)
    problem = build_problem(sa, sk, mode, np.dtype(np.float64), axes=axes)
    got = cpu_fft.run(problem, a, k, workers=1)
    ref = ss.fftconvolve(a, cpu_fft.flip_axes(k, axes), mode, axes=axes)
    assert_matches_scipy(got, ref, a, k, "fftconvolve", mode, axes=axes)


def test_window_transforms_are_shorter_than_the_full_result():
    p = build_problem((256, 256), (63, 63), "same", np.dtype(np.float64))
    assert p.window_fft_shape() < p.fft_shape()
    assert all(n >= 256 for n in p.window_fft_shape())


@pytest.mark.parametrize("case, ok", [
    (dict(), True),
    (dict(dtype=np.bool_), True),
    (dict(boundary="wrap"), False),
    (dict(fillvalue=2.0), False),
    (dict(fill_products=True), False),
    (dict(device="cuda"), False),
], ids=["f8", "bool", "wrap", "fill2", "fill-products", "cuda"])
def test_supports(case, ok):
    dtype = np.dtype(case.pop("dtype", np.float64))
    assert cpu_fft.supports(build_problem((30, 30), (3, 3), "same", dtype, **case)) is ok


def test_transform_threads():
    """One thread below FFT_PARALLEL_MIN elements (576² ran no faster on two), all from it."""
    assert cpu_fft.fft_workers([1000], 4) == 1
    assert cpu_fft.fft_workers([576, 576], 2) == 1
    assert cpu_fft.fft_workers([1 << 20], 4) == 4
    assert cpu_fft.fft_workers([1056, 1056], 3) == 3


def test_transform_threads_priced_at_their_own_efficiency():
    """pocketfft's workers scale worse than the kernels' threads: the FFT cost divides by
    fft_threads, not effective_threads."""
    problem = build_problem((1024, 1024), (31, 31), "same", np.dtype(np.float64))
    one, two = cpu_fft.cost(problem, 1), cpu_fft.cost(problem, 2)
    c = _coefficients.coefficients()
    overhead = c["fft_overhead"]
    assert (one - overhead) / (two - overhead) == pytest.approx(_coefficients.fft_threads(2))
    assert _coefficients.fft_threads(2) == pytest.approx(1 + c["fft_parallel_efficiency"])
    assert _coefficients.fft_threads(2) < _coefficients.effective_threads(2)


def test_transforms_in_cache_priced_at_the_tiles_rate():
    """An N-D transform whose buffers stay under 1 MiB runs at oa_tile times the fitted
    rate; past it the discount shrinks by fft_spill a doubling, and a large one has none."""
    c = _coefficients.coefficients()

    def transforms(shape, kshape, dtype):
        p = build_problem(shape, kshape, "same", np.dtype(dtype))
        return cpu_fft.cost(p, 1) - c["fft_overhead"], p.window_fft_shape(True)

    small, fshape = transforms((256, 256), (63, 63), np.float32)      # 288², 648 KiB
    plain = 3 * _coefficients.nlogn(fshape) * c["fft_nd_factor"] * c["fft_nlogn"]["f4"]
    assert small == pytest.approx(plain * c["oa_tile"])
    mid, fshape = transforms((512, 512), (63, 63), np.float32)        # 576², 2.5 MiB
    plain = 3 * _coefficients.nlogn(fshape) * c["fft_nd_factor"] * c["fft_nlogn"]["f4"]
    assert plain * c["oa_tile"] < mid < plain
    big, fshape = transforms((4096, 4096), (31, 31), np.float64)
    plain = 3 * _coefficients.nlogn(fshape) * c["fft_nd_factor"] * c["fft_nlogn"]["f8"]
    assert big == pytest.approx(plain)


def test_forward_transforms_side_by_side_priced():
    """Where each transform runs on one thread, two workers run the forward pair side by
    side: 1 + 2 / fft_threads(2) transforms' time instead of 3; small ones stay serial."""
    c = _coefficients.coefficients()
    large = build_problem((200_000,), (20_001,), "full", np.dtype(np.float64))
    one, two = (cpu_fft.cost(large, w) - c["fft_overhead"] for w in (1, 2))
    assert two / one == pytest.approx((1 + 2 / _coefficients.fft_threads(2)) / 3)
    small = build_problem((20_000,), (3001,), "full", np.dtype(np.float64))
    assert cpu_fft.cost(small, 2) == cpu_fft.cost(small, 1)


def test_explicit_fft_method(rng):
    a, k = make_array((500,), np.float64, rng), make_array((30,), np.float64, rng)
    assert numbaconv.explain(a, k, method="fft").backend == "cpu_fft"
    assert_matches_scipy(numbaconv.convolve(a, k, method="fft"), ss.convolve(a, k, method="fft"),
                         a, k)


@pytest.mark.parametrize("n, m", [(3000, 301), (20000, 4001), (200000, 30001)])
def test_integer_fft_just_inside_the_limit_is_exact(n, m):
    """Constant signals (the FFT's worst rounding case) with sums at the veto limit."""
    from numbaconv._probes import int_exact_limit
    problem = build_problem((n,), (m,), "full", np.int64)
    c = int(int_exact_limit(problem) // m)
    a, k = np.full(n, c, np.int64), np.ones(m, np.int64)
    assert not numbaconv.explain(a, k).vetoes                # FFT still allowed here
    ref = ss.convolve(a, k, method="direct")
    np.testing.assert_array_equal(numbaconv.convolve(a, k), ref)
    np.testing.assert_array_equal(numbaconv.convolve(a, k, method="fft"), ref)
