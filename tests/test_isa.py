"""Both kernel variants on one machine: the narrow (256-bit) build on any host, the wide
(AVX-512) one where the host has it.

The kernels' instruction-set class comes from Numba's compilation target
(:func:`numbaconv._jit.target`); ``NUMBACONV_ISA`` narrows it, so a child
process with ``NUMBACONV_ISA=avx2`` and an empty ``NUMBA_CACHE_DIR`` compiles
the AVX2 variants here even on an AVX-512 host.  The child runs one call per
kernel family (1-D direct per type family, 2-D direct with a short and a long
kernel row, separable, the layer's direct and depthwise kernels), checks each
against SciPy with the tolerance table, and reports the machine code of every
kernel it compiled: the narrow build must hold no 512-bit register, the wide
build must use them.  The families are few and mostly float32: each compiles
for seconds (about a minute for the narrow child on a 2-core VM).
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import warnings

import numpy as np
import pytest

from numbaconv import _coefficients, _jit
from numbaconv._kernels import simd

#: a call per kernel family: (label, what); the wide child runs the ones in WIDE only
CASES = ("direct 1-D float32", "direct 1-D int64", "direct 1-D complex128",
         "direct 2-D 3x3 float64", "direct 2-D 15x15 float32", "separable 7x7 float32",
         "layer direct float32", "layer depthwise float32")
WIDE = ("direct 1-D float32", "direct 2-D 3x3 float64")


def _host_has(*features) -> bool:
    from llvmlite import binding
    try:
        host = binding.get_host_cpu_features()
    except RuntimeError:
        return False
    return all(host.get(f) for f in features)


X86 = platform.machine().lower() in ("x86_64", "amd64")
#: the narrow class this host can run: AVX2 on x86-64 with AVX2 and FMA, else generic
NARROW = "avx2" if X86 and _host_has(*_jit.ISA_NEEDS["avx2"]) else "generic"


# --------------------------------------------------------------------------
# the child: one call per family, checked, and the machine code of its kernels
# --------------------------------------------------------------------------

def _layer_reference(x, w, groups, padding):
    """``nn.conv2d`` by SciPy, per sample, output channel and input channel, in float64,
    with the same call on absolute values (the magnitude the tolerance scales with)."""
    import scipy.signal as ss
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (padding,) * 2, (padding,) * 2))
    per = w.shape[0] // groups
    out, mag = [], []
    for n in range(x.shape[0]):
        for o in range(w.shape[0]):
            chans = range((o // per) * w.shape[1], (o // per + 1) * w.shape[1])
            terms = [(xp[n, c], w[o, c - chans[0]].astype(np.float64)) for c in chans]
            out.append(sum(ss.correlate2d(a, k, "valid") for a, k in terms))
            mag.append(sum(ss.correlate2d(abs(a), abs(k), "valid") for a, k in terms))
    shape = (x.shape[0], w.shape[0]) + out[0].shape
    return np.reshape(out, shape), np.reshape(mag, shape)


def _run_case(label, rng):
    """Run one family's call and compare it with SciPy; raises AssertionError when it differs."""
    import numbaconv
    import numbaconv.nn as nn
    from helpers import assert_matches_scipy, gaussian, make_array
    from numbaconv._tools import tolerance
    family, _, rest = label.partition(" ")
    *shape, dtype = rest.split()
    dtype = np.dtype(dtype)
    if family == "direct" and shape == ["1-D"]:
        # phases of one tap, of 4-5 and of 8-9 (the 16-register form's two ways; one kernel)
        for kw in (5, 37, 70):
            a, k = make_array((4099,), dtype, rng), make_array((kw,), dtype, rng)
            got = numbaconv.convolve(a, k, "full", method="direct")
            assert_matches_scipy(got, _scipy("convolve", a, k, "full"), a, k)
        return None
    if family in ("direct", "separable"):
        n = int(shape[-1].split("x")[0])
        a = make_array((203, 197), dtype, rng)
        k = (gaussian((n, n), dtype) if family == "separable"
             else make_array((n, n), dtype, rng))
        got = numbaconv.convolve(a, k, "same", method=family)
        return assert_matches_scipy(got, _scipy("convolve", a, k, "same"), a, k, mode="same")
    groups = 8 if shape == ["depthwise"] else 1
    x = rng.standard_normal((2, 8, 19, 23)).astype(dtype)
    w = rng.standard_normal((8, 8 // groups, 3, 3)).astype(dtype)
    got = nn.conv2d(x, w, padding=1, groups=groups, method="direct")
    want, mag = _layer_reference(x, w, groups, 1)
    bound = tolerance.allowed_error(mag, tolerance.eps(dtype), 9 * w.shape[1], 1)
    assert got.dtype == dtype and got.shape == want.shape
    err = np.abs(got - want)
    assert np.all(err <= bound), f"{label}: max error {err.max():.3g}"


def _scipy(op, a, b, mode):
    import scipy.signal as ss
    return getattr(ss, op)(a, b, mode, method="direct")


def _kernel_code():
    """``{kernel: machine code}`` of every numbaconv kernel compiled in this process."""
    from numba.core.dispatcher import Dispatcher
    code = {}
    for name, module in list(sys.modules.items()):
        if not name.startswith("numbaconv"):
            continue
        for attr, obj in list(vars(module).items()):
            if isinstance(obj, Dispatcher) and obj.overloads:
                with warnings.catch_warnings():
                    warnings.simplefilter("error")      # cached code cannot be inspected
                    for sig, asm in obj.inspect_asm().items():
                        code[f"{obj.py_func.__module__}.{obj.__name__}{sig}"] = asm
    return code


def child(cases):
    """The child's body: its target, each case's outcome, its kernels' registers (JSON)."""
    from numbaconv._jit import target
    rng = np.random.default_rng(20)
    failures = {}
    for label in cases:
        try:
            _run_case(label, rng)
        except AssertionError as exc:
            failures[label] = str(exc)[:2000]
    code = _kernel_code()
    t = target()
    print(json.dumps({
        "isa": t.isa, "cpu": t.cpu, "block_bytes": simd.BLOCK_BYTES, "vec_bytes": simd.VEC_BYTES,
        "coefficients": _coefficients.source(), "failures": failures, "kernels": len(code),
        "zmm": sorted(k for k, asm in code.items() if "zmm" in asm),
        "ymm": sum("ymm" in asm for asm in code.values())}))


def run_child(isa, cases, tmp_path):
    """Run :func:`child` with ``NUMBACONV_ISA=isa`` and empty caches; its JSON report."""
    env = dict(os.environ, NUMBACONV_ISA=isa, NUMBA_CACHE_DIR=str(tmp_path / "numba"),
               NUMBACONV_CACHE_DIR=str(tmp_path / "numbaconv"))
    for key in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES"):
        env.pop(key, None)
    proc = subprocess.run([sys.executable, __file__, *cases], env=env, text=True,
                          capture_output=True, timeout=900,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def narrow(tmp_path_factory):
    return run_child(NARROW, CASES, tmp_path_factory.mktemp("narrow"))


def test_the_narrow_build_is_correct(narrow):
    assert narrow["failures"] == {}
    assert narrow["isa"] == NARROW and narrow["block_bytes"] == 256
    assert narrow["coefficients"] == f"shipped {_coefficients.SET_OF_CLASS[NARROW]} set"


@pytest.mark.skipif(not X86, reason="512- and 256-bit registers are x86's")
def test_the_narrow_build_uses_no_512_bit_register(narrow):
    assert narrow["kernels"] >= 10, narrow
    assert narrow["zmm"] == []
    if NARROW == "avx2":
        assert narrow["cpu"] == _jit.ISA_TARGETS["avx2"] and narrow["vec_bytes"] == 32
        assert narrow["ymm"] >= narrow["kernels"] // 2


@pytest.mark.skipif(not (X86 and _host_has("avx512f")), reason="the host has no AVX-512")
def test_the_wide_build_uses_512_bit_registers(tmp_path):
    wide = run_child("avx512", WIDE, tmp_path)
    assert wide["failures"] == {}
    assert wide["isa"] == "avx512" and wide["block_bytes"] == 1024 and wide["vec_bytes"] == 64
    assert any("cpu_direct" in name for name in wide["zmm"]), wide


# --------------------------------------------------------------------------
# the class and its override, in this process
# --------------------------------------------------------------------------

def test_the_blocks_follow_the_class():
    t = _jit.target()
    assert t.isa in _jit.ISA_NEEDS and simd.ISA == t.isa
    assert (simd.BLOCK_BYTES, simd.VEC_BYTES) == ((1024, 64) if t.isa == "avx512" else (256, 32))
    if _jit.requested_isa() is None and not os.environ.get("NUMBA_CPU_NAME") and X86:
        assert (t.isa == "avx512") == _host_has("avx512f")


@pytest.mark.skipif(not X86, reason="x86 CPU names")
def test_the_vector_width_is_read_from_the_target():
    triple = "x86_64-unknown-linux-gnu"
    assert _jit.vector_bytes(triple, "x86-64-v4", "") == 64
    assert _jit.vector_bytes(triple, "x86-64-v3", "") == 32
    assert _jit.vector_bytes(triple, "generic", "") == 16
    assert _jit.vector_bytes(triple, "x86-64-v4", "-avx512f") == 32


@pytest.mark.parametrize("value, isa", [("", None), ("auto", None), (" AVX2 ", "avx2"),
                                        ("generic", "generic"), ("avx512", "avx512")])
def test_the_override_names_a_class(monkeypatch, value, isa):
    monkeypatch.setenv(_jit.ISA_ENV, value)
    assert _jit.requested_isa() == isa


def test_an_unknown_class_or_one_the_host_lacks_is_refused(monkeypatch):
    monkeypatch.setenv(_jit.ISA_ENV, "avx1024")
    with pytest.raises(ValueError, match="expected one of avx512, avx2, generic"):
        _jit.requested_isa()
    from llvmlite import binding
    monkeypatch.setattr(binding, "get_host_cpu_features", lambda: {"sse2": True})
    with pytest.raises(ValueError, match="this CPU lacks avx512f"):
        _jit._narrow_target("avx512")


CONFLICTS = {
    "NUMBA_CPU_NAME disagrees": ("import numbaconv", {"NUMBA_CPU_NAME": "x86-64-v3",
                                                      "NUMBA_CPU_FEATURES": ""}),
    "Numba compiled first": ("import numba; numba.njit(lambda x: x)(1); import numbaconv", {}),
}


@pytest.mark.skipif(not (X86 and _host_has("avx512f")), reason="needs a host wider than AVX2")
@pytest.mark.parametrize("case", CONFLICTS)
def test_a_class_numba_does_not_compile_for_is_an_error(case):
    code, extra = CONFLICTS[case]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_CPU")}
    env.update(extra, NUMBACONV_ISA="avx512" if extra else "avx2")
    proc = subprocess.run([sys.executable, "-c", code], env=env, text=True,
                          capture_output=True, timeout=300)
    assert proc.returncode != 0
    want = "disagree" if extra else "compiled with Numba before numbaconv was imported"
    assert "RuntimeError" in proc.stderr and want in proc.stderr, proc.stderr[-2000:]


if __name__ == "__main__":
    child(sys.argv[1:])
