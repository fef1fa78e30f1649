"""Loaded by pytest before anything else (repository root).

Two switches must be thrown before any test module, any doctest of
numbaconv or any pytest option imports numba or numbaconv:

* Numba reads ``NUMBA_ENABLE_CUDASIM`` once, when it is first imported, so
  the switch to the CUDA simulator happens here.
* numbaconv reads its calibration file from ``$NUMBACONV_CACHE_DIR`` (else
  ``~/.cache/numbaconv``); a user's calibration would change the choices the
  tests assert, so every test session (and every xdist worker) gets an
  empty temporary directory instead (:func:`pytest_configure`).
"""
import os
import shutil
import sys
import tempfile


def _load_driver_module():
    """numbaconv/_driver.py by its path: importing the package would import Numba first."""
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "numbaconv", "_driver.py")
    spec = importlib.util.spec_from_file_location("numbaconv_driver_probe", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_driver_present = _load_driver_module().driver_present


if "NUMBA_ENABLE_CUDASIM" not in os.environ and not _driver_present():
    # no CUDA driver: the GPU tests run in Numba's simulator
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

_CACHE_DIR = []


def pytest_configure(config):
    """Point numbaconv's calibration cache at a fresh temporary directory."""
    path = tempfile.mkdtemp(prefix="numbaconv-tests-")
    _CACHE_DIR.append((path, os.environ.get("NUMBACONV_CACHE_DIR")))
    os.environ["NUMBACONV_CACHE_DIR"] = path
    coefficients = sys.modules.get("numbaconv._coefficients")
    if coefficients is not None:        # imported already (a plugin): forget what it read
        coefficients.set_coefficients(None)


def pytest_unconfigure(config):
    """Remove the temporary cache and give the environment back."""
    while _CACHE_DIR:
        path, old = _CACHE_DIR.pop()
        shutil.rmtree(path, ignore_errors=True)
        if old is None:
            os.environ.pop("NUMBACONV_CACHE_DIR", None)
        else:
            os.environ["NUMBACONV_CACHE_DIR"] = old
