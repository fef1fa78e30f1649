"""The one place where Numba JIT options are spelled.

Every kernel in numbaconv is compiled through :func:`jit` so that caching,
the fastmath flag set and the error model are the same everywhere.  The
fastmath set deliberately leaves out ``nnan`` and ``ninf``: with them LLVM
may assume that no NaN or inf exists and fold ``np.isnan`` to ``False``,
which would let non-finite values vanish silently.

No kernel uses ``parallel=True``: each is a serial ``nogil`` function over a
range of work items, and :func:`numbaconv._kernels.layout.run_items` runs
the shares on numbaconv's own threads.  So Numba's threading layer (OpenMP,
which a ``fork`` after a parallel region kills, or TBB) is never started by
numbaconv, and compiles are about half as long as with ``prange``.
"""
from __future__ import annotations

import numba

from ._cache_guard import guard

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


def jit(fn=None, *, inline: bool = False):
    """Compile ``fn`` with numbaconv's JIT options (usable bare or called).

    ``inline=True`` inlines ``fn`` into its callers in Numba's IR, so that
    arrays it takes from the caller's stack (register blocks) stay registers.
    """
    opts = dict(JIT_OPTIONS)
    if inline:
        opts["inline"] = "always"
    # the cache is read through numbaconv's guard: a bad cache file means a compile, not an error
    if fn is None:
        return lambda f: guard(numba.njit(**opts)(f))
    return guard(numba.njit(**opts)(fn))
