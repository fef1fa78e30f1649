"""One log line before a long compile: what compiles, that it happens once, how to do it ahead.

Numba fires its ``"numba:compile"`` event only on a real compile (a cache
miss: ``Dispatcher.compile`` tries the on-disk cache first).  The listener
registered here logs one WARNING on the ``"numbaconv"`` logger the first
time a kernel family compiles in a process -- the family being the backend
on the call stack (``cpu_direct``, ``cpu_layer_fft``, ...), else the
public function, else the kernel itself.  Compiles nested in another
numbaconv compile say nothing, and neither does :func:`watch`'s body
(``numbaconv.warmup`` reports its own progress).

Registering costs a list append: nothing is compiled and CUDA is not touched.
"""
from __future__ import annotations

import contextlib
import logging
import sys
import threading

from numba.core import event

logger = logging.getLogger("numbaconv")

_PACKAGE = "numbaconv"
#: modules whose public (non-underscore) functions are what the user called
_PUBLIC_MODULES = {"numbaconv._api": "numbaconv.", "numbaconv.nn._functional": "numbaconv.nn.",
                   "numbaconv.nn._layers": "numbaconv.nn."}
_BACKENDS = "numbaconv._backends."
#: the arguments that name a path, shown when the public call has them
_PATH_ARGS = ("method", "boundary", "groups")

_state = threading.local()
_announced: set = set()
_lock = threading.Lock()
_counters: list = []        # the open watch() counters


def _module_of(dispatcher) -> str:
    return getattr(getattr(dispatcher, "py_func", None), "__module__", "") or ""


def _dtype_of(args) -> str | None:
    """Return the element type of the first array argument of the compile, in NumPy's words."""
    for arg in args or ():
        dtype = getattr(arg, "dtype", None)
        if dtype is not None:
            return str(dtype)
    return None


def _call_site(frame):
    """Find ``(public call, backend, input dtype)`` on the stack; None where absent.

    For example ``("numbaconv.convolve(method='direct')", "cpu_direct", "float64")``.
    """
    public = backend = dtype = None
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if backend is None and module.startswith(_BACKENDS):
            backend = module[len(_BACKENDS):]
        prefix = _PUBLIC_MODULES.get(module)
        name = frame.f_code.co_name
        if prefix is not None and not name.startswith("_"):
            local = frame.f_locals
            shown = ", ".join(f"{k}={local[k]!r}" for k in _PATH_ARGS
                              if k in local and isinstance(local[k], (str, int)))
            public = f"{prefix}{name}({shown})"     # the outermost one wins
            first = local.get(frame.f_code.co_varnames[0]) if frame.f_code.co_argcount else None
            dtype = str(first.dtype) if hasattr(first, "dtype") else dtype
        frame = frame.f_back
    return public, backend, dtype


def _message(dispatcher, args, public, backend, dtype) -> str:
    kernel = getattr(dispatcher, "__qualname__", None) or repr(dispatcher)
    dtype = dtype or _dtype_of(args)
    what = f"the {backend} kernels" if backend else f"the kernel {kernel}"
    if public:
        what += f" of {public}"
    if dtype:
        what += f" for {dtype}"
    cache = getattr(getattr(dispatcher, "_cache", None), "cache_path", None)
    where = f"Numba's cache directory ({cache})" if cache else "Numba's cache directory"
    return (f"numbaconv: compiling {what} for this machine. This takes seconds, once: "
            f"the compiled code is then stored in {where} and loaded from there by later "
            "processes. Run `numbaconv warmup` (or numbaconv.warmup()) to compile ahead.")


class _Listener(event.Listener):
    """Logs before the first compile of each kernel family; counts compiles for :func:`watch`."""

    def on_start(self, ev):
        dispatcher = ev.data.get("dispatcher") if isinstance(ev.data, dict) else None
        if not _module_of(dispatcher).startswith(_PACKAGE):
            return
        depth = getattr(_state, "depth", 0)
        _state.depth = depth + 1
        if depth:
            return              # nested in a numbaconv compile: said already
        for counter in _counters:
            counter.kernels += 1
        if getattr(_state, "quiet", 0):
            return
        public, backend, dtype = _call_site(sys._getframe(1))
        family = backend or (public.split("(")[0] if public else _module_of(dispatcher) + "."
                             + getattr(dispatcher, "__qualname__", ""))
        with _lock:
            if family in _announced:
                return
            _announced.add(family)
        logger.warning(_message(dispatcher, ev.data.get("args"), public, backend, dtype))

    def on_end(self, ev):
        dispatcher = ev.data.get("dispatcher") if isinstance(ev.data, dict) else None
        if _module_of(dispatcher).startswith(_PACKAGE):
            _state.depth = max(0, getattr(_state, "depth", 1) - 1)


_LISTENER = _Listener()
_registered = []


def register() -> None:
    """Listen to Numba's compile events (once per process)."""
    with _lock:
        if not _registered:
            event.register("numba:compile", _LISTENER)
            _registered.append(_LISTENER)


class Counter:
    """How many numbaconv kernels compiled (outermost compiles only) inside :func:`watch`."""

    kernels = 0


@contextlib.contextmanager
def watch(quiet: bool = True):
    """Count the numbaconv kernels compiled in the body, and keep this thread's notices quiet.

    Examples
    --------
    >>> from numbaconv._compile_notice import watch
    >>> with watch() as seen:
    ...     pass
    >>> seen.kernels
    0
    """
    counter = Counter()
    _counters.append(counter)
    _state.quiet = getattr(_state, "quiet", 0) + bool(quiet)
    try:
        yield counter
    finally:
        _state.quiet -= bool(quiet)
        _counters.remove(counter)


register()
