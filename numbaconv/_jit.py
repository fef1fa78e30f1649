"""The one place where Numba JIT options are spelled.

Every kernel in numbaconv is compiled through :func:`jit` so that caching,
the fastmath flag set and the error model are the same everywhere.  The
fastmath set deliberately leaves out ``nnan`` and ``ninf``: with them LLVM
may assume that no NaN or inf exists and fold ``np.isnan`` to ``False``,
which would let non-finite values vanish silently.
"""
from __future__ import annotations

import os

#: After a parallel region, the threads of Numba's OpenMP layer (GNU libgomp)
#: spin-wait for about 300,000 iterations by default -- milliseconds during
#: which they take the cores from whatever runs next (scipy.fft's workers
#: ran up to 1.9x slower right after a parallel kernel on a 2-core machine).
#: 20,000 spins keep the launch latency of back-to-back kernels unchanged
#: and give the cores back in time.  Read by libgomp when Numba first
#: loads it, so set before any parallel kernel runs; a value the user set wins.
GOMP_SPINCOUNT = "20000"
os.environ.setdefault("GOMP_SPINCOUNT", GOMP_SPINCOUNT)

import numba  # noqa: E402

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
    if fn is None:
        return numba.njit(**opts)
    return numba.njit(**opts)(fn)


def jit_parallel(fn):
    """Compile ``fn`` with numbaconv's options and ``parallel=True``."""
    return jit(fn, parallel=True)
