"""The overlap-add backend (numbaconv._backends.cpu_oa).

The 1-D blocks split into thread groups (ragged last block, a group of one
block, more groups than blocks), the 2-D tiles (cutting both axes or one,
kernels as long as a tile's step, each mode's window), the plan and its
memo (which goes with the coefficients), ``explain()``'s note, and
``run()``/``supports()``, all against SciPy with the tolerance table.
"""
from __future__ import annotations

import math
from concurrent.futures import Future

import numpy as np
import pytest
import scipy.fft as sp_fft
import scipy.signal as ss

import numbaconv
from helpers import MODES, assert_matches_scipy, check_conv, make_array, shape_id
from numbaconv import _coefficients
from numbaconv._backends import cpu_oa
from numbaconv._problem import build_problem


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("threads", [1, 2, 3, 7])
@pytest.mark.parametrize("n, m, nfft", [(1000, 31, 64), (1000, 31, 90), (997, 50, 128),
                                        (5000, 301, 600), (300, 33, 64), (128, 33, 64)])
def test_overlap_add_block_groups(n, m, nfft, threads, dtype, rng):
    """The 1-D overlap-add for every split of its blocks into thread groups (ragged last block,
    a group of one block, more groups than blocks), against SciPy's full convolution."""
    a = make_array((n,), dtype, rng)
    h = make_array((m,), dtype, rng)
    got = cpu_oa._oa_1d(a, h, nfft, threads, np.dtype(dtype))
    assert_matches_scipy(got, ss.fftconvolve(a, h), a, h, "fftconvolve")


TILE_CASES = [((300, 310), (31, 17)), ((97, 260), (5, 40)), ((5, 260), (3, 40)),
              ((64, 64), (33, 33)), ((200, 130), (1, 7)), ((130, 200), (9, 1))]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("threads", [1, 2, 5])
@pytest.mark.parametrize("tile", [(64, 64), (64, 96), (96, 64)], ids=lambda t: "x".join(map(str, t)))
@pytest.mark.parametrize("sa, sk", TILE_CASES, ids=[shape_id(a, b) for a, b in TILE_CASES])
def test_overlap_add_tiles(sa, sk, tile, threads, dtype, mode, rng):
    """The 2-D tiled overlap-add for tiles that cut both axes or span one (the 5-row image),
    kernels as long as a tile's step, more thread groups than tile rows, and each mode's
    window (tiles outside 'valid' skipped, groups' tails clipped), against SciPy."""
    a = make_array(sa, dtype, rng)
    k = make_array(sk, dtype, rng)
    p = build_problem(sa, sk, mode, np.dtype(dtype))
    got = cpu_oa._os_2d(a, k, tile, threads, np.dtype(dtype), p.origin, p.out_shape)
    assert_matches_scipy(got, ss.convolve(a, k, mode), a, k, "convolve", mode)


@pytest.mark.parametrize("paired", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("mode", MODES)
def test_overlap_save_tiles_alone_and_in_pairs(mode, dtype, paired, rng):
    """Real tiles transformed one by one and two at a time (real and imaginary part of one
    complex tile), an odd number of them (the last pair a single tile), split into groups
    at every tile, against SciPy."""
    a, k = make_array((170, 150), dtype, rng), make_array((9, 13), dtype, rng)
    p = build_problem(a.shape, k.shape, mode, np.dtype(dtype))
    tile = (48, 64)
    tiles = math.prod(cpu_oa._os_counts(p.out_shape, k.shape, tile))
    assert tiles % 2 == 1 or mode != "same"
    spectrum = (sp_fft.fft2 if paired else sp_fft.rfft2)(k, tile)
    spec_h = Future()
    spec_h.set_result(spectrum)
    got = np.full(p.out_shape, np.nan, dtype)
    for t0 in range(0, tiles, 2):            # groups of one pair (or one tile) each
        cpu_oa._os_tiles(a, spec_h, tile, k.shape, p.origin, got, t0, min(tiles, t0 + 2), paired)
    assert_matches_scipy(got, ss.convolve(a, k, mode), a, k, "convolve", mode)


@pytest.mark.parametrize("n, m", [(1024, 31), (4096, 31), (256, 15), (1000, 63), (64, 3)])
def test_tile_sides_cut_the_axis_evenly(n, m):
    """Each side priced holds the kernel's overlap at least twice and cuts the ``n`` outputs
    into tiles whose count a shorter fast side could not keep (1024 against 31 taps: 4 tiles
    of 288, where 256 would need 5)."""
    sides = cpu_oa.tile_sides(n, m)
    assert sides
    for t in sides:
        assert 2 * (m - 1) <= t <= cpu_oa.TILE_MAX
        count = -(-n // (t - m + 1))
        shorter = [s for s in range(2 * (m - 1), t) if sp_fft.next_fast_len(s, True) == s]
        assert all(-(-n // (s - m + 1)) > count for s in shorter), (t, count)
    if (n, m) == (1024, 31):
        assert 288 in sides


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float64, np.complex64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("sa, sk", [((1100, 1000), (31, 31)), ((700, 2800), (21, 9)),
                                    ((31, 17), (1000, 1100))])
def test_overlap_add_tiles_through_the_api(sa, sk, dtype, mode, rng):
    """method='oa' on 2-D shapes where the plan is tiles (the kernel the larger operand too)."""
    planned = (sk, sa) if mode == "valid" and sa < sk else (sa, sk)    # 'valid' swaps them
    assert cpu_oa.plan(build_problem(*planned, mode, np.dtype(dtype)), 2)[0] is None
    a = make_array(sa, dtype, rng)
    b = make_array(sk, dtype, rng)
    check_conv("convolve", a, b, mode, "oa")
    check_conv("correlate", a, b, mode, "oa")


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128],
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shapes", [((20000,), (301,)), ((301,), (20000,)), ((5000,), (1500,)),
                                    ((400, 30), (40, 5)), ((8, 3000), (3, 200))],
                         ids=lambda s: shape_id(*s))
def test_run_is_scipys_correlation(shapes, mode, dtype, rng):
    """run() on blocked problems (1-D blocks, N-D blocks along one axis), every window."""
    sa, sk = shapes
    a, k = make_array(sa, dtype, rng), make_array(sk, dtype, rng)
    if mode == "valid" and a.size < k.size:
        a, k = k, a
    problem = build_problem(a.shape, k.shape, mode, np.dtype(dtype))
    got = cpu_oa.run(problem, a, k, workers=2)
    ref = ss.correlate(a, np.conj(k), mode, method="fft")
    assert_matches_scipy(got, ref, a, k, "correlate", mode)


@pytest.mark.parametrize("case, ok", [
    (dict(), True), (dict(boundary="wrap"), False), (dict(device="cuda"), False),
    (dict(fill_products=True), False)], ids=["f8", "wrap", "cuda", "fill-products"])
def test_supports(case, ok):
    assert cpu_oa.supports(build_problem((3000,), (300,), "same", np.dtype(np.float64), **case)) is ok


def test_auto_picks_it_for_long_signals_and_kernels(rng):
    a, k = make_array((20000,), np.float64, rng), make_array((4001,), np.float64, rng)
    choice = numbaconv.explain(a, k)
    assert choice.backend == "cpu_oa"
    assert_matches_scipy(numbaconv.convolve(a, k), ss.convolve(a, k), a, k)


def test_overlap_add_plans_go_with_the_coefficients():
    """cpu_oa memoises its blocking; a change of cost coefficients must forget it."""
    problem = build_problem((20000,), (301,), "full", np.float64)
    first = cpu_oa.plan(problem, 2)
    hits = cpu_oa._plan.cache_info().hits
    assert cpu_oa.plan(problem, 2) == first and cpu_oa._plan.cache_info().hits == hits + 1
    old = _coefficients.coefficients()
    try:
        slow_fft = {**old, "fft_nlogn": {key: 100 * v for key, v in old["fft_nlogn"].items()}}
        _coefficients.set_coefficients(slow_fft)          # a new version: the memo is not used
        assert cpu_oa.plan(problem, 2)[3] > 10 * first[3]
    finally:
        _coefficients.set_coefficients(old)
    assert cpu_oa.plan(problem, 2) == first


@pytest.mark.parametrize("shapes, words", [(((1100, 1000), (31, 31)), "tiles ("),
                                           (((20000,), (301,)), "blocks of "),
                                           (((64, 64), (63, 63)), "plain FFT"),
                                           (((64, 64), (5, 5)), "plain FFT")])
def test_explain_gives_the_overlap_add_plan(shapes, words):
    """explain() names overlap-add's plan: 2-D tiles, 1-D blocks, or none (a small image)."""
    sa, sk = shapes
    choice = numbaconv.explain(np.ones(sa), np.ones(sk) + np.arange(sk[-1]), "same")
    note = [n for n in choice.notes if n.startswith("cpu_oa: ")]
    assert len(note) == 1 and words in note[0], choice.notes
    assert note[0] in str(choice)
    p = cpu_oa.plan(build_problem(sa, sk, "same", np.float64))
    if p is not None and p[0] is None:   # the tile shape it prints is the plan's
        assert f"{p[1][0]} x {p[1][1]} tiles" in note[0]


def test_tile_sides_that_transform_slowly_are_priced_so():
    """Sides of few factors 2, and powers of two for float64 tiles, ran slower per
    ``N log N``: 4096² * 31² float64 took 98 ms in 288² tiles against 107 ms in the 324²
    tiles priced alike by ``N log N`` alone."""
    f64, f32 = np.dtype(np.float64), np.dtype(np.float32)
    assert cpu_oa.side_factor(288, f64) == cpu_oa.side_factor(360, f64) == 1.0
    assert (cpu_oa.side_factor(512, f64) > cpu_oa.side_factor(375, f64)
            > cpu_oa.side_factor(324, f64) > 1)
    assert cpu_oa.side_factor(375, f32) > cpu_oa.side_factor(324, f32) > cpu_oa.side_factor(480, f32)
    assert cpu_oa.side_factor(256, np.dtype(np.complex128)) == cpu_oa.side_factor(256, f64)
    p = build_problem((4096, 4096), (31, 31), "same", f64)
    assert cpu_oa.tile_cost(p, (288, 288), 2) < cpu_oa.tile_cost(p, (324, 324), 2)
    assert cpu_oa.plan(p, 2)[1] == (288, 288)
