"""Images: blurring and edge detection are 2-D convolutions with small kernels.

Each output pixel is a weighted sum of the input pixels around it, the
weights being the kernel.  Equal weights (a 3x3 box of 1/9) average, so they
blur; weights of opposite sign ([-1, 1], Sobel) difference, so they answer
zero where the image is flat and strongly where it steps.  A Gaussian kernel
is the outer product of two 1-D Gaussians, so it runs as a pass along rows
and a pass along columns (numbaconv's ``separable`` path, 38 instead of 361
multiply-adds per pixel for 19x19).

The image is made here: a checkerboard, a gradient, a square and a disc.
``--save docs/gallery`` writes the before/after pictures.
"""
from __future__ import annotations

import numpy as np
import scipy.ndimage
import scipy.signal

import numbaconv
from _gallery import image_panel, new_figure, parser, save_figure

SIZE = 256
BACKGROUND = 0.2
#: the square: rows, columns and value
SQUARE = (slice(160, 224), slice(32, 96), 0.8)
#: the Gaussian blur's standard deviation and radius (3 sigma) in pixels
SIGMA, RADIUS = 3.0, 9
BOX = np.full((3, 3), 1 / 9)
#: Sobel's horizontal kernel, as a convolution kernel (flipped): out = right - left, smoothed 1-2-1
SOBEL_X = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])


def test_image(size=SIZE):
    """Draw a ``size`` x ``size`` image: checkerboard, horizontal gradient, square, disc.

    Parameters
    ----------
    size : int, optional
        Side in pixels, a multiple of 32.

    Returns
    -------
    ndarray of float64
        Values in [0, 1]; the background is :data:`BACKGROUND`.

    Examples
    --------
    >>> img = test_image(64)
    >>> img.shape, float(img.min()), float(img.max())
    ((64, 64), 0.0, 1.0)
    """
    half = size // 2
    img = np.full((size, size), BACKGROUND)
    rows, cols = np.indices((half, half))
    img[:half, :half] = ((rows // (size // 16) + cols // (size // 16)) % 2).astype(float)
    img[:half, half:] = np.linspace(0.0, 1.0, half)                     # left to right
    rows, cols, value = SQUARE if size == SIZE else (slice(half + 8, -8), slice(8, half - 8), 0.8)
    img[rows, cols] = value
    r, c = np.indices((half, half))
    img[half:, half:][(r - half / 2) ** 2 + (c - half / 2) ** 2 <= (0.3 * half) ** 2] = 1.0
    return img


def gaussian_kernel(sigma=SIGMA, radius=RADIUS):
    """Return a 2-D Gaussian kernel, the outer product of two normalised 1-D ones.

    Parameters
    ----------
    sigma : float, optional
        Standard deviation in pixels.
    radius : int, optional
        Taps on each side of the centre.

    Returns
    -------
    ndarray
        ``(2 radius + 1, 2 radius + 1)``, summing to 1.

    Examples
    --------
    >>> k = gaussian_kernel(1.0, 2)
    >>> k.shape, round(float(k.sum()), 12), bool(k[2, 2] == k.max())
    ((5, 5), 1.0, True)
    """
    x = np.arange(-radius, radius + 1)
    g = np.exp(-0.5 * (x / sigma) ** 2)
    g /= g.sum()
    return np.outer(g, g)


def plot(images, directory):
    """Draw the image before and after each filter, side by side; return the PNG's path."""
    fig = new_figure(9, 6.4)
    for ax, (title, img, cmap) in zip(fig.subplots(2, 3).flat, images):
        image_panel(ax, img, title, cmap, signed=cmap == "RdBu_r")
    return save_figure(fig, directory, "image_filters.png")


def main(save=None):
    """Blur the test image and find its edges; check each result; plot.

    Parameters
    ----------
    save : str or pathlib.Path, optional
        Directory for ``image_filters.png``; nothing is plotted without it.

    Returns
    -------
    dict
        ``image``, ``box``, ``difference`` (the [-1, 1] kernel), ``sobel_x``,
        ``sobel_y``, ``sobel`` (the gradient's magnitude), ``gaussian``, the
        ``gaussian_backend`` that :func:`numbaconv.explain` reported, and
        ``figure`` (the PNG's path or ``None``).

    Examples
    --------
    >>> main()["gaussian_backend"]             # doctest: +SKIP
    'cpu_separable'
    """
    img = test_image()
    inner = (slice(1, -1), slice(1, -1))
    # pixels whose whole 3x3 neighbourhood (mirrored at the border) has one value
    flat = scipy.ndimage.maximum_filter(img, 3) == scipy.ndimage.minimum_filter(img, 3)

    box = numbaconv.convolve2d(img, BOX, mode="same")
    np.testing.assert_allclose(box, scipy.signal.convolve2d(img, BOX, mode="same"), atol=1e-14)
    # averaging leaves flat regions alone, and with wrapped edges the mean of the whole image too
    np.testing.assert_allclose(box[inner][flat[inner]], img[inner][flat[inner]], atol=1e-14)
    wrapped = numbaconv.convolve2d(img, BOX, mode="same", boundary="wrap")
    assert abs(wrapped.mean() - img.mean()) < 1e-14

    # [-1, 1] as a correlation (no flip, as image code and torch write it): right minus left
    difference = numbaconv.correlate2d(img, [[-1.0, 1.0]], mode="valid")
    np.testing.assert_allclose(difference, np.diff(img, axis=1), atol=1e-15)

    # mirrored edges ('symm', ndimage's 'reflect'): the image's border is no step
    sobel_x = numbaconv.convolve2d(img, SOBEL_X, mode="same", boundary="symm")
    sobel_y = numbaconv.convolve2d(img, SOBEL_X.T, mode="same", boundary="symm")
    np.testing.assert_allclose(sobel_x, scipy.ndimage.sobel(img, axis=1, mode="reflect"), atol=1e-13)
    np.testing.assert_allclose(sobel_y, scipy.ndimage.sobel(img, axis=0, mode="reflect"), atol=1e-13)
    sobel = np.hypot(sobel_x, sobel_y)
    assert np.all(sobel[flat] < 1e-13), "Sobel must be zero on flat regions"
    # the square steps up by h from the left: both columns beside the step see 1 + 2 + 1 = 4 rows of h
    rows, cols, value = SQUARE
    step = value - BACKGROUND
    middle = slice(rows.start + 2, rows.stop - 2)
    np.testing.assert_allclose(sobel_x[middle, cols.start - 1:cols.start + 1], 4 * step, rtol=1e-12)
    # on the gradient (slope s per pixel) it is 4 x 2s everywhere inside
    slope = 1 / (SIZE // 2 - 1)
    np.testing.assert_allclose(sobel_x[2:SIZE // 2 - 2, SIZE // 2 + 2:-2], 8 * slope, rtol=1e-9)
    # the strong responses lie on the steps: a neighbourhood with a jump of more than 0.25
    steps = scipy.ndimage.maximum_filter(img, 3) - scipy.ndimage.minimum_filter(img, 3) > 0.25
    assert np.all(steps[sobel > 0.5 * sobel.max()])

    kernel = gaussian_kernel()
    choice = numbaconv.explain(img, kernel, mode="same")
    assert choice.method == "separable", str(choice)
    gaussian = numbaconv.convolve(img, kernel, mode="same")
    np.testing.assert_allclose(gaussian, scipy.signal.convolve2d(img, kernel, mode="same"), atol=1e-12)
    # SciPy's Gaussian filter with the same radius and zero padding is the same operation
    np.testing.assert_allclose(gaussian, scipy.ndimage.gaussian_filter(img, SIGMA, mode="constant",
                                                                       truncate=RADIUS / SIGMA),
                               atol=1e-12)

    figure = None
    if save:
        figure = plot((("original", img, "gray"), ("box blur, 3×3 of 1/9", box, "gray"),
                       (f"Gaussian σ = {SIGMA:g} ({choice.method})", gaussian, "gray"),
                       ("[-1, 1]: right − left", difference, "RdBu_r"),
                       ("Sobel x", sobel_x, "RdBu_r"), ("Sobel magnitude", sobel, "magma")), save)
    return {"image": img, "box": box, "difference": difference, "sobel_x": sobel_x,
            "sobel_y": sobel_y, "sobel": sobel, "gaussian": gaussian,
            "gaussian_backend": choice.backend, "figure": figure}


if __name__ == "__main__":
    args = parser(__doc__).parse_args()
    result = main(args.save)
    print("Gaussian blur:", numbaconv.explain(result["image"], gaussian_kernel(), mode="same"))
    print(f"Sobel magnitude: {result['sobel'].max():.2f} at most, 0 on flat regions")
    if result["figure"]:
        print("wrote", result["figure"])
