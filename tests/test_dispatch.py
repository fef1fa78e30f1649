"""The dispatcher (numbaconv._dispatch): which backend runs, checked with counting backends.

As SciPy checks its FFT backends, a fake backend that counts its calls is
registered in ``numbaconv._backends.REGISTRY`` (with ``monkeypatch``): the
tests then see which code path ran, not only the numbers.  Covered: the
cheapest candidate wins; ``available()``/``supports()`` are respected; the
correctness vetoes (bool, non-finite values, integers past the exact
limit); an explicit ``method`` is obeyed or rejected; the value probes are
asked at most once per call and only when the choice depends on them; the
memo is keyed by the coefficient version; a backend's error reaches the
caller instead of another method being tried; ``explain()`` names the
backend that runs.
"""
from __future__ import annotations

import collections
import dataclasses
import copy

import numpy as np
import pytest
import scipy.signal as ss

import numbaconv
from helpers import assert_matches_scipy, gaussian, make_array
from numbaconv import _backends, _coefficients, _dispatch, _plans, _probes
from numbaconv._arrays import HostOps
from numbaconv._backends import cpu_direct, cpu_fft
from numbaconv._problem import build_problem

CPU_BACKENDS = {"cpu_direct", "cpu_fft", "cpu_oa", "cpu_separable"}


class FakeBackend:
    """A backend that counts its calls and computes through a real one (``delegate``)."""

    def __init__(self, name="fake", method="direct", cost=0.0, *, available=True,
                 supports=lambda problem: True, fail=None, cost_fails=None):
        self.NAME, self.METHOD, self.DEVICE = name, method, "cpu"
        self._cost, self._available, self._supports = cost, available, supports
        self.fail, self.cost_fails = fail, cost_fails
        self.delegate = cpu_fft if method in ("fft", "oa") else cpu_direct
        self.calls = collections.Counter()
        self.workers = []

    def available(self):
        self.calls["available"] += 1
        return self._available

    def supports(self, problem):
        self.calls["supports"] += 1
        return self._supports(problem)

    def cost(self, problem, workers=None):
        self.calls["cost"] += 1
        if self.cost_fails is not None:
            raise self.cost_fails
        return self._cost

    def run(self, problem, a, k, *, workers):
        self.calls["run"] += 1
        self.workers.append(workers)
        if self.fail is not None:
            raise self.fail
        return self.delegate.run(problem, a, k, workers=workers)


@pytest.fixture
def register(monkeypatch):
    """``register(backend)`` puts a fake in the registry for one test (memos emptied)."""
    def add(backend):
        monkeypatch.setitem(_backends.REGISTRY, backend.NAME, backend)
        _plans.forget()
        return backend
    _plans.forget()
    yield add
    _plans.forget()


def _signal(n=300, k=7, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return make_array((n,), dtype, rng), make_array((k,), dtype, rng)


# --------------------------------------------------------------------------
# the cheapest candidate runs; available() and supports() are respected
# --------------------------------------------------------------------------

@pytest.mark.parametrize("fname", ["convolve", "correlate"])
def test_cheapest_backend_runs(register, fname):
    fake = register(FakeBackend(cost=0.0))
    a, k = _signal()
    for mode in ("full", "same", "valid"):
        out = getattr(numbaconv, fname)(a, k, mode)
        assert_matches_scipy(out, getattr(ss, fname)(a, k, mode), a, k, fname, mode)
    assert fake.calls["run"] == 3
    choice = numbaconv.explain(a, k)
    assert choice.backend == "fake" and choice.module is fake
    assert {"fake", "cpu_direct"} <= set(choice.costs) and choice.costs["fake"] == 0.0


def test_expensive_backend_does_not_run(register):
    fake = register(FakeBackend(cost=1e9))
    a, k = _signal()
    numbaconv.convolve(a, k)
    assert fake.calls["run"] == 0 and fake.calls["cost"] >= 1
    assert numbaconv.explain(a, k).backend == "cpu_direct"


@pytest.mark.parametrize("flag", ["available", "supports"])
def test_unavailable_or_unsupporting_backend_is_not_a_candidate(register, flag):
    kw = {"available": False} if flag == "available" else {"supports": lambda p: p.ndim == 2}
    fake = register(FakeBackend(cost=0.0, **kw))
    a, k = _signal()
    numbaconv.convolve(a, k)
    choice = numbaconv.explain(a, k)
    assert fake.calls["run"] == 0 and "fake" not in choice.costs
    assert choice.backend == "cpu_direct"
    assert fake.calls[flag] >= 1
    if flag == "supports":                    # a 2-D problem it supports: it runs
        img, kern = np.ones((20, 20)), np.arange(9.0).reshape(3, 3)
        numbaconv.convolve(img, kern)
        assert fake.calls["run"] == 1


# --------------------------------------------------------------------------
# correctness vetoes
# --------------------------------------------------------------------------

def test_fft_runs_on_finite_floats_when_cheapest(register):
    fake = register(FakeBackend("fake_fft", "fft", cost=0.0))
    a, k = _signal()
    out = numbaconv.convolve(a, k)
    assert fake.calls["run"] == 1
    assert_matches_scipy(out, ss.convolve(a, k), a, k)
    assert numbaconv.explain(a, k).backend == "fake_fft"
    assert numbaconv.choose_conv_method(a, k) == "fft"


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["in1", "in2"])
def test_nonfinite_values_veto_fft(register, bad, where):
    fake = register(FakeBackend("fake_fft", "fft", cost=0.0))
    a, k = _signal()
    (a if where == "in1" else k)[3] = bad
    out = numbaconv.convolve(a, k)
    assert fake.calls["run"] == 0
    ref = ss.convolve(a, k, method="direct")
    assert_matches_scipy(out, ref, a, k, fft=False)
    assert np.isfinite(out).sum() == np.isfinite(ref).sum() > 0       # NaN stayed local
    choice = numbaconv.explain(a, k)
    assert choice.backend == "cpu_direct"
    assert any("non-finite" in v for v in choice.vetoes)
    assert numbaconv.choose_conv_method(a, k) == "direct"


def test_bool_vetoes_fft(register):
    fake = register(FakeBackend("fake_fft", "fft", cost=0.0))
    rng = np.random.default_rng(1)
    a, k = rng.random(300) > 0.5, rng.random(7) > 0.5
    out = numbaconv.convolve(a, k)
    assert fake.calls["run"] == 0
    np.testing.assert_array_equal(out, ss.convolve(a, k, method="direct"))
    choice = numbaconv.explain(a, k)
    assert choice.backend == "cpu_direct" and any("bool" in v for v in choice.vetoes)


@pytest.mark.parametrize("dtype", [np.int64, np.uint64, np.int32])
def test_integers_past_the_exact_limit_veto_fft(register, dtype):
    fake = register(FakeBackend("fake_fft", "fft", cost=0.0))
    rng = np.random.default_rng(2)
    hi = np.iinfo(dtype).max // 4
    a = rng.integers(0, hi, 300, dtype=dtype)
    k = rng.integers(0, hi, 7, dtype=dtype)
    np.testing.assert_array_equal(numbaconv.convolve(a, k), ss.convolve(a, k, method="direct"))
    assert fake.calls["run"] == 0
    choice = numbaconv.explain(a, k)
    assert choice.backend == "cpu_direct" and any("integer" in v for v in choice.vetoes)
    small_a, small_k = a % 5, k % 5                   # far inside the limit: FFT is exact
    np.testing.assert_array_equal(numbaconv.convolve(small_a, small_k),
                                  ss.convolve(small_a, small_k, method="direct"))
    assert fake.calls["run"] == 1
    assert not numbaconv.explain(small_a, small_k).vetoes


@pytest.mark.parametrize("dtype, scale", [(np.float32, 1e28), (np.complex64, 1e28),
                                          (np.float64, 1e300), (np.complex128, 1e300)])
def test_values_near_the_float_range_veto_fft(register, dtype, scale):
    """Finite direct sums whose FFT spectra could overflow: the direct method runs."""
    fake = register(FakeBackend("fake_fft", "fft", cost=0.0))
    rng = np.random.default_rng(3)
    a = (rng.standard_normal(3000) * scale).astype(dtype)
    k = rng.standard_normal(200).astype(dtype)
    ref = ss.convolve(a, k, method="direct")
    assert np.isfinite(ref).all()
    out = numbaconv.convolve(a, k)
    assert fake.calls["run"] == 0
    assert np.isfinite(out).all()
    assert_matches_scipy(out, ref, a, k, fft=False)
    choice = numbaconv.explain(a, k)
    assert choice.backend == "cpu_direct" and any("overflow" in v for v in choice.vetoes)
    numbaconv.convolve(a / scale, k)                  # ordinary magnitudes: FFT is safe
    assert fake.calls["run"] == 1


def test_vetoes_of_a_problem():
    p = build_problem((100,), (5,), "full", np.dtype(np.float64), finite=False)
    assert [fam for fam, _ in _dispatch.vetoes(p)] == ["fft"]
    assert _dispatch.vetoes(p, "fft") == []           # an explicit method is obeyed
    assert _dispatch.vetoes(build_problem((100,), (5,), "full", np.dtype(np.float64))) == []
    assert _dispatch.vetoes(build_problem((100,), (5,), "full", np.dtype(bool)))
    wide = dataclasses.replace(build_problem((100,), (5,), "full", np.dtype(np.float64)),
                               fft_in_range=False)
    assert [fam for fam, _ in _dispatch.vetoes(wide)] == ["fft"]


# --------------------------------------------------------------------------
# an explicit method is obeyed or rejected, never remapped
# --------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["direct", "fft", "oa"])
def test_explicit_method_is_obeyed(register, method):
    """A fake of another method costs nothing: it must not run, and the method's own
    backend runs even where another would be cheaper."""
    other = "fft" if method == "direct" else "direct"
    fake = register(FakeBackend("fake_other", other, cost=0.0))
    a, k = _signal()
    choice = numbaconv.explain(a, k, method=method)
    assert choice.method == method and choice.backend == f"cpu_{method}"
    assert set(choice.costs) == {f"cpu_{method}"}
    out = numbaconv.convolve(a, k, method=method)
    assert fake.calls["run"] == 0
    assert_matches_scipy(out, ss.convolve(a, k), a, k)


def test_explicit_fft_is_obeyed_on_nonfinite_input(register):
    fake = register(FakeBackend("fake_fft", "fft", cost=0.0))
    a, k = _signal()
    a[5] = np.nan
    with pytest.warns(RuntimeWarning, match="Use of fft convolution"):
        out = numbaconv.convolve(a, k, method="fft")
    assert fake.calls["run"] == 1 and np.isnan(out).all()
    assert numbaconv.explain(a, k, method="fft").vetoes == []


def test_explicit_method_picks_among_its_backends(register):
    fake = register(FakeBackend("fake_fft", "fft", cost=0.0))
    a, k = _signal()
    numbaconv.convolve(a, k, method="fft")
    assert fake.calls["run"] == 1
    assert set(numbaconv.explain(a, k, method="fft").costs) == {"cpu_fft", "fake_fft"}


@pytest.mark.parametrize("case", ["not-rank1", "1d", "3d", "integer", "axes"])
@pytest.mark.parametrize("fname", ["convolve", "correlate"])
def test_separable_is_rejected_without_a_rank1_kernel(fname, case):
    rng = np.random.default_rng(3)
    kw = {}
    if case == "not-rank1":
        a, k = rng.standard_normal((30, 30)), rng.standard_normal((5, 5))
    elif case == "1d":
        a, k = rng.standard_normal(50), rng.standard_normal(5)
    elif case == "3d":
        a, k = rng.standard_normal((8, 8, 8)), np.ones((2, 2, 2))
    elif case == "integer":
        a, k = np.ones((30, 30), np.int32), np.ones((5, 5), np.int32)
    else:
        a, k, kw = rng.standard_normal((30, 30)), gaussian((1, 5)), {"axes": 1}
    with pytest.raises(ValueError, match="separable"):
        getattr(numbaconv, fname)(a, k, method="separable", **kw)


def test_a_method_without_backends_is_rejected(monkeypatch):
    for name in ("cpu_fft", "cpu_oa"):
        monkeypatch.delitem(_backends.REGISTRY, name)
    _plans.forget()
    try:
        a, k = _signal()
        with pytest.raises(ValueError, match="method='fft'"):
            numbaconv.convolve(a, k, method="fft")
        assert numbaconv.explain(a, k).backend == "cpu_direct"
    finally:
        _plans.forget()


# --------------------------------------------------------------------------
# probes: at most once per call, and only when the choice depends on them
# --------------------------------------------------------------------------

@pytest.fixture
def probe_log(monkeypatch):
    """Every probe computed (name, per call) and every array scan, counted."""
    log = {"asked": [], "scans": collections.Counter()}
    ask = _probes.Probes._ask

    def counting_ask(self, name, compute):
        if name not in self._answers:
            log["asked"].append((id(self), name))
        return ask(self, name, compute)

    def counted(name, fn):
        def wrapper(*args, **kwargs):
            log["scans"][name] += 1
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(_probes.Probes, "_ask", counting_ask)
    monkeypatch.setattr(HostOps, "all_finite", staticmethod(counted("all_finite", HostOps.all_finite)))
    monkeypatch.setattr(HostOps, "abs_max", staticmethod(counted("abs_max", HostOps.abs_max)))
    monkeypatch.setattr(_probes, "separable_factors",
                        counted("separable_factors", _probes.separable_factors))
    real_scan = _probes.scan

    def scan(x):                        # the fused pass, where it applies
        found = real_scan(x)
        if found is not None:
            log["scans"]["scan"] += 1
        return found
    monkeypatch.setattr(_probes, "scan", scan)
    _plans.forget()

    def reset(kernel_facts=True):
        """Clear the log; and the small kernels' memoised facts, unless ``kernel_facts`` is
        False, so that every call counts its own scans."""
        log["asked"].clear()
        log["scans"].clear()
        if kernel_facts:
            _probes._KERNEL_FACTS.clear()
    log["reset"] = reset
    reset()
    yield log
    _plans.forget()


def _asked(log):
    names = [name for _, name in log["asked"]]
    assert len(set(i for i, _ in log["asked"])) <= 1, "more than one Probes per call"
    assert len(names) == len(set(names)), f"a probe was computed twice in one call: {names}"
    return sorted(names)


def test_small_direct_call_asks_nothing(probe_log):
    a, k = _signal()
    for _ in range(2):                                  # fresh, then memoised
        probe_log["reset"]()
        numbaconv.convolve(a, k)
        assert _asked(probe_log) == [] and not probe_log["scans"]


@pytest.mark.parametrize("method", ["direct", "fft", "oa"])
def test_explicit_method_asks_nothing_in_1d(probe_log, method):
    a, k = np.ones(20000), np.arange(4001.0)
    numbaconv.convolve(a, k, method=method)
    assert _asked(probe_log) == [] and not probe_log["scans"]


def test_fft_choice_asks_finite_once(probe_log):
    a, k = np.ones(20000), np.arange(4001.0)
    for _ in range(3):                                  # fresh, then memoised twice
        probe_log["reset"]()
        numbaconv.convolve(a, k)
        assert _asked(probe_log) == ["fft_in_range", "finite"]
        # the signal and the kernel, once each, each in one fused pass for both questions
        # (the flipped kernel, a view, read forwards)
        assert probe_log["scans"] == {"scan": 2}


def test_integer_fft_choice_asks_the_bound_once(probe_log):
    a, k = np.ones(20000, np.int64), np.arange(4001, dtype=np.int64) % 7
    for _ in range(2):
        probe_log["reset"]()
        out = numbaconv.convolve(a, k)
        assert _asked(probe_log) == ["finite", "int_bound"]
        assert probe_log["scans"]["abs_max"] == 2
    np.testing.assert_array_equal(out, ss.convolve(a, k, method="direct"))


def test_separable_choice_asks_rank_once(probe_log):
    img, g = np.ones((300, 300)), gaussian((15, 15))
    for _ in range(2):
        probe_log["reset"]()
        numbaconv.convolve(img, g, "same")
        names = _asked(probe_log)
        assert "rank1" in names and probe_log["scans"]["separable_factors"] == 1
    assert numbaconv.explain(img, g, "same").backend == "cpu_separable"


def test_small_kernels_facts_are_memoised_on_their_values(probe_log):
    """A small kernel's finiteness and rank are computed once per distinct value, in a new
    shape's call too; a kernel whose values changed in place is scanned again."""
    rng = np.random.default_rng(5)
    img, g = rng.standard_normal((300, 300)), gaussian((15, 15))
    numbaconv.convolve(img, g, "same")
    assert probe_log["scans"]["separable_factors"] == 1
    probe_log["reset"](kernel_facts=False)
    out = numbaconv.convolve(img[:280], g, "same")       # another shape: the full path
    assert "rank1" in _asked(probe_log) and probe_log["scans"]["separable_factors"] == 0
    np.testing.assert_allclose(out, ss.convolve(img[:280], g, "same"), rtol=1e-12, atol=1e-12)
    g2 = g.copy()
    g2[0, 0] = np.nan                                     # same shape, other values
    probe_log["reset"](kernel_facts=False)
    with np.errstate(invalid="ignore"):
        out = numbaconv.convolve(img, g2, "same")
    assert probe_log["scans"]["scan"] + probe_log["scans"]["all_finite"] >= 1    # scanned again
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ss.convolve(img, g2, "same",
                                                                     method="direct")))


def test_full_rank_kernel_asks_rank_once_and_runs_direct(probe_log):
    rng = np.random.default_rng(4)
    img, k = rng.standard_normal((300, 300)), rng.standard_normal((15, 15))
    numbaconv.convolve(img, k, "same")
    assert _asked(probe_log).count("rank1") == 1
    assert probe_log["scans"]["separable_factors"] == 1
    assert numbaconv.explain(img, k, "same").backend != "cpu_separable"


def test_select_without_probes_takes_the_problem_as_it_is():
    p = build_problem((300, 300), (15, 15), "same", np.dtype(np.float64), finite=None, separable=True)
    q, choice = _dispatch.select(p, "auto", 1)
    assert q is p and choice.backend == "cpu_separable"


# --------------------------------------------------------------------------
# the memo is keyed by the coefficient version
# --------------------------------------------------------------------------

def _scaled(key, factor):
    table = copy.deepcopy(_coefficients.coefficients())
    table[key] = {k: v * factor for k, v in table[key].items()}
    return table


def test_memo_is_reused_while_the_coefficients_stay():
    a, k = _signal(seed=5)
    def hits():
        return _dispatch._select.cache_info().hits + _dispatch._select_offload.cache_info().hits
    numbaconv.explain(a, k)
    before = hits()
    numbaconv.explain(a, k)
    numbaconv.explain(a, k, device="cpu")
    assert hits() >= before + 2


def test_new_coefficients_change_the_choice_without_clearing_a_cache(monkeypatch):
    cleared = []
    monkeypatch.setattr(_dispatch, "clear_cache", lambda: cleared.append(1))
    a, k = _signal(n=4000, k=150, seed=6)     # direct with every shipped set
    before = numbaconv.explain(a, k).backend
    assert before == "cpu_direct"
    version = _coefficients.version()
    _coefficients.set_coefficients(_scaled("direct_mac", 1e4))       # direct is now dear
    assert _coefficients.version() == version + 1
    dear = numbaconv.explain(a, k)
    assert dear.method in ("fft", "oa") and numbaconv.choose_conv_method(a, k) == "fft"
    assert_matches_scipy(numbaconv.convolve(a, k), ss.convolve(a, k), a, k)
    _coefficients.set_coefficients(_scaled("direct_mac", 1e-4))      # and now cheap again
    assert numbaconv.explain(a, k).backend == "cpu_direct"
    assert numbaconv.choose_conv_method(a, k) == "direct"
    assert not cleared


def test_coefficients_reload_from_the_calibration_file(isolated_calibration):
    """The isolated cache starts empty: the defaults are in force."""
    assert _coefficients.load() is None
    assert _coefficients.coefficients() == _coefficients.DEFAULTS


# --------------------------------------------------------------------------
# a backend's error reaches the caller
# --------------------------------------------------------------------------

@pytest.mark.parametrize("stage", ["run", "cost", "supports"])
def test_backend_errors_propagate(register, stage):
    boom = RuntimeError(f"boom in {stage}")
    if stage == "run":
        fake = FakeBackend(cost=0.0, fail=boom)
    elif stage == "cost":
        fake = FakeBackend(cost=0.0, cost_fails=boom)
    else:
        def fails(problem):
            raise boom
        fake = FakeBackend(cost=0.0, supports=fails)
    register(fake)
    a, k = _signal()
    for _ in range(2):                                  # and again: no memo hides it
        with pytest.raises(RuntimeError, match=f"boom in {stage}"):
            numbaconv.convolve(a, k)
    if stage != "run":
        with pytest.raises(RuntimeError, match=f"boom in {stage}"):
            numbaconv.explain(a, k)


def test_explicit_method_errors_propagate(register):
    fake = register(FakeBackend("fake_fft", "fft", cost=0.0, fail=MemoryError("no room")))
    a, k = _signal()
    with pytest.raises(MemoryError):
        numbaconv.convolve(a, k, method="fft")
    assert fake.calls["run"] == 1


# --------------------------------------------------------------------------
# explain() names the backend that runs
# --------------------------------------------------------------------------

def _explain_case(case, rng):
    if case == "float64-2d":
        return make_array((32, 32), np.float64, rng), make_array((3, 3), np.float64, rng), "cpu_direct"
    if case == "bool":
        return rng.random(5000) > 0.5, rng.random(500) > 0.5, "cpu_direct"
    if case == "int64-huge":
        # large enough that an FFT would be predicted faster (so the veto shows) whichever
        # shipped set is in force
        return (rng.integers(-2 ** 40, 2 ** 40, 20000), rng.integers(-2 ** 40, 2 ** 40, 4001),
                "cpu_direct")
    if case == "nan-long":
        a = make_array((20000,), np.float64, rng)
        a[7] = np.nan
        return a, make_array((4001,), np.float64, rng), "cpu_direct"
    if case == "gaussian":
        return make_array((300, 300), np.float64, rng), gaussian((15, 15)), "cpu_separable"
    if case == "long-1d":
        return make_array((20000,), np.float64, rng), make_array((4001,), np.float64, rng), "cpu_oa"
    if case == "image-big-kernel":
        return make_array((128, 128), np.float64, rng), make_array((64, 64), np.float64, rng), "cpu_fft"
    raise AssertionError(case)


EXPLAIN_CASES = ["float64-2d", "bool", "int64-huge", "nan-long", "gaussian", "long-1d",
                 "image-big-kernel"]


@pytest.mark.parametrize("case", EXPLAIN_CASES)
def test_explain_names_the_backend_that_runs(case, rng, monkeypatch):
    a, b, expected = _explain_case(case, rng)
    a_copy, b_copy = a.copy(), b.copy()
    choice = numbaconv.explain(a, b, "same")
    assert choice.backend == expected, str(choice)
    assert str(choice).startswith(f"chosen: {expected} ")
    assert choice.costs[expected] == min(choice.costs.values())
    assert choice.scipy_method == ("fft" if choice.method in ("fft", "oa") else "direct")
    assert set(choice.costs) <= CPU_BACKENDS
    if case in ("bool", "int64-huge", "nan-long"):
        assert choice.vetoes
    np.testing.assert_array_equal(a, a_copy)
    np.testing.assert_array_equal(b, b_copy)
    # and convolve runs that very backend
    ran = []
    module = _backends.REGISTRY[expected]
    monkeypatch.setattr(module, "run", _recording(module.run, ran))
    monkeypatch.setattr(module, "prepare", None, raising=False)
    _plans.PLANS.clear()
    numbaconv.convolve(a, b, "same")
    assert ran == [expected]


def _recording(run, log):
    def wrapper(problem, a, k, *, workers):
        log.append(run.__module__.rsplit(".", 1)[-1])
        return run(problem, a, k, workers=workers)
    return wrapper


def test_explain_returns_the_callers_own_choice():
    """Changing what explain returned must not change the next answer (choices are memoised)."""
    a, k = np.ones(500), np.ones(9)
    first = numbaconv.explain(a, k, method="direct")
    costs, vetoes = dict(first.costs), list(first.vetoes)
    first.costs.clear()
    first.vetoes.append("changed")
    again = numbaconv.explain(a, k, method="direct")
    assert again.costs == costs and again.vetoes == vetoes


def test_explain_lists_every_candidate():
    """Every CPU backend is costed; a kernel found not to be rank 1 drops the separable one."""
    img = np.ones((300, 300))
    choice = numbaconv.explain(img, gaussian((15, 15)))
    assert set(choice.costs) == CPU_BACKENDS and choice.backend == "cpu_separable"
    rank2 = gaussian((15, 15)) + np.outer(np.arange(15.0), np.ones(15))
    choice = numbaconv.explain(img, rank2)
    assert set(choice.costs) == CPU_BACKENDS - {"cpu_separable"}, str(choice)


def test_explain_lists_no_separable_cost_for_a_full_rank_kernel():
    """The rank is asked for explain() when the separable path is listed, even if direct wins:
    a kernel that is not rank 1 has no separable candidate to show."""
    rng = np.random.default_rng(3)
    img = rng.standard_normal((64, 64))
    full_rank = rng.standard_normal((5, 5))
    assert "cpu_separable" not in numbaconv.explain(img, full_rank, "same").costs
    rank1 = np.outer(rng.standard_normal(5), rng.standard_normal(5))
    assert "cpu_separable" in numbaconv.explain(img, rank1, "same").costs
