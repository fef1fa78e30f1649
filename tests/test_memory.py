"""The memory guard: available memory, each backend's predicted peak, and the dispatcher's use.

Predictions are checked against the peak that ``tracemalloc`` measures
(NumPy reports its allocations to it), on small problems.  The guard's
behaviour is checked under a limit set with :func:`numbaconv.set_memory_limit`
(a few MiB), so no test allocates much; one child process runs under a real
``RLIMIT_AS``.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import tracemalloc

import numpy as np
import pytest
import scipy.signal

import numbaconv
from numbaconv import nn

#: the module numbaconv's functions use: collecting the doctests (import-mode
#: importlib) imports a second copy of each module, with its own settings
_memory = numbaconv.convolve.__globals__["_dispatch"]._memory

MiB = 1 << 20
#: Python objects and small arrays a call makes besides the buffers predicted
SLACK = 64 * 1024

rng = np.random.default_rng(20261206)


def rand(*shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


def traced_peak(fn):
    """``(result, peak bytes NumPy allocated while fn ran)``."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# ---------------------------------------------------------------- the setting

@pytest.mark.parametrize("text, nbytes", [(4096, 4096), ("512M", 512 * MiB), ("8G", 8 << 30),
                                          ("1.5GiB", 3 << 29), (" 64 kb ", 64 << 10),
                                          ("100", 100), ("2T", 2 << 40)])
def test_sizes(text, nbytes):
    assert _memory.parse_size(text) == nbytes


@pytest.mark.parametrize("bad", ["8X", "-1", "", "G", "1e9", 0, -5, 1.5, True, [1]])
def test_bad_sizes_say_the_forms(bad):
    with pytest.raises(ValueError, match="'512M', '8G'"):
        with numbaconv.set_memory_limit(bad):
            pass


def test_limit_is_thread_local_and_restored():
    seen = []
    with numbaconv.set_memory_limit("3M"):
        assert _memory.user_limit() == (3 * MiB, "numbaconv.set_memory_limit")
        t = threading.Thread(target=lambda: seen.append(_memory.user_limit()))
        t.start()
        t.join()
        with numbaconv.set_memory_limit(None):
            assert _memory.user_limit()[0] is None or _memory.ENV in os.environ
        assert _memory.available() == (3 * MiB, "numbaconv.set_memory_limit")
    assert seen == [_memory.user_limit()]
    assert _memory.user_limit()[1] != "numbaconv.set_memory_limit"


def test_environment_variable(monkeypatch):
    monkeypatch.setenv(_memory.ENV, "5M")
    assert _memory.available() == (5 * MiB, _memory.ENV)
    with numbaconv.set_memory_limit("7M"):          # the context replaces the variable
        assert _memory.available()[0] == 7 * MiB
    monkeypatch.setenv(_memory.ENV, "lots")
    with pytest.raises(ValueError, match=f"{_memory.ENV}= 'lots'.*'8G'"):
        _memory.available()


def test_setting_only_lowers_the_system_limit():
    system = min(n for n, _ in _memory._system()) if _memory._system() else None
    with numbaconv.set_memory_limit("1000T"):
        nbytes, source = _memory.available()
    if system is not None:
        assert nbytes == system < 1000 << 40 and source != "numbaconv.set_memory_limit"


def test_small_peaks_read_nothing(monkeypatch):
    """Below CHECK_MIN_BYTES (and the user's limit) /proc is not read."""
    def fail(path):
        raise AssertionError(f"read {path}")
    monkeypatch.setattr(_memory, "_read", fail)
    assert _memory.fits(_memory.CHECK_MIN_BYTES - 1)
    assert numbaconv.convolve(np.ones(1000), np.ones(3)).shape == (1002,)


def test_memoised_large_peaks_trust_a_recent_reading_with_room(monkeypatch):
    """A memoised call of a large peak reads the system's limits again unless a reading
    of the last quarter second found four times its peak; a user's limit below the peak
    declines without reading; an old reading is read again."""
    from numbaconv import _memory
    reads, clock, free = [], [100.0], [1000 * MiB]

    def system():
        reads.append(1)
        return [(free[0], "test")]

    monkeypatch.setattr(_memory, "_system", system)
    monkeypatch.setattr(_memory.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(_memory, "_recent", [float("-inf"), 0.0])
    monkeypatch.delenv(_memory.ENV, raising=False)
    peak = 200 * MiB
    assert _memory.still_fits(peak) and len(reads) == 1
    free[0] = 100 * MiB                        # memory went elsewhere: not seen yet ...
    clock[0] += 0.1
    assert _memory.still_fits(peak) and len(reads) == 1
    clock[0] += 1.0                            # ... until the reading is old
    assert not _memory.still_fits(peak) and len(reads) == 2
    free[0] = 1000 * MiB                       # a reading without room is read again
    clock[0] += 0.01
    assert _memory.still_fits(peak) and len(reads) == 3
    assert _memory.still_fits(300 * MiB) and len(reads) == 4    # more than a quarter: read
    with _memory.set_memory_limit(100 * MiB):
        assert not _memory.still_fits(peak) and len(reads) == 4


def test_cgroup_and_status_parsing(monkeypatch):
    """v2: the least headroom of the cgroup and its parents; v1: limit less usage."""
    files = {
        "/proc/self/cgroup": "0::/user/app\n",
        "/sys/fs/cgroup/user/app/memory.max": "max\n",
        "/sys/fs/cgroup/user/memory.max": str(900 * MiB),
        "/sys/fs/cgroup/user/memory.current": str(300 * MiB),
        "/sys/fs/cgroup/memory.max": str(2000 * MiB),
        "/sys/fs/cgroup/memory.current": str(1000 * MiB),
        "/proc/self/status": "Name:\tpython\nVmSize:\t  2048 kB\nVmData:\t 1024 kB\n",
    }
    dirs = {"/sys/fs/cgroup", "/sys/fs/cgroup/user", "/sys/fs/cgroup/user/app"}
    monkeypatch.setattr(_memory, "_read", files.get)
    monkeypatch.setattr(_memory.os.path, "isdir", lambda d: d in dirs)
    assert _memory._cgroup_available() == 600 * MiB
    assert _memory._read_status() == {"VmSize": 2 * MiB, "VmData": MiB}
    files.update({"/proc/self/cgroup": "4:memory:/gone\n0::/\n",
                  "/sys/fs/cgroup/memory/memory.limit_in_bytes": str(500 * MiB),
                  "/sys/fs/cgroup/memory/memory.usage_in_bytes": str(100 * MiB)})
    dirs.add("/sys/fs/cgroup/memory")       # the v1 path is not under the mount: its root
    assert _memory._cgroup_available() == 400 * MiB


# ---------------------------------------------------------------- predictions

GAUSS = np.outer(np.hanning(9), np.hanning(9))
SIGNAL_CASES = {
    # name: (arrays, keyword arguments of convolve)
    "direct-1d": ((rand(20000), rand(301)), {"method": "direct"}),
    "direct-2d-same": ((rand(300, 300), rand(7, 7)), {"mode": "same", "method": "direct"}),
    "direct-int16-valid": ((rng.integers(-99, 99, 20000).astype(np.int16),
                            rng.integers(-99, 99, 301).astype(np.int16)),
                           {"mode": "valid", "method": "direct"}),
    "direct-3d": ((rand(20, 30, 40), rand(3, 4, 5)), {"method": "direct"}),
    "separable-f32": ((rand(500, 500, dtype=np.float32), GAUSS.astype(np.float32)),
                      {"mode": "same", "method": "separable"}),
    "separable-full": ((rand(400, 400), GAUSS), {"method": "separable"}),
    "fft-1d": ((rand(50000), rand(5001)), {"method": "fft"}),
    "fft-1d-beside": ((rand(200000), rand(20001)), {"method": "fft"}),
    "fft-2d-same": ((rand(300, 300), rand(51, 51)), {"mode": "same", "method": "fft"}),
    "fft-int": ((rng.integers(-99, 99, 20000).astype(np.int16),
                 rng.integers(-99, 99, 301).astype(np.int16)), {"method": "fft"}),
    "fft-complex": ((rand(30000) + 1j * rand(30000), rand(3001)), {"method": "fft"}),
    "oa-1d": ((rand(200000), rand(1001)), {"method": "oa"}),
    "oa-2d-tiles": ((rand(1000, 1000), rand(31, 31)), {"method": "oa"}),
    "oa-2d-blocks": ((rand(800, 800), rand(31, 31)), {"method": "oa"}),
}


def check_prediction(choice, peak):
    predicted = choice.peaks[choice.backend]
    assert predicted + SLACK >= peak, f"{choice.backend}: predicted {predicted}, measured {peak}"
    assert predicted <= 3 * peak + MiB, f"{choice.backend}: predicted {predicted}, measured {peak}"


@pytest.mark.parametrize("name", sorted(SIGNAL_CASES))
def test_signal_prediction_bounds_the_measured_peak(name):
    (a, b), kw = SIGNAL_CASES[name]
    numbaconv.convolve(a, b, **kw)                        # compiled, plans memoised
    choice = numbaconv.explain(a, b, **kw)
    assert choice.backend == "cpu_" + kw["method"]
    _, peak = traced_peak(lambda: numbaconv.convolve(a, b, **kw))
    check_prediction(choice, peak)


X, W = rand(4, 16, 32, 32, dtype=np.float32), rand(32, 16, 3, 3, dtype=np.float32)
WT = rand(16, 8, 3, 3, dtype=np.float32)
XD, WD = rand(4, 32, 32, 32, dtype=np.float32), rand(32, 1, 3, 3, dtype=np.float32)
XF, WF = rand(2, 4, 64, 64), rand(8, 4, 15, 15)
LAYER_CASES = {
    "gemm": (nn.conv2d, (X, W), {"padding": 1, "method": "gemm"}, "cpu_layer_gemm"),
    "gemm-transposed": (nn.conv_transpose2d, (X, WT), {"stride": 2, "method": "gemm"},
                        "cpu_layer_gemm"),
    "direct": (nn.conv2d, (X, W), {"padding": 1, "method": "direct"}, "cpu_layer_direct"),
    "direct-stride": (nn.conv2d, (X, W), {"padding": 1, "stride": 2, "method": "direct"},
                      "cpu_layer_direct"),
    "direct-transposed": (nn.conv_transpose2d, (X, WT), {"stride": 2, "method": "direct"},
                          "cpu_layer_direct"),
    "depthwise": (nn.conv2d, (XD, WD), {"padding": 1, "groups": 32}, "cpu_layer_depthwise"),
    "depthwise-stride": (nn.conv2d, (XD, WD), {"padding": 1, "stride": 2, "groups": 32},
                         "cpu_layer_depthwise"),
    "fft": (nn.conv2d, (XF, WF), {"padding": 7, "method": "fft"}, "cpu_layer_fft"),
    "fft-transposed": (nn.conv_transpose2d, (XF, np.ascontiguousarray(WF.transpose(1, 0, 2, 3))),
                       {"method": "fft"}, "cpu_layer_fft"),
}


@pytest.mark.parametrize("name", sorted(LAYER_CASES))
def test_layer_prediction_bounds_the_measured_peak(name):
    fn, args, kw, backend = LAYER_CASES[name]
    fn(*args, **kw)
    choice = nn.explain(fn, *args, **kw)
    assert choice.backend == backend
    _, peak = traced_peak(lambda: fn(*args, **kw))
    check_prediction(choice, peak)


# ---------------------------------------------------------------- the guard

def test_fftconvolve_refuses_before_allocating():
    a, b = rand(200000), rand(150000)
    tracemalloc.start()
    try:
        with numbaconv.set_memory_limit("4M"), pytest.raises(MemoryError) as info:
            numbaconv.fftconvolve(a, b)
        assert tracemalloc.get_traced_memory()[1] < MiB      # no transform buffer was made
    finally:
        tracemalloc.stop()
    message = str(info.value)
    for part in ("fftconvolve", "(200000,)", "(150000,)", "float64", "MiB at its peak",
                 "4 MiB are available", "numbaconv.set_memory_limit", "nothing was allocated"):
        assert part in message, message


def test_explicit_method_is_rejected_not_remapped(monkeypatch):
    a, b = rand(100000), rand(5001)
    peaks = numbaconv.explain(a, b).peaks
    assert peaks["cpu_direct"] < min(peaks["cpu_fft"], peaks["cpu_oa"])
    limit = (peaks["cpu_direct"] + peaks["cpu_fft"]) // 2
    monkeypatch.setenv(_memory.ENV, str(limit))
    with pytest.raises(MemoryError) as info:
        numbaconv.convolve(a, b, method="fft")
    message = str(info.value)
    assert "convolve of shapes (100000,) and (5001,)" in message
    assert "method='direct'" in message and _memory.ENV in message
    out = numbaconv.convolve(a, b)                          # 'auto' takes what fits
    np.testing.assert_allclose(out, scipy.signal.fftconvolve(a, b), atol=1e-8)
    choice = numbaconv.explain(a, b)
    assert choice.backend == "cpu_direct" and choice.memory_bound
    assert any(v.startswith("cpu_fft needs") and _memory.ENV in v for v in choice.vetoes)


def test_auto_takes_overlap_add_where_it_fits():
    a, b = rand(1000, 1000), rand(7, 7)      # direct without a limit: oa only to fit
    peaks = numbaconv.explain(a, b).peaks
    whole = min(peaks["cpu_fft"], peaks["cpu_direct"])
    assert peaks["cpu_oa"] < whole          # tiles: the output and a few tiles per thread
    limit = (peaks["cpu_oa"] + whole) // 2
    expected = scipy.signal.fftconvolve(a, b)
    with numbaconv.set_memory_limit(limit):
        choice = numbaconv.explain(a, b)
        assert choice.backend == "cpu_oa" and choice.memory_bound, str(choice)
        assert any(v.startswith("cpu_fft needs") for v in choice.vetoes), str(choice)
        np.testing.assert_allclose(numbaconv.convolve(a, b), expected, atol=1e-9)
        # fftconvolve computes the same convolution by overlap-add when that fits
        out, peak = traced_peak(lambda: numbaconv.fftconvolve(a, b))
        np.testing.assert_allclose(out, expected, atol=1e-9)
        assert peak <= limit
        with pytest.raises(MemoryError, match="oaconvolve, or method='oa'"):
            numbaconv.convolve(a, b, method="fft")


def test_memoised_choices_and_plans_are_not_replayed_under_a_lower_limit():
    a, b = rand(100000), rand(10001)
    ref = numbaconv.convolve(a, b)              # memoises the choice and the plan
    peaks = numbaconv.explain(a, b).peaks
    with numbaconv.set_memory_limit(min(peaks.values()) // 2):
        with pytest.raises(MemoryError, match="convolve of shapes"):
            numbaconv.convolve(a, b)
        with pytest.raises(MemoryError):
            numbaconv.explain(a, b)
    lean = min(peaks, key=peaks.get)
    with numbaconv.set_memory_limit(peaks[lean] + 1):
        assert numbaconv.explain(a, b).backend == lean
        np.testing.assert_allclose(numbaconv.convolve(a, b), ref, atol=1e-8)
    np.testing.assert_allclose(numbaconv.convolve(a, b), ref, atol=1e-8)


def test_convolve2d_names_itself():
    with numbaconv.set_memory_limit("1M"), pytest.raises(MemoryError, match=r"^convolve2d of "):
        numbaconv.convolve2d(np.ones((400, 400)), np.ones((5, 5)))


def test_layers_take_a_backend_that_fits_or_raise():
    x, w = rand(2, 16, 40, 40, dtype=np.float32), rand(16, 16, 5, 5, dtype=np.float32)
    gemm = nn.explain(nn.conv2d, x, w, padding=2, method="gemm").peaks["cpu_layer_gemm"]
    direct = nn.explain(nn.conv2d, x, w, padding=2, method="direct").peaks["cpu_layer_direct"]
    assert direct < gemm                   # the columns hold every window: 25x the input
    expected = np.stack([                  # torch's conv2d is a sum of SciPy correlations
        np.stack([sum(scipy.signal.correlate2d(np.pad(x[n, c], 2), w[o, c], "valid")
                      for c in range(16)) for o in range(16)]) for n in range(2)])
    with numbaconv.set_memory_limit(direct + 1):
        with pytest.raises(MemoryError) as info:
            nn.conv2d(x, w, padding=2, method="gemm")
        assert str(info.value).startswith("numbaconv.nn.conv2d of input (2, 16, 44, 44) and "
                                          "weight (16, 16, 5, 5) (float32)")
        assert "method='direct'" in str(info.value)
        choice = nn.explain(nn.conv2d, x, w, padding=2)
        assert choice.peaks[choice.backend] <= direct + 1
        np.testing.assert_allclose(nn.conv2d(x, w, padding=2), expected, rtol=1e-4, atol=1e-4)
    with numbaconv.set_memory_limit(direct // 4), pytest.raises(MemoryError,
                                                                match="smaller batch"):
        nn.conv2d(x, w, padding=2)


CHILD = textwrap.dedent("""
    import resource, sys
    import numpy as np
    import numbaconv
    numbaconv.fftconvolve(np.ones((30, 8)), np.ones((8, 30)))      # imports done
    with open("/proc/self/status") as fh:
        size = next(int(l.split()[1]) * 1024 for l in fh if l.startswith("VmSize:"))
    resource.setrlimit(resource.RLIMIT_AS, (size + (3 << 29), resource.RLIM_INFINITY))
    a, b = np.ones((30000, 8)), np.ones((8, 30000))
    try:
        numbaconv.fftconvolve(a, b)
    except MemoryError as exc:
        print(exc)
        sys.exit(0)
    sys.exit(3)
""")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="no /proc here")
def test_address_space_limit_gives_the_guards_error():
    """Under RLIMIT_AS the guard raises, not NumPy's allocation (nor the OOM killer)."""
    pytest.importorskip("resource")
    env = {k: v for k, v in os.environ.items() if k != _memory.ENV}
    child = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                           timeout=300, env=env)
    assert child.returncode == 0, child.stderr[-2000:]
    out = child.stdout
    assert out.startswith("fftconvolve of shapes (30000, 8) and (8, 30000) (float64)"), out
    assert "RLIMIT_AS" in out and "Unable to allocate" not in out
