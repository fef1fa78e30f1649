"""Numba's on-disk cache: bad caches cost a compile, never a crash or a wrong result.

Each case runs a child process with its own ``NUMBA_CACHE_DIR`` (never the
checkout's cache, which other test runs share): a first call on an empty
cache, then the same call on a cache that is corrupt, stale, read-only, or
written by several processes at once.  The call is the cheapest kernel to
compile (a 1-D layer by FFT), checked against SciPy in the child.
"""
from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys

import pytest

#: one layer per dtype, its result checked against SciPy's correlation
CHILD = r"""
import sys
import numpy as np, scipy.signal
import numbaconv.nn as nn
rng = np.random.default_rng(0)
for dt in sys.argv[1].split(","):
    x = rng.standard_normal((1, 1, 40)).astype(dt)
    w = rng.standard_normal((1, 1, 5)).astype(dt)
    got = nn.conv1d(x, w, method="fft")
    want = scipy.signal.correlate(x[0, 0].astype("f8"), w[0, 0].astype("f8"), mode="valid")
    tol = 1e-4 if dt == "float32" else 1e-12
    np.testing.assert_allclose(got[0, 0], want, rtol=tol, atol=tol)
    assert got.dtype == dt, got.dtype
print("ok")
"""

NOTICE = "numbaconv: compiling"
DROPPED = "compiles the kernel instead"


def start(cache, dtypes="float64"):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    return subprocess.Popen([sys.executable, "-c", CHILD, dtypes], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def run(cache, dtypes="float64"):
    """Run the child to the end; fail with its output unless it printed 'ok'."""
    proc = start(cache, dtypes)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0 and out.strip() == "ok", f"exit {proc.returncode}\n{out}\n{err}"
    return err


def cache_files(cache, ext):
    found = [os.path.join(d, f) for d, _, files in os.walk(cache) for f in files
             if f.endswith(ext)]
    assert found, f"no {ext} file in {cache}"
    return found


@pytest.fixture(scope="module")
def primed(tmp_path_factory):
    """Return a cache filled by one child process (and that process's stderr)."""
    cache = tmp_path_factory.mktemp("primed")
    return cache, run(cache)


@pytest.fixture
def copy(primed, tmp_path):
    cache = tmp_path / "cache"
    shutil.copytree(primed[0], cache)
    return cache


def test_empty_cache_says_once_what_compiles(primed):
    err = primed[1]
    assert err.count(NOTICE) == 1, err
    assert "cpu_layer_fft" in err and "numbaconv.nn.conv1d" in err and "float64" in err
    assert "numbaconv warmup" in err and str(primed[0]) in err


def test_filled_cache_says_nothing(copy):
    assert NOTICE not in run(copy)


def _garble(path):
    with open(path, "rb") as fh:
        data = fh.read()
    with open(path, "wb") as fh:
        fh.write(bytes(b ^ 0x5A for b in data))


def _empty(path):
    open(path, "wb").close()


def _truncate(path):
    with open(path, "rb") as fh:
        data = fh.read()
    with open(path, "wb") as fh:
        fh.write(data[:len(data) // 2])


@pytest.mark.parametrize("ext, damage, again", [(".nbi", _garble, True), (".nbi", _empty, False),
                                                (".nbc", _truncate, False)],
                         ids=["garbled-index", "empty-index", "truncated-data"])
def test_corrupt_cache_is_dropped_and_compiled(copy, ext, damage, again):
    # Numba alone raises UnpicklingError / EOFError from the first call here
    for path in cache_files(copy, ext):
        damage(path)
    err = run(copy)
    assert DROPPED in err, err
    assert NOTICE in err        # it compiled
    if again:
        assert NOTICE not in run(copy)   # and stored a good entry


def test_stale_index_compiles(copy):
    """An index whose source stamp is another source's (a cache copied from another version)."""
    for path in cache_files(copy, ".nbi"):
        with open(path, "rb") as fh:
            version = pickle.load(fh)
            stamp, overloads = pickle.loads(fh.read())
        with open(path, "wb") as fh:
            pickle.dump(version, fh, protocol=-1)
            fh.write(pickle.dumps((b"another source", overloads)))
    assert NOTICE in run(copy)


def test_entries_of_other_helper_sources_compile(copy):
    """Entries keyed on other sources of the shared helpers (a kernel whose inlined helper
    changed in another file) are not loaded: Numba's own key sees only the kernel's file."""
    from numbaconv import _cache_guard
    for path in cache_files(copy, ".nbi"):
        with open(path, "rb") as fh:
            version = pickle.load(fh)
            stamp, overloads = pickle.loads(fh.read())
        assert all(key[-1] == _cache_guard.shared_sources() for key in overloads), overloads
        moved = {key[:-1] + ("another digest",): name for key, name in overloads.items()}
        with open(path, "wb") as fh:
            pickle.dump(version, fh, protocol=-1)
            fh.write(pickle.dumps((stamp, moved)))
    assert NOTICE in run(copy)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes through a read-only mode")
def test_read_only_cache_still_runs(copy):
    for d, dirs, files in os.walk(copy):
        for name in dirs + files:
            os.chmod(os.path.join(d, name), 0o555 if name in dirs else 0o444)
    os.chmod(copy, 0o555)
    try:
        run(copy)
    finally:
        for d, dirs, _ in os.walk(copy):
            for name in dirs:
                os.chmod(os.path.join(d, name), 0o755)
        os.chmod(copy, 0o755)


def test_processes_filling_one_cache_at_once(tmp_path):
    """Four processes compile one kernel into one empty cache together, then a fifth loads.

    Two of them compile for float32 and two for float64, racing for the same index and data
    file names; the fifth loads both dtypes from what they left.
    """
    cache = tmp_path / "shared"
    orders = ["float32", "float64", "float32", "float64"]
    procs = [start(cache, o) for o in orders]
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0 and out.strip() == "ok", f"{out}\n{err}"
    run(cache, "float32,float64")


#: the cache keys of every kernel that closes over values (kernels made by factories)
KEYS_CHILD = r"""
import hashlib, importlib, pkgutil
from numba import types
from numba.core.dispatcher import Dispatcher
import numbaconv._backends, numbaconv._kernels
found = {}
for pkg in (numbaconv._backends, numbaconv._kernels):
    for info in pkgutil.iter_modules(pkg.__path__, pkg.__name__ + "."):
        if "cuda" in info.name:
            continue
        for v in list(vars(importlib.import_module(info.name)).values()):
            for k in (v.values() if isinstance(v, dict) else [v]):
                if isinstance(k, Dispatcher) and k.py_func.__closure__:
                    found[k.py_func.__module__ + "." + k.py_func.__qualname__] = k
for name, k in sorted(found.items()):
    key = k._cache._index_key((types.float32,), k.targetctx.codegen())
    print(name, hashlib.sha256(repr(key).encode()).hexdigest())
"""


def test_kernels_made_by_factories_keep_their_cache_key_across_processes():
    """A closure over a Numba function must not key its cache entry on that function's
    per-process identity: every new process would miss the cache and compile again."""
    def keys():
        out = subprocess.run([sys.executable, "-c", KEYS_CHILD], capture_output=True, text=True,
                             timeout=300)
        assert out.returncode == 0, out.stderr
        return out.stdout.splitlines()

    first, second = keys(), keys()
    assert len(first) >= 6 and first == second   # the four-row items, the depthwise bands
