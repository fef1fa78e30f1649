"""numbaconv in child processes (fork, spawn, ProcessPoolExecutor) and from many threads at once.

A process that has run a parallel kernel must be able to fork: with GNU
OpenMP as Numba's threading layer every forked child dies ("fork() called
from a process already using GNU OpenMP") and a pool waits forever, and a
forked child has none of its parent's overlap-add pool threads.  The child
work runs in a script started from the test, so that the parent's threads
are known to be running when it forks; every wait has a timeout, so a hang
fails the test instead of stalling the suite.  SciPy is the oracle.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from importlib import metadata

import numpy as np
import pytest
import scipy.signal as ss

import helpers
import numbaconv

#: seconds a child script may take (pool results themselves wait at most half of it)
SCRIPT_TIMEOUT = 120

#: the parent runs both threaded paths (a parallel direct kernel and overlap-add on its pool),
#: then the same calls in pool workers; inputs and results go to an .npz for the test to check
SCRIPT = r'''
import json
import sys
import threading

import numpy as np

import numbaconv

TASKS = 4


def pool_threads():
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("numbaconv-oa"))


def inputs(seed, n_oa):
    rng = np.random.default_rng(seed)
    # 40000 x 31 float32: past the direct kernel's parallel threshold
    return (rng.standard_normal(40_000).astype(np.float32), rng.standard_normal(31).astype(np.float32),
            rng.standard_normal(n_oa), rng.standard_normal(1001))


def work(args):
    x, k, xo, ko = inputs(*args)
    direct = numbaconv.convolve(x, k, method="direct")
    oa = numbaconv.oaconvolve(xo, ko, workers=2)
    return direct, oa, pool_threads()


def main(start, out):
    import numba
    x, k, _, _ = inputs(0, 1)
    numbaconv.convolve(x, k, method="direct")
    layer = numba.threading_layer()          # raises unless Numba launched its threads
    for n_oa in (100_000, 200_000, 400_000, 800_000):
        _, _, xo, ko = inputs(0, n_oa)
        numbaconv.oaconvolve(xo, ko, workers=2)
        if pool_threads():
            break
    parent_pool = pool_threads()
    assert parent_pool, "no oaconvolve call used the overlap-add pool"
    args = [(seed, n_oa) for seed in range(1, TASKS + 1)]
    timeout = float(sys.argv[3])
    if start == "executor":
        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(max_workers=2) as ex:
            futures = [ex.submit(work, a) for a in args]
            results = [f.result(timeout=timeout) for f in futures]
    else:
        import multiprocessing
        with multiprocessing.get_context(start).Pool(2) as pool:
            results = pool.map_async(work, args).get(timeout=timeout)
    arrays = {}
    for i, (a, (direct, oa, _)) in enumerate(zip(args, results)):
        x, k, xo, ko = inputs(*a)
        arrays.update({f"x{i}": x, f"k{i}": k, f"xo{i}": xo, f"ko{i}": ko,
                       f"direct{i}": direct, f"oa{i}": oa})
    np.savez(out, **arrays)
    print(json.dumps({"layer": layer, "parent_pool": parent_pool,
                      "child_pools": [r[2] for r in results]}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
'''


def _run_script(tmp_path, start):
    """Run :data:`SCRIPT` with ``start`` as the pool's start method; its summary and arrays."""
    script, out = tmp_path / "child.py", tmp_path / "results.npz"
    script.write_text(SCRIPT)
    # two Numba threads even on a one-CPU runner, so that the parent really launches them
    env = dict(os.environ, NUMBA_NUM_THREADS="2")
    proc = subprocess.Popen([sys.executable, str(script), start, str(out), str(SCRIPT_TIMEOUT / 2)],
                            env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=SCRIPT_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)   # the pool's workers too
        stdout, stderr = proc.communicate()
        pytest.fail(f"{start} pool: no result in {SCRIPT_TIMEOUT} s\n{stdout}\n{stderr[-3000:]}")
    assert proc.returncode == 0, f"{start} pool: exit {proc.returncode}\n{stdout}\n{stderr[-3000:]}"
    assert "Terminating" not in stderr, stderr[-3000:]
    summary = json.loads(stdout.strip().splitlines()[-1])
    with np.load(out) as data:
        arrays = dict(data)
    return summary, arrays


def _check_results(arrays):
    """Every child's direct and overlap-add results against SciPy."""
    tasks = sum(1 for name in arrays if name.startswith("direct"))
    assert tasks == 4
    for i in range(tasks):
        x, k, xo, ko = (arrays[f"{v}{i}"] for v in ("x", "k", "xo", "ko"))
        helpers.assert_matches_scipy(arrays[f"direct{i}"], ss.convolve(x, k, method="direct"), x, k,
                                     fft=False, err_msg=f"direct, task {i}")
        helpers.assert_matches_scipy(arrays[f"oa{i}"], ss.oaconvolve(xo, ko), xo, ko, "oaconvolve",
                                     err_msg=f"oaconvolve, task {i}")


needs_fork = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(),
                                reason="this platform has no fork start method")


@needs_fork
def test_fork_pool_after_parallel_kernels(tmp_path):
    """A fork pool after the parent ran Numba's threads and the overlap-add pool."""
    summary, arrays = _run_script(tmp_path, "fork")
    _check_results(arrays)
    # each forked worker made its own overlap-add pool (the parent's threads are not in it)
    assert all(pool for pool in summary["child_pools"]), summary


def test_process_pool_executor_after_parallel_kernels(tmp_path):
    """ProcessPoolExecutor with its default start method (fork on Linux before Python 3.14)."""
    summary, arrays = _run_script(tmp_path, "executor")
    _check_results(arrays)


def test_spawn_pool_after_parallel_kernels(tmp_path):
    """A spawn pool: fresh interpreters import numbaconv and load the threading layer."""
    summary, arrays = _run_script(tmp_path, "spawn")
    _check_results(arrays)


@pytest.mark.skipif(not (sys.platform == "linux" and os.uname().machine == "x86_64"),
                    reason="numbaconv depends on tbb only where PyPI has its wheels")
@pytest.mark.skipif("NUMBA_THREADING_LAYER" in os.environ
                    or "NUMBA_THREADING_LAYER_PRIORITY" in os.environ,
                    reason="the threading layer is chosen by the environment")
def test_the_shipped_layer_is_tbb(tmp_path):
    """The tbb package (a dependency here) is found where pip put it and is Numba's layer."""
    try:
        metadata.distribution("tbb")
    except metadata.PackageNotFoundError:
        pytest.fail("tbb is a dependency on this platform but is not installed")
    env = dict(os.environ, NUMBA_NUM_THREADS="2")
    code = ("import numpy as np, numba, numbaconv\n"
            "numbaconv.convolve(np.ones(40000, np.float32), np.ones(31, np.float32), method='direct')\n"
            "print(numba.threading_layer())")
    out = subprocess.run([sys.executable, "-c", code], env=env, text=True, capture_output=True,
                         timeout=SCRIPT_TIMEOUT)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split()[-1] == "tbb", out.stdout + out.stderr[-3000:]


# --------------------------------------------------------------------------
# many Python threads at once
# --------------------------------------------------------------------------

THREADS = 16
CALLS = 200
DTYPES = [np.float32, np.float64, np.complex64, np.complex128, np.int16, np.int64]
WORKERS = [None, 1, 2, -1]


def _call(rng):
    """One random call of a public function, checked against SciPy (helpers.check_*)."""
    fname = rng.choice(["convolve", "correlate", "fftconvolve", "oaconvolve", "convolve2d",
                        "correlate2d"])
    dtype = DTYPES[rng.integers(len(DTYPES))]
    mode = rng.choice(["full", "same", "valid"])
    workers = WORKERS[rng.integers(len(WORKERS))]
    if fname.endswith("2d") or (fname in ("convolve", "correlate") and rng.random() < 0.3):
        # 160^2 * 3x3 is past the parallel threshold; 'valid' needs in1 at least in2's size
        n, m = rng.choice([12, 40, 160]), rng.choice([1, 3, 5])
        a, b = helpers.make_array((n, n + 3), dtype, rng), helpers.make_array((m, m + 1), dtype, rng)
    else:
        # 20000 x 15 is past the parallel threshold; 100000 x 301 makes overlap-add use
        # its pool on two workers
        sizes = [(50, 3), (1000, 64), (20_000, 15)] + [(100_000, 301)] * (fname == "oaconvolve")
        n, m = sizes[rng.integers(len(sizes))]
        a, b = helpers.make_array(n, dtype, rng), helpers.make_array(m, dtype, rng)
    if fname in ("convolve", "correlate"):
        helpers.check_conv(fname, a, b, mode, rng.choice(["auto", "direct"]), workers=workers)
    elif fname.endswith("2d"):
        helpers.check_2d(fname, a, b, mode, workers=workers)
    else:
        helpers.check_fft(fname, a, b, mode, workers=workers)


def test_many_threads_mixed_calls():
    """16 threads x 200 calls over every family, dtype kind, mode and workers value."""
    numbaconv.convolve(np.ones(40_000, np.float32), np.ones(31, np.float32), method="direct")
    import numba
    if numba.threading_layer() == "workqueue":
        pytest.skip("Numba's workqueue layer aborts on concurrent parallel calls (install tbb)")
    errors, done = [], [0] * THREADS
    start = threading.Barrier(THREADS, timeout=60)

    def worker(i):
        rng = np.random.default_rng(1000 + i)
        try:
            start.wait()
            for _ in range(CALLS):
                _call(rng)
                done[i] += 1
        except BaseException as exc:      # pytest.fail raises a BaseException
            errors.append(f"thread {i}, call {done[i]}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(THREADS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 300
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), f"threads still running; calls done: {done}"
    assert not errors, "\n".join(errors[:5])
    assert done == [CALLS] * THREADS
