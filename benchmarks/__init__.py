"""asv benchmarks for numbaconv (see asv.conf.json at the repository root).

Grids
-----
The default grid is reduced so that ``asv run --quick`` stays cheap; set
``NUMBACONV_ASV_GRID=full`` for the full grid (1-D n in 1e3..1e7 x k in
3..30001, 2-D 256^2..4096^2 x 3^2..63^2, float32 and float64), or
``NUMBACONV_ASV_GRID=tiny`` for a smoke run.  Cells where a direct method
would need more than ``NUMBACONV_ASV_MAX_DIRECT_OPS`` multiply-adds
(default 2e10) are skipped, as are cells with a kernel longer than the signal.

Helpers here are shared by the benchmark modules; asv only collects names
that start with ``time_``, ``timeraw_``, ``peakmem_``, ``track_`` ...
"""
from __future__ import annotations

import os
import sys

try:  # the project installed in the benchmark environment (asv's own envs)
    import numbaconv  # noqa: F401
except ImportError:  # --python=same from a checkout that is not installed
    _ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if os.path.isdir(os.path.join(_ROOT, "numbaconv")):
        sys.path.insert(0, _ROOT)

import numpy as np

SEED = 1234

GRID = os.environ.get("NUMBACONV_ASV_GRID", "default").lower()
MAX_DIRECT_OPS = float(os.environ.get("NUMBACONV_ASV_MAX_DIRECT_OPS", "2e10"))

_GRIDS = {
    # (1-D n, 1-D k, 2-D side, 2-D k)
    "full": ([10**3, 10**4, 10**5, 10**6, 10**7], [3, 31, 301, 3001, 30001],
             [256, 1024, 4096], [3, 5, 7, 15, 31, 63]),
    "default": ([10**3, 10**4, 10**5, 10**6], [3, 31, 301, 3001],
                [256, 1024], [3, 7, 15, 31]),
    "tiny": ([10**3], [3, 31], [64], [3, 7]),
}
N_1D, K_1D, SIDE_2D, K_2D = _GRIDS.get(GRID, _GRIDS["default"])
DTYPES = ["float32", "float64"] if GRID != "tiny" else ["float64"]


def skip(reason: str = ""):
    """Skip this parameter cell (asv shows it as n/a)."""
    raise NotImplementedError(reason)


def numbaconv_or_skip():
    try:
        import numbaconv
    except ImportError as exc:
        skip(f"numbaconv not importable: {exc}")
    return numbaconv


def method_available(method: str, device: str = "cpu") -> bool:
    """Whether a backend implementing ``method`` on ``device`` is available."""
    if method == "auto":
        return True
    try:
        from numbaconv._backends import REGISTRY
    except ImportError:
        return True  # no registry: let the call decide
    mod = REGISTRY.get(f"{device}_{method}")
    if mod is None:
        return False
    try:
        return bool(mod.available())
    except Exception:  # noqa: BLE001
        return False


def inputs(shape_a, shape_k, dtype, *, separable=False, seed=SEED):
    """Reproducible standard-normal signal and kernel (rank-1 if separable)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape_a).astype(dtype)
    if separable:
        col = rng.standard_normal((shape_k[0], 1))
        row = rng.standard_normal((1, shape_k[1]))
        kern = (col * row).astype(dtype)
    else:
        kern = rng.standard_normal(shape_k).astype(dtype)
    return a, kern


def call_or_skip(fn):
    """Warm-up call (compiles the JIT); NotImplementedError means skip."""
    try:
        return fn()
    except NotImplementedError as exc:
        skip(str(exc))
