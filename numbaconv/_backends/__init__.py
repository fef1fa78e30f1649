"""Registry of backends.

A backend is a module with ``NAME``, ``DEVICE``, ``METHOD`` and the functions
``available()``, ``supports(problem)``, ``cost(problem)`` and
``run(problem, a, k, *, workers)``; optionally ``prepare(problem, *, workers)``,
which returns ``run`` as a callable ``(a, k) -> out`` with the decisions
that depend only on the problem taken once (the API memoises it per call
shape); and ``clear_cache()`` if it memoises anything that depends on the
cost coefficients.  A module that fails to import (a missing or broken optional
dependency) is simply absent: adding a backend is adding a file and a line
below.
"""
from __future__ import annotations

import importlib

_MODULES = ("cpu_direct", "cpu_separable", "cpu_fft", "cpu_oa", "cuda_direct", "cuda_fft")

REGISTRY: dict = {}
for _name in _MODULES:
    try:
        _mod = importlib.import_module(f"{__name__}.{_name}")
    except Exception:  # a missing or broken optional backend is only unavailable
        continue
    REGISTRY[_mod.NAME] = _mod


def usable(problem, method: str = "auto"):
    """Backends that are available, support ``problem`` and match ``method``."""
    out = []
    for mod in REGISTRY.values():
        if method != "auto" and mod.METHOD != method:
            continue
        if mod.DEVICE != problem.device:
            continue
        try:
            if mod.available() and mod.supports(problem):
                out.append(mod)
        except Exception:  # a backend that cannot answer is not usable
            continue
    return out


def clear_caches():
    """Call ``clear_cache()`` of every backend that memoises cost-dependent state."""
    for mod in REGISTRY.values():
        clear = getattr(mod, "clear_cache", None)
        if clear is not None:
            clear()
