"""get_workers / set_workers: scipy.fft's semantics, thread-local contexts."""
from __future__ import annotations

import os
import threading

import numpy as np
import pytest
import scipy.fft

from conftest import assert_matches_scipy, nc

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


@pytest.mark.parametrize("n", [-1, -2, -CPUS], ids=["-1", "-2", "-cpus"])
def test_negative_counts_back_from_cpu_count(n):
    if -n > CPUS:
        pytest.skip("needs more CPUs")
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
    assert_matches_scipy(inside, ref, a, b)
    assert_matches_scipy(explicit, ref, a, b)


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
        assert_matches_scipy(r, ref, a, b)
