"""The ``npconv`` command: train, evaluate, predict, summary, datasets, bench (from
:mod:`npconv.bench`), and viz, check-gradients (from :mod:`npconv.viz.commands`).

::

    npconv train --model strided_cnn --epochs 5 --seed 0       # -> runs/strided_cnn-.../
    npconv train --resume runs/strided_cnn-...                 # after Ctrl-C: same weights
    npconv evaluate runs/.../best.npconv
    npconv predict runs/.../best.npconv shirt.png boot.jpg
    npconv predict runs/.../best.npconv --dataset fashion_mnist --index 0:5
    npconv summary lenet5 --input-shape 32,32,3
    npconv datasets

This module builds the argument parser only; each command imports numpy and the library when
it runs, so ``npconv --help`` starts at once. Errors are one line on stderr,
``npconv: error: ...``, with exit code 2 for usage errors, 1 for other failures (a missing
dataset or checkpoint, a corrupt file) and 130 after Ctrl-C. ``NPCONV_DEBUG=1`` shows the
traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys

#: ``npconv train``'s defaults (the same as ``npconv.training.run.RunConfig``'s; a test checks).
TRAIN_DEFAULTS = {"model": "mnist_cnn", "dataset": "fashion_mnist", "epochs": 5,
                  "batch_size": 64, "optimizer": "rmsprop", "learning_rate": 1e-3,
                  "image_size": (28, 28), "color_mode": "grayscale"}
#: Options that ``--resume`` accepts besides the folder (the rest come from its run.json).
RESUME_OPTIONS = {"epochs", "learning_rate", "no_progress", "resume"}


class UsageError(ValueError):
    """A command line that cannot be run as given (exit code 2). A ValueError, so that the
    functions behind the commands raise what a Python caller expects too."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``npconv: error: ...`` and exit code 2."""

    def error(self, message):
        self.exit(2, f"npconv: error: {message} (see '{self.prog} --help')\n")


# ---------------------------------------------------------------------------- argument types
def _int_at_least(minimum):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an int, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an int >= {minimum}, got {text!r}")
        return value

    parse.__name__ = f"int >= {minimum}"
    return parse


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1), got {text!r}")
    return value


def _int_tuple(length_ok, what):
    def parse(text):
        parts = text.replace("x", ",").replace("X", ",").split(",")
        try:
            values = tuple(int(p) for p in parts)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not length_ok(len(values)) or min(values) < 1:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return values

    return parse


_image_size = _int_tuple(lambda n: n == 2, "HEIGHTxWIDTH, e.g. 28x28")
_input_shape = _int_tuple(lambda n: n == 3, "HEIGHT,WIDTH,CHANNELS, e.g. 28,28,1")


def _index_range(text):
    """``A:B`` (B excluded), ``A:`` is not allowed (the range must be explicit), or ``A``."""
    try:
        if ":" in text:
            start, stop = (int(p) for p in text.split(":"))
        else:
            start = int(text)
            stop = start + 1
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected A:B or A (ints), got {text!r}") from None
    if start < 0 or stop <= start:
        raise argparse.ArgumentTypeError(f"expected 0 <= A < B, got {text!r}")
    return start, stop


# ---------------------------------------------------------------------------- the parser
#: Commands defined in npconv.viz.commands (which imports numpy): registered for real only when
#: they are the command being run, so that ``npconv --help`` stays light.
_VIZ_COMMANDS = {
    "viz": "pictures: convolution animations, explanations, feature maps, filters, curves",
    "check-gradients": "check a zoo model's backward against finite differences",
}


def build_parser(argv=()) -> argparse.ArgumentParser:
    """The ``npconv`` parser; ``argv`` tells whether the viz commands need their full parsers."""
    parser = _Parser(prog="npconv", description="Convolutional networks in NumPy: train, "
                     "evaluate and inspect the seeds' CNNs.")
    parser.add_argument("--version", action="version", version=f"npconv {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_train(sub)
    _add_evaluate(sub)
    _add_predict(sub)
    p = sub.add_parser("summary", help="print a model's layers, output shapes and parameters",
                       description="The Keras summary table of a zoo model or a checkpoint.")
    p.add_argument("model", metavar="MODEL", help="a zoo model name (mnist_cnn, strided_cnn, "
                   "lenet5, ...) or a .npconv checkpoint file")
    p.add_argument("--input-shape", type=_input_shape, metavar="H,W,C",
                   help="input shape for a zoo model (default: the model's own)")
    p.add_argument("--num-classes", type=_int_at_least(1), metavar="N",
                   help="number of classes for a zoo model (default: the model's own)")
    p.add_argument("--show-cost", action="store_true", help="add MACs and activation memory")
    from ..bench import add_bench_subparser, bench_command  # light: numpy is imported on use

    add_bench_subparser(sub).set_defaults(func=bench_command)
    sub.add_parser("datasets", help="list the datasets, where they are found or how to get them",
                   description="Which datasets npconv knows, where each was found on this "
                   "machine, or how to get it.")
    command = next((a for a in argv if not a.startswith("-")), None)
    if command in _VIZ_COMMANDS:
        from ..viz.commands import add_check_gradients_subparser, add_viz_subparsers

        add_viz_subparsers(sub)
        add_check_gradients_subparser(sub)
    else:  # listed in --help only
        for name, text in _VIZ_COMMANDS.items():
            sub.add_parser(name, help=text)
    return parser


def _add_train(sub):
    d = TRAIN_DEFAULTS
    p = sub.add_parser(
        "train", help="train a zoo model on a dataset",
        description="Train a zoo model. Validation data: by default seed 003's split of the "
        "test set, 70% validation / 30% test, drawn with generator seed 20 "
        "(--validation-split F holds out F of the training set instead). Writes best.npconv, "
        "last.npconv, history.csv/json, curves.png, confusion_matrix.png and run.json into "
        "--output. Ctrl-C keeps the last completed epoch; --resume DIR continues it to the "
        "same result as an uninterrupted run.")
    p.add_argument("--model", metavar="NAME",
                   help=f"zoo model: mnist_cnn, mnist_cnn_no_pool, same_cnn, strided_cnn, "
                   f"lenet5, alexnet (default {d['model']})")
    p.add_argument("--dataset", metavar="NAME|DIR",
                   help=f"fashion_mnist, mnist, cifar10, or a folder with one sub-folder of "
                   f"images per class (default {d['dataset']})")
    p.add_argument("--epochs", type=_int_at_least(1), metavar="N",
                   help=f"total epochs (default {d['epochs']})")
    p.add_argument("--batch-size", type=_int_at_least(1), metavar="N",
                   help=f"default {d['batch_size']}")
    p.add_argument("--optimizer", metavar="NAME",
                   help=("sgd, rmsprop, adam, adamw, adagrad, nadam, adamax, adadelta, lion, "
                         f"ftrl (default {d['optimizer']})"))
    p.add_argument("--lr", dest="learning_rate", type=_positive_float, metavar="RATE",
                   help=f"learning rate (default {d['learning_rate']:g})")
    p.add_argument("--validation-split", type=_fraction, metavar="FRACTION",
                   help="hold out this fraction of the training set for validation and test "
                   "on the whole test set (default: seed 003's 70/30 split of the test set)")
    p.add_argument("--seed", type=_int_at_least(0), metavar="N",
                   help="seeds the whole run (default: a random seed, recorded in run.json)")
    p.add_argument("--output", metavar="DIR",
                   help="output folder (default runs/<model>-<dataset>-<timestamp>)")
    p.add_argument("--limit", type=_int_at_least(1), metavar="N",
                   help="use only the first N training samples (quick runs)")
    p.add_argument("--resume", metavar="DIR",
                   help="continue the run in DIR (its configuration; only --epochs may change, "
                   "and --lr, which trains the epochs left at that rate: the way on after a run "
                   "diverged)")
    p.add_argument("--tensorboard", metavar="DIR",
                   help="also write TensorBoard logs to DIR: losses, accuracies, weight "
                   "histograms and the first Conv2D's feature maps of 4 validation images")
    p.add_argument("--image-size", type=_image_size, metavar="HxW",
                   help="image folders: resize to this size (default 28x28)")
    p.add_argument("--color-mode", choices=("grayscale", "rgb", "rgba"),
                   help="image folders: channels to read (default grayscale)")
    p.add_argument("--no-download", dest="download", action="store_const", const=False,
                   help="fail instead of downloading a dataset that is not found locally")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (the per-epoch summary is still printed)")


def _add_data_options(p):
    p.add_argument("--dataset", metavar="NAME|DIR",
                   help="fashion_mnist, mnist, cifar10 or an image folder (default: the "
                   "checkpoint's run.json, else fashion_mnist)")
    p.add_argument("--no-download", dest="download", action="store_false",
                   help="fail instead of downloading a dataset that is not found locally")


def _add_evaluate(sub):
    p = sub.add_parser(
        "evaluate", help="loss and accuracy of a checkpoint on a dataset's test split",
        description="Loss and accuracy of a checkpoint. The splits are made as `npconv train` "
        "makes them, with the settings of the run.json beside the checkpoint when there is one "
        "(so 'test' is the run's test split).")
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a .npconv model file")
    _add_data_options(p)
    p.add_argument("--split", choices=("test", "validation", "train"), default="test",
                   help="which split (default test)")
    p.add_argument("--validation-split", type=_fraction, metavar="FRACTION",
                   help="as for train (default: the run's, else seed 003's test-set split)")
    p.add_argument("--batch-size", type=_int_at_least(1), default=256, metavar="N",
                   help="default 256")


def _add_predict(sub):
    p = sub.add_parser(
        "predict", help="class and top probabilities for images or dataset samples",
        description="Predict image files (read with Pillow, converted to the model's input: "
        "grayscale or RGB, resized, scaled to [0, 1]) or test-set samples --dataset NAME "
        "--index A:B.")
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a .npconv model file")
    p.add_argument("images", metavar="IMAGE", nargs="*", help="image files")
    _add_data_options(p)
    p.add_argument("--index", type=_index_range, metavar="A:B",
                   help="test-set samples A to B-1 of --dataset (or one sample A)")
    p.add_argument("--top", type=_int_at_least(1), default=3, metavar="K",
                   help="how many top probabilities to show (default 3)")
    p.add_argument("--invert", action="store_true",
                   help="invert image files (dark strokes on white -> MNIST's light on dark)")
    p.add_argument("--class-names", metavar="A,B,...",
                   help="names of the classes, comma-separated (default: from the dataset)")


# ---------------------------------------------------------------------------- main
def _version() -> str:
    from .. import __version__

    return __version__


def _one_line(exc: BaseException) -> str:
    """The error message on one line; a dataset error gives its own one-line summary (the
    places searched and why the download failed)."""
    one_line = getattr(exc, "one_line", None)
    if callable(one_line):  # npconv.datasets.DatasetNotFoundError and DownloadError
        text = f"{one_line()} ('npconv datasets' lists where each dataset is found)"
    else:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        if not lines:
            return type(exc).__name__
        text = " ".join(lines)
    if isinstance(exc, OSError) and exc.errno is not None:  # str(): "[Errno 1] message"
        text = text.removeprefix(f"[Errno {exc.errno}] ")
    return text.removeprefix("npconv: ")


def _parse(parser, argv):
    """``parser.parse_args(argv)``, except that ``npconv predict`` takes its image files
    after options too (``predict CKPT --top 5 a.png``: argparse stops filling a ``*``
    positional at the first option, and parse_intermixed_args does not support commands)."""
    args, extra = parser.parse_known_args(argv)
    if extra and args.command == "predict" and not any(e.startswith("-") for e in extra):
        args.images = [*args.images, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv=None) -> int:
    """Run the ``npconv`` command with ``argv`` (default ``sys.argv[1:]``); return its exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _parse(build_parser(argv), argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else 1
    args.argv = ["npconv", *argv]
    if os.environ.get("NPCONV_DEBUG"):
        return _dispatch(args)
    try:
        return _dispatch(args)
    except UsageError as exc:
        return _fail(str(exc), 2)
    except KeyboardInterrupt as exc:
        message = str(exc) if type(exc).__name__ == "TrainingInterrupted" else "interrupted"
        print(f"npconv: {message}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `npconv datasets | head`: the reader left; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except MemoryError as exc:  # e.g. a Dense layer's weights for a huge --input-shape
        return _fail(f"out of memory: {_one_line(exc)}", 1)
    except (ValueError, OSError, ImportError, RuntimeError) as exc:
        run = sys.modules.get("npconv.training.run")
        usage = run is not None and isinstance(exc, run.RunConfigError)
        return _fail(_one_line(exc), 2 if usage else 1)


def _fail(message: str, code: int) -> int:
    print(f"npconv: error: {message}", file=sys.stderr)
    return code


def _dispatch(args) -> int:
    if getattr(args, "func", None) is not None:  # npconv viz ..., npconv check-gradients
        return args.func(args)
    if args.command == "train":
        from .train import train_command

        return train_command(args)
    from . import commands

    return getattr(commands, f"{args.command}_command")(args)


if __name__ == "__main__":
    sys.exit(main())
