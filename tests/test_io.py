"""Saving and loading: exact round trips, exact training resume, atomic writes, and clear
errors (naming the file, changing nothing) for every kind of bad file."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from npconv import io as npio
from npconv.layers.conv import Conv2D
from npconv.layers.core import Dense, Dropout, Flatten
from npconv.layers.input import Input
from npconv.layers.merge import Add
from npconv.layers.normalization import BatchNormalization
from npconv.layers.pooling import MaxPooling2D
from npconv.models.functional import Model
from npconv.models.sequential import Sequential
from npconv.random import set_random_seed
from npconv.training import optimizers

# edited files below are written as npconv did before it recorded checksums: without them
_CHECKSUMS = ("npconv.data_sha256", "npconv.header_sha256")


def _sequential(dropout=True):
    layers = [Input(shape=(8, 8, 1)), Conv2D(4, 3, activation="relu"), BatchNormalization(),
              MaxPooling2D(2), Flatten()]
    if dropout:
        layers.append(Dropout(0.25))
    layers.append(Dense(3, activation="softmax"))
    return Sequential(layers)


def _functional():
    inputs = Input(shape=(8, 8, 1))
    a = Conv2D(4, 3, padding="same", activation="relu")(inputs)
    b = BatchNormalization()(Conv2D(4, 1)(inputs))
    x = Flatten()(MaxPooling2D(2)(Add()([a, b])))
    outputs = Dense(3, activation="softmax")(Dropout(0.5)(x))
    return Model(inputs, outputs)


def _data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, 3, n)
    return x, y


def _assert_same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for u, v in zip(wa, wb, strict=True):
        assert u.dtype == v.dtype
        np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("build", [_sequential, _functional])
def test_save_load_predict_is_bitwise_identical(tmp_path, build):
    set_random_seed(0)
    model = build()
    x, y = _data()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)  # moving stats and Adam slots non-trivial
    path = tmp_path / "model.npconv"
    model.save(path)
    loaded = npio.load_model(path)
    assert type(loaded) is type(model)
    assert [type(a).__name__ for a in loaded.layers] == [type(b).__name__ for b in model.layers]
    _assert_same_weights(loaded, model)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.compiled
    assert type(loaded.optimizer) is optimizers.Adam
    assert loaded.optimizer.iterations == model.optimizer.iterations == 4
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    bare = npio.load_model(path, compile=False)
    assert not bare.compiled
    np.testing.assert_array_equal(bare.predict(x), model.predict(x))


def test_float64_model_round_trip(tmp_path):
    set_random_seed(1)
    model = Sequential([Input(shape=(5,)), Dense(4, dtype="float64"), Dense(2, dtype="float64")])
    model.save(tmp_path / "m")
    loaded = npio.load_model(tmp_path / "m")
    assert all(w.dtype == np.float64 for w in loaded.get_weights())
    _assert_same_weights(loaded, model)


@pytest.mark.parametrize("optimizer", [
    lambda: optimizers.Adam(learning_rate=0.01),
    lambda: optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
    lambda: optimizers.RMSprop(learning_rate=0.01, momentum=0.5, centered=True),
    lambda: optimizers.Adagrad(learning_rate=0.05, initial_accumulator_value=0.2),
    lambda: optimizers.Nadam(learning_rate=0.01, beta_1=0.8),
])
def test_training_resumes_exactly(tmp_path, optimizer):
    """2 epochs, save, load, 2 more epochs == 4 epochs in one go.

    What must carry over: the weights, BatchNormalization's moving statistics, the optimizer's
    slots, iterations and learning rate (all in the file), and the shuffle order. The shuffle
    order is the caller's: ``fit(seed=g)`` with one numpy Generator ``g`` continues the same
    stream of permutations across the two fit calls, as one fit of 4 epochs draws them. (A
    Dropout layer's masks come from npconv's run-wide generator, which is not part of a model
    file -- as in Keras -- so the model here has none.)
    """
    x, y = _data(n=40, seed=3)

    set_random_seed(7)
    straight = _sequential(dropout=False)
    straight.compile(optimizer=optimizer(), loss="sparse_categorical_crossentropy")
    h_straight = straight.fit(x, y, epochs=4, batch_size=16, verbose=0,
                              seed=np.random.default_rng(11))

    set_random_seed(7)
    first = _sequential(dropout=False)
    first.compile(optimizer=optimizer(), loss="sparse_categorical_crossentropy")
    shuffles = np.random.default_rng(11)
    h1 = first.fit(x, y, epochs=2, batch_size=16, verbose=0, seed=shuffles)
    first.save(tmp_path / "ckpt.npconv")
    del first
    resumed = npio.load_model(tmp_path / "ckpt.npconv")
    h2 = resumed.fit(x, y, epochs=4, initial_epoch=2, batch_size=16, verbose=0, seed=shuffles)

    _assert_same_weights(resumed, straight)
    assert h1.history["loss"] + h2.history["loss"] == h_straight.history["loss"]
    assert h2.epoch == [2, 3]
    assert resumed.optimizer.iterations == straight.optimizer.iterations == 12


def test_resume_without_optimizer_state_differs(tmp_path):
    """The check above is not vacuous: dropping the optimizer state changes the result."""
    x, y = _data(n=40, seed=3)
    set_random_seed(7)
    straight = _sequential(dropout=False)
    straight.compile(optimizer=optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    straight.fit(x, y, epochs=4, batch_size=16, verbose=0, seed=np.random.default_rng(11))
    set_random_seed(7)
    first = _sequential(dropout=False)
    first.compile(optimizer=optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    shuffles = np.random.default_rng(11)
    first.fit(x, y, epochs=2, batch_size=16, verbose=0, seed=shuffles)
    first.save(tmp_path / "ckpt", include_optimizer=False)
    resumed = npio.load_model(tmp_path / "ckpt")
    assert resumed.optimizer.iterations == 0
    resumed.fit(x, y, epochs=2, batch_size=16, verbose=0, seed=shuffles)
    assert not np.array_equal(resumed.get_weights()[0], straight.get_weights()[0])


def test_save_weights_load_weights(tmp_path):
    set_random_seed(2)
    a = _functional()
    set_random_seed(3)
    b = _functional()
    assert not np.array_equal(a.get_weights()[0], b.get_weights()[0])
    a.save_weights(tmp_path / "w.safetensors")
    b.load_weights(tmp_path / "w.safetensors")
    _assert_same_weights(a, b)
    # a full model file also holds the weights
    a.save(tmp_path / "full.npconv")
    c = _functional()
    c.load_weights(tmp_path / "full.npconv")
    _assert_same_weights(a, c)
    with pytest.raises(ValueError, match="holds only weights.*load_weights"):
        npio.load_model(tmp_path / "w.safetensors")


def test_file_is_safetensors_with_json_metadata(tmp_path):
    set_random_seed(0)
    model = _sequential()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.save(tmp_path / "m")
    raw = (tmp_path / "m").read_bytes()
    header = json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")])
    meta = header["__metadata__"]
    assert json.loads(meta["npconv.format"]) == "npconv-model"
    assert json.loads(meta["npconv.version"]) == npio.FORMAT_VERSION
    assert json.loads(meta["npconv.architecture"])["layers"][0]["class_name"] == "Conv2D"
    assert sum(k.startswith("w/") for k in header) == len(model.weights)


# ------------------------------------------------------------------------------ atomic writes
def test_crash_during_rename_keeps_the_previous_file(tmp_path, monkeypatch):
    set_random_seed(0)
    model = _sequential()
    path = tmp_path / "model.npconv"
    model.save(path)
    before = path.read_bytes()
    saved_weights = model.get_weights()
    model.set_weights([w + 1 for w in saved_weights])

    def crash(src, dst):
        raise OSError("simulated crash")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        model.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npconv"]  # no temporary file left behind
    np.testing.assert_array_equal(npio.load_model(path).get_weights()[0], saved_weights[0])


def test_crash_while_writing_keeps_the_previous_file(tmp_path, monkeypatch):
    set_random_seed(0)
    model = _sequential()
    path = tmp_path / "w.safetensors"
    model.save_weights(path)
    before = path.read_bytes()

    def crash(fd):
        raise KeyboardInterrupt  # even an interrupt cleans up

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        model.save_weights(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["w.safetensors"]


# ------------------------------------------------------------------------------ bad paths
def _listing(root):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, dirs, files in os.walk(root) for f in files + dirs)


@pytest.mark.parametrize("write", ["save", "save_weights", "checkpoint", "csv"])
def test_writing_onto_a_folder_or_under_a_file_is_a_clear_error_before_anything(tmp_path,
                                                                               write):
    """The raw OS errors named an internal temporary file (IsADirectoryError) or only the
    parent (FileExistsError); now the error says what the path is, and nothing is written."""
    from npconv.training.callbacks import CSVLogger, ModelCheckpoint

    set_random_seed(0)
    model = _sequential()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    (tmp_path / "folder.npconv").mkdir()
    (tmp_path / "a_file").write_text("x")
    x, y = np.zeros((4, 8, 8, 1), np.float32), np.zeros(4, np.int64)

    def run(path):
        if write == "save":
            model.save(path)
        elif write == "save_weights":
            model.save_weights(path)
        elif write == "checkpoint":
            model.fit(x, y, verbose=0, callbacks=[ModelCheckpoint(str(path), monitor="loss")])
        else:
            model.fit(x, y, verbose=0, callbacks=[CSVLogger(path)])

    before = _listing(tmp_path)
    with pytest.raises(IsADirectoryError, match=r"folder\.npconv: it is a folder, not a file"):
        run(tmp_path / "folder.npconv")
    with pytest.raises(NotADirectoryError, match=r"model\.npconv: .*a_file is a file"):
        run(tmp_path / "a_file" / "sub" / "model.npconv")
    assert _listing(tmp_path) == before  # no temporary file, no folder made


@pytest.mark.parametrize("write", ["save", "save_weights"])
def test_writing_through_a_symbolic_link_keeps_the_link(tmp_path, write):
    """Before, the new file was renamed over the link itself, and the file it pointed to
    kept its old contents."""
    set_random_seed(0)
    model = _sequential()
    (tmp_path / "store").mkdir()
    target = tmp_path / "store" / "model.npconv"
    target.write_bytes(b"old")
    link = tmp_path / "current.npconv"
    link.symlink_to(target)
    getattr(model, write)(link)
    assert link.is_symlink() and target.read_bytes() != b"old"
    fresh = _sequential()
    fresh.load_weights(link)
    for a, b in zip(fresh.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert sorted(os.listdir(tmp_path / "store")) == ["model.npconv"]  # no temporary left


def test_a_loop_of_links_is_refused_and_left_as_it_is(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(OSError, match="cannot write .*a: Too many levels of symbolic links"):
        _sequential().save(tmp_path / "a")
    assert (tmp_path / "a").is_symlink() and (tmp_path / "b").is_symlink()
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]


def test_a_pipe_or_device_is_refused_not_replaced(tmp_path):
    model = _sequential()
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    with pytest.raises(ValueError, match=r"pipe: it is a named pipe, not a regular file"):
        model.save(pipe)
    assert not pipe.is_file() and pipe.exists()
    with pytest.raises(ValueError, match=r"/dev/null: it is a character device"):
        model.save_weights("/dev/null")
    assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")


def test_a_folder_that_refuses_new_files_names_the_target_not_a_temporary(tmp_path):
    model = _sequential()
    with pytest.raises(FileNotFoundError) as info:
        model.save("/proc/model.npconv")  # /proc takes no new files
    assert "cannot write /proc/model.npconv" in str(info.value)
    assert ".model.npconv." not in str(info.value)


def test_load_model_on_a_folder_says_it_is_a_folder(tmp_path):
    (tmp_path / "m.npconv").mkdir()
    with pytest.raises(IsADirectoryError, match=r"m\.npconv is a folder, not a model file"):
        npio.load_model(tmp_path / "m.npconv")
    with pytest.raises(FileNotFoundError, match="no such model file"):
        npio.load_model(tmp_path / "missing.npconv")


def test_save_overwrite_false_refuses_an_existing_file_as_keras_3(tmp_path):
    import npconv

    set_random_seed(0)
    model = _sequential()
    path = tmp_path / "m.npconv"
    model.save(path, overwrite=False)  # a new file: written
    before = path.read_bytes()
    model.set_weights([w + 1 for w in model.get_weights()])
    for save in (lambda: model.save(path, overwrite=False),
                 lambda: model.save_weights(path, overwrite=False),
                 lambda: npconv.saving.save_model(model, path, overwrite=False)):
        with pytest.raises(FileExistsError, match=r"m\.npconv already exists and overwrite=False"):
            save()
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.npconv"]
    model.save(path, overwrite=True)
    assert path.read_bytes() != before
    npconv.saving.save_model(model, path)  # Keras's keras.saving names
    np.testing.assert_array_equal(npconv.saving.load_model(path).get_weights()[0],
                                  model.get_weights()[0])


# ------------------------------------------------------------------------------ bad files
@pytest.fixture()
def saved(tmp_path):
    set_random_seed(0)
    model = _sequential()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    path = tmp_path / "good.npconv"
    model.save(path)
    return path, path.read_bytes()


def _target():
    set_random_seed(5)
    model = _sequential()
    return model, model.get_weights()


def _assert_unchanged(model, weights):
    for a, b in zip(model.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(a, b)


def _write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _bad_files(tmp_path, good):
    tensors = st_load(good)
    header = json.loads(good[8:8 + int.from_bytes(good[:8], "little")])
    meta = header["__metadata__"]
    wrong_version = dict(meta, **{"npconv.version": json.dumps(99)})
    return {
        "truncated": (_write(tmp_path, "truncated", good[:-7]), "truncated or corrupt"),
        "header only": (_write(tmp_path, "half", good[:len(good) // 2]), "truncated or corrupt"),
        "tiny": (_write(tmp_path, "tiny", good[:5]), "truncated or corrupt"),
        "random": (_write(tmp_path, "random", np.random.default_rng(0).bytes(4096)),
                   "truncated or corrupt"),
        "no metadata": (_write(tmp_path, "plain.safetensors", st_save(tensors)),
                        "not one npconv wrote"),
        "torch metadata": (_write(tmp_path, "torch.safetensors",
                                  st_save(tensors, metadata={"format": "pt"})),
                           "not one npconv wrote"),
        "wrong version": (_write(tmp_path, "v99.npconv", st_save(tensors, metadata=wrong_version)),
                          "format version 99; this npconv reads version 1"),
    }


@pytest.mark.parametrize("kind", ["truncated", "header only", "tiny", "random", "no metadata",
                                  "torch metadata", "wrong version"])
def test_bad_files_raise_a_clear_error_and_change_nothing(tmp_path, saved, kind):
    path, good = saved
    bad, message = _bad_files(tmp_path, good)[kind]
    model, weights = _target()
    with pytest.raises(ValueError, match=message) as info:
        model.load_weights(bad)
    assert str(bad) in str(info.value)
    _assert_unchanged(model, weights)
    with pytest.raises(ValueError, match=message) as info:
        npio.load_model(bad)
    assert str(bad) in str(info.value)


def test_shape_mismatch_names_the_file_and_changes_nothing(tmp_path, saved):
    path, _ = saved
    set_random_seed(0)
    other = Sequential([Input(shape=(8, 8, 1)), Conv2D(4, 3, activation="relu"),
                        BatchNormalization(), MaxPooling2D(2), Flatten(), Dropout(0.25),
                        Dense(4, activation="softmax")])  # 4 classes instead of 3
    weights = other.get_weights()
    with pytest.raises(ValueError, match=r"shape \(36, 3\).*expects \(36, 4\)") as info:
        other.load_weights(path)
    assert str(path) in str(info.value)
    _assert_unchanged(other, weights)
    fewer = Sequential([Input(shape=(8, 8, 1)), Flatten(), Dense(3)])
    kept = fewer.get_weights()
    with pytest.raises(ValueError, match="holds 8 weight arrays but the model has 2") as info:
        fewer.load_weights(path)
    assert str(path) in str(info.value)
    _assert_unchanged(fewer, kept)


def test_a_pipe_or_device_is_not_a_model_file(tmp_path):
    # was "no such model file: /dev/null", for a path that exists
    os.mkfifo(tmp_path / "pipe.npconv")
    model, weights = _target()
    for path, kind in ((tmp_path / "pipe.npconv", "a named pipe"),
                       ("/dev/null", "a character device")):
        for load in (npio.load_model, model.load_weights):
            with pytest.raises(ValueError, match=f"npconv: {path} is {kind}, not a model file"):
                load(path)
    _assert_unchanged(model, weights)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such model file"):
        npio.load_model(tmp_path / "nope.npconv")


def test_unbuilt_model_cannot_be_saved(tmp_path):
    with pytest.raises(ValueError, match="not built"):
        Sequential([Dense(3)]).save(tmp_path / "x")
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------------------ optimizer state
def _dense_pair():
    return Sequential([Input(shape=(4,)), Dense(4, activation="relu"),
                       Dense(4, activation="softmax")])


def _dense_data():
    rng = np.random.default_rng(9)
    return rng.standard_normal((24, 4)).astype(np.float32), rng.integers(0, 4, 24)


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop", "adagrad",
                                       lambda: optimizers.SGD(0.05, momentum=0.9)])
def test_optimizer_state_follows_the_weights_when_trainable_flags_change(tmp_path, optimizer):
    """Trained with the first layer frozen, then unfrozen: the optimizer first saw the second
    layer's weights. Its slots must come back on those same weights, so that one more epoch
    of the loaded model equals one more epoch of the original."""
    x, y = _dense_data()
    set_random_seed(0)
    model = _dense_pair()
    model.layers[0].trainable = False
    model.compile(optimizer() if callable(optimizer) else optimizer,
                  "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=False)
    model.layers[0].trainable = True
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    model.save(tmp_path / "f.npconv")
    loaded = npio.load_model(tmp_path / "f.npconv")
    _assert_same_weights(loaded, model)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    loaded.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    _assert_same_weights(loaded, model)
    assert loaded.optimizer.iterations == model.optimizer.iterations == 12


def test_freezing_after_training_saves_and_loads_and_resumes(tmp_path):
    """Slots of a layer frozen after training are kept (unfreezing later continues exactly)."""
    x, y = _dense_data()
    set_random_seed(0)
    model = _dense_pair()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=False)
    model.layers[0].trainable = False
    model.save(tmp_path / "f.npconv")
    loaded = npio.load_model(tmp_path / "f.npconv")
    assert not loaded.layers[0].trainable
    for m in (model, loaded):
        m.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
        m.layers[0].trainable = True
        m.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    _assert_same_weights(loaded, model)


def _saved_momentum_model(tmp_path):
    """A small model trained one epoch with SGD momentum, saved to tmp_path / 'f.npconv'."""
    x, y = _dense_data()
    set_random_seed(0)
    model = _dense_pair()
    model.compile(optimizers.SGD(momentum=0.9), "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / "f.npconv")
    return model


def test_optimizer_state_is_keyed_by_the_weights_file_keys(tmp_path):
    _saved_momentum_model(tmp_path)
    keys = set(st_load((tmp_path / "f.npconv").read_bytes()))
    weights = sorted(k for k in keys if k.startswith("w/"))
    assert sorted(k for k in keys if k.startswith("opt/momentum/")) == [
        f"opt/momentum/{k}" for k in weights]


def test_a_bad_optimizer_state_names_the_file(tmp_path):
    _saved_momentum_model(tmp_path)
    tensors = st_load((tmp_path / "f.npconv").read_bytes())
    raw = (tmp_path / "f.npconv").read_bytes()
    meta = json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")])["__metadata__"]
    meta = {k: v for k, v in meta.items() if k not in _CHECKSUMS}
    key = next(k for k in tensors if k.startswith("opt/momentum/"))
    tensors[key] = np.zeros((7,), np.float32)
    bad = _write(tmp_path, "bad.npconv", st_save(tensors, metadata=meta))
    with pytest.raises(ValueError, match="optimizer state") as info:
        npio.load_model(bad)
    assert str(bad) in str(info.value)


def test_files_with_optimizer_slots_keyed_by_trainable_position_still_load(tmp_path):
    """Files written before the slots were keyed by weight hold ``opt/<slot>.<i>``, ``i`` the
    position in ``model.trainable_weights``; they load as before."""
    x, y = _dense_data()
    set_random_seed(0)
    model = _dense_pair()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    model.save(tmp_path / "new.npconv")
    tensors = st_load((tmp_path / "new.npconv").read_bytes())
    raw = (tmp_path / "new.npconv").read_bytes()
    meta = json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")])["__metadata__"]
    meta = {k: v for k, v in meta.items() if k not in _CHECKSUMS}
    weights = sorted(k for k in tensors if k.startswith("w/"))
    old = {k: v for k, v in tensors.items() if not k.startswith("opt/") or "/w/" not in k}
    for slot in ("momentum", "velocity"):
        for i, k in enumerate(weights):
            old[f"opt/{slot}.{i}"] = tensors[f"opt/{slot}/{k}"]
    path = _write(tmp_path, "old.npconv", st_save(old, metadata=meta))
    loaded = npio.load_model(path)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    loaded.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    _assert_same_weights(loaded, model)


# ------------------------------------------------------------------------------ checksum
def _flip_a_weight_byte(data: bytes, key_prefix: str = "w/") -> bytes:
    """``data`` with one bit of the first matching tensor's middle byte flipped."""
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    key = sorted(k for k in header if k.startswith(key_prefix))[0]
    start, end = header[key]["data_offsets"]
    at = 8 + n + (start + end) // 2
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


@pytest.mark.parametrize("what", ["model", "weights"])
def test_a_flipped_data_byte_is_a_clear_error_and_changes_nothing(tmp_path, what):
    set_random_seed(0)
    model = _sequential()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    path = tmp_path / "good.npconv"
    model.save(path) if what == "model" else model.save_weights(path)
    bad = _write(tmp_path, "bad.npconv", _flip_a_weight_byte(path.read_bytes()))
    target, weights = _target()
    with pytest.raises(ValueError, match="checksum") as info:
        target.load_weights(bad)
    assert str(bad) in str(info.value)
    _assert_unchanged(target, weights)
    if what == "model":
        with pytest.raises(ValueError, match="checksum") as info:
            npio.load_model(bad)
        assert str(bad) in str(info.value)
    target.load_weights(path)  # the good file loads
    _assert_same_weights(target, model)


def test_a_flipped_optimizer_byte_is_caught_too(tmp_path):
    set_random_seed(0)
    model = _sequential()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(*_data(n=8), epochs=1, verbose=0)
    model.save(tmp_path / "good.npconv")
    bad = _write(tmp_path, "bad.npconv",
                 _flip_a_weight_byte((tmp_path / "good.npconv").read_bytes(), "opt/velocity/"))
    with pytest.raises(ValueError, match="checksum"):
        npio.load_model(bad)


def test_the_checksum_is_in_the_metadata_and_files_without_one_still_load(tmp_path):
    import hashlib

    set_random_seed(0)
    model = _sequential()
    model.save(tmp_path / "m.npconv")
    raw = (tmp_path / "m.npconv").read_bytes()
    n = int.from_bytes(raw[:8], "little")
    meta = json.loads(raw[8:8 + n])["__metadata__"]
    assert json.loads(meta["npconv.data_sha256"]) == hashlib.sha256(raw[8 + n:]).hexdigest()
    assert n % 8 == 0  # the header stays 8-byte aligned, as safetensors writes it
    older = {k: v for k, v in meta.items() if k not in _CHECKSUMS}
    path = _write(tmp_path, "older.npconv", st_save(st_load(raw), metadata=older))
    _assert_same_weights(npio.load_model(path), model)


def test_load_model_takes_keras_custom_objects(tmp_path):
    import npconv
    from npconv.layers import Dense, Input, Layer
    from npconv.models import Sequential
    from npconv.training import losses

    class Scale(Layer):
        batch_independent = True

        def call(self, x, training=False):
            return x * 2.0

        def call_backward(self, d):
            return d * 2.0

    class HalfMSE(losses.MeanSquaredError):
        def __init__(self, name="half_mse", reduction="sum_over_batch_size"):
            super().__init__(name=name, reduction=reduction)

    npconv.set_random_seed(0)
    model = Sequential([Input((3,)), Dense(2), Scale(name="scale")])
    model.compile("sgd", HalfMSE())
    model.save(tmp_path / "custom.npconv")
    loaded = npio.load_model(tmp_path / "custom.npconv",
                             custom_objects={"Scale": Scale, "HalfMSE": HalfMSE})
    assert type(loaded.layers[-1]) is Scale and type(loaded.loss) is HalfMSE
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    # entries the file does not need (a function, a Model subclass) are no error, as in Keras
    npio.load_model(tmp_path / "custom.npconv",
                    custom_objects={"Scale": Scale, "HalfMSE": HalfMSE, "f": print,
                                    "Net": npconv.Model})
    with pytest.raises(TypeError, match="expected custom_objects to be a dict"):
        npio.load_model(tmp_path / "custom.npconv", custom_objects=[Scale])


def test_a_model_with_an_initializer_function_saves_and_loads(tmp_path):
    import npconv
    from npconv.layers import Dense, Input
    from npconv.models import Sequential, clone_model

    def my_init(shape, dtype=None):
        return np.full(shape, 0.5, dtype)

    model = Sequential([Input((3,)), Dense(2, kernel_initializer=my_init)])
    model.compile("sgd", "mse")
    model.fit(np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32), verbose=0)
    model.save(tmp_path / "init.npconv")
    loaded = npio.load_model(tmp_path / "init.npconv", custom_objects={"my_init": my_init})
    np.testing.assert_array_equal(loaded.get_weights()[0], model.get_weights()[0])
    assert loaded.layers[0].get_config()["kernel_initializer"] == {
        "class_name": "NotSaved", "config": {"name": my_init.__qualname__}}
    with pytest.raises(ValueError, match="kept by its name only: give it again"):
        clone_model(loaded)
    assert npconv.layers.base.DRAW_WEIGHTS  # loading left drawing on


# ------------------------------------------------------------------------------ hostile files
def _resaved(tmp_path, good, name, tensors=None, **metadata):
    """``good`` written again (with a valid checksum) with some metadata or tensors changed."""
    header = json.loads(good[8:8 + int.from_bytes(good[:8], "little")])
    meta = {k: json.loads(v) for k, v in header["__metadata__"].items()
            if k not in _CHECKSUMS}
    meta.update(metadata)
    pieces = npio._serialize(st_load(good) if tensors is None else tensors, meta)
    return _write(tmp_path, name, b"".join(bytes(p) for p in pieces))


@pytest.mark.parametrize("layer, change", [("Dense", {"units": 10**12}),
                                           ("Conv2D", {"filters": 10**9})])
def test_a_config_with_absurd_sizes_fails_before_allocating_them(tmp_path, saved, layer, change):
    # Dense(10**12) after Flatten would be a 131 TiB kernel: np.zeros raised MemoryError
    # (or, with overcommit, "succeeded" and the machine swapped) before any check ran
    path, good = saved
    arch = json.loads(json.loads(good[8:8 + int.from_bytes(good[:8], "little")])
                      ["__metadata__"]["npconv.architecture"])
    for spec in arch["layers"]:
        if spec["class_name"] == layer:
            spec["config"].update(change)
    bad = _resaved(tmp_path, good, "huge.npconv", **{"npconv.architecture": arch})
    with pytest.raises(ValueError, match=r"cannot rebuild the architecture: .*add_weight: the "
                                         r"weight 'kernel' of shape .* more than the file") as info:
        npio.load_model(bad)
    assert str(bad) in str(info.value)
    from npconv.layers import base
    assert base.WEIGHT_BUDGET is None  # reset for models built afterwards
    Sequential([Input(shape=(4,)), Dense(10**4)])  # (unlimited outside load_model)


def test_json_nested_too_deeply_is_a_clear_error(tmp_path, saved):
    # json.loads raised RecursionError (not a ValueError) from deep inside the decoder
    path, good = saved
    n = int.from_bytes(good[:8], "little")
    header = json.loads(good[8:8 + n])
    header["__metadata__"]["npconv.architecture"] = "[" * 100_000 + "]" * 100_000
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    bad = _write(tmp_path, "deep.npconv", len(text).to_bytes(8, "little") + text + good[8 + n:])
    model, weights = _target()
    for load in (npio.load_model, model.load_weights):
        with pytest.raises(ValueError, match="nested too deeply") as info:
            load(bad)
        assert str(bad) in str(info.value)
    _assert_unchanged(model, weights)


@pytest.mark.parametrize("old, new", [(b'"epsilon": 0.001', b'"epsilon": 0.009'),
                                      (b'/moving_mean"', b'/moving_meen"')])
def test_a_changed_byte_in_the_header_is_a_clear_error(tmp_path, saved, old, new):
    # the data checksum covers only the tensors: a flipped digit of BatchNormalization's
    # epsilon (in the JSON architecture) loaded silently and changed every prediction
    path, good = saved
    n = int.from_bytes(good[:8], "little")
    text = good[8:8 + n].decode()
    header = json.loads(text)
    meta = header["__metadata__"]
    if old.startswith(b'"epsilon"'):  # inside the architecture, itself a JSON string
        meta["npconv.architecture"] = meta["npconv.architecture"].replace(old.decode(),
                                                                          new.decode())
        changed = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
        changed += b" " * (n - len(changed))
    else:
        changed = text.replace(old.decode(), new.decode()).encode()
    assert len(changed) == n and changed != good[8:8 + n]
    bad = _write(tmp_path, "flipped.npconv", good[:8] + changed + good[8 + n:])
    model, weights = _target()
    for load in (npio.load_model, model.load_weights):
        with pytest.raises(ValueError, match="its header .* does not match the SHA-256") as info:
            load(bad)
        assert str(bad) in str(info.value)
    _assert_unchanged(model, weights)


def test_an_optimizer_state_lacking_one_weights_slot_is_refused(tmp_path, saved):
    # a file whose Adam state had no 'velocity' for one weight loaded, and training went on
    # with that velocity restarted from zeros: a resume silently different from the run
    path, good = saved
    x, y = _data()
    model = npio.load_model(path)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.save(path)
    tensors = st_load(path.read_bytes())
    key = next(k for k in sorted(tensors) if k.startswith("opt/velocity/"))
    del tensors[key]
    bad = _resaved(tmp_path, path.read_bytes(), "partial.npconv", tensors=tensors)
    with pytest.raises(ValueError, match=r"cannot restore the optimizer state .*lacks its "
                                         r"\['velocity'\] slot") as info:
        npio.load_model(bad)
    assert str(bad) in str(info.value)
    npio.load_model(bad, compile=False)  # the model itself loads


@pytest.mark.parametrize("entry, value, message", [
    ("npconv.version", True, "format version True; this npconv reads version 1"),
    ("npconv.version", 1.0, "format version 1.0; this npconv reads version 1"),
    ("npconv.kind", "Subclass", "unknown model kind 'Subclass'; expected 'Sequential' or"),
])
def test_metadata_of_the_wrong_type_or_kind_is_refused(tmp_path, saved, entry, value, message):
    # a version true or 1.0 passed as version 1 (True == 1.0 == 1); an unknown kind was
    # read as a functional model's config, failing with a bare KeyError: 'inbound'
    path, good = saved
    bad = _resaved(tmp_path, good, "meta.npconv", **{entry: value})
    with pytest.raises(ValueError, match=message) as info:
        npio.load_model(bad)
    assert str(bad) in str(info.value)


def test_a_large_file_that_is_not_a_model_is_refused_before_it_is_read(tmp_path, saved):
    # the whole file was read into memory first (a 10 GB file named .npconv: 10 GB), and only
    # then found not to be a model; its header alone shows its size is wrong
    path, good = saved
    big = _write(tmp_path, "appended.npconv", good)
    with open(big, "r+b") as f:
        f.truncate(256 * 2**20)  # (sparse: no disk space used)
    noise = _write(tmp_path, "noise.npconv", b"\xff" * 64)
    with open(noise, "r+b") as f:
        f.truncate(256 * 2**20)
    for bad, message in ((big, f"its header describes {len(good)} bytes; the file has "
                               f"{256 * 2**20}"),
                         (noise, "its first 8 bytes announce a header of 18446744073709551615 "
                                 f"bytes; the file has {256 * 2**20}")):
        with pytest.raises(ValueError, match=message) as info:
            npio.load_model(bad)
        assert str(bad) in str(info.value) and "truncated or corrupt" in str(info.value)


def test_a_model_compiled_with_a_custom_metric_subclass_loads_compiled(tmp_path):
    """The metric is found by class name once its class is defined, as custom layers are
    (load_model refused it: "unknown metric class", loading only with compile=False)."""
    from npconv.training import metrics

    class MaxScore(metrics.Metric):
        def __init__(self, name="max_score", **kwargs):
            super().__init__(name=name, **kwargs)
            self.best = self.add_variable(shape=(), initializer="zeros", name="best")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.best.assign(max(float(self.best), float(np.max(y_pred))))

        def result(self):
            return self.best.value

    model = Sequential([Input((3,)), Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=[MaxScore()])
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = npio.load_model(path)
    x, y = np.ones((4, 3), np.float32), np.array([0, 1, 0, 1])
    result = loaded.evaluate(x, y, verbose=0, return_dict=True)
    assert set(result) == {"loss", "max_score"}
    assert result["max_score"] == pytest.approx(float(np.max(loaded.predict(x, verbose=0))))


def test_a_broken_keras_made_file_is_named_as_such_not_as_an_npconv_file(tmp_path):
    """A Keras 3 .keras (zip) or .h5 (HDF5) file was "not a valid npconv file (truncated or
    corrupt: Error while deserializing header: header too large)": blamed on the file. npconv
    now reads Keras's files (tests/test_keras_files.py); a broken one is named as a Keras
    file, and load_model on a weights-only HDF5 file says to use load_weights."""
    keras_path = tmp_path / "model.keras"
    keras_path.write_bytes(b"PK\x03\x04\x14\x00\x00\x00config.json" + bytes(64))
    with pytest.raises(ValueError, match="not a readable Keras .keras file.*truncated"):
        npio.load_model(str(keras_path))
    h5_path = tmp_path / "model.weights.h5"
    h5_path.write_bytes(b"\x89HDF\r\n\x1a\n\x00\x00\x00\x00" + bytes(64))
    with pytest.raises(ValueError, match="HDF5 file.*only weights.*load_weights"):
        npio.load_model(str(h5_path))


def test_a_compiled_metric_with_numpy_scalar_arguments_saves(tmp_path):
    """Precision(thresholds=np.float32(0.25)) keeps its argument as given in its config: the
    model file's JSON refused it (model.save raised "not JSON serializable")."""
    from npconv.training import metrics

    model = Sequential([Input((3,)), Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy",
                  metrics=[metrics.Precision(thresholds=np.float32(0.25), name="p")])
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = npio.load_model(path)
    x, y = np.random.default_rng(0).random((6, 3)).astype(np.float32), np.array([0, 1] * 3)
    assert (loaded.evaluate(x, y, verbose=0, return_dict=True)
            == model.evaluate(x, y, verbose=0, return_dict=True))


def test_a_model_compiled_with_a_loss_object_as_metric_loads_compiled(tmp_path):
    # A Loss object logs as a metric under its name; the file kept it as a metric class of
    # the same name with the loss's config, and load_model failed: "MeanSquaredError.__init__()
    # got an unexpected keyword argument 'reduction'", or "unknown metric class
    # 'CategoricalCrossentropy'"
    from npconv import losses
    from npconv.layers import Input
    from npconv.models import Sequential

    x = np.random.default_rng(0).random((8, 3)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[np.arange(8) % 3]
    model = Sequential([Input((3,)), Dense(3, activation="softmax")])
    model.compile("sgd", "mse", metrics=[losses.MeanSquaredError(),
                                         losses.CategoricalCrossentropy(name="cce")])
    expected = model.evaluate(x, y, verbose=0, return_dict=True)
    model.save(tmp_path / "m.npconv")
    got = npio.load_model(tmp_path / "m.npconv").evaluate(x, y, verbose=0, return_dict=True)
    assert list(got) == ["loss", "mean_squared_error", "cce"]
    assert got == pytest.approx(expected)


def test_a_model_compiled_with_a_callable_instance_as_metric_saves(tmp_path):
    # a callable object (no __name__, no get_config) is a metric logged under its class's
    # name; model.save failed with "'Gap' object has no attribute '__name__'"
    from npconv.layers import Input
    from npconv.models import Sequential

    class Gap:
        def __call__(self, y_true, y_pred):
            return np.abs(y_true - y_pred).max(axis=-1)

    model = Sequential([Input((3,)), Dense(3)])
    model.compile("sgd", "mse", metrics=[Gap()])
    model.save(tmp_path / "m.npconv")
    assert npio.load_model(tmp_path / "m.npconv", compile=False).count_params() == 12


def test_a_custom_metric_function_comes_back_through_custom_objects(tmp_path):
    """As Keras: load_model(path, custom_objects={"gap": gap}) restores a model compiled with
    metrics=[gap] (it failed with "unknown metric 'gap'")."""
    import npconv

    def gap(y_true, y_pred):
        return np.abs(np.asarray(y_pred)[..., 0] - 0.5)

    model = npconv.Sequential([npconv.Input((3,)), npconv.layers.Dense(2, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", metrics=[gap])
    path = tmp_path / "m.npconv"
    model.save(path)
    x, y = np.random.default_rng(0).random((6, 3), dtype=np.float32), np.array([0, 1] * 3)
    again = npconv.models.load_model(path, custom_objects={"gap": gap})
    assert again.evaluate(x, y, verbose=0, return_dict=True) == pytest.approx(
        model.evaluate(x, y, verbose=0, return_dict=True))
    with pytest.raises(ValueError, match=r"cannot restore the training configuration.*gap"):
        npconv.models.load_model(path)
    assert npconv.models.load_model(path, compile=False).predict(x, verbose=0).shape == (6, 2)


def test_orthogonal_initializer_under_its_older_keras_class_name():
    from npconv import initializers

    init = initializers.get({"class_name": "OrthogonalInitializer",
                             "config": {"gain": 1.0, "seed": 2}})
    assert isinstance(init, initializers.Orthogonal)


@pytest.mark.parametrize("name, opening, kind", [
    ("history.csv", b"epoch,accuracy,loss\n0,0.47,1.49\n", "a text file"),
    ("history.json", b'{\n  "epoch": [\n    0\n  ]\n}', "a text file"),
    ("shoe.png", b"\x89PNG\r\n\x1a\n" + bytes(40), "a PNG image"),
    ("conv.gif", b"GIF89a" + bytes(40), "a GIF image"),
    ("photo.jpg", b"\xff\xd8\xff\xe0" + bytes(40), "a JPEG image"),
    ("x.npy", b"\x93NUMPY\x01\x00" + bytes(40), "a NumPy .npy array"),
])
def test_a_file_of_another_kind_is_named_as_such_not_as_corrupt(tmp_path, name, opening, kind):
    """A run's history.json or an image given where a model goes was "not a valid npconv
    file (truncated or corrupt: its first 8 bytes announce a header of 8030029332843858555
    bytes; the file has 280)": blamed on a file that is fine, in the format's jargon."""
    path = tmp_path / name
    path.write_bytes(opening)
    with pytest.raises(ValueError, match=f"{kind}.*not an npconv model file.*model.save") \
            as info:
        npio.load_model(str(path))
    assert str(path) in str(info.value) and "truncated" not in str(info.value)
