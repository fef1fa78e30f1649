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

Memory is checked after the memo, since what is available changes from call
to call: each candidate's predicted peak (its backend's ``memory()``,
memoised with the choice) is compared with :func:`numbaconv._memory.available`
-- skipped for small peaks -- and a backend that does not fit is vetoed, the
veto naming the bytes.  ``method='auto'`` then takes the cheapest that fits;
``fftconvolve`` (a function, not a method) may take overlap-add's plan when
the full transform does not fit, since it computes the same convolution; an
explicit ``method`` is never remapped.  When nothing fits, ``MemoryError``
says what the call needed, what is available and what to do.  GPU backends
define no ``memory()``: their peaks are not checked.
"""
from __future__ import annotations

import dataclasses
import functools
import math

from . import _backends
from . import _coefficients as coef
from . import _memory
from ._config import resolve_workers
from ._jit import target
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
    peaks : dict
        Predicted peak bytes of every candidate that predicts them.
    memory_bound : bool
        Whether the memory available narrowed the choice (the cheapest
        candidate did not fit).
    coefficients : str
        Which coefficient table predicted the costs
        (:func:`numbaconv._coefficients.source`) and the instruction-set
        class the kernels are built for.
    """

    backend: str
    method: str
    costs: dict
    vetoes: list
    module: object = dataclasses.field(repr=False, default=None)
    notes: list = dataclasses.field(default_factory=list)
    peaks: dict = dataclasses.field(default_factory=dict)
    memory_bound: bool = False
    coefficients: str = ""

    def copy(self) -> "Choice":
        """A copy whose lists and dicts are its own (the dispatcher memoises its choices)."""
        return dataclasses.replace(self, costs=dict(self.costs), vetoes=list(self.vetoes),
                                   notes=list(self.notes), peaks=dict(self.peaks))

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
            peak = self.peaks.get(name)
            bytes_ = "" if peak is None else f", {_memory.format_bytes(peak)} at its peak"
            lines.append(f" {mark} {name:<15} {t * 1e3:10.3f} ms predicted{bytes_}")
        for v in self.vetoes:
            lines.append(f"   veto: {v}")
        for n in self.notes:
            lines.append(f"   note: {n}")
        if self.coefficients:
            lines.append(f"   coefficients: {self.coefficients}")
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
    if getattr(problem, "fft_in_range", True) is False:
        out.append(("fft", "values so large that an FFT's spectra could overflow the float "
                           "range: the direct method sums only the products each output needs"))
    return out


def select(problem, method="auto", workers=None, *, probes=None, offload=False, settle=False,
           caller=None):
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
    caller : str, optional
        The public function called, for the ``MemoryError`` message;
        ``'fftconvolve'`` also lets ``method='fft'`` take overlap-add's plan
        when the full transform does not fit in memory.

    Returns
    -------
    problem : numbaconv._problem.Problem
        ``problem`` with the value facts the choice rests on filled in.
    choice : Choice
        The backend, its device and the predicted cost of every candidate.

    Raises
    ------
    MemoryError
        When no candidate's predicted peak fits in the memory available.
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
        return problem, _fit_memory(problem, choice, method, workers, version, caller)
    separable_listed = settle and any(name.endswith("separable") for name in choice.costs)
    if (problem.separable and (choice.method == "separable" or separable_listed)
            and not probes.rank1()):
        problem = dataclasses.replace(problem, separable=False)
        choice = choose(problem)
    if method == "auto" and choice.method in FFT_METHODS and problem.finite is None:
        facts = {"finite": probes.finite()}
        if problem.kind in "iu":        # layer problems are float: no integer bound to ask
            facts["int_bound"] = probes.int_bound()
        elif facts["finite"] and problem.operation == "signal":
            facts["fft_in_range"] = probes.fft_in_range()
        problem = dataclasses.replace(problem, **facts)
        choice = choose(problem)
    return problem, _fit_memory(problem, choice, method, workers, version, caller)


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
                               peaks={**cpu.peaks, **gpu.peaks},
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
    peaks = {m.NAME: int(m.memory(problem, workers)) for m in allowed if hasattr(m, "memory")}
    best = min(allowed, key=lambda m: costs[m.NAME])
    notes += [f"{m.NAME}: {m.describe(problem, workers)}" for m in allowed
              if hasattr(m, "describe")]
    return Choice(best.NAME, best.METHOD, costs, [r for _, r in vet], best, notes, peaks,
                  coefficients=_coefficients_words())


def _coefficients_words() -> str:
    """The table in force and the kernels' class, for ``explain()``."""
    kernels = target()
    return (f"{coef.source()}; kernels built for {kernels.isa} ({kernels.cpu}, "
            f"from {kernels.source})")


def _fit_memory(problem, choice, method, workers, version, caller) -> Choice:
    """``choice``, or the cheapest candidate whose predicted peak fits the memory available.

    Raises ``MemoryError`` (see :func:`memory_message`) when none fits.
    """
    peak = choice.peaks.get(choice.backend)
    if peak is None or _memory.fits_quickly(peak):
        return choice
    avail, source = _memory.available()
    if peak <= avail:
        return choice
    over = {name: p for name, p in choice.peaks.items() if p > avail}
    vetoes = choice.vetoes + [f"{name} needs {_memory.format_bytes(p)} at its peak, over the "
                              f"{_memory.format_bytes(avail)} available ({source})"
                              for name, p in sorted(over.items(), key=lambda kv: kv[1])]
    fitting = [name for name in choice.costs if name not in over]
    if not fitting and method == "fft" and caller == "fftconvolve":
        blocked = _fitting_alternative(problem, "oa", workers, version, avail)
        if blocked is not None:
            note = ("the full transform does not fit in memory: overlap-add computes the same "
                    "convolution in blocks")
            return dataclasses.replace(blocked, costs={**choice.costs, **blocked.costs},
                                       peaks={**choice.peaks, **blocked.peaks}, vetoes=vetoes,
                                       notes=blocked.notes + [note], memory_bound=True)
    if not fitting:
        raise MemoryError(memory_message(problem, choice, avail, source, method, workers,
                                         version, caller))
    best = _backends.REGISTRY[min(fitting, key=choice.costs.get)]
    return dataclasses.replace(choice, backend=best.NAME, method=best.METHOD, module=best,
                               vetoes=vetoes, memory_bound=True)


def _fitting_alternative(problem, method, workers, version, avail):
    """The cheapest choice for ``method`` whose predicted peak fits ``avail`` bytes, or None."""
    try:
        alt = _select(problem, method, workers, version)
    except ValueError:          # no backend runs that method here
        return None
    fitting = [name for name in alt.costs if alt.peaks.get(name, avail + 1) <= avail]
    if not fitting:
        return None
    best = _backends.REGISTRY[min(fitting, key=alt.costs.get)]
    return dataclasses.replace(alt, backend=best.NAME, method=best.METHOD, module=best)


def memory_message(problem, choice, avail, source, method, workers, version, caller) -> str:
    """The ``MemoryError`` of a call that fits nowhere: what it needs, what is free, what to do."""
    lean = min(choice.peaks, key=choice.peaks.get)      # the candidate that needs least
    peak = choice.peaks[lean]
    name, what = _call_words(problem, caller)
    text = (f"{name} of {what} needs about {_memory.format_bytes(peak)} at its peak "
            f"({lean}), but {_memory.format_bytes(avail)} are available ({source}); "
            "nothing was allocated")
    fixes = []
    result = _result_bytes(problem)
    if result > avail:
        text += f"; the result alone takes {_memory.format_bytes(result)}"
    elif method != "auto" or caller == "fftconvolve":
        for other in ("oa", "auto"):
            alt = _fitting_alternative(problem, other, workers, version, avail)
            if alt is not None and alt.method != method:
                how = ("oaconvolve, or method='oa'" if alt.method == "oa" and problem.operation
                       == "signal" else f"method={alt.method!r}")
                fixes.append(f"{how} ({alt.backend}, {_memory.format_bytes(alt.peaks[alt.backend])})")
                break
    if workers > 1:
        one = _backends.REGISTRY[lean].memory(problem, 1)
        if one <= avail < peak:
            fixes.append(f"workers=1 (per-thread buffers: {_memory.format_bytes(one)} in all)")
    if problem.operation == "layer":
        fixes.append("a smaller batch per call (split the input along its first axis)")
    else:
        fixes.append(_chunked_hint())
    if source in (_memory.ENV, "numbaconv.set_memory_limit"):
        fixes.append(f"a higher limit ({source})")
    else:
        fixes.append(f"more free memory or a higher limit ({source}; {_memory.ENV} and "
                     "numbaconv.set_memory_limit can only lower it)")
    return f"{text}. Use " + ", or ".join(fixes)


def _call_words(problem, caller):
    """``(function name, its inputs in words)`` for error messages."""
    if problem.operation == "layer":
        kind = "conv_transpose" if problem.transposed else "conv"
        cg = problem.channels // problem.groups
        weight = ((problem.channels, problem.out_channels // problem.groups) if problem.transposed
                  else (problem.out_channels, cg)) + tuple(problem.kernel)
        return (f"numbaconv.nn.{kind}{problem.ndim}d",
                f"input {(problem.batch, problem.channels) + tuple(problem.shape)} and weight "
                f"{weight} ({problem.dtype})")
    return (caller or "convolve",
            f"shapes {tuple(problem.shape_a)} and {tuple(problem.shape_k)} ({problem.dtype})")


def _result_bytes(problem) -> int:
    """Bytes of the result a call returns."""
    if problem.operation == "layer":
        count = problem.batch * problem.out_channels * math.prod(problem.out_shape)
    else:
        count = problem.outputs
    return count * problem.dtype.itemsize


def _chunked_hint() -> str:
    """How to compute a result in pieces: ``numbaconv.dask`` where this install has it."""
    import importlib.util
    if importlib.util.find_spec("numbaconv.dask") is not None:
        return "numbaconv.dask.convolve on chunks (out of core)"
    return "chunks of the signal convolved one at a time (overlap-add by hand, or dask)"


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
