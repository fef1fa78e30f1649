"""The one place where Numba JIT options are spelled.

Every kernel in numbaconv is compiled through :func:`jit` so that caching,
the fastmath flag set and the error model are the same everywhere.  The
fastmath set deliberately leaves out ``nnan`` and ``ninf``: with them LLVM
may assume that no NaN or inf exists and fold ``np.isnan`` to ``False``,
which would let non-finite values vanish silently.

It is also where the threading layer is prepared, before any parallel
kernel runs (Numba fixes it at the first launch): Numba's ``tbb`` layer,
which is safe for threads and for ``fork``, wherever the ``tbb`` package is
installed (:func:`_load_tbb`); OpenMP, Numba's fallback, only with a short
spin count.
"""
from __future__ import annotations

import ctypes
import os
import sys

#: After a parallel region, the threads of Numba's OpenMP layer (GNU libgomp)
#: spin-wait for about 300,000 iterations by default -- milliseconds during
#: which they take the cores from whatever runs next (scipy.fft's workers
#: ran up to 1.9x slower right after a parallel kernel on a 2-core machine).
#: 20,000 spins keep the launch latency of back-to-back kernels unchanged
#: and give the cores back in time.  Still needed where OpenMP is the layer
#: (no TBB, or the user's choice); read by libgomp when it is first loaded,
#: so set before any parallel kernel runs; a value the user set wins.
GOMP_SPINCOUNT = "20000"
os.environ.setdefault("GOMP_SPINCOUNT", GOMP_SPINCOUNT)

import numba  # noqa: E402

from ._cache_guard import guard  # noqa: E402

#: the TBB runtime Numba's ``tbb`` layer loads, by its name on each platform
TBB_RUNTIME = {"linux": "libtbb.so.12", "win32": "tbb12.dll", "darwin": "libtbb.12.dylib"}

#: Numba's threading layers: what each is safe for (Numba's threading-layer docs)
LAYER_SAFETY = {
    "tbb": "thread- and fork-safe",
    "omp": ("thread-safe; not fork-safe: a fork after a parallel kernel kills the child; "
            "install tbb" if sys.platform.startswith("linux") else "thread- and fork-safe"),
    "workqueue": "fork-safe; not thread-safe: concurrent parallel calls abort; install tbb",
}


def tbb_runtime_path() -> str | None:
    """Where pip's ``tbb`` package put the TBB runtime, or None (not installed by pip)."""
    name = TBB_RUNTIME.get(sys.platform)
    if name is None:
        return None
    from importlib import metadata
    try:
        dist = metadata.distribution("tbb")
    except metadata.PackageNotFoundError:
        return None
    for f in dist.files or ():
        if f.name == name:
            return str(dist.locate_file(f))
    return None


def _load_tbb():
    """Load pip's TBB runtime, so that Numba's ``tbb`` layer can find it; the handle or None.

    Numba opens the runtime by its bare name, which the loader looks for in
    the system's directories, not in the virtual environment or user site
    where pip puts it: without this Numba falls back to OpenMP, which is not
    fork-safe.  Once the library is loaded, the bare name finds it.  Only
    where Numba would try ``tbb`` first: a user's ``NUMBA_THREADING_LAYER``
    (or priority) naming another layer is left alone.
    """
    layer = str(numba.config.THREADING_LAYER).lower()
    first = list(numba.config.THREADING_LAYER_PRIORITY)[:1] == ["tbb"]
    if not (layer in ("tbb", "safe", "threadsafe", "forksafe") or (layer == "default" and first)):
        return None
    path = tbb_runtime_path()
    if path is None:
        return None
    try:
        return ctypes.CDLL(path)
    except OSError:   # a broken install: Numba falls back to its next layer
        return None


_TBB = _load_tbb()

#: fastmath flags: contraction to FMA, reassociation (so reductions
#: vectorise), reciprocal and no-signed-zero approximations.  No nnan/ninf.
FASTMATH = frozenset({"contract", "reassoc", "arcp", "nsz", "afn"})

JIT_OPTIONS = {
    "cache": True,
    "nogil": True,
    "error_model": "numpy",
    "fastmath": set(FASTMATH),
    "boundscheck": False,
}


def jit(fn=None, *, parallel: bool = False, inline: bool = False):
    """Compile ``fn`` with numbaconv's JIT options (usable bare or called).

    ``inline=True`` inlines ``fn`` into its callers in Numba's IR, so that
    arrays it takes from the caller's stack (register blocks) stay registers.
    """
    opts = dict(JIT_OPTIONS, parallel=parallel)
    if inline:
        opts["inline"] = "always"
    # the cache is read through numbaconv's guard: a bad cache file means a compile, not an error
    if fn is None:
        return lambda f: guard(numba.njit(**opts)(f))
    return guard(numba.njit(**opts)(fn))


def jit_parallel(fn):
    """Compile ``fn`` with numbaconv's options and ``parallel=True``."""
    return jit(fn, parallel=True)
