"""The benchmark peers (:mod:`numbaconv._tools.peers`): each computes what scipy.signal does.

OpenCV and torch are optional (CI has neither): their tests skip without
them, and the geometry the peers rest on -- OpenCV's anchor, torch's
padding and slice, the rank-1 taps -- is checked here against SciPy with
NumPy stand-ins for the two libraries.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest
import scipy.signal

from numbaconv._tools import grids, peers
from numbaconv._tools.checks import bound
from numbaconv._tools.tolerance import compare

#: (image, kernel) shapes: odd, even and mixed sides, kernels up to as large as the image
SHAPES_2D = [((37, 41), (3, 3)), ((37, 41), (4, 4)), ((16, 16), (2, 5)), ((16, 17), (6, 3)),
             ((12, 9), (1, 4)), ((12, 9), (4, 1)), ((20, 20), (7, 8)), ((8, 8), (8, 8))]
SHAPES_1D = [(50, 1), (50, 2), (50, 3), (51, 4), (40, 11), (40, 12), (9, 9)]


def _opencv_correlate(a, kf, anchor):
    """OpenCV's filter2D in NumPy: ``dst(y, x) = sum kf(y', x') src(y + y' - ay, x + x' - ax)``,
    zero outside the image (BORDER_CONSTANT)."""
    ax, ay = anchor
    kh, kw = kf.shape
    pad = np.zeros((a.shape[0] + kh - 1, a.shape[1] + kw - 1))
    pad[ay:ay + a.shape[0], ax:ax + a.shape[1]] = a
    out = np.zeros(a.shape)
    for p in range(kh):
        for q in range(kw):
            out += kf[p, q] * pad[p:p + a.shape[0], q:q + a.shape[1]]
    return out


def _torch_correlate(a, w, pad):
    """torch.nn.functional.conv{1,2}d in NumPy: zero padding ``pad`` on both sides, then a
    correlation with ``w`` over every full window."""
    x = np.pad(a, [(p, p) for p in pad])
    out_shape = tuple(n - k + 1 for n, k in zip(x.shape, w.shape))
    out = np.zeros(out_shape)
    for idx in np.ndindex(*w.shape):
        window = tuple(slice(i, i + n) for i, n in zip(idx, out_shape))
        out += w[idx] * x[window]
    return out


def _check(out, a, kern, mode):
    ref = scipy.signal.convolve(a, kern, mode=mode, method="direct")
    assert out.shape == ref.shape
    check = compare(np.asarray(out, dtype=ref.dtype), ref, bound(a, kern, mode, ref.dtype))
    assert check["agree"], check["reason"]


# --------------------------------------------------------------------------
# the geometry, without OpenCV or torch
# --------------------------------------------------------------------------

@pytest.mark.parametrize("shape_a, shape_k", SHAPES_2D)
def test_opencv_anchor_gives_scipys_same(shape_a, shape_k):
    """The flipped kernel at :func:`same_anchor` is SciPy's 'same', even kernels included."""
    a, kern = grids.inputs(shape_a, shape_k, "float64")
    out = _opencv_correlate(a, kern[::-1, ::-1], peers.same_anchor(shape_k))
    _check(out, a, kern, "same")


@pytest.mark.parametrize("shape_a, shape_k", [s for s in SHAPES_2D if min(s[1]) > 1])
def test_rank1_taps_as_opencv_runs_them(shape_a, shape_k):
    """sepFilter2D's row and column taps (flipped, same anchor) rebuild SciPy's 'same'."""
    a, kern = grids.inputs(shape_a, shape_k, "float64", separable=True)
    col, row = peers.rank1_taps(kern)
    np.testing.assert_allclose(np.outer(col, row), kern, rtol=1e-12, atol=1e-14)
    out = _opencv_correlate(a, np.outer(col[::-1], row[::-1]), peers.same_anchor(shape_k))
    _check(out, a, kern, "same")


def test_rank1_taps_take_numbaconvs_test():
    assert peers.rank1_taps(grids.gaussian_kernel(7, "float32"))[0].dtype == np.float32
    _, dense = grids.inputs((8, 8), (5, 5), "float64")
    with pytest.raises(peers.Skip, match="not rank 1"):
        peers.rank1_taps(dense)
    with pytest.raises(peers.Skip, match="not rank 1"):
        peers.rank1_taps(np.ones(5))


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("ndim", [1, 2])
def test_torch_geometry_gives_scipys_modes(ndim, mode):
    """Symmetric padding and the slice of :func:`torch_geometry` give each SciPy mode."""
    shapes = [((n,), (k,)) for n, k in SHAPES_1D] if ndim == 1 else SHAPES_2D
    for shape_a, shape_k in shapes:
        a, kern = grids.inputs(shape_a, shape_k, "float64")
        pad, slices = peers.torch_geometry(shape_a, shape_k, mode)
        out = _torch_correlate(a, np.flip(kern), pad)[slices]
        _check(out, a, kern, mode)
    with pytest.raises(ValueError, match="unknown mode"):
        peers.torch_geometry((5,), (3,), "circular")


def test_absent_libraries_are_skipped(monkeypatch):
    """Without OpenCV or torch every peer of theirs says so (asv shows a skipped cell)."""
    monkeypatch.setitem(sys.modules, "cv2", None)      # import cv2 -> ImportError
    monkeypatch.setitem(sys.modules, "torch", None)
    a, kern = grids.inputs((16, 16), (3, 3), "float64", separable=True)
    for name in ("cv2.filter2D", "cv2.sepFilter2D"):
        with pytest.raises(peers.Skip, match="OpenCV"):
            peers.make(name, a, kern, "same")
    for name in ("torch.conv1d", "torch.conv2d"):
        with pytest.raises(peers.Skip, match="torch is not installed"):
            peers.make(name, a, kern, "same")


def test_every_optional_peer_is_known_and_threaded_ones_are_optional():
    assert {"cv2.sepFilter2D", "torch.conv1d", "torch.conv2d"} <= set(peers.OPTIONAL)
    assert peers.THREADED <= set(peers.OPTIONAL)
    for name in peers.OPTIONAL:
        try:
            peers.make(name, np.ones(8), np.ones(3), "full")
        except peers.Skip:
            pass
    with pytest.raises(ValueError, match="unknown peer"):
        peers.make("cv2.blur", np.ones(8), np.ones(3), "full")


def test_torch_peers_are_direct_like():
    """torch's CPU convolution does outputs x taps work: huge cells are skipped, not timed."""
    with pytest.raises(peers.Skip, match="multiply-adds"):
        peers.make("torch.conv1d", np.ones(1000), np.ones(100), "full", max_direct_ops=1e4)


# --------------------------------------------------------------------------
# the libraries themselves (where installed)
# --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape_a, shape_k", SHAPES_2D)
def test_cv2_filter2d_matches_scipy(shape_a, shape_k, dtype):
    pytest.importorskip("cv2")
    a, kern = grids.inputs(shape_a, shape_k, dtype)
    _check(peers.make("cv2.filter2D", a, kern, "same")(), a, kern, "same")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape_a, shape_k", [s for s in SHAPES_2D if min(s[1]) > 1])
def test_cv2_sepfilter2d_matches_scipy(shape_a, shape_k, dtype):
    pytest.importorskip("cv2")
    a, kern = grids.inputs(shape_a, shape_k, dtype, separable=True)
    _check(peers.make("cv2.sepFilter2D", a, kern, "same")(), a, kern, "same")


@pytest.mark.parametrize("k", [3, 4, 7, 8, 15, 31])
def test_cv2_sepfilter2d_on_the_gaussian(k):
    pytest.importorskip("cv2")
    for dtype in ("float32", "float64"):
        a = grids.inputs((64, 48), (1, 1), dtype)[0]
        kern = grids.gaussian_kernel(k, dtype)
        _check(peers.make("cv2.sepFilter2D", a, kern, "same")(), a, kern, "same")


def test_cv2_peers_refuse_what_they_cannot_run():
    pytest.importorskip("cv2")
    a, kern = grids.inputs((16, 16), (3, 3), "float64")
    with pytest.raises(peers.Skip, match="not rank 1"):
        peers.make("cv2.sepFilter2D", a, kern, "same")
    for name in ("cv2.filter2D", "cv2.sepFilter2D"):
        with pytest.raises(peers.Skip, match="'same' only"):
            peers.make(name, a, kern, "full")
        with pytest.raises(peers.Skip, match="float32/float64"):
            peers.make(name, a.astype(np.int32), kern.astype(np.int32), "same")


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_torch_peers_match_scipy(mode, dtype):
    pytest.importorskip("torch")
    for n, k in SHAPES_1D:
        a, kern = grids.inputs((n,), (k,), dtype)
        _check(peers.make("torch.conv1d", a, kern, mode)(), a, kern, mode)
    for shape_a, shape_k in SHAPES_2D:
        a, kern = grids.inputs(shape_a, shape_k, dtype)
        _check(peers.make("torch.conv2d", a, kern, mode)(), a, kern, mode)


def test_torch_valid_swaps_like_scipy():
    pytest.importorskip("torch")
    a, kern = grids.inputs((5, 6), (9, 8), "float64")
    _check(peers.make("torch.conv2d", a, kern, "valid")(), a, kern, "valid")
    with pytest.raises(peers.Skip, match="at least as large"):
        peers.make("torch.conv2d", *grids.inputs((5, 9), (9, 5), "float64"), "valid")
    with pytest.raises(peers.Skip, match="2-D only"):
        peers.make("torch.conv2d", np.ones(8), np.ones(3), "full")
    with pytest.raises(peers.Skip, match="float32/float64"):
        peers.make("torch.conv1d", np.ones(8, np.complex128), np.ones(3, np.complex128), "full")


@pytest.mark.parametrize("name, module", [("cv2.filter2D", "cv2"), ("torch.conv2d", "torch")])
def test_threaded_peers_run_on_the_workers(name, module):
    """OpenCV and torch take numbaconv's ``workers`` as their thread count, at each call."""
    lib = pytest.importorskip(module)
    get = lib.getNumThreads if module == "cv2" else lib.get_num_threads
    put = lib.setNumThreads if module == "cv2" else lib.set_num_threads
    before = get()
    a, kern = grids.inputs((16, 16), (3, 3), "float64")
    try:
        fn = peers.make(name, a, kern, "same", workers=1)
        put(2)
        fn()
        assert get() == 1
    finally:
        put(before)


def test_checked_runs_each_peer_once_and_records_why_not(monkeypatch):
    """peers.checked: runnable peers come back checked against SciPy; one that cannot run, or
    raises, is recorded as skipped with the reason."""
    a, kern = grids.inputs((200,), (5,), "float64")
    ref = scipy.signal.convolve(a, kern)
    fns, info = peers.checked(["numpy.convolve", "scipy.convolve2d"], a, kern, "full", ref,
                              bound(a, kern, "full", ref.dtype))
    assert list(fns) == ["numpy.convolve"] and info["numpy.convolve"]["agree"] is True
    assert "2-D only" in info["scipy.convolve2d"]["skipped"]
    real = peers.make

    def broken(name, *args, **kwargs):
        if name == "numpy.convolve":
            raise RuntimeError("no luck")
        return real(name, *args, **kwargs)
    monkeypatch.setattr(peers, "make", broken)
    fns, info = peers.checked(["numpy.convolve", "scipy.fft"], a, kern, "full", ref, 1e-9)
    assert list(fns) == ["scipy.fft"]
    assert info["numpy.convolve"] == {"skipped": "RuntimeError: no luck"}
