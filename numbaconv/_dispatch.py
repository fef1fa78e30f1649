"""Backend selection: correctness vetoes first, then the cheapest cost.

:func:`select` is a pure function of a :class:`~numbaconv._problem.Problem`
(and the cost coefficients in force); it never looks at array values.  The
API computes the value-dependent flags (``finite``, ``int_bound``) before.
"""
from __future__ import annotations

import dataclasses
import functools

from . import _backends
from ._costs import int_exact_limit

FFT_METHODS = ("fft", "oa")


@dataclasses.dataclass
class Choice:
    """What the dispatcher chose and why.

    Attributes
    ----------
    backend : str
        Name of the chosen backend, e.g. ``'cpu_direct'``.
    method : str
        Its method family: ``'direct'``, ``'fft'``, ``'oa'`` or ``'separable'``.
    costs : dict
        Predicted seconds of every candidate that was considered.
    vetoes : list of str
        Why candidates were excluded before costs were compared.
    module : module
        The backend module itself.
    """

    backend: str
    method: str
    costs: dict
    vetoes: list
    module: object = dataclasses.field(repr=False, default=None)

    @property
    def scipy_method(self) -> str:
        """The method in SciPy's words: ``'fft'`` for FFT-based, else ``'direct'``."""
        return "fft" if self.method in FFT_METHODS else "direct"

    def __str__(self):
        lines = [f"chosen: {self.backend} (method {self.method!r})"]
        for name, t in sorted(self.costs.items(), key=lambda kv: kv[1]):
            mark = "*" if name == self.backend else " "
            lines.append(f" {mark} {name:<15} {t * 1e3:10.3f} ms predicted")
        for v in self.vetoes:
            lines.append(f"   veto: {v}")
        return "\n".join(lines)


def vetoes(problem, method="auto"):
    """Correctness vetoes: list of (method family, reason) that must not run."""
    out = []
    if method != "auto":
        return out
    if problem.kind == "b":
        out.append(("fft", "bool input: logical results come from the direct method"))
    if problem.kind in "iu" and problem.finite is not None and problem.int_bound > int_exact_limit():
        out.append(("fft", f"integer products up to {problem.int_bound:.3g} exceed 2**52: "
                           "FFT rounding would not be exact"))
    if problem.finite is False:
        out.append(("fft", "non-finite values: FFT would spread NaN/inf over the whole "
                           "output, the direct method keeps them local"))
    return out


def select(problem, method="auto", workers=None) -> Choice:
    """Choose the backend for ``problem`` (``method`` fixes the family).

    Memoised: a :class:`Problem` is frozen and hashable and the choice depends
    only on it, the method, the worker count and the cost coefficients (a
    change of coefficients clears the memo).
    """
    from ._config import resolve_workers
    return _select(problem, method, resolve_workers(workers))


@functools.lru_cache(maxsize=1024)
def _select(problem, method, workers) -> Choice:
    cands = _backends.usable(problem, method)
    if not cands and method == "separable":
        # not a rank-1 2-D kernel: the two-pass path is the direct method
        cands = _backends.usable(problem, "direct")
    vet = vetoes(problem, method)
    banned = {fam for fam, _ in vet}
    allowed = [m for m in cands
               if not (m.METHOD in FFT_METHODS and "fft" in banned)]
    if not allowed:
        if not cands:
            raise ValueError(f"no backend can run method={method!r} on device "
                             f"{problem.device!r} for dtype {problem.dtype}")
        allowed = cands
    costs = {}
    for m in allowed:
        try:
            costs[m.NAME] = float(m.cost(problem, workers))
        except Exception:
            costs[m.NAME] = float("inf")
    best = min(allowed, key=lambda m: costs[m.NAME])
    return Choice(best.NAME, best.METHOD, costs, [r for _, r in vet], best)
