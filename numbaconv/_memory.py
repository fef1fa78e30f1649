"""How much memory a call may allocate: the system's limits and the user's setting.

The dispatcher compares each backend's predicted peak (its ``memory()``)
with :func:`available` before anything is allocated, so that a call that
cannot fit fails with a ``MemoryError`` that says what to do (or takes a
plan that fits) instead of failing inside a transform, or being killed by
the kernel's out-of-memory killer after Linux overcommitted its pages.

:func:`available` is the least of

* ``MemAvailable`` of ``/proc/meminfo`` (elsewhere ``SC_AVPHYS_PAGES``),
* the cgroup's limit less its usage (v2 ``memory.max - memory.current``,
  for the process's cgroup and each parent; v1 ``memory.limit_in_bytes -
  memory.usage_in_bytes``),
* ``RLIMIT_AS`` less the process's ``VmSize`` and ``RLIMIT_DATA`` less its
  ``VmData`` (``/proc/self/status``),
* the user's limit: :func:`set_memory_limit` in the current thread, else the
  ``NUMBACONV_MEMORY_LIMIT`` environment variable.

Reading ``/proc`` takes tens of microseconds, so :func:`fits` skips it for
peaks under :data:`CHECK_MIN_BYTES` (and under the user's limit).
"""
from __future__ import annotations

import contextlib
import operator
import os
import re
import threading
import time

#: the environment variable of the user's limit (``8G``, ``512M``, bytes)
ENV = "NUMBACONV_MEMORY_LIMIT"
#: predicted peaks below this (and below the user's limit) are not checked
CHECK_MIN_BYTES = 64 << 20

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]?)(?:i?b)?\s*", re.IGNORECASE)
#: what every bad value is told
_FORMS = ("give a positive number of bytes (an int) or a string such as '512M', '8G' or "
          "'1.5GiB' (units K, M, G, T are powers of 1024; B and iB optional)")
#: cgroup v1 reports "no limit" as a huge number near 2**63
_NO_LIMIT = 1 << 60


class _PerThread(threading.local):
    """This thread's ``set_memory_limit`` stack; the class attribute is every thread's
    default (read by each memoised call: 0.1 µs, where ``getattr`` with a default takes 0.7)."""

    limits = None


_local = _PerThread()
_env_cache: dict = {}


def parse_size(value, what="memory limit") -> int:
    """Bytes that ``value`` stands for: an int, or a string like ``'512M'`` or ``'8G'``.

    Raises ``ValueError`` naming the accepted forms for anything else (zero
    and negative sizes, floats, bools, unknown units).
    """
    if isinstance(value, str):
        m = _SIZE.fullmatch(value)
        if m is None:
            raise ValueError(f"{what} {value!r} is not a size: {_FORMS}")
        nbytes = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    elif isinstance(value, bool) or isinstance(value, float):
        raise ValueError(f"{what} {value!r} is not a size: {_FORMS}")
    else:
        try:
            nbytes = operator.index(value)
        except TypeError:
            raise ValueError(f"{what} {value!r} is not a size: {_FORMS}") from None
    if nbytes <= 0:
        raise ValueError(f"{what} {value!r} is not positive: {_FORMS}")
    return nbytes


def format_bytes(nbytes) -> str:
    """``nbytes`` in words: ``'6.87 GiB'``, ``'512 MiB'``, ``'100 bytes'``."""
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= size:
            return f"{nbytes / size:.3g} {unit}"
    return f"{int(nbytes)} bytes"


@contextlib.contextmanager
def set_memory_limit(nbytes):
    """Context manager: the most memory a call may allocate, in this thread.

    Before allocating, every call predicts its peak memory.  Where the
    peak exceeds the memory available -- the least of the system's free
    memory, the cgroup's and the process's limits, and this setting --
    ``method='auto'`` takes a backend that fits (overlap-add instead of one
    large transform, where it fits), and otherwise the call raises
    ``MemoryError`` saying what it needed and what to do.  Outside any
    context the ``NUMBACONV_MEMORY_LIMIT`` environment variable (same
    forms) sets the limit; this context replaces it.

    Parameters
    ----------
    nbytes : int or str or None
        Bytes (a positive int) or a string such as ``'512M'``, ``'8G'`` or
        ``'1.5GiB'`` (units K, M, G, T are powers of 1024).  ``None`` lifts
        the setting inside the context (the system's limits still apply).

    Raises
    ------
    ValueError
        For anything else, saying which forms are accepted.

    Examples
    --------
    >>> import numpy as np
    >>> import numbaconv
    >>> with numbaconv.set_memory_limit("1M"):  # doctest: +ELLIPSIS
    ...     numbaconv.fftconvolve(np.ones(10**6), np.ones(100))
    Traceback (most recent call last):
    ...
    MemoryError: fftconvolve of shapes (1000000,) and (100,) (float64) needs ...
    >>> with numbaconv.set_memory_limit("64M"):
    ...     numbaconv.fftconvolve(np.ones(10**6), np.ones(100)).shape
    (1000099,)
    """
    stack = _contexts()
    stack.append(None if nbytes is None else parse_size(nbytes))
    try:
        yield
    finally:
        stack.pop()


def _contexts() -> list:
    """Return the :func:`set_memory_limit` values of the calling thread, innermost last."""
    return _local.__dict__.setdefault("limits", [])


def user_limit():
    """``(bytes, where it was set)`` of the user's limit in force, or ``(None, None)``."""
    stack = _local.limits
    if stack:                           # the innermost context rules (None lifts the limit)
        return stack[-1], "numbaconv.set_memory_limit"
    text = os.environ.get(ENV)
    if not text:
        return None, None
    if text not in _env_cache:
        _env_cache[text] = parse_size(text, f"{ENV}=")
    return _env_cache[text], ENV


def fits_quickly(nbytes) -> bool:
    """Whether ``nbytes`` is below :data:`CHECK_MIN_BYTES` and the user's limit (no /proc read)."""
    if nbytes >= CHECK_MIN_BYTES:
        return False
    limit, _ = user_limit()
    return limit is None or nbytes <= limit


def fits(nbytes) -> bool:
    """Whether a call allocating ``nbytes`` at its peak fits; cheap for small peaks."""
    return fits_quickly(nbytes) or nbytes <= available()[0]


#: a memoised call trusts a system reading this recent (seconds) ...
RECENT_SECONDS = 0.25
#: ... where its peak is at most this share of what the reading found available
RECENT_SHARE = 0.25
_recent = [float("-inf"), 0.0]        # [when, bytes available] of the last system reading


def still_fits(nbytes) -> bool:
    """:func:`fits` for a memoised plan, which replays a call the dispatcher checked.

    Small peaks are checked again only inside a :func:`set_memory_limit`
    context: reading the environment variable costs more than a small
    call's whole replay, and it is read again whenever a call is dispatched.
    Large ones read the system's limits (144 µs warm and 400-600 µs right after
    a 4096² float32 call of 7.6 ms), unless a reading of the last
    :data:`RECENT_SECONDS` found four times the peak available: a loop of large
    calls reads them four times a second.
    """
    if nbytes < CHECK_MIN_BYTES and not _local.limits:
        return True
    limit, _ = user_limit()
    if limit is not None and nbytes > limit:
        return False
    if nbytes < CHECK_MIN_BYTES:
        return True
    now = time.monotonic()
    when, free = _recent
    if now - when < RECENT_SECONDS and nbytes <= RECENT_SHARE * free:
        return True
    free = available()[0]
    _recent[:] = [now, free]
    return nbytes <= free


def available():
    """``(bytes, what limits them)``: the least of the limits in the module docstring.

    Returns
    -------
    nbytes : int or float
        Bytes a call may still allocate (``inf`` where nothing is known).
    source : str
        Which limit that is, in words (for error messages).
    """
    found = [(float("inf"), "no known limit")]
    limit, where = user_limit()
    if limit is not None:
        found.append((limit, where))
    found += _system()
    return min(found, key=lambda f: f[0])


def _system():
    """``[(bytes, source)]`` of every system limit that can be read here."""
    out = []
    status = _read_status()
    mem = _meminfo_available()
    if mem is not None:
        out.append((mem, "free memory (MemAvailable)"))
    cg = _cgroup_available()
    if cg is not None:
        out.append((cg, "the cgroup's memory limit"))
    try:
        import resource
    except ImportError:             # not on this platform
        return out
    for name, used in (("RLIMIT_AS", "VmSize"), ("RLIMIT_DATA", "VmData")):
        soft = resource.getrlimit(getattr(resource, name))[0]
        if soft != resource.RLIM_INFINITY and soft >= 0:
            out.append((max(0, soft - status.get(used, 0)), f"the process's {name} (ulimit)"))
    return out


def _read(path):
    try:
        with open(path, encoding="ascii") as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError):
        return None


def _read_status() -> dict:
    """``VmSize`` and ``VmData`` of ``/proc/self/status`` in bytes (empty without /proc)."""
    text = _read("/proc/self/status") or ""
    out = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmSize", "VmData"):
            out[key] = int(rest.split()[0]) * 1024
    return out


def _meminfo_available():
    text = _read("/proc/meminfo")
    if text is not None:
        for line in text.splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _number(path):
    text = _read(path)
    if text is None:
        return None
    text = text.strip()
    return None if text == "max" or not text.isdigit() else int(text)


def _cgroup_dirs(root, path):
    """The directories of cgroup ``path`` under the mount ``root``, own first, then parents.

    Inside a container the path seen in ``/proc/self/cgroup`` may not exist
    under the mount, whose root is then the process's own cgroup.
    """
    parts = [p for p in path.split("/") if p]
    if not parts or not os.path.isdir(os.path.join(root, *parts)):
        return [root]
    return [os.path.join(root, *parts[:i]) for i in range(len(parts), -1, -1)]


def _cgroup_available():
    """The least headroom of the process's cgroup (and its parents, v2), or None."""
    text = _read("/proc/self/cgroup")
    if text is None:
        return None
    best = None
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "":                                   # v2 unified hierarchy
            root = "/sys/fs/cgroup/unified" if os.path.isdir("/sys/fs/cgroup/unified") \
                else "/sys/fs/cgroup"
            files = ("memory.max", "memory.current")
        elif "memory" in controllers.split(","):                # v1 memory controller
            root, files = "/sys/fs/cgroup/memory", ("memory.limit_in_bytes",
                                                    "memory.usage_in_bytes")
        else:
            continue
        for d in _cgroup_dirs(root, path):
            limit = _number(os.path.join(d, files[0]))
            if limit is None or limit >= _NO_LIMIT:
                continue
            used = _number(os.path.join(d, files[1])) or 0
            head = max(0, limit - used)
            best = head if best is None else min(best, head)
    return best
