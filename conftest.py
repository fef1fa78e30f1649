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


def _driver_present():
    """numbaconv._gpu.driver_present, without importing numba: a device node or libcuda."""
    import ctypes.util
    if any(os.path.exists(p) for p in ("/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg")):
        return True
    if ctypes.util.find_library("cuda") is not None:
        return True
    for name in ("libcuda.so.1", "libcuda.so", "nvcuda.dll"):
        try:
            ctypes.CDLL(name)
            return True
        except OSError:
            pass
    return False


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
