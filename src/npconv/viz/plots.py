"""matplotlib pictures: feature maps, filters, activations, training history, confusion matrix,
predictions.

Every function returns a ``matplotlib.figure.Figure`` drawn by the Agg canvas (no screen, no
pyplot state) and, given ``path=``, also saves it there atomically (PNG by default; the picture
is exactly ``figsize * dpi`` pixels). In a notebook, ``display(fig)`` shows it.
Needs matplotlib (``pip install 'npconv[viz]'``).
"""

from __future__ import annotations

import csv
import math
import os

import numpy as np

from ._util import new_figure, save_figure

__all__ = [
    "plot_feature_maps", "plot_filters", "plot_activations", "plot_history", "read_history",
    "plot_confusion_matrix", "plot_predictions", "confusion_matrix", "filter_images",
    "activation_curves",
]


def _finish(fig, path, dpi):
    if path is not None:
        save_figure(fig, path, dpi)
    return fig


def _grid_shape(n: int, ncols: int | None) -> tuple[int, int]:
    ncols = ncols or math.ceil(math.sqrt(n))
    return math.ceil(n / ncols), ncols


# ---------------------------------------------------------------------------- feature maps
def plot_feature_maps(maps, n=None, layout="row", ncols=None, cmap="gray",
                      title="Filter Activations", path=None, figsize=None, dpi=100):
    """Seed 001's picture: feature maps ``(H, W, C)`` (or ``(1, H, W, C)``) as images titled
    ``"Filter i"`` (1-based, as the seed).

    layout ``"row"``: one row of ``n`` maps (default 6, the seed's ``plt.subplots(1, 6)``);
    ``"grid"``: ``n`` maps (default all) in rows of ``ncols`` (default about square).
    """
    maps = np.asarray(maps)
    if maps.ndim == 4 and maps.shape[0] == 1:
        maps = maps[0]
    if maps.ndim != 3:
        raise ValueError(f"plot_feature_maps: expected maps of shape (H, W, channels) or "
                         f"(1, H, W, channels). Received shape {maps.shape}")
    if layout not in ("row", "grid"):
        raise ValueError(f"plot_feature_maps: expected layout 'row' or 'grid'. "
                         f"Received: layout={layout!r}")
    channels = maps.shape[-1]
    n = min(channels, 6 if layout == "row" else channels) if n is None else int(n)
    if not 1 <= n <= channels:
        raise ValueError(f"plot_feature_maps: expected 1 <= n <= {channels} (the channels). "
                         f"Received: n={n}")
    rows, cols = (1, n) if layout == "row" else _grid_shape(n, ncols)
    if figsize is None:
        figsize = (12, 4) if layout == "row" else (1.6 * cols, 1.6 * rows + 0.6)
    fig = new_figure("plot_feature_maps", figsize, dpi)
    for i in range(rows * cols):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.axis("off")
        if i < n:
            ax.imshow(maps[:, :, i], cmap=cmap)
            ax.set_title(f"Filter {i + 1}", fontsize=10)
    if title:
        fig.suptitle(title, fontsize=16)
    return _finish(fig, path, dpi)


def plot_filters(model_or_kernel, layer=None, n=None, ncols=None, cmap="gray", path=None,
                 figsize=None, dpi=100):
    """The kernels of a convolution layer as small images, one per filter ("Filter i").

    model_or_kernel: a model (its first ``Conv2D``, or ``layer`` by name/index), a ``Conv2D``
    layer, or a kernel array ``(kh, kw, C_in, C_out)``. One input channel: grey images;
    three: RGB images (each filter scaled to [0, 1]); otherwise the mean over input channels.
    """
    from ..layers.base import Layer

    kernel = model_or_kernel
    if isinstance(kernel, Layer):
        kernel = kernel.kernel.value
    elif hasattr(kernel, "layers"):
        from .feature_maps import find_layer, first_conv_layer

        conv = first_conv_layer(kernel) if layer is None else find_layer(kernel, layer)
        if getattr(conv, "kernel", None) is None:
            raise ValueError(f"plot_filters: layer {conv.name} has no kernel")
        kernel = conv.kernel.value
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 4:
        raise ValueError(f"plot_filters: expected a kernel of shape (kh, kw, C_in, C_out). "
                         f"Received shape {kernel.shape}")
    c_in, c_out = kernel.shape[2:]
    n = c_out if n is None else int(n)
    if not 1 <= n <= c_out:
        raise ValueError(f"plot_filters: expected 1 <= n <= {c_out}. Received: n={n}")
    images = filter_images(kernel[..., :n])
    rows, cols = _grid_shape(n, ncols)
    fig = new_figure("plot_filters", figsize or (1.3 * cols, 1.3 * rows + 0.5), dpi)
    for i in range(rows * cols):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap=None if c_in == 3 else cmap, interpolation="nearest")
            ax.set_title(f"Filter {i + 1}", fontsize=8)
    what = {1: "", 3: " (RGB)"}.get(c_in, f" (mean of {c_in} input channels)")
    fig.suptitle(f"{kernel.shape[0]}x{kernel.shape[1]} filters{what}", fontsize=11)
    return _finish(fig, path, dpi)


def filter_images(kernel) -> list[np.ndarray]:
    """The image shown for each filter of ``kernel (kh, kw, C_in, C_out)`` by plot_filters."""
    kernel = np.asarray(kernel, dtype=np.float64)
    c_in = kernel.shape[2]
    out = []
    for f in range(kernel.shape[3]):
        k = kernel[:, :, :, f]
        if c_in == 1:
            out.append(k[:, :, 0])
        elif c_in == 3:
            lo, hi = k.min(), k.max()
            out.append((k - lo) / (hi - lo) if hi > lo else np.zeros_like(k))
        else:
            out.append(k.mean(axis=2))
    return out


# ---------------------------------------------------------------------------- activations
def activation_curves(z=None) -> dict[str, np.ndarray]:
    """The curves :func:`plot_activations` draws, from npconv's own activation functions.

    ``softmax`` is ``(len(z), 3)``: the probabilities of logits ``(z, 1, 0)`` as ``z`` varies.
    """
    from ..ops import activations as A

    z = np.linspace(-5, 5, 201) if z is None else np.asarray(z, dtype=np.float64)
    logits = np.stack([z, np.ones_like(z), np.zeros_like(z)], axis=1)
    return {"z": z, "relu": A.relu(z), "tanh": A.tanh(z), "sigmoid": A.sigmoid(z),
            "softmax": A.softmax(logits, axis=-1)}


def plot_activations(path=None, figsize=(12, 3), dpi=100):
    """ReLU, tanh, sigmoid and softmax (three classes, logits ``(z, 1, 0)``) against ``z``."""
    curves = activation_curves()
    z = curves["z"]
    fig = new_figure("plot_activations", figsize, dpi)
    for k, name in enumerate(("relu", "tanh", "sigmoid")):
        ax = fig.add_subplot(1, 4, k + 1)
        ax.plot(z, curves[name], color="C0")
        ax.axhline(0, color="grey", lw=0.5)
        ax.axvline(0, color="grey", lw=0.5)
        ax.set_title(name)
        ax.set_xlabel("z")
    ax = fig.add_subplot(1, 4, 4)
    for c, label in enumerate(("p(class 0), logit z", "p(class 1), logit 1",
                               "p(class 2), logit 0")):
        ax.plot(z, curves["softmax"][:, c], label=label)
    ax.set_title("softmax")
    ax.set_xlabel("z")
    ax.legend(fontsize=6, loc="center left")
    fig.tight_layout()
    return _finish(fig, path, dpi)


# ---------------------------------------------------------------------------- history
def read_history(history) -> dict[str, list[float]]:
    """Per-epoch metrics ``{name: [values]}`` from a ``History``, a dict, a CSV file (as
    ``CSVLogger`` writes: ``epoch`` then the logs), a JSON file (as ``npconv train``'s
    ``history.json``: ``{"epoch": [...], "loss": [...], ...}``) or a run folder holding
    ``history.csv`` (or ``history.json``). A metric with one value per class or threshold
    (``F1Score()``: arrays in a History, ``"[0.25, 0.0, 0.5]"`` cells in a CSVLogger file)
    is left out: the curves are of numbers."""
    if hasattr(history, "history") and isinstance(history.history, dict):
        history = history.history
    if isinstance(history, dict):
        return {str(k): [float(v) for v in vals] for k, vals in history.items()
                if not any(np.ndim(v) for v in vals)}
    path = os.fspath(history)
    if os.path.isdir(path):
        csv_path, json_path = (os.path.join(path, n) for n in ("history.csv", "history.json"))
        path = json_path if not os.path.isfile(csv_path) and os.path.isfile(json_path) \
            else csv_path
    if not os.path.isfile(path):
        raise FileNotFoundError(f"plot_history: no history file at {path} (expected a History, "
                                "a dict, a CSV or JSON file or a run folder with history.csv)")
    expected = ("expected a history CSV (a header 'epoch,loss,...' then one row of numbers "
                "per epoch), a history.json or a run folder")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError:
        raise ValueError(f"plot_history: {path} is not text; {expected}") from None
    if text.lstrip().startswith(("{", "[")):
        return _history_from_json(text, path, expected)
    rows = list(csv.DictReader(text.splitlines()))
    if not rows:
        raise ValueError(f"plot_history: {path} holds no epochs")
    try:
        # CSVLogger's "NA" (Keras's) or "" (older npconv files) is a missing value: a fit
        # without validation data has val_* columns of "NA" only, which are left out
        columns = {k: [float(r[k]) for r in rows if r.get(k) not in (None, "", "NA")]
                   for k in rows[0] if k != "epoch" and not _array_column(rows, k)}
        return {k: values for k, values in columns.items() if values}
    except (TypeError, ValueError) as err:
        raise ValueError(f"plot_history: {path} is not a history CSV ({err}); {expected}"
                         ) from None


def _array_column(rows, key) -> bool:
    """Whether a CSVLogger column holds arrays (Keras's ``"[v1, v2, ...]"`` cells)."""
    return any(str(r.get(key) or "").startswith('"[') for r in rows)


def _history_from_json(text: str, path: str, expected: str) -> dict[str, list[float]]:
    import json

    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"plot_history: {path} is not valid JSON ({err}); {expected}") from None
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise ValueError(f"plot_history: {path}: expected a JSON object of per-epoch lists, "
                         'e.g. {"epoch": [0, 1], "loss": [0.9, 0.5]}')
    try:
        logs = {str(k): [float(v) for v in vals] for k, vals in data.items() if k != "epoch"}
    except (TypeError, ValueError) as err:
        raise ValueError(f"plot_history: {path}: expected numbers in every list ({err})"
                         ) from None
    if not logs or not any(logs.values()):
        raise ValueError(f"plot_history: {path} holds no epochs")
    return logs


def _accuracy_key(keys) -> str | None:
    for key in ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy"):
        if key in keys:
            return key
    return next((k for k in keys if "acc" in k and not k.startswith("val_")), None)


def plot_history(history, path=None, figsize=(10, 4), dpi=100):
    """Loss and accuracy per epoch, train and validation (``val_*``), as Keras's tutorials do.

    history: a ``History`` (``model.fit``'s result), its ``.history`` dict, a CSV file or a run
    folder with ``history.csv``. Panels appear for what is there (loss, accuracy).
    """
    logs = read_history(history)
    panels = [k for k in ("loss", _accuracy_key(logs)) if k is not None and k in logs]
    if not panels:
        raise ValueError(f"plot_history: found no loss or accuracy in {sorted(logs)}")
    fig = new_figure("plot_history", figsize, dpi)
    from matplotlib.ticker import MaxNLocator  # (matplotlib is there: new_figure checked)

    for p, key in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), p + 1)
        epochs = np.arange(1, len(logs[key]) + 1)
        ax.plot(epochs, logs[key], "o-", label="train")
        if f"val_{key}" in logs:
            ax.plot(np.arange(1, len(logs[f"val_{key}"]) + 1), logs[f"val_{key}"], "s--",
                    label="validation")
        ax.set_title(key)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no "epoch 1.4"
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _finish(fig, path, dpi)


# ---------------------------------------------------------------------------- evaluation
def confusion_matrix(y_true, y_pred, num_classes=None) -> np.ndarray:
    """Counts ``cm[t, p]`` of class-``t`` samples predicted as ``p`` (labels or probabilities).

    Labels may be ``(N,)``, ``(N, 1)`` or one-hot/scores ``(N, C)``; they are then checked and
    counted by :func:`npconv.training.metrics.confusion_matrix` (a negative label or one
    ``>= num_classes`` is a ValueError, not a count in another class).
    """
    from ..training.metrics import confusion_matrix as _confusion_matrix

    y_true = _labels(y_true, "confusion_matrix")
    y_pred = _labels(y_pred, "confusion_matrix")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"confusion_matrix: y_true and y_pred hold {len(y_true)} and "
                         f"{len(y_pred)} labels")
    return _confusion_matrix(y_true, y_pred, num_classes=num_classes)


def _labels(y, where) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        y = y.argmax(axis=1)
    y = y.reshape(-1)
    if y.dtype.kind == "f":
        if not np.all(y == np.round(y)):
            raise ValueError(f"{where}: expected integer labels or (N, classes) scores")
        y = y.astype(np.int64)
    return y.astype(np.int64)


def plot_confusion_matrix(cm, class_names=None, normalize=False, cmap="Blues", path=None,
                          figsize=None, dpi=100):
    """The confusion matrix ``cm[true, predicted]`` with its numbers written in the cells.

    ``normalize=True`` shows each row as fractions of its true class.
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"plot_confusion_matrix: expected a square matrix. "
                         f"Received shape {cm.shape}")
    k = cm.shape[0]
    names = [str(i) for i in range(k)] if class_names is None else [str(c) for c in class_names]
    if len(names) != k:
        raise ValueError(f"plot_confusion_matrix: expected {k} class names. "
                         f"Received {len(names)}")
    shown = cm.astype(np.float64)
    if normalize:
        sums = shown.sum(axis=1, keepdims=True)
        shown = np.divide(shown, sums, out=np.zeros_like(shown), where=sums > 0)
    size = max(4.0, 0.55 * k + 2)
    fig = new_figure("plot_confusion_matrix", figsize or (size + 1, size), dpi)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(shown, cmap=cmap, vmin=0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(k), names, rotation=45, ha="right")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = shown.max() / 2 if shown.size else 0
    for t in range(k):
        for p in range(k):
            text = f"{shown[t, p]:.2f}" if normalize else f"{int(cm[t, p])}"
            ax.text(p, t, text, ha="center", va="center", fontsize=8,
                    color="white" if shown[t, p] > threshold else "black")
    ax.set_title("Confusion matrix" + (" (row-normalised)" if normalize else ""))
    fig.tight_layout()
    return _finish(fig, path, dpi)


def plot_predictions(images, y_true, y_pred, class_names=None, ncols=5, cmap="gray", path=None,
                     figsize=None, dpi=100):
    """Images with "predicted (true)" titles, green when right and red when wrong.

    images: ``(N, H, W)``, ``(N, H, W, 1)`` or ``(N, H, W, 3)``. y_true: labels. y_pred: labels
    or ``(N, classes)`` probabilities (arg-maxed).
    """
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (3, 4):
        raise ValueError(f"plot_predictions: expected images (N, H, W[, C]). "
                         f"Received shape {images.shape}")
    t = _labels(y_true, "plot_predictions")
    p = _labels(y_pred, "plot_predictions")
    if not len(images) == len(t) == len(p):
        raise ValueError(f"plot_predictions: got {len(images)} images, {len(t)} true labels and "
                         f"{len(p)} predictions")
    n = len(images)
    if n == 0:
        raise ValueError("plot_predictions: expected at least one image. Received 0 images")
    for what, labels in (("true labels", t), ("predictions", p)):
        if labels.min() < 0:
            raise ValueError(f"plot_predictions: expected class indices >= 0. Received {what} "
                             f"down to {labels.min()}")
        if class_names is not None and labels.max() >= len(class_names):
            raise ValueError(f"plot_predictions: {len(class_names)} class names, but the {what} "
                             f"go up to class {labels.max()}; expected one name per class")
    name = (lambda i: str(i)) if class_names is None else (lambda i: str(class_names[i]))
    rows, cols = math.ceil(n / ncols), min(ncols, n)
    fig = new_figure("plot_predictions", figsize or (2.0 * cols, 2.2 * rows), dpi)
    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(images[i], cmap=cmap if images.ndim == 3 else None)
        ax.axis("off")
        ax.set_title(f"{name(p[i])} ({name(t[i])})", fontsize=9,
                     color="green" if p[i] == t[i] else "red")
    fig.tight_layout()
    return _finish(fig, path, dpi)
