"""Keras callbacks: hooks called by ``fit``, ``evaluate`` and ``predict``.

``fit`` calls ``on_train_begin/end``, ``on_epoch_begin/end`` and ``on_train_batch_begin/end``
(whose defaults call Keras's older ``on_batch_begin/end``), and runs its validation through
``evaluate`` with the same callbacks; ``evaluate`` calls ``on_test_begin/end`` and
``on_test_batch_begin/end``; ``predict`` calls ``on_predict_begin/end`` and
``on_predict_batch_begin/end`` (the batch's ``{"outputs": ...}`` at each batch end).

``logs`` are dicts of floats: ``loss`` and the metrics (running means over the epoch or the
evaluation so far), plus ``val_*`` entries at the end of an epoch when there is validation data;
a metric with one value per class or threshold (``F1Score()``) gives a 1-D array there, shown
and written as Keras does (see :mod:`npconv.training.log_values`).
"""

from __future__ import annotations

import csv
import math
import os
import sys
import time
import warnings

import numpy as np

from .log_values import csv_cell, monitored_number, shown_number


class Callback:
    """Base class: override the hooks you need. ``self.model`` is set by ``fit``."""

    def __init__(self):
        self.model = None
        self.params: dict = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_test_begin(self, logs=None): ...
    def on_test_end(self, logs=None): ...
    def on_predict_begin(self, logs=None): ...
    def on_predict_end(self, logs=None): ...

    def on_batch_begin(self, batch, logs=None):
        """Keras's older name for :meth:`on_train_batch_begin`, which calls it."""

    def on_batch_end(self, batch, logs=None):
        """Keras's older name for :meth:`on_train_batch_end`, which calls it."""

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None): ...
    def on_test_batch_end(self, batch, logs=None): ...
    def on_predict_batch_begin(self, batch, logs=None): ...
    def on_predict_batch_end(self, batch, logs=None): ...


class History(Callback):
    """Records every epoch's logs: ``history.history["loss"]`` is a list, one value per epoch
    (a float, or an array for a metric with one value per class or threshold, as Keras)."""

    def __init__(self):
        super().__init__()
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(
                float(value) if np.ndim(value) == 0 else np.array(value))


class ProgbarLogger(Callback):
    """The progress display of ``fit``: verbose 1 = a tqdm bar per epoch, 2 = one line per epoch."""

    def __init__(self, verbose=1, epochs=1, steps=None, stream=None):
        super().__init__()
        self.verbose, self.epochs, self.steps = verbose, epochs, steps
        self.stream = stream or sys.stdout
        self._bar = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        if self.verbose == 1:
            from tqdm.auto import tqdm

            print(f"Epoch {epoch + 1}/{self.epochs}", file=self.stream, flush=True)
            self._bar = tqdm(total=self.steps, unit="step", file=self.stream, leave=True,
                             dynamic_ncols=True)

    def on_train_batch_end(self, batch, logs=None):
        if self._bar is not None:
            self._bar.update(1)
            if batch % 10 == 0 or batch + 1 == self.steps:
                self._bar.set_postfix(_postfix(logs), refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        text = " - ".join(f"{k}: {v}" for k, v in _postfix(logs).items())
        if self._bar is not None:
            self._bar.set_postfix(_postfix(logs))
            self._bar.close()
            self._bar = None
        elif self.verbose == 2:
            seconds = time.perf_counter() - self._start
            print(f"Epoch {epoch + 1}/{self.epochs} - {seconds:.0f}s - {text}", file=self.stream,
                  flush=True)

    def close(self):
        """End a bar an exception (Ctrl-C) left open, so that its line is finished before the
        error's message: else tqdm redraws it when it is garbage collected, after the message."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _postfix(logs) -> dict:
    """The progress display's ``{name: "0.1234"}``: an array's mean, as Keras's Progbar."""
    return {k: f"{shown_number(v):.4f}" for k, v in (logs or {}).items()}


class CallbackList:
    """Calls every callback's hook in order.

    ``fit`` adds its progress bar (first, when ``verbose``) and its ``History`` (last);
    ``evaluate`` and ``predict`` show their own progress, so they add neither. ``where``
    names the caller in the error for something that is not a Callback.
    """

    def __init__(self, callbacks, model, verbose, epochs, steps, history=None, *,
                 progbar=True, where="fit"):
        if callbacks is not None and not isinstance(callbacks, (list, tuple)):
            callbacks = [callbacks]  # one callback, not in a list: Keras takes it
        self.callbacks = list(callbacks or [])
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"{where}: callbacks must be npconv Callback objects. "
                                f"Received {type(cb).__name__}")
        self._progbar = ProgbarLogger(verbose, epochs, steps) if verbose and progbar else None
        if self._progbar is not None:
            self.callbacks.insert(0, self._progbar)
        if history is not None:
            self.callbacks.append(history)
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params({"epochs": epochs, "steps": steps, "verbose": verbose})

    def __getattr__(self, hook):
        """``on_*`` calls every callback's hook as Keras's CallbackList does: ``logs`` always
        a dict (``{}`` when the loop has none, one dict shared by the callbacks) and passed
        by position, so ``def on_train_begin(self, logs)`` and ``logs.keys()`` work."""
        if not hook.startswith("on_"):
            raise AttributeError(hook)
        indexed = "epoch" in hook or "batch" in hook

        def call_all(*args, logs=None):
            index, rest = (args[:1], args[1:]) if indexed else ((), args)
            if rest:
                logs = rest[0]
            logs = {} if logs is None else logs
            for cb in self.callbacks:
                getattr(cb, hook)(*index, logs)

        return call_all

    def close(self) -> None:
        """End the progress bar this list made, if an exception (Ctrl-C) left it open."""
        if self._progbar is not None:
            self._progbar.close()


def _check_mode(mode, where):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{where}: expected mode 'auto', 'min' or 'max'. Received: mode={mode!r}")
    return mode


def _auto_direction(model, monitor, where) -> str:
    """"min" or "max" for ``mode="auto"``, decided as Keras 3.15 does: ``loss`` / ``val_loss``
    is minimised; any other name must be the log name of a compiled metric whose
    ``_direction`` is known ("up": accuracies, AUC, precision, recall, F-scores, IoUs, R2,
    cosine similarity; "down": errors and the means of losses). Else a ValueError, Keras's
    message: the counts (``true_positives`` ...), ``Mean`` or a plain function as a metric
    have no direction, and neither has a name that no metric logs."""
    name = monitor.removeprefix("val_")
    if name == "loss":
        return "min"
    from .loop import model_metrics

    direction = None
    for metric in (model_metrics(model) if model is not None else []):
        if metric.name == name:
            direction = getattr(metric, "_direction", None)
    if direction is None:
        raise ValueError(
            f"{where} callback received monitor={monitor}, but Keras isn't able to "
            "automatically determine whether that metric should be maximized or minimized. "
            "Pass `mode='max'` in order to monitor based on the highest metric value, or "
            "pass `mode='min'` in order to use the lowest value.")
    return "max" if direction == "up" else "min"


class _Monitor(Callback):
    """Shared logic: track the best value of ``monitor`` with ``min_delta``.

    ``mode`` stays as given; with "auto", the direction (``monitor_mode``) is decided at
    the first epoch end, from the compiled metrics (:func:`_auto_direction`), as Keras does.
    """

    def __init__(self, monitor, mode, min_delta, where):
        super().__init__()
        self.monitor = monitor
        self.mode = _check_mode(mode, where)
        self.min_delta = abs(float(min_delta))
        self.monitor_mode = None if mode == "auto" else mode
        self.best = None

    def _set_monitor_mode(self):
        """Decide ``monitor_mode`` if not yet done (the first epoch end, when the model's
        metrics are all built)."""
        if self.monitor_mode is None:
            self.monitor_mode = _auto_direction(self.model, self.monitor, type(self).__name__)

    def _current(self, logs):
        value = (logs or {}).get(self.monitor)
        if value is None:
            print(f"{type(self).__name__}: metric '{self.monitor}' is not in the logs "
                  f"(available: {sorted(logs or {})}); skipping", file=sys.stderr)
        return value

    def _number(self, logs):
        """:meth:`_current` as a float (None when missing); an array is a ValueError, as
        it cannot be ordered against the best so far."""
        value = self._current(logs)
        return None if value is None else monitored_number(value, self.monitor,
                                                           type(self).__name__)

    def _improved(self, value, reference=None) -> bool:
        """``value`` beats ``reference`` (default: the best so far; None before the first
        value, which always improves) by more than min_delta."""
        reference = self.best if reference is None else reference
        if reference is None:
            return True
        if self.monitor_mode == "min":
            return value < reference - self.min_delta
        return value > reference + self.min_delta


class EarlyStopping(_Monitor):
    """Stop when ``monitor`` has not improved for ``patience`` epochs (Keras 3's rules).

    With ``restore_best_weights``, the weights of the best epoch are put back when training
    ends, whether it stopped early or ran to its last epoch; the first monitored epoch counts
    as the best so far even when it does not beat ``baseline``. With a ``baseline``, an
    improvement resets the patience only if it also beats the baseline.
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta, "EarlyStopping")
        self.patience, self.verbose = int(patience), verbose
        self.baseline = None if baseline is None else float(baseline)
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.wait, self.stopped_epoch, self.best_weights, self.best_epoch = 0, 0, None, 0

    def on_train_begin(self, logs=None):
        # Reset everything, best included, so that an instance can be reused for a new fit.
        self.wait, self.stopped_epoch, self.best_weights, self.best_epoch = 0, 0, None, 0
        self.best = None

    def on_epoch_end(self, epoch, logs=None):
        self._set_monitor_mode()
        value = self._number(logs)
        if value is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            # the first monitored epoch is the best one so far
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._improved(value):
            self.best, self.best_epoch = value, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._improved(value, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping (best {self.monitor} "
                  f"{self.best:.4f} at epoch {self.best_epoch + 1})")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                print("Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(_Monitor):
    """Save the model (or its weights) after each epoch, or only when ``monitor`` improves;
    with ``save_freq=N`` (an int) every N batches instead, as Keras (counted across epochs,
    judged on the batch's logs).

    ``filepath`` may hold format fields: ``"ckpt-{epoch:02d}-{val_loss:.3f}.npconv"``, and
    ``{batch}`` with an int ``save_freq``.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 include_optimizer=True):
        super().__init__(monitor, mode, 0.0, "ModelCheckpoint")
        if save_freq != "epoch" and (isinstance(save_freq, bool)
                                     or not isinstance(save_freq, (int, np.integer))
                                     or save_freq < 1):
            raise ValueError("ModelCheckpoint: expected save_freq='epoch' or a positive int "
                             f"(batches). Received: save_freq={save_freq!r}")
        self.save_freq = save_freq if save_freq == "epoch" else int(save_freq)
        self.filepath = os.fspath(filepath)
        self.verbose, self.save_best_only = verbose, save_best_only
        self.save_weights_only = save_weights_only
        self.include_optimizer = include_optimizer
        self._epoch, self._batches_seen = 0, 0

    def on_train_begin(self, logs=None):
        self._batches_seen = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_seen += 1
        if self._batches_seen >= self.save_freq:
            self._batches_seen = 0
            self._save(self._epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._set_monitor_mode()
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _save(self, epoch, batch, logs):
        logs = logs or {}
        value = self._current(logs) if self.save_best_only else None
        if value is not None and np.ndim(value):
            # Keras's ModelCheckpoint warns and saves as with save_best_only=False
            warnings.warn("Can save best model only when `monitor` is a scalar value. "
                          f"Received: {value}. Falling back to `save_best_only=False`.",
                          stacklevel=2)
        elif self.save_best_only:
            self._set_monitor_mode()  # (a save every N batches can come before an epoch end)
            if value is None or not self._improved(value):
                return
            self.best = value
        fields = {"epoch": epoch + 1, **logs}
        if batch is not None:
            fields.setdefault("batch", batch + 1)
        try:
            path = self.filepath.format(**fields)
        except KeyError as err:  # KeyError, as Keras's, with what the logs hold
            hint = (" (val_* values need validation_data= or validation_split= in fit)"
                    if str(err.args[0]).startswith("val_") else "")
            raise KeyError(f"ModelCheckpoint: the filepath {self.filepath!r} names "
                           f"{{{err.args[0]}}}, which is not in the logs of this "
                           f"{'epoch' if batch is None else 'batch'} (available: "
                           f"{sorted(fields)}){hint}") from None
        # (the save makes missing folders, and names a folder or a file in the way clearly)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path, include_optimizer=self.include_optimizer)
        if self.verbose:
            at = "" if batch is None else f" (batch {batch + 1})"
            print(f"Epoch {epoch + 1}{at}: saved model to {path}")


class ReduceLROnPlateau(_Monitor):
    """Multiply the learning rate by ``factor`` when ``monitor`` stalls for ``patience`` epochs."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):
        super().__init__(monitor, mode, min_delta, "ReduceLROnPlateau")
        if not 0.0 < factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau: expected 0 < factor < 1. Received: "
                             f"factor={factor!r}")
        self.factor, self.patience, self.verbose = float(factor), int(patience), verbose
        self.cooldown, self.min_lr = int(cooldown), float(min_lr)

    def on_train_begin(self, logs=None):
        self.wait, self.cooldown_counter = 0, 0
        self.best = None

    def on_epoch_end(self, epoch, logs=None):
        self._set_monitor_mode()
        value = self._number(logs)
        if logs is not None:
            logs["learning_rate"] = float(_current_lr(self.model.optimizer))
        if value is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(value):
            self.best, self.wait = value, 0
            return
        if self.cooldown_counter > 0:
            return
        self.wait += 1
        if self.wait >= self.patience:
            old = float(_current_lr(self.model.optimizer))
            new = max(old * self.factor, self.min_lr)
            if old - new > 1e-12:
                self.model.optimizer.learning_rate = new
                if self.verbose:
                    print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}")
                self.cooldown_counter, self.wait = self.cooldown, 0


def _current_lr(optimizer):
    lr = optimizer.learning_rate
    return lr(optimizer.iterations) if callable(lr) else lr


def _takes_lr(schedule) -> bool | None:
    """Whether ``schedule`` takes ``(epoch, lr)`` (True) or only ``(epoch)`` (False), read from
    its signature; None when the signature cannot be read (some builtins and C callables)."""
    import inspect

    try:
        sig = inspect.signature(schedule)
    except (TypeError, ValueError):
        return None
    try:
        sig.bind(0, 0.0)
        return True
    except TypeError:
        pass
    try:
        sig.bind(0)
        return False
    except TypeError:
        raise TypeError(f"LearningRateScheduler: schedule must take (epoch, lr) or (epoch). "
                        f"Received a callable with signature {sig}") from None


class LearningRateScheduler(Callback):
    """Set the learning rate at each epoch start from ``schedule(epoch, lr) -> new_lr``, or
    ``schedule(epoch) -> new_lr`` (Keras accepts both).

    Which form is called is decided from the schedule's signature, not by catching a
    TypeError as Keras does: a TypeError raised inside a two-argument schedule reaches the
    caller instead of being retried as ``schedule(epoch)``. A callable whose signature
    cannot be read gets Keras's rule (``(epoch, lr)``, then ``(epoch)`` on a TypeError).
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError("LearningRateScheduler: schedule must be callable(epoch, lr) or "
                            f"callable(epoch). Received {type(schedule).__name__}")
        self.schedule, self.verbose = schedule, verbose
        self._takes_lr = _takes_lr(schedule)

    def _call_schedule(self, epoch, lr):
        if self._takes_lr is None:
            try:
                return self.schedule(epoch, lr)
            except TypeError:  # Keras's fallback for the one-argument form
                return self.schedule(epoch)
        return self.schedule(epoch, lr) if self._takes_lr else self.schedule(epoch)

    def on_epoch_begin(self, epoch, logs=None):
        lr = float(self._call_schedule(epoch, float(_current_lr(self.model.optimizer))))
        if not math.isfinite(lr) or lr < 0:
            raise ValueError(f"LearningRateScheduler: schedule returned an invalid learning rate "
                             f"{lr!r} at epoch {epoch}")
        self.model.optimizer.learning_rate = lr
        if self.verbose:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(_current_lr(self.model.optimizer))


_HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
          "on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end",
          "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
          "on_predict_begin", "on_predict_end", "on_predict_batch_begin",
          "on_predict_batch_end")


def _lambda_hook(fn, indexed):
    """A hook method calling ``fn(index, logs)`` (epoch and batch hooks) or ``fn(logs)``, with
    the arguments positional as Keras passes them."""
    if indexed:
        return lambda index, logs=None: fn(index, logs)
    return lambda logs=None: fn(logs)


class LambdaCallback(Callback):
    """A callback from plain functions, as Keras's: ``on_epoch_begin/end(epoch, logs)``,
    ``on_train_batch_begin/end(batch, logs)``, ``on_train_begin/end(logs)``, and through
    keywords any other hook (``on_test_batch_end=...``, ``on_predict_end=...``, Keras 2's
    ``on_batch_begin/end``). An unknown hook name is a TypeError (Keras would ignore it).
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None,
                 **kwargs):
        super().__init__()
        unknown = sorted(set(kwargs) - set(_HOOKS))
        if unknown:
            raise TypeError(f"LambdaCallback: unknown hook {unknown[0]!r}; expected one of "
                            f"{list(_HOOKS)}")
        hooks = {"on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end,
                 "on_train_begin": on_train_begin, "on_train_end": on_train_end,
                 "on_train_batch_begin": on_train_batch_begin,
                 "on_train_batch_end": on_train_batch_end, **kwargs}
        for name, fn in hooks.items():
            if fn is None:
                continue
            if not callable(fn):
                raise TypeError(f"LambdaCallback: expected {name} to be callable. Received "
                                f"{type(fn).__name__}")
            indexed = "epoch" in name or "batch" in name
            setattr(self, name, _lambda_hook(fn, indexed))


class TerminateOnNaN(Callback):
    """Stop training as soon as the loss is NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            print(f"Batch {batch}: invalid loss {loss}, terminating training")
            self.model.stop_training = True


class CSVLogger(Callback):
    """Write one CSV row per epoch to ``filename``, as Keras 3's: the columns are ``epoch``
    then the first epoch's log names, sorted, followed by ``val_<name>`` for each when that
    epoch has no ``val_*`` value (a fit without validation data still has the columns); a
    value missing from an epoch's logs is ``NA``. The columns are chosen again at each
    ``fit``. ``append=True`` adds to an existing file and writes the header only into a
    new or empty one."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.separator, self.append = os.fspath(filename), separator, append
        self._keys = None

    def on_train_begin(self, logs=None):
        from .._atomic import check_file_target

        check_file_target(self.filename, "CSVLogger")  # a folder: say so, not Errno 21
        exists = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename)
        self._file = open(self.filename, "a" if self.append else "w", newline="")  # noqa: SIM115
        self._writer, self._keys = None, None
        self._header_written = bool(exists)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._keys is None:
            self._keys = sorted(logs)
            if self._keys and not any(k.startswith("val_") for k in self._keys):
                self._keys += [f"val_{k}" for k in self._keys]
        if self._writer is None:
            self._writer = csv.writer(self._file, delimiter=self.separator)
            if not self._header_written:
                self._writer.writerow(["epoch"] + self._keys)
        self._writer.writerow([epoch] + [csv_cell(logs.get(k, "NA")) for k in self._keys])
        self._file.flush()

    def on_train_end(self, logs=None):
        self._file.close()
