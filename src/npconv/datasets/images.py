"""Keras's image utilities: ``image_dataset_from_directory``, ``load_img``, ``img_to_array``,
``array_to_img`` and ``save_img`` (``npconv.utils.<name>``, as ``keras.utils.<name>``).

::

    from npconv import utils

    train_ds, val_ds = utils.image_dataset_from_directory(
        "flower_photos", validation_split=0.2, subset="both", seed=123,
        image_size=(180, 180), batch_size=32)
    print(train_ds.class_names)
    model.fit(train_ds, validation_data=val_ds, epochs=10)

There is no ``tf.data`` here: the dataset is an :class:`ImageDataset`, a
:class:`~npconv.utils.PyDataset` (``len`` batches, ``ds[i]`` the i-th) that ``fit``,
``evaluate`` and ``predict`` take as ready-made batches. Files are listed once, when it is
made; images are read and resized batch by batch, when a batch is asked for. Reading needs
Pillow (``pip install 'npconv[images]'``).
"""

from __future__ import annotations

import copy
import io
import math
import os
import pathlib
import threading
import warnings

import numpy as np

from .._atomic import _kind, atomic_path
from .._checks import as_pair
from ..tensor import Tensor
from ..utils import PyDataset
from .folders import IMAGE_EXTENSIONS, _eight_bit, _pillow

ALLOWLIST_FORMATS = IMAGE_EXTENSIONS  # Keras's name: .bmp .gif .jpeg .jpg .png
AUTOTUNE = -1  # tf.data.AUTOTUNE, for ``prefetch(AUTOTUNE)``

_CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}
_PIL_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
# Keras's names (tf.image.resize's methods) -> Pillow's filters
_DATASET_FILTERS = {"bilinear": "BILINEAR", "nearest": "NEAREST", "bicubic": "BICUBIC",
                    "area": "BOX", "lanczos3": "LANCZOS"}
_TF_ONLY = ("lanczos5", "gaussian", "mitchellcubic")
# load_img's names (Pillow's own, as in Keras)
_PIL_FILTERS = {"nearest": "NEAREST", "bilinear": "BILINEAR", "bicubic": "BICUBIC",
                "hamming": "HAMMING", "box": "BOX", "lanczos": "LANCZOS"}

WHERE = "image_dataset_from_directory"


# ---------------------------------------------------------------------------- reading
def _data_format(data_format, where):
    if data_format is None:
        from ..backend import image_data_format

        return image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"{where}: expected data_format to be 'channels_last', "
                         f"'channels_first' or None. Received: data_format={data_format!r}")
    return data_format


def _crop_box(width, height, target_height, target_width):
    """Keras's ``smart_resize`` window: the largest centred crop with the target's aspect
    ratio, as Pillow's ``(left, upper, right, lower)``."""
    crop_height = max(min(height, int(float(width * target_height) / target_width)), 1)
    crop_width = max(min(width, int(float(height * target_width) / target_height)), 1)
    top = int(float(height - crop_height) / 2)
    left = int(float(width - crop_width) / 2)
    return left, top, left + crop_width, top + crop_height


def _resize_with_pad(im, target_height, target_width, resample, Image):
    """``tf.image.resize_with_pad``: shrink or grow to fit inside the target keeping the
    aspect ratio, then pad with zeros, centred (the odd pixel at the bottom/right)."""
    width, height = im.size
    ratio = max(width / target_width, height / target_height)
    new_h, new_w = max(int(math.floor(height / ratio)), 1), max(int(math.floor(width / ratio)), 1)
    top = max(0, int(math.floor((target_height - height / ratio) / 2)))
    left = max(0, int(math.floor((target_width - width / ratio) / 2)))
    canvas = Image.new(im.mode, (target_width, target_height), 0)
    canvas.paste(im.resize((new_w, new_h), resample), (left, top))
    return canvas


def _read_image(path, channels, size, resample, crop, pad, where=WHERE) -> np.ndarray:
    """The image at ``path`` as uint8 (height, width, channels), resized to ``size``."""
    Image, UnidentifiedImageError = _pillow(where)
    if os.path.exists(path) and not os.path.isfile(path):  # Pillow would wait on a pipe
        raise ValueError(f"{where}: cannot read image {path}: it is {_kind(path)}, not a "
                         "regular file")
    height, width = size
    try:
        with Image.open(path) as im:
            im = _eight_bit(im, Image)  # 16-bit gray: its high byte, as TensorFlow's decoder
            im = im.convert(_PIL_MODES[channels])  # (a GIF: its first frame, as Keras)
            if crop:
                box = _crop_box(im.size[0], im.size[1], height, width)
                if box != (0, 0) + im.size or im.size != (width, height):
                    im = im.resize((width, height), resample, box=box)
            elif pad:
                if im.size != (width, height):
                    im = _resize_with_pad(im, height, width, resample, Image)
            elif im.size != (width, height):
                im = im.resize((width, height), resample)
            pixels = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError) as err:
        raise ValueError(f"{where}: cannot read image {path}: {err}") from None
    return pixels.reshape(height, width, channels)


def _walk_images(directory, follow_links):
    """Image files under ``directory`` as Keras lists them: the folders in sorted order of
    their paths, each folder's files sorted; extensions compared case-insensitively."""
    walk = sorted(os.walk(directory, followlinks=follow_links), key=lambda entry: entry[0])
    return [os.path.join(root, name) for root, _, files in walk for name in sorted(files)
            if name.lower().endswith(ALLOWLIST_FORMATS)]


def _index_directory(directory, labels, class_names, follow_links):
    """``(file_paths, labels, class_names)`` in alphanumeric order (Keras's
    ``index_directory`` before its shuffle)."""
    if labels == "inferred":
        subdirs = [d for d in sorted(os.listdir(directory))
                   if os.path.isdir(os.path.join(directory, d)) and not d.startswith(".")]
        if class_names is not None:
            if not set(class_names).issubset(subdirs):
                raise ValueError(
                    f"{WHERE}: the `class_names` passed did not match the names of the "
                    "subdirectories of the target directory. Expected: "
                    f"{subdirs} (or a subset of it), but received: class_names={class_names}")
            subdirs = list(class_names)  # their order gives the labels
        paths, label_list = [], []
        for index, subdir in enumerate(subdirs):
            found = _walk_images(os.path.join(directory, subdir), follow_links)
            paths += found
            label_list += [index] * len(found)
        return paths, np.asarray(label_list, dtype=np.int32), list(subdirs)
    if class_names is not None:
        raise ValueError(f"{WHERE}: when `labels=None` (no labels), argument `class_names` "
                         "cannot be specified." if labels is None else
                         f"{WHERE}: when argument `labels` is specified, argument "
                         "`class_names` cannot be specified (the `class_names` will be the "
                         "sorted list of labels).")
    paths = _walk_images(directory, follow_links)
    if labels is None:
        return paths, None, None
    if len(labels) != len(paths):
        raise ValueError(
            f"{WHERE}: expected the lengths of `labels` to match the number of files in the "
            f"target directory. len(labels) is {len(labels)} while we found {len(paths)} "
            f"files in directory {directory}.")
    values = np.asarray(labels)
    if values.ndim != 1 or (values.size and values.dtype.kind not in "iu"):
        raise ValueError(f"{WHERE}: expected `labels` to be a list of integer labels, one "
                         f"per file. Received labels of dtype {values.dtype} and shape "
                         f"{values.shape}")
    return paths, values.astype(np.int32), [str(v) for v in sorted(set(values.tolist()))]


def _encode_labels(labels, label_mode, num_classes):
    if label_mode == "int":
        return labels.astype(np.int32)
    if label_mode == "binary":
        return labels.astype(np.float32)[:, None]
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"{WHERE}: label_mode='categorical' needs labels in [0, "
                         f"{num_classes}) (one per class name). Received labels from "
                         f"{labels.min()} to {labels.max()}")
    return np.eye(num_classes, dtype=np.float32)[labels]


# ---------------------------------------------------------------------------- the dataset
class _Source:
    """What all views of one dataset share: the files, their labels, how to read them, and
    the order of the current epoch (a new one at each epoch end when ``shuffle``)."""

    def __init__(self, paths, labels, read_args, data_format, shuffle, seed):
        self.paths, self.labels = paths, labels
        self.read_args, self.data_format = read_args, data_format
        self.shuffle = shuffle
        self.order = np.arange(len(paths))
        self.rng = np.random.default_rng(seed) if shuffle else None

    def reshuffle(self) -> None:
        if self.shuffle:
            self.order = self.rng.permutation(len(self.paths))  # replaced, never modified

    def read(self, indices, cache):
        """Images ``indices`` (file numbers) as float32 NHWC (or NCHW) in 0..255."""
        channels, height, width, resample, crop, pad = self.read_args
        batch = np.empty((len(indices), height, width, channels), np.float32)
        for k, i in enumerate(indices):  # one decode per file: there is no batch decoder
            pixels = None if cache is None else cache.get(int(i))
            if pixels is None:
                pixels = _read_image(self.paths[i], channels, (height, width), resample,
                                     crop, pad)
                if cache is not None:
                    cache[int(i)] = pixels
            batch[k] = pixels
        if self.data_format == "channels_first":
            batch = np.ascontiguousarray(batch.transpose(0, 3, 1, 2))
        return batch


class ImageDataset(PyDataset):
    """The batches of images (and labels) that :func:`image_dataset_from_directory` makes:
    a :class:`~npconv.utils.PyDataset` (``len(ds)`` batches, ``ds[i]`` the i-th, ``for
    images, labels in ds``) that ``fit``, ``evaluate`` and ``predict`` take as they are.

    Each batch is ``(images, labels)``, or ``images`` alone without labels: images float32
    ``(batch, height, width, channels)`` in 0..255 (``channels_first``: NCHW), labels as
    ``label_mode`` says; both :class:`npconv.tensor.Tensor` (so ``images[0].numpy()`` works
    as in TensorFlow tutorials). Files are read when their batch is asked for: a batch at a
    time, never the whole dataset. With ``shuffle=True`` the files are in a new order after
    each epoch (``on_epoch_end``, which ``fit`` calls); iterating twice without an epoch end
    between gives the same batches.

    Attributes: ``class_names`` (None without labels), ``file_paths`` (in the dataset's
    first order: for ``shuffle=False``, the batches' order), and PyDataset's ``workers``
    (threads that read batches ahead in ``fit``/``evaluate``/``predict``; 1 by default),
    ``max_queue_size``, ``use_multiprocessing`` (threads as well).

    tf.data's methods that tutorials call, and what they do here:

    - ``take(n)`` / ``skip(n)``: the first n batches / all but them (a view: same files);
      ``n=-1`` in ``take`` means all;
    - ``map(fn)``: ``fn(images, labels)`` (``fn(images)`` without labels) on each batch,
      run eagerly, in Python, each time the batch is read (with ``workers > 1`` or after
      ``prefetch``: in the reading threads, one call at a time, so random augmentations may
      be drawn in another order from run to run, as in tf.data's parallel ``map``);
      ``num_parallel_calls`` and ``deterministic`` are accepted and ignored;
    - ``cache()``: keeps each decoded, resized image in memory (uint8) after its first read,
      so later epochs skip the files; ``map`` functions still run each time; a ``filename``
      is ignored (no cache on disk);
    - ``prefetch(n)``: reads batches ahead in 2 threads (at least ``workers``), up to ``n``
      batches (``AUTOTUNE`` = -1: 10), while the model trains;
    - ``shuffle(n)``: a no-op (returns the dataset): ``fit(shuffle=True)`` already shuffles
      the batches' order, and a dataset made with ``shuffle=True`` its files, each epoch;
    - ``unbatch()``: an iterable of single samples (``len`` samples);
    - ``as_numpy_iterator()``: the batches as plain NumPy arrays; ``cardinality()``: the
      number of batches.
    """

    def __init__(self, source, batch_size, class_names, label_mode, *, workers=1,
                 use_multiprocessing=False, max_queue_size=10):
        super().__init__(workers, use_multiprocessing, max_queue_size)
        self._source = source
        self._batch_size = batch_size
        self._start, self._stop = 0, None
        self._fns = ()
        self._fns_lock = threading.Lock()  # (shared by the views: copy.copy keeps it)
        self._cache = None
        self.class_names = class_names
        self.label_mode = label_mode

    # ---- PyDataset
    @property
    def file_paths(self) -> list[str]:
        return list(self._source.paths)

    @property
    def batch_size(self):
        return self._batch_size

    def _total(self) -> int:
        n = len(self._source.paths)
        return n if self._batch_size is None else math.ceil(n / self._batch_size)

    def __len__(self) -> int:
        stop = self._total() if self._stop is None else min(self._stop, self._total())
        return max(stop - self._start, 0)

    @property
    def num_batches(self) -> int:
        return len(self)

    def __getitem__(self, index):
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"ImageDataset: expected a batch number. Received: {index!r}")
        count = len(self)
        if not -count <= index < count:
            raise IndexError(f"ImageDataset: batch {index} is out of range: the dataset has "
                             f"{count} batches")
        b = int(index) % count + self._start
        src = self._source
        order = src.order
        if self._batch_size is None:
            indices = order[b:b + 1]
        else:
            indices = order[b * self._batch_size:(b + 1) * self._batch_size]
        images = src.read(indices, self._cache)
        if self._batch_size is None:
            images = images[0]
        images = images.view(Tensor)
        if src.labels is None:
            element = images
        else:
            labels = src.labels[indices]
            if self._batch_size is None:
                labels = labels[0]
            element = (images, np.asarray(labels).view(Tensor))
        if self._fns:
            with self._fns_lock:  # reading threads decode together, map one at a time
                for fn in self._fns:
                    element = fn(*element) if isinstance(element, tuple) else fn(element)
        return element

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def on_epoch_begin(self) -> None:
        """Nothing (Keras's hook)."""

    def on_epoch_end(self) -> None:
        """A new order of the files when the dataset was made with ``shuffle=True``."""
        self._source.reshuffle()

    def __repr__(self) -> str:
        return (f"<ImageDataset: {len(self)} batches of {self._batch_size} from "
                f"{len(self._source.paths)} files, class_names={self.class_names}>")

    # ---- tf.data's methods
    def _view(self, **changes):
        view = copy.copy(self)
        for name, value in changes.items():
            setattr(view, name, value)
        return view

    def take(self, count):
        """The first ``count`` batches (all for -1), as a dataset."""
        count = _count(count, "take")
        if count < 0:
            return self._view()
        return self._view(_stop=self._start + min(count, len(self)))

    def skip(self, count):
        """All batches but the first ``count``, as a dataset."""
        count = _count(count, "skip")
        if count < 0:
            count = len(self)
        return self._view(_start=self._start + min(count, len(self)))

    def map(self, map_func, num_parallel_calls=None, deterministic=None, name=None):
        """``map_func`` applied to each batch, eagerly, as it is read (``fn(images,
        labels)``, or ``fn(images)`` without labels)."""
        if not callable(map_func):
            raise TypeError(f"ImageDataset.map: expected a function. Received: {map_func!r}")
        return self._view(_fns=self._fns + (map_func,))

    def cache(self, filename="", name=None):
        """Decoded images kept in memory after their first read (``filename`` is ignored)."""
        return self._view(_cache={} if self._cache is None else self._cache)

    def prefetch(self, buffer_size=AUTOTUNE, name=None):
        """Batches read ahead by threads while the model trains (``buffer_size`` batches;
        -1, tf.data's AUTOTUNE, means 10)."""
        size = _count(buffer_size, "prefetch")
        return self._view(workers=max(self.workers, 2),
                          max_queue_size=self.max_queue_size if size <= 0 else size)

    def shuffle(self, buffer_size=None, seed=None, reshuffle_each_iteration=None, name=None):
        """A no-op: ``fit`` shuffles the batches and a ``shuffle=True`` dataset its files."""
        return self

    def unbatch(self):
        """The samples one by one: ``(image, label)`` (or ``image``)."""
        return _Unbatched(self)

    def as_numpy_iterator(self):
        """The batches with plain NumPy arrays."""
        for batch in self:
            if isinstance(batch, tuple):
                yield tuple(np.asarray(part) for part in batch)
            else:
                yield np.asarray(batch)

    def cardinality(self) -> int:
        """The number of batches (tf.data's ``cardinality``)."""
        return len(self)


def _count(value, method):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"ImageDataset.{method}: expected an int. Received: {value!r}")
    return int(value)


class _Unbatched:
    """The samples of a dataset's batches, one by one."""

    def __init__(self, dataset):
        self._dataset = dataset

    def __len__(self) -> int:
        ds = self._dataset
        if ds.batch_size is None:
            return len(ds)
        if not len(ds):
            return 0
        n = len(ds._source.paths)
        last = ds._start + len(ds) - 1  # only the dataset's last batch may be short
        return (len(ds) - 1) * ds.batch_size + min(ds.batch_size, n - last * ds.batch_size)

    def __iter__(self):
        for batch in self._dataset:
            if self._dataset.batch_size is None:
                yield batch
            elif isinstance(batch, tuple):
                yield from zip(*batch, strict=True)
            else:
                yield from batch


# ---------------------------------------------------------------------------- the function
def _check_arguments(labels, label_mode, class_names, color_mode, batch_size, image_size,
                     interpolation, validation_split, subset, shuffle, seed, crop, pad):
    if not (labels is None or (isinstance(labels, str) and labels == "inferred")
            or isinstance(labels, (list, tuple, np.ndarray))):
        raise ValueError(
            f"{WHERE}: `labels` argument should be a list/tuple of integer labels, of the "
            "same size as the number of image files in the target directory. If you wish to "
            "infer the labels from the subdirectory names in the target directory, pass "
            '`labels="inferred"`. If you wish to get a dataset that only contains images (no '
            f"labels), pass `labels=None`. Received: labels={labels!r}")
    if not isinstance(labels, str) and labels is not None and class_names:
        raise ValueError(f'{WHERE}: you can only pass `class_names` if `labels="inferred"`. '
                         f"Received: labels={labels!r}, and class_names={class_names!r}")
    if label_mode not in ("int", "categorical", "binary", None):
        raise ValueError(f'{WHERE}: `label_mode` argument must be one of "int", '
                         f'"categorical", "binary", or None. Received: label_mode={label_mode!r}')
    if color_mode not in _CHANNELS:
        raise ValueError(f'{WHERE}: `color_mode` must be one of {{"rgb", "rgba", '
                         f'"grayscale"}}. Received: color_mode={color_mode!r}')
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(
            batch_size, (int, np.integer)) or batch_size < 1):
        raise ValueError(f"{WHERE}: expected batch_size to be a positive int or None. "
                         f"Received: batch_size={batch_size!r}")
    try:
        size = as_pair(image_size, "image_size", WHERE)
    except ValueError:
        raise ValueError(f"{WHERE}: invalid `image_size` value. Expected a tuple of 2 "
                         f"positive integers. Received: image_size={image_size!r}") from None
    if not isinstance(interpolation, str):
        raise ValueError(f"{WHERE}: expected interpolation to be a string. Received: "
                         f"interpolation={interpolation!r}")
    method = interpolation.lower()
    if method in _TF_ONLY:
        raise ValueError(f"{WHERE}: interpolation={interpolation!r} is one of "
                         "tf.image.resize's methods that Pillow, which npconv resizes with, "
                         f"does not have. Use one of {list(_DATASET_FILTERS)}")
    if method not in _DATASET_FILTERS:
        raise ValueError(f"{WHERE}: argument `interpolation` should be one of "
                         f"{list(_DATASET_FILTERS) + list(_TF_ONLY)}. Received: "
                         f"interpolation={interpolation!r}")
    if crop and pad:
        raise ValueError(f"{WHERE}: only one of `pad_to_aspect_ratio`, "
                         "`crop_to_aspect_ratio` can be set to `True`.")
    # Keras's check_validation_split_arg
    if validation_split is not None and (isinstance(validation_split, bool) or not isinstance(
            validation_split, (int, float, np.integer, np.floating))):
        raise ValueError(f"{WHERE}: `validation_split` must be a float between 0 and 1. "
                         f"Received: validation_split={validation_split!r}")
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(f"{WHERE}: `validation_split` must be between 0 and 1, received: "
                         f"{validation_split}")
    if (validation_split or subset) and not (validation_split and subset):
        raise ValueError(f"{WHERE}: if `subset` is set, `validation_split` must be set, and "
                         f"inversely. Received: validation_split={validation_split!r}, "
                         f"subset={subset!r}")
    if subset not in ("training", "validation", "both", None):
        raise ValueError(f'{WHERE}: `subset` must be either "training", "validation" or '
                         f'"both", received: {subset!r}')
    if validation_split and shuffle and seed is None:
        raise ValueError(f"{WHERE}: if using `validation_split` and shuffling the data, you "
                         "must provide a `seed` argument, to make sure that there is no "
                         "overlap between the training and validation subset.")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                             or not 0 <= seed < 2**32):
        raise ValueError(f"{WHERE}: expected seed to be an int in [0, 2**32) or None. "
                         f"Received: seed={seed!r}")
    return size, method


def image_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                 class_names=None, color_mode="rgb", batch_size=32,
                                 image_size=(256, 256), shuffle=True, seed=None,
                                 validation_split=None, subset=None, interpolation="bilinear",
                                 follow_links=False, crop_to_aspect_ratio=False,
                                 pad_to_aspect_ratio=False, data_format=None, verbose=True):
    """Batches of the images in ``directory`` and their labels, as Keras 3's
    ``keras.utils.image_dataset_from_directory``, as an :class:`ImageDataset` (what it is,
    and which of tf.data's methods it has).

    ``directory/<class>/...`` with ``labels="inferred"``: the sub-folders (not those whose
    name starts with a dot) are the classes, in alphanumeric order (or ``class_names``'s,
    which may name a subset); the images anywhere below each, label = the class's number.
    ``labels`` may instead be a list of integer labels, one per image file of the whole
    tree in alphanumeric order of the paths (``class_names`` is then the sorted labels as
    strings), or None (images only). Files: ``.bmp``, ``.gif`` (first frame), ``.jpeg``,
    ``.jpg``, ``.png`` in any case; other files are skipped. A file that cannot be read
    raises a ValueError naming it when its batch is read.

    ``label_mode``: "int" (int32 ``(batch,)``), "categorical" (float32 one-hot ``(batch,
    classes)``), "binary" (float32 ``(batch, 1)``; exactly 2 classes), or None (no labels).
    ``color_mode``: "grayscale", "rgb" or "rgba" (1, 3 or 4 channels). ``batch_size=None``
    gives single samples. ``image_size``: (height, width) every image is resized to.

    ``shuffle``: the file list is shuffled once with ``numpy.random.RandomState(seed)`` as
    Keras does (so a seed picks the same files for training and validation as in Keras),
    and again after each epoch; ``False`` keeps alphanumeric order. ``seed=None`` draws one
    from npconv's run-wide generator (``npconv.utils.set_random_seed``).
    ``validation_split`` + ``subset``: the last ``int(validation_split * N)`` files of the
    shuffled list are the "validation" subset, the others the "training" one; "both" returns
    ``(train_ds, val_ds)`` (the validation one not reshuffled per epoch, as Keras).

    ``interpolation``: "bilinear", "nearest", "bicubic", "area" or "lanczos3", done by
    Pillow (``Image.resize``) where Keras uses ``tf.image.resize``: Pillow's filters smooth
    when they shrink and round to whole numbers, so pixel values differ from TensorFlow's,
    most when an image is shrunk a lot (TensorFlow's "lanczos5", "gaussian" and
    "mitchellcubic" are refused). ``crop_to_aspect_ratio``: resize the largest centred crop
    with the target's aspect ratio (Keras's ``smart_resize``); ``pad_to_aspect_ratio``:
    resize to fit inside and pad with zeros (``tf.image.resize_with_pad``).
    ``follow_links``: also walk into linked folders. ``data_format``: "channels_last"
    (default) or "channels_first". ``verbose``: print "Found N files belonging to C
    classes." and the subsets' sizes.
    """
    size, method = _check_arguments(labels, label_mode, class_names, color_mode, batch_size,
                                    image_size, interpolation, validation_split, subset,
                                    shuffle, seed, crop_to_aspect_ratio, pad_to_aspect_ratio)
    data_format = _data_format(data_format, WHERE)
    Image, _ = _pillow(WHERE)
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{WHERE}: no such directory: {directory!r}")
    if isinstance(labels, (tuple, np.ndarray)):
        labels = list(labels)
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    if seed is None:
        from ..random import global_generator

        seed = int(global_generator().integers(0, 10**6))
    paths, label_values, class_names = _index_directory(directory, labels, class_names,
                                                        follow_links)
    if verbose:
        print(f"Found {len(paths)} files." if label_values is None else
              f"Found {len(paths)} files belonging to {len(class_names)} classes.")
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError(f'{WHERE}: when passing `label_mode="binary"`, there must be '
                         f"exactly 2 class_names. Received: class_names={class_names}")
    if shuffle:  # Keras's global shuffle, with its generator: the same split as Keras
        permutation = np.arange(len(paths))
        np.random.RandomState(seed).shuffle(permutation)
        paths = [paths[i] for i in permutation]
        if label_values is not None:
            label_values = label_values[permutation]
    encoded = (None if label_values is None else
               _encode_labels(label_values, label_mode, len(class_names)))

    resample = getattr(Image.Resampling, _DATASET_FILTERS[method])
    read_args = (_CHANNELS[color_mode], size[0], size[1], resample,
                 bool(crop_to_aspect_ratio), bool(pad_to_aspect_ratio))

    def dataset(indices, reshuffle, what):
        if not indices:
            raise ValueError(f"{WHERE}: no {what}images found in directory {directory}. "
                             f"Allowed formats: {ALLOWLIST_FORMATS}")
        source = _Source([paths[i] for i in indices],
                         None if encoded is None else encoded[indices],
                         read_args, data_format, reshuffle, seed)
        return ImageDataset(source, batch_size, class_names, label_mode)

    n = len(paths)
    if not validation_split:
        return dataset(list(range(n)), shuffle, "")
    num_val = int(validation_split * n)
    if n and num_val == 0:
        raise ValueError(f"{WHERE}: validation_split={validation_split} of {n} files leaves "
                         f"no file for validation (int({validation_split} * {n}) = 0)")
    train_idx, val_idx = list(range(n - num_val)), list(range(n - num_val, n))
    if subset == "both":
        if verbose:
            print(f"Using {len(train_idx)} files for training.")
            print(f"Using {len(val_idx)} files for validation.")
        return (dataset(train_idx, shuffle, "training "),
                dataset(val_idx, False, "validation "))
    if verbose:
        print(f"Using {len(train_idx) if subset == 'training' else len(val_idx)} files for "
              f"{subset}.")
    if subset == "training":
        return dataset(train_idx, shuffle, "")
    return dataset(val_idx, shuffle, "")


# ---------------------------------------------------------------------------- single images
def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest",
             keep_aspect_ratio=False):
    """The image at ``path`` (a path or an ``io.BytesIO``) as a PIL image, as Keras's
    ``load_img``: converted to ``color_mode`` ("grayscale": 8-bit "L", keeping 16/32-bit
    gray as it is; "rgb"; "rgba"), resized to ``target_size`` = (height, width) with Pillow's
    ``interpolation`` ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos"),
    after cropping the centre to the target's aspect ratio with ``keep_aspect_ratio``.
    The file is read whole and closed. An unreadable file raises Pillow's error with the
    path in its message."""
    Image, UnidentifiedImageError = _pillow("load_img")
    if color_mode not in _CHANNELS:
        raise ValueError('load_img: color_mode must be "grayscale", "rgb", or "rgba". '
                         f"Received: color_mode={color_mode!r}")
    if isinstance(path, io.BytesIO):
        stream, name = path, "<BytesIO>"
    elif isinstance(path, (pathlib.Path, bytes, str)):
        name = os.fsdecode(path) if isinstance(path, bytes) else str(path)
        if os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path):
            raise ValueError(f"load_img: cannot read image {name}: it is {_kind(path)}, not "
                             "a regular file")
        with open(path, "rb") as f:
            stream = io.BytesIO(f.read())
    else:
        raise TypeError(f"load_img: path should be path-like or io.BytesIO, not {type(path)}")
    try:
        img = Image.open(stream)
        img.load()
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        kind = type(err) if isinstance(err, OSError) else OSError
        raise kind(f"load_img: cannot read image {name}: {err}") from None
    if color_mode == "grayscale":
        if img.mode not in ("L", "I;16", "I"):
            img = img.convert("L")
    elif img.mode != color_mode.upper():
        img = img.convert(color_mode.upper())
    if target_size is not None:
        height, width = as_pair(target_size, "target_size", "load_img")
        if img.size != (width, height):
            if interpolation not in _PIL_FILTERS:
                raise ValueError(f"load_img: invalid interpolation method {interpolation!r} "
                                 f"specified. Supported methods are {', '.join(_PIL_FILTERS)}")
            resample = getattr(Image.Resampling, _PIL_FILTERS[interpolation])
            if keep_aspect_ratio:  # Keras's integer arithmetic for the centred crop
                w, h = img.size
                crop_h = min(h, (w * height) // width)
                crop_w = min(w, (h * width) // height)
                top, left = (h - crop_h) // 2, (w - crop_w) // 2
                img = img.resize((width, height), resample,
                                 box=(left, top, left + crop_w, top + crop_h))
            else:
                img = img.resize((width, height), resample)
    return img


def img_to_array(img, data_format=None, dtype=None) -> np.ndarray:
    """A PIL image (or anything NumPy converts) as a float32 (``dtype``) array (height,
    width, channels), or (channels, height, width) with ``channels_first``; a 2-D image
    gets a channel axis of 1."""
    from ..backend import floatx

    data_format = _data_format(data_format, "img_to_array")
    x = np.asarray(img, dtype=floatx() if dtype is None else dtype)
    if x.ndim == 2:
        x = x[None] if data_format == "channels_first" else x[..., None]
    elif x.ndim == 3:
        if data_format == "channels_first":
            x = x.transpose(2, 0, 1)
    else:
        raise ValueError(f"img_to_array: unsupported image shape: {x.shape} (expected "
                         "(height, width) or (height, width, channels))")
    return x


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """A 3-D array as a PIL image, as Keras's ``array_to_img``: with ``scale`` its values
    are mapped linearly to 0..255 (minimum to 0, maximum to 255); 1 channel gives an "L"
    image (an "I" one, 32-bit, for values above 255), 3 "RGB", 4 "RGBA". Unlike Keras,
    values outside 0..255 are clipped rather than wrapped around."""
    from ..backend import floatx

    Image, _ = _pillow("array_to_img")
    data_format = _data_format(data_format, "array_to_img")
    x = np.array(x, dtype=floatx() if dtype is None else dtype)
    if x.ndim != 3:
        raise ValueError("array_to_img: expected image array to have rank 3 (single image). "
                         f"Got array with shape: {x.shape}")
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        x_max = np.max(x)
        if x_max != 0:
            x /= x_max
        x *= 255
    channels = x.shape[2]
    if channels == 1 and np.max(x) > 255:
        return Image.fromarray(np.clip(x[:, :, 0], -2**31, 2**31 - 1).astype(np.int32), "I")
    if channels not in _PIL_MODES:
        raise ValueError(f"array_to_img: unsupported channel number: {channels} (expected "
                         "1, 3 or 4)")
    pixels = np.clip(x, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels[:, :, 0] if channels == 1 else pixels, _PIL_MODES[channels])


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs) -> None:
    """Save the image array ``x`` (see :func:`array_to_img`) to ``path`` with Pillow, as
    Keras's ``save_img``; the format from ``file_format`` or the file's extension;
    ``kwargs`` go to ``PIL.Image.save`` (``quality=...``). A path is written atomically (a
    temporary file beside it, then renamed: never a half-written image); a file object is
    written as it is. An RGBA image saved as JPEG is converted to RGB with a warning."""
    if file_format is not None and file_format.lower() == "jpg":
        file_format = "jpeg"
    img = array_to_img(x, data_format=data_format, scale=scale)
    is_path = isinstance(path, (str, bytes, os.PathLike))
    extension = os.path.splitext(os.fsdecode(path))[1].lower() if is_path else ""
    if img.mode == "RGBA" and ((file_format or "").lower() == "jpeg"
                               or (file_format is None and extension in (".jpg", ".jpeg"))):
        warnings.warn("The JPEG format does not support RGBA images, converting to RGB.",
                      stacklevel=2)
        img = img.convert("RGB")
    if not is_path:
        img.save(path, format=file_format, **kwargs)
        return
    with atomic_path(os.fsdecode(path), where="save_img") as tmp:
        img.save(tmp, format=file_format, **kwargs)
