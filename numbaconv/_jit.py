"""The one place where Numba JIT options are spelled.

Every kernel in numbaconv is compiled through :func:`jit` so that caching,
the fastmath flag set and the error model are the same everywhere.  The
fastmath set deliberately leaves out ``nnan`` and ``ninf``: with them LLVM
may assume that no NaN or inf exists and fold ``np.isnan`` to ``False``,
which would let non-finite values vanish silently.
"""
from __future__ import annotations

import numba

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


def jit(fn=None, *, parallel: bool = False):
    """Compile ``fn`` with numbaconv's JIT options (usable bare or called)."""
    opts = dict(JIT_OPTIONS, parallel=parallel)
    if fn is None:
        return numba.njit(**opts)
    return numba.njit(**opts)(fn)


def jit_parallel(fn):
    """Compile ``fn`` with numbaconv's options and ``parallel=True``."""
    return jit(fn, parallel=True)
