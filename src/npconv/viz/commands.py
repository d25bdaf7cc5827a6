"""The ``npconv viz ...`` and ``npconv check-gradients`` commands: functions and parsers.

Each ``*_command`` function writes one picture and returns its path, so it can be called from
Python as well. ``add_viz_subparsers(subparsers)`` and ``add_check_gradients_subparser(...)``
register the commands on the ``npconv`` parser; every parser sets ``func``, a handler
``func(args) -> exit code``::

    npconv viz conv-animation --input-size 6 --kernel-size 3 --stride 2 --padding 1 --dilation 2
    npconv viz conv-animation --pool max --kernel-size 2
    npconv viz explain --input-size 6 --stride 2 --padding same --index 2,2
    npconv viz feature-maps CHECKPOINT IMAGE [--layer NAME] [--grid]
    npconv viz filters CHECKPOINT [--layer NAME]
    npconv viz history RUN_DIR
    npconv check-gradients MODEL [--input-shape H,W,C]     (exit 1 when a gradient is wrong)
"""

from __future__ import annotations

import argparse
import os
import re

import numpy as np

__all__ = [
    "conv_animation_command", "explain_command", "feature_maps_command", "filters_command",
    "history_command", "check_gradients_command", "add_viz_subparsers",
    "add_check_gradients_subparser", "SMALL_INPUTS",
]

#: Inputs small enough for a quick float64 gradient check of each zoo model.
SMALL_INPUTS = {
    "mnist_cnn": (18, 18, 1), "mnist_cnn_no_pool": (10, 10, 1), "same_cnn": (8, 8, 3),
    "strided_cnn": (12, 12, 1), "lenet5": (12, 12, 1), "alexnet": (63, 63, 3),
}


# ---------------------------------------------------------------------------- functions
def conv_animation_command(input_size=6, kernel_size=3, stride=1, padding=0, dilation=1,
                           out="conv.gif", pool=None) -> str:
    """Write a convolution (or ``pool="max"|"average"`` pooling) animation GIF to ``out``."""
    from ._util import check_output_path
    from .animation import animate_convolution, animate_pooling

    check_output_path(out, "conv.gif")  # before any drawing
    if pool is None:
        return animate_convolution(input_size, kernel_size, stride, padding, dilation, path=out)
    if np.any(np.asarray(dilation) != 1):  # as conv_animation_frames(mode="max") refuses it
        raise ValueError(f"conv-animation: pooling windows have no dilation. Received: "
                         f"dilation={dilation!r} with pool={pool!r}")
    padding = "valid" if padding in (0, None) else padding
    return animate_pooling(input_size, kernel_size, stride, padding, mode=pool, path=out)


def explain_command(input_size=6, kernel_size=3, stride=1, padding="valid", dilation=1,
                    index=(0, 0), out="explain.png", channels=1, print_fn=print) -> str:
    """Explain output pixel ``index``: print the text and write the picture to ``out``."""
    from ._util import check_output_path
    from .explain import explain_convolution

    check_output_path(out, "explain.png")  # before anything is printed
    h, w = (input_size, input_size) if np.ndim(input_size) == 0 else input_size
    e = explain_convolution((h, w, channels), kernel_size, stride, padding, dilation, index)
    if print_fn is not None:
        print_fn(str(e))
    return e.to_png(out)


def read_image(path, input_shape, invert=False) -> np.ndarray:
    """One image file as float32 ``(H, W, C)`` in [0, 1] for a model input ``(H, W, C)``.

    ``.npy`` files are loaded as they are (no pickle); other files are read with Pillow,
    converted to grey or RGB, resized to ``(H, W)`` and scaled to [0, 1].
    """
    h, w, c = input_shape
    if os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path):
        from .._atomic import _kind  # a pipe: reading it would wait forever

        raise ValueError(f"read_image: cannot read {path}: it is {_kind(path)}, not a file")
    if os.fspath(path).endswith(".npy"):
        try:
            x = np.load(path, allow_pickle=False).astype(np.float32)
        except FileNotFoundError:
            raise FileNotFoundError(f"read_image: no such file: {path}") from None
        except (OSError, ValueError, TypeError, EOFError) as err:  # not .npy, object array
            raise ValueError(f"read_image: cannot read {path} as a NumPy array: {err}") from None
        if x.ndim == 2:
            x = x[:, :, None]
        if x.shape != (h, w, c):
            raise ValueError(f"{path}: expected an array of shape {(h, w, c)}. "
                             f"Received shape {x.shape}")
        return x
    from ..datasets.folders import _eight_bit
    from ._util import require_pillow

    Image, _, _ = require_pillow("read_image")
    try:
        with Image.open(path) as im:
            im = _eight_bit(im, Image).convert("L" if c == 1 else "RGB")
            if im.size != (w, h):
                im = im.resize((w, h), Image.Resampling.BILINEAR)
            x = np.asarray(im, dtype=np.float32) / 255.0
    except FileNotFoundError:
        raise FileNotFoundError(f"read_image: no such image file: {path}") from None
    except (OSError, Image.DecompressionBombError) as err:  # (UnidentifiedImageError is one)
        raise ValueError(f"read_image: cannot read image {path}: {err}") from None
    if invert:
        x = 1.0 - x
    return x.reshape(h, w, c)


def _load_model(checkpoint):
    from ..io import load_model

    return load_model(checkpoint, compile=False)


def feature_maps_command(checkpoint, image, layer=None, out="feature_maps.png", grid=False,
                         invert=False) -> str:
    """Plot the feature maps of ``layer`` (default: the first Conv2D) of a saved model for an
    image file; write them to ``out``."""
    from ._util import check_output_path
    from .feature_maps import feature_maps, find_layer, first_conv_layer
    from .plots import plot_feature_maps

    check_output_path(out, "feature_maps.png")
    model = _load_model(checkpoint)
    target = first_conv_layer(model) if layer is None else find_layer(
        model, int(layer) if isinstance(layer, str) and layer.lstrip("-").isdigit() else layer)
    x = read_image(image, tuple(model.input_shape[1:]), invert=invert)
    maps = feature_maps(model, x, target)
    if maps.ndim != 3:
        raise ValueError(f"feature-maps: layer {target.name} outputs shape {maps.shape}, "
                         "not (H, W, channels) maps; choose a convolution or pooling layer")
    title = f"Filter Activations: {target.name}"
    plot_feature_maps(maps, layout="grid" if grid else "row", title=title, path=out)
    return os.fspath(out)


def filters_command(checkpoint, out="filters.png", layer=None) -> str:
    """Plot the kernels of the first Conv2D (or ``layer``) of a saved model to ``out``."""
    from ._util import check_output_path
    from .plots import plot_filters

    check_output_path(out, "filters.png")
    plot_filters(_load_model(checkpoint), layer=layer, path=out)
    return os.fspath(out)


def history_command(run_dir, out=None) -> str:
    """Plot a run folder's ``history.csv`` (or a CSV file) to ``out`` (default
    ``RUN_DIR/history.png``)."""
    from .plots import plot_history

    if out is None:
        folder = run_dir if os.path.isdir(run_dir) else os.path.dirname(os.fspath(run_dir))
        out = os.path.join(folder, "history.png")
    from ._util import check_output_path

    check_output_path(out, "history.png")
    plot_history(run_dir, path=out)
    return os.fspath(out)


def check_gradients_command(model, input_shape=None, batch_size=2, max_checks=10, seed=0,
                            num_classes=None, training=True, print_fn=print) -> bool:
    """Gradient-check zoo model ``model`` on a small random float64 batch; True if it passed.

    ``input_shape`` defaults to :data:`SMALL_INPUTS`; the loss is ``sum(out * R)``.
    """
    from ..gradcheck import gradient_check
    from ..models.zoo import ZOO, get_model

    if model not in ZOO:
        from ..cli import UsageError  # (exit code 2; a ValueError for Python callers)

        raise UsageError(f"check-gradients: unknown model {model!r}. "
                         f"Expected one of {sorted(ZOO)}")
    shape = tuple(input_shape) if input_shape else SMALL_INPUTS.get(model)
    kwargs = {"input_shape": shape}
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    elif model == "alexnet":
        kwargs["num_classes"] = 10
    net = get_model(model, **kwargs)
    x = np.random.default_rng(seed).standard_normal((batch_size,) + shape)
    if print_fn is not None:
        print_fn(f"{model}: input {(batch_size,) + shape}, {net.count_params():,} parameters, "
                 f"{max_checks} coordinates per tensor")
    report = gradient_check(net, x, max_checks=max_checks, seed=seed, training=training,
                            print_fn=print_fn)
    return report.passed


# ---------------------------------------------------------------------------- argparse
def _ints(text, n_max, what):
    parts = text.replace("x", ",").split(",")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not 1 <= len(values) <= n_max:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return values


def _size(text):
    """``6`` or ``6x7`` / ``6,7`` -> int or pair."""
    values = _ints(text, 2, "N or H,W (ints)")
    if min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive sizes, got {text!r}")
    return values[0] if len(values) == 1 else values


def _padding(text):
    """``same``, ``valid``, ``1`` or ``1,2``."""
    if text.lower() in ("same", "valid"):
        return text.lower()
    values = _ints(text, 2, "'same', 'valid', P or PH,PW")
    if min(values) < 0:
        raise argparse.ArgumentTypeError(f"expected padding >= 0, got {text!r}")
    return values[0] if len(values) == 1 else values


def _index(text):
    values = _ints(text, 2, "I,J")
    if len(values) != 2:
        raise argparse.ArgumentTypeError(f"expected I,J, got {text!r}")
    return values


def _shape3(text):
    values = _ints(text, 3, "H,W,C")
    if len(values) != 3 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected H,W,C (positive ints), got {text!r}")
    return values


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {text!r}")
    return value


def _window_options(p, default_padding):
    p.add_argument("--input-size", type=_size, default=6, metavar="N|H,W",
                   help="input height and width (default 6, seed 000's 6x6 np.arange image)")
    p.add_argument("--kernel-size", type=_size, default=3, metavar="K|KH,KW",
                   help="window size (default 3)")
    p.add_argument("--stride", type=_size, default=None, metavar="S|SH,SW",
                   help="default 1 (pooling: the pool size)")
    p.add_argument("--padding", type=_padding, default=default_padding, metavar="P",
                   help=f"'same', 'valid', P or PH,PW (default {default_padding})")
    p.add_argument("--dilation", type=_size, default=1, metavar="D|DH,DW", help="default 1")


def _accept_negative_values(parser):
    """Let option values that start with a minus and a digit (``--index -1,-1``) be values.

    argparse before Python 3.13 takes ``-1,-1`` for an unknown option ("expected one
    argument") because only plain numbers count as negative numbers; 3.13 accepts any
    ``-<digit>...``, and this gives older versions the same rule. ``--index=-1,-1`` works too.
    """
    parser._negative_number_matcher = re.compile(r"^-\.?\d")
    return parser


def _wrote(path) -> int:
    print(f"wrote {path}")
    return 0


def _run_conv_animation(args) -> int:
    stride = args.stride if args.stride is not None else (None if args.pool else 1)
    return _wrote(conv_animation_command(args.input_size, args.kernel_size, stride,
                                         args.padding, args.dilation, args.out, args.pool))


def _run_explain(args) -> int:
    return _wrote(explain_command(args.input_size, args.kernel_size, args.stride or 1,
                                  args.padding, args.dilation, args.index, args.out,
                                  args.channels))


def _run_feature_maps(args) -> int:
    return _wrote(feature_maps_command(args.checkpoint, args.image, args.layer, args.out,
                                       args.grid, args.invert))


def _run_filters(args) -> int:
    return _wrote(filters_command(args.checkpoint, args.out, args.layer))


def _run_history(args) -> int:
    return _wrote(history_command(args.run_dir, args.out))


def _run_check_gradients(args) -> int:
    passed = check_gradients_command(args.model, args.input_shape, args.batch_size,
                                     args.max_checks, args.seed, args.num_classes,
                                     training=not args.inference)
    return 0 if passed else 1


def add_viz_subparsers(subparsers) -> argparse.ArgumentParser:
    """Register ``npconv viz ...`` on ``subparsers`` (from ``parser.add_subparsers()``)."""
    viz = subparsers.add_parser("viz", help="pictures: convolution animations, explanations, "
                                "feature maps, filters, training curves",
                                description="Draw pictures of convolutions and models "
                                "(needs matplotlib and Pillow: pip install 'npconv[viz]').")
    sub = viz.add_subparsers(dest="viz_command", metavar="PICTURE", required=True)

    p = sub.add_parser("conv-animation", help="GIF of a convolution or pooling window sliding",
                       description="A GIF with one frame per output pixel: the padded input, "
                       "the window (dilation's gaps left white), the output being written and "
                       "the output-size formula with its numbers. Large inputs are drawn with "
                       "smaller cells (a frame is at most 1.5 megapixels; at most 4096 frames).")
    _accept_negative_values(p)
    _window_options(p, "0")
    p.add_argument("--pool", choices=("max", "average"),
                   help="animate pooling instead of convolution (padding 'valid' or 'same')")
    p.add_argument("--out", default="conv.gif", metavar="FILE.gif", help="default conv.gif")
    p.set_defaults(func=_run_conv_animation)

    p = sub.add_parser("explain", help="explain one output pixel of a convolution",
                       description="Print and draw one output pixel's window, padding, "
                       "receptive field, im2col row and dot product.")
    _accept_negative_values(p)
    _window_options(p, "valid")
    p.add_argument("--channels", type=_positive, default=1, metavar="C", help="default 1")
    p.add_argument("--index", type=_index, default=(0, 0), metavar="I,J",
                   help="the output pixel (default 0,0; negative counts from the end: "
                   "--index -1,-1 is the last one)")
    p.add_argument("--out", default="explain.png", metavar="FILE.png", help="default explain.png")
    p.set_defaults(func=_run_explain)

    p = sub.add_parser("feature-maps", help="a layer's feature maps for an image",
                       description="Seed 001's 'Filter Activations' picture for a saved model.")
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a .npconv model file")
    p.add_argument("image", metavar="IMAGE", help="an image file (or a .npy array)")
    p.add_argument("--layer", metavar="NAME|INDEX", help="default: the first Conv2D layer")
    p.add_argument("--grid", action="store_true", help="all maps in a grid (default: a row of 6)")
    p.add_argument("--invert", action="store_true", help="invert the image (dark on light)")
    p.add_argument("--out", default="feature_maps.png", metavar="FILE.png",
                   help="default feature_maps.png")
    p.set_defaults(func=_run_feature_maps)

    p = sub.add_parser("filters", help="a convolution layer's kernels as images",
                       description="The kernels of the first Conv2D (or --layer) of a model.")
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a .npconv model file")
    p.add_argument("--layer", metavar="NAME", help="default: the first Conv2D layer")
    p.add_argument("--out", default="filters.png", metavar="FILE.png", help="default filters.png")
    p.set_defaults(func=_run_filters)

    p = sub.add_parser("history", help="loss and accuracy curves of a training run",
                       description="Plot RUN_DIR/history.csv (train and validation).")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder (or a history CSV file)")
    p.add_argument("--out", metavar="FILE.png", help="default RUN_DIR/history.png")
    p.set_defaults(func=_run_history)
    return viz


def add_check_gradients_subparser(subparsers) -> argparse.ArgumentParser:
    """Register ``npconv check-gradients MODEL`` on ``subparsers``."""
    p = subparsers.add_parser(
        "check-gradients", help="check a zoo model's backward against finite differences",
        description="Central finite differences in float64 against the analytic gradients of "
        "every weight and the input, on a small random batch. Prints a table; exit code 1 "
        "when a gradient is wrong.")
    p.add_argument("model", metavar="MODEL", help="a zoo model name (mnist_cnn, strided_cnn, "
                   "lenet5, same_cnn, mnist_cnn_no_pool, alexnet)")
    p.add_argument("--input-shape", type=_shape3, metavar="H,W,C",
                   help="default: a small input for the model")
    p.add_argument("--num-classes", type=_positive, metavar="N")
    p.add_argument("--batch-size", type=_positive, default=2, metavar="N", help="default 2")
    p.add_argument("--max-checks", type=_positive, default=10, metavar="N",
                   help="coordinates checked per tensor (default 10)")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="default 0")
    p.add_argument("--inference", action="store_true",
                   help="check the inference path (training=False) instead of training")
    p.set_defaults(func=_run_check_gradients)
    return p
