"""Images in a folder with one sub-folder per class, as Keras's ``image_dataset_from_directory``.

::

    flowers/
      daisy/    a.png b.jpg ...
      rose/     c.png ...

``x, y, class_names = image_folder("flowers", image_size=(64, 64), color_mode="rgb")`` gives
x uint8 (N, 64, 64, 3), y int32 (N,) indexing ``class_names`` (the sub-folder names, sorted).
Needs Pillow (``pip install 'npconv[images]'``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._atomic import _kind
from .._checks import as_pair, check_choice

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")  # the ones Keras accepts
_MODES = {"grayscale": "L", "rgb": "RGB", "rgba": "RGBA"}


def _pillow(where: str = "image_folder"):
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise ImportError(
            f"{where} needs Pillow to read images: pip install 'npconv[images]' "
            "(or pip install Pillow)"
        ) from None
    return Image, UnidentifiedImageError


def _eight_bit(im, Image):
    """A 16-bit grayscale image (PNG's "I;16" modes) as 8-bit "L" by its high byte, as
    TensorFlow's decoder reads it; other images as they are. Pillow's own ``convert("L")``
    clips such pixels at 255, which turns nearly every 16-bit image white."""
    if im.mode.startswith("I;16"):
        return Image.fromarray((np.asarray(im) >> 8).astype(np.uint8), "L")
    return im


def _class_names(root: Path, class_names) -> list[str]:
    present = sorted(e.name for e in os.scandir(root) if e.is_dir())
    if class_names is None:
        return present
    class_names = [str(c) for c in class_names]
    if sorted(class_names) != present:
        raise ValueError(
            "image_folder: expected class_names to be the names of the sub-folders of "
            f"{root}: {present}. Received: class_names={class_names}"
        )
    return class_names


def _image_files(folder: Path) -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        files += [Path(dirpath) / f for f in sorted(filenames)
                  if f.lower().endswith(IMAGE_EXTENSIONS)]
    return files


def image_folder(path, image_size=(28, 28), color_mode: str = "grayscale", class_names=None):
    """Read every image under ``path/<class>/`` into ``(x, y, class_names)``.

    ``image_size``: (height, width) to resize to (bilinear, as Keras), or None to keep the
    images' own size, which must then be the same for all. ``color_mode``: "grayscale" (1
    channel), "rgb" (3) or "rgba" (4). ``class_names``: the sub-folder names in the order
    wanted for labels 0, 1, ...; default sorted. Files are taken class by class; within a class,
    a folder's files in sorted order, then its sub-folders' (sorted), as ``os.walk`` goes.
    Extensions: bmp, gif, jpeg, jpg, png.

    Returns x uint8 (N, height, width, channels), y int32 (N,), class_names (a list).
    """
    Image, UnidentifiedImageError = _pillow()
    mode = _MODES[check_choice(color_mode, "color_mode", _MODES, "image_folder")]
    if image_size is not None:
        height, width = as_pair(image_size, "image_size", "image_folder")
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"image_folder: no such folder: {root}")
    names = _class_names(root, class_names)
    if not names:
        raise ValueError(f"image_folder: {root} has no sub-folders (one per class expected)")

    images, labels = [], []
    for label, name in enumerate(names):
        for file in _image_files(root / name):
            if file.exists() and not file.is_file():  # Pillow would wait forever on a pipe
                raise ValueError(f"image_folder: cannot read image {file}: it is "
                                 f"{_kind(file)}, not a regular file")
            try:
                with Image.open(file) as im:
                    im = _eight_bit(im, Image).convert(mode)
                    if image_size is not None and im.size != (width, height):
                        im = im.resize((width, height), Image.Resampling.BILINEAR)
                    pixels = np.asarray(im, dtype=np.uint8)
            except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as err:
                raise ValueError(f"image_folder: cannot read image {file}: {err}") from None
            if images and pixels.shape[:2] != images[0].shape[:2]:
                raise ValueError(
                    f"image_folder: images differ in size: {file} is {pixels.shape[:2]}, "
                    f"the first is {images[0].shape[:2]} (pass image_size= to resize them)"
                )
            images.append(pixels)
            labels.append(label)
    if not images:
        raise ValueError(f"image_folder: no images ({', '.join(IMAGE_EXTENSIONS)}) under {root}")
    x = np.stack(images)
    if x.ndim == 3:  # grayscale: Pillow gives (H, W)
        x = x[..., None]
    return x, np.asarray(labels, dtype=np.int32), list(names)
