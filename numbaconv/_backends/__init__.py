"""Registry of backends.

A backend is a module with ``NAME``, ``DEVICE``, ``METHOD`` and the functions
``available()`` (cheap, never raises), ``supports(problem)``,
``cost(problem, workers)`` (its own formula over
:mod:`numbaconv._coefficients`) and ``run(problem, a, k, *, workers)``;
optionally ``prepare(problem, *, workers)``, which returns ``run`` as a
callable ``(a, k) -> out`` with the decisions that depend only on the
problem taken once (memoised per call shape by :mod:`numbaconv._plans`),
and ``describe(problem, workers)``, a line for :func:`numbaconv.explain`.
``OPERATION`` says which problems it computes: ``'signal'``
(:class:`~numbaconv._problem.Problem`, SciPy's functions; the default) or
``'layer'`` (:class:`~numbaconv._problem.LayerProblem`, ``numbaconv.nn``),
whose ``run(problem, x, w, *, workers)`` takes the input and the weight.

A module whose optional dependency is missing (``ImportError``) is absent:
that is the one place where "unavailable" is caught.  Adding a backend is
adding a file and its name below.
"""
from __future__ import annotations

import importlib

_MODULES = ("cpu_direct", "cpu_separable", "cpu_fft", "cpu_oa", "cuda_direct", "cuda_fft",
            "cpu_layer_gemm", "cpu_layer_direct", "cpu_layer_depthwise", "cpu_layer_fft",
            "cuda_layer")

REGISTRY: dict = {}
for _name in _MODULES:
    try:
        _mod = importlib.import_module(f"{__name__}.{_name}")
    except ImportError:  # a missing optional dependency: the backend is unavailable
        continue
    REGISTRY[_mod.NAME] = _mod


def usable(problem, method: str = "auto"):
    """Backends that are available, support ``problem`` and match ``method``."""
    return [mod for mod in REGISTRY.values()
            if getattr(mod, "OPERATION", "signal") == problem.operation
            and (method == "auto" or mod.METHOD == method) and mod.DEVICE == problem.device
            and mod.available() and mod.supports(problem)]
