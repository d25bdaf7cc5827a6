"""``npconv evaluate``, ``predict``, ``summary`` and ``datasets``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from . import UsageError


# ---------------------------------------------------------------------------- shared
def _run_info(checkpoint):
    """The run.json beside ``checkpoint`` as a dict, or None (none, or not readable)."""
    from ..training import run

    run_file = Path(checkpoint).parent / run.RUN_FILE
    if not run_file.is_file():
        return None
    try:
        info = run._read_json(run_file)
    except (OSError, ValueError) as exc:
        print(f"npconv: note: ignoring {run_file} ({exc})", file=sys.stderr)
        return None
    return info if isinstance(info, dict) else None


def _run_config(checkpoint, args):
    """The data settings for ``checkpoint``: its run.json's, else the defaults; then ``args``."""
    from ..training import run

    config = run.RunConfig()
    info = _run_info(checkpoint)
    if info is not None:
        try:
            config = run.config_from_run_info(info)
        except (KeyError, TypeError, ValueError) as exc:
            print(f"npconv: note: ignoring {Path(checkpoint).parent / run.RUN_FILE} ({exc})",
                  file=sys.stderr)
    if getattr(args, "dataset", None) is not None:
        config.dataset = args.dataset
    if getattr(args, "validation_split", None) is not None:
        config.validation_split = args.validation_split
    config.download = args.download
    return config.validate()


def _check_checkpoint(checkpoint) -> None:
    """A clear error unless ``checkpoint`` is a file: a run's folder names its model files."""
    if os.path.isdir(checkpoint):
        inside = [os.path.join(checkpoint, n) for n in ("best.npconv", "last.npconv")
                  if os.path.isfile(os.path.join(checkpoint, n))]
        hint = f"; give a model file, e.g. {inside[0]}" if inside else ""
        raise IsADirectoryError(f"{checkpoint} is a folder, not a checkpoint file{hint}")
    if not os.path.isfile(checkpoint):
        raise FileNotFoundError(f"no such checkpoint: {checkpoint}")


def _load(checkpoint):
    from ..training import run

    _check_checkpoint(checkpoint)
    return run.load_checkpoint(checkpoint, optimizer_state=False)


def _check_inputs(model, shape, checkpoint, source):
    expected = tuple(model.input_shape[1:])
    if tuple(shape) != expected:
        raise ValueError(f"{checkpoint} expects inputs of shape {expected}, but {source} gives "
                         f"{tuple(shape)}")


# ---------------------------------------------------------------------------- evaluate
def evaluate_command(args) -> int:
    from ..training import run

    config = _run_config(args.checkpoint, args)
    model = _load(args.checkpoint)
    splits = run.load_splits(config)
    x, y = {"train": (splits.x_train, splits.y_train),
            "validation": (splits.x_val, splits.y_val),
            "test": (splits.x_test, splits.y_test)}[args.split]
    _check_inputs(model, x.shape[1:], args.checkpoint, config.dataset)
    loss, accuracy = model.evaluate(x, y, batch_size=args.batch_size, verbose=0)
    print(f"checkpoint: {args.checkpoint}")
    print(f"data: {config.dataset}, {args.split} split, {len(y)} samples ({splits.description})")
    print(f"{args.split}: \n\tloss: {loss:.4f}\n\taccuracy: {accuracy:.4f}")
    return 0


# ---------------------------------------------------------------------------- predict
def _read_images(files, input_shape, invert):
    """Image files -> float32 (N, H, W, C) in [0, 1], in the model's input shape."""
    import numpy as np

    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise ImportError("reading images needs Pillow: pip install 'npconv[images]'") from None
    from ..datasets.folders import _eight_bit

    height, width, channels = input_shape
    modes = {1: "L", 3: "RGB", 4: "RGBA"}
    if channels not in modes:
        raise ValueError(f"the model takes {channels}-channel inputs; image files can only "
                         "be read as 1 (grayscale), 3 (RGB) or 4 (RGBA) channels")
    images = []
    for file in files:
        if os.path.exists(file) and not os.path.isfile(file) and not os.path.isdir(file):
            from .._atomic import _kind  # a pipe: Pillow's open() would wait on it forever

            raise ValueError(f"cannot read image {file}: it is {_kind(file)}, not a regular "
                             "file")
        try:
            with Image.open(file) as im:
                im = _eight_bit(im, Image).convert(modes[channels])
                if im.size != (width, height):
                    im = im.resize((width, height), Image.Resampling.BILINEAR)
                pixels = np.asarray(im, dtype=np.float32) / np.float32(255)
        except FileNotFoundError:
            raise FileNotFoundError(f"no such image file: {file}") from None
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as err:
            raise ValueError(f"cannot read image {file}: {err}") from None
        images.append(pixels.reshape(height, width, channels))
    x = np.stack(images)
    return np.float32(1) - x if invert else x


def _class_names(args, run_info, n_classes):
    """Names of the model's classes: --class-names, a known --dataset's, the run.json's
    (recorded by npconv train), the run's known dataset's; or None (indices only).

    Reads no data, so predicting image files needs neither the dataset nor its folder."""
    from ..datasets.catalog import DATASETS
    from ..training import run

    if args.class_names:
        names = [n.strip() for n in args.class_names.split(",")]
        if len(names) != n_classes:
            raise UsageError(f"--class-names gives {len(names)} names; the model has "
                             f"{n_classes} classes")
        return names
    candidates = []
    if args.dataset is not None and run.known_dataset(args.dataset):
        candidates.append(DATASETS[run.known_dataset(args.dataset)].CLASS_NAMES)
    if run_info is not None:
        data = run_info.get("data")
        candidates.append(data.get("class_names") if isinstance(data, dict) else None)
        config = run_info.get("config")
        dataset = config.get("dataset") if isinstance(config, dict) else None
        if dataset is not None and run.known_dataset(dataset):
            candidates.append(DATASETS[run.known_dataset(dataset)].CLASS_NAMES)
    elif args.dataset is None:
        candidates.append(DATASETS[run.RunConfig().dataset].CLASS_NAMES)  # the default
    for names in candidates:
        if isinstance(names, (list, tuple)) and len(names) == n_classes:
            return [str(n) for n in names]
    return None


def predict_command(args) -> int:
    import numpy as np

    from ..training import run

    if args.images and args.index is not None:
        raise UsageError("give image files, or --index A:B (with --dataset), not both")
    if not args.images and args.index is None:
        raise UsageError("nothing to predict: give image files, or --index A:B (with "
                         "--dataset) for test-set samples")
    run_info = _run_info(args.checkpoint)
    # image files need no dataset (nor its folder): only --index reads the test set
    config = None if args.images else _run_config(args.checkpoint, args)
    model = _load(args.checkpoint)
    input_shape = tuple(model.input_shape[1:])
    truth = None
    if args.images:
        x = _read_images(args.images, input_shape, args.invert)
        labels = list(args.images)
    else:
        _, (x_test, y_test), _ = run.load_raw(config.dataset, image_size=config.image_size,
                                              color_mode=config.color_mode,
                                              download=config.download)
        if x_test is None:
            raise UsageError(f"{config.dataset} is an image folder without a test set; give "
                             "its image files instead of --index")
        start, stop = args.index
        if stop > len(x_test):
            raise UsageError(f"--index {start}:{stop} is out of range: the {config.dataset} "
                             f"test set has {len(x_test)} samples")
        from ..data import to_float

        x = to_float(x_test[start:stop])
        truth = np.asarray(y_test[start:stop]).reshape(-1)
        labels = [f"{config.dataset} test[{i}]" for i in range(start, stop)]
    _check_inputs(model, x.shape[1:], args.checkpoint, "the input")
    probs = model.predict(x, batch_size=256)
    names = _class_names(args, run_info, probs.shape[1])

    def name(c):
        return f"{c} ({names[c]})" if names else str(c)

    k = min(args.top, probs.shape[1])
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    for i, label in enumerate(labels):
        best = ", ".join(f"{name(c)} {probs[i, c]:.3f}" for c in top[i])
        line = f"{label}: {name(top[i, 0])}"
        if truth is not None:
            line += f" | true {name(int(truth[i]))}"
        print(f"{line} | top-{k}: {best}")
    return 0


# ---------------------------------------------------------------------------- summary
def summary_command(args) -> int:
    looks_like_file = os.path.exists(args.model) or args.model.endswith((".npconv",
                                                                        ".safetensors"))
    if looks_like_file:
        if args.input_shape is not None or args.num_classes is not None:
            raise UsageError("--input-shape and --num-classes apply to zoo models, not to a "
                             "checkpoint")
        _check_checkpoint(args.model)
        from ..io import load_model

        model = load_model(args.model, compile=False)
    else:
        from ..models.zoo import ZOO, get_model

        if args.model not in ZOO:
            raise UsageError(f"unknown model {args.model!r}: give a zoo model "
                             f"({', '.join(sorted(ZOO))}) or a .npconv file")
        kwargs = {}
        if args.input_shape is not None:
            kwargs["input_shape"] = args.input_shape
        if args.num_classes is not None:
            kwargs["num_classes"] = args.num_classes
        model = get_model(args.model, **kwargs)
    model.summary(show_cost=args.show_cost)
    return 0


# ---------------------------------------------------------------------------- datasets
def datasets_command(args) -> int:
    from ..datasets.catalog import available_report

    print(available_report())
    print("image folders  any folder with one sub-folder of images per class: "
          "npconv train --dataset PATH (needs Pillow)")
    return 0
