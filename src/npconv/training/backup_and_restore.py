"""Keras's ``BackupAndRestore``: fault tolerance for ``fit``.

The callback backs up the training state in ``backup_dir`` -- after every epoch, or every
``save_freq`` batches -- and a later ``fit`` given the same callback (and the same model
architecture, compiled the same way) starts from that backup: the weights, the optimizer's
state (slots, iteration count, learning rate) and the epoch are restored before the first
epoch, and only the epochs left are trained. When ``fit`` ends without an exception the
backup is deleted (``delete_checkpoint``); an interrupted ``fit`` (Ctrl-C, a crash, an
error raised by a callback) leaves it for the next one.

A backup is one npconv file, ``backup_dir/latest.npconv``: safetensors with the weights and
the optimizer state, the epoch in its JSON metadata, SHA-256 checksums of both, written
atomically (a kill while writing leaves the previous backup whole). With
``double_checkpoint`` the backup before it is kept as ``previous.npconv`` and used when
``latest.npconv`` cannot be read. As Keras: a backup taken within an epoch (``save_freq=N``)
resumes at the start of that epoch, with that backup's weights; the data order of the
resumed epochs is drawn afresh (the shuffling generator is not part of the backup), so a
resumed run equals an uninterrupted one exactly when it does not shuffle.

Unlike Keras, which deletes ``backup_dir`` with everything in it, only the files this
callback writes are deleted, then the folder if that leaves it empty.
"""

from __future__ import annotations

import os
import warnings

from .callbacks import Callback

LATEST = "latest.npconv"
PREVIOUS = "previous.npconv"
_META = "npconv.backup"


def save_backup(model, path, epoch: int, batch: int | None) -> None:
    """Write ``model``'s weights and optimizer state, and the epoch to resume at, to
    ``path`` (atomically)."""
    from ..io import _WEIGHTS, FORMAT_VERSION, _serialize, _state_tensors, _write_file

    where = "BackupAndRestore"
    model._require_graph(where)
    metadata = {"npconv.format": _WEIGHTS, "npconv.version": FORMAT_VERSION,
                _META: {"epoch": int(epoch), "batch": batch}}
    _write_file(path, _serialize(_state_tensors(model), metadata), where)


def load_backup(model, path) -> dict:
    """Put the weights and optimizer state of the backup ``path`` into ``model`` and return
    its ``{"epoch": ..., "batch": ...}``; a file that is not a valid backup for this model is
    a ValueError naming it, before anything changes (as load_weights)."""
    from ..io import _assign_weights, _read, _restore_optimizer_state, _saved_weights

    metadata, tensors = _read(path)
    meta = metadata.get(_META)
    epoch = meta.get("epoch") if isinstance(meta, dict) else None
    if type(epoch) is not int or epoch < 0 or "opt/iterations" not in tensors:
        raise ValueError(f"npconv: {path} is not a BackupAndRestore backup (no epoch and "
                         "optimizer state in it)")
    _saved_weights(model, tensors, path)  # (each step checks all before it changes any)
    _restore_optimizer_state(model, model.optimizer, tensors, path,
                             advice="compile the model as the run that wrote the backup, or "
                                    "delete the backup to start afresh")
    _assign_weights(model, tensors, path)
    return meta


def _check_flag(value, name):
    if not isinstance(value, bool):
        raise TypeError(f"BackupAndRestore: expected {name} to be a bool. Received: "
                        f"{name}={value!r}")
    return value


class BackupAndRestore(Callback):
    """``BackupAndRestore(backup_dir, save_freq="epoch", double_checkpoint=False,
    delete_checkpoint=True)`` (see the module docstring).

    ``save_freq``: "epoch", or a number of batches (counted across epochs).
    """

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False,
                 delete_checkpoint=True):
        super().__init__()
        if backup_dir is None or backup_dir == "":
            raise ValueError("BackupAndRestore: empty backup_dir: give the folder to keep the "
                             "backup in")
        try:
            self.backup_dir = os.fsdecode(os.fspath(backup_dir))
        except TypeError:
            raise TypeError(f"BackupAndRestore: expected backup_dir to be a folder path (a str "
                            f"or a pathlib.Path). Received: {backup_dir!r}") from None
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(
                save_freq, int) or save_freq < 1):
            raise ValueError("BackupAndRestore: expected save_freq='epoch' or a positive int "
                             f"(batches). Received: save_freq={save_freq!r}")
        self.save_freq = save_freq
        self.double_checkpoint = _check_flag(double_checkpoint, "double_checkpoint")
        self.delete_checkpoint = _check_flag(delete_checkpoint, "delete_checkpoint")
        self._latest = os.path.join(self.backup_dir, LATEST)
        self._previous = os.path.join(self.backup_dir, PREVIOUS)
        self._epoch = 0  # epochs completed: the epoch a backup now resumes at
        self._batches_since_save = 0
        self._latest_unreadable = False  # (then it must not become previous.npconv)

    # -- restore
    def on_train_begin(self, logs=None):
        self._batches_since_save = 0
        self._epoch = 0
        self._latest_unreadable = False
        if os.path.exists(self.backup_dir) and not os.path.isdir(self.backup_dir):
            raise NotADirectoryError(f"BackupAndRestore: backup_dir {self.backup_dir} is a "
                                     "file, not a folder")
        meta = self._restore()
        if meta is not None:
            self._epoch = meta["epoch"]
            self.model._initial_epoch = meta["epoch"]  # fit starts there (as Keras's fit)

    def _restore(self):
        paths = [p for p in (self._latest, self._previous) if os.path.isfile(p)]
        if not paths:
            return None
        if not getattr(self.model, "_graph_ready", True):
            raise ValueError(f"BackupAndRestore: there is a backup in {self.backup_dir}, but "
                             f"the model {self.model.name} is not built, so it cannot be "
                             "restored: start it with npconv.Input(shape) (or give the first "
                             "layer input_shape=), or call it on a batch before fit")
        first_error = None
        for path in paths:
            try:
                meta = load_backup(self.model, path)
            except (ValueError, OSError) as exc:
                first_error = first_error or exc
                continue
            if first_error is not None:
                self._latest_unreadable = True
                warnings.warn(f"BackupAndRestore: {self._latest} could not be read "
                              f"({first_error}); resumed from {path}", stacklevel=3)
            return meta
        raise first_error

    # -- back up
    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(self._epoch, batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        self._epoch = epoch + 1
        if self.save_freq == "epoch":
            self._save(self._epoch, None)

    def _save(self, epoch, batch):
        if (self.double_checkpoint and os.path.isfile(self._latest)
                and not self._latest_unreadable):
            import shutil

            from .._atomic import atomic_path

            with atomic_path(self._previous, where="BackupAndRestore") as tmp:
                shutil.copyfile(self._latest, tmp)
        save_backup(self.model, self._latest, epoch, batch)
        self._latest_unreadable = False

    # -- a fit that ends without an exception
    def on_train_end(self, logs=None):
        if not self.delete_checkpoint:
            return
        for path in (self._latest, self._previous):
            if os.path.isfile(path):
                os.remove(path)
        try:
            os.rmdir(self.backup_dir)  # only when that leaves nothing of the user's behind
        except OSError:
            pass
