"""utils.image_dataset_from_directory, load_img, img_to_array, array_to_img, save_img against
Keras 3's semantics, on small image trees made here."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from PIL import Image

import npconv
from npconv import layers, utils
from npconv.datasets.images import ImageDataset

# (class folder, file, mode, (width, height), colour) -- every image one solid colour, so any
# resize gives the colour back exactly
FILES = [
    ("cat", "b.png", "RGB", (12, 10), (200, 10, 10)),
    ("cat", "A.JPG", "RGB", (9, 9), (255, 255, 255)),       # upper-case extension
    ("cat", "deep/z.bmp", "RGB", (5, 7), (0, 0, 250)),      # nested below the class
    ("cat", "deep2/y.png", "L", (8, 8), 90),                 # grayscale
    ("dog", "a.gif", "P", (6, 6), 3),                        # palette (GIF)
    ("dog", "c.png", "RGBA", (10, 10), (0, 255, 0, 128)),
    ("dog", "d.png", "RGB", (4, 9), (10, 20, 30)),
    ("bird", "k.png", "RGB", (11, 6), (50, 60, 70)),
    ("bird", "m.jpeg", "L", (8, 8), 0),
    ("bird", "n.png", "RGB", (7, 7), (1, 2, 3)),
]


def _image(mode, size, color):
    if mode == "P":
        im = Image.new("P", size, color)
        im.putpalette([0, 0, 0, 1, 1, 1, 2, 2, 2, 40, 80, 120] + [0] * 756)
        return im
    return Image.new(mode, size, color)


def rgb_of(mode, color):
    """The colour Pillow's convert("RGB") gives."""
    return tuple(np.asarray(_image(mode, (1, 1), color).convert("RGB"))[0, 0])


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "photos"
    for folder, name, mode, size, color in FILES:
        path = root / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        _image(mode, size, color).save(path)
    (root / "cat" / "notes.txt").write_text("not an image")   # skipped by its extension
    (root / "dog" / "e.webp").write_bytes(b"RIFF")             # not one of Keras's formats
    (root / "empty").mkdir()                                   # an empty class
    (root / ".hidden").mkdir()                                 # not a class
    _image("RGB", (4, 4), (9, 9, 9)).save(root / ".hidden" / "h.png")
    return root


def load(tree, **kwargs):
    kwargs.setdefault("image_size", (6, 8))
    kwargs.setdefault("verbose", False)
    return utils.image_dataset_from_directory(tree, **kwargs)


def alphanumeric(tree):
    """Keras's file order before its shuffle: classes sorted, then each class's folders by
    path, each folder's files sorted."""
    out = []
    for folder in ["bird", "cat", "dog", "empty"]:
        walk = sorted(os.walk(tree / folder), key=lambda e: e[0])
        out += [os.path.join(r, f) for r, _, fs in walk for f in sorted(fs)
                if f.lower().endswith((".bmp", ".gif", ".jpeg", ".jpg", ".png"))]
    return out


def everything(ds):
    xs, ys = zip(*ds, strict=True)
    return np.concatenate(xs), np.concatenate(ys)


# ---------------------------------------------------------------------------- listing
def test_found_message_class_names_and_order(tree, capsys):
    ds = utils.image_dataset_from_directory(tree, image_size=(6, 8), shuffle=False)
    assert capsys.readouterr().out == "Found 10 files belonging to 4 classes.\n"
    assert ds.class_names == ["bird", "cat", "dog", "empty"]
    assert ds.file_paths == alphanumeric(tree)
    assert [os.path.relpath(p, tree) for p in ds.file_paths[3:7]] == [
        "cat/A.JPG", "cat/b.png", "cat/deep/z.bmp", "cat/deep2/y.png"]
    assert isinstance(ds, utils.PyDataset) and isinstance(ds, ImageDataset)
    assert len(ds) == 1
    x, y = ds[0]
    assert x.shape == (10, 6, 8, 3) and x.dtype == np.float32
    assert y.dtype == np.int32 and y.tolist() == [0, 0, 0, 1, 1, 1, 1, 2, 2, 2]


def test_class_names_order_is_alphanumeric_as_python_sorts(tmp_path):
    for name in ["cat", "Dog", "10", "2", "bird"]:
        (tmp_path / name).mkdir()
        _image("RGB", (3, 3), (1, 1, 1)).save(tmp_path / name / "x.png")
    ds = load(tmp_path, shuffle=False)
    assert ds.class_names == ["10", "2", "Dog", "bird", "cat"]  # = sorted(os.listdir)
    assert everything(ds)[1].tolist() == [0, 1, 2, 3, 4]


def test_class_names_choose_order_and_subset(tree):
    ds = load(tree, class_names=["dog", "cat"], shuffle=False)
    assert ds.class_names == ["dog", "cat"]
    assert [os.path.relpath(p, tree).split(os.sep)[0] for p in ds.file_paths] == (
        ["dog"] * 3 + ["cat"] * 4)
    assert everything(ds)[1].tolist() == [0] * 3 + [1] * 4
    with pytest.raises(ValueError, match=r"did not match.*\['bird', 'cat', 'dog', 'empty'\]"):
        load(tree, class_names=["cat", "fish"])


def test_pixel_values_per_color_mode(tree):
    ds = load(tree, shuffle=False, batch_size=None)
    expected = {}
    for folder, name, mode, _, color in FILES:
        expected[str(tree / folder / name)] = (mode, color)
    for path, (x, _) in zip(ds.file_paths, ds, strict=True):
        mode, color = expected[path]
        assert x.shape == (6, 8, 3)
        want = rgb_of(mode, color)
        tol = 3 if path.lower().endswith((".jpg", ".jpeg")) else 0  # JPEG is lossy
        np.testing.assert_allclose(x, np.broadcast_to(want, x.shape), atol=tol, err_msg=path)
    gray = load(tree, shuffle=False, color_mode="grayscale", batch_size=None)
    rgba = load(tree, shuffle=False, color_mode="rgba", batch_size=None)
    for path, (g, _), (a, _) in zip(ds.file_paths, gray, rgba, strict=True):
        mode, color = expected[path]
        tol = 3 if path.lower().endswith((".jpg", ".jpeg")) else 0
        want_l = np.asarray(_image(mode, (1, 1), color).convert("L"))[0, 0]
        want_a = np.asarray(_image(mode, (1, 1), color).convert("RGBA"))[0, 0]
        assert g.shape == (6, 8, 1) and a.shape == (6, 8, 4)
        np.testing.assert_allclose(g[..., 0], want_l, atol=tol, err_msg=path)
        np.testing.assert_allclose(a, np.broadcast_to(want_a, a.shape), atol=tol, err_msg=path)
    c_png = ds.file_paths.index(str(tree / "dog" / "c.png"))
    assert rgba[c_png][0][0, 0].tolist() == [0, 255, 0, 128]  # the alpha channel is kept


def test_data_format_channels_first(tree):
    x, _ = load(tree, shuffle=False, data_format="channels_first")[0]
    assert x.shape == (10, 3, 6, 8)
    x_last, _ = load(tree, shuffle=False)[0]
    np.testing.assert_array_equal(x, x_last.transpose(0, 3, 1, 2))


# ---------------------------------------------------------------------------- labels
def test_label_modes(tree):
    ints = [0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
    x, y = load(tree, shuffle=False, label_mode="categorical")[0]
    assert y.dtype == np.float32 and y.shape == (10, 4)
    np.testing.assert_array_equal(y, np.eye(4, dtype=np.float32)[ints])
    two = load(tree, shuffle=False, label_mode="binary", class_names=["cat", "dog"])
    x, y = two[0]
    assert y.dtype == np.float32 and y.shape == (7, 1)
    assert y[:, 0].tolist() == [0] * 4 + [1] * 3
    with pytest.raises(ValueError, match="exactly 2 class_names"):
        load(tree, label_mode="binary")


def test_no_labels_walks_the_whole_directory(tree, capsys):
    ds = utils.image_dataset_from_directory(tree, label_mode=None, image_size=4,
                                            shuffle=False)
    assert capsys.readouterr().out == "Found 11 files.\n"  # .hidden/h.png too, as Keras
    assert ds.class_names is None
    batch = ds[0]
    assert isinstance(batch, np.ndarray) and batch.shape == (11, 4, 4, 3)
    assert load(tree, labels=None, shuffle=False).file_paths == ds.file_paths
    with pytest.raises(ValueError, match="labels=None.*class_names"):
        load(tree, labels=None, class_names=["cat"])


def test_labels_as_a_list(tree):
    paths = load(tree, labels=None, shuffle=False).file_paths
    given = [i % 3 for i in range(len(paths))]
    ds = load(tree, labels=given, shuffle=False, label_mode="categorical")
    assert ds.file_paths == paths and ds.class_names == ["0", "1", "2"]
    np.testing.assert_array_equal(everything(ds)[1], np.eye(3)[given])
    shuffled = load(tree, labels=tuple(given), seed=5)
    label_of = dict(zip(paths, given, strict=True))
    assert everything(shuffled)[1].tolist() == [label_of[p] for p in shuffled.file_paths]
    with pytest.raises(ValueError, match="lengths of `labels`.*len\\(labels\\) is 3 while "
                                         "we found 11 files"):
        load(tree, labels=[0, 1, 0])
    with pytest.raises(ValueError, match="only pass `class_names` if `labels=\"inferred\"`"):
        load(tree, labels=given, class_names=["a"])
    with pytest.raises(ValueError, match="list/tuple of integer labels"):
        load(tree, labels="folders")


# ---------------------------------------------------------------------------- splits
def keras_split(tree, seed, split):
    """Keras's index_directory + get_training_or_validation_split, by hand."""
    paths = alphanumeric(tree)
    np.random.RandomState(seed).shuffle(paths)
    k = int(split * len(paths))
    return paths[:-k], paths[-k:]


@pytest.mark.parametrize("split", [0.2, 0.35, 0.5])
def test_split_as_keras(tree, split, capsys):
    train = utils.image_dataset_from_directory(tree, validation_split=split,
                                               subset="training", seed=42, image_size=4)
    val = utils.image_dataset_from_directory(tree, validation_split=split,
                                             subset="validation", seed=42, image_size=4)
    k = int(split * 10)
    out = capsys.readouterr().out.splitlines()
    assert out == ["Found 10 files belonging to 4 classes.", f"Using {10 - k} files for "
                   "training.", "Found 10 files belonging to 4 classes.",
                   f"Using {k} files for validation."]
    want_train, want_val = keras_split(tree, 42, split)
    assert train.file_paths == want_train and val.file_paths == want_val
    assert not set(train.file_paths) & set(val.file_paths)
    assert sorted(train.file_paths + val.file_paths) == sorted(alphanumeric(tree))
    # "both" is the same pair
    both = utils.image_dataset_from_directory(tree, validation_split=split, subset="both",
                                              seed=42, image_size=4)
    assert isinstance(both, (tuple, list)) and len(both) == 2
    assert both[0].file_paths == want_train and both[1].file_paths == want_val
    assert capsys.readouterr().out.splitlines()[1:] == [
        f"Using {10 - k} files for training.", f"Using {k} files for validation."]
    # the labels follow their files
    names = train.class_names
    for ds in both:
        _, y = everything(ds)
        assert [names[i] for i in y] == [os.path.relpath(p, tree).split(os.sep)[0]
                                         for p in ds.file_paths]


def test_same_seed_same_split_other_seed_other_order(tree):
    a = load(tree, validation_split=0.3, subset="validation", seed=7)
    b = load(tree, validation_split=0.3, subset="validation", seed=7)
    assert a.file_paths == b.file_paths
    orders = {tuple(load(tree, seed=s).file_paths) for s in range(6)}
    assert len(orders) > 1


def test_seed_none_follows_set_random_seed(tree):
    utils.set_random_seed(3)
    first = load(tree).file_paths
    utils.set_random_seed(3)
    assert load(tree).file_paths == first


def test_split_errors(tree):
    with pytest.raises(ValueError, match="must provide a `seed`"):
        load(tree, validation_split=0.2, subset="training")
    with pytest.raises(ValueError, match="`validation_split` must be set, and inversely"):
        load(tree, subset="training", seed=1)
    with pytest.raises(ValueError, match="`validation_split` must be set, and inversely"):
        load(tree, validation_split=0.2, seed=1)
    with pytest.raises(ValueError, match='`subset` must be either "training"'):
        load(tree, validation_split=0.2, subset="test", seed=1)
    with pytest.raises(ValueError, match="between 0 and 1"):
        load(tree, validation_split=1.5, subset="training", seed=1)
    with pytest.raises(ValueError, match=r"leaves no file for validation \(int\(0.05 \* 10\)"):
        load(tree, validation_split=0.05, subset="both", seed=1)
    # without shuffling no seed is needed: the last files alphanumerically are validation
    val = load(tree, validation_split=0.2, subset="validation", shuffle=False)
    assert val.file_paths == alphanumeric(tree)[-2:]


# ---------------------------------------------------------------------------- errors
def test_argument_errors(tree, tmp_path):
    with pytest.raises(ValueError, match="label_mode.*Received: label_mode='sparse'"):
        load(tree, label_mode="sparse")
    with pytest.raises(ValueError, match="color_mode.*Received: color_mode='RGB'"):
        load(tree, color_mode="RGB")
    with pytest.raises(ValueError, match="image_size.*Received: image_size=\\(4, 4, 3\\)"):
        load(tree, image_size=(4, 4, 3))
    with pytest.raises(ValueError, match="batch_size.*Received: batch_size=0"):
        load(tree, batch_size=0)
    with pytest.raises(ValueError, match="interpolation.*Received: interpolation='cubic'"):
        load(tree, interpolation="cubic")
    with pytest.raises(ValueError, match="'gaussian' is one of tf.image.resize's methods"):
        load(tree, interpolation="gaussian")
    with pytest.raises(ValueError, match="only one of `pad_to_aspect_ratio`"):
        load(tree, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True)
    with pytest.raises(ValueError, match="data_format"):
        load(tree, data_format="NHWC")
    with pytest.raises(FileNotFoundError, match="no such directory"):
        load(tmp_path / "missing")
    (tmp_path / "none" / "a").mkdir(parents=True)
    (tmp_path / "none" / "a" / "x.txt").write_text("")
    with pytest.raises(ValueError, match="no images found in directory .*none.*Allowed "
                                         "formats"):
        load(tmp_path / "none")


def test_broken_image_is_named_when_its_batch_is_read(tree):
    (tree / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    ds = load(tree, shuffle=False, batch_size=4)  # listing does not read the files
    broken = ds.file_paths.index(str(tree / "dog" / "broken.png"))
    for i in range(len(ds)):
        if i == broken // 4:
            with pytest.raises(ValueError, match=r"cannot read image .*dog.broken\.png"):
                ds[i]
        else:
            ds[i]


def test_files_listed_once_images_read_lazily(tree):
    ds = load(tree, shuffle=False, batch_size=4)
    _image("RGB", (3, 3), (0, 0, 0)).save(tree / "cat" / "new.png")
    assert len(ds.file_paths) == 10 and len(ds) == 3  # the list was taken when it was made
    os.remove(tree / "bird" / "k.png")  # batch 0; the others still read
    ds[1], ds[2]
    with pytest.raises(ValueError, match="k.png"):
        ds[0]


def test_pillow_missing_gives_a_clear_error(tree, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match="image_dataset_from_directory needs Pillow.*"
                                          "npconv\\[images\\]"):
        load(tree)
    with pytest.raises(ImportError, match="load_img needs Pillow"):
        utils.load_img(tree / "cat" / "b.png")


# ---------------------------------------------------------------------------- resizing
def random_image(h, w, mode="RGB"):
    rng = np.random.default_rng(h * 100 + w)
    shape = (h, w) if mode == "L" else (h, w, len(mode))
    return rng.integers(0, 256, shape, dtype=np.uint8)


def test_crop_and_pad_to_aspect_ratio(tmp_path):
    pixels = random_image(4, 8)
    (tmp_path / "c").mkdir()
    Image.fromarray(pixels).save(tmp_path / "c" / "wide.png")
    # the largest centred window of the target's shape (4 x 4): columns 2..5
    x, _ = load(tmp_path, image_size=(4, 4), crop_to_aspect_ratio=True, shuffle=False,
                interpolation="nearest")[0]
    np.testing.assert_array_equal(x[0], pixels[:, 2:6])
    # fit inside 8 x 8 (no scaling here), zeros above and below: rows 2..5
    x, _ = load(tmp_path, image_size=(8, 8), pad_to_aspect_ratio=True, shuffle=False)[0]
    np.testing.assert_array_equal(x[0, 2:6], pixels)
    assert not x[0, :2].any() and not x[0, 6:].any()
    # shrink to fit: 4 x 8 into (2, 6) -> 2 x 4, one column of zeros left and right
    x, _ = load(tmp_path, image_size=(2, 6), pad_to_aspect_ratio=True, shuffle=False)[0]
    want = np.asarray(Image.fromarray(pixels).resize((4, 2), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(x[0, :, 1:5], want)
    assert not x[0, :, 0].any() and not x[0, :, 5].any()
    # plain resize: Pillow's filter
    for name, flt in [("bilinear", "BILINEAR"), ("nearest", "NEAREST"),
                      ("bicubic", "BICUBIC"), ("area", "BOX"), ("lanczos3", "LANCZOS")]:
        x, _ = load(tmp_path, image_size=(3, 5), interpolation=name, shuffle=False)[0]
        want = Image.fromarray(pixels).resize((5, 3), getattr(Image.Resampling, flt))
        np.testing.assert_array_equal(x[0], np.asarray(want), err_msg=name)


# ---------------------------------------------------------------------------- tf.data-like
def test_batches_and_tf_data_methods(tree):
    ds = load(tree, shuffle=False, batch_size=4)
    x_all, y_all = everything(ds)
    assert [len(b[1]) for b in ds] == [4, 4, 2]
    assert len(ds.take(2)) == 2 and len(ds.take(7)) == 3 and len(ds.take(-1)) == 3
    assert len(ds.skip(1)) == 2 and len(ds.skip(5)) == 0
    np.testing.assert_array_equal(ds.take(1).skip(0)[0][0], x_all[:4])
    np.testing.assert_array_equal(ds.skip(2)[0][1], y_all[8:])
    np.testing.assert_array_equal(everything(ds.skip(1).take(1))[1], y_all[4:8])
    for images, labels in ds.take(1):  # the plotting idiom
        assert images[0].numpy().astype("uint8").shape == (6, 8, 3)
        assert type(images[0].numpy()) is np.ndarray
        assert ds.class_names[labels[0]] == "bird"
    half = ds.map(lambda x, y: (x / 255.0, y))
    np.testing.assert_allclose(everything(half)[0], x_all / 255.0)
    assert half.class_names == ds.class_names and len(half) == 3
    twice = half.map(lambda x, y: (x * 2, y + 1))
    np.testing.assert_allclose(everything(twice)[0], x_all / 255.0 * 2)
    np.testing.assert_array_equal(everything(twice)[1], y_all + 1)
    assert ds.shuffle(1000) is ds
    fast = ds.cache().prefetch(npconv.datasets.images.AUTOTUNE)
    assert fast.workers == 2 and ds.workers == 1
    np.testing.assert_array_equal(everything(fast)[0], x_all)
    samples = list(ds.unbatch())
    assert len(ds.unbatch()) == len(samples) == 10 and len(ds.skip(2).unbatch()) == 2
    np.testing.assert_array_equal(samples[9][0], x_all[9])
    assert int(samples[9][1]) == y_all[9]
    arrays = list(ds.as_numpy_iterator())
    assert type(arrays[0][0]) is np.ndarray and ds.cardinality() == 3
    next(iter(ds))  # `image_batch, labels_batch = next(iter(ds))`
    with pytest.raises(IndexError, match="out of range"):
        ds[3]
    with pytest.raises(TypeError, match="expected a function"):
        ds.map(3)


def test_cache_skips_the_files_after_the_first_read(tree):
    ds = load(tree, shuffle=False, batch_size=4).cache()
    first = everything(ds)[0]
    for path in ds.file_paths:
        os.remove(path)
    np.testing.assert_array_equal(everything(ds)[0], first)


def test_shuffle_each_epoch_with_the_same_samples(tree):
    ds = load(tree, seed=1, batch_size=3)
    by_file = dict(zip(ds.file_paths, everything(ds)[1].tolist(), strict=True))
    first = everything(ds)[1].tolist()
    assert everything(ds)[1].tolist() == first  # no epoch end: the same order
    orders = set()
    for _ in range(5):
        ds.on_epoch_end()
        y = everything(ds)[1].tolist()
        assert sorted(y) == sorted(by_file.values())
        orders.add(tuple(y))
    assert len(orders) > 1
    _, val = load(tree, seed=1, validation_split=0.3, subset="both")
    before = everything(val)[1].tolist()
    val.on_epoch_end()
    assert everything(val)[1].tolist() == before  # "both"'s validation set keeps its order
    fixed = load(tree, shuffle=False)
    fixed.on_epoch_end()
    assert fixed.file_paths == alphanumeric(tree)


def test_fit_evaluate_predict_a_tiny_cnn(tree):
    train_ds, val_ds = utils.image_dataset_from_directory(
        tree, validation_split=0.3, subset="both", seed=123, image_size=(8, 8),
        batch_size=4, verbose=False)
    num_classes = len(train_ds.class_names)
    model = npconv.Sequential([
        layers.Input((8, 8, 3)),
        layers.Rescaling(1.0 / 255),
        layers.Conv2D(4, 3, activation="relu"),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(num_classes),
    ])
    model.compile(optimizer="adam", metrics=["accuracy"],
                  loss=npconv.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(train_ds.cache().prefetch(2), validation_data=val_ds, epochs=2,
                        verbose=0)
    assert set(history.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(np.isfinite(history.history["val_loss"]))
    loss, acc = model.evaluate(val_ds, verbose=0)
    assert np.isfinite(loss) and 0 <= acc <= 1
    assert model.predict(val_ds, verbose=0).shape == (3, num_classes)
    # categorical labels with a normalizing map, as the tutorials write it
    cat = load(tree, label_mode="categorical", image_size=(8, 8), batch_size=5, seed=1)
    norm = layers.Rescaling(1.0 / 255)
    model.compile(optimizer="sgd", loss=npconv.losses.CategoricalCrossentropy(from_logits=True))
    model.fit(cat.map(lambda x, y: (norm(x), y)), epochs=1, verbose=0)


# ---------------------------------------------------------------------------- single images
def test_load_img_and_img_to_array(tmp_path):
    pixels = random_image(6, 10)
    Image.fromarray(pixels).save(tmp_path / "x.png")
    img = utils.load_img(tmp_path / "x.png")
    assert isinstance(img, Image.Image) and img.mode == "RGB" and img.size == (10, 6)
    x = utils.img_to_array(img)
    assert x.dtype == np.float32 and x.shape == (6, 10, 3)
    np.testing.assert_array_equal(x, pixels)
    assert utils.img_to_array(img, data_format="channels_first").shape == (3, 6, 10)
    assert utils.img_to_array(img, dtype="uint8").dtype == np.uint8
    gray = utils.load_img(str(tmp_path / "x.png"), color_mode="grayscale")
    assert gray.mode == "L" and utils.img_to_array(gray).shape == (6, 10, 1)
    assert utils.img_to_array(gray, data_format="channels_first").shape == (1, 6, 10)
    assert utils.load_img(tmp_path / "x.png", color_mode="rgba").mode == "RGBA"
    small = utils.load_img(tmp_path / "x.png", target_size=(3, 4))
    want = Image.fromarray(pixels).resize((4, 3), Image.Resampling.NEAREST)
    np.testing.assert_array_equal(np.asarray(small), np.asarray(want))
    # keep_aspect_ratio: the centred 6 x 6 window (columns 2..7), then resized
    kept = utils.load_img(tmp_path / "x.png", target_size=(6, 6), keep_aspect_ratio=True)
    np.testing.assert_array_equal(np.asarray(kept), pixels[:, 2:8])
    bilinear = utils.load_img(tmp_path / "x.png", target_size=(3, 5), interpolation="bilinear")
    want = Image.fromarray(pixels).resize((5, 3), Image.Resampling.BILINEAR)
    np.testing.assert_array_equal(np.asarray(bilinear), np.asarray(want))
    import io

    with open(tmp_path / "x.png", "rb") as f:
        assert utils.load_img(io.BytesIO(f.read())).size == (10, 6)
    with pytest.raises(ValueError, match="Invalid interpolation method 'cubic'|invalid "
                                         "interpolation method 'cubic'"):
        utils.load_img(tmp_path / "x.png", target_size=(3, 3), interpolation="cubic")
    with pytest.raises(ValueError, match="color_mode"):
        utils.load_img(tmp_path / "x.png", color_mode="bgr")
    with pytest.raises(TypeError, match="path-like or io.BytesIO"):
        utils.load_img(3)
    (tmp_path / "bad.jpg").write_bytes(b"no image here")
    with pytest.raises(OSError, match="cannot read image .*bad.jpg"):
        utils.load_img(tmp_path / "bad.jpg")
    with pytest.raises(ValueError, match="unsupported image shape"):
        utils.img_to_array(np.zeros((2, 2, 2, 2)))


def test_array_to_img(tmp_path):
    x = np.linspace(-1, 1, 2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
    img = utils.array_to_img(x)
    assert img.mode == "RGB" and img.size == (3, 2)
    got = np.asarray(img)
    assert got.min() == 0 and got.max() == 255
    np.testing.assert_array_equal(got, ((x + 1) / 2 * 255).astype(np.uint8))
    raw = utils.array_to_img(np.full((2, 2, 1), 7.0), scale=False)
    assert raw.mode == "L" and np.asarray(raw).tolist() == [[7, 7], [7, 7]]
    assert utils.array_to_img(np.full((2, 2, 1), 300.0), scale=False).mode == "I"
    assert utils.array_to_img(np.zeros((2, 2, 4))).mode == "RGBA"
    first = utils.array_to_img(np.arange(12.0).reshape(3, 2, 2), data_format="channels_first")
    assert first.mode == "RGB" and first.size == (2, 2)
    with pytest.raises(ValueError, match="rank 3"):
        utils.array_to_img(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="channel number: 2"):
        utils.array_to_img(np.zeros((2, 2, 2)))


def test_save_img_round_trip_and_atomic(tmp_path, monkeypatch):
    pixels = random_image(5, 7).astype(np.float32)
    target = tmp_path / "out.png"
    utils.save_img(target, pixels, scale=False)
    np.testing.assert_array_equal(utils.img_to_array(utils.load_img(target)), pixels)
    assert os.listdir(tmp_path) == ["out.png"]  # no temporary file left
    utils.save_img(str(tmp_path / "g.bmp"), pixels[..., :1], scale=False)
    assert utils.load_img(tmp_path / "g.bmp", color_mode="grayscale").mode == "L"
    with pytest.warns(UserWarning, match="JPEG format does not support RGBA"):
        utils.save_img(tmp_path / "a.jpg", np.zeros((4, 4, 4)), quality=90)
    assert Image.open(tmp_path / "a.jpg").format == "JPEG"
    utils.save_img(tmp_path / "noext", pixels, file_format="jpg")
    assert Image.open(tmp_path / "noext").format == "JPEG"

    def fail(self, *args, **kwargs):
        with open(args[0], "wb") as f:
            f.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", fail)
    with pytest.raises(OSError, match="disk full"):
        utils.save_img(target, np.zeros((5, 7, 3)))
    monkeypatch.undo()
    np.testing.assert_array_equal(utils.img_to_array(utils.load_img(target)), pixels)
    assert sorted(os.listdir(tmp_path)) == ["a.jpg", "g.bmp", "noext", "out.png"]
    with pytest.raises(IsADirectoryError):
        utils.save_img(tmp_path, pixels)


def test_follow_links(tree, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    _image("RGB", (3, 3), (5, 5, 5)).save(outside / "linked.png")
    os.symlink(outside, tree / "cat" / "more")
    assert not any("linked" in p for p in load(tree, shuffle=False).file_paths)
    linked = load(tree, shuffle=False, follow_links=True).file_paths
    assert str(tree / "cat" / "more" / "linked.png") in linked


def test_keras_paths():
    from npconv.utils import image_dataset_from_directory, load_img

    assert image_dataset_from_directory is npconv.utils.image_dataset_from_directory
    assert load_img is utils.load_img
    assert {"image_dataset_from_directory", "save_img"} <= set(dir(utils))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        utils.nope  # noqa: B018


def test_map_runs_one_batch_at_a_time_under_reading_threads(tree):
    import threading
    import time

    running, most, lock = [0], [0], threading.Lock()

    def slow(x, y):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.01)
        with lock:
            running[0] -= 1
        return x / 255.0, y

    ds = load(tree, batch_size=2, seed=0, image_size=(4, 4)).map(slow).prefetch(4)
    ds.workers = 3
    model = npconv.Sequential([layers.Input((4, 4, 3)), layers.Flatten(), layers.Dense(4)])
    model.compile(optimizer="sgd", loss=npconv.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    model.fit(ds, epochs=2, verbose=0)
    assert most[0] == 1


def test_16_bit_grayscale_keeps_its_high_byte(tmp_path):
    (tmp_path / "c").mkdir()
    values = np.array([[0, 1000, 40000, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "c" / "deep.png")  # Pillow's convert would clip
    x, _ = load(tmp_path, image_size=(1, 4), color_mode="grayscale", shuffle=False)[0]
    assert x[0, 0, :, 0].tolist() == [0, 3, 156, 255]
