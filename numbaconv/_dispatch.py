"""Backend selection: correctness vetoes first, then the cheapest cost.

:func:`select` makes the whole choice for one call.  It starts from the
array-free :class:`~numbaconv._problem.Problem` and asks the call's
:class:`~numbaconv._probes.Probes` a value question only when the answer
can change the choice: the kernel's rank when the separable path would
win, the values' finiteness and integer range when an FFT method would.
Every choice for a problem is memoised, keyed by the coefficient version
(:func:`numbaconv._coefficients.version`), so new coefficients need no
cache to be cleared.

Host arrays with ``device='auto'`` (``offload=True``) are placed here too:
the CPU's best backend is chosen first; only when it is predicted to take
at least :data:`OFFLOAD_MIN_SECONDS` is a GPU looked for (once, lazily:
small calls never import ``numba.cuda``), and then the same problem on
``device='cuda'`` with ``host_io=True`` -- its costs include the copies to
the device and back -- competes with it.
"""
from __future__ import annotations

import dataclasses
import functools
import math

from . import _backends
from . import _coefficients as coef
from ._config import resolve_workers
from ._probes import int_exact_limit

FFT_METHODS = ("fft", "oa")
METHODS = ("auto", "direct", "fft", "oa", "separable")

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


def select(problem, method="auto", workers=None, *, probes=None, offload=False, settle=False):
    """Choose the backend for ``problem``: ``(problem, choice)``.

    Parameters
    ----------
    problem : numbaconv._problem.Problem
        What to compute; ``problem.device`` is where the arrays are.
        ``separable=True`` and ``finite=None`` mean "not yet known": the
        first choice is made optimistically and corrected with ``probes``.
    method : str, optional
        ``'auto'`` or a method family, which is obeyed (``ValueError`` when
        no backend can run it).
    workers : int, optional
        Host threads assumed by the CPU cost model.
    probes : numbaconv._probes.Probes, optional
        The call's value probes; without them the problem's flags are taken
        as they are.
    offload : bool, optional
        The arrays are on the host and the caller left the device open
        (``device='auto'``): the GPU may run them when it is predicted to
        win, copies included.
    settle : bool, optional
        Also ask the probes whose answers only change the candidates listed
        (not the choice): :func:`numbaconv.explain` lists no separable cost
        for a kernel that is not rank 1.

    Returns
    -------
    problem : numbaconv._problem.Problem
        ``problem`` with the value facts the choice rests on filled in.
    choice : Choice
        The backend, its device and the predicted cost of every candidate.
    """
    coef.coefficients()          # a calibration file is read before any cost
    workers = resolve_workers(workers)
    version = coef.version()
    host_auto = offload and problem.device == "cpu"

    def choose(p):
        if host_auto:
            return _select_offload(p, method, workers, version)
        return _select(p, method, workers, version)

    choice = choose(problem)
    if probes is None:
        return problem, choice
    separable_listed = settle and any(name.endswith("separable") for name in choice.costs)
    if (problem.separable and (choice.method == "separable" or separable_listed)
            and not probes.rank1()):
        problem = dataclasses.replace(problem, separable=False)
        choice = choose(problem)
    if method == "auto" and choice.method in FFT_METHODS and problem.finite is None:
        facts = {"finite": probes.finite()}
        if problem.kind in "iu":        # layer problems are float: no integer bound to ask
            facts["int_bound"] = probes.int_bound()
        problem = dataclasses.replace(problem, **facts)
        choice = choose(problem)
    return problem, choice


def on_gpu(problem):
    """The problem of running host arrays on the GPU (``device='cuda'``, ``host_io=True``).

    Parameters
    ----------
    problem : numbaconv._problem.Problem
        A problem on host arrays.

    Returns
    -------
    numbaconv._problem.Problem
        The same on the GPU: its costs include the copies there and back.
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


def clear_cache():
    """Forget every memoised choice (new coefficients need not: the memo keys on their version)."""
    _select.cache_clear()
    _select_offload.cache_clear()


@functools.lru_cache(maxsize=1024)
def _select_offload(problem, method, workers, version) -> Choice:
    """The CPU's choice for host arrays, or the GPU's if it is predicted faster."""
    cpu = _select(problem, method, workers, version)

    def cpu_only(why):
        return dataclasses.replace(cpu, notes=cpu.notes + [f"GPU not considered: {why}"])

    t_cpu = cpu.costs[cpu.backend]
    if t_cpu < OFFLOAD_MIN_SECONDS:
        return cpu_only(f"{cpu.backend} takes under {OFFLOAD_MIN_SECONDS * 1e3:g} ms")
    if not gpu_ready():
        return cpu_only("none usable here")
    gpu_problem = on_gpu(problem)
    if not _backends.usable(gpu_problem, method):
        return cpu_only(f"no GPU backend runs method={method!r} on this problem")
    gpu = _select(gpu_problem, method, workers, version)
    t_gpu = gpu.costs[gpu.backend]
    winner = gpu if t_gpu < t_cpu and math.isfinite(t_gpu) else cpu
    verdict = "the GPU wins" if winner is gpu else "the CPU wins"
    note = (f"host arrays: GPU costs include the copies to the device and back; {verdict} "
            f"({gpu.backend} {t_gpu * 1e3:.3f} ms vs {cpu.backend} {t_cpu * 1e3:.3f} ms)")
    return dataclasses.replace(winner, costs={**cpu.costs, **gpu.costs},
                               notes=cpu.notes + gpu.notes + [note])


@functools.lru_cache(maxsize=1024)
def _select(problem, method, workers, version) -> Choice:
    cands = _backends.usable(problem, method)
    if not cands:
        raise ValueError(_no_backend(problem, method))
    vet = vetoes(problem, method)
    banned = {fam for fam, _ in vet}
    allowed = [m for m in cands if not (m.METHOD in FFT_METHODS and "fft" in banned)]
    notes = []
    if not allowed:
        if any("integer" in reason for _, reason in vet):
            raise ValueError(f"no exact method for these integers on device {problem.device!r}: "
                             + "; ".join(r for _, r in vet))
        allowed = cands          # only FFT runs here: non-finite values spread, as in fftconvolve
        notes.append("every candidate is an FFT method: non-finite values will spread")
    costs = {m.NAME: float(m.cost(problem, workers)) for m in allowed}
    best = min(allowed, key=lambda m: costs[m.NAME])
    notes += [f"{m.NAME}: {m.describe(problem, workers)}" for m in allowed
              if hasattr(m, "describe")]
    return Choice(best.NAME, best.METHOD, costs, [r for _, r in vet], best, notes)


def _no_backend(problem, method) -> str:
    """What to change when no backend can run ``method`` on ``problem``."""
    if method == "separable" and not problem.all_axes:
        return "method='separable' cannot convolve over a subset of axes; use 'direct' or 'fft'"
    if method == "separable":
        return ("method='separable' needs a 2-D floating-point kernel of numerical rank 1 "
                "(an outer product of two vectors); use method='direct' or 'auto'")
    if method == "oa" and problem.device == "cuda":
        return "method='oa' has no GPU backend; use method='fft' or 'auto' on device='cuda'"
    return (f"no backend can run method={method!r} on device {problem.device!r} "
            f"for dtype {problem.dtype}")
