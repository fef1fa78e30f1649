"""Kernel spectra kept between calls (:mod:`numbaconv._backends._spectra`).

A kept spectrum must never change a result: every call is checked against
SciPy, with the kernel's values changed by one element between calls, and
the transforms counted where the kernel's is skipped.
"""
import numpy as np
import pytest
import scipy.fft
import scipy.signal as ss

import numbaconv
from numbaconv._backends import _spectra
from helpers import assert_matches_scipy


@pytest.fixture
def made(monkeypatch):
    """The spectra the store was handed (one per kernel transform that was not kept)."""
    seen = []
    real_put = _spectra.put
    monkeypatch.setattr(_spectra, "put", lambda key, spec: seen.append(key) or real_put(key, spec))
    return seen


# (signal, kernel, mode, method): plain FFT (beside and not), 2-D tiles, 1-D blocks
CASES = [((256, 256), (31, 31), "same", "fft"), ((300,), (40,), "full", "fft"),
         ((1024, 1024), (31, 31), "same", "oa"), ((100000,), (3001,), "full", "oa"),
         ((200, 90), (9, 5), "valid", "oa")]


@pytest.mark.parametrize("sa, sk, mode, method", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
def test_a_repeated_kernel_is_transformed_once(sa, sk, mode, method, dtype, made, rng):
    k = rng.standard_normal(sk).astype(dtype)
    for call in range(4):
        a = rng.standard_normal(sa).astype(dtype)       # a new signal every call
        if call == 3:
            k = k.copy()
            k.flat[k.size // 2] += 1                     # one value changed: transformed again
        out = numbaconv.convolve(a, k, mode, method=method)
        assert_matches_scipy(out, ss.convolve(a, k, mode), a, k, mode=mode)
        assert len(made) == (1 if call < 3 else 2), (call, made)


def test_kept_spectra_are_shared_by_the_paths_that_transform_alike(made, rng):
    a, k = rng.standard_normal((64, 64)), rng.standard_normal((5, 5))
    first = numbaconv.fftconvolve(a, k, "same")
    again = numbaconv.convolve(a, k, "same", method="fft")
    assert len(made) == 1
    np.testing.assert_array_equal(first, again)
    assert_matches_scipy(again, ss.fftconvolve(a, k, "same"), a, k, mode="same")


def test_a_users_backend_transforms_every_kernel(made, rng):
    a, k = rng.standard_normal(5000), rng.standard_normal(300)
    with scipy.fft.set_backend("scipy"):                 # any backend the caller set
        for _ in range(3):
            out = numbaconv.convolve(a, k, method="fft")
    assert made == [None] * 3                            # made, never keyed nor kept
    assert not _spectra._kept
    assert_matches_scipy(out, ss.convolve(a, k), a, k)


def test_large_kernels_are_not_kept(made, rng):
    n = _spectra.KERNEL_MAX_BYTES // 8 + 1
    a, k = rng.standard_normal(3 * n), rng.standard_normal(n)
    for _ in range(2):
        numbaconv.convolve(a, k, method="fft")
    assert made == [None, None] and not _spectra._kept


def test_the_store_keeps_its_budget_and_hands_out_read_only_spectra(monkeypatch, rng):
    monkeypatch.setattr(_spectra, "BUDGET_BYTES", 4 * 1024)
    keys = []
    for i in range(5):
        h = rng.standard_normal(16)
        keys.append(_spectra.key(h, True, 64))
        spec = _spectra.kept(keys[-1], lambda: np.zeros(64, np.complex128))   # 1 KiB each
        assert not spec.flags.writeable
    assert _spectra._held[0] == sum(s.nbytes for s in _spectra._kept.values()) <= 4 * 1024
    assert list(_spectra._kept) == keys[1:]              # the least recently used went first
    assert _spectra.get(keys[0]) is None and _spectra.get(keys[4]) is not None
    big = _spectra.put(("big",), np.zeros(65, np.complex128))    # over a quarter: not kept
    assert big.flags.writeable and ("big",) not in _spectra._kept


def test_keys_tell_transforms_and_values_apart(rng):
    h = rng.standard_normal((3, 4))
    key = _spectra.key(h, True, (8, 8))
    assert key == _spectra.key(h.copy(), True, (8, 8))
    assert key != _spectra.key(h, False, (8, 8)) != _spectra.key(h, True, (8, 16))
    assert key != _spectra.key(h.astype(np.float32), True, (8, 8))
    assert key != _spectra.key(h.reshape(4, 3), True, (8, 8))
    assert key != _spectra.key(h[::-1], True, (8, 8))
