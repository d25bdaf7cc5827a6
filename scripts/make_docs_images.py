"""Regenerate the pictures in docs/images used by the README.

    python scripts/make_docs_images.py [--out docs/images] [--epochs 2] [--n-train 6000]

Writes (each file under ~300 KB):
  conv.gif, conv_stride_2.gif, conv_pad_1.gif, conv_dilation_2.gif,
  conv_stride_2_pad_1_dilation_2.gif   seed 000's 6x6 np.arange example, 3x3 average kernel
  max_pool.gif                         2x2 max pooling, stride 2
  explain_same_stride_2.png            one output pixel of a 'same', stride-2 convolution
  activations.png                      relu, tanh, sigmoid, softmax
  feature_maps.png, filters.png        seed 001's MNIST CNN, briefly trained on Fashion-MNIST
                                       (first conv layer's maps for one test image, and kernels)
  history.png                          that short training's loss and accuracy (needs --epochs >= 2)

Needs matplotlib and Pillow; the Fashion-MNIST pictures need the dataset (skipped with a note
if it cannot be found). Deterministic: every random thing is seeded.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

MAX_BYTES = 300_000


def _report(path):
    size = os.path.getsize(path)
    flag = "" if size <= MAX_BYTES else "  (over 300 KB!)"
    print(f"wrote {path} ({size / 1000:.0f} KB){flag}")


def conv_pictures(out):
    from npconv.viz.animation import animate_convolution, animate_pooling
    from npconv.viz.explain import explain_convolution
    from npconv.viz.plots import plot_activations

    for name, kwargs in [("conv", {}), ("conv_stride_2", {"stride": 2}),
                         ("conv_pad_1", {"padding": 1}), ("conv_dilation_2", {"dilation": 2}),
                         ("conv_stride_2_pad_1_dilation_2",
                          {"stride": 2, "padding": 1, "dilation": 2})]:
        _report(animate_convolution(6, 3, path=os.path.join(out, f"{name}.gif"), **kwargs))
    _report(animate_pooling(6, 2, mode="max", path=os.path.join(out, "max_pool.gif")))
    e = explain_convolution((6, 6), 3, strides=2, padding="same", output_index=(2, 2))
    _report(e.to_png(os.path.join(out, "explain_same_stride_2.png")))
    path = os.path.join(out, "activations.png")
    plot_activations(path=path, dpi=80)
    _report(path)


def fashion_pictures(out, epochs, n_train):
    from npconv.datasets import fashion_mnist
    from npconv.models.zoo import mnist_cnn
    from npconv.random import set_random_seed
    from npconv.viz.feature_maps import feature_maps, first_conv_layer
    from npconv.viz.plots import plot_feature_maps, plot_filters, plot_history

    try:
        (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data(download=False)
    except Exception as exc:  # noqa: BLE001 - any failure to find the data only skips pictures
        print(f"note: Fashion-MNIST not available ({exc}); skipping its pictures")
        return
    set_random_seed(0)
    x_train = (x_train[:n_train, :, :, None] / 255.0).astype(np.float32)
    x_test = (x_test[:, :, :, None] / 255.0).astype(np.float32)
    model = mnist_cnn()
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x_train, y_train[:n_train], batch_size=64, epochs=epochs, verbose=0,
                        validation_data=(x_test[:1000], y_test[:1000]), seed=0)
    print(f"trained seed 001's CNN on {n_train} Fashion-MNIST images for {epochs} epoch(s): "
          + ", ".join(f"{k} {v[-1]:.3f}" for k, v in history.history.items()))
    conv = first_conv_layer(model)
    maps = feature_maps(model, x_test[0], conv)
    path = os.path.join(out, "feature_maps.png")
    plot_feature_maps(maps, title=f"Filter Activations (first Conv2D, test image 0: "
                      f"class {int(y_test[0])})", path=path, dpi=80)
    _report(path)
    path = os.path.join(out, "filters.png")
    plot_filters(model, n=16, ncols=8, path=path, dpi=80)
    _report(path)
    if epochs > 1:
        path = os.path.join(out, "history.png")
        plot_history(history, path=path, dpi=80)
        _report(path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join("docs", "images"))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--n-train", type=int, default=6000,
                        help="Fashion-MNIST training images used (default 6000)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    conv_pictures(args.out)
    fashion_pictures(args.out, args.epochs, args.n_train)
    return 0


if __name__ == "__main__":
    sys.exit(main())
