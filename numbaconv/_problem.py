"""The array-free description of one convolution, and pure shape helpers.

Every public function reduces its call to one canonical operation, which all
backends implement::

    out[i] = sum_j A[i + j + origin - (K.shape - 1)] * K[j]      (per axis)

that is: *correlate* ``A`` with the prepared kernel ``K`` and keep the window
of the full result that starts at ``origin``.  Convolution passes a flipped
view of the kernel, correlation a conjugated one; ``'valid'`` swaps are done
before.  Positions of ``A`` outside its bounds take the ``boundary`` rule.
Axes that are not convolved (``fftconvolve(..., axes=...)``) broadcast.

A :class:`Problem` carries the shapes, dtypes and flags of such an operation
and nothing else, so that the dispatcher is a pure function of it.
"""
from __future__ import annotations

import collections.abc
import dataclasses
import functools
import math
import typing

import numpy as np

MODES = ("full", "same", "valid")
BOUNDARIES = {"fill": "fill", "pad": "fill", "wrap": "wrap", "circular": "wrap",
              "symm": "symm", "symmetric": "symm"}


@dataclasses.dataclass(frozen=True)
class Problem:
    """Array-free description of one canonical correlation.

    Attributes
    ----------
    shape_a, shape_k : tuple of int
        Shapes of the signal ``A`` and the prepared kernel ``K`` (same rank).
    axes : tuple of int
        The axes that are correlated; the others broadcast (size 1 or equal).
    origin : tuple of int
        Per axis, where the output window starts in the full result.
    out_shape : tuple of int
        The shape of the result.
    dtype : numpy.dtype
        ``np.result_type`` of the inputs: what an exact method returns.
    boundary : str
        ``'fill'``, ``'wrap'`` or ``'symm'``.
    fillvalue : scalar
        The value outside ``A`` for ``boundary='fill'``; for integer dtypes
        a Python int in int64's range, equal to the value modulo 2**64
        (integers are computed in int64).
    device : str
        ``'cpu'`` or ``'cuda'``: where the arrays live.
    finite : bool or None
        Whether all input values are finite (``None``: not checked, assume
        they may not be).
    int_bound : float
        For integer inputs, an upper bound of ``|A|max * |K|max * taps``;
        ``inf`` when unknown, 0 for non-integers.
    fft_in_range : bool
        Whether an FFT's intermediate sums stay inside the float range
        (:meth:`numbaconv._probes.Probes.fft_in_range`); assumed until probed.
    separable : bool
        Whether the 2-D kernel has numerical rank 1 (see
        :func:`numbaconv._backends.cpu_separable.rank1_factors`).
    fill_products : bool
        Whether positions outside ``A`` take part in the products with the
        fill value, as in SciPy's ``convolve2d`` (where ``0 * inf`` makes
        NaN), rather than being left out as in ``convolve``.  Only a
        non-finite kernel can tell the two apart; ``convolve2d`` sets it then.
    host_io : bool
        Whether the inputs are host (NumPy) arrays and the result goes back
        to the host.  On ``device='cuda'`` the cost model then adds the
        copies to the device and back; it is what ``device='auto'`` asks of
        the GPU when it weighs running host arrays there.
    """

    #: what the backends compute: SciPy's correlation (``'layer'``: :class:`LayerProblem`)
    operation: typing.ClassVar[str] = "signal"

    shape_a: tuple
    shape_k: tuple
    axes: tuple
    origin: tuple
    out_shape: tuple
    dtype: np.dtype
    boundary: str = "fill"
    fillvalue: object = 0
    device: str = "cpu"
    finite: bool | None = True
    int_bound: float = 0.0
    separable: bool = False
    host_io: bool = False
    fill_products: bool = False
    fft_in_range: bool = True

    @property
    def ndim(self) -> int:
        return len(self.shape_a)

    @property
    def all_axes(self) -> bool:
        """True when every axis is correlated (no broadcast batch axes)."""
        return len(self.axes) == self.ndim

    @property
    def zero_fill(self) -> bool:
        """Zero fill that the kernels may skip (no product with the fill region)."""
        return self.boundary == "fill" and self.fillvalue == 0 and not self.fill_products

    @functools.cached_property
    def offsets(self) -> tuple:
        """Per axis, ``origin - (k - 1)``: where output 0's window starts in ``A``."""
        return tuple(o - (k - 1) for o, k in zip(self.origin, self.shape_k))

    @property
    def taps(self) -> int:
        """Kernel elements along the correlated axes."""
        return math.prod(self.shape_k[ax] for ax in self.axes)

    @property
    def outputs(self) -> int:
        return math.prod(self.out_shape)

    @property
    def macs(self) -> float:
        """Multiply-adds of the direct method: the one count the cost model and the tools share.

        Products with the zero fill outside the signal are not counted (the
        kernels skip them), so 'full' and 'same' edges count less than
        ``outputs * taps``.
        """
        return float(math.prod(self.macs_along(ax) for ax in self.axes))

    def macs_along(self, ax: int) -> float:
        """Pairs (output index, tap) along axis ``ax`` whose input lies inside the signal:
        :attr:`macs` is their product over the correlated axes."""
        return _overlap_count(self.shape_a[ax], self.shape_k[ax], self.out_shape[ax],
                              self.offsets[ax])

    @property
    def kind(self) -> str:
        """``'b'``, ``'i'``, ``'u'``, ``'f'`` or ``'c'``, from :attr:`dtype`."""
        return self.dtype.kind

    def fft_shape(self, real: bool = True) -> tuple:
        """Fast transform lengths along :attr:`axes` for the full result."""
        from scipy.fft import next_fast_len
        return tuple(next_fast_len(self.shape_a[ax] + self.shape_k[ax] - 1, real)
                     for ax in self.axes)

    @functools.lru_cache(maxsize=1024)
    def window_fft_shape(self, real: bool = True) -> tuple:
        """Fast transform lengths along :attr:`axes` that still give the output window exactly.

        A circular convolution of length ``L`` adds ``full[i + L]`` and
        ``full[i - L]`` to ``full[i]``.  For the window ``[o, o + m)`` of a
        full result of length ``F`` both vanish when ``L >= F - o`` and
        ``L >= o + m``; ``L`` must also hold both operands.  'same' needs
        about ``n + k/2`` instead of ``n + k - 1``, 'valid' only ``n``.
        Memoised: the cost model prices it for every candidate and each run needs it.
        """
        from scipy.fft import next_fast_len
        out = []
        for ax in self.axes:
            n, k = self.shape_a[ax], self.shape_k[ax]
            o, m = self.origin[ax], self.out_shape[ax]
            need = max(n + k - 1 - o, o + m, n, k)
            out.append(next_fast_len(need, real))
        return tuple(out)


# --------------------------------------------------------------------------
# pure shape helpers
# --------------------------------------------------------------------------

def _overlap_count(n, k, o, lo) -> float:
    """Pairs (output ``i < o``, tap ``j < k``) whose input ``i + lo + j`` lies in ``[0, n)``.

    Grouped by ``d = lo + j``: ``f(d) = max(0, min(o, n, o + d, n - d))``
    inputs, linear between its kinks, so each piece sums as a trapezoid.
    """
    def f(d):
        return max(0, min(o, n, o + d, n - d))
    hi = lo + k
    kinks = (-o, min(0, n - o), max(0, n - o), n)
    pts = sorted({lo, hi, *(p for p in kinks if lo < p < hi)})
    return float(sum((b - a) * (f(a) + f(b - 1)) for a, b in zip(pts, pts[1:])) // 2)


@dataclasses.dataclass(frozen=True)
class LayerProblem:
    """Array-free description of one convolutional-layer call (``numbaconv.nn``).

    The forward operation (``transposed=False``) is torch's ``conv*d`` on the
    input padded by ``pad`` and ``padding_mode`` (the backends receive it
    unpadded, so that one can pad while it copies anyway)::

        out[n, o, p] = sum_{c in group(o), t} x[n, c, p * stride + t * dilation] * w[o, c', t]

    The transposed one is its adjoint (``conv_transpose*d``, and the
    gradient with respect to the input): ``x`` is ``(N, C, *shape)`` with
    ``C = channels``, ``w`` is ``(C, out_channels / groups, *kernel)``, and
    the full adjoint is cropped to ``[start, start + out_shape)`` per axis.

    Attributes
    ----------
    batch, channels, out_channels, groups : int
        ``N``, input channels, output channels and groups.
    shape : tuple of int
        Spatial shape of the input (forward: after padding).
    kernel, stride, dilation : tuple of int
        Per spatial axis.
    out_shape : tuple of int
        Spatial shape of the result.
    dtype : numpy.dtype
        The compute dtype, float32 or float64.
    transposed : bool
        The adjoint operation (see above).
    start : tuple of int
        Transposed only: where the result starts in the full adjoint (the
        ``padding`` argument).
    pad : tuple of (int, int)
        Forward only: the padding before and after each spatial axis
        (empty: none).
    padding_mode : str
        Forward only: torch's ``'zeros'``, ``'reflect'``, ``'replicate'`` or
        ``'circular'``.
    device : str
        ``'cpu'`` or ``'cuda'``.
    finite : bool or None
        Whether input and weight are free of NaN/inf (``None``: not checked).
    """

    operation: typing.ClassVar[str] = "layer"
    #: the signal-problem flags the dispatcher's vetoes read: real floats, no rank-1 path
    kind: typing.ClassVar[str] = "f"
    int_bound: typing.ClassVar[float] = 0.0
    separable: typing.ClassVar[bool] = False
    host_io: typing.ClassVar[bool] = False

    batch: int
    channels: int
    out_channels: int
    groups: int
    shape: tuple
    kernel: tuple
    stride: tuple
    dilation: tuple
    out_shape: tuple
    dtype: np.dtype
    transposed: bool = False
    start: tuple = ()
    pad: tuple = ()
    padding_mode: str = "zeros"
    device: str = "cpu"
    finite: bool | None = None

    @property
    def ndim(self) -> int:
        """Number of spatial axes."""
        return len(self.kernel)

    @property
    def depthwise(self) -> bool:
        """One input channel per group (``groups == channels``)."""
        return self.groups == self.channels

    @property
    def taps(self) -> int:
        return math.prod(self.kernel)

    @property
    def macs(self) -> float:
        """Multiply-adds of the direct method (padding zeros included, as torch counts them)."""
        if self.transposed:
            return (float(self.batch) * self.channels * math.prod(self.shape)
                    * (self.out_channels // self.groups) * self.taps)
        return (float(self.batch) * self.out_channels * math.prod(self.out_shape)
                * (self.channels // self.groups) * self.taps)

    @property
    def dilated_kernel(self) -> tuple:
        """Per axis, the extent a dilated kernel covers: ``dilation * (kernel - 1) + 1``."""
        return tuple(d * (k - 1) + 1 for d, k in zip(self.dilation, self.kernel))


def check_mode(mode, message=None, *, lookup=False) -> str:
    """``mode`` if it is one of :data:`MODES`, else SciPy's ``ValueError`` naming the value given.

    ``message`` is the wording of the SciPy function being mirrored (they
    differ in capitals and full stops); the value given is appended unless
    that wording already names it.  ``lookup``: the SciPy function looks
    the mode up in a dict, so an unhashable one (a list) is a ``TypeError``.
    """
    if not isinstance(mode, str) or mode not in MODES:
        message = message or "Acceptable mode flags are 'valid', 'same', or 'full'."
        if "not mode=" not in message:
            message = f"{message.rstrip('.')}, not mode={mode!r}"
        if lookup and not isinstance(mode, collections.abc.Hashable):
            raise TypeError(message)
        raise ValueError(message)
    return mode


def check_boundary(boundary) -> str:
    """Return the canonical name of ``boundary`` ('fill', 'wrap' or 'symm'), or raise SciPy's error."""
    try:
        return BOUNDARIES[boundary]
    except (KeyError, TypeError):
        raise ValueError("Acceptable boundary flags are 'fill', 'circular' (or 'wrap'), "
                         f"and 'symmetric' (or 'symm'), not boundary={boundary!r}") from None


def inputs_swap_needed(mode, shape1, shape2, axes=None) -> bool:
    """Whether 'valid' mode needs ``in1`` and ``in2`` swapped (SciPy's rule)."""
    if mode != "valid":
        return False
    if not shape1:
        return False
    if axes is None:
        axes = range(len(shape1))
    ok1 = all(shape1[i] >= shape2[i] for i in axes)
    ok2 = all(shape2[i] >= shape1[i] for i in axes)
    if not (ok1 or ok2):
        raise ValueError("For 'valid' mode, one must be at least as large as the other in "
                         f"every dimension: in1 has shape {tuple(shape1)}, in2 {tuple(shape2)}; "
                         "use mode='same' or 'full', or crop one input so that it fits "
                         "inside the other")
    return not ok1


def origin_for(mode, k, same_start=None) -> int:
    """Start of the output window in the full result along one axis.

    ``same_start`` is the 'same' offset: ``(k - 1) // 2`` for convolve,
    correlate and convolve2d, ``k // 2`` for correlate2d (SciPy's centring).
    """
    if mode == "full":
        return 0
    if mode == "valid":
        return k - 1
    return (k - 1) // 2 if same_start is None else same_start


def out_len(mode, n, k) -> int:
    if mode == "full":
        return n + k - 1
    if mode == "same":
        return n
    return max(n - k + 1, 0)


def build_problem(shape_a, shape_k, mode, dtype, *, axes=None, same_odd_centre=True,
                  boundary="fill", fillvalue=0, device="cpu", finite=True,
                  int_bound=0.0, separable=False, host_io=False,
                  fill_products=False) -> Problem:
    """Make the :class:`Problem` for correlating ``A`` with a prepared ``K``.

    ``same_odd_centre=False`` selects correlate2d's 'same' centring (``k // 2``).
    Memoised (a Problem is immutable): repeated calls of one shape cost a lookup.
    """
    try:
        return _build_cached(tuple(shape_a), tuple(shape_k), mode, np.dtype(dtype),
                             None if axes is None else tuple(axes), same_odd_centre, boundary,
                             fillvalue, device, finite, int_bound, separable, bool(host_io),
                             bool(fill_products))
    except TypeError:  # an unhashable argument: build without the memo
        return _build(shape_a, shape_k, mode, dtype, axes, same_odd_centre, boundary,
                      fillvalue, device, finite, int_bound, separable, bool(host_io),
                      bool(fill_products))


def _build(shape_a, shape_k, mode, dtype, axes, same_odd_centre, boundary, fillvalue, device,
           finite, int_bound, separable, host_io=False, fill_products=False) -> Problem:
    ndim = len(shape_a)
    axes = tuple(range(ndim)) if axes is None else tuple(sorted(axes))
    origin, out_shape = [], []
    for ax in range(ndim):
        n, k = shape_a[ax], shape_k[ax]
        if ax in axes:
            same = None if same_odd_centre else k // 2
            origin.append(origin_for(mode, k, same))
            out_shape.append(out_len(mode, n, k))
        else:  # broadcast axis: SciPy centres 'same' on in1 here too
            full = max(n, k) if min(n, k) != 0 else 0
            keep = n if mode == "same" else full
            origin.append((full - keep) // 2)
            out_shape.append(keep)
    return Problem(tuple(shape_a), tuple(shape_k), axes, tuple(origin), tuple(out_shape),
                   np.dtype(dtype), boundary, fillvalue, device, finite, int_bound, separable,
                   host_io, fill_products)


_build_cached = functools.lru_cache(maxsize=512, typed=True)(_build)


def window(full, problem: Problem):
    """The output window of ``full`` (the full result) that ``problem`` asks for."""
    return full[tuple(slice(o, o + n) for o, n in zip(problem.origin, problem.out_shape))]


def fft_result_dtype(dt1, dt2) -> np.dtype:
    """The dtype ``scipy.signal.fftconvolve`` returns for inputs of these dtypes.

    ``scipy.fft`` keeps single and long double precision, computes half as
    single and everything else (bool, integers, objects) as double.
    """
    def one(dt):
        dt = np.dtype(dt)
        if dt.kind == "c":
            return dt
        if dt.kind == "f":
            return np.dtype(np.float32) if dt.itemsize <= 4 else dt
        return np.dtype(np.float64)
    return np.result_type(one(dt1), one(dt2))
