"""The cost model's coefficients and the calibration file that stores them.

One table holds every coefficient the backends' ``cost()`` formulas read:
the CPU's at the top level and the GPU backends' under ``"cuda"``.  The
package ships one table per instruction-set class of the kernels
(:data:`SETS`; :func:`numbaconv._jit.target` says which class is built),
refined for CPUs measured apart from their class (:data:`SET_OF_CPU`), and
:data:`DEFAULTS` is the one for the kernels in force.  Each is a
starting point measured on one machine (``docs/performance.md``);
``numbaconv.calibrate()`` refits the rates here and :func:`save` stores
them per user, per machine, per class and per :data:`FORMAT`.
:func:`source` says which table is in force (``numbaconv.explain()``
prints it).

:func:`version` grows by one whenever another table is put in force: the
dispatcher keys its memo on it, so no module has to clear a cache upward.
Nothing here imports a backend, the dispatcher or the tools.
"""
from __future__ import annotations

import copy
import datetime
import json
import math
import os
import platform
import warnings

from ._config import resolve_workers
from ._jit import target

#: version of the coefficient layout and of the calibration file; part of the file's name
FORMAT = 15

#: the set of the AVX-512 kernels (512-bit blocks), fitted on a 2-core Zen 4 VM
AVX512 = {
    # seconds per multiply-add of the direct kernel at one thread, long kernel rows
    "direct_mac": {"f4": 1.6e-11, "f8": 3.2e-11, "c8": 2.4e-10, "c16": 4.7e-10, "i8": 6.7e-11},
    # rows shorter than a vector share no input load (cpu_direct.phase_slowdown)
    "direct_phase": 0.65,
    "direct_short": 2.5,         # rows shorter than 8 taps (cpu_direct.short_slowdown)
    "direct_kernel_row": 0.015,  # per kernel row beyond the first: input rows leave L1
    # 2-D kernels of 3+ rows, four output rows per step (cpu_direct): 1 + direct_quad / kw
    # times the long-row rate (medians of fits on 9x9-31x31 at 256², 1024² and 4096²,
    # float32 and float64, after the kernel ran its edge columns in blocks: 4.1-6.3 at 1024²
    # and 4096² but one; 13 had priced these calls 1.24-1.3x too slow)
    "direct_quad": 6.0,
    # the same for the widths compiled with their width as a constant (cpu_direct.QUAD_WIDTHS:
    # 3, 5, 7 taps), whose tap loops unroll (3x3-7x7, the same runs; 0.3-13.6)
    "direct_quad_unrolled": 6.0,
    # the same for square kernels with items of their own (cpu_direct.QUAD_SQUARES: 3x3
    # and 5x5, their input rows unrolled), which only 16-register builds take
    "direct_quad_square": 6.0,
    # the fused separable passes' multiply-adds against the direct rate: the row pass loads
    # an input vector per tap, and each row goes through the ring (and, at the edges, a
    # zero-padded copy); Gaussians of 3-31 taps, the same runs: 1.5-3.3 at 1024² and 4096²
    "separable_slowdown": 2.1,
    "direct_overhead": 1.2e-5,
    "pass_byte": 2.5e-10,        # seconds per byte streamed in + out by one pass, one thread
    "direct_stream": 0.25,       # share of pass_byte a direct kernel pays (prefetch overlaps it)
    "fft_nlogn": {"f4": 3.0e-10, "f8": 5.3e-10, "c8": 1.05e-9, "c16": 1.1e-9},  # one thread
    "fft_overhead": 4.2e-5,
    "fft_nd_factor": 0.8,        # N log N of a multi-axis transform against a 1-D one
    "oa_nd_byte": 6.0e-10,       # per byte of block spectra beyond the last-level cache
    "oa_overhead": 3.0e-4,       # N-D overlap-add's fixed cost over plain FFT
    "oa_fixed": 1.8e-5,          # 1-D overlap-add's fixed cost
    "oa_row": {"f4": 0.66, "f8": 0.58, "c8": 0.66, "c16": 0.58},  # batched transform vs single
    "oa_spill": 0.13,            # slow-down per doubling of a batch's buffers past 1 MiB
    "oa_byte": 3.0e-10,          # per byte of blocks (1-D) or block spectra (N-D)
    "oa_thread_sync": 4.0e-4,    # hand-off to the block-group threads
    # a 2-D tile's transforms against fft_nlogn's rate, and its Python-level calls (which
    # hold the interpreter's lock): overlap-save tiles of 60²-900² at 256²-4096², kernels
    # of 15²-63², float32 and float64, 2 threads (predictions 0.73-1.23x the time, 10-90%)
    "oa_tile": 0.49,
    "oa_tile_call": 5.0e-5,
    # real tiles two at a time as one complex tile (cpu_oa.pairs_pay), against one by one:
    # 288² tiles on 1024² and 4096² images, float32 and float64, 0.75-0.95x
    "oa_pair": 0.85,
    # plain N-D FFTs near the cache: oa_tile x (1 + fft_spill per doubling of their buffers
    # past 1 MiB), up to 1 (cpu_fft.spill): 288² (float32, float64) and 540² (float32)
    # 'same' transforms within 0.78-1.1x, fitted by hand on those three
    "fft_spill": 0.5,
    "parallel_efficiency": 0.9,
    # the four-row 2-D kernel (cpu_direct) runs on threads from this many bytes of
    # multiply-adds (macs x itemsize), where the other direct kernels start at
    # layout.PARALLEL_MIN_BYTES: a parallel region starts in 3-4 µs here, and 3x3-7x7 on
    # 96²-384², float32 and float64, ran 0.52-0.96x the serial time on two threads from
    # 0.6 MB (1 against 2 threads, interleaved medians)
    "direct_quad_parallel": 1.0e6,
    # a 1-D signal (one row of the one-row kernels) likewise: 3-15 taps on 2e4-4e5 samples,
    # float32 and float64, ran 1.04-1.69x the serial time on two threads below 0.6 MB and
    # 0.53-0.92x from 1.1 MB (1 against 2 threads, interleaved medians)
    "direct_row_parallel": 1.0e6,
    # each pocketfft worker beyond the first, on one large transform (it splits the lines of
    # each axis between them): rfft2 on 2 workers ran 1.23-1.35x (float32) and 1.34-1.63x
    # (float64) faster than on one from 1056² to 4160² on a 2-core Zen 4 VM (not fitted)
    "fft_parallel_efficiency": 0.4,
    # numbaconv.nn's CPU backends (seconds per multiply-add on the whole machine unless noted)
    "layer": {
        "overhead": 3.0e-5,              # checks, padding call, dispatch
        "gemm_mac": {"f4": 1.4e-11, "f8": 4.3e-11},   # BLAS on large, square-ish products
        "gemm_thin": 64.0,               # a contraction of length L runs (1 + thin / L) slower
        "column_byte": 1.0e-9,           # im2col: per byte of columns gathered (one thread)
        # per byte of the direct, depthwise and FFT layers' copies (padding, phase planes, the
        # output from register blocks): the signal kernels' pass_byte when these were fitted,
        # which carried their per-output loops too; not refitted with pass_byte
        "copy_byte": 2.5e-10,
        "direct_mac": {"f4": 1.1e-11, "f8": 2.4e-11},  # the Numba kernel, per thread
        # per thread, recomputed columns and rows included (fitted on 11 layers, within 15%)
        "depthwise_mac": {"f4": 2.4e-11, "f8": 4.8e-11},
        # the channel sums per frequency, per complex multiply-add (they stream the
        # weight spectra: a second thread gains nothing)
        "fft_cmac": {"f4": 6.0e-10, "f8": 1.8e-9},
    },
    # the GPU backends', for one data-centre GPU (H100 class)
    "cuda": {
        "cuda_direct": {
            "launch": 1.5e-5,            # launch and host-side work per call
            "bandwidth": 2.0e12,         # bytes/s of device memory reached
            "mac": {"f4": 1.0e-13, "f8": 2.0e-13, "c8": 4.0e-13, "c16": 8.0e-13, "i8": 5.0e-13},
            "h2d_bandwidth": 2.0e10,     # bytes/s host <-> device
            "h2d_latency": 2.0e-5,
        },
        "cuda_fft": {
            "overhead": 6.0e-5,          # plans (cached), launches, allocations
            "nlogn": {"f4": 2.0e-13, "f8": 4.0e-13, "c8": 4.0e-13, "c16": 8.0e-13},
            "bandwidth": 2.0e12,         # padding copies and the spectrum product
        },
        "cuda_layer": {                  # numbaconv.nn's direct kernels
            "launch": 1.5e-5,
            "mac": {"f4": 1.0e-13, "f8": 2.0e-13},
            "bandwidth": 2.0e12,
        },
    },
}

#: The AVX2 kernels' coefficients (256-bit blocks) that differ from :data:`AVX512`'s.
#: Measured on AVX-512 cores rather than an AVX2 machine.  The float rates: ``numbaconv
#: calibrate --quick`` with ``NUMBACONV_ISA=avx2`` on a 2-core Zen 4 VM (medians of three),
#: whose 256-bit FMAs run two a cycle as Zen 3's and Intel's AVX2 cores do: once the
#: blocks' taps fitted the 16 vector registers (:func:`numbaconv._kernels.blocks.taps`),
#: the narrow kernels ran the long rows at the wide ones' rate (1.7e-11 and 3.2e-11 s a
#: multiply-add; before, spilling, 5.3e-11 and 1.2e-10), and the four-row slow-downs
#: once the 3x3 and 5x5 items unrolled their rows (``direct_quad_square`` 3.5-3.6, and
#: the widths' items, fitted on (kw + 2) x kw kernels, 3.6-4.0; AVX512's 6 had sent 3x3
#: Gaussians on 1024² to the separable path, 1.3-1.5x slower).  The other rates and slow-downs:
#: 12 runs on one core of a 2-core Ice Lake server VM with ``NUMBACONV_ISA=avx2``
#: interleaved with 12 of the AVX-512 kernels, AVX512's rates times the ratio of the two
#: classes' medians; the slow-downs are the AVX2 fits themselves.  Ratios that the runs
#: did not agree on (depthwise float64) stay at 1.  Refit on an AVX2 machine
#: (``docs/performance.md``, "Instruction-set classes").
AVX2_FITTED = {
    "direct_mac": {"f4": 1.7e-11, "f8": 3.2e-11, "c8": 2.7e-10, "i8": 1.7e-10},
    "direct_quad_unrolled": 3.9,
    "direct_quad_square": 3.6,
    "direct_short": 2.0,
    "direct_kernel_row": 0.013,
    "layer": {"direct_mac": {"f4": 1.4e-11, "f8": 3.5e-11}, "depthwise_mac": {"f4": 1.8e-11}},
}


#: Intel's AVX-512 server cores, as measured on a 2-core Ice Lake server VM (medians of three
#: full calibrations): pocketfft ran 1.5-2.5x slower per N log N there than the Zen 4 fits
#: of :data:`AVX512`, the int64 kernels 1.6x slower (a 64-bit vector multiply is three
#: micro-ops on Intel, one on Zen 4) and the layer's direct kernel 1.4x (float64) and 2x
#: (float32) slower; the signal kernels' float rates were within their noise of Zen 4's.
#: With Zen 4's rates the dispatcher chose FFT or overlap-add for random 15x15-31x31
#: kernels on 1024²-4096² images where the direct kernel was 1.5-2.6x faster, and the
#: layer's direct kernel for a 257-tap 1-D layer where its FFT was 1.45x faster.  The
#: four-row and separable slow-downs are medians of three fits of their own steps there
#: (Zen 4's, which the AVX2 set takes, were 13, 13 and 1 until its refit): with no
#: separable slow-down, 3x3 and 5x5 Gaussians went to the separable path where direct
#: was 1.1-2x faster.  Since the four-row kernel runs its edge columns in blocks, the
#: unrolled widths' slow-down is 1.5 (measured on Emerald Rapids, which takes this set:
#: with 6, 7x7 Gaussians on 256² and 1024² went to the separable path where direct was
#: 1.14-1.58x faster; over the 32 OpenCV-grid cells of those sizes the regret's geometric
#: mean went from 1.034 to 1.005).
ICELAKE_FITTED = {
    "fft_nlogn": {"f4": 7.5e-10, "f8": 8.5e-10, "c16": 1.7e-9},
    "fft_overhead": 7.0e-5,
    "direct_mac": {"i8": 1.1e-10},
    "layer": {"direct_mac": {"f4": 2.2e-11, "f8": 3.3e-11}},
    "direct_quad": 17.0,
    "direct_quad_unrolled": 1.5,
    "separable_slowdown": 2.9,
    # an empty parallel region took 12.9 µs on Emerald Rapids, and the serial four-row
    # kernel won up to 2.4 MB there (3x3 float32 on 256²): the other kernels' threshold
    "direct_quad_parallel": 3.2e6,
    # and a 1-D row of 1.2 MB of multiply-adds took 31 µs serially, 34 on two threads
    "direct_row_parallel": 3.2e6,
}


#: AMD's Zen 5 cores (full 512-bit FMA units), as measured on a 2-core EPYC VM: medians of
#: eight calibrations on a shared host (the copy and FFT rates' runs spread 1.1-1.4x, the
#: float kernels' 2-4x, the four-row slow-downs' from near 0 to 5; the parallel efficiency's
#: 0.09-1.0, so AVX512's 0.9 stays).  A one-thread copy streams at 1.2e-11 s
#: a byte here, a twentieth of AVX512's 2.5e-10, which had priced the streams of a 3x3
#: direct pass over a 256² image at 17 of its 22 measured µs; the slow-downs below were
#: fitted with the measured rate in force.  The long-row rates of Numba's float kernels and the layer kernels were
#: within their noise of Zen 4's and stay.  With Zen 4's set the dispatcher sent random
#: 31x31 kernels on 1024² float32 to FFT (17.3 ms; direct about 5 ms) and 15x15 on 4096²
#: float64 to overlap-add (112 ms; direct about 45 ms).
ZEN5_FITTED = {
    "pass_byte": 1.2e-11,
    "fft_nlogn": {"f4": 3.6e-10, "f8": 4.5e-10, "c8": 8.5e-10, "c16": 1.3e-9},
    "fft_overhead": 5.3e-5,
    "direct_mac": {"c8": 2.1e-10, "c16": 2.1e-10, "i8": 2.8e-11},
    "direct_phase": 1.7,
    "direct_short": 1.9,
    "direct_kernel_row": 0.08,
    "direct_quad": 1.8,
    "direct_quad_unrolled": 2.8,
    "separable_slowdown": 1.1,
    "layer": {"column_byte": 4.6e-10},
}


def _merged(table, changes):
    """A deep copy of ``table`` with the entries of ``changes`` (nested dicts merged)."""
    out = copy.deepcopy(table)
    for key, val in changes.items():
        out[key] = _merged(out[key], val) if isinstance(val, dict) else val
    return out


#: the shipped sets, by name
SETS = {"avx512": AVX512, "avx2": _merged(AVX512, AVX2_FITTED),
        "avx512-icelake": _merged(AVX512, ICELAKE_FITTED),
        "avx512-zen5": _merged(AVX512, ZEN5_FITTED)}

#: the shipped set of each kernel class (the generic kernels' is the narrowest measured)
SET_OF_CLASS = {"avx512": "avx512", "avx2": "avx2", "generic": "avx2"}

#: CPUs (Numba's target names) whose kernels of one class run with a set of their own:
#: ``(class, set)``.  Only measured CPUs, and Sapphire Rapids (Emerald Rapids' core), are
#: named; the others take their class's set.  Emerald Rapids (measured on a 2-core VM)
#: runs pocketfft as slowly as Ice Lake server and its direct kernels as Ice Lake's set
#: prices them: over the 48 OpenCV-grid cells the Ice Lake set's choices were within 1% of
#: the fastest method (geometric mean of the chosen / fastest times), Zen 4's 7% (1024²
#: 31x31 float32 to FFT at 1.36x, 4096² 15x15 float64 to overlap-add at 2.2x).
SET_OF_CPU = {"icelake-server": ("avx512", "avx512-icelake"),
              "sapphirerapids": ("avx512", "avx512-icelake"),
              "emeraldrapids": ("avx512", "avx512-icelake"),
              "znver5": ("avx512", "avx512-zen5")}


def shipped_set(isa: str, cpu: str) -> str:
    """The name of the shipped set for kernels of class ``isa`` compiled for ``cpu``.

    Examples
    --------
    >>> from numbaconv._coefficients import shipped_set
    >>> shipped_set("avx512", "znver4"), shipped_set("avx512", "icelake-server")
    ('avx512', 'avx512-icelake')
    >>> shipped_set("avx2", "icelake-server")       # the narrow kernels on that CPU
    'avx2'
    >>> shipped_set("avx512", "emeraldrapids")      # Intel's later server cores too
    'avx512-icelake'
    """
    own = SET_OF_CPU.get(cpu)
    return own[1] if own is not None and own[0] == isa else SET_OF_CLASS[isa]


#: the shipped set of the kernels in force
SHIPPED = shipped_set(target().isa, target().cpu)
DEFAULTS = SETS[SHIPPED]

#: bytes of intermediates that stay in the last-level cache (order of magnitude)
CACHE_BYTES = 32e6

_state = {"coeffs": None, "version": 0, "source": None}


def coefficients() -> dict:
    """The table in force: the calibrated one if this machine has a valid file, else defaults.

    Returns
    -------
    dict
        The layout of :data:`DEFAULTS`.

    Examples
    --------
    >>> from numbaconv._coefficients import coefficients
    >>> sorted(coefficients()["cuda"])
    ['cuda_direct', 'cuda_fft', 'cuda_layer']
    """
    if _state["coeffs"] is None:
        found = _read()
        if found is None:
            _state["coeffs"] = copy.deepcopy(DEFAULTS)
            _state["source"] = f"shipped {SHIPPED} set"
        else:
            _state["coeffs"], created = found
            _state["source"] = f"calibrated on this machine, {created}"
    return _state["coeffs"]


def set_coefficients(coeffs, source=None) -> None:
    """Put ``coeffs`` in force (``None``: reload the calibrated or default table).

    Parameters
    ----------
    coeffs : dict or None
        A table in the layout of :data:`DEFAULTS`; a table without a
        ``"cuda"`` section takes the default GPU coefficients.
    source : str, optional
        Where the table comes from, in words (:func:`source`).
    """
    if coeffs is not None and "cuda" not in coeffs:
        coeffs = {**coeffs, "cuda": copy.deepcopy(DEFAULTS["cuda"])}
    _state["coeffs"] = coeffs
    _state["source"] = None if coeffs is None else (source or "set by set_coefficients()")
    _state["version"] += 1


def source() -> str:
    """Which table is in force, in words.

    ``'shipped avx2 set'``, ``'calibrated on this machine, 2026-12-06'``, ...

    Examples
    --------
    >>> from numbaconv._coefficients import source
    >>> source().startswith(("shipped", "calibrated"))
    True
    """
    coefficients()
    return _state["source"]


def version() -> int:
    """A number that changes whenever another coefficient table is put in force."""
    return _state["version"]


# --------------------------------------------------------------------------
# the calibration file
# --------------------------------------------------------------------------

def cache_path() -> str:
    """Where calibrated coefficients live (``$NUMBACONV_CACHE_DIR`` overrides).

    One file per kernel class: a machine keeps the calibration of each class it runs.
    """
    base = os.environ.get("NUMBACONV_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "numbaconv")
    return os.path.join(base, f"costs-v{FORMAT}-{target().isa}.json")


def machine() -> dict:
    """What a calibration file must have been measured on to be trusted here.

    The kernel class included: a table fitted on the 512-bit kernels says
    nothing of the 256-bit ones.
    """
    import numba
    return {"cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "numba": numba.__version__, "numbaconv_format": FORMAT, "isa": target().isa}


def validate(coeffs, like=None, where="") -> None:
    """Check that ``coeffs`` has every coefficient of ``like`` as a finite positive number.

    Parameters
    ----------
    coeffs : dict
        A table read from a file or fitted.
    like : dict, optional
        The layout to check against (default :data:`DEFAULTS`).
    where : str, optional
        Prefix for the key named in the error.

    Raises
    ------
    ValueError
        Naming the first coefficient that is missing, not a number, not
        finite or not positive.
    """
    like = DEFAULTS if like is None else like
    if not isinstance(coeffs, dict):
        raise ValueError(f"{where or 'coefficients'} is a {type(coeffs).__name__}, not a mapping")
    for key, val in like.items():
        name = f"{where}{key}"
        if key not in coeffs:
            raise ValueError(f"{name} is missing")
        if isinstance(val, dict):
            validate(coeffs[key], val, name + ".")
            continue
        try:
            x = float(coeffs[key])
        except (TypeError, ValueError):
            raise ValueError(f"{name} = {coeffs[key]!r} is not a number") from None
        if not (math.isfinite(x) and x > 0):
            raise ValueError(f"{name} = {x!r}")


def load():
    """The calibrated table of this machine, or None (with a warning when a file is unusable)."""
    found = _read()
    return None if found is None else found[0]


def _read():
    """``(table, date it was made)`` of this machine's calibration file, or None."""
    path = cache_path()
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            data = json.load(f)
        if not isinstance(data, dict):
            raise ValueError("not a mapping")
        if data.get("format") != FORMAT or data.get("machine") != machine():
            warnings.warn(f"ignoring numbaconv calibration {path}: made for another version, "
                          "machine or kernel class; run numbaconv.calibrate() again",
                          RuntimeWarning, stacklevel=4)
            return None
        coeffs = data["coefficients"]
        validate(coeffs)
        return coeffs, str(data.get("created", "date unknown"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        warnings.warn(f"ignoring corrupt numbaconv calibration {path}: {exc}", RuntimeWarning,
                      stacklevel=4)
        return None


def save(coeffs) -> str:
    """Validate ``coeffs`` and store them in :func:`cache_path` (atomically); return the path."""
    validate(coeffs)
    path = cache_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"format": FORMAT, "machine": machine(), "created": today(),
                   "coefficients": coeffs}, f, indent=1)
    os.replace(tmp, path)
    return path


def today() -> str:
    """The date a calibration is made, as :func:`source` names it."""
    return datetime.date.today().isoformat()


# --------------------------------------------------------------------------
# the vocabulary every cost formula shares
# --------------------------------------------------------------------------

def direct_key(dtype) -> str:
    """The ``direct_mac`` key of a result dtype (integers run in int64)."""
    if dtype.kind in "biu":
        return "i8"
    if dtype.kind == "c":
        return "c8" if dtype.itemsize <= 8 else "c16"
    return "f4" if dtype.itemsize <= 4 else "f8"


def fft_key(dtype) -> str:
    """The ``fft_nlogn`` key of a result dtype (integers transform in float64)."""
    if dtype.kind == "c":
        return "c8" if dtype.itemsize <= 8 else "c16"
    return "f4" if dtype.kind == "f" and dtype.itemsize <= 4 else "f8"


def effective_threads(workers=None) -> float:
    """Threads as the cost model counts them: each beyond the first at ``parallel_efficiency``."""
    w = resolve_workers(workers)
    return 1 + (w - 1) * coefficients()["parallel_efficiency"]


def fft_threads(workers=None) -> float:
    """pocketfft's ``workers`` as the cost model counts them: each beyond the first at
    ``fft_parallel_efficiency``."""
    w = resolve_workers(workers)
    return 1 + (w - 1) * coefficients()["fft_parallel_efficiency"]


def nlogn(shape) -> float:
    """``N log2 N`` of a transform of ``shape``."""
    n = math.prod(shape)
    return n * math.log2(max(n, 2))
