"""Backend selection: correctness vetoes first, then the cheapest cost.

:func:`select` is a pure function of a :class:`~numbaconv._problem.Problem`
(and the cost coefficients in force); it never looks at array values.  The
API computes the value-dependent flags (``finite``, ``int_bound``) before.

Host arrays with ``device='auto'`` (``select(..., offload=True)``) are
placed here too: the CPU's best backend is chosen first; only when it is
predicted to take at least :data:`OFFLOAD_MIN_SECONDS` is a GPU looked for
(once, lazily: small calls never import ``numba.cuda``), and then the same
problem on ``device='cuda'`` with ``host_io=True`` -- its costs include the
copies to the device and back -- competes with it.  The returned
:class:`Choice` says on which device it runs (:attr:`Choice.device`) and
lists the candidates of both devices.
"""
from __future__ import annotations

import dataclasses
import functools
import math

from . import _backends
from ._config import resolve_workers
from ._costs import coefficients, int_exact_limit

FFT_METHODS = ("fft", "oa")

#: ``device='auto'`` with host arrays looks for a GPU only when the CPU's
#: best backend is predicted to take at least this long (seconds): below it
#: the copies alone would eat any gain, and no CUDA library gets imported.
OFFLOAD_MIN_SECONDS = 1e-3
#: whether ``device='auto'`` may send host arrays to Numba's CUDA simulator
#: (never useful for speed; the tests switch it on)
OFFLOAD_TO_SIMULATOR = False


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
    notes : list of str
        How the device was chosen (``device='auto'`` with host arrays), and
        the plan of each candidate that has one (overlap-add's blocks or tiles).
    """

    backend: str
    method: str
    costs: dict
    vetoes: list
    module: object = dataclasses.field(repr=False, default=None)
    notes: list = dataclasses.field(default_factory=list)

    @property
    def scipy_method(self) -> str:
        """The method in SciPy's words: ``'fft'`` for FFT-based, else ``'direct'``."""
        return "fft" if self.method in FFT_METHODS else "direct"

    @property
    def device(self) -> str:
        """``'cpu'`` or ``'cuda'``: where the chosen backend runs."""
        return getattr(self.module, "DEVICE", "cpu")

    def __str__(self):
        lines = [f"chosen: {self.backend} (method {self.method!r})"]
        for name, t in sorted(self.costs.items(), key=lambda kv: kv[1]):
            mark = "*" if name == self.backend else " "
            lines.append(f" {mark} {name:<15} {t * 1e3:10.3f} ms predicted")
        for v in self.vetoes:
            lines.append(f"   veto: {v}")
        for n in self.notes:
            lines.append(f"   note: {n}")
        return "\n".join(lines)


def vetoes(problem, method="auto"):
    """Correctness vetoes: list of (method family, reason) that must not run."""
    out = []
    if method != "auto":
        return out
    if problem.kind == "b":
        out.append(("fft", "bool input: logical results come from the direct method"))
    if problem.kind in "iu" and problem.finite is not None:
        limit = int_exact_limit(problem)
        if problem.int_bound > limit:
            out.append(("fft", f"integer sums up to {problem.int_bound:.3g} exceed {limit:.3g}: "
                               "FFT rounding would not be exact"))
    if problem.finite is False:
        out.append(("fft", "non-finite values: FFT would spread NaN/inf over the whole "
                           "output, the direct method keeps them local"))
    return out


def select(problem, method="auto", workers=None, *, offload=False) -> Choice:
    """Choose the backend for ``problem`` (``method`` fixes the family).

    Memoised: a :class:`Problem` is frozen and hashable and the choice depends
    only on it, the method, the worker count and the cost coefficients (a
    change of coefficients clears the memo).

    Parameters
    ----------
    problem : numbaconv._problem.Problem
        What to compute; ``problem.device`` is where the arrays are.
    method : str, optional
        ``'auto'`` or a method family.
    workers : int, optional
        Host threads assumed by the CPU cost model.
    offload : bool, optional
        The arrays are on the host and the caller left the device open
        (``device='auto'``): the GPU may run them when it is predicted to
        win, copies included (see the module docstring).  Ignored for a
        problem whose arrays are on the GPU.

    Returns
    -------
    Choice
        The backend, its device and the predicted cost of every candidate.
    """
    coefficients()       # calibrated coefficients (CPU and GPU) are loaded before any cost
    workers = resolve_workers(workers)
    if offload and problem.device == "cpu":
        return _select_offload(problem, method, workers)
    return _select(problem, method, workers)


def on_gpu(problem):
    """The problem of running host arrays on the GPU.

    Parameters
    ----------
    problem : numbaconv._problem.Problem
        A problem on host arrays.

    Returns
    -------
    numbaconv._problem.Problem
        The same with ``device='cuda'`` and ``host_io=True``: its costs
        include the copies to the device and back.
    """
    return dataclasses.replace(problem, device="cuda", host_io=True)


def gpu_ready() -> bool:
    """Whether ``device='auto'`` may send host arrays to a GPU here.

    Returns
    -------
    bool
        True when a CUDA GPU is usable (checked once and cached by
        :func:`numbaconv._gpu.available`, which imports ``numba.cuda``).
        Numba's CUDA simulator counts only when :data:`OFFLOAD_TO_SIMULATOR`
        is set.
    """
    from . import _gpu
    if _gpu.simulator():
        return OFFLOAD_TO_SIMULATOR and _gpu.available()
    if not _gpu.driver_present():
        return False             # no NVIDIA driver: do not even import numba.cuda
    return _gpu.available()      # cached by _gpu


@functools.lru_cache(maxsize=1024)
def _select_offload(problem, method, workers) -> Choice:
    """Memoised :func:`_offload` of the CPU's choice (GPU availability is cached too)."""
    return _offload(problem, _select(problem, method, workers), method, workers)


#: memoised calls of the public API (``numbaconv._api._Plan``), keyed by
#: shapes, dtypes and arguments: they hold choices, so they go with them
PLANS: dict = {}


def clear_cache():
    """Forget every memoised choice (the cost coefficients changed)."""
    _select.cache_clear()
    _select_offload.cache_clear()
    PLANS.clear()
    _backends.clear_caches()


def _offload(problem, cpu, method, workers) -> Choice:
    """The CPU's choice ``cpu`` for host arrays, or the GPU's if it is predicted faster."""
    def cpu_only(why):
        return dataclasses.replace(cpu, notes=cpu.notes + [f"GPU not considered: {why}"])

    t_cpu = cpu.costs[cpu.backend]
    if t_cpu < OFFLOAD_MIN_SECONDS:
        return cpu_only(f"{cpu.backend} takes under {OFFLOAD_MIN_SECONDS * 1e3:g} ms")
    if not gpu_ready():
        return cpu_only("none usable here")
    try:
        gpu = _select(on_gpu(problem), method, workers)
    except ValueError:           # no GPU backend for this dtype, method or boundary
        return cpu_only(f"no GPU backend runs method={method!r} on this problem")
    if method != "auto" and gpu.method != method:
        return cpu_only(f"it has no {method!r} backend")
    t_gpu = gpu.costs[gpu.backend]
    winner = gpu if t_gpu < t_cpu and math.isfinite(t_gpu) else cpu
    verdict = "the GPU wins" if winner is gpu else "the CPU wins"
    note = (f"host arrays: GPU costs include the copies to the device and back; {verdict} "
            f"({gpu.backend} {t_gpu * 1e3:.3f} ms vs {cpu.backend} {t_cpu * 1e3:.3f} ms)")
    return dataclasses.replace(winner, costs={**cpu.costs, **gpu.costs},
                               notes=cpu.notes + gpu.notes + [note])


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
    notes = [f"{m.NAME}: {m.describe(problem, workers)}" for m in allowed
             if hasattr(m, "describe") and costs[m.NAME] < float("inf")]
    return Choice(best.NAME, best.METHOD, costs, [r for _, r in vet], best, notes)
