"""The functions and argparse parsers behind `npconv viz ...` and `npconv check-gradients`."""

import argparse

import numpy as np
import pytest

from npconv.layers import Conv2D, Dense, Flatten, Input, MaxPooling2D
from npconv.layers.base import Layer
from npconv.models import zoo
from npconv.models.sequential import Sequential
from npconv.viz.commands import (
    add_check_gradients_subparser,
    add_viz_subparsers,
    check_gradients_command,
    read_image,
)

Image = pytest.importorskip("PIL.Image")
pytest.importorskip("matplotlib")


def _parser():
    parser = argparse.ArgumentParser(prog="npconv")
    sub = parser.add_subparsers(dest="command", required=True)
    add_viz_subparsers(sub)
    add_check_gradients_subparser(sub)
    return parser


def _run(argv):
    args = _parser().parse_args(argv)
    return args.func(args)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    model = Sequential([Input(shape=(10, 10, 1)), Conv2D(4, 3, activation="relu", name="c1"),
                        MaxPooling2D(2), Flatten(), Dense(3, activation="softmax")])
    path = tmp_path_factory.mktemp("ckpt") / "model.npconv"
    model.save(path)
    return path, model


def test_conv_animation_and_pooling(tmp_path, capsys):
    out = tmp_path / "c.gif"
    assert _run(["viz", "conv-animation", "--stride", "2", "--padding", "1", "--dilation", "2",
                 "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    with Image.open(out) as im:
        assert im.n_frames == 4
    out = tmp_path / "p.gif"
    assert _run(["viz", "conv-animation", "--pool", "average", "--kernel-size", "2",
                 "--input-size", "4,6", "--out", str(out)]) == 0
    with Image.open(out) as im:
        assert im.n_frames == 2 * 3


@pytest.mark.parametrize("dilation", ["2", "1,2"])
def test_pooling_animation_refuses_a_dilation(tmp_path, dilation):
    """--pool max --dilation 2 silently drew an undilated window; the Python API refuses it."""
    with pytest.raises(ValueError, match="pooling windows have no dilation"):
        _run(["viz", "conv-animation", "--pool", "max", "--dilation", dilation,
              "--out", str(tmp_path / "p.gif")])
    assert not (tmp_path / "p.gif").exists()
    assert _run(["viz", "conv-animation", "--pool", "max", "--dilation", "1",
                 "--out", str(tmp_path / "p.gif")]) == 0


@pytest.mark.parametrize("command", [["conv-animation"], ["explain"], ["history", "{tmp}"],
                                     ["filters", "{ckpt}"]])
def test_out_folder_is_named_in_the_error_before_anything_is_drawn(tmp_path, checkpoint,
                                                                     capsys, command):
    (tmp_path / "history.csv").write_text("epoch,loss\n0,1.0\n")
    argv = [a.format(tmp=tmp_path, ckpt=checkpoint[0]) for a in command]
    with pytest.raises(IsADirectoryError, match=f"^{tmp_path} is a folder; give the name"):
        _run(["viz", *argv, "--out", str(tmp_path)])
    assert capsys.readouterr().out == ""  # explain printed its text, then failed


def test_explain(tmp_path, capsys):
    out = tmp_path / "e.png"
    assert _run(["viz", "explain", "--stride", "2", "--padding", "same", "--index", "2,2",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "(top, bottom, left, right) padding = (0, 1, 0, 1)" in text
    assert "= 14" in text    # (28 + 29 + 34 + 35) / 9
    with Image.open(out) as im:
        assert im.format == "PNG"


@pytest.mark.parametrize("index, pixel", [(["--index", "-1,-1"], "(3, 3)"),
                                          (["--index=-1,-1"], "(3, 3)"),
                                          (["--index", "-1,0"], "(3, 0)")])
def test_explain_negative_index_counts_from_the_end(tmp_path, capsys, index, pixel):
    """--index -1,-1 was rejected by argparse ('expected one argument') though the help says
    negative indices count from the end."""
    args = _parser().parse_args(["viz", "explain", *index, "--out", str(tmp_path / "e.png")])
    assert args.index[0] == -1
    assert args.func(args) == 0
    text = capsys.readouterr().out
    assert f"output pixel {pixel}:" in text  # the 6x6 input's 4x4 output, from the end


def test_a_negative_padding_is_a_clear_usage_error(capsys):
    with pytest.raises(SystemExit):
        _parser().parse_args(["viz", "conv-animation", "--padding", "-1"])
    assert "expected padding >= 0, got '-1'" in capsys.readouterr().err


def test_feature_maps_and_filters(tmp_path, checkpoint):
    path, model = checkpoint
    pixels = (np.arange(100).reshape(10, 10) * 2).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "img.png")
    x = read_image(tmp_path / "img.png", (10, 10, 1))
    np.testing.assert_allclose(x[:, :, 0], pixels / 255.0, rtol=1e-6)
    np.save(tmp_path / "img.npy", x)
    np.testing.assert_array_equal(read_image(tmp_path / "img.npy", (10, 10, 1)), x)
    out = tmp_path / "fm.png"
    assert _run(["viz", "feature-maps", str(path), str(tmp_path / "img.png"), "--layer", "c1",
                 "--grid", "--out", str(out)]) == 0
    assert Image.open(out).format == "PNG"
    assert _run(["viz", "feature-maps", str(path), str(tmp_path / "img.npy"), "--layer", "1",
                 "--out", str(out)]) == 0
    out = tmp_path / "f.png"
    assert _run(["viz", "filters", str(path), "--out", str(out)]) == 0
    assert Image.open(out).format == "PNG"
    with pytest.raises(ValueError, match="not \\(H, W, channels\\) maps"):
        _run(["viz", "feature-maps", str(path), str(tmp_path / "img.npy"), "--layer", "-1",
              "--out", str(out)])


def test_history(tmp_path):
    (tmp_path / "history.csv").write_text("epoch,accuracy,loss,val_accuracy,val_loss\n"
                                          "0,0.5,1.0,0.4,1.2\n1,0.7,0.6,0.6,0.9\n")
    assert _run(["viz", "history", str(tmp_path)]) == 0
    with Image.open(tmp_path / "history.png") as im:
        assert im.size == (1000, 400)


def test_check_gradients_passes_and_fails(monkeypatch, capsys):
    assert _run(["check-gradients", "lenet5", "--max-checks", "3"]) == 0
    assert "PASSED" in capsys.readouterr().out

    class Wrong(Layer):
        def call(self, x, training=False):
            return x * x

        def call_backward(self, d_out):
            return d_out          # should be 2 * x * d_out

    def broken(input_shape=(4, 4, 1), num_classes=2, name="broken"):
        return Sequential([Input(shape=input_shape), Conv2D(2, 3), Wrong(), Flatten(),
                           Dense(num_classes)])

    monkeypatch.setitem(zoo.ZOO, "broken", broken)
    assert _run(["check-gradients", "broken", "--input-shape", "5,5,1"]) == 1
    assert "FAILED" in capsys.readouterr().out
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        check_gradients_command("nope")


def test_bad_arguments_are_usage_errors():
    with pytest.raises(SystemExit):
        _parser().parse_args(["viz", "explain", "--index", "1"])
    with pytest.raises(SystemExit):
        _parser().parse_args(["viz", "conv-animation", "--padding", "-1"])
    with pytest.raises(SystemExit):
        _parser().parse_args(["check-gradients", "lenet5", "--input-shape", "4,4"])


def test_read_image_of_a_bad_file_is_a_clear_error_naming_it(tmp_path):
    # a decompression bomb came out as PIL's DecompressionBombError (a traceback from
    # `npconv viz feature-maps`), a pickled .npy as numpy's message without the file, and a
    # named pipe was waited on forever
    import os
    import struct
    import zlib

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))
    pickled = tmp_path / "objects.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    pipe = tmp_path / "pipe.png"
    os.mkfifo(pipe)
    for path, message in ((bomb, r"cannot read image .*bomb\.png: Image size"),
                          (pickled, r"cannot read .*objects\.npy as a NumPy array"),
                          (text, r"cannot read image .*notes\.png"),
                          (pipe, r"cannot read .*pipe\.png: it is a named pipe")):
        with pytest.raises(ValueError, match=message):
            read_image(path, (10, 10, 1))
    with pytest.raises(FileNotFoundError, match=r"no such image file: .*nope\.png"):
        read_image(tmp_path / "nope.png", (10, 10, 1))


def _npconv(argv, capsys):
    from npconv.cli import main

    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def test_an_unwritable_picture_is_a_plain_one_line_error(tmp_path, monkeypatch, capsys):
    """A folder npconv may not write into (read-only, immutable) gave "npconv: error:
    [Errno 1] npconv: cannot write ...": errno and the program's name inside the message;
    and a folder that could not be created named only that folder, not the picture."""
    import errno
    import os
    import tempfile

    def refuse_file(*args, **kwargs):
        raise PermissionError(errno.EPERM, "Operation not permitted")

    out = tmp_path / "conv.gif"
    with monkeypatch.context() as m:
        m.setattr(tempfile, "mkstemp", refuse_file)
        code, err = _npconv(["viz", "conv-animation", "--out", out], capsys)
    assert code == 1
    assert err == f"npconv: error: cannot write {out}: Operation not permitted\n"

    sub = tmp_path / "new" / "explain.png"
    real_makedirs = os.makedirs

    def refuse_folder(name, *args, **kwargs):
        if os.fspath(name).startswith(os.fspath(tmp_path / "new")):
            raise OSError(errno.EROFS, "Read-only file system", os.fspath(name))
        return real_makedirs(name, *args, **kwargs)

    monkeypatch.setattr(os, "makedirs", refuse_folder)
    code, err = _npconv(["viz", "explain", "--out", sub], capsys)
    assert code == 1
    assert err.endswith(f"npconv: error: cannot write {sub}: cannot create the folder "
                        f"{sub.parent}: Read-only file system\n"), err
    assert not (tmp_path / "new").exists()
