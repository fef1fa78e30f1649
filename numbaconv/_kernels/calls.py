"""Running a compiled work item over ``range(n)``, serially or in parallel, through its address.

Every parallel kernel is a loop over independent work items (a tile, a band of
rows, a batch x channel pair).  Written as ``for i in prange(n): item(..., i)``,
the item's whole call tree is linked into the parallel function and compiled
again at each of the levels Numba builds for it (the parfor's gufunc, its
wrapper, the function itself): about 1 s per level per kernel on a 2-core
machine, most of a cold first call.  Here the loop calls the item through its
native address instead (:func:`call_item`), so the item compiles once, on its
own, and the loops (:func:`run_items`) are a few instructions that compile in
a fraction of a second for each argument layout.  The item keeps Numba's
calling convention, so its arguments (arrays included) pass as they would in
a direct call; only LLVM inlining across the call is lost, which a work item
of microseconds does not notice.

An item is a ``@jit`` function ``item(*args, i)`` returning nothing, whose
``i`` is an ``int64``.  The only error an item can raise is a failed
allocation, which :func:`run_items` reports as a ``MemoryError``.
"""
from __future__ import annotations

import threading

import numba
import numpy as np
from llvmlite import ir
from numba import prange, types
from numba._dispatcher import compute_fingerprint
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.ufunc.parallel import _iget_num_threads as _get_threads, _launch_threads

from .._config import thread_count
from .._jit import jit, jit_parallel


@intrinsic
def call_item(typingctx, addr, args, index):
    """``item(*args, index)`` for the compiled item at native address ``addr``; True on success."""
    if not (isinstance(addr, types.Integer) and isinstance(args, types.BaseTuple)
            and isinstance(index, types.Integer)):
        return None
    argtys = tuple(args.types) + (types.int64,)

    def codegen(context, builder, sig, llargs):
        addr_v, tup_v, idx_v = llargs
        vals = [builder.extract_value(tup_v, i) for i in range(len(args.types))]
        vals.append(context.cast(builder, idx_v, sig.args[2], types.int64))
        conv = context.call_conv
        fnty = conv.get_function_type(types.none, argtys)
        callee = builder.inttoptr(addr_v, fnty.as_pointer())
        status, _ = conv.call_function(builder, callee, types.none, argtys, vals)
        return builder.not_(status.is_error)

    return types.boolean(addr, args, index), codegen


@intrinsic
def _set_threads(typingctx, n):
    """``numba.set_num_threads(n)`` for compiled code that is cached: Numba's own overload
    calls a ctypes pointer, which keeps a function out of the cache; this calls the
    threading layer's symbol by name, as Numba's parallel loops call ``get_num_threads``."""
    if not isinstance(n, types.Integer):
        return None
    _launch_threads()

    def codegen(context, builder, sig, llargs):
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i32]),
                                            "set_num_threads")
        builder.call(fn, [builder.trunc(llargs[0], i32) if llargs[0].type.width > 32
                          else llargs[0]])
        return context.get_dummy_value()

    return types.none(n), codegen


# Two functions, not jit(f) and jit_parallel(f) of one: Numba's cache keys an entry on the
# function's code and signature, not on ``parallel``, so the two would load each other's code.
@jit_parallel
def _items_par(addr, args, n, threads):
    # Numba's thread count is set here (1 <= threads <= NUMBA_NUM_THREADS, as thread_count
    # clamps it), not by a context manager around the call: the manager's two Python
    # calls into Numba took 1.4-2.2 µs of a 20 µs call
    old = _get_threads()
    if threads != old:
        _set_threads(threads)
    failed = 0
    for i in prange(n):
        if not call_item(addr, args, np.int64(i)):
            failed += 1
    if threads != old:
        _set_threads(old)
    return failed


@jit
def _items_ser(addr, args, n):
    failed = 0
    for i in range(n):
        if not call_item(addr, args, np.int64(i)):
            failed += 1
    return failed


_addresses: dict = {}
_lock = threading.Lock()


def _fingerprint(args):
    """A key for the Numba types of ``args``: the C fingerprint Numba's dispatchers key their
    typing on (a fraction of a microsecond, where ``numba.typeof`` takes several per array)."""
    try:
        return compute_fingerprint(args)
    except (TypeError, ValueError):  # a type without a fingerprint: the slow exact key
        return tuple(numba.typeof(x) for x in args)


def item_address(item, args) -> int:
    """The native address of ``item`` compiled for ``(*args, int64)`` (compiled or loaded once)."""
    key = (item, _fingerprint(args))
    addr = _addresses.get(key)
    if addr is None:
        sig = tuple(numba.typeof(x) for x in args) + (types.int64,)
        with _lock:
            item.compile(sig)
            cres = item.overloads[sig]
            addr = cres.library.get_pointer_to_function(cres.fndesc.llvm_func_name)
            _addresses[key] = addr
    return addr


def run_items(item, args: tuple, n: int, threads: int = 1) -> None:
    """Run ``item(*args, i)`` for ``i`` in ``range(n)``, on ``threads`` of Numba's threads.

    Parameters
    ----------
    item : numba dispatcher
        A ``@jit`` function ``item(*args, i)`` returning nothing.
    args : tuple
        Its arguments before ``i``: arrays, integers, booleans, floats.
    n : int
        How many items.
    threads : int, optional
        More than 1: the items run in a ``prange`` loop on that many threads;
        1 (default): one after another on the calling thread, with no
        thread launch.

    Raises
    ------
    MemoryError
        An item could not allocate its scratch memory.

    Examples
    --------
    >>> import numpy as np
    >>> from numba import njit
    >>> from numbaconv._kernels.calls import run_items
    >>> @njit
    ... def twice(src, dst, i):
    ...     dst[i] = 2 * src[i]
    >>> x = np.arange(4.0); y = np.empty(4)
    >>> run_items(twice, (x, y), 4)
    >>> y
    array([0., 2., 4., 6.])
    """
    addr = item_address(item, args)
    if threads > 1:
        failed = _items_par(addr, args, n, thread_count(threads))
    else:
        failed = _items_ser(addr, args, n)
    if failed:
        raise MemoryError(f"{failed} of {n} work items of {item.__name__} could not allocate "
                          "their scratch memory; free memory or use fewer workers")
