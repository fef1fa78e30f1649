"""Start-up costs, each measured in a fresh interpreter (asv ``timeraw_``).

* ``timeraw_import``: ``import numbaconv`` (must stay lazy: no compiling).
* ``CompileCold``: the first call with an empty Numba cache -- the setup
  code points ``NUMBA_CACHE_DIR`` at a new temporary directory before Numba
  is imported, so the timed call compiles every kernel it needs.
* ``CompileWarm``: the first call in a new process whose cache was filled
  beforehand (by a priming subprocess in ``setup``): loading the compiled
  kernels from disk.

With ``NUMBACONV_ASV_GRID=tiny`` only the 1-D ``auto`` call is measured
(a smoke run). The child interpreter is asv's environment Python; the directory holding
the ``numbaconv`` that the benchmark process imported is put on its
``sys.path`` in the (untimed) setup code, so an uninstalled checkout works
with ``--python=same`` too.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

import numbaconv

from . import GRID

#: (ranks, methods) of the first calls measured
PARAMS = [[1], ["auto"]] if GRID == "tiny" else [[1, 2], ["auto", "direct", "fft", "oa"]]


def _numbaconv_parent() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(numbaconv.__file__)))


def _problem_code(ndim: int, method: str) -> tuple:
    """(setup lines building the inputs, the first-call statement)."""
    if ndim == 1:
        build = ("a = rng.standard_normal(20_000)\n"
                 "k = rng.standard_normal(65)\n")
        mode = "full"
    else:
        build = ("a = rng.standard_normal((256, 256))\n"
                 "k = rng.standard_normal((7, 7))\n")
        mode = "same"
    setup = ("import numpy as np\n"
             "import numbaconv\n"
             "rng = np.random.default_rng(0)\n" + build)
    stmt = f"numbaconv.convolve(a, k, mode={mode!r}, method={method!r})"
    return setup, stmt


def timeraw_import():
    return "import numbaconv", f"import sys; sys.path.insert(0, {_numbaconv_parent()!r})"


timeraw_import.repeat = 5
timeraw_import.number = 1


class CompileCold:
    """First call of ``convolve`` with a cold (empty) Numba cache."""

    params = PARAMS
    param_names = ["ndim", "method"]
    repeat = (1, 3, 120.0)
    number = 1
    timeout = 900.0

    def setup(self, ndim, method):
        self.parent = _numbaconv_parent()

    def timeraw_first_call(self, ndim, method):
        build, stmt = _problem_code(ndim, method)
        setup = textwrap.dedent(f"""
            import atexit, os, shutil, sys, tempfile
            _cache = tempfile.mkdtemp(prefix="numbaconv-cold-cache-")
            atexit.register(shutil.rmtree, _cache, True)
            os.environ["NUMBA_CACHE_DIR"] = _cache
            sys.path.insert(0, {self.parent!r})
        """) + build
        return stmt, setup


class CompileWarm:
    """First call of ``convolve`` in a new process with a warm Numba cache."""

    params = PARAMS
    param_names = ["ndim", "method"]
    repeat = (1, 5, 60.0)
    number = 1
    timeout = 900.0

    def setup(self, ndim, method):
        self.parent = _numbaconv_parent()
        self.cache = tempfile.mkdtemp(prefix="numbaconv-warm-cache-")
        build, stmt = _problem_code(ndim, method)
        prime = f"import sys\nsys.path.insert(0, {self.parent!r})\n" + build + stmt + "\n"
        env = dict(os.environ, NUMBA_CACHE_DIR=self.cache)
        proc = subprocess.run([sys.executable, "-c", prime], env=env, capture_output=True,
                              text=True, timeout=self.timeout)
        if proc.returncode != 0:
            shutil.rmtree(self.cache, ignore_errors=True)
            if "NotImplementedError" in proc.stderr:
                raise NotImplementedError(proc.stderr.strip().splitlines()[-1])
            raise RuntimeError(f"priming the Numba cache failed:\n{proc.stderr}")

    def teardown(self, ndim, method):
        shutil.rmtree(getattr(self, "cache", ""), ignore_errors=True)

    def timeraw_first_call(self, ndim, method):
        build, stmt = _problem_code(ndim, method)
        setup = textwrap.dedent(f"""
            import os, sys
            os.environ["NUMBA_CACHE_DIR"] = {self.cache!r}
            sys.path.insert(0, {self.parent!r})
        """) + build
        return stmt, setup
