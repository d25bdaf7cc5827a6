"""image_folder: one sub-folder per class, as Keras's image_dataset_from_directory."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image

from npconv.datasets import image_folder


def save(path, color, size=(10, 8), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)  # size is (width, height)


@pytest.fixture
def tree(tmp_path):
    save(tmp_path / "dog" / "b.png", (255, 0, 0))
    save(tmp_path / "dog" / "a.png", (0, 0, 255))
    save(tmp_path / "cat" / "x.png", (255, 255, 255))
    save(tmp_path / "cat" / "deeper" / "y.jpg", (0, 0, 0))
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    return tmp_path


def test_grayscale_resized(tree):
    x, y, names = image_folder(tree, image_size=(6, 5))
    assert names == ["cat", "dog"]
    assert x.shape == (4, 6, 5, 1) and x.dtype == np.uint8
    assert y.dtype == np.int32 and y.tolist() == [0, 0, 1, 1]
    # class by class; a folder's files sorted, then its sub-folders (cat/x.png, cat/deeper/y.jpg)
    # Pillow's L = 0.299 R + 0.587 G + 0.114 B: blue 29, red 76
    np.testing.assert_array_equal(x[:, 0, 0, 0], [255, 0, 29, 76])


def test_rgb_original_size(tree):
    x, y, names = image_folder(tree, image_size=None, color_mode="RGB")
    assert x.shape == (4, 8, 10, 3)
    assert x[3, 4, 4].tolist() == [255, 0, 0] and x[2, 7, 9].tolist() == [0, 0, 255]


def test_class_names_choose_the_label_order(tree):
    x, y, names = image_folder(tree, class_names=["dog", "cat"], color_mode="rgb")
    assert names == ["dog", "cat"] and y.tolist() == [0, 0, 1, 1]
    assert x[0, 0, 0].tolist() == [0, 0, 255]
    with pytest.raises(ValueError, match="names of the sub-folders"):
        image_folder(tree, class_names=["dog"])


def test_sizes_must_agree_without_image_size(tree):
    save(tree / "dog" / "c.png", (1, 2, 3), size=(3, 3))
    with pytest.raises(ValueError, match="images differ in size.*c.png"):
        image_folder(tree, image_size=None)
    assert image_folder(tree, image_size=4)[0].shape == (5, 4, 4, 1)


def test_bad_inputs(tree, tmp_path):
    with pytest.raises(ValueError, match="color_mode"):
        image_folder(tree, color_mode="cmyk")
    with pytest.raises(ValueError, match="image_size"):
        image_folder(tree, image_size=(0, 3))
    with pytest.raises(FileNotFoundError, match="no such folder"):
        image_folder(tree / "nope")
    (tree / "dog" / "broken.png").write_bytes(b"\x89PNG but not really")
    with pytest.raises(ValueError, match="cannot read image .*broken.png"):
        image_folder(tree)
    empty = tmp_path / "empty"
    (empty / "a").mkdir(parents=True)
    with pytest.raises(ValueError, match="no images"):
        image_folder(empty)
    with pytest.raises(ValueError, match="no sub-folders"):
        image_folder(empty / "a")


def test_without_pillow(tree, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r"pip install 'npconv\[images\]'"):
        image_folder(tree)


def _unblock_readers(fifo, done):
    """Open ``fifo`` for writing whenever someone reads it (so that a reader stuck in open()
    gets an empty file instead of waiting forever), until ``done`` is set."""
    import os

    while not done.wait(0.05):
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:  # no reader yet
            pass


def test_a_pipe_named_like_an_image_is_refused_not_waited_on(tree):
    # Pillow's open() of a named pipe waited for a writer forever: `npconv train --dataset DIR`
    # hung on a folder holding one
    import os
    import threading

    fifo = tree / "dog" / "c.png"
    os.mkfifo(fifo)
    done = threading.Event()
    helper = threading.Thread(target=_unblock_readers, args=(fifo, done), daemon=True)
    helper.start()
    try:
        with pytest.raises(ValueError, match=r"cannot read image .*c\.png: it is a named pipe, "
                                             "not a regular file"):
            image_folder(tree)
    finally:
        done.set()
        helper.join()


def test_a_decompression_bomb_is_a_clear_error_naming_the_file(tree):
    # a 60000 x 60000 PNG header (a few bytes): Pillow's DecompressionBombError is neither an
    # OSError nor an UnidentifiedImageError, and came out of image_folder as it was
    import struct
    import zlib

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    bomb = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 8, 0,
                                                               0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))
    (tree / "dog" / "bomb.png").write_bytes(bomb)
    with pytest.raises(ValueError, match=r"cannot read image .*bomb\.png: Image size "
                                         r"\(3600000000 pixels\) exceeds limit"):
        image_folder(tree)


def _sixteen_bit_png(path):
    """A 16-bit grayscale PNG (Pillow mode "I;16") and the 8-bit image of its high bytes."""
    values = np.arange(0, 65536, 4096, dtype=np.uint16).reshape(4, 4)  # 0, 4096, ..., 61440
    Image.fromarray(values).save(path)
    assert Image.open(path).mode == "I;16"
    return (values >> 8).astype(np.uint8)  # 0, 16, ..., 240: all below Pillow's clip at 255


def test_16_bit_grayscale_pngs_are_read_by_their_high_byte_everywhere(tmp_path):
    # Pillow's convert("L") clips 16-bit pixels at 255 (an almost white image); every reader
    # takes the high byte, as image_dataset_from_directory (and TensorFlow's decoder) does.
    from npconv.cli.commands import _read_images
    from npconv.utils import image_dataset_from_directory
    from npconv.viz.commands import read_image

    (tmp_path / "c").mkdir()
    file = tmp_path / "c" / "a.png"
    expected = _sixteen_bit_png(file)
    x, _, _ = image_folder(tmp_path, image_size=(4, 4))
    np.testing.assert_array_equal(x[0, :, :, 0], expected)
    batch = next(iter(image_dataset_from_directory(tmp_path, image_size=(4, 4),
                                                   color_mode="grayscale", labels=None)))
    np.testing.assert_array_equal(np.asarray(batch)[0, :, :, 0], expected)
    scaled = expected.astype(np.float32) / np.float32(255)
    np.testing.assert_array_equal(_read_images([str(file)], (4, 4, 1), False)[0, :, :, 0],
                                  scaled)
    np.testing.assert_allclose(read_image(str(file), (4, 4, 1))[:, :, 0], scaled, rtol=1e-6)
