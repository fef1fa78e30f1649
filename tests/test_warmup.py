"""numbaconv.warmup and ``numbaconv warmup``: argument checks, and a filled cache afterwards."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import numbaconv
from numbaconv import cli
from numbaconv._backends import cpu_direct
from numbaconv._warmup import PATHS, plan


def test_unknown_path_lists_the_valid_ones():
    with pytest.raises(ValueError, match="'direct', 'separable', 'fft', 'oa', 'convolve2d', 'nn'"):
        numbaconv.warmup(paths=["direct", "gpu"])


@pytest.mark.parametrize("kwargs, error", [
    (dict(dtypes="U5"), ValueError), (dict(dtypes="no such dtype"), TypeError),
    (dict(ndims=4), ValueError), (dict(ndims=[]), ValueError), (dict(paths=[]), ValueError)])
def test_bad_arguments(kwargs, error):
    with pytest.raises(error):
        numbaconv.warmup(**kwargs)


def test_plan_covers_dtypes_ranks_and_both_kernel_sizes():
    steps = plan(["float32", "int16", "complex128"], [1, 2, 3], list(PATHS))
    assert {str(d) for _, d, _, _ in steps} == {"float32", "int16", "complex128"}
    # layers are float only (torch's rule); 2-D only paths have no 1-D or 3-D steps
    assert all(str(d) == "float32" for p, d, _, _ in steps if p == "nn")
    labels = [label for p, d, label, _ in steps if p == "convolve2d" and str(d) == "int16"]
    assert {lab.split()[1] for lab in labels} == {"fill", "wrap", "symm"}
    direct = [label for p, d, label, _ in steps if p == "direct" and str(d) == "float32"]
    # the four-row kernel's items: one per width of cpu_direct.QUAD_WIDTHS, one for the rest
    # (kernels of 4 rows, never square), and one per square kernel with an item of its own
    widths = {int(lab.split("* (4, ")[1].rstrip(")")) for lab in direct if "* (4, " in lab}
    assert set(cpu_direct.QUAD_WIDTHS) < widths
    squares = {kh for kh in range(2, 16) for lab in direct if f"* ({kh}, {kh})" in lab}
    assert squares == set(cpu_direct.QUAD_SQUARES)
    assert len(direct) == ((6 if numbaconv._config.cpu_count() > 1 else 3) + len(widths)
                           + len(squares))


def test_summary_counts_calls_and_skips():
    seen = []
    summary = numbaconv.warmup(dtypes=[np.float64], ndims=[1, 2], paths="fft",
                               progress=lambda done, total, label: seen.append((done, total)))
    assert seen[-1][0] == seen[-1][1] == len(seen) == summary["fft"]["calls"]
    assert summary["fft"]["seconds"] > 0 and not summary["fft"]["skipped"]
    # integers have no separable path (SciPy-exact results): rejected before any compile
    summary = numbaconv.warmup(dtypes="int32", ndims=2, paths=["separable"])
    skipped = summary["separable"]["skipped"]
    assert skipped and all("int32" in s for s in skipped) and summary["separable"]["calls"] == 0
    assert not summary["separable"]["compiled"]


def test_cli_usage_error(capsys):
    assert cli.main(["warmup", "--paths", "direct,bogus"]) == 2
    assert "valid paths are" in capsys.readouterr().err


CHECK = r"""
import numpy as np, scipy.signal, numbaconv
from numbaconv._compile_notice import watch
rng = np.random.default_rng(1)
with watch(quiet=False) as seen:
    for n, k in [(64, 5), (40_000, 65)]:
        a, b = rng.standard_normal(n), rng.standard_normal(k)
        np.testing.assert_allclose(numbaconv.convolve(a, b, method="direct"),
                                   scipy.signal.convolve(a, b, method="direct"), atol=1e-9)
print(seen.kernels)
"""


def test_cli_warmup_fills_the_cache(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), NUMBACONV_PLAIN="1")
    warm = subprocess.run([sys.executable, "-m", "numbaconv.cli", "warmup", "--paths", "direct",
                           "--dtypes", "float64", "--ndims", "1"], env=env, capture_output=True,
                          text=True, timeout=600)
    assert warm.returncode == 0, warm.stderr
    assert "kernel(s) compiled" in warm.stdout and "[2/2] direct" in warm.stderr
    assert "numbaconv: compiling" not in warm.stderr        # warmup reports its own progress
    after = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True,
                           timeout=600)
    assert after.returncode == 0, after.stderr
    assert after.stdout.strip() == "0", after.stderr        # serial and parallel kernels cached
    assert "numbaconv: compiling" not in after.stderr
