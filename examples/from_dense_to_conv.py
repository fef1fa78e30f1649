"""Layers: from a fully connected layer to a convolution, and a convolution that learns.

A fully connected layer from a 1000x1000 image to a 1000x1000 hidden image
has a weight for every pair of pixels: 10^12 of them.  *Translation
invariance* (a pattern means the same wherever it appears) makes the weight
depend only on the offset between the two pixels: (2 * 1000 - 1)^2, about
4 * 10^6.  *Locality* (only pixels within a distance of 5 matter) leaves
11 x 11 = 121: a convolution kernel.

``numbaconv.nn`` runs such layers with torch's conventions (stride, padding,
dilation), and its gradient helper ``conv2d_weight`` is all that gradient
descent needs to learn a kernel: starting from zeros, a 3x3 layer trained to
reproduce Sobel's edge detector on random images becomes Sobel's kernel.
``--save docs/gallery`` writes the training picture.
"""
from __future__ import annotations

import numpy as np
import scipy.signal

import numbaconv
import numbaconv.nn
from _gallery import image_panel, new_figure, parser, save_figure

#: the image side and the locality radius of the parameter count
SIDE, RADIUS = 1000, 5
#: Sobel's horizontal kernel as a layer weight (torch's conv2d correlates: no flip)
SOBEL = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
#: the shapes whose outputs are checked: input, weight, stride, padding, dilation
LAYERS = (((2, 3, 64, 50), (8, 3, 5, 3), (2, 3), (2, 1), (1, 2)),
          ((1, 4, 33, 33), (6, 4, 3, 3), 1, 0, 1),
          ((3, 2, 40, 31), (4, 2, 3, 5), (3, 1), (0, 4), (3, 2)))


def parameter_counts(side=SIDE, radius=RADIUS):
    """Count the weights of a layer from a ``side`` x ``side`` image to another, per assumption.

    Parameters
    ----------
    side : int, optional
        The image's side in pixels.
    radius : int, optional
        How far (in pixels, along each axis) the local layer looks.

    Returns
    -------
    dict
        ``dense`` (every pair of pixels), ``shared`` (a weight per offset:
        translation invariance), ``local`` (and only offsets up to ``radius``).

    Examples
    --------
    >>> parameter_counts(3, 1)
    {'dense': 81, 'shared': 25, 'local': 9}
    """
    pixels = side * side
    return {"dense": pixels * pixels, "shared": (2 * side - 1) ** 2, "local": (2 * radius + 1) ** 2}


def layer_matrix(kernel, side):
    """Return the dense matrix of convolving a ``side`` x ``side`` image with ``kernel`` ('same').

    Column ``p`` is the layer's answer to an image that is 1 at pixel ``p``
    and 0 elsewhere.

    Parameters
    ----------
    kernel : ndarray
        2-D, odd sides.
    side : int
        The image's side.

    Returns
    -------
    ndarray
        ``(side**2, side**2)``.

    Examples
    --------
    >>> layer_matrix(np.array([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]), 2)
    array([[1., 0., 0., 0.],
           [0., 1., 0., 0.],
           [0., 0., 1., 0.],
           [0., 0., 0., 1.]])
    """
    columns = []
    for p in range(side * side):
        basis = np.zeros(side * side)
        basis[p] = 1.0
        columns.append(numbaconv.convolve2d(basis.reshape(side, side), kernel, mode="same").ravel())
    return np.stack(columns, axis=1)


def output_size(n, kernel, stride, padding, dilation):
    """Return the output length along one axis: floor((n + 2p - d(k - 1) - 1) / s) + 1.

    Parameters
    ----------
    n, kernel, stride, padding, dilation : int
        The input's length and the layer's parameters along that axis.

    Returns
    -------
    int
        How many positions the kernel takes.

    Examples
    --------
    >>> output_size(64, 5, 2, 2, 1)
    32
    """
    return (n + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def reference_conv2d(x, w, stride, padding, dilation):
    """Compute torch's conv2d (no bias, one group) as a sum over the taps, each a strided slice.

    Parameters
    ----------
    x : ndarray
        ``(N, C_in, H, W)``.
    w : ndarray
        ``(C_out, C_in, kH, kW)``.
    stride, padding, dilation : tuple of int
        Per spatial axis.

    Returns
    -------
    ndarray
        ``(N, C_out, H_out, W_out)`` in float64.

    Examples
    --------
    >>> reference_conv2d(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)), (1, 1), (0, 0), (1, 1))
    array([[[[4., 4.],
             [4., 4.]]]])
    """
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    kh, kw = w.shape[2:]
    padded = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh = output_size(x.shape[2], kh, sh, ph, dh)
    ow = output_size(x.shape[3], kw, sw, pw, dw)
    out = np.zeros((x.shape[0], w.shape[0], oh, ow))
    for i in range(kh):
        for j in range(kw):
            window = padded[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw]
            out += np.einsum("nchw,oc->nohw", window, w[:, :, i, j])
    return out


def pair(value):
    """Return ``value`` as a pair (one int for both axes, as torch takes it).

    Examples
    --------
    >>> pair(2), pair((1, 3))
    ((2, 2), (1, 3))
    """
    return tuple(value) if isinstance(value, tuple) else (value, value)


def training_images(count=16, side=32, seed=0):
    """Make random images: a few bright and dark rectangles over white noise.

    Parameters
    ----------
    count, side : int, optional
        How many images, and their side (at least 10).
    seed : int, optional
        Seed of the generator.

    Returns
    -------
    ndarray
        ``(count, 1, side, side)``, float64.

    Examples
    --------
    >>> training_images(2, 16).shape
    (2, 1, 16, 16)
    """
    rng = np.random.default_rng(seed)
    images = rng.standard_normal((count, 1, side, side))
    for image in images:
        for _ in range(4):
            top, left = rng.integers(0, side - 4, size=2)
            height, width = rng.integers(4, side // 2, size=2)
            image[0, top:top + height, left:left + width] += rng.choice([-2.0, 2.0])
    return images


def learn_kernel(images, target_kernel=SOBEL, steps=60):
    """Fit a 3x3 kernel, from zeros, to reproduce ``target_kernel``'s output by gradient descent.

    The loss is half the mean squared error between the layer's output and
    the target's; its gradient with respect to the weight is
    :func:`numbaconv.nn.conv2d_weight` of the images and the output's error.

    Parameters
    ----------
    images : ndarray
        ``(N, 1, H, W)``.
    target_kernel : ndarray, optional
        The 3x3 kernel to learn (as a correlation, like torch's).
    steps : int, optional
        Gradient steps.

    Returns
    -------
    weight : ndarray
        ``(1, 1, 3, 3)``, the learnt kernel.
    losses : ndarray
        The loss before each step and after the last (``steps + 1`` values).

    Examples
    --------
    >>> w, losses = learn_kernel(training_images(4, 16), steps=5)
    >>> w.shape, bool(losses[-1] < losses[0])
    ((1, 1, 3, 3), True)
    """
    # the target from SciPy, image by image: an oracle independent of the layer being trained
    target = np.stack([[scipy.signal.correlate2d(img[0], target_kernel, mode="valid")]
                       for img in images])
    weight = np.zeros((1, 1) + target_kernel.shape)
    # the loss is quadratic in the weight, its Hessian the mean outer product of the input patches;
    # 2 / (smallest + largest eigenvalue) is the fastest fixed step for such a loss
    patches = np.lib.stride_tricks.sliding_window_view(images, target_kernel.shape, axis=(2, 3))
    patches = patches.reshape(-1, target_kernel.size)
    curvature = np.linalg.eigvalsh(patches.T @ patches / len(patches))
    rate = 2.0 / (curvature[0] + curvature[-1])
    losses = []
    for step in range(steps + 1):
        error = numbaconv.nn.conv2d(images, weight) - target
        losses.append(0.5 * np.mean(error ** 2))
        if step < steps:
            weight = weight - rate * numbaconv.nn.conv2d_weight(images, weight.shape, error / error.size)
    return weight, np.array(losses)


def plot(weight, losses, directory):
    """Draw the loss as training goes and the learnt kernel beside Sobel's; return the PNG's path."""
    fig = new_figure(9, 3.0)
    ax_loss, ax_learnt, ax_target = fig.subplots(1, 3, width_ratios=(1.6, 1, 1))
    ax_loss.semilogy(losses, marker=".", color="C0")
    ax_loss.set(title="training loss", xlabel="gradient step", ylabel="½ mean squared error")
    for ax, kernel, title in ((ax_learnt, weight[0, 0], f"learnt from zeros, {len(losses) - 1} steps"),
                              (ax_target, SOBEL, "Sobel (the target)")):
        image_panel(ax, kernel, title, "RdBu_r", signed=True)
        for (i, j), v in np.ndenumerate(kernel):
            # + 0.0 turns a rounded -0.0 into 0.0
            ax.text(j, i, f"{round(v, 3) + 0.0:.3f}", ha="center", va="center", fontsize="small",
                    color="white" if abs(v) > 1.5 else "black")
    return save_figure(fig, directory, "from_dense_to_conv.png")


def main(save=None):
    """Count the parameters, check a layer's output shapes and values, and learn Sobel's kernel.

    Parameters
    ----------
    save : str or pathlib.Path, optional
        Directory for ``from_dense_to_conv.png``; nothing is plotted without it.

    Returns
    -------
    dict
        ``counts`` (:func:`parameter_counts`), ``shapes`` (the checked
        output shapes), ``weight`` and ``losses`` (:func:`learn_kernel`),
        ``figure`` (the PNG's path or ``None``).

    Examples
    --------
    >>> main()["counts"]["local"]                  # doctest: +SKIP
    121
    """
    counts = parameter_counts()
    assert counts == {"dense": 10 ** 12, "shared": 1999 ** 2, "local": 11 ** 2}
    assert 3.99e6 < counts["shared"] < 4e6

    # the same counts read off a real layer's matrix, on an image small enough to hold it
    side, rng = 12, np.random.default_rng(1)
    small = parameter_counts(side)
    shared = rng.standard_normal((2 * side - 1, 2 * side - 1))    # a weight per offset, all distinct
    matrix = layer_matrix(shared, side)
    assert matrix.size == small["dense"]
    assert np.unique(matrix).size == small["shared"], "every offset's weight appears"
    local = np.zeros_like(shared)
    centre = slice(side - 1 - RADIUS, side + RADIUS)
    local[centre, centre] = shared[centre, centre]
    matrix = layer_matrix(local, side)
    assert np.unique(matrix[matrix != 0]).size == small["local"] == 121

    shapes = []
    for x_shape, w_shape, stride, padding, dilation in LAYERS:
        x = rng.standard_normal(x_shape).astype(np.float32)
        layer = numbaconv.nn.Conv2d(x_shape[1], w_shape[0], w_shape[2:], stride=stride, padding=padding,
                                    dilation=dilation, bias=False, rng=2)
        y = layer(x)
        s, p, d = pair(stride), pair(padding), pair(dilation)
        expected = x_shape[:1] + (w_shape[0],) + tuple(
            output_size(n, k, *args) for n, k, args in zip(x_shape[2:], w_shape[2:], zip(s, p, d)))
        assert y.shape == expected and y.dtype == np.float32, (y.shape, expected)
        np.testing.assert_allclose(y, reference_conv2d(x, layer.weight, s, p, d), rtol=1e-4, atol=1e-4)
        shapes.append(y.shape)

    images = training_images()
    weight, losses = learn_kernel(images)
    # the gradient helper agrees with finite differences of the loss (it is quadratic: exactly)
    probe = np.random.default_rng(3).standard_normal((1, 1, 3, 3))
    target = numbaconv.nn.conv2d(images, SOBEL[None, None])
    error = numbaconv.nn.conv2d(images, probe) - target
    gradient = numbaconv.nn.conv2d_weight(images, probe.shape, error / error.size)
    h, tap = 1e-3, np.zeros_like(probe)
    tap[0, 0, 1, 2] = h
    loss = [0.5 * np.mean((numbaconv.nn.conv2d(images, probe + sign * tap) - target) ** 2)
            for sign in (1, -1)]
    assert abs((loss[0] - loss[1]) / (2 * h) - gradient[0, 0, 1, 2]) < 1e-6 * abs(gradient).max()

    assert losses[-1] < 1e-8 * losses[0], losses[[0, -1]]
    np.testing.assert_allclose(weight[0, 0], SOBEL, atol=1e-3)

    figure = plot(weight, losses, save) if save else None
    return {"counts": counts, "shapes": shapes, "weight": weight, "losses": losses, "figure": figure}


if __name__ == "__main__":
    args = parser(__doc__).parse_args()
    result = main(args.save)
    for name, count in result["counts"].items():
        print(f"{name:>6} layer on a {SIDE}x{SIDE} image: {count:,} weights")
    print("Conv2d output shapes:", result["shapes"])
    print(f"loss {result['losses'][0]:.3g} -> {result['losses'][-1]:.3g} in "
          f"{len(result['losses']) - 1} steps; learnt kernel:")
    print(np.round(result["weight"][0, 0], 4))
    if result["figure"]:
        print("wrote", result["figure"])
