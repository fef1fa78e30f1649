"""The benchmark grids and their inputs: one definition for ``numbaconv bench`` and asv.

A grid is four lists: 1-D signal lengths, 1-D kernel lengths, 2-D image
sides and 2-D kernel sides, crossed; cells with a kernel longer than the
signal are left out.
"""
from __future__ import annotations

import dataclasses

import numpy as np

#: name -> (1-D signal lengths, 1-D kernel lengths, 2-D image sides, 2-D kernel sides)
GRIDS = {
    # numbaconv bench (no option) and NUMBACONV_ASV_GRID=full: hours
    "full": ((10**3, 10**4, 10**5, 10**6, 10**7), (3, 31, 301, 3001, 30001),
             (256, 1024, 4096), (3, 5, 7, 15, 31, 63)),
    # asv's default: tens of minutes
    "default": ((10**3, 10**4, 10**5, 10**6), (3, 31, 301, 3001),
                (256, 1024), (3, 7, 15, 31)),
    # numbaconv bench --quick: well under 2 minutes
    "quick": ((10**3, 10**4, 10**5), (3, 31, 301), (128, 512), (3, 7, 15)),
    # the test suite and asv's smoke run: the JIT compile is most of the time
    "tiny": ((1000,), (3, 31), (32,), (3,)),
}

#: dtypes timed per grid when none are asked for
DTYPES = {"full": ("float32", "float64"), "default": ("float32", "float64"),
          "quick": ("float64",), "tiny": ("float64",)}

#: ``numbaconv bench --opencv``: name -> (image sides, kernel sides); 2-D 'same', each side
#: with a Gaussian and a random kernel, float32 and float64 unless --dtype says otherwise
OPENCV_GRIDS = {
    "full": ((256, 1024, 4096), (3, 7, 15, 31)),
    "quick": ((128, 512), (3, 7, 15)),
    "tiny": ((32,), (3, 4)),
}
#: the kernels of the OpenCV grid: separable and symmetric, and dense
OPENCV_KERNELS = ("gaussian", "random")

SEED = 20240601


@dataclasses.dataclass(frozen=True)
class Cell:
    """One grid cell: a signal of ``n`` (1-D) or ``n x n`` (2-D) samples."""

    ndim: int
    n: int
    k: int
    dtype: str
    mode: str
    separable: bool = False
    #: ``'random'`` (normal values; rank 1 when ``separable``) or ``'gaussian'``
    kernel: str = "random"

    @property
    def shape_a(self) -> tuple:
        return (self.n,) * self.ndim

    @property
    def shape_k(self) -> tuple:
        return (self.k,) * self.ndim

    @property
    def size(self) -> int:
        return self.n ** self.ndim

    @property
    def taps(self) -> int:
        return self.k ** self.ndim

    def label(self) -> str:
        if self.ndim == 1:
            return f"1-D n={self.n:,} k={self.k}"
        return f"2-D {self.n}\u00b2 k={self.k}\u00b2"


def build_grid(grid: str = "quick", dtypes=None, ndims=(1, 2), modes=(None, None),
               separable: bool = False) -> list:
    """The cells of the named grid.

    ``modes`` is ``(mode_1d, mode_2d)``; ``None`` takes ``'full'`` for 1-D
    (SciPy's default) and ``'same'`` for 2-D (images).

    Examples
    --------
    >>> from numbaconv._tools.grids import build_grid
    >>> [c.label() for c in build_grid("tiny")]
    ['1-D n=1,000 k=3', '1-D n=1,000 k=31', '2-D 32² k=3²']
    """
    ns, ks, sides, kks = GRIDS[grid]
    mode1 = modes[0] or "full"
    mode2 = modes[1] or "same"
    cells = []
    for dt in DTYPES[grid] if dtypes is None else dtypes:
        if 1 in ndims:
            cells += [Cell(1, n, k, dt, mode1) for n in ns for k in ks if k <= n]
        if 2 in ndims:
            cells += [Cell(2, s, k, dt, mode2, separable) for s in sides for k in kks if k <= s]
    return cells


def build_opencv_grid(grid: str = "full", dtypes=("float32", "float64")) -> list:
    """The cells of ``numbaconv bench --opencv``: 2-D 'same', Gaussian and random kernels.

    Examples
    --------
    >>> from numbaconv._tools.grids import build_opencv_grid
    >>> [(c.label(), c.kernel) for c in build_opencv_grid("tiny", ["float32"])]
    [('2-D 32² k=3²', 'gaussian'), ('2-D 32² k=3²', 'random'), ('2-D 32² k=4²', 'gaussian'), \
('2-D 32² k=4²', 'random')]
    >>> len(build_opencv_grid("full"))
    48
    """
    sides, kks = OPENCV_GRIDS[grid]
    return [Cell(2, s, k, dt, "same", kind == "gaussian", kind)
            for dt in dtypes for s in sides for k in kks if k <= s for kind in OPENCV_KERNELS]


def gaussian_kernel(k: int, dtype="float64", sigma: float | None = None):
    """A ``k x k`` Gaussian that sums to 1: ``outer(g, g)``, rank 1 and symmetric.

    ``sigma`` defaults to OpenCV's formula for a kernel of that size
    (``cv2.getGaussianKernel`` with ``sigma <= 0``, which uses fixed tables
    up to 7 taps instead): ``0.3 * ((k - 1) / 2 - 1) + 0.8``.

    >>> g = gaussian_kernel(5)
    >>> g.shape, bool(abs(g.sum() - 1) < 1e-12), bool((g == g.T).all() and (g == g[::-1]).all())
    ((5, 5), True, True)
    """
    if sigma is None:
        sigma = 0.3 * ((k - 1) * 0.5 - 1) + 0.8
    x = np.arange(k) - (k - 1) / 2
    g = np.exp(-x * x / (2 * sigma * sigma))
    g /= g.sum()
    return np.outer(g, g).astype(dtype)


def draw(rng, shape, dtype):
    """Standard normal values of ``dtype`` (small integers for integer types) from ``rng``."""
    dt = np.dtype(dtype)
    if dt.kind == "c":
        x = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    elif dt.kind in "iu":
        x = rng.integers(-8 if dt.kind == "i" else 0, 8, size=shape)
    else:
        x = rng.standard_normal(shape)
    return x.astype(dt)


def inputs(shape_a, shape_k, dtype, *, separable: bool = False, seed: int = SEED):
    """A reproducible signal and kernel (:func:`draw`); ``separable`` makes a 2-D kernel rank 1."""
    rng = np.random.default_rng(seed)
    a = draw(rng, tuple(shape_a), dtype)
    if separable and len(shape_k) == 2:
        kern = (draw(rng, (shape_k[0], 1), dtype) * draw(rng, (1, shape_k[1]), dtype)).astype(dtype)
    else:
        kern = draw(rng, tuple(shape_k), dtype)
    return a, kern


def make_inputs(cell: Cell, seed: int = SEED):
    """Signal and kernel of ``cell`` (see :func:`inputs`; :func:`gaussian_kernel` for a Gaussian)."""
    if cell.kernel == "gaussian":
        a = draw(np.random.default_rng(seed), cell.shape_a, cell.dtype)
        return a, gaussian_kernel(cell.k, cell.dtype)
    return inputs(cell.shape_a, cell.shape_k, cell.dtype, separable=cell.separable, seed=seed)
