"""What every gallery script shares: its command line and how it saves a picture.

Matplotlib is imported here only when a figure is made, and only its
object-oriented ``Figure`` (the Agg canvas, no ``pyplot``): a script that
saves pictures never opens a window, and importing a script plots nothing.
"""
from __future__ import annotations

import argparse
import io
import pathlib

import numpy as np

#: resolution of every gallery picture; with the sizes below, a few tens of KB each
DPI = 80
#: the gallery's scripts, in the order of docs/gallery.md; each has ``main(save=None)``
EXAMPLES = ("dice_and_drops", "echo_and_reverb", "image_filters", "from_dense_to_conv",
            "convolution_theorem")


def parser(description):
    """Return the gallery's command line parser: ``--save DIR`` writes the pictures there.

    A script adds its own options to it before parsing.

    Parameters
    ----------
    description : str
        The script's docstring, shown by ``--help``.

    Returns
    -------
    argparse.ArgumentParser
        Its ``save`` is the directory as a :class:`pathlib.Path`, or ``None``.

    Examples
    --------
    >>> parser("demo").parse_args([]).save is None
    True
    >>> parser("demo").parse_args(["--save", "out"]).save.name
    'out'
    """
    cli = argparse.ArgumentParser(description=description,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--save", type=pathlib.Path, default=None, metavar="DIR",
                     help="write the script's PNG pictures into DIR (created if missing)")
    return cli


def new_figure(width, height):
    """Return an empty matplotlib ``Figure`` of ``width`` x ``height`` inches, drawn by Agg.

    Parameters
    ----------
    width, height : float
        The size in inches (at :data:`DPI` dots per inch).

    Returns
    -------
    matplotlib.figure.Figure
        A figure that belongs to no window.

    Examples
    --------
    >>> fig = new_figure(4, 3)
    >>> fig.get_size_inches().tolist()
    [4.0, 3.0]
    """
    from matplotlib.figure import Figure
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def image_panel(ax, image, title, cmap="gray", signed=False):
    """Show a 2-D array on ``ax`` as a picture with a title and no axes.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Where to draw.
    image : ndarray
        2-D values.
    title : str
        The panel's title.
    cmap : str, optional
        Matplotlib colour map.
    signed : bool, optional
        Centre the colour map on zero, so that equal steps up and down get
        equally strong colours.

    Examples
    --------
    >>> import numpy as np
    >>> ax = new_figure(2, 2).subplots()
    >>> image_panel(ax, np.eye(3), "identity")
    >>> ax.get_title()
    'identity'
    """
    limit = float(np.abs(image).max()) if signed else None
    ax.imshow(image, cmap=cmap, interpolation="nearest", vmin=limit and -limit, vmax=limit)
    ax.set_title(title, fontsize="medium")
    ax.set_axis_off()


def save_figure(fig, directory, name):
    """Write ``fig`` as ``directory/name`` (PNG) and return the path.

    The PNG has a palette of 128 colours and carries no software version or
    date, so that it stays small and a rerun on another machine changes the
    file only where the picture changed.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to write.
    directory : str or pathlib.Path
        Where to write it; created if missing.
    name : str
        The file's name, ending in ``.png``.

    Returns
    -------
    pathlib.Path
        The file written.

    Examples
    --------
    >>> import tempfile
    >>> fig = new_figure(2, 2)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     save_figure(fig, d, "empty.png").stat().st_size > 0
    True
    """
    from PIL import Image                      # Pillow comes with matplotlib

    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    # a palette of 128 colours keeps line plots and grey images sharp at a third of the bytes
    with Image.open(buffer) as picture:
        picture.convert("RGB").quantize(colors=128).save(path, optimize=True)
    return path
