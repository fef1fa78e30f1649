"""asv benchmarks for numbaconv (see asv.conf.json at the repository root).

Grids
-----
The grids and the peers are numbaconv's own (:mod:`numbaconv._tools.grids`,
:mod:`numbaconv._tools.peers`), shared with ``numbaconv bench``.
``NUMBACONV_ASV_GRID`` picks the grid: ``default`` (tens of minutes),
``full`` (as ``numbaconv bench``; hours) or ``tiny`` (a smoke run of about a
minute).  Cells where a direct method would need more than
``NUMBACONV_ASV_MAX_DIRECT_OPS`` multiply-adds (default
:data:`numbaconv._tools.peers.MAX_DIRECT_OPS`) are skipped, as are cells
with a kernel longer than the signal.

Helpers here are shared by the benchmark modules; asv only collects names
that start with ``time_``, ``timeraw_``, ``peakmem_``, ``track_`` ...
"""
from __future__ import annotations

import os
import sys

try:  # the project installed in the benchmark environment (asv's own envs)
    import numbaconv  # noqa: F401
except ImportError:  # --python=same from a checkout that is not installed
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from numbaconv._tools import grids, peers  # noqa: E402

SEED = grids.SEED

GRID = os.environ.get("NUMBACONV_ASV_GRID", "default").lower()
if GRID not in grids.GRIDS:
    GRID = "default"
MAX_DIRECT_OPS = float(os.environ.get("NUMBACONV_ASV_MAX_DIRECT_OPS", peers.MAX_DIRECT_OPS))

N_1D, K_1D, SIDE_2D, K_2D = (list(x) for x in grids.GRIDS[GRID])
DTYPES = list(grids.DTYPES[GRID])


def skip(reason: str = ""):
    """Skip this parameter cell (asv shows it as n/a)."""
    raise NotImplementedError(reason)


def method_available(method: str, device: str = "cpu") -> bool:
    """Whether a backend implementing ``method`` on ``device`` is available."""
    if method == "auto":
        return True
    from numbaconv._backends import REGISTRY
    return any(mod.DEVICE == device and mod.METHOD == method and mod.available()
               for mod in REGISTRY.values())


def inputs(shape_a, shape_k, dtype, *, separable=False):
    """Reproducible signal and kernel (:func:`numbaconv._tools.grids.inputs`)."""
    return grids.inputs(shape_a, shape_k, dtype, separable=separable)


def call_or_skip(fn):
    """Warm-up call (compiles the JIT); NotImplementedError means skip."""
    try:
        return fn()
    except NotImplementedError as exc:
        skip(str(exc))
