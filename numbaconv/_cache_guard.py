"""Numba's on-disk cache, read so that a bad entry costs a compile, never the call.

Numba unpickles its index (``.nbi``) and data (``.nbc``) files and lets every
error through: a truncated or garbled file (a full disk, a killed writer, a
copied cache) made the first call of a kernel raise ``UnpicklingError`` or
``EOFError``.  And two processes that compile different signatures of one
kernel into an empty cache at once can leave an index entry that names the
other's data file: Numba then returns code compiled for other argument types
(a ``TypeError`` at the call).  :class:`GuardedCache` drops such an entry with
a log line on the ``"numbaconv"`` logger and lets Numba compile; a cache that
cannot be written is logged and skipped.  Entries are also keyed on the
register-block sizes the kernels were built with and on the sources of the
helpers they compile in (:meth:`GuardedCache._index_key`).
"""
from __future__ import annotations

import functools
import logging
import os

from numba.core import sigutils
from numba.core.caching import FunctionCache

logger = logging.getLogger("numbaconv")

#: what every kernel's code depends on besides its own source: the register-block sizes,
#: set by :mod:`numbaconv._kernels.simd` when it is imported (before anything compiles)
LAYOUT: tuple = ()


@functools.lru_cache(maxsize=1)
def shared_sources() -> str:
    """A digest of the sources kernels compile in from other files than their own.

    Numba keys a cache entry on the kernel's own file only, so a kernel that
    inlines or calls a helper of :mod:`numbaconv._kernels` (or of another
    backend) kept the helper's old code after the helper changed.  Read at the
    first cache lookup (1.8 ms), not at import.
    """
    import hashlib
    import pathlib
    root = pathlib.Path(__file__).parent
    digest = hashlib.sha1()
    for path in sorted([*root.glob("_kernels/*.py"), *root.glob("_backends/*.py"),
                        root / "_jit.py"]):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _cells_digest(fn) -> str:
    """A digest of ``fn``'s closure that is the same in every process.

    Numba's key pickles the closure's values, and a Numba function (or intrinsic)
    pickles with an identifier new in each process: a kernel made by a factory that
    closes over another (:func:`numbaconv._backends.cpu_direct._quads_factory`) missed
    the cache in every new process and compiled again.  Here such a value stands for
    its module, name, code and (recursively) its own closure.
    """
    import hashlib

    from numba.core.dispatcher import Dispatcher
    from numba.core.extending import _Intrinsic
    from numba.core.serialize import dumps

    def stable(f, seen):
        if f.__closure__ is None:
            return ()
        out = []
        for cell in f.__closure__:
            value = cell.cell_contents
            py = (value.py_func if isinstance(value, Dispatcher)
                  else value._defn if isinstance(value, _Intrinsic) else None)
            if py is not None:
                inner = stable(py, seen | {id(py)}) if id(py) not in seen else ()
                value = ("jit", py.__module__, py.__qualname__, py.__code__.co_code, inner)
            out.append(value)
        return tuple(out)

    if fn.__closure__ is None:
        return hashlib.sha256(b"").hexdigest()
    return hashlib.sha256(dumps(stable(fn, {id(fn)}))).hexdigest()


class GuardedCache(FunctionCache):
    """Numba's per-function cache, with unreadable or mismatched entries dropped."""

    def load_overload(self, sig, target_context):
        try:
            cres = super().load_overload(sig, target_context)
        except Exception as exc:  # noqa: BLE001 - any unreadable entry: compile instead
            self._drop(sig, target_context, f"unreadable ({type(exc).__name__}: {exc})")
            return None
        if cres is not None:
            wanted = tuple(sigutils.normalize_signature(sig)[0])
            if tuple(cres.signature.args) != wanted:
                self._drop(sig, target_context,
                           f"compiled for {cres.signature.args}, not {wanted}")
                return None
        return cres

    def _index_key(self, sig, codegen):
        """Numba's key with a closure digest stable across processes (:func:`_cells_digest`),
        plus :data:`LAYOUT` (the register-block sizes of the kernels) and
        :func:`shared_sources` (the shared helpers' sources).

        Both are read when a kernel compiles but live in other files than the
        kernel, so Numba's key (the kernel's code and file, the target CPU) would not
        see them change: code built for other block sizes or from older helpers must
        never load, since the host code sizes its work to them.
        """
        # Numba's own key, (sig, magic, (code hash, cells hash)), with the stable cells
        # digest; computed here, since Numba's would pickle the closure to throw it away
        import hashlib
        code = hashlib.sha256(self._py_func.__code__.co_code).hexdigest()
        return (sig, codegen.magic_tuple(), (code, _cells_digest(self._py_func)), LAYOUT,
                shared_sources())

    def save_overload(self, sig, data):
        try:
            super().save_overload(sig, data)
        except Exception as exc:  # noqa: BLE001 - caching is an optimisation
            logger.warning("numbaconv: could not store the compiled %s in Numba's cache "
                           "(%s: %s); it will compile again in the next process",
                           self._name, type(exc).__name__, exc)

    def _drop(self, sig, target_context, why):
        """Remove the bad file: the index when it cannot be read, else the entry's data file."""
        files = self._cache_file
        path = files._index_path
        try:
            try:
                overloads = files._load_index()
            except Exception:  # noqa: BLE001 - the index itself is bad: it goes
                os.remove(path)
            else:
                name = overloads.get(self._index_key(sig, target_context.codegen()))
                if name is not None:
                    # Numba treats a missing data file as a miss and rewrites it when it saves
                    path = files._data_path(name)
                    os.remove(path)
            outcome = "removed it"
        except (OSError, AttributeError) as exc:
            outcome = f"could not remove it ({type(exc).__name__}: {exc})"
        logger.warning("numbaconv: Numba's cached code of %s is %s; %s (%s) and compiles "
                       "the kernel instead", self._name, why, outcome, path)


def guard(dispatcher):
    """Make ``dispatcher`` (a ``cache=True`` Numba function) read its cache through the guard.

    Its cache becomes a :class:`GuardedCache`; other dispatchers are returned as they are.

    Examples
    --------
    Every kernel compiled through :func:`numbaconv._jit.jit` is guarded:

    >>> from numbaconv._cache_guard import GuardedCache
    >>> from numbaconv._probes import _all_finite_ser
    >>> isinstance(_all_finite_ser._cache, GuardedCache)
    True
    """
    cache = getattr(dispatcher, "_cache", None)
    if type(cache) is FunctionCache:
        cache.__class__ = GuardedCache
    return dispatcher
