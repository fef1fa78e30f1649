"""Calibration: the fit through each backend's cost(), the calibration file and its
validation, and new coefficients steering the dispatcher at once.

Every test points ``NUMBACONV_CACHE_DIR`` at its own directory, so the user's
calibration is never read or written, and restores the table in force.
"""
from __future__ import annotations

import copy
import json
import math
import os
import warnings

import numpy as np
import pytest

import numbaconv
from numbaconv import _coefficients
from numbaconv._backends import cpu_direct, cpu_fft
from numbaconv._problem import build_problem
from numbaconv._tools import calibrate


@pytest.fixture
def cache(monkeypatch, tmp_path):
    """A private calibration directory, read afresh; the table in force is restored after."""
    monkeypatch.setenv("NUMBACONV_CACHE_DIR", str(tmp_path))
    before = _coefficients.coefficients()
    _coefficients.set_coefficients(None)
    yield tmp_path
    _coefficients.set_coefficients(before)


def write(coefficients, *, fmt=None, machine=None, text=None):
    """Write this machine's calibration file (or ``text`` verbatim); return its path."""
    path = _coefficients.cache_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if text is None:
        text = json.dumps({"format": _coefficients.FORMAT if fmt is None else fmt,
                           "machine": machine or _coefficients.machine(),
                           "coefficients": coefficients})
    with open(path, "w") as f:
        f.write(text)
    return path


def reload():
    """Read the calibration file as a new process would; ``(table in force, warnings)``."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        _coefficients.set_coefficients(None)
        table = _coefficients.coefficients()
    return table, [w for w in seen if issubclass(w.category, RuntimeWarning)]


def tweaked(**changes):
    """The shipped table with ``direct_mac[f8]`` and other top-level keys changed."""
    table = copy.deepcopy(_coefficients.DEFAULTS)
    for key, val in changes.items():
        if key == "f8":
            table["direct_mac"]["f8"] = val
        else:
            table[key] = val
    return table


# --------------------------------------------------------------------------
# the calibration file
# --------------------------------------------------------------------------

def test_a_valid_file_is_put_in_force(cache):
    write(tweaked(f8=7.5e-11))
    table, seen = reload()
    assert not seen
    assert table["direct_mac"]["f8"] == 7.5e-11


@pytest.mark.parametrize("bad", ["nan", "inf", "negative", "zero", "string", "missing"])
def test_a_bad_coefficient_makes_the_file_ignored(cache, bad):
    value = {"nan": math.nan, "inf": math.inf, "negative": -1e-11, "zero": 0.0,
             "string": "fast"}.get(bad)
    table = tweaked(f8=value, direct_overhead=9e-6)
    if bad == "missing":
        del table["fft_nlogn"]
    write(table)          # json writes NaN and Infinity, and reads them back
    in_force, seen = reload()
    assert any("corrupt numbaconv calibration" in str(w.message) for w in seen), seen
    assert in_force == _coefficients.DEFAULTS        # no part of the file was trusted


@pytest.mark.parametrize("text", ["{not json", "[1, 2, 3]", "no coefficients", ""])
def test_a_corrupt_file_is_ignored(cache, text):
    if text == "no coefficients":
        text = json.dumps({"format": _coefficients.FORMAT, "machine": _coefficients.machine()})
    write(None, text=text)
    in_force, seen = reload()
    assert any("corrupt numbaconv calibration" in str(w.message) for w in seen), seen
    assert in_force == _coefficients.DEFAULTS


@pytest.mark.parametrize("other", ["machine", "format", "kernel class"])
def test_a_file_from_another_machine_format_or_class_is_ignored(cache, other):
    machine = dict(_coefficients.machine())
    if other == "machine":
        machine["cpus"] = (machine["cpus"] or 1) + 64
    if other == "kernel class":       # e.g. fitted on the 512-bit kernels, read by the 256-bit
        machine["isa"] = next(c for c in _coefficients.SET_OF_CLASS if c != machine["isa"])
    write(tweaked(f8=7.5e-11), machine=machine,
          fmt=_coefficients.FORMAT - 1 if other == "format" else None)
    in_force, seen = reload()
    assert any("another version, machine or kernel class" in str(w.message) for w in seen), seen
    assert in_force == _coefficients.DEFAULTS
    assert _coefficients.source() == f"shipped {_coefficients.SHIPPED} set"


def test_each_kernel_class_has_its_own_file_and_shipped_set():
    from numbaconv._jit import target
    isa = target().isa
    assert os.path.basename(_coefficients.cache_path()) == \
        f"costs-v{_coefficients.FORMAT}-{isa}.json"
    assert _coefficients.machine()["isa"] == isa
    assert set(_coefficients.SET_OF_CLASS) == {"avx512", "avx2", "generic"}
    assert _coefficients.DEFAULTS is _coefficients.SETS[
        _coefficients.shipped_set(isa, target().cpu)]
    for name, table in _coefficients.SETS.items():
        _coefficients.validate(table, where=f"{name}.")
        _coefficients.validate(_coefficients.AVX512, like=table)    # one layout
    # the AVX2 set changes only the rates and slow-downs of Numba's kernels, each within a
    # factor of 10
    shipped = dict(_flat(_coefficients.AVX512))
    changed = dict(_flat(_coefficients.AVX2_FITTED))
    assert changed and all(key.startswith(KERNEL_RATES) for key in changed), changed
    for key, rate in changed.items():
        assert 0.1 < rate / shipped[key] < 10, key
    assert dict(_flat(_coefficients.SETS["avx2"])) == {**shipped, **changed}


def test_a_cpu_set_refines_only_its_own_class_and_the_fft_rates():
    """The Ice Lake set is AVX512's with pocketfft's rates, the int64 kernels', the layer
    kernel's, the 2-D kernels' slow-downs and the four-row kernel's thread threshold changed
    (each within a factor of 10), and it is chosen only for the 512-bit kernels on that CPU."""
    assert _coefficients.shipped_set("avx512", "icelake-server") == "avx512-icelake"
    for later in ("sapphirerapids", "emeraldrapids"):       # Intel's later server cores
        assert _coefficients.shipped_set("avx512", later) == "avx512-icelake"
        assert _coefficients.shipped_set("avx2", later) == "avx2"
    assert _coefficients.shipped_set("avx512", "skylake-avx512") == "avx512"   # not measured
    assert _coefficients.shipped_set("avx2", "icelake-server") == "avx2"
    assert _coefficients.shipped_set("avx512", "znver4") == "avx512"
    assert _coefficients.shipped_set("generic", "icelake-server") == "avx2"
    shipped = dict(_flat(_coefficients.AVX512))
    changed = dict(_flat(_coefficients.ICELAKE_FITTED))
    assert changed and all(key.startswith(("fft_", "direct_mac.i8", "layer.direct_mac.",
                                           "direct_quad", "direct_row_parallel",
                                           "separable_slowdown"))
                           for key in changed), changed
    for key, rate in changed.items():
        assert 0.1 < rate / shipped[key] < 10, key
    assert dict(_flat(_coefficients.SETS["avx512-icelake"])) == {**shipped, **changed}
    for cpu, (isa, name) in _coefficients.SET_OF_CPU.items():
        assert isa in _coefficients.SET_OF_CLASS and name in _coefficients.SETS, cpu


def test_the_zen5_set_refines_the_rates_a_calibration_fits():
    """The Zen 5 set is AVX512's with the rates and slow-downs a calibration fits there
    (each within a factor of 10 of Zen 4's) and the measured copy rate; chosen only for
    the 512-bit kernels on that CPU."""
    assert _coefficients.shipped_set("avx512", "znver5") == "avx512-zen5"
    assert _coefficients.shipped_set("avx2", "znver5") == "avx2"
    shipped = dict(_flat(_coefficients.AVX512))
    changed = dict(_flat(_coefficients.ZEN5_FITTED))
    assert changed and all(key.startswith(("fft_", "direct_", "separable_slowdown", "pass_byte",
                                           "layer.column_byte"))
                           for key in changed), changed
    for key, rate in changed.items():
        if key == "pass_byte":      # a one-thread copy: between 1 and 100 GB/s
            assert 1.0 <= 1.0 / (rate * 1e9) <= 100.0, rate
            continue
        assert 0.1 < rate / shipped[key] < 10, key
    assert dict(_flat(_coefficients.SETS["avx512-zen5"])) == {**shipped, **changed}


#: the coefficients of Numba's kernels: what the kernels' instruction set changes
KERNEL_RATES = ("direct_mac.", "direct_short", "direct_kernel_row", "direct_quad_unrolled",
                "direct_quad_square", "layer.direct_mac.", "layer.depthwise_mac.")


def _flat(table, prefix=""):
    """``(dotted key, value)`` of every coefficient of a nested table."""
    for key, val in table.items():
        if isinstance(val, dict):
            yield from _flat(val, f"{prefix}{key}.")
        else:
            yield prefix + key, val


def test_source_names_the_table_in_force(cache, monkeypatch):
    monkeypatch.setattr(calibrate, "median_time", lambda fn, repeat=5, min_time=0.02: 1e-3)
    assert reload()[0] == _coefficients.DEFAULTS
    assert _coefficients.source() == f"shipped {_coefficients.SHIPPED} set"
    numbaconv.calibrate(quick=True, save=False)
    today = _coefficients.today()
    assert _coefficients.source() == f"calibrated on this machine, {today} (not saved)"
    assert f"coefficients: calibrated on this machine, {today}" in str(
        numbaconv.explain(np.ones(1000), np.ones(5)))
    numbaconv.calibrate(quick=True)
    assert _coefficients.source() == f"calibrated on this machine, {today}"
    reload()                            # as a new process reads the file
    assert _coefficients.source() == f"calibrated on this machine, {today}"
    _coefficients.set_coefficients(tweaked(f8=7.5e-11))
    assert _coefficients.source() == "set by set_coefficients()"


def test_no_file_means_the_shipped_table_without_a_warning(cache):
    in_force, seen = reload()
    assert not seen and in_force == _coefficients.DEFAULTS
    assert not os.listdir(cache)


# --------------------------------------------------------------------------
# new coefficients steer the dispatcher at once
# --------------------------------------------------------------------------

def test_new_coefficients_change_the_choice_without_clearing_a_cache(cache):
    a, k = np.ones(100_000), np.ones(2_000)
    before = numbaconv.explain(a, k, device="cpu")
    assert before.method in ("fft", "oa"), before
    dear_fft = copy.deepcopy(_coefficients.coefficients())
    dear_fft["fft_overhead"] *= 1000
    dear_fft["fft_nlogn"] = {key: rate * 1000 for key, rate in dear_fft["fft_nlogn"].items()}
    shipped = _coefficients.coefficients()
    _coefficients.set_coefficients(dear_fft)
    after = numbaconv.explain(a, k, device="cpu")
    assert after.backend == "cpu_direct", after
    assert after.costs["cpu_fft"] > 500 * before.costs["cpu_fft"]
    _coefficients.set_coefficients(shipped)
    assert numbaconv.explain(a, k, device="cpu").backend == before.backend


# --------------------------------------------------------------------------
# the fit
# --------------------------------------------------------------------------

def test_solve_inverts_a_cost_formula():
    table = copy.deepcopy(_coefficients.DEFAULTS)
    problem = build_problem((5000,), (64,), "valid", np.dtype(np.float64))
    predict = lambda: cpu_direct.cost(problem, 2)  # noqa: E731
    old = _coefficients.coefficients()
    try:
        _coefficients.set_coefficients(table)
        rate = calibrate.solve(table, ("direct_mac", "f8"), predict, 1e-3)
        assert predict() == pytest.approx(1e-3)
        assert rate == table["direct_mac"]["f8"] > 0
        # a time below the fixed cost leaves the smallest positive rate, never a negative one
        assert calibrate.solve(table, ("direct_mac", "f8"), predict, 1e-9) > 0
        assert calibrate.solve(table, ("direct_short",), predict, 1.0, lo=1.0, hi=50.0) == 50.0
    finally:
        _coefficients.set_coefficients(old)


def test_calibrate_fits_each_backend_formula_and_saves(cache, monkeypatch):
    """With a fake clock every step's problem is predicted at the time it 'measured';
    the table is validated, saved to the private directory and put in force."""
    clock = iter([1e-5, 1e-5])           # the tiny problems of the overheads, then 2 ms each
    monkeypatch.setattr(calibrate, "median_time",
                        lambda fn, repeat=5, min_time=0.02: next(clock, 2e-3))
    coeffs = numbaconv.calibrate(quick=True)
    _coefficients.validate(coeffs)
    assert _coefficients.coefficients() is coeffs
    workers = numbaconv.get_workers()
    n1 = int(2 ** 18 * 0.25)
    for dtype, backend, shape_a, shape_k, mode in [
            (np.float64, cpu_direct, (n1,), (64,), "valid"),
            (np.float32, cpu_direct, (n1,), (64,), "valid"),      # refitted after the phases
            (np.complex64, cpu_direct, (n1,), (64,), "valid"),
            (np.float32, cpu_fft, (n1,), (n1 // 2,), "full")]:
        problem = build_problem(shape_a, shape_k, mode, np.dtype(dtype))
        assert backend.cost(problem, workers) == pytest.approx(2e-3, rel=1e-6)
    # the copy: 2 ms for a one-thread pass over 2**17 float64 in and out
    assert coeffs["pass_byte"] == pytest.approx(2e-3 / (2 * 8 * 2 ** 17))
    with open(_coefficients.cache_path()) as f:
        assert json.load(f)["coefficients"] == json.loads(json.dumps(coeffs))
    in_force, seen = reload()
    assert not seen and in_force == json.loads(json.dumps(coeffs))


def test_calibrate_without_save_writes_nothing(cache, monkeypatch):
    monkeypatch.setattr(calibrate, "median_time", lambda fn, repeat=5, min_time=0.02: 1e-3)
    labels = []
    numbaconv.calibrate(quick=True, save=False, progress=lambda i, n, label: labels.append(label))
    assert not os.listdir(cache)
    assert labels[0] == "overheads" and "direct f8" in labels and "fft c16" in labels
    # the layer backends' rates come last, one step per backend and type
    assert "layer direct_mac f4" in labels and "layer gemm_mac f8" in labels
    assert labels[labels.index("fft c16") + 1:] == [label for label in labels
                                                    if label.startswith("layer ")]


@pytest.mark.skipif(numbaconv.get_workers() < 2, reason="one worker: the step keeps the default")
@pytest.mark.parametrize("lost32, lost64, expected", [
    (128, 64, math.sqrt(128 ** 2 * 36 * 160 ** 2 * 36)),      # float32 decides
    ((128, 320), 64, math.sqrt(128 ** 2 * 36 * 160 ** 2 * 36)),   # one noisy loss above
    (64, 192, math.sqrt(192 ** 2 * 72 * 256 ** 2 * 72)),      # float64 decides
    (0, 0, 64 ** 2 * 72 / 2),                                  # threads won everywhere
    (384, 64, 384 ** 2 * 36 * 2),                              # one thread won everywhere
])
def test_the_four_row_threads_step_puts_the_floor_where_threads_start_winning(monkeypatch, lost32, lost64,
                                                                     expected):
    """Threads lose up to a side and win above it (but for one noisy loss): the threshold
    falls between that side's work and the next side's (geometric mean), the larger of
    the two dtypes'."""
    def wins(a, k, workers, quick):
        lost = lost32 if a.dtype == np.float32 else lost64
        upto, noisy = lost if isinstance(lost, tuple) else (lost, None)
        return a.shape[0] > upto and a.shape[0] != noisy

    monkeypatch.setattr(calibrate, "_threads_win", wins)
    step = dict(calibrate.cpu_steps(quick=False))["four-row threads"]   # the full run's sides
    table = copy.deepcopy(_coefficients.DEFAULTS)
    step(table, np.random.default_rng(0))
    assert table["direct_quad_parallel"] == pytest.approx(expected)


@pytest.mark.parametrize("squares", [True, False], ids=["square-items", "width-items"])
def test_the_four_row_step_fits_each_item_on_its_own_kernels(monkeypatch, squares):
    """The four-row step times square kernels for ``direct_quad_square`` only where the
    build takes their items (else the shipped value stays), and the widths' items on
    kernels two rows taller, which are never square."""
    monkeypatch.setattr(cpu_direct, "SQUARE_ITEMS", squares)
    monkeypatch.setattr(calibrate, "median_time", lambda fn, repeat=5, min_time=0.02: 4e-3)
    shapes = []
    build = calibrate.build_problem
    monkeypatch.setattr(calibrate, "build_problem",
                        lambda sa, sk, *args, **kw: shapes.append(tuple(sk)) or build(sa, sk, *args, **kw))
    step = dict(calibrate.cpu_steps(quick=True))["four-row steps"]
    table = copy.deepcopy(_coefficients.DEFAULTS)
    table["direct_quad_square"] = 123.0
    before = _coefficients.coefficients()
    _coefficients.set_coefficients(table)
    try:
        step(table, np.random.default_rng(0))
    finally:
        _coefficients.set_coefficients(before)
    timed_squares = {s for s in shapes if s[0] == s[1] and s[0] in cpu_direct.QUAD_SQUARES}
    assert timed_squares == ({(k, k) for k in cpu_direct.QUAD_SQUARES} if squares else set())
    assert (table["direct_quad_square"] != 123.0) == squares
    widths = {s for s in shapes if s[1] in cpu_direct.QUAD_WIDTHS and s not in timed_squares}
    assert widths and all(s[0] == s[1] + 2 for s in widths)


def test_a_layer_rate_the_time_does_not_measure_keeps_its_value(cache, monkeypatch):
    """A layer timed at no more than its formula's other parts predict (copies,
    transforms, overhead) leaves the rate in force, where it used to fall to the 1e-14
    floor; one timed well above them is solved for."""
    step = dict(calibrate.layer_steps(quick=True))["layer direct_mac f8"]
    monkeypatch.setattr(calibrate, "median_time", lambda fn, repeat=5, min_time=0.02: 1e-3)
    for other_parts, fitted in ((2e-3, False), (0.85e-3, False), (0.5e-3, True)):
        monkeypatch.setattr(calibrate, "fixed_part", lambda c, path, predict: other_parts)
        table = copy.deepcopy(_coefficients.DEFAULTS)
        _coefficients.set_coefficients(table)
        step(table, np.random.default_rng(0))
        kept = table["layer"]["direct_mac"]["f8"] == _coefficients.DEFAULTS["layer"]["direct_mac"]["f8"]
        assert kept != fitted, (other_parts, table["layer"]["direct_mac"]["f8"])
