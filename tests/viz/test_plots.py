"""The arrays behind each picture, and the written PNG files (size, validity)."""

import numpy as np
import pytest

from npconv.ops import activations as A
from npconv.training.callbacks import History
from npconv.viz.plots import (
    activation_curves,
    confusion_matrix,
    filter_images,
    plot_activations,
    plot_confusion_matrix,
    plot_feature_maps,
    plot_filters,
    plot_history,
    plot_predictions,
    read_history,
)

pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")


def _png_size(path):
    with Image.open(path) as im:
        assert im.format == "PNG"
        im.load()
        return im.size


def test_feature_maps_row_like_seed_001(tmp_path):
    maps = np.random.default_rng(0).random((1, 26, 26, 32)).astype(np.float32)
    fig = plot_feature_maps(maps, path=tmp_path / "fm.png")
    axes = fig.axes
    assert len(axes) == 6
    assert [ax.get_title() for ax in axes] == [f"Filter {i}" for i in range(1, 7)]
    for i, ax in enumerate(axes):
        np.testing.assert_array_equal(ax.images[0].get_array(), maps[0, :, :, i])
    assert fig._suptitle.get_text() == "Filter Activations"
    assert _png_size(tmp_path / "fm.png") == (1200, 400)
    assert [p.name for p in tmp_path.iterdir()] == ["fm.png"]


def test_feature_maps_grid(tmp_path):
    maps = np.random.default_rng(1).random((5, 5, 10))
    fig = plot_feature_maps(maps, layout="grid", ncols=4, path=tmp_path / "g.png", dpi=50)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) == 12 and len(shown) == 10
    np.testing.assert_array_equal(shown[9].images[0].get_array(), maps[:, :, 9])
    w, h = fig.get_size_inches() * 50
    assert _png_size(tmp_path / "g.png") == (round(w), round(h))
    with pytest.raises(ValueError, match="plot_feature_maps: expected 1 <= n <= 10"):
        plot_feature_maps(maps, n=11)
    with pytest.raises(ValueError, match="shape"):
        plot_feature_maps(maps[0])


def test_filters_from_kernel_layer_and_model(tmp_path):
    from npconv.models.zoo import mnist_cnn

    rng = np.random.default_rng(2)
    kernel = rng.standard_normal((3, 3, 1, 5))
    fig = plot_filters(kernel, path=tmp_path / "f.png", dpi=60)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 5
    for f, ax in enumerate(shown):
        np.testing.assert_array_equal(ax.images[0].get_array(), kernel[:, :, 0, f])
    assert _png_size(tmp_path / "f.png")[0] == round(fig.get_size_inches()[0] * 60)
    rgb = filter_images(rng.standard_normal((3, 3, 3, 2)))
    assert rgb[0].shape == (3, 3, 3) and rgb[0].min() == 0 and rgb[0].max() == 1
    many = rng.standard_normal((2, 2, 4, 3))
    np.testing.assert_allclose(filter_images(many)[1], many[:, :, :, 1].mean(axis=2))
    model = mnist_cnn()
    fig = plot_filters(model, n=8)
    first = [ax for ax in fig.axes if ax.images][0].images[0].get_array()
    np.testing.assert_array_equal(first, model.layers[1].kernel.value[:, :, 0, 0])
    fig = plot_filters(model.layers[3], n=2)
    assert "mean of 32" in fig._suptitle.get_text()


def test_activations(tmp_path):
    fig = plot_activations(path=tmp_path / "a.png")
    curves = activation_curves()
    z = curves["z"]
    for ax, name, fn in zip(fig.axes[:3], ("relu", "tanh", "sigmoid"),
                            (A.relu, A.tanh, A.sigmoid), strict=True):
        assert ax.get_title() == name
        np.testing.assert_array_equal(ax.lines[0].get_xdata(), z)
        np.testing.assert_allclose(ax.lines[0].get_ydata(), fn(z))
    soft = fig.axes[3].lines
    assert len(soft) == 3
    np.testing.assert_allclose(sum(line.get_ydata() for line in soft), 1.0)
    np.testing.assert_allclose(soft[0].get_ydata(), np.exp(z) / (np.exp(z) + np.e + 1))
    assert _png_size(tmp_path / "a.png") == (1200, 300)


def test_history_from_history_dict_csv_and_run_folder(tmp_path):
    logs = {"loss": [1.0, 0.5, 0.25], "accuracy": [0.5, 0.7, 0.9],
            "val_loss": [1.1, 0.7, 0.6], "val_accuracy": [0.4, 0.6, 0.8]}
    h = History()
    for epoch in range(3):
        h.on_epoch_end(epoch, {k: v[epoch] for k, v in logs.items()})
    run = tmp_path / "run"
    run.mkdir()
    keys = sorted(logs)
    lines = ["epoch," + ",".join(keys)] + [
        f"{e}," + ",".join(str(logs[k][e]) for k in keys) for e in range(3)]
    (run / "history.csv").write_text("\n".join(lines) + "\n")
    for source in (h, logs, run, run / "history.csv"):
        assert read_history(source) == logs
        fig = plot_history(source, path=tmp_path / "h.png")
        loss_ax, acc_ax = fig.axes
        assert (loss_ax.get_title(), acc_ax.get_title()) == ("loss", "accuracy")
        np.testing.assert_array_equal(loss_ax.lines[0].get_xdata(), [1, 2, 3])
        np.testing.assert_array_equal(loss_ax.lines[0].get_ydata(), logs["loss"])
        np.testing.assert_array_equal(loss_ax.lines[1].get_ydata(), logs["val_loss"])
        np.testing.assert_array_equal(acc_ax.lines[1].get_ydata(), logs["val_accuracy"])
        assert _png_size(tmp_path / "h.png") == (1000, 400)
    only_loss = plot_history({"loss": [3.0, 2.0]})
    assert len(only_loss.axes) == 1 and len(only_loss.axes[0].lines) == 1
    with pytest.raises(FileNotFoundError, match="history.csv"):
        plot_history(tmp_path / "missing")
    with pytest.raises(ValueError, match="no loss or accuracy"):
        plot_history({"lr": [0.1]})


def test_history_from_json_and_clear_errors_for_other_files(tmp_path):
    """`npconv viz history RUN/history.json` failed with 'could not convert string to float'."""
    import json

    (tmp_path / "history.json").write_text(json.dumps(
        {"epoch": [0, 1], "loss": [1.0, 0.5], "val_loss": [1.2, 0.9]}))
    assert read_history(tmp_path / "history.json") == {"loss": [1.0, 0.5],
                                                       "val_loss": [1.2, 0.9]}
    assert read_history(tmp_path) == {"loss": [1.0, 0.5], "val_loss": [1.2, 0.9]}  # no CSV
    assert len(plot_history(tmp_path / "history.json").axes) == 1
    (tmp_path / "run.json").write_text(json.dumps({"status": "completed", "epochs": 3}))
    with pytest.raises(ValueError, match="run.json: expected a JSON object of per-epoch lists"):
        read_history(tmp_path / "run.json")
    (tmp_path / "notes.txt").write_text("epoch,loss\n0,low\n")
    with pytest.raises(ValueError, match="notes.txt is not a history CSV .*a run folder"):
        read_history(tmp_path / "notes.txt")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(ValueError, match="image.png is not text"):
        read_history(tmp_path / "image.png")


def test_confusion_matrix(tmp_path):
    cm = confusion_matrix([0, 1, 2, 2, 1, 0], np.eye(3)[[0, 2, 2, 2, 1, 1]])
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 1, 1], [0, 0, 2]])
    fig = plot_confusion_matrix(cm, ["a", "b", "c"], path=tmp_path / "cm.png")
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.images[0].get_array(), cm)
    assert [t.get_text() for t in ax.texts] == [str(v) for v in cm.reshape(-1)]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    w, h = fig.get_size_inches() * 100
    assert _png_size(tmp_path / "cm.png") == (round(w), round(h))
    norm = plot_confusion_matrix(cm, normalize=True).axes[0]
    np.testing.assert_allclose(norm.images[0].get_array(), cm / cm.sum(axis=1, keepdims=True))
    with pytest.raises(ValueError, match="square"):
        plot_confusion_matrix(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="class names"):
        plot_confusion_matrix(cm, ["a"])


def test_confusion_matrix_checks_its_labels():
    """A label -1 was counted as the last class (numpy's negative index) and one >=
    num_classes raised a bare IndexError; they are ValueErrors, as in training.metrics."""
    with pytest.raises(ValueError, match=r"confusion_matrix: expected labels in \[0, 2\)"):
        confusion_matrix([0, -1], [0, 1])
    with pytest.raises(ValueError, match=r"expected labels in \[0, 2\)"):
        confusion_matrix([0, 1], [0, -1], num_classes=2)
    with pytest.raises(ValueError, match=r"expected labels in \[0, 3\). Received labels in "
                                         r"\[0, 5\]"):
        confusion_matrix([0, 5], [1, 2], num_classes=3)
    with pytest.raises(ValueError, match="num_classes"):
        confusion_matrix([0, 1], [0, 1], num_classes=0)
    with pytest.raises(ValueError, match="integer"):
        confusion_matrix([0.5, 1], [0, 1])
    # (N, 1) labels (CIFAR-10's y) against (N,) predictions, and against (N, C) scores
    np.testing.assert_array_equal(confusion_matrix([[0], [1], [1]], [0, 1, 0]),
                                  [[1, 0], [1, 1]])
    np.testing.assert_array_equal(confusion_matrix([[0], [1]], np.eye(3)[[2, 1]]),
                                  [[0, 0, 1], [0, 1, 0], [0, 0, 0]])
    assert confusion_matrix([], [], num_classes=2).tolist() == [[0, 0], [0, 0]]


def test_predictions(tmp_path):
    images = np.random.default_rng(3).random((4, 8, 8, 1))
    probs = np.eye(3)[[0, 2, 1, 1]]
    fig = plot_predictions(images, [0, 1, 1, 2], probs, ["cat", "dog", "bird"], ncols=2,
                           path=tmp_path / "p.png")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["cat (cat)", "bird (dog)", "dog (dog)", "dog (bird)"]
    colors = [ax.title.get_color() for ax in fig.axes]
    assert colors == ["green", "red", "green", "red"]
    np.testing.assert_array_equal(fig.axes[1].images[0].get_array(), images[1, :, :, 0])
    assert _png_size(tmp_path / "p.png") == (400, 440)
    with pytest.raises(ValueError, match="4 images, 3 true labels"):
        plot_predictions(images, [0, 1, 1], probs)
    # too few names was a bare IndexError, no images "cannot write empty image"
    with pytest.raises(ValueError, match="2 class names, but the predictions go up to class 2"):
        plot_predictions(images, [0, 1, 1, 1], probs, ["cat", "dog"])
    with pytest.raises(ValueError, match="2 class names, but the true labels go up to class 2"):
        plot_predictions(images, [0, 1, 1, 2], np.eye(2)[[0, 1, 1, 1]], ["cat", "dog"])
    with pytest.raises(ValueError, match="class indices >= 0"):
        plot_predictions(images, [0, 1, 1, -1], probs)
    with pytest.raises(ValueError, match="at least one image. Received 0"):
        plot_predictions(images[:0], [], [], path=tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def _hide(monkeypatch, package):
    import sys

    for name in [m for m in list(sys.modules) if m == package or m.startswith(package + ".")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, package, None)


def test_writing_into_a_folder_names_the_users_path(tmp_path):
    """--out DIR failed with "Is a directory: '/x/.DIR.abc123' -> '/x/DIR'" (the temporary
    file's name)."""
    from npconv.viz._util import atomic_save

    with pytest.raises(IsADirectoryError) as info:
        plot_history({"loss": [1.0, 0.5]}, path=tmp_path)
    assert str(info.value).startswith(f"{tmp_path} is a folder; give the name of the file")
    assert f"{tmp_path}/." not in str(info.value) and tmp_path.name + "." not in str(info.value)

    def refused(tmp):  # what a full disk or a read-only mount gives, named after the temp file
        raise PermissionError(13, "Permission denied", tmp)

    with pytest.raises(PermissionError) as info:
        atomic_save(tmp_path / "out.png", refused)
    assert str(info.value) == f"cannot write {tmp_path / 'out.png'}: Permission denied"
    assert list(tmp_path.iterdir()) == []


def test_missing_optional_dependencies_say_what_to_install(monkeypatch):
    from npconv.viz.animation import animate_convolution, conv_animation_frames

    _hide(monkeypatch, "matplotlib")
    with pytest.raises(ImportError, match=r"npconv.viz.plot_history needs matplotlib: "
                                          r"pip install 'npconv\[viz\]'"):
        plot_history({"loss": [1.0]})
    _hide(monkeypatch, "PIL")
    with pytest.raises(ImportError, match=r"needs Pillow: pip install 'npconv\[viz\]'"):
        animate_convolution(6, 3)
    assert len(conv_animation_frames(6, 3).frames) == 16   # the numbers need neither


def test_tensorboard_without_tensorboardx(monkeypatch, tmp_path):
    from npconv.training.tensorboard import TensorBoard

    _hide(monkeypatch, "tensorboardX")
    with pytest.raises(ImportError, match=r"TensorBoard needs tensorboardX: "
                                          r"pip install 'npconv\[tensorboard\]'"):
        TensorBoard(tmp_path)


def test_history_epochs_are_whole_numbers_on_the_axis():
    """Two or three epochs gave matplotlib's default ticks 1.0, 1.2, ... 2.0: an "epoch 1.4"
    that no run has."""
    for n in (2, 3, 7):
        fig = plot_history({"loss": list(np.linspace(1, 0.5, n)),
                            "val_loss": list(np.linspace(1.1, 0.6, n))})
        fig.canvas.draw()
        ticks = [t for t in fig.axes[0].get_xticks()
                 if fig.axes[0].get_xlim()[0] <= t <= fig.axes[0].get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), (n, ticks)
