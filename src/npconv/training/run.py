"""A whole training run, as ``npconv train`` does it, callable from Python.

::

    from npconv.training.run import RunConfig, train, resume
    result = train(RunConfig(model="strided_cnn", epochs=3, seed=0), output="runs/demo")
    result.metrics["test_accuracy"]

One run = load a dataset and split it, build a zoo model, compile, fit with a checkpoint after
every epoch, evaluate on the test split, and write into the output folder:

==========================  ==========================================================
``best.npconv``             the model with the best validation accuracy so far
``last.npconv``             the model after the last completed epoch, optimizer state included
``state.json``              what a resume needs: epochs done, generator states, best, history
``history.csv`` / ``.json`` one row / list entry per epoch (``loss``, ``accuracy``, ``val_*``)
``curves.png``              training curves (npconv.viz, needs matplotlib)
``confusion_matrix.png``    test-split confusion matrix (npconv.viz, needs matplotlib)
``run.json``                command line, configuration, versions, status, final metrics
==========================  ==========================================================

Splits. By default the validation data come from the *test* set, as seed 003 does it:
``random_split(x_test, y_test, [0.7, 0.3], seed=20)`` gives 70% validation and 30% test
(numpy's generator seeded with 20, so not the same samples as torch's ``manual_seed(20)``).
``validation_split=f`` instead holds out a fraction ``f`` of the training set (shuffled with
the same seed 20) and keeps the whole test set for the test.

Exact resume. Training is resumed at epoch boundaries: after each epoch the model (with its
optimizer state), the index of the next epoch and the states of the two generators that
training draws from (the shuffling generator and npconv's run-wide one, used e.g. by dropout)
are saved. A resumed run draws the same permutations and ends with the same weights, bit for
bit, as a run that was never interrupted. An interrupted epoch is discarded. Ctrl-C (or an
error) after the last epoch, during the test or the plots, marks run.json "interrupted" (or
"failed"); a resume of a run whose epochs are all done but which is not "completed" runs only
the test and the plots. A run that diverged (NaN loss) resumes only with a new learning rate
(``resume(output, learning_rate=...)``, ``npconv train --resume DIR --lr RATE``), which trains
its epochs left at that rate.
"""

from __future__ import annotations

import contextlib
import csv
import io as _stdio
import json
import math
import numbers
import os
import secrets
import shlex
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from .callbacks import Callback

#: The seed of seed 003's ``torch.Generator().manual_seed(20)`` used for the data splits.
SPLIT_SEED = 20
#: Seed 003's fractions of the test set: validation, test.
TEST_SPLIT = (0.7, 0.3)
#: The test fraction of an image folder, which has no test set of its own.
FOLDER_TEST = 0.15

KNOWN_DATASETS = ("fashion_mnist", "mnist", "cifar10")
_ALIASES = {"fashion-mnist": "fashion_mnist", "fashionmnist": "fashion_mnist",
            "cifar-10": "cifar10"}
_COLOR_MODES = ("grayscale", "rgb", "rgba")

STATE_FILE = "state.json"
RUN_FILE = "run.json"


class RunConfigError(ValueError):
    """A configuration value is not acceptable (the command line's usage errors)."""


class TrainingInterrupted(KeyboardInterrupt):  # noqa: N818 - it is a KeyboardInterrupt
    """Ctrl-C during training; the last completed epoch is saved in ``output`` for a resume."""

    def __init__(self, output: Path, epochs_done: int, epochs: int, *, finishing: bool = False):
        self.output, self.epochs_done, self.epochs = Path(output), epochs_done, epochs
        self.finishing = finishing
        again = f"npconv train --resume {shlex.quote(str(self.output))}"
        if finishing:
            text = (f"interrupted during the test, after all {epochs_done} of {epochs} epochs; "
                    f"the trained model is saved in {self.output}; run the test and the plots "
                    f"with: {again}")
        else:
            text = (f"interrupted; the state after {epochs_done} of {epochs} epochs is saved in "
                    f"{self.output} (an unfinished epoch is discarded); continue with: {again}")
        super().__init__(text)


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite: the run stops (run.json "failed") rather
    than spend its epochs on NaN weights."""


class _DivergenceGuard(Callback):
    """Stops a run at the first batch whose loss is not finite (Keras's TerminateOnNaN, as an
    error that names the epoch, the batch and the learning rate)."""

    def __init__(self, learning_rate):
        super().__init__()
        self.learning_rate = learning_rate
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def _stop(self, what, value, where):
        raise TrainingDiverged(
            f"the {what} became {value} in epoch {self.epoch}{where}, and the run stopped: "
            f"the weights are no longer numbers; a new run with a smaller learning rate than "
            f"--lr {self.learning_rate:g} may train")

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            self._stop("training loss", loss, f", batch {batch}")

    def on_epoch_end(self, epoch, logs=None):
        # the epoch's last update can be the one that breaks the weights: its validation
        # loss shows it, and this runs before the checkpoint would save them
        loss = (logs or {}).get("val_loss")
        if loss is not None and not math.isfinite(loss):
            self._stop("validation loss", loss, "'s end")


# ---------------------------------------------------------------------------- configuration
@dataclass
class RunConfig:
    """Everything that defines a run. ``validation_split=None``: seed 003's test-set split."""

    model: str = "mnist_cnn"
    dataset: str = "fashion_mnist"
    epochs: int = 5
    batch_size: int = 64
    optimizer: str = "rmsprop"
    learning_rate: float = 1e-3
    validation_split: float | None = None
    seed: int | None = None
    limit: int | None = None
    image_size: tuple[int, int] = (28, 28)  # image folders only
    color_mode: str = "grayscale"  # image folders only
    download: bool = True
    tensorboard: str | None = None

    def validate(self) -> RunConfig:
        """Check every value; raise :class:`RunConfigError` naming the first bad one."""
        from ..models.zoo import ZOO
        from .optimizers import _BY_NAME

        def bad(name, expected):
            raise RunConfigError(f"expected {name} {expected}. Received: "
                                 f"{name}={getattr(self, name)!r}")

        def is_int(v):
            return isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, bool)

        if self.model not in ZOO:
            raise RunConfigError(f"unknown model {self.model!r}; the zoo has: "
                                 f"{', '.join(sorted(ZOO))}")
        dataset_name(self.dataset)  # raises for an unknown name
        if self.optimizer.lower() not in _BY_NAME:
            raise RunConfigError(f"unknown optimizer {self.optimizer!r}; known: "
                                 f"{', '.join(sorted(_BY_NAME))}")
        if not is_int(self.epochs) or self.epochs < 1:
            bad("epochs", "to be an int >= 1")
        if not is_int(self.batch_size) or self.batch_size < 1:
            bad("batch_size", "to be an int >= 1")
        if not isinstance(self.learning_rate, numbers.Real) or not self.learning_rate > 0 \
                or not math.isfinite(self.learning_rate):
            bad("learning_rate", "to be a finite number > 0")
        if self.validation_split is not None and not (
                isinstance(self.validation_split, numbers.Real)
                and 0 < self.validation_split < 1):
            bad("validation_split", "to be None or a fraction in (0, 1)")
        if self.seed is not None and (not is_int(self.seed) or not 0 <= self.seed < 2**32):
            bad("seed", "to be None or an int in [0, 2**32)")
        if self.limit is not None and (not is_int(self.limit) or self.limit < 1):
            bad("limit", "to be None or an int >= 1")
        if len(tuple(self.image_size)) != 2 or not all(
                is_int(v) and v >= 1 for v in self.image_size):
            bad("image_size", "to be (height, width), positive ints")
        if self.color_mode not in _COLOR_MODES:
            bad("color_mode", f"to be one of {_COLOR_MODES}")
        return self

    def to_json(self) -> dict:
        out = asdict(self)
        out["image_size"] = list(self.image_size)
        return out

    @classmethod
    def from_json(cls, data: dict) -> RunConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"RunConfig: unknown entries {unknown}")
        data = dict(data)
        if "image_size" in data:
            data["image_size"] = tuple(data["image_size"])
        return cls(**data)


def known_dataset(dataset) -> str | None:
    """The canonical name of a known dataset (``"fashion-mnist"`` -> ``"fashion_mnist"``), else
    None (an image folder's path)."""
    key = str(dataset).lower()
    key = _ALIASES.get(key, key)
    return key if key in KNOWN_DATASETS else None


def dataset_name(dataset) -> str:
    """The canonical name of a known dataset, or the given folder path for an image folder."""
    known = known_dataset(dataset)
    if known is not None:
        return known
    if os.path.isdir(dataset):
        return os.fspath(dataset)
    text = os.fspath(dataset)
    if os.sep in text or text.startswith((".", "~")):
        raise RunConfigError(f"dataset folder {text!r} does not exist (expected "
                             f"{', '.join(KNOWN_DATASETS)} or a folder with one sub-folder of "
                             "images per class)")
    raise RunConfigError(f"unknown dataset {dataset!r}: expected one of "
                         f"{', '.join(KNOWN_DATASETS)} or a folder with one sub-folder of "
                         "images per class")


def absolute_paths(config: RunConfig, base=None) -> RunConfig:
    """``config`` with its image-folder dataset and TensorBoard folder made absolute (relative
    ones taken from ``base``, default the current folder), so that a run's run.json works from
    any folder: evaluate, predict and --resume are often run elsewhere."""
    def absolute(path):
        path = os.path.expanduser(os.fspath(path))
        if base is not None and not os.path.isabs(path):
            path = os.path.join(os.fspath(base), path)
        return os.path.abspath(path)

    if known_dataset(config.dataset) is None:
        config.dataset = absolute(config.dataset)
    if config.tensorboard:
        config.tensorboard = absolute(config.tensorboard)
    return config


def config_from_run_info(run_info: dict) -> RunConfig:
    """The RunConfig recorded in a run.json (not validated). Paths recorded relative, by
    npconv versions that stored them as given, are taken from the run's recorded folder."""
    config = RunConfig.from_json(run_info["config"])
    command = run_info.get("command")
    cwd = command.get("cwd") if isinstance(command, dict) else None
    return absolute_paths(config, cwd if isinstance(cwd, str) and os.path.isabs(cwd) else None)


def default_output(config: RunConfig, root="runs") -> Path:
    """``runs/<model>-<dataset>-<YYYYmmdd-HHMMSS>``."""
    name = dataset_name(config.dataset)
    if name not in KNOWN_DATASETS:
        name = Path(name).resolve().name or "folder"
    return Path(root) / f"{config.model}-{name}-{time.strftime('%Y%m%d-%H%M%S')}"


# ---------------------------------------------------------------------------- data
@dataclass
class Splits:
    """Float32 NHWC images in [0, 1] and int64 labels for training, validation and test."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str] = field(default_factory=list)
    description: str = ""

    def sizes(self) -> dict:
        return {"train": len(self.y_train), "validation": len(self.y_val),
                "test": len(self.y_test)}


def load_raw(dataset, *, image_size=(28, 28), color_mode="grayscale", download=True):
    """``((x_train, y_train), (x_test, y_test), class_names)`` as the loaders give them (uint8).

    An image folder has no test set of its own: its images are all "training" data and
    ``(None, None)`` stands for the test set.
    """
    name = dataset_name(dataset)
    if name in KNOWN_DATASETS:
        from ..datasets.catalog import DATASETS

        module = DATASETS[name]
        train, test = module.load_data(download=download)
        return train, test, list(module.CLASS_NAMES)
    from ..datasets.folders import image_folder

    x, y, names = image_folder(name, image_size=tuple(image_size), color_mode=color_mode)
    return (x, y), (None, None), names


def split_data(train, test, *, validation_split=None, limit=None) -> Splits:
    """Apply ``limit`` to the training samples and make the validation and test splits.

    ``validation_split=None``: seed 003's 70/30 split of the test set (generator seed 20);
    a fraction: that part of the (limited) training set, shuffled with seed 20, and the whole
    test set. A dataset without a test set (an image folder) is split 70/15/15 when
    ``validation_split`` is None, else ``validation_split`` for validation and 15% for test.
    """
    from ..data import random_split, to_float, train_val_split

    (x_train, y_train), (x_test, y_test) = train, test
    y_train = np.asarray(y_train).reshape(-1).astype(np.int64)
    if x_test is None:
        val = 0.15 if validation_split is None else float(validation_split)
        if val + FOLDER_TEST >= 1:
            raise RunConfigError(f"validation_split={val} and the {FOLDER_TEST:.0%} test part "
                                 "leave no training data")
        parts = random_split(x_train, y_train, [1.0 - val - FOLDER_TEST, val, FOLDER_TEST],
                             seed=SPLIT_SEED)
        (x_train, y_train), (x_val, y_val), (x_test, y_test) = parts
        if limit is not None:
            x_train, y_train = x_train[:limit], y_train[:limit]
        how = (f"image folder split {1 - val - FOLDER_TEST:.0%} train / {val:.0%} validation / "
               f"{FOLDER_TEST:.0%} test (seed {SPLIT_SEED})")
    else:
        y_test = np.asarray(y_test).reshape(-1).astype(np.int64)
        if limit is not None:
            x_train, y_train = x_train[:limit], y_train[:limit]
        if validation_split is None:
            (x_val, y_val), (x_test, y_test) = random_split(x_test, y_test, list(TEST_SPLIT),
                                                            seed=SPLIT_SEED)
            how = (f"seed 003: test set split {TEST_SPLIT[0]:.0%} validation / "
                   f"{TEST_SPLIT[1]:.0%} test (seed {SPLIT_SEED})")
        else:
            (x_train, y_train), (x_val, y_val) = train_val_split(
                x_train, y_train, float(validation_split), seed=SPLIT_SEED)
            how = (f"{float(validation_split):.0%} of the training set held out for validation "
                   f"(seed {SPLIT_SEED}); whole test set for the test")
    if len(y_train) == 0 or len(y_val) == 0 or len(y_test) == 0:
        raise RunConfigError(f"the splits leave {len(y_train)} training, {len(y_val)} "
                             f"validation and {len(y_test)} test samples; every part needs one")
    return Splits(to_float(x_train), y_train, to_float(x_val), y_val, to_float(x_test), y_test,
                  description=how)


def load_splits(config: RunConfig) -> Splits:
    """The dataset of ``config`` loaded and split (see :func:`split_data`)."""
    train, test, names = load_raw(config.dataset, image_size=config.image_size,
                                  color_mode=config.color_mode, download=config.download)
    splits = split_data(train, test, validation_split=config.validation_split,
                        limit=config.limit)
    splits.class_names = [str(n) for n in names]
    return splits


# ---------------------------------------------------------------------------- files
def _write_text(path: Path, text: str) -> None:
    from ..io import atomic_write_bytes

    atomic_write_bytes(path, text.encode("utf-8"))


def _write_json(path: Path, data) -> None:
    _write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def _read_json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON ({exc})") from None


def history_csv(history: dict[str, list[float]], epochs: list[int]) -> str:
    """``epoch`` then every log sorted, one row per epoch (CSVLogger's layout)."""
    keys = sorted(history)
    buf = _stdio.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["epoch"] + keys)
    for i, epoch in enumerate(epochs):
        writer.writerow([epoch] + [repr(history[k][i]) for k in keys])
    return buf.getvalue()


def versions() -> dict[str, str | None]:
    """Versions of Python, npconv and the libraries a run uses (without importing them)."""
    from importlib import metadata

    from .. import __version__

    out: dict[str, str | None] = {"python": sys.version.split()[0], "npconv": __version__}
    for dist in ("numpy", "tqdm", "safetensors", "matplotlib", "Pillow"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


@contextlib.contextmanager
def _sigint_deferred():
    """Hold back Ctrl-C while a checkpoint is written, so model and state stay consistent."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is signal.SIG_IGN):
        # (ignored, as for `npconv train ... &` in a script: a Ctrl-C then stops nothing,
        # and must not stop the run only when it comes while a checkpoint is written)
        yield
        return
    caught = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


# ---------------------------------------------------------------------------- the callback
class RunCheckpoint(Callback):
    """After each epoch: print seed 003's block, save last/best, the history and the state."""

    def __init__(self, output: Path, shuffle_rng: np.random.Generator, *, history=None,
                 epochs_done=0, best=None, print_fn=print):
        super().__init__()
        self.output, self.shuffle_rng, self.print_fn = Path(output), shuffle_rng, print_fn
        self.history: dict[str, list[float]] = {k: list(v) for k, v in (history or {}).items()}
        self.epochs: list[int] = list(range(epochs_done))
        self.epochs_done = epochs_done
        self.best = best  # {"epoch": int, "val_accuracy": float} or None

    def state(self) -> dict:
        from ..random import global_generator

        return {"epochs_done": self.epochs_done,
                # (checked on resume against last.npconv's: a run killed between writing the
                # two files would otherwise resume an epoch ahead of its state)
                "optimizer_iterations": int(self.model.optimizer.iterations),
                "shuffle_rng": self.shuffle_rng.bit_generator.state,
                "global_rng": global_generator().bit_generator.state,
                "best": self.best, "history": self.history}

    def save(self) -> None:
        """Write last.npconv and then state.json (Ctrl-C waits until both are written)."""
        with _sigint_deferred():
            self.model.save(self.output / "last.npconv", include_optimizer=True)
            _write_json(self.output / STATE_FILE, self.state())

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        self.print_fn(epoch_block(epoch, logs))
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))
        self.epochs.append(epoch)
        self.epochs_done = epoch + 1
        val_acc = logs.get("val_accuracy")
        with _sigint_deferred():
            if val_acc is not None and (self.best is None or val_acc > self.best["val_accuracy"]):
                self.best = {"epoch": epoch, "val_accuracy": float(val_acc)}
                self.model.save(self.output / "best.npconv", include_optimizer=True)
            _write_text(self.output / "history.csv", history_csv(self.history, self.epochs))
            _write_json(self.output / "history.json", {"epoch": self.epochs, **self.history})
            self.save()


def epoch_block(epoch: int, logs: dict) -> str:
    """Seed 003's per-epoch print: 'epoch: N', train and validation loss/accuracy."""
    lines = [f"epoch: {epoch}", "train: "]
    lines += [f"\t{k}: {logs[k]:.4f}" for k in ("loss", "accuracy") if k in logs]
    if "val_loss" in logs:
        lines.append("validation: ")
        lines += [f"\t{k}: {logs['val_' + k]:.4f}" for k in ("loss", "accuracy")
                  if "val_" + k in logs]
    lines.append("-" * 20)
    return "\n".join(lines)


# ---------------------------------------------------------------------------- plots
def _plots(output: Path, history: dict, cm: np.ndarray, class_names, print_fn) -> list[str]:
    """curves.png and confusion_matrix.png via npconv.viz; a one-line note without matplotlib."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print_fn("note: matplotlib is not installed, so curves.png and confusion_matrix.png "
                 "were not drawn (pip install 'npconv[viz]')")
        return []
    from ..viz.plots import plot_confusion_matrix, plot_history

    plot_history(history, path=output / "curves.png")
    plot_confusion_matrix(cm, class_names=class_names, path=output / "confusion_matrix.png")
    return ["curves.png", "confusion_matrix.png"]


#: How many validation images ``--tensorboard`` logs the first Conv2D's feature maps of.
TENSORBOARD_SAMPLES = 4


def _tensorboard_class():
    """npconv's TensorBoard callback class, or a clear error if it is unavailable."""
    try:
        from ..callbacks import TensorBoard
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("npconv"):
            raise RunConfigError("--tensorboard needs npconv.callbacks.TensorBoard, which this "
                                 f"npconv does not provide ({exc})") from None
        raise ImportError(f"--tensorboard needs {exc.name}: pip install 'npconv[tensorboard]'"
                          ) from None
    return TensorBoard


def _tensorboard_callback(logdir, model=None, splits=None):
    """The TensorBoard callback writing to ``logdir``: scalars, histograms and, given the
    model and its data, the first Conv2D's feature maps of a few validation images."""
    TensorBoard = _tensorboard_class()  # noqa: N806 - a class
    samples = None
    if model is not None and splits is not None:
        from ..viz.feature_maps import first_conv_layer

        try:
            first_conv_layer(model)
            samples = splits.x_val[:TENSORBOARD_SAMPLES]
        except ValueError:  # no Conv2D: no feature maps to show
            samples = None
    return TensorBoard(log_dir=os.fspath(logdir), histogram_freq=1, sample_images=samples)


def _check_logdir(logdir) -> Path:
    """Fail now, before anything is written into the run's folder, if the TensorBoard folder
    cannot be one (a file, under a file, not writable); nothing is created here."""
    path = Path(logdir)
    what = f"the TensorBoard folder (--tensorboard) {path}"
    for folder in (path, path / "train", path / "validation"):
        if folder.exists() and not folder.is_dir():
            raise RunConfigError(f"{what}: {folder} is a file, not a folder; choose another "
                                 "folder for the logs")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise RunConfigError(f"{what} cannot be created: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise RunConfigError(f"{what} cannot be written: no permission to write into {existing}")
    return path


def _make_logdir(logdir) -> None:
    """Create the TensorBoard folder (before the run's folder is written into)."""
    try:
        os.makedirs(logdir, exist_ok=True)
    except OSError as exc:
        raise RunConfigError(f"the TensorBoard folder (--tensorboard) {logdir} cannot be "
                             f"created: {exc.strerror or exc}") from None


# ---------------------------------------------------------------------------- the run
@dataclass
class RunResult:
    """What a run leaves: its folder, the final model, the whole history and the metrics."""

    output: Path
    model: object
    history: dict
    metrics: dict
    config: RunConfig
    files: list[str]


def _build_model(config: RunConfig, splits: Splits):
    from ..models.zoo import get_model
    from . import optimizers

    shape = tuple(splits.x_train.shape[1:])
    try:
        model = get_model(config.model, input_shape=shape, num_classes=len(splits.class_names))
    except ValueError as exc:  # e.g. AlexNet's pools on 28x28 images
        raise RunConfigError(
            f"{config.model} cannot take this data's {shape[0]}x{shape[1]} images: {exc}. "
            f"Give larger images (an image folder with --image-size, e.g. 224x224 for "
            f"alexnet) or another --model") from None
    optimizer = optimizers.get({"class_name": config.optimizer,
                                "config": {"learning_rate": float(config.learning_rate)}})
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def load_checkpoint(path, *, optimizer_state: bool = True):
    """A model file as a model compiled for this run's labels, with its optimizer restored.

    The optimizer is the one recorded in the file (RMSprop if none), with its state when
    ``optimizer_state`` and the file holds one; the loss is sparse categorical cross-entropy
    and the metric accuracy, as in :func:`train`, whatever the file recorded. Files written
    before io.save_model kept the optimizer's scalars 0-d hold them as shape (1,): both load.
    """
    from safetensors import safe_open
    from safetensors.numpy import load_file

    from ..io import _restore_optimizer_state, load_model
    from . import optimizers

    model = load_model(path, compile=False)  # validates the file first
    with safe_open(os.fspath(path), framework="np") as f:
        compiled = json.loads((f.metadata() or {}).get("npconv.compile") or "null")
    try:
        optimizer = optimizers.get(compiled["optimizer"] if compiled else "rmsprop")
    except (KeyError, TypeError, ValueError) as exc:  # (an edited file: its checksums match)
        raise ValueError(f"npconv: {path}: cannot restore the optimizer recorded in it "
                         f"({exc})") from None
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    if optimizer_state:  # slots matched to the weights by their file keys, as load_model does
        _restore_optimizer_state(model, optimizer, load_file(os.fspath(path)), path)
    return model


def train(config: RunConfig | None = None, output=None, *, callbacks=(), verbose=1,
          command=None, print_fn=print) -> RunResult:
    """Run ``config`` from scratch into ``output`` (default :func:`default_output`).

    ``callbacks`` are added after the run's own checkpoint callback. ``verbose`` is fit's
    (1: a progress bar per epoch). ``command``: the command line recorded in run.json.
    Raises :class:`TrainingInterrupted` on Ctrl-C, after the last completed epoch was saved.
    """
    from ..random import make_generator, set_random_seed

    config = absolute_paths((config or RunConfig()).validate())
    if config.seed is None:
        config.seed = secrets.randbelow(2**31)
    output = Path(output) if output is not None else default_output(config)
    if output.exists() and not output.is_dir():
        raise RunConfigError(f"{output} is a file, not a folder; choose an output folder")
    existing = output  # the part of it that exists: checked now, before the data are loaded
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise RunConfigError(f"the output folder {output} cannot be created: {existing} is a "
                             "file, not a folder; choose an output folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        made = "written" if existing == output else "created"
        raise RunConfigError(f"the output folder {output} cannot be {made}: no permission "
                             f"to write into {existing}; choose an output folder")
    if (output / RUN_FILE).exists() or (output / STATE_FILE).exists():
        raise RunConfigError(f"{output} already holds a run; continue it with --resume {output} "
                             "or choose another output folder")
    extra = list(callbacks)
    if config.tensorboard:
        _check_logdir(config.tensorboard)
        _tensorboard_class()  # tensorboardX missing: fail before the data are loaded

    set_random_seed(config.seed)
    splits = load_splits(config)
    model = _build_model(config, splits)
    shuffle_rng = make_generator(None)  # a child of the run-wide generator: seeded above
    if config.tensorboard:
        extra.append(_tensorboard_callback(config.tensorboard, model, splits))
        _make_logdir(config.tensorboard)  # a failure leaves no run behind, not a broken one
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # e.g. a read-only file system, which os.access does not tell
        raise RunConfigError(f"the output folder {output} cannot be created: "
                             f"{exc.strerror or exc}") from None
    run_info = _run_info(config, splits, command)
    _write_json(output / RUN_FILE, run_info)
    checkpoint = RunCheckpoint(output, shuffle_rng, print_fn=print_fn)
    checkpoint.set_model(model)
    checkpoint.save()  # epoch 0: a Ctrl-C during the first epoch is resumable too
    return _fit_and_finish(model, splits, config, output, checkpoint, run_info, extra, verbose,
                           print_fn)


def resume(output, *, epochs=None, learning_rate=None, callbacks=(), verbose=1, command=None,
           print_fn=print) -> RunResult:
    """Continue the run in ``output`` from its last completed epoch (``epochs``: a new total).

    Gives the same final weights, bit for bit, as the run would have given uninterrupted.
    ``learning_rate`` trains the epochs left at that rate instead (recorded in run.json); a
    run that diverged is resumed only so, since it would replay its steps into the same NaN.
    """
    from ..random import global_generator, set_random_seed

    output = Path(output)
    if not output.is_dir():
        raise FileNotFoundError(f"no run to resume: {output} is not a folder")
    run_info, config, state = _read_resumable(output)
    done = state["epochs_done"]
    if epochs is not None:
        config.epochs = epochs
        config.validate()
    # every epoch done but no "completed" (Ctrl-C or an error during the test or the plots):
    # the resume only runs the test and the plots
    finish_only = done == config.epochs and run_info.get("status") != "completed"
    if done >= config.epochs and not finish_only:
        raise RunConfigError(f"the run in {output} has already done {done} of {config.epochs} "
                             "epochs; pass a larger --epochs to train further")
    new_rate = _resume_learning_rate(output, run_info, config, learning_rate, finish_only)
    extra = list(callbacks)
    if config.tensorboard and not finish_only:
        _check_logdir(config.tensorboard)
        _tensorboard_class()

    set_random_seed(config.seed)
    splits = load_splits(config)
    model = load_checkpoint(output / "last.npconv")
    if new_rate is not None:
        model.optimizer.learning_rate = config.learning_rate
    steps = state.get("optimizer_iterations")
    if steps is not None and steps != model.optimizer.iterations:
        raise NotResumableError(
            f"not a resumable run: {output / 'last.npconv'} holds the model after "
            f"{model.optimizer.iterations} training steps, but {output / STATE_FILE} was "
            f"written after {steps}: the two are from different epochs (was the run killed "
            "while saving them?)")
    shuffle_rng = np.random.default_rng()
    shuffle_rng.bit_generator.state = state["shuffle_rng"]
    global_generator().bit_generator.state = state["global_rng"]
    if finish_only:
        print_fn(f"finishing {output}: all {done} epochs are done; running the test and plots")
    else:
        print_fn(f"resuming {output} after {done} of {config.epochs} epochs")
    session = {"after_epochs": done, "command": _command(command),
               "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if new_rate is not None:
        session["learning_rate"] = new_rate
    run_info.setdefault("resumed", []).append(session)
    run_info["config"] = config.to_json()
    run_info["status"] = "running"
    if config.tensorboard and not finish_only:
        extra.append(_tensorboard_callback(config.tensorboard, model, splits))
        _make_logdir(config.tensorboard)
    _write_json(output / RUN_FILE, run_info)
    checkpoint = RunCheckpoint(output, shuffle_rng, history=state.get("history"),
                               epochs_done=done, best=state.get("best"), print_fn=print_fn)
    checkpoint.set_model(model)
    return _fit_and_finish(model, splits, config, output, checkpoint, run_info, extra, verbose,
                           print_fn)


def _resume_learning_rate(output, run_info, config, learning_rate, finish_only):
    """Set ``config.learning_rate`` to a resume's new ``learning_rate``; returns
    ``{"from": old, "to": new}`` for run.json, or None when the rate stays. A run that
    diverged is refused without a new rate: its resume would repeat the same steps."""
    if learning_rate is None:
        error = str(run_info.get("error", ""))
        if (not finish_only and run_info.get("status") == "failed"
                and error.startswith(f"{TrainingDiverged.__name__}:")):
            rate = config.learning_rate
            raise RunConfigError(
                f"the run in {output} stopped because its training diverged (run.json "
                f"records where) with --lr {rate:g}; a resume repeats its steps bit for bit, "
                f"so it would diverge again. Continue it at a smaller learning rate: npconv "
                f"train --resume {shlex.quote(str(output))} --lr RATE (e.g. --lr "
                f"{rate / 10:g}), or start a new run")
        return None
    if finish_only:
        raise RunConfigError(f"the run in {output} has no epoch left to train (only its test "
                             f"and plots); a new learning rate would change nothing")
    previous = config.learning_rate
    config.learning_rate = learning_rate
    config.validate()
    return {"from": previous, "to": config.learning_rate}


class NotResumableError(ValueError):
    """A run folder whose run.json, state.json or last.npconv cannot be resumed from."""


def _read_resumable(output: Path) -> tuple[dict, RunConfig, dict]:
    """run.json, its configuration and state.json of ``output``, every value a resume uses
    checked (keys, types, ranges); :class:`NotResumableError` naming the file otherwise."""
    def bad(path, reason):
        raise NotResumableError(f"not a resumable run: {path}: {reason}")

    documents = []
    for name in (RUN_FILE, STATE_FILE):
        try:
            data = _read_json(output / name)
        except FileNotFoundError:
            bad(output / name, "missing")
        except ValueError as exc:
            bad(output / name, str(exc).removeprefix(f"{output / name} "))
        if not isinstance(data, dict):
            bad(output / name, f"expected a JSON object. Received {type(data).__name__}")
        documents.append(data)
    run_info, state = documents

    where = output / RUN_FILE
    if not isinstance(run_info.get("config"), dict):
        bad(where, "expected a 'config' object")
    try:
        config = config_from_run_info(run_info).validate()
    except (TypeError, ValueError) as exc:  # RunConfigError is a ValueError
        bad(where, f"its config is not valid ({exc})")
    if not isinstance(run_info.get("resumed", []), list):
        bad(where, "expected 'resumed' to be a list")

    where = output / STATE_FILE
    for key in ("epochs_done", "shuffle_rng", "global_rng"):
        if key not in state:
            bad(where, f"{key!r} is missing")
    done = state["epochs_done"]
    if not isinstance(done, int) or isinstance(done, bool) or done < 0:
        bad(where, f"expected 'epochs_done' to be an int >= 0. Received {done!r}")
    steps = state.get("optimizer_iterations", 0)  # (states written before it have none)
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        bad(where, f"expected 'optimizer_iterations' to be an int >= 0. Received {steps!r}")
    for key in ("shuffle_rng", "global_rng"):
        try:  # on a scratch generator of the kind it will be restored into (PCG64)
            np.random.default_rng().bit_generator.state = state[key]
        except (TypeError, ValueError, KeyError, OverflowError) as exc:
            bad(where, f"{key!r} is not a numpy generator state ({type(exc).__name__}: {exc})")
    history = state.get("history") or {}
    if not isinstance(history, dict):
        bad(where, f"expected 'history' to be an object. Received {type(history).__name__}")
    for key, values in history.items():
        if not isinstance(values, list) or not all(
                isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values):
            bad(where, f"expected history[{key!r}] to be a list of numbers")
        if len(values) != done:
            bad(where, f"history[{key!r}] holds {len(values)} epochs, but epochs_done is {done}")
    best = state.get("best")
    if best is not None and not (
            isinstance(best, dict) and isinstance(best.get("epoch"), int)
            and not isinstance(best["epoch"], bool) and 0 <= best["epoch"] < done
            and isinstance(best.get("val_accuracy"), numbers.Real)):
        bad(where, "expected 'best' to be null or {\"epoch\": an epoch done, "
                   f"\"val_accuracy\": a number}}. Received {best!r}")
    if not (output / "last.npconv").is_file():
        bad(output / "last.npconv", "missing")
    return run_info, config, state


def _command(command):
    argv = list(command) if command is not None else list(sys.argv)
    return {"argv": argv, "string": shlex.join(argv), "cwd": os.getcwd()}


def _run_info(config: RunConfig, splits: Splits, command) -> dict:
    return {"status": "running", "command": _command(command), "config": config.to_json(),
            "data": {"sizes": splits.sizes(), "split": splits.description,
                     "class_names": splits.class_names,
                     "input_shape": list(splits.x_train.shape[1:])},
            "versions": versions(), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}


def _fit_and_finish(model, splits, config, output, checkpoint, run_info, extra, verbose,
                    print_fn) -> RunResult:
    """Train the epochs left, then test and plot. Ctrl-C in either phase marks run.json
    "interrupted" (an error: "failed") and raises :class:`TrainingInterrupted`; a resume
    continues the training, or runs only the test and the plots once every epoch is done."""
    def stopped(status, **more):
        run_info.update({"status": status, "epochs_done": checkpoint.epochs_done, **more})
        _write_json(output / RUN_FILE, run_info)

    start = time.perf_counter()
    if checkpoint.epochs_done < config.epochs:
        try:
            model.fit(splits.x_train, splits.y_train, batch_size=config.batch_size,
                      epochs=config.epochs, initial_epoch=checkpoint.epochs_done,
                      validation_data=(splits.x_val, splits.y_val), verbose=verbose,
                      callbacks=[_DivergenceGuard(config.learning_rate), checkpoint, *extra],
                      seed=checkpoint.shuffle_rng)
        except KeyboardInterrupt:
            stopped("interrupted")
            raise TrainingInterrupted(output, checkpoint.epochs_done, config.epochs) from None
        except Exception as exc:
            stopped("failed", error=f"{type(exc).__name__}: {exc}")
            raise
    seconds = time.perf_counter() - start
    try:
        return _finish(model, splits, config, output, checkpoint, run_info, seconds, print_fn)
    except KeyboardInterrupt:
        stopped("interrupted")
        raise TrainingInterrupted(output, checkpoint.epochs_done, config.epochs,
                                  finishing=True) from None
    except Exception as exc:
        stopped("failed", error=f"{type(exc).__name__}: {exc}")
        raise


def _finish(model, splits, config, output, checkpoint, run_info, seconds, print_fn):
    """The test (loss, accuracy, confusion matrix), the plots and the completed run.json."""
    # one pass over the test split gives the loss, the accuracy and the confusion matrix
    probs = model.predict(splits.x_test, batch_size=config.batch_size)
    test_loss = float(model.loss(splits.y_test, probs))
    test_acc = float(np.mean(np.argmax(probs, axis=-1) == splits.y_test))
    print_fn(f"test: \n\tloss: {test_loss:.4f}\n\taccuracy: {test_acc:.4f}")
    from .metrics import confusion_matrix

    cm = confusion_matrix(splits.y_test, probs, num_classes=len(splits.class_names))
    history = checkpoint.history
    metrics = {k: v[-1] for k, v in history.items()}
    metrics.update({"test_loss": float(test_loss), "test_accuracy": float(test_acc)})
    files = ["last.npconv", "best.npconv", STATE_FILE, "history.csv", "history.json", RUN_FILE]
    files += _plots(output, history, cm, splits.class_names, print_fn)
    run_info.pop("error", None)  # of an earlier session that failed
    run_info.update({
        "status": "completed", "epochs_done": checkpoint.epochs_done,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "train_seconds_last_session": round(seconds, 3),
        "metrics": metrics, "best": checkpoint.best,
        "confusion_matrix": cm.tolist(), "files": files,
    })
    _write_json(output / RUN_FILE, run_info)
    return RunResult(output, model, {k: list(v) for k, v in history.items()}, metrics, config,
                     files)
