"""Threads: ``workers`` with scipy.fft's semantics, and its way down to the kernels.

``get_workers``/``set_workers`` and the ``workers=`` keyword behave like
scipy.fft's (thread-local contexts, negative counts, errors); the count
reaches the backend's ``run``, the Numba thread count inside the parallel
kernels, the pocketfft calls and overlap-add's block groups; Numba's thread
count is restored after every call, also when the kernel raised; and 1, 2
and all threads give the same results.
"""
from __future__ import annotations

import os
import threading

import numba
import numpy as np
import pytest
import scipy.fft
import scipy.signal as ss

import numbaconv
from helpers import INT_KINDS, assert_matches_scipy, exact_reference, make_array, run_both, shape_id
from numbaconv import _backends, _config, _plans
from numbaconv._backends import cpu_direct, cpu_fft, cpu_oa
from numbaconv._kernels import calls


def nc():
    return numbaconv

CPUS = os.cpu_count() or 1


def test_default_is_a_positive_int():
    w = nc().get_workers()
    assert isinstance(w, int) and not isinstance(w, bool)
    assert 1 <= w <= max(CPUS, 1)


def test_get_workers_is_stable_outside_contexts():
    assert nc().get_workers() == nc().get_workers()


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_set_workers_sets_and_restores(n):
    default = nc().get_workers()
    with nc().set_workers(n):
        assert nc().get_workers() == n
    assert nc().get_workers() == default


def test_nested_contexts_restore_in_order():
    default = nc().get_workers()
    with nc().set_workers(1):
        assert nc().get_workers() == 1
        with nc().set_workers(3):
            assert nc().get_workers() == 3
            with nc().set_workers(2):
                assert nc().get_workers() == 2
            assert nc().get_workers() == 3
        assert nc().get_workers() == 1
    assert nc().get_workers() == default


def test_restored_after_exception():
    default = nc().get_workers()
    with pytest.raises(RuntimeError):
        with nc().set_workers(1):
            with nc().set_workers(2):
                raise RuntimeError("boom")
    assert nc().get_workers() == default


@pytest.mark.parametrize("n", sorted({-1, -min(2, CPUS), -CPUS}), ids=lambda n: str(n))
def test_negative_counts_back_from_cpu_count(n):
    with scipy.fft.set_workers(n):
        expected = scipy.fft.get_workers()  # the oracle: cpu_count + 1 + n
    assert expected == CPUS + 1 + n
    with nc().set_workers(n):
        assert nc().get_workers() == expected


@pytest.mark.parametrize("n", [0, -(CPUS + 1), -1000], ids=["0", "-(cpus+1)", "-1000"])
def test_out_of_range_raises_value_error(n):
    with pytest.raises(ValueError):
        with scipy.fft.set_workers(n):
            pass
    before = nc().get_workers()
    with pytest.raises(ValueError):
        with nc().set_workers(n):
            pass
    assert nc().get_workers() == before


def test_workers_zero_keyword_raises():
    a = np.arange(10.0)
    with pytest.raises(ValueError):
        nc().convolve(a, a, workers=0)
    with pytest.raises(ValueError):
        nc().fftconvolve(a, a, workers=0)
    with pytest.raises(ValueError):
        nc().convolve2d(a[None], a[None], workers=0)


def test_numpy_integer_accepted():
    with nc().set_workers(np.int32(2)):
        assert nc().get_workers() == 2


def _in_thread(fn):
    box = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001
            box["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    t.join(30)
    assert not t.is_alive()
    if "error" in box:
        raise box["error"]
    return box["value"]


def test_new_thread_does_not_inherit_context():
    default = nc().get_workers()
    other = 1 if default != 1 else 2
    with nc().set_workers(other):
        assert nc().get_workers() == other
        assert _in_thread(nc().get_workers) == default
    assert nc().get_workers() == default


def test_thread_context_does_not_leak_to_other_threads():
    """Two threads hold different contexts at the same time."""
    default = nc().get_workers()
    barrier = threading.Barrier(2, timeout=30)
    seen = {}

    def worker(name, n):
        with nc().set_workers(n):
            barrier.wait()  # both contexts are active now
            seen[name] = nc().get_workers()
            barrier.wait()
        seen[name + "-after"] = nc().get_workers()

    threads = [threading.Thread(target=worker, args=("t1", 1)),
               threading.Thread(target=worker, args=("t3", 3))]
    for t in threads:
        t.start()
    with nc().set_workers(2):
        for t in threads:
            t.join(60)
        assert nc().get_workers() == 2
    assert seen == {"t1": 1, "t3": 3, "t1-after": default, "t3-after": default}


def test_results_independent_of_context():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((60, 50))
    b = rng.standard_normal((7, 6))
    ref = nc().convolve(a, b, method="direct", workers=1)
    with nc().set_workers(2):
        inside = nc().convolve(a, b, method="direct")
        explicit = nc().convolve(a, b, method="direct", workers=1)
    assert_matches_scipy(inside, ref, a, b, fft=False)
    assert_matches_scipy(explicit, ref, a, b, fft=False)


def test_calls_from_many_threads_agree():
    """Concurrent calls (each with its own workers setting) give the serial result."""
    rng = np.random.default_rng(6)
    a = rng.standard_normal(4000)
    b = rng.standard_normal(65)
    import scipy.signal
    ref = scipy.signal.convolve(a, b, method="direct")
    results = [None] * 4

    def job(i):
        with nc().set_workers(1 + i % 2):
            results[i] = nc().convolve(a, b)

    threads = [threading.Thread(target=job, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for r in results:
        assert_matches_scipy(r, ref, a, b, fft=False)


# --------------------------------------------------------------------------
# the workers keyword: scipy.fft's semantics are the oracle
# --------------------------------------------------------------------------

A1 = np.arange(1.0, 8.0)
B1 = np.array([1.0, -2.0, 0.5])
A2 = np.arange(20.0).reshape(4, 5)
B2 = np.arange(6.0).reshape(2, 3) - 2

WORKERS = [0, -10_000, 1.5, "2", None, 1, 2, -1, np.int64(2)]
KEYWORD_CALLS = {
    "convolve": ("convolve", A2, B2, {}),
    "convolve-direct": ("convolve", A2, B2, {"method": "direct"}),
    "convolve-fft": ("convolve", A2, B2, {"method": "fft"}),
    "correlate": ("correlate", A1, B1, {}),
    "fftconvolve": ("fftconvolve", A2, B2, {}),
    "oaconvolve": ("oaconvolve", A2, B2, {}),
    "convolve2d": ("convolve2d", A2, B2, {}),
    "correlate2d": ("correlate2d", A2, B2, {"mode": "same", "boundary": "wrap"}),
}


@pytest.mark.parametrize("workers", WORKERS, ids=repr)
@pytest.mark.parametrize("call", list(KEYWORD_CALLS))
def test_workers_keyword_like_scipy_fft(call, workers):
    """workers=0 -> ValueError, too negative -> ValueError, non-integer ->
    the same exception type as ``scipy.fft.fft(x, workers=...)``."""
    fname, a, b, kw = KEYWORD_CALLS[call]
    out = run_both(lambda: getattr(numbaconv, fname)(a, b, workers=workers, **kw),
                   lambda: scipy.fft.fft(A1, workers=workers), context=f"[{call} workers={workers!r}]")
    if out.ok:
        ref = getattr(ss, fname)(a, b, **kw)
        assert_matches_scipy(out.ours, ref, a, b, fname, kw.get("mode", "full"),
                             boundary=kw.get("boundary", "fill"))


@pytest.mark.parametrize("workers", [0, -10_000, 1.5, "2", None, 2, -1],
                         ids=repr)
def test_set_workers_rejects_like_scipy_fft(workers):
    def enter(module):
        with module.set_workers(workers):
            return module.get_workers()
    run_both(lambda: enter(numbaconv), lambda: enter(scipy.fft), context=f"[set_workers({workers!r})]")


# --------------------------------------------------------------------------
# the count reaches the backend and the kernels
# --------------------------------------------------------------------------

class CountingDirect:
    """A direct backend that records the ``workers`` it is run with."""

    NAME, DEVICE, METHOD = "fake_direct", "cpu", "direct"

    def __init__(self):
        self.workers = []

    def available(self):
        return True

    def supports(self, problem):
        return True

    def cost(self, problem, workers=None):
        return 0.0

    def run(self, problem, a, k, *, workers):
        self.workers.append(workers)
        return cpu_direct.run(problem, a, k, workers=workers)


@pytest.fixture
def counting(monkeypatch):
    fake = CountingDirect()
    monkeypatch.setitem(_backends.REGISTRY, fake.NAME, fake)
    _plans.forget()
    yield fake
    _plans.forget()


@pytest.mark.parametrize("fname", ["convolve", "correlate", "convolve2d", "correlate2d"])
def test_workers_reach_the_backend(counting, fname):
    a, b = np.arange(60.0).reshape(6, 10), np.arange(6.0).reshape(2, 3)
    call = getattr(numbaconv, fname)
    for _ in range(2):                               # fresh, then memoised
        counting.workers.clear()
        call(a, b, workers=1)
        call(a, b, workers=-1)
        call(a, b)
        with numbaconv.set_workers(1):
            call(a, b)
            call(a, b, workers=2)
        every = _config.cpu_count()
        assert counting.workers == [1, every, numbaconv.get_workers(), 1, 2]


def _record_threads(module, name, log, monkeypatch, fail=None):
    """Replace the compiled ``module.name`` (``_items_par``) by a caller that records the
    thread count it is asked to run on (its last argument; it sets Numba's count itself,
    which ``test_parallel_items_run_on_the_threads_asked`` checks)."""
    kernel = getattr(module, name)

    def recording(*args):
        log.append(args[-1])
        if fail is not None:
            raise fail
        return kernel(*args)
    monkeypatch.setattr(module, name, recording)


@numba.njit
def _threads_seen(seen, i):
    seen[i] = numba.get_num_threads()


def test_parallel_items_run_on_the_threads_asked(thread_count):
    """The parallel item loop sets Numba's thread count for its items and puts the caller's
    back (a wrong count, or one left behind, fails here)."""
    seen = np.zeros(64, np.int64)
    numba.set_num_threads(1)
    calls.run_items(_threads_seen, (seen,), seen.size, numba.config.NUMBA_NUM_THREADS)
    assert (seen == numba.config.NUMBA_NUM_THREADS).all()
    assert numba.get_num_threads() == 1
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    calls.run_items(_threads_seen, (seen,), seen.size, 1)     # serially: the caller's count
    assert (seen == numba.config.NUMBA_NUM_THREADS).all()


@pytest.fixture
def thread_count():
    """Numba's thread count of this thread, put back after the test."""
    old = numba.get_num_threads()
    yield old
    numba.set_num_threads(old)


needs_two_threads = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2,
                                       reason="Numba has a single thread here")


@needs_two_threads
@pytest.mark.parametrize("shapes", [((300, 200), (7, 7)), ((1, 60000), (1, 31)), ((20, 30, 400), (2, 3, 5))],
                         ids=lambda s: shape_id(*s))
def test_workers_reach_the_parallel_direct_kernel(shapes, monkeypatch, thread_count):
    rng = np.random.default_rng(0)
    a, k = rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])
    seen = []
    _record_threads(calls, "_items_par", seen, monkeypatch)
    _plans.PLANS.clear()
    numba.set_num_threads(1)
    for _ in range(2):                               # fresh, then memoised
        seen.clear()
        out = numbaconv.convolve(a, k, "same", method="direct", workers=2)
        assert seen == [2]
        assert numba.get_num_threads() == 1          # restored after the call
        numbaconv.convolve(a, k, "same", method="direct", workers=1)
        assert seen == [2]                           # one thread: the serial kernel
    assert_matches_scipy(out, ss.convolve(a, k, "same", method="direct"), a, k, "convolve", "same",
                         fft=False)


@needs_two_threads
def test_workers_reach_the_separable_kernel(monkeypatch, thread_count):
    rng = np.random.default_rng(1)
    img = rng.standard_normal((400, 400))
    g = np.outer(np.exp(-np.linspace(-2, 2, 15) ** 2), np.exp(-np.linspace(-2, 2, 15) ** 2))
    seen = []
    _record_threads(calls, "_items_par", seen, monkeypatch)
    numba.set_num_threads(1)
    numbaconv.convolve(img, g, "same", method="separable", workers=2)
    assert seen == [2] and numba.get_num_threads() == 1


class FFTSpy:
    """scipy.fft as cpu_fft sees it, recording the ``workers`` of every transform."""

    def __init__(self, real):
        self.real, self.workers = real, []

    def __getattr__(self, name):
        attr = getattr(self.real, name)
        if not name.endswith("fftn"):
            return attr

        def transform(*args, **kw):
            self.workers.append(kw.get("workers"))
            return attr(*args, **kw)
        return transform


@pytest.mark.parametrize("workers", [1, 2])
def test_workers_reach_the_transforms(workers, monkeypatch):
    spy = FFTSpy(cpu_fft.sp_fft)
    monkeypatch.setattr(cpu_fft, "sp_fft", spy)
    rng = np.random.default_rng(2)
    a, k = rng.standard_normal((1024, 1024)), rng.standard_normal((64, 64))   # 1088² points
    out = numbaconv.convolve(a, k, method="fft", workers=workers)
    assert spy.workers == [workers] * 3               # two forward transforms, one inverse
    spy.workers.clear()
    numbaconv.fftconvolve(a[:20, :20], k[:5, :5], workers=workers)
    assert spy.workers == [1] * 3                     # small transforms: one thread
    assert_matches_scipy(out, ss.fftconvolve(a, k), a, k)


def test_workers_reach_the_overlap_add_groups(monkeypatch):
    seen = []
    oa_1d = cpu_oa._oa_1d
    monkeypatch.setattr(cpu_oa, "_oa_1d", lambda a, h, nfft, threads, dtype:
                        seen.append(threads) or oa_1d(a, h, nfft, threads, dtype))
    rng = np.random.default_rng(3)
    a, k = rng.standard_normal(200000), rng.standard_normal(3001)
    numbaconv.convolve(a, k, method="oa", workers=1)
    out = numbaconv.convolve(a, k, method="oa", workers=2)
    assert seen[0] == 1 and 1 <= seen[1] <= 2
    assert_matches_scipy(out, ss.fftconvolve(a, k), a, k)


# --------------------------------------------------------------------------
# numba_threads: set, clamp and restore (also after an exception)
# --------------------------------------------------------------------------

def test_numba_threads_sets_clamps_and_restores(thread_count):
    top = numba.config.NUMBA_NUM_THREADS
    numba.set_num_threads(top)
    with _config.numba_threads(1) as n:
        assert n == 1 and numba.get_num_threads() == 1
    assert numba.get_num_threads() == top
    with _config.numba_threads(10 ** 6) as n:
        assert n == top and numba.get_num_threads() == top
    numba.set_num_threads(1)
    with _config.numba_threads(top) as n:
        assert numba.get_num_threads() == n == top
    assert numba.get_num_threads() == 1


def test_numba_threads_restores_after_an_exception(thread_count):
    top = numba.config.NUMBA_NUM_THREADS
    for before, inside in ((top, 1), (1, top)):
        numba.set_num_threads(before)
        with pytest.raises(KeyError):
            with _config.numba_threads(inside):
                assert numba.get_num_threads() == inside
                raise KeyError("boom")
        assert numba.get_num_threads() == before


@needs_two_threads
def test_thread_count_restored_when_a_parallel_kernel_raises(monkeypatch, thread_count):
    seen = []
    _record_threads(calls, "_items_par", seen, monkeypatch, fail=FloatingPointError("boom"))
    _plans.PLANS.clear()
    rng = np.random.default_rng(4)
    a, k = rng.standard_normal((300, 200)), rng.standard_normal((7, 7))
    numba.set_num_threads(1)
    for _ in range(2):
        with pytest.raises(FloatingPointError):
            numbaconv.convolve(a, k, "same", method="direct", workers=2)
        assert seen[-1] == 2 and numba.get_num_threads() == 1


# --------------------------------------------------------------------------
# 1, 2 and all threads agree (and agree with SciPy)
# --------------------------------------------------------------------------

WORKER_CALLS = ["convolve-auto", "convolve-direct", "convolve-fft", "convolve-oa", "correlate-auto",
                "fftconvolve", "oaconvolve", "convolve2d", "correlate2d"]
WORKER_SHAPES = [((5000,), (33,)), ((96, 80), (7, 6)), ((20, 18, 16), (3, 4, 3))]
#: (call, shapes): the 2-D functions take 2-D inputs only
WORKER_CASES = [(call, shapes) for call in WORKER_CALLS for shapes in WORKER_SHAPES
                if not call.endswith("2d") or len(shapes[0]) == 2]


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int32, np.complex128],
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("call, shapes", WORKER_CASES,
                         ids=[f"{c}-{shape_id(*s)}" for c, s in WORKER_CASES])
def test_workers_agree(call, shapes, dtype, rng):
    fname, _, method = call.partition("-")
    a = make_array(shapes[0], dtype, rng)
    b = make_array(shapes[1], dtype, rng)
    kw = {"method": method} if method else {}
    res = {w: getattr(numbaconv, fname)(a, b, "same", workers=w, **kw) for w in (1, 2, -1)}
    for w in (2, -1):
        assert_matches_scipy(res[w], res[1], a, b, fname, "same", err_msg=f"workers={w} vs workers=1")
    ref_kw = {"method": "fft"} if method == "oa" else kw
    ref = getattr(ss, fname)(a, b, "same", **ref_kw)
    if np.asarray(ref).dtype.kind in INT_KINDS and fname in ("convolve", "correlate"):
        ref = exact_reference(fname, a, b, "same", "direct", ref)
    assert_matches_scipy(res[1], ref, a, b, fname, "same")
    with numbaconv.set_workers(2):
        inside = getattr(numbaconv, fname)(a, b, "same", **kw)
    assert_matches_scipy(inside, res[1], a, b, fname, "same")
