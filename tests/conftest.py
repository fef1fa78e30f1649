"""Fixtures and hooks of the test suite (helpers live in ``tests/helpers.py``).

The root ``conftest.py`` has already pointed ``NUMBACONV_CACHE_DIR`` at an
empty temporary directory; the fixtures here make sure the coefficient
table in force is the default one at the start of the session and after
every test that changed it.
"""
from __future__ import annotations

import os
import shutil
import zlib

import numpy as np
import pytest

#: modules of helpers, imported by the tests (``pythonpath = ["tests"]``), not collected
collect_ignore = ["helpers.py", "naive.py"]


def _cache_files():
    path = os.environ.get("NUMBACONV_CACHE_DIR", "")
    return sorted(os.listdir(path)) if path and os.path.isdir(path) else []


@pytest.fixture(scope="session", autouse=True)
def isolated_calibration():
    """No user calibration: the session starts from the default coefficients."""
    from numbaconv import _coefficients
    path = os.environ.get("NUMBACONV_CACHE_DIR", "")
    home = os.path.join(os.path.expanduser("~"), ".cache", "numbaconv")
    assert path and os.path.abspath(path) != os.path.abspath(home), \
        "the root conftest.py must isolate the calibration cache"
    assert os.path.dirname(_coefficients.cache_path()) == path
    _coefficients.set_coefficients(None)
    assert _coefficients.load() is None, "the isolated cache directory is not empty"
    yield path


@pytest.fixture(autouse=True)
def default_coefficients(isolated_calibration):
    """A test that put other coefficients in force, or saved a calibration, is undone."""
    from numbaconv import _coefficients
    version = _coefficients.version()
    yield
    files = _cache_files()
    if files or _coefficients.version() != version:
        for name in files:
            shutil.rmtree(os.path.join(isolated_calibration, name), ignore_errors=True)
            if os.path.exists(os.path.join(isolated_calibration, name)):
                os.remove(os.path.join(isolated_calibration, name))
        _coefficients.set_coefficients(None)


@pytest.fixture(autouse=True)
def no_kept_spectra():
    """Each test transforms its kernels afresh: a test counting transforms does not find
    another test's kernel spectrum kept (tests of the store keep their own)."""
    from numbaconv._backends import _spectra
    _spectra.forget()


@pytest.fixture
def rng(request):
    """A generator seeded from the test id, so each test is reproducible."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))
