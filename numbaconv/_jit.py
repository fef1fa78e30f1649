"""The one place where Numba JIT options are spelled.

Every kernel in numbaconv is compiled through :func:`jit` so that caching,
the fastmath flag set and the error model are the same everywhere.  The
fastmath set deliberately leaves out ``nnan`` and ``ninf``: with them LLVM
may assume that no NaN or inf exists and fold ``np.isnan`` to ``False``,
which would let non-finite values vanish silently.

It is also where the threading layer is prepared, before any parallel
kernel runs (Numba fixes it at the first launch): Numba's ``tbb`` layer,
which is safe for threads and for ``fork``, wherever the ``tbb`` package is
installed (:func:`_load_tbb`); OpenMP, Numba's fallback, only with a short
spin count.

And it is where the kernels' instruction-set class is decided
(:func:`target`): ``'avx512'`` (32 vector registers of 64 bytes),
``'avx2'`` (16 of 32 bytes) or ``'generic'`` (anything else LLVM targets),
read from the code Numba actually emits for its compilation target -- the
host, or ``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES``.  ``NUMBACONV_ISA``
(:data:`ISA_ENV`) narrows that target before Numba compiles anything, so
that the 256-bit kernels run, and are tested, on an AVX-512 host too.
"""
from __future__ import annotations

import ctypes
import functools
import os
import sys
from typing import NamedTuple

#: After a parallel region, the threads of Numba's OpenMP layer (GNU libgomp)
#: spin-wait for about 300,000 iterations by default -- milliseconds during
#: which they take the cores from whatever runs next (scipy.fft's workers
#: ran up to 1.9x slower right after a parallel kernel on a 2-core machine).
#: 20,000 spins keep the launch latency of back-to-back kernels unchanged
#: and give the cores back in time.  Still needed where OpenMP is the layer
#: (no TBB, or the user's choice); read by libgomp when it is first loaded,
#: so set before any parallel kernel runs; a value the user set wins.
GOMP_SPINCOUNT = "20000"
os.environ.setdefault("GOMP_SPINCOUNT", GOMP_SPINCOUNT)

#: the environment variable that picks the instruction-set class of the kernels
ISA_ENV = "NUMBACONV_ISA"
#: the classes, widest first: what each needs of the CPU (LLVM's feature names)
ISA_NEEDS = {"avx512": ("avx512f",), "avx2": ("avx2", "fma"), "generic": ()}
#: Numba's compilation target (``NUMBA_CPU_NAME``, with the CPU's own features) for
#: a class narrower than the host: x86-64-v3 is the psABI's AVX2 + FMA level, generic
#: the architecture's baseline; ``'avx512'`` keeps the host's target
ISA_TARGETS = {"avx2": "x86-64-v3", "generic": "generic"}


def requested_isa() -> str | None:
    """The class ``NUMBACONV_ISA`` asks for, or None (unset, ``auto``: Numba's own target).

    Raises
    ------
    ValueError
        For a value that is not a class.
    """
    value = os.environ.get(ISA_ENV, "").strip().lower()
    if value in ("", "auto", "native"):
        return None
    if value not in ISA_NEEDS:
        raise ValueError(f"{ISA_ENV}={value!r}: expected one of {', '.join(ISA_NEEDS)} or auto")
    return value


#: the Numba settings :func:`_narrow_target` made (not the user's)
_NARROWED: dict = {}


def _narrow_target(isa) -> None:
    """Point Numba's compilation target at ``isa``'s (before Numba builds its code generator).

    A host that lacks the class's instructions is refused (its code would
    stop at the first one); a ``NUMBA_CPU_NAME`` the user set is left as it
    is, and :func:`target` checks that the two agree.
    """
    if isa is None:
        return
    try:
        from llvmlite import binding
        host = binding.get_host_cpu_features()
    except Exception:  # noqa: BLE001 - an unknown host has no optional instructions
        host = {}
    missing = [f for f in ISA_NEEDS[isa] if not host.get(f)]
    if missing:
        raise ValueError(f"{ISA_ENV}={isa}: this CPU lacks {', '.join(missing)}; use "
                         f"{ISA_ENV}=generic or leave it unset")
    if isa in ISA_TARGETS and "NUMBA_CPU_NAME" not in os.environ:
        # the named CPU's own features, not the host's
        _NARROWED.update(NUMBA_CPU_NAME=ISA_TARGETS[isa], NUMBA_CPU_FEATURES="")
        os.environ.update(_NARROWED)


_narrow_target(requested_isa())

import numba  # noqa: E402

if _NARROWED:
    # Numba read its configuration when it was first imported (perhaps before numbaconv)
    numba.core.config.reload_config()

from ._cache_guard import guard  # noqa: E402

#: the TBB runtime Numba's ``tbb`` layer loads, by its name on each platform
TBB_RUNTIME = {"linux": "libtbb.so.12", "win32": "tbb12.dll", "darwin": "libtbb.12.dylib"}

#: Numba's threading layers: what each is safe for (Numba's threading-layer docs)
LAYER_SAFETY = {
    "tbb": "thread- and fork-safe",
    "omp": ("thread-safe; not fork-safe: a fork after a parallel kernel kills the child; "
            "install tbb" if sys.platform.startswith("linux") else "thread- and fork-safe"),
    "workqueue": "fork-safe; not thread-safe: concurrent parallel calls abort; install tbb",
}


def tbb_runtime_path() -> str | None:
    """Where pip's ``tbb`` package put the TBB runtime, or None (not installed by pip)."""
    name = TBB_RUNTIME.get(sys.platform)
    if name is None:
        return None
    from importlib import metadata
    try:
        dist = metadata.distribution("tbb")
    except metadata.PackageNotFoundError:
        return None
    for f in dist.files or ():
        if f.name == name:
            return str(dist.locate_file(f))
    return None


def _load_tbb():
    """Load pip's TBB runtime, so that Numba's ``tbb`` layer can find it; the handle or None.

    Numba opens the runtime by its bare name, which the loader looks for in
    the system's directories, not in the virtual environment or user site
    where pip puts it: without this Numba falls back to OpenMP, which is not
    fork-safe.  Once the library is loaded, the bare name finds it.  Only
    where Numba would try ``tbb`` first: a user's ``NUMBA_THREADING_LAYER``
    (or priority) naming another layer is left alone.
    """
    layer = str(numba.config.THREADING_LAYER).lower()
    first = list(numba.config.THREADING_LAYER_PRIORITY)[:1] == ["tbb"]
    if not (layer in ("tbb", "safe", "threadsafe", "forksafe") or (layer == "default" and first)):
        return None
    path = tbb_runtime_path()
    if path is None:
        return None
    try:
        return ctypes.CDLL(path)
    except OSError:   # a broken install: Numba falls back to its next layer
        return None


_TBB = _load_tbb()

#: fastmath flags: contraction to FMA, reassociation (so reductions
#: vectorise), reciprocal and no-signed-zero approximations.  No nnan/ninf.
FASTMATH = frozenset({"contract", "reassoc", "arcp", "nsz", "afn"})

JIT_OPTIONS = {
    "cache": True,
    "nogil": True,
    "error_model": "numpy",
    "fastmath": set(FASTMATH),
    "boundscheck": False,
}


class Target(NamedTuple):
    """What the kernels are compiled for (see :func:`target`)."""

    isa: str            #: ``'avx512'``, ``'avx2'`` or ``'generic'``
    cpu: str            #: Numba's target CPU name (``NUMBA_CPU_NAME`` or the host's)
    vector_bytes: int   #: widest vector register LLVM uses there: 64, 32 or 16
    source: str         #: how the class was chosen, in words


#: a 64-byte vector add: the register LLVM puts it in names the target's vector width
_PROBE_IR = """
define void @probe(<16 x float>* %p, <16 x float>* %q) {
  %a = load <16 x float>, <16 x float>* %p
  %b = load <16 x float>, <16 x float>* %q
  %c = fadd <16 x float> %a, %b
  store <16 x float> %c, <16 x float>* %p
  ret void
}
"""


def vector_bytes(triple: str, cpu: str, features: str) -> int:
    """Bytes of the widest vector register LLVM uses for a target: 64, 32 or 16.

    Read from the assembly of :data:`_PROBE_IR` (a few milliseconds), so that
    a CPU name with its default features, disabled features and LLVM's own
    tuning all count as they will in the kernels.
    """
    from llvmlite import binding
    tm = binding.Target.from_triple(triple).create_target_machine(
        cpu=cpu, features=features, opt=2)
    module = binding.parse_assembly(_PROBE_IR)
    module.triple = triple
    asm = tm.emit_assembly(module)
    return 64 if "zmm" in asm else 32 if "ymm" in asm else 16


@functools.lru_cache(maxsize=None)
def target() -> Target:
    """The instruction-set class the kernels are built for: Numba's compilation target's.

    Numba compiles for the host unless ``NUMBA_CPU_NAME`` /
    ``NUMBA_CPU_FEATURES`` say otherwise; ``NUMBACONV_ISA`` sets those
    (:data:`ISA_TARGETS`) when numbaconv is imported.  The class follows
    the vector width LLVM uses there: 64 bytes ``'avx512'``, 32 ``'avx2'``,
    else ``'generic'``.  Numba keys its cache by the target, so each class
    keeps its own compiled kernels.

    Raises
    ------
    RuntimeError
        When ``NUMBACONV_ISA`` asks for another class than Numba compiles
        for (a ``NUMBA_CPU_NAME`` that disagrees, or a function compiled with
        Numba before numbaconv was imported).

    Examples
    --------
    >>> from numbaconv._jit import target
    >>> target().isa in ("avx512", "avx2", "generic")
    True
    """
    from numba.core.registry import cpu_target
    triple, cpu, features = cpu_target.target_context.codegen().magic_tuple()
    width = vector_bytes(triple, cpu, features)
    isa = "avx512" if width >= 64 else "avx2" if width == 32 else "generic"
    wanted = requested_isa()
    if wanted is not None and wanted != isa:
        own = {k: os.environ[k] for k in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES",
                                          "NUMBA_ENABLE_AVX")
               if k in os.environ and os.environ[k] != _NARROWED.get(k)}
        why = (f"Numba's own settings ({', '.join(f'{k}={v!r}' for k, v in own.items())}) "
               "disagree; unset them or NUMBACONV_ISA" if own else
               "something was compiled with Numba before numbaconv was imported; import "
               "numbaconv first")
        raise RuntimeError(f"{ISA_ENV}={wanted}, but Numba compiles for {cpu!r} ({isa}): {why}")
    if wanted is not None:
        source = f"{ISA_ENV}={wanted}"
    elif numba.config.CPU_NAME is not None or numba.config.CPU_FEATURES is not None:
        source = "NUMBA_CPU_NAME/NUMBA_CPU_FEATURES"
    else:
        source = "the host CPU"
    return Target(isa, cpu, width, source)


def jit(fn=None, *, parallel: bool = False, inline: bool = False):
    """Compile ``fn`` with numbaconv's JIT options (usable bare or called).

    ``inline=True`` inlines ``fn`` into its callers in Numba's IR, so that
    arrays it takes from the caller's stack (register blocks) stay registers.
    """
    opts = dict(JIT_OPTIONS, parallel=parallel)
    if inline:
        opts["inline"] = "always"
    # the cache is read through numbaconv's guard: a bad cache file means a compile, not an error
    if fn is None:
        return lambda f: guard(numba.njit(**opts)(f))
    return guard(numba.njit(**opts)(fn))


def jit_parallel(fn):
    """Compile ``fn`` with numbaconv's options and ``parallel=True``."""
    return jit(fn, parallel=True)
