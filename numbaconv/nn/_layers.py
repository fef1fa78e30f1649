"""Small stateful convolution layers, initialised like ``torch.nn.Conv1d``/``Conv2d``."""
from __future__ import annotations

import math

import numpy as np

from ._functional import PADDING_MODES, conv1d, conv2d

__all__ = ["Conv1d", "Conv2d"]


class _ConvNd:
    """A weight, an optional bias and the convolution's parameters, for ``n`` spatial axes."""

    _n = 0
    _fn = None

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", dtype=np.float32, rng=None):
        n = self._n
        kernel = tuple(kernel_size) if isinstance(kernel_size, (tuple, list)) else (kernel_size,) * n
        if len(kernel) != n or any(int(k) != k or k < 1 for k in kernel):
            raise ValueError(f"kernel_size must be a positive int or {n} of them, got {kernel_size!r}")
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"in_channels and out_channels must be positive, got {in_channels} "
                             f"and {out_channels}")
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"in_channels ({in_channels}) and out_channels ({out_channels}) must "
                             f"both be divisible by groups ({groups})")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {sorted(PADDING_MODES)}, "
                             f"got {padding_mode!r}")
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"padding must be an int, a tuple, 'valid' or 'same', "
                                 f"got {padding!r}")
            strides = tuple(stride) if isinstance(stride, (tuple, list)) else (stride,)
            if padding == "same" and any(s != 1 for s in strides):
                raise ValueError("padding='same' is not supported for strided convolutions: "
                                 "use stride=1 or give the padding as numbers")
        dtype = np.dtype(dtype)
        if dtype.type not in (np.float16, np.float32, np.float64):
            raise TypeError(f"dtype must be float16, float32 or float64, got {dtype}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = tuple(int(k) for k in kernel)
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.groups, self.padding_mode = int(groups), padding_mode
        rng = np.random.default_rng(rng)
        fan_in = in_channels // groups * math.prod(self.kernel_size)
        # torch's kaiming_uniform_(a=sqrt(5)): gain sqrt(1/3), bound sqrt(3)*gain/sqrt(fan_in)
        bound = 1.0 / math.sqrt(fan_in)
        shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = rng.uniform(-bound, bound, shape).astype(dtype)
        self.bias = rng.uniform(-bound, bound, out_channels).astype(dtype) if bias else None

    @property
    def parameter_count(self):
        """The number of trainable values: the weight's and the bias's."""
        return self.weight.size + (0 if self.bias is None else self.bias.size)

    def __call__(self, x):
        """Apply the layer to ``x`` (batched or unbatched); the result has ``x``'s dtype."""
        return type(self)._fn(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                              self.groups, padding_mode=self.padding_mode)

    def __repr__(self):
        extra = "" if self.bias is not None else ", bias=False"
        extra += "" if self.padding_mode == "zeros" else f", padding_mode={self.padding_mode!r}"
        return (f"{type(self).__name__}({self.in_channels}, {self.out_channels}, "
                f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding!r}, "
                f"dilation={self.dilation}, groups={self.groups}{extra})")


class Conv1d(_ConvNd):
    """A 1-D convolution layer holding ``weight`` and ``bias``, like ``torch.nn.Conv1d``.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and of the output.
    kernel_size : int or tuple of int
        The kernel's length.
    stride, padding, dilation, groups, padding_mode
        As in :func:`numbaconv.nn.conv1d`.
    bias : bool, optional
        Whether the layer adds a learnt bias.
    dtype : dtype, optional
        The parameters' dtype (float32 by default, like torch).
    rng : int or numpy.random.Generator, optional
        Seed or generator for the initial values.

    Attributes
    ----------
    weight : ndarray
        ``(out_channels, in_channels / groups, k)``, uniform in
        ``±1/sqrt(fan_in)`` (torch's Kaiming-uniform with ``a = sqrt(5)``).
    bias : ndarray or None
        ``(out_channels,)``, uniform in ``±1/sqrt(fan_in)``.

    Examples
    --------
    >>> import numpy as np
    >>> from numbaconv.nn import Conv1d
    >>> layer = Conv1d(2, 4, 3, padding=1, rng=0)
    >>> layer.weight.shape, layer.parameter_count
    ((4, 2, 3), 28)
    >>> layer(np.zeros((8, 2, 10), np.float32)).shape
    (8, 4, 10)
    """

    _n = 1
    _fn = staticmethod(conv1d)


class Conv2d(_ConvNd):
    """A 2-D convolution layer holding ``weight`` and ``bias``, like ``torch.nn.Conv2d``.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and of the output.
    kernel_size : int or tuple of int
        The kernel's height and width.
    stride, padding, dilation, groups, padding_mode
        As in :func:`numbaconv.nn.conv2d`.
    bias : bool, optional
        Whether the layer adds a learnt bias.
    dtype : dtype, optional
        The parameters' dtype (float32 by default, like torch).
    rng : int or numpy.random.Generator, optional
        Seed or generator for the initial values.

    Attributes
    ----------
    weight : ndarray
        ``(out_channels, in_channels / groups, kH, kW)``, uniform in
        ``±1/sqrt(fan_in)`` (torch's Kaiming-uniform with ``a = sqrt(5)``).
    bias : ndarray or None
        ``(out_channels,)``, uniform in ``±1/sqrt(fan_in)``.

    Examples
    --------
    >>> import numpy as np
    >>> from numbaconv.nn import Conv2d
    >>> layer = Conv2d(3, 8, 3, stride=2, padding=1, rng=0)
    >>> layer.parameter_count
    224
    >>> layer(np.ones((3, 32, 32), np.float32)).shape
    (8, 16, 16)
    """

    _n = 2
    _fn = staticmethod(conv2d)
