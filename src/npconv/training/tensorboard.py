"""The Keras ``TensorBoard`` callback, writing real TensorBoard event files with tensorboardX.

    model.fit(x, y, validation_data=(xv, yv), epochs=5,
              callbacks=[TensorBoard("logs/run1", sample_images=x[:4])])
    # then: tensorboard --logdir logs

What is written (Keras's layout, so TensorBoard shows train and validation as two runs):

- ``log_dir/train``: scalars ``epoch_loss``, ``epoch_accuracy`` ... (every training log),
  ``epoch_learning_rate``; with ``update_freq`` ``"batch"`` or N, ``batch_loss`` ... every
  batch or every N batches (step = global batch count); histograms ``<layer>/<weight>`` of
  every weight every ``histogram_freq`` epochs; with ``write_images``, each Conv2D kernel as
  an image ``<layer>/kernel/image``; with ``sample_images``, the feature maps of the first
  Conv2D layer for each sample, tiled into one image ``feature_maps/<layer>/sample_<i>``.
- ``log_dir/validation``: ``epoch_loss``, ``epoch_accuracy`` ... from the ``val_*`` logs;
  and, as Keras, ``evaluation_loss_vs_iterations`` ... at the end of every evaluation (fit's
  validation passes, ``model.evaluate(..., callbacks=[tb])``), step = optimizer iterations.

A log that is an array (``F1Score()``'s one score per class, a Precision with several
thresholds) is not a scalar: it is left out of the scalar summaries, with one warning per
name (Keras 3.15.1 hands it to ``tf.summary.scalar``, whose ``tf.debugging.assert_scalar``
raises a ValueError, "Expected scalar shape ...", at the first epoch end: the fit stops; the
warning says so). Per-element scalars were not chosen: Keras writes none, and the names
would be npconv's own.

Steps are epochs (0-based, as Keras). Needs tensorboardX (``pip install 'npconv[tensorboard]'``);
viewing needs the ``tensorboard`` package.
"""

from __future__ import annotations

import itertools
import math
import numbers
import os
import warnings

import numpy as np

from .callbacks import Callback

__all__ = ["TensorBoard", "tile_maps"]

_WRITER_IDS = itertools.count()


def _summary_writer():
    try:
        from tensorboardX import SummaryWriter
    except ImportError as exc:
        raise ImportError("npconv.callbacks.TensorBoard needs tensorboardX: "
                          "pip install 'npconv[tensorboard]'") from exc
    return SummaryWriter


def tile_maps(maps, pad: int = 1) -> np.ndarray:
    """Tile ``(H, W, C)`` maps into one ``(rows*(H+pad)-pad, cols*(W+pad)-pad, 1)`` image in
    [0, 1], each map scaled by its own min and max, ``cols = ceil(sqrt(C))``."""
    maps = np.asarray(maps, dtype=np.float64)
    h, w, c = maps.shape
    lo = maps.min(axis=(0, 1))
    span = maps.max(axis=(0, 1)) - lo
    scaled = np.divide(maps - lo, span, out=np.zeros_like(maps), where=span > 0)
    cols = math.ceil(math.sqrt(c))
    rows = math.ceil(c / cols)
    image = np.ones((rows * (h + pad) - pad, cols * (w + pad) - pad), dtype=np.float32)
    for k in range(c):  # one copy per channel: a picture, not a hot loop
        r, q = divmod(k, cols)
        image[r * (h + pad):r * (h + pad) + h, q * (w + pad):q * (w + pad) + w] = scaled[:, :, k]
    return image[:, :, None]


class TensorBoard(Callback):
    """Log scalars, weight histograms and images for TensorBoard (see the module docstring).

    Keras's arguments, in Keras's order and with its defaults, then npconv's own (keywords):

    log_dir: folder of the run (``train`` and ``validation`` subfolders are created).
    histogram_freq: write weight histograms every this many epochs (0, the default: never).
    write_images: write each Conv2D kernel as an image (filters tiled).
    update_freq: ``"epoch"``, or an int N to also write ``batch_*`` scalars every N batches
    (``"batch"``: every batch, as 1).
    sample_images: a batch ``(N, H, W, C)`` whose first-Conv2D feature maps are written as
    images every ``image_freq`` epochs.

    Keras's other arguments are accepted at the values that ask for nothing npconv lacks, so
    the guides' calls run: ``write_graph`` (no graph is written: there is no TensorFlow
    graph), ``write_steps_per_second=False``, ``profile_batch=0``, ``embeddings_freq=0`` and
    ``embeddings_metadata=None``; any other value is a ValueError naming it.
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0,
                 embeddings_freq=0, embeddings_metadata=None, *, sample_images=None,
                 image_freq=1):
        super().__init__()
        where = "TensorBoard"
        for name, value, off in (("write_steps_per_second", write_steps_per_second, False),
                                 ("profile_batch", profile_batch, 0),
                                 ("embeddings_freq", embeddings_freq, 0),
                                 ("embeddings_metadata", embeddings_metadata, None)):
            if not (value is None if off is None else type(value) is type(off) and value == off):
                raise ValueError(f"{where}: {name} is not supported by npconv (no profiler "
                                 "or embedding projector); expected the default "
                                 f"{name}={off!r}. Received: {name}={value!r}")
        if not isinstance(write_graph, (bool, np.bool_)):
            raise TypeError(f"{where}: expected write_graph to be a bool. Received: "
                            f"write_graph={write_graph!r}")
        self.log_dir = os.fspath(log_dir)
        for name, value in (("histogram_freq", histogram_freq), ("image_freq", image_freq)):
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{where}: expected {name} to be an int >= 0. "
                                 f"Received: {name}={value!r}")
        if isinstance(update_freq, str) and update_freq == "batch":
            update_freq = 1     # Keras: "'batch' is a synonym for 1"
        if update_freq != "epoch" and (not isinstance(update_freq, numbers.Integral)
                                       or isinstance(update_freq, bool) or update_freq < 1):
            raise ValueError(f"{where}: expected update_freq 'epoch', 'batch' or an int >= 1. "
                             f"Received: update_freq={update_freq!r}")
        self.histogram_freq, self.image_freq = int(histogram_freq), int(image_freq)
        self.write_images = bool(write_images)
        self.update_freq = update_freq
        self.sample_images = None if sample_images is None else np.asarray(sample_images)
        _summary_writer()   # fail at construction, not at the end of the first epoch
        self._writers: dict = {}
        self._skipped: set = set()  # the array logs already warned about
        self._batch_step = 0

    # ------------------------------------------------------------------ writers
    def _writer(self, name: str):
        if name not in self._writers:
            # tensorboardX names a file after the second and the host only, and truncates an
            # existing one: a second writer within a second (another fit, evaluate after fit)
            # would erase the first's events. The process id and a counter make it unique, as
            # TensorFlow's own file names do.
            suffix = f".{os.getpid()}.{next(_WRITER_IDS)}"
            folder = os.path.join(self.log_dir, name)
            try:
                self._writers[name] = _summary_writer()(folder, filename_suffix=suffix)
            except OSError as err:  # tensorboardX's names only a folder, not who wanted it
                raise type(err)(err.errno, f"TensorBoard: cannot write the logs into {folder}: "
                                           f"{err.strerror or err}") from None
        return self._writers[name]

    def _close(self):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, logs=None):
        self._batch_step = 0
        self._writer("train")

    def on_train_batch_end(self, batch, logs=None):
        self._batch_step += 1
        if self.update_freq == "epoch" or self._batch_step % self.update_freq:
            return
        writer = self._writer("train")
        for key, value in self._scalars(logs).items():
            writer.add_scalar(f"batch_{key}", float(value), self._batch_step)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if "learning_rate" not in logs:
            lr = self._learning_rate()
            if lr is not None:
                logs["learning_rate"] = lr
        train, validation = self._writer("train"), None
        for key, value in self._scalars(logs).items():
            if key.startswith("val_"):
                validation = validation or self._writer("validation")
                validation.add_scalar(f"epoch_{key[4:]}", float(value), epoch)
            else:
                train.add_scalar(f"epoch_{key}", float(value), epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._write_histograms(train, epoch)
        if self.image_freq and epoch % self.image_freq == 0:
            if self.write_images:
                self._write_kernel_images(train, epoch)
            if self.sample_images is not None:
                self._write_feature_maps(train, epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_test_end(self, logs=None):
        # As Keras: each evaluation (fit's validation pass, or model.evaluate given this
        # callback) against the optimizer's step count, so evaluations between epochs show.
        iterations = getattr(getattr(self.model, "optimizer", None), "iterations", None)
        if not logs or iterations is None:
            return
        writer = self._writer("validation")
        for key, value in self._scalars(logs).items():
            writer.add_scalar(f"evaluation_{key}_vs_iterations", float(value), int(iterations))
        writer.flush()

    def on_train_end(self, logs=None):
        self._close()

    # ------------------------------------------------------------------ content
    def _scalars(self, logs) -> dict:
        """The logs that are one number; an array (one value per class or threshold) is
        left out, with a warning the first time its name comes."""
        scalars = {}
        for key, value in (logs or {}).items():
            if np.ndim(value) == 0:
                scalars[key] = value
            elif key not in self._skipped:
                self._skipped.add(key)
                warnings.warn(f"TensorBoard: {key!r} is an array of {np.size(value)} values "
                              "(one per class or threshold), not a scalar: it is not written "
                              "to the scalar summaries. Keras 3.15's TensorBoard passes it to "
                              "tf.summary.scalar, which raises ValueError (\"Expected scalar "
                              "shape\") and stops the fit; for a curve, log one number (e.g. "
                              "F1Score(average='macro'))", stacklevel=2)
        return scalars

    def _learning_rate(self):
        optimizer = getattr(self.model, "optimizer", None)
        lr = getattr(optimizer, "learning_rate", None)
        if callable(lr):
            lr = lr(optimizer.iterations)
        return None if lr is None else float(lr)

    def _layers(self):
        return [layer for layer in self.model._flat_layers()  # (a nested model's layers)
                if getattr(layer, "weights", None)]

    def _write_histograms(self, writer, epoch):
        for layer in self._layers():
            for w in layer.weights:
                writer.add_histogram(f"{layer.name}/{w.name}", np.asarray(w.value, np.float64),
                                     epoch)

    def _write_kernel_images(self, writer, epoch):
        from ..layers.conv import Conv2D

        for layer in self.model._flat_layers():
            if isinstance(layer, Conv2D) and layer.kernel is not None:
                k = layer.kernel.value                       # (kh, kw, C_in, C_out)
                writer.add_image(f"{layer.name}/kernel/image", tile_maps(k.mean(axis=2)), epoch,
                                 dataformats="HWC")

    def _write_feature_maps(self, writer, epoch):
        from ..viz.feature_maps import feature_maps, first_conv_layer

        conv = first_conv_layer(self.model)
        maps = feature_maps(self.model, self.sample_images, conv)
        if maps.ndim == 3:       # a single image was given
            maps = maps[None]
        for i, m in enumerate(maps):
            writer.add_image(f"feature_maps/{conv.name}/sample_{i}", tile_maps(m), epoch,
                             dataformats="HWC")
