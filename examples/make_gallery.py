"""Run every gallery script, each checking its own results, and write all the pictures.

``python examples/make_gallery.py`` writes them into ``docs/gallery``
(``--save DIR`` elsewhere).  The timings of ``convolution_theorem`` are
those of the machine it runs on: say which machine when the picture is
committed.
"""
from __future__ import annotations

import importlib
import pathlib
import time

from _gallery import EXAMPLES, parser

DEFAULT = pathlib.Path(__file__).resolve().parents[1] / "docs" / "gallery"


def main(save=DEFAULT):
    """Run each script's ``main(save)`` in turn and return the pictures written.

    Parameters
    ----------
    save : str or pathlib.Path, optional
        Directory for the pictures.

    Returns
    -------
    list of pathlib.Path
        One PNG per script, in the order of :data:`_gallery.EXAMPLES`.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:   # doctest: +SKIP
    ...     [p.name for p in main(d)][:2]
    ['dice_and_drops.png', 'echo_and_reverb.png']
    """
    written = []
    for name in EXAMPLES:
        start = time.perf_counter()
        written.append(importlib.import_module(name).main(save)["figure"])
        print(f"{name}: checked, wrote {written[-1]} ({time.perf_counter() - start:.1f} s)")
    return written


if __name__ == "__main__":
    main(parser(__doc__).parse_args().save or DEFAULT)
