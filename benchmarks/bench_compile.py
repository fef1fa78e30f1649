"""Start-up costs, each measured in a fresh interpreter (asv ``timeraw_``).

* ``timeraw_import``: ``import numbaconv`` (must stay lazy: no compiling).
* ``CompileCold``: the first call with an empty Numba cache -- the setup
  code points ``NUMBA_CACHE_DIR`` at a new temporary directory before Numba
  is imported, so the timed call compiles every kernel it needs.
* ``CompileWarm``: the first call in a new process whose cache was filled
  beforehand (by a priming subprocess in ``setup``): loading the compiled
  kernels from disk.

The cases are those of ``numbaconv bench --latency``
(:data:`numbaconv._tools.latency.CASES`): every public function and path.
With ``NUMBACONV_ASV_GRID=tiny`` only the first is measured (a smoke run).
The child interpreter is asv's environment Python; the directory holding
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
from numbaconv._tools.latency import CASES

from . import GRID

#: the first calls measured
PARAMS = [list(CASES)[:1]] if GRID == "tiny" else [list(CASES)]


def _numbaconv_parent() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(numbaconv.__file__)))


def _problem_code(case: str) -> tuple:
    """Return (setup lines importing numbaconv and building the inputs, the first-call statement)."""
    c = CASES[case]
    return "import numbaconv, numbaconv.nn\n" + c.setup, c.stmt


def timeraw_import():
    return "import numbaconv", f"import sys; sys.path.insert(0, {_numbaconv_parent()!r})"


timeraw_import.repeat = 5
timeraw_import.number = 1


class CompileCold:
    """First call with a cold (empty) Numba cache."""

    params = PARAMS
    param_names = ["case"]
    repeat = (1, 3, 120.0)
    number = 1
    timeout = 900.0

    def setup(self, case):
        self.parent = _numbaconv_parent()

    def timeraw_first_call(self, case):
        build, stmt = _problem_code(case)
        setup = textwrap.dedent(f"""
            import atexit, os, shutil, sys, tempfile
            _cache = tempfile.mkdtemp(prefix="numbaconv-cold-cache-")
            atexit.register(shutil.rmtree, _cache, True)
            os.environ["NUMBA_CACHE_DIR"] = _cache
            sys.path.insert(0, {self.parent!r})
        """) + build
        return stmt, setup


class CompileWarm:
    """First call in a new process with a warm Numba cache."""

    params = PARAMS
    param_names = ["case"]
    repeat = (1, 5, 60.0)
    number = 1
    timeout = 900.0

    def setup(self, case):
        self.parent = _numbaconv_parent()
        self.cache = tempfile.mkdtemp(prefix="numbaconv-warm-cache-")
        build, stmt = _problem_code(case)
        prime = f"import sys\nsys.path.insert(0, {self.parent!r})\n" + build + stmt + "\n"
        env = dict(os.environ, NUMBA_CACHE_DIR=self.cache)
        proc = subprocess.run([sys.executable, "-c", prime], env=env, capture_output=True,
                              text=True, timeout=self.timeout)
        if proc.returncode != 0:
            shutil.rmtree(self.cache, ignore_errors=True)
            if "NotImplementedError" in proc.stderr:
                raise NotImplementedError(proc.stderr.strip().splitlines()[-1])
            raise RuntimeError(f"priming the Numba cache failed:\n{proc.stderr}")

    def teardown(self, case):
        shutil.rmtree(getattr(self, "cache", ""), ignore_errors=True)

    def timeraw_first_call(self, case):
        build, stmt = _problem_code(case)
        setup = textwrap.dedent(f"""
            import os, sys
            os.environ["NUMBA_CACHE_DIR"] = {self.cache!r}
            sys.path.insert(0, {self.parent!r})
        """) + build
        return stmt, setup
