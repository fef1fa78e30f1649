"""Every CPU FFT path transforms through the caller's :mod:`scipy.fft` backend.

A user who makes a faster backend active (``scipy.fft.set_backend`` with
pyFFTW or mkl_fft) must get it in every transform numbaconv runs, also on
the threads of the overlap-add pool: ``set_backend`` is local to the thread
that calls it.  :class:`Recorder` is a backend that notes each transform
and computes it with SciPy's own; :func:`through_recorder` makes it active
for one call and a :class:`Counter` counts every transform SciPy's own code
computes meanwhile, so that a transform that bypasses the caller's backend
fails the test.  Every result
is compared with ``scipy.signal`` through the tolerance table.  The pyFFTW
tests run where pyFFTW is installed.
"""
from __future__ import annotations

import collections
import math
import threading

import numpy as np
import pytest
import scipy.fft
import scipy.signal as ss

import numbaconv
import numbaconv.nn as nn
from helpers import assert_matches_scipy, make_array
from numbaconv._backends import cpu_oa
from numbaconv._problem import build_problem
from numbaconv._tools import tolerance

# SciPy's own scipy.fft backend (what "scipy" names) and the module it computes with
from scipy.fft import _basic_backend
from scipy.fft._backend import _ScipyBackend as _SCIPY

#: thread names of the overlap-add pool
POOL_PREFIX = "numbaconv-oa"


class Recorder:
    """A :mod:`scipy.fft` backend that records each call and computes it with SciPy's own.

    ``calls`` holds ``(function name, thread name, workers)`` per transform.
    """

    __ua_domain__ = "numpy.scipy.fft"

    def __init__(self):
        self.calls = []
        self._lock = threading.Lock()

    def __ua_function__(self, method, args, kwargs):
        with self._lock:
            self.calls.append((method.__name__, threading.current_thread().name,
                               kwargs.get("workers")))
        # SciPy's own backend called directly, as scipy.fft does: no backend context of
        # its own is entered on the pool's threads
        return _SCIPY.__ua_function__(method, args, kwargs)


class Counter:
    """Counts every transform SciPy's own implementation computes, by (function, thread).

    Installed by wrapping the functions of ``scipy.fft._basic_backend`` (what
    SciPy's backend calls): the process-wide backend is left alone, since
    changing it while another thread of a long test process dispatches a
    transform is a data race in uarray.
    """

    def __init__(self):
        self.calls = []
        self._lock = threading.Lock()
        self._saved = {}
        self._depth = threading.local()

    def __enter__(self):
        for name in scipy.fft.__all__:
            fn = getattr(_basic_backend, name, None)
            if callable(fn):
                self._saved[name] = fn
                setattr(_basic_backend, name, self._counting(name, fn))
        return self

    def __exit__(self, *exc):
        for name, fn in self._saved.items():
            setattr(_basic_backend, name, fn)

    def _counting(self, name, fn):
        depth = self._depth

        def counted(*args, **kwargs):
            if not getattr(depth, "n", 0):         # outermost only: rfft2 calls rfftn
                with self._lock:
                    self.calls.append((name, threading.current_thread().name))
            depth.n = getattr(depth, "n", 0) + 1
            try:
                return fn(*args, **kwargs)
            finally:
                depth.n -= 1
        return counted


def through_recorder(fn):
    """Return ``(fn(), recorder)``: ``fn`` run with a :class:`Recorder` active.

    Fails if a transform was computed without going through the recorder (on
    a thread that did not carry the caller's backend), or if none reached it.
    """
    rec = Recorder()
    with Counter() as counter:
        with scipy.fft.set_backend(rec):
            result = fn()
    recorded = collections.Counter((name, thread) for name, thread, _ in rec.calls)
    bypassed = collections.Counter(counter.calls) - recorded
    assert not bypassed, f"transforms bypassed the active backend: {sorted(bypassed)}"
    assert rec.calls, "no transform went through the active backend"
    return result, rec


def pool_calls(rec):
    """Return the recorded calls made on the overlap-add pool's threads."""
    return [c for c in rec.calls if c[1].startswith(POOL_PREFIX)]


# ---------------------------------------------------------------- the harness itself

def test_the_harness_catches_a_transform_on_another_thread():
    """The harness fails a transform run on a thread that does not carry the caller's backend."""
    x = np.arange(16.0)

    def elsewhere():
        out = []
        t = threading.Thread(target=lambda: out.append(_call_quietly(scipy.fft.rfft, x)))
        t.start()
        t.join()
        return out[0]

    with pytest.raises(AssertionError, match="bypassed"):
        through_recorder(elsewhere)


def _call_quietly(fn, *args):
    try:
        return fn(*args)
    except AssertionError as exc:
        return exc


def test_the_recorder_gives_scipys_transforms():
    x = np.random.default_rng(0).standard_normal(100)
    got, rec = through_recorder(lambda: scipy.fft.rfft(x))
    np.testing.assert_array_equal(got, scipy.fft.rfft(x))
    assert rec.calls == [("rfft", threading.current_thread().name, None)]


# ---------------------------------------------------------------- each path

FFT_CASES = [((2000,), (301,), None), ((40, 50), (7, 9), None), ((6, 300), (1, 40), (1,)),
             ((5, 6, 30), (1, 6, 7), (0, 2))]


@pytest.mark.parametrize("fname", ["fftconvolve", "oaconvolve"])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128],
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("sa, sk, axes", FFT_CASES,
                         ids=["1d", "2d", "2d-axes1", "3d-axes02"])
def test_fftconvolve_and_oaconvolve(fname, sa, sk, axes, mode, dtype, rng):
    a, b = make_array(sa, dtype, rng), make_array(sk, dtype, rng)
    ref = getattr(ss, fname)(a, b, mode, axes=axes)
    got, _ = through_recorder(lambda: getattr(numbaconv, fname)(a, b, mode, axes=axes))
    assert_matches_scipy(got, ref, a, b, fname, mode, axes=axes)


@pytest.mark.parametrize("op", ["convolve", "correlate"])
@pytest.mark.parametrize("method", ["fft", "oa"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.int16],
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("sa, sk", [((3000,), (200,)), ((60, 70), (9, 5))], ids=["1d", "2d"])
def test_convolve_and_correlate_by_fft(op, method, sa, sk, dtype, rng):
    a, b = make_array(sa, dtype, rng), make_array(sk, dtype, rng)
    ref = getattr(ss, op)(a, b, "same", method="fft")
    got, _ = through_recorder(lambda: getattr(numbaconv, op)(a, b, "same", method=method))
    assert_matches_scipy(got, ref, a, b, op, "same")


@pytest.mark.parametrize("dtype", [np.float32, np.complex128], ids=lambda d: np.dtype(d).name)
def test_overlap_add_block_groups_on_the_pool(dtype, rng):
    """The 1-D block groups run on the pool under the caller's backend, one thread per transform."""
    a, h = make_array((5000,), dtype, rng), make_array((301,), dtype, rng)
    got, rec = through_recorder(lambda: cpu_oa._oa_1d(a, h, 1024, 3, np.dtype(dtype)))
    assert_matches_scipy(got, ss.fftconvolve(a, h), a, h, "fftconvolve")
    assert len(pool_calls(rec)) >= 3, rec.calls        # each of the 3 groups on the pool
    assert all(w == 1 for _, _, w in rec.calls), rec.calls


@pytest.mark.parametrize("sa, sk, workers, on_pool", [
    ((150_000,), (3001,), 2, True), ((300, 500), (31, 17), 2, True),
    ((150_000,), (3001,), 1, False), ((20_000,), (3001,), 2, False)],
    ids=["1d", "2d", "one-worker", "small"])
def test_plain_fft_kernel_transform_beside(sa, sk, workers, on_pool, rng):
    """Where each transform runs on one thread, a large problem's kernel is transformed on
    the pool while the caller transforms the signal, under the caller's backend, one
    thread per transform; one worker or a small transform keeps both on the caller."""
    a, k = make_array(sa, np.float64, rng), make_array(sk, np.float64, rng)
    got, rec = through_recorder(lambda: numbaconv.convolve(a, k, method="fft", workers=workers))
    assert_matches_scipy(got, ss.fftconvolve(a, k), a, k, "fftconvolve")
    assert len(pool_calls(rec)) == (1 if on_pool else 0), rec.calls
    assert all(w == 1 for _, _, w in rec.calls), rec.calls


@pytest.mark.parametrize("mode", ["full", "same"])
def test_overlap_add_tiles_on_the_pool(mode, rng):
    """The 2-D tile rows run on the pool under the caller's backend, one thread per transform."""
    a, k = make_array((300, 310), np.float64, rng), make_array((31, 17), np.float64, rng)
    p = build_problem(a.shape, k.shape, mode, np.dtype(np.float64))
    got, rec = through_recorder(
        lambda: cpu_oa._os_2d(a, k, (64, 64), 2, np.dtype(np.float64), p.origin, p.out_shape))
    assert_matches_scipy(got, ss.convolve(a, k, mode), a, k, "convolve", mode)
    assert pool_calls(rec)
    assert all(w == 1 for _, _, w in rec.calls), rec.calls


def test_overlap_add_plans_through_the_api(rng):
    """method='oa' where the plan is block groups on 2 threads (1-D) and tiles (2-D)."""
    cases = [((200_000,), (3001,), "full"), ((1100, 1000), (31, 31), "same")]
    for sa, sk, mode in cases:
        p = build_problem(sa, sk, mode, np.dtype(np.float64))
        plan = cpu_oa.plan(p, 2)
        if plan is None or plan[2] < 2:
            continue                     # this machine's coefficients chose one thread
        a, b = make_array(sa, np.float64, rng), make_array(sk, np.float64, rng)
        ref = ss.convolve(a, b, mode, method="fft")
        got, rec = through_recorder(
            lambda: numbaconv.convolve(a, b, mode, method="oa", workers=2))
        assert_matches_scipy(got, ref, a, b, "convolve", mode)
        assert pool_calls(rec), f"{sa} * {sk}: no transform on the pool"


def _layer_reference(x, w, op):
    """Return ``(value, magnitude)`` of the forward layer (``op`` = 'correlate') from scipy.signal."""
    def apply(x, w):
        n, o = x.shape[0], w.shape[0]
        out = [[sum(getattr(ss, op)(x[i, c], w[j, c], "valid", method="direct")
                    for c in range(x.shape[1])) for j in range(o)] for i in range(n)]
        return np.asarray(out)
    return apply(x.astype(np.float64), w.astype(np.float64)), apply(np.abs(x).astype(np.float64),
                                                                     np.abs(w).astype(np.float64))


def _assert_layer_close(got, value, magnitude, channels, x, w):
    """Assert the layer result is within :func:`numbaconv._tools.tolerance.allowed_error`.

    ``channels`` input channels are summed per output.
    """
    taps = channels * math.prod(w.shape[2:])
    n_fft = math.prod(n + k - 1 for n, k in zip(x.shape[2:], w.shape[2:]))
    bound = tolerance.allowed_error(magnitude, tolerance.eps(x.dtype), taps, n_fft,
                                    top=float(magnitude.max()))
    verdict = tolerance.compare(got, value.astype(got.dtype), bound)
    assert verdict["agree"], verdict["reason"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("fname, xs, ws", [("conv1d", (2, 3, 60), (4, 3, 9)),
                                           ("conv2d", (2, 3, 20, 24), (4, 3, 7, 5))])
def test_layer_fft(fname, xs, ws, dtype, rng):
    x, w = rng.standard_normal(xs).astype(dtype), rng.standard_normal(ws).astype(dtype)
    value, magnitude = _layer_reference(x, w, "correlate")
    got, _ = through_recorder(lambda: getattr(nn, fname)(x, w, method="fft"))
    assert got.dtype == dtype
    _assert_layer_close(got, value, magnitude, x.shape[1], x, w)


def test_layer_fft_transposed(rng):
    """conv_transpose1d by FFT (stride 1: the full convolution, channels swapped)."""
    y, w = rng.standard_normal((2, 3, 40)), rng.standard_normal((3, 2, 7))
    value, magnitude = _layer_reference(np.pad(y, ((0, 0), (0, 0), (6, 6))),
                                        w.swapaxes(0, 1)[:, :, ::-1], "correlate")
    got, _ = through_recorder(lambda: nn.conv_transpose1d(y, w, method="fft"))
    _assert_layer_close(got, value, magnitude, y.shape[1], y, w)


# ---------------------------------------------------------------- pyFFTW

@pytest.fixture(params=[False, True], ids=["no-cache", "cache"])
def pyfftw_backend(request):
    """Yield pyFFTW's scipy.fft interface, its plan cache off and on (restored afterwards)."""
    pytest.importorskip("pyfftw")
    import pyfftw.interfaces.cache as cache
    import pyfftw.interfaces.scipy_fft as backend
    was = cache.is_enabled()
    (cache.enable if request.param else cache.disable)()
    try:
        yield backend
    finally:
        (cache.enable if was else cache.disable)()


PYFFTW_CASES = [("fftconvolve", (3000,), (301,), "full", {}),
                ("oaconvolve", (20000,), (301,), "full", {"workers": 2}),
                ("oaconvolve", (5, 6, 30), (1, 6, 7), "same", {"axes": (0, 2)}),
                ("convolve", (60, 70), (9, 5), "same", {"method": "fft"}),
                ("correlate", (20000,), (301,), "valid", {"method": "oa", "workers": 2}),
                ("convolve", (1100, 1000), (31, 31), "same", {"method": "oa", "workers": 2})]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64],
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("fname, sa, sk, mode, kw", PYFFTW_CASES,
                         ids=[f"{c[0]}-{len(c[1])}d-{c[3]}-{'-'.join(c[4])}" for c in PYFFTW_CASES])
def test_pyfftw_results_match_scipy(pyfftw_backend, fname, sa, sk, mode, kw, dtype, rng):
    a, b = make_array(sa, dtype, rng), make_array(sk, dtype, rng)
    ref_kw = {k: v for k, v in kw.items() if k == "axes"}
    if kw.get("method") == "oa":
        ref_kw["method"] = "fft"
    elif "method" in kw:
        ref_kw["method"] = kw["method"]
    ref = getattr(ss, fname)(a, b, mode, **ref_kw)
    with scipy.fft.set_backend(pyfftw_backend):
        got = getattr(numbaconv, fname)(a, b, mode, **kw)
    assert_matches_scipy(got, ref, a, b, fname, mode, axes=kw.get("axes"))


def test_pyfftw_layer_fft(pyfftw_backend, rng):
    x, w = rng.standard_normal((2, 3, 20, 24)), rng.standard_normal((4, 3, 7, 5))
    value, magnitude = _layer_reference(x, w, "correlate")
    with scipy.fft.set_backend(pyfftw_backend):
        got = nn.conv2d(x, w, method="fft")
    _assert_layer_close(got, value, magnitude, x.shape[1], x, w)


def test_pyfftw_block_groups_on_the_pool(pyfftw_backend, rng):
    """The pool's transforms are pyFFTW's: it runs them (its plans are made per thread)."""
    a, h = make_array((5000,), np.float32, rng), make_array((301,), np.float32, rng)
    seen = []

    class Spy:
        __ua_domain__ = "numpy.scipy.fft"

        @staticmethod
        def __ua_function__(method, args, kwargs):
            seen.append(threading.current_thread().name)
            fn = getattr(pyfftw_backend, method.__name__, None)
            return NotImplemented if fn is None else fn(*args, **kwargs)

    with scipy.fft.set_backend(Spy):
        got = cpu_oa._oa_1d(a, h, 1024, 2, np.dtype(np.float32))
    assert_matches_scipy(got, ss.fftconvolve(a, h), a, h, "fftconvolve")
    assert any(name.startswith(POOL_PREFIX) for name in seen), seen
