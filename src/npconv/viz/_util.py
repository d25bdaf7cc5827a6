"""Shared helpers of :mod:`npconv.viz`: optional imports and atomic file writes.

matplotlib and Pillow are optional dependencies (``pip install 'npconv[viz]'``); they are
imported inside the functions that need them, never at module import time.
"""

from __future__ import annotations

import os

from .._atomic import atomic_path


def require_matplotlib(where: str):
    """``matplotlib.figure`` (Figure) and its Agg canvas, or a clear ImportError."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - exercised only without matplotlib
        raise ImportError(
            f"npconv.viz.{where} needs matplotlib: pip install 'npconv[viz]'"
        ) from exc
    return Figure, FigureCanvasAgg


def require_pillow(where: str):
    """Pillow's ``Image``, ``ImageDraw`` and ``ImageFont`` modules, or a clear ImportError."""
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError as exc:  # pragma: no cover - exercised only without Pillow
        raise ImportError(
            f"npconv.viz.{where} needs Pillow: pip install 'npconv[viz]'"
        ) from exc
    return Image, ImageDraw, ImageFont


def new_figure(where: str, figsize, dpi=100):
    """A matplotlib Figure drawn by the Agg canvas (no screen, no pyplot global state)."""
    Figure, FigureCanvasAgg = require_matplotlib(where)
    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def check_output_path(path, example: str = "picture.png") -> None:
    """Raise a clear error, naming ``path``, when a picture cannot be written there (a folder)."""
    p = os.fspath(path)
    if os.path.isdir(p):
        raise IsADirectoryError(f"{p} is a folder; give the name of the file to write, e.g. "
                                f"{os.path.join(p, example)}")


def _about_temporary_file(err: OSError, path: str) -> bool:
    prefix = f".{os.path.basename(path)}."
    return any(name is not None and os.path.basename(os.fspath(name)).startswith(prefix)
               for name in (getattr(err, "filename", None), getattr(err, "filename2", None)))


def atomic_save(path, write, example: str = "picture.png") -> str:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it to ``path``.

    The temporary file keeps ``path``'s extension so writers that pick the format from it
    (matplotlib, Pillow) behave as for ``path``. A crash leaves any previous file intact.
    Returns ``path`` as a string. Errors name ``path``, never the temporary file.
    """
    p = os.fspath(path)
    check_output_path(p, example)
    try:
        with atomic_path(p) as tmp:
            write(tmp)
    except OSError as err:
        if not _about_temporary_file(err, p):
            raise
        raise type(err)(f"cannot write {p}: {err.strerror or err}") from None
    return p


def save_figure(fig, path, dpi=None) -> str:
    """Save a matplotlib Figure to ``path`` atomically (size = figsize * dpi pixels)."""
    return atomic_save(path, lambda tmp: fig.savefig(tmp, dpi=dpi or fig.dpi,
                                                     format=_format_of(path)))


def _format_of(path) -> str:
    ext = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
    return ext or "png"


def load_font(size: int = 14):
    """Pillow's bundled scalable font at ``size`` px (the bitmap default on old Pillow)."""
    _, _, ImageFont = require_pillow("load_font")
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has no sized default font
        return ImageFont.load_default()


def format_number(v) -> str:
    """Short, exact-looking text for a cell: integers without decimals, else 3 significant."""
    v = float(v)
    if v == int(v) and abs(v) < 1e6:
        return str(int(v))
    return f"{v:.3g}" if abs(v) >= 1e-3 else f"{v:.1e}"
