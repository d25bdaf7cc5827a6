"""The TensorBoard callback writes event files that TensorBoard's own reader understands."""

import numpy as np
import pytest

pytest.importorskip("tensorboardX")
event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator")

from npconv.layers import Conv2D, Dense, Flatten, Input, MaxPooling2D  # noqa: E402
from npconv.models.sequential import Sequential  # noqa: E402
from npconv.training.tensorboard import TensorBoard, tile_maps  # noqa: E402


def _read(folder):
    acc = event_accumulator.EventAccumulator(
        str(folder), size_guidance={"scalars": 0, "histograms": 0, "images": 0})
    acc.Reload()
    return acc


def _model():
    model = Sequential([Input(shape=(8, 8, 1)), Conv2D(3, 3, activation="relu", name="conv"),
                        MaxPooling2D(2), Flatten(), Dense(2, activation="softmax", name="out")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.random((20, 8, 8, 1)).astype(np.float32)
    return x, (x.mean(axis=(1, 2, 3)) > 0.5).astype(np.int64)


def test_scalars_histograms_and_images(tmp_path):
    x, y = _data()
    model = _model()
    cb = TensorBoard(tmp_path / "logs", histogram_freq=1, write_images=True,
                     sample_images=x[:2], update_freq=2)
    history = model.fit(x[:14], y[:14], validation_data=(x[14:], y[14:]), epochs=2,
                        batch_size=4, verbose=0, callbacks=[cb], seed=0)
    train = _read(tmp_path / "logs" / "train")
    val = _read(tmp_path / "logs" / "validation")

    tags = train.Tags()
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"} <= set(tags["scalars"])
    for name in ("loss", "accuracy"):
        events = train.Scalars(f"epoch_{name}")
        assert [e.step for e in events] == [0, 1]
        np.testing.assert_allclose([e.value for e in events], history.history[name], rtol=1e-6)
        events = val.Scalars(f"epoch_{name}")
        np.testing.assert_allclose([e.value for e in events], history.history[f"val_{name}"],
                                   rtol=1e-6)
    assert not any(t.startswith("epoch_val") for t in tags["scalars"])
    assert [e.value for e in train.Scalars("epoch_learning_rate")] == pytest.approx([0.01] * 2)
    # 4 batches per epoch, a batch_loss every 2 batches
    assert [e.step for e in train.Scalars("batch_loss")] == [2, 4, 6, 8]

    assert {"conv/kernel", "conv/bias", "out/kernel", "out/bias"} <= set(tags["histograms"])
    hist = train.Histograms("conv/kernel")
    assert [h.step for h in hist] == [0, 1]
    assert hist[-1].histogram_value.num == 27
    np.testing.assert_allclose(hist[-1].histogram_value.sum,
                               model.layers[0].kernel.value.sum(), rtol=1e-5)

    assert "feature_maps/conv/sample_0" in tags["images"]
    assert "feature_maps/conv/sample_1" in tags["images"]
    image = train.Images("feature_maps/conv/sample_0")[-1]
    # 3 maps of 6x6 tiled 2 per row with a 1-pixel gap: 13 x 13
    assert (image.width, image.height) == (13, 13)
    assert "conv/kernel/image" in tags["images"]


def test_tile_maps():
    maps = np.arange(2 * 3 * 5, dtype=np.float64).reshape(2, 3, 5)
    tiled = tile_maps(maps)
    # 5 maps of 2x3, 3 per row (ceil(sqrt(5))), 1-pixel white gaps: 2*3-1 by 3*4-1
    assert tiled.shape == (5, 11, 1)
    assert tiled.min() == 0 and tiled.max() == 1
    np.testing.assert_allclose(tiled[:2, :3, 0], maps[:, :, 0] / 25)
    np.testing.assert_allclose(tiled[3:, 4:7, 0], (maps[:, :, 4] - 4) / 25)
    assert np.all(tiled[2, :, 0] == 1) and np.all(tiled[:, 3, 0] == 1)


def test_epoch_only_and_errors(tmp_path):
    x, y = _data()
    model = _model()
    model.fit(x, y, epochs=1, verbose=0, callbacks=[TensorBoard(tmp_path, histogram_freq=0)])
    tags = _read(tmp_path / "train").Tags()
    assert "epoch_loss" in tags["scalars"] and "batch_loss" not in tags["scalars"]
    assert tags["histograms"] == [] and tags["images"] == []
    assert not (tmp_path / "validation").exists()
    with pytest.raises(ValueError, match="TensorBoard: expected update_freq"):
        TensorBoard(tmp_path, update_freq="every batch")
    with pytest.raises(ValueError, match="histogram_freq"):
        TensorBoard(tmp_path, histogram_freq=-1)


def test_the_keras_guides_arguments_are_accepted_and_the_unsupported_refused(tmp_path):
    """The training guide's TensorBoard(log_dir=..., histogram_freq=0, embeddings_freq=0,
    update_freq="epoch") was a TypeError (unexpected keyword 'embeddings_freq'), as was
    write_graph=True from the TensorBoard tutorials."""
    x, y = _data()
    model = _model()
    tb = TensorBoard(log_dir=tmp_path, histogram_freq=0, write_graph=True, write_images=False,
                     write_steps_per_second=False, update_freq="epoch", profile_batch=0,
                     embeddings_freq=0, embeddings_metadata=None)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[tb])
    assert "epoch_loss" in _read(tmp_path / "train").Tags()["scalars"]
    for name, value in (("embeddings_freq", 1), ("profile_batch", 2),
                        ("profile_batch", "500,520"), ("write_steps_per_second", True),
                        ("embeddings_metadata", "meta.tsv")):
        with pytest.raises(ValueError, match=f"TensorBoard: {name} is not supported by npconv"):
            TensorBoard(tmp_path, **{name: value})
    with pytest.raises(TypeError, match="TensorBoard: expected write_graph to be a bool"):
        TensorBoard(tmp_path, write_graph="yes")


def test_update_freq_batch_is_keras_synonym_for_1(tmp_path):
    """Keras: "'batch' is a synonym for 1, meaning that they will be written every batch";
    npconv refused it as a ValueError."""
    x, y = _data()
    model = _model()
    seen = []
    from npconv.callbacks import LambdaCallback

    record = LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(logs["loss"]))
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, seed=0,
              callbacks=[TensorBoard(tmp_path, update_freq="batch"), record])
    events = _read(tmp_path / "train").Scalars("batch_loss")
    assert [e.step for e in events] == [1, 2, 3, 4, 5, 6]   # 3 batches per epoch
    np.testing.assert_allclose([e.value for e in events], seen, rtol=1e-6)


def test_a_second_fit_in_the_same_second_keeps_the_first_fits_events(tmp_path, monkeypatch):
    """tensorboardX names an event file after the second and the host only, and opens it for
    writing: a second fit with the callback (or a second callback on the same log_dir) within
    one second replaced the first fit's file, and its epochs vanished from TensorBoard."""
    import time
    import types

    from tensorboardX import event_file_writer

    frozen = types.SimpleNamespace(time=lambda: 1_700_000_000.25, sleep=time.sleep)
    monkeypatch.setattr(event_file_writer, "time", frozen)  # both fits in the same second
    x, y = _data()
    model = _model()
    tb = TensorBoard(tmp_path, histogram_freq=0)
    for _ in range(2):
        model.fit(x[:12], y[:12], validation_data=(x[12:], y[12:]), epochs=1, batch_size=4,
                  verbose=0, seed=0, callbacks=[tb])
    for run in ("train", "validation"):
        assert len(list((tmp_path / run).iterdir())) == 2
        assert len(_read(tmp_path / run).Scalars("epoch_loss")) == 2


def test_validation_and_evaluate_write_evaluation_vs_iterations(tmp_path):
    """Keras's on_test_end writes ``evaluation_<metric>_vs_iterations`` into log_dir/validation
    at step optimizer.iterations, for fit's validation passes and for model.evaluate given the
    callback; npconv wrote nothing there."""
    x, y = _data()
    model = _model()
    tb = TensorBoard(tmp_path, histogram_freq=0)
    before = model.evaluate(x, y, verbose=0, return_dict=True, callbacks=[tb])  # step 0
    history = model.fit(x[:12], y[:12], validation_data=(x[12:], y[12:]), epochs=2,
                        batch_size=4, verbose=0, seed=0, callbacks=[tb])
    val = _read(tmp_path / "validation")
    assert {"evaluation_loss_vs_iterations", "evaluation_accuracy_vs_iterations"} \
        <= set(val.Tags()["scalars"])
    for name in ("loss", "accuracy"):
        events = val.Scalars(f"evaluation_{name}_vs_iterations")
        assert [e.step for e in events] == [0, 3, 6]    # 3 batches per epoch
        np.testing.assert_allclose([e.value for e in events],
                                   [before[name], *history.history[f"val_{name}"]], rtol=1e-6)
    assert not any(t.startswith("evaluation") for t in _read(tmp_path / "train").Tags()["scalars"])


def test_keras_positional_order_and_defaults(tmp_path):
    """Keras's TensorBoard(log_dir, histogram_freq=0, write_graph, write_images,
    write_steps_per_second, update_freq, ...): npconv took (log_dir, histogram_freq=1,
    write_images, update_freq, ...), so TensorBoard(d, 0, True) (write_graph) turned on the
    kernel images, and TensorBoard(d) wrote weight histograms Keras does not."""
    x, y = _data()
    model = _model()
    model.fit(x, y, epochs=1, batch_size=10, verbose=0, seed=0,
              callbacks=[TensorBoard(tmp_path / "a", 0, True, False, False, 1)])
    tags = _read(tmp_path / "a" / "train").Tags()
    assert tags["images"] == [] and tags["histograms"] == []
    assert [e.step for e in _read(tmp_path / "a" / "train").Scalars("batch_loss")] == [1, 2]
    model.fit(x, y, epochs=1, verbose=0, seed=0, callbacks=[TensorBoard(tmp_path / "b")])
    assert _read(tmp_path / "b" / "train").Tags()["histograms"] == []


def test_a_log_dir_that_cannot_be_made_is_an_error_naming_the_callback(tmp_path):
    """tensorboardX's own "[Errno 20] Not a directory: 'file/logs'" said neither which
    callback failed nor that it was the TensorBoard logs."""
    x, y = _data()
    model = _model()
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(NotADirectoryError,
                       match=r"TensorBoard: cannot write the logs into .*file/logs/train"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[TensorBoard(tmp_path / "file" / "logs")])


def test_array_metrics_are_left_out_of_the_scalars_with_one_warning(tmp_path):
    """F1Score() gives one score per class: not a scalar, so not an epoch_f1_score scalar
    (Keras's tf.summary.scalar fails on it); the other logs are written as before."""
    import warnings

    from npconv.metrics import F1Score

    x, y = _data()
    model = _model()
    y_hot = np.eye(2, dtype=np.float32)[y]
    model.compile(optimizer="sgd", loss="categorical_crossentropy",
                  metrics=["accuracy", F1Score()])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y_hot, epochs=2, batch_size=10, verbose=0, validation_data=(x, y_hot),
                  callbacks=[TensorBoard(tmp_path / "logs", update_freq=1)])
        model.evaluate(x, y_hot, verbose=0, callbacks=[TensorBoard(tmp_path / "eval")])
    messages = [str(w.message) for w in caught if "TensorBoard" in str(w.message)]
    assert sorted(m.split("'")[1] for m in messages) == ["f1_score", "f1_score",
                                                         "val_f1_score"], messages
    assert all("is an array of 2 values" in m for m in messages)
    # what Keras 3.15.1 would do (its TensorBoard calls tf.summary.scalar on the array, and
    # TensorBoard's scalar summary starts with tf.debugging.assert_scalar), and what to log
    assert all("Keras 3.15's TensorBoard passes it to tf.summary.scalar, which raises "
               'ValueError ("Expected scalar shape") and stops the fit' in m
               and "F1Score(average='macro')" in m for m in messages), messages[0]
    train = _read(tmp_path / "logs" / "train").Tags()["scalars"]
    validation = _read(tmp_path / "logs" / "validation").Tags()["scalars"]
    assert {"epoch_loss", "epoch_accuracy", "batch_loss"} <= set(train)
    assert not [t for t in train + validation if "f1_score" in t]
    assert {"epoch_loss", "epoch_accuracy", "evaluation_loss_vs_iterations"} <= set(validation)
    assert len(_read(tmp_path / "logs" / "train").Scalars("epoch_loss")) == 2
