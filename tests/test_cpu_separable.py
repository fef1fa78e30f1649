"""The separable backend (numbaconv._backends.cpu_separable): a rank-1 2-D kernel as a
fused row pass and column pass.

``method='separable'`` against SciPy for rank-1 kernels of every float type,
the fused kernel on forced tiles (bands, column chunks, prefetch), the
folded column pass of symmetric factors, the rejection of everything that
is not a 2-D rank-1 floating kernel, ``run()``/``supports()`` and the
choice of ``method='auto'`` for a Gaussian.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.signal as ss

import numbaconv
from helpers import MODES, assert_matches_scipy, call_ours, check_conv, gaussian, make_array, rank1, shape_id
from numbaconv import _probes
from numbaconv._backends import cpu_separable
from numbaconv._kernels import layout
from numbaconv._problem import build_problem


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shapes", [((20, 30), (5, 4)), ((9, 8, 7), (3, 2, 4)), ((50,), (7,)),
                                    ((4, 5), (6, 7))],
                         ids=lambda s: shape_id(*s))
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("fname", ["convolve", "correlate"])
def test_separable_method_rank1_kernel(fname, dtype, shapes, mode, rng):
    """method='separable' with a rank-1 2-D kernel must match scipy; other ranks have no
    separable backend and are rejected with a ValueError that names the method."""
    a = make_array(shapes[0], dtype, rng)
    b = rank1(shapes[1], dtype, rng)
    if mode == "valid" and a.size < b.size:
        a = rank1(shapes[0], dtype, rng)  # 'valid' swaps: then in1 is the kernel
    if len(shapes[0]) != 2:
        with pytest.raises(ValueError, match="separable"):
            getattr(numbaconv, fname)(a, b, mode, method="separable")
        return
    check_conv(fname, a, b, mode, "separable")


@pytest.mark.parametrize("tiles", [(1, 1), (5, 2), (9, 4), (64, 300)],
                         ids=lambda t: "bands%d-chunks%d" % t)
@pytest.mark.parametrize("kh", [2, 3, 4, 7])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("prefetch", [False, True], ids=["plain", "prefetch"])
def test_separable_fused_tiles(prefetch, dtype, mode, kh, tiles, rng, monkeypatch):
    """The fused separable kernel on forced splits (bands x column chunks): bands of
    4-9 rows whose last four-row step is moved back (recomputing 1-3 rows), one band;
    column chunks of one block step plus an overlapping last one, and of several;
    more bands or chunks than the kernel can take (clamped: 64 x 300); kernels of 2
    rows (the direct kernel), 3 and more.  ``prefetch``: the row pass prefetches
    the row it reads two rows later (large inputs), up to and past the last row."""
    if prefetch:
        monkeypatch.setattr(cpu_separable, "PREFETCH_MIN_BYTES", 0)
    monkeypatch.setattr(cpu_separable, "_tiles", lambda *args: tiles)
    a = make_array((37, 300), dtype, rng)
    b = rank1((kh, 5), dtype, rng)
    check_conv("correlate", a, b, mode, "separable")
    check_conv("convolve", a, b, mode, "separable")


@pytest.mark.parametrize("shift", [0, 1, 3], ids=["aligned", "shifted1", "shifted3"])
@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
def test_run_writes_the_callers_out(dtype, streamed, shift, rng, monkeypatch):
    """``run`` writes into a C-contiguous ``out`` of the work dtype and returns it: with
    plain stores, or (an ``out`` of STREAM_MIN_BYTES or more, lowered here) past the
    caches where a block starts on a 64-byte boundary, the others stored plainly
    (``shift``: the output starts 0, 1 or 3 elements past a boundary)."""
    if streamed:
        monkeypatch.setattr(layout, "STREAM_MIN_BYTES", 0)
    a = make_array((45, 203), dtype, rng)
    b = rank1((7, 5), dtype, rng)
    problem = build_problem(a.shape, b.shape, "same", np.dtype(dtype), separable=True)
    buf = np.full(a.size + 64, np.nan, dtype)
    start = (-buf.ctypes.data % 64) // buf.itemsize + shift
    out = buf[start:start + a.size].reshape(a.shape)
    got = cpu_separable.run(problem, a, b, workers=2, out=out)
    assert got is out
    assert_matches_scipy(out, ss.correlate(a, b, "same", method="direct"), a, b, mode="same")
    assert np.isnan(buf[:start]).all() and np.isnan(buf[start + a.size:]).all()


@pytest.mark.parametrize("tiles", [(1, 1), (6, 2), (9, 4)], ids=lambda t: "bands%d-chunks%d" % t)
@pytest.mark.parametrize("kh", [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 31])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
def test_separable_symmetric_column_factor(dtype, mode, kh, tiles, rng, monkeypatch):
    """Kernels whose column factor is symmetric (every Gaussian): the factor is made
    exactly symmetric (:func:`numbaconv._probes._symmetrised`), odd and even ``kh``
    up to 31, on forced splits."""
    monkeypatch.setattr(cpu_separable, "_tiles", lambda *args: tiles)
    half = make_array((kh + 1) // 2, np.float64, rng) + 2.0
    col = np.concatenate([half, half[::-1][kh % 2:]])            # symmetric, length kh
    b = np.multiply.outer(col, make_array(5, np.float64, rng)).astype(dtype)
    u, _ = _probes.separable_factors(b)
    assert _probes._symmetrised(u)[1]
    a = make_array((40, 300), dtype, rng)
    check_conv("correlate", a, b, mode, "separable")
    check_conv("convolve", a, b, mode, "separable")


@pytest.mark.parametrize("dtype", [np.float64, np.int32], ids=["float64", "int32"])
@pytest.mark.parametrize("fname", ["convolve", "correlate"])
def test_separable_method_other_kernels(fname, dtype, rng):
    """A kernel that is not rank 1 (or an integer one): a ValueError, never a silently
    wrong result; a rank-1 floating one runs."""
    a = make_array((12, 13), dtype, rng)
    for b in (make_array((3, 4), dtype, rng), rank1((3, 4), dtype, rng)):
        ref = getattr(ss, fname)(a, b, "same", method="direct")
        ours, exc = call_ours(lambda: getattr(numbaconv, fname)(a, b, "same", method="separable"))
        if dtype == np.float64 and b is not None and _probes.is_separable(b):
            assert exc is None, exc
            assert_matches_scipy(ours, ref, a, b, fname, "same")
        else:
            assert isinstance(exc, ValueError) and "separable" in str(exc), exc


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128],
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("mode", MODES)
def test_run_is_scipys_correlation(mode, dtype, rng):
    a, k = make_array((40, 50), dtype, rng), rank1((5, 6), dtype, rng)
    problem = build_problem(a.shape, k.shape, mode, np.dtype(dtype), separable=True)
    got = cpu_separable.run(problem, a, k, workers=2)
    ref = ss.correlate(a, np.conj(k), mode, method="direct")
    assert_matches_scipy(got.astype(dtype), ref, a, k, "correlate", mode)


@pytest.mark.parametrize("boundary", ["wrap", "symm", "fill"])
def test_run_with_a_boundary(boundary, rng):
    a, k = make_array((30, 40), np.float64, rng), gaussian((5, 7))
    problem = build_problem(a.shape, k.shape, "same", np.dtype(np.float64), separable=True,
                            boundary=boundary, fillvalue=1.5 if boundary == "fill" else 0,
                            same_odd_centre=False)
    got = cpu_separable.run(problem, a, k, workers=1)
    ref = ss.correlate2d(a, k, "same", boundary, 1.5 if boundary == "fill" else 0)
    assert_matches_scipy(got, ref, a, k, "correlate2d", "same", boundary=boundary,
                         fillvalue=1.5 if boundary == "fill" else 0)


def test_run_of_a_kernel_that_is_not_rank1_falls_back_to_direct(rng):
    """run() re-checks the factors: a kernel that is not rank 1 gives the direct result."""
    a, k = make_array((30, 40), np.float64, rng), make_array((5, 5), np.float64, rng)
    problem = build_problem(a.shape, k.shape, "same", np.dtype(np.float64), separable=True)
    ref = ss.correlate(a, k, "same", method="direct")
    assert_matches_scipy(cpu_separable.run(problem, a, k, workers=1), ref, a, k, "correlate", "same")


@pytest.mark.parametrize("case, ok", [
    (dict(shape_a=(30, 30), shape_k=(3, 3), dtype=np.float64, separable=True), True),
    (dict(shape_a=(30, 30), shape_k=(3, 3), dtype=np.complex64, separable=True), True),
    (dict(shape_a=(30, 30), shape_k=(3, 3), dtype=np.float64, separable=False), False),
    (dict(shape_a=(30, 30), shape_k=(3, 3), dtype=np.int32, separable=True), False),
    (dict(shape_a=(30, 30), shape_k=(3, 3), dtype=np.longdouble, separable=True), False),
    (dict(shape_a=(30,), shape_k=(3,), dtype=np.float64, separable=True), False),
    (dict(shape_a=(9, 9, 9), shape_k=(3, 3, 3), dtype=np.float64, separable=True), False),
], ids=["f8", "c8", "not-rank1", "int", "longdouble", "1d", "3d"])
def test_supports(case, ok):
    p = build_problem(case["shape_a"], case["shape_k"], "same", np.dtype(case["dtype"]),
                      separable=case["separable"])
    assert cpu_separable.supports(p) is ok


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
def test_auto_picks_it_for_a_gaussian(dtype, rng):
    img, g = make_array((300, 300), dtype, rng), gaussian((15, 15), dtype)
    choice = numbaconv.explain(img, g, "same")
    assert choice.backend == "cpu_separable" and "cpu_separable" in choice.costs
    ref = ss.convolve(img, g, "same", method="direct")
    assert_matches_scipy(numbaconv.convolve(img, g, "same"), ref, img, g, "convolve", "same")
    assert_matches_scipy(numbaconv.convolve2d(img, g, "same"), ss.convolve2d(img, g, "same"),
                         img, g, "convolve2d", "same")
