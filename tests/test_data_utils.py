"""npconv.data: seeded splits, epoch batches covering every sample once, to_float, one_hot."""

from __future__ import annotations

import numpy as np
import pytest

from npconv.data import batches, one_hot, random_split, split_lengths, to_float, train_val_split
from npconv.random import set_random_seed


def ids(n):
    """x whose rows carry their own index, and y = index * 10: alignment is checkable."""
    x = np.repeat(np.arange(n)[:, None], 3, axis=1)
    return x, np.arange(n) * 10


@pytest.mark.parametrize("n, lengths, sizes", [
    (10000, [0.7, 0.3], [7000, 3000]),  # seed 003's validation/test split of MNIST's test set
    (10, [0.33, 0.33, 0.34], [4, 3, 3]),  # floor 3, 3, 3, the leftover to the first part
    (7, [0.5, 0.5], [4, 3]),
    (5, [2, 3], [2, 3]),
    (0, [0.5, 0.5], [0, 0]),
])
def test_split_lengths(n, lengths, sizes):
    assert split_lengths(n, lengths) == sizes


@pytest.mark.parametrize("lengths", [[0.7, 0.2], [1.5, -0.5], [3, 3], [-1, 11], [], [True, 0.5]])
def test_split_lengths_errors(lengths):
    with pytest.raises(ValueError, match="random_split"):
        split_lengths(10, lengths)


def test_random_split_seed_003_validation_and_test():
    x, y = ids(10000)
    (x_val, y_val), (x_test, y_test) = random_split(x, y, [0.7, 0.3], seed=20)
    assert len(x_val) == 7000 and len(x_test) == 3000
    np.testing.assert_array_equal(y_val, x_val[:, 0] * 10)  # x and y stay paired
    both = np.concatenate([x_val[:, 0], x_test[:, 0]])
    assert np.array_equal(np.sort(both), np.arange(10000))  # every sample exactly once
    again = random_split(x, y, [0.7, 0.3], seed=20)
    np.testing.assert_array_equal(again[0][0], x_val)
    other = random_split(x, y, [0.7, 0.3], seed=21)
    assert not np.array_equal(other[0][0], x_val)
    assert not np.array_equal(x_val[:, 0], np.arange(7000))  # shuffled


def test_random_split_without_y_and_with_the_run_seed():
    x, _ = ids(20)
    parts = random_split(x, lengths=[5, 15], seed=np.random.default_rng(0))
    assert [p.shape for p in parts] == [(5, 3), (15, 3)]
    set_random_seed(3)
    a = random_split(x, lengths=[0.5, 0.5])
    set_random_seed(3)
    b = random_split(x, lengths=[0.5, 0.5])
    np.testing.assert_array_equal(a[0], b[0])


def test_random_split_checks_lengths_of_x_and_y():
    with pytest.raises(ValueError, match="as many samples as x"):
        random_split(np.zeros((4, 2)), np.zeros(5), [2, 2])
    with pytest.raises(ValueError, match=r"call random_split\(x, lengths=\[0.7, 0.3\]\)"):
        random_split(np.zeros((10, 2)), [0.7, 0.3])
    with pytest.raises(ValueError, match="sample axis"):
        random_split(np.float32(3.0), None, [1])


def test_train_val_split():
    x, y = ids(10)
    (xt, yt), (xv, yv) = train_val_split(x, y, 0.3, shuffle=False)
    np.testing.assert_array_equal(xv[:, 0], [7, 8, 9])  # the last samples, as Keras's fit
    np.testing.assert_array_equal(yt, np.arange(7) * 10)
    (xt, yt), (xv, yv) = train_val_split(x, y, 0.3, seed=1)
    assert len(xv) == 3 and np.array_equal(np.sort(np.r_[xt[:, 0], xv[:, 0]]), np.arange(10))
    np.testing.assert_array_equal(yv, xv[:, 0] * 10)
    xt, xv = train_val_split(x, validation_split=0.0)
    assert len(xt) == 10 and len(xv) == 0
    for bad in (1.0, -0.1, "0.2", True):
        with pytest.raises(ValueError, match="validation_split"):
            train_val_split(x, y, bad)


@pytest.mark.parametrize("n, batch_size, drop_last, sizes", [
    (10, 4, False, [4, 4, 2]),
    (10, 4, True, [4, 4]),
    (8, 4, True, [4, 4]),
    (3, 64, False, [3]),
    (3, 64, True, []),
])
def test_batch_sizes(n, batch_size, drop_last, sizes):
    x, y = ids(n)
    it = batches(x, y, batch_size, seed=0, drop_last=drop_last)
    assert len(it) == len(sizes)
    assert [len(xb) for xb, _ in it] == sizes


def test_each_epoch_covers_every_sample_once_and_is_reproducible():
    x, y = ids(103)
    a, b = batches(x, y, 10, seed=5), batches(x, y, 10, seed=5)
    epochs_a = [np.concatenate([xb[:, 0] for xb, _ in a]) for _ in range(3)]
    epochs_b = [np.concatenate([xb[:, 0] for xb, _ in b]) for _ in range(3)]
    for ea, eb in zip(epochs_a, epochs_b, strict=True):
        assert np.array_equal(np.sort(ea), np.arange(103))
        np.testing.assert_array_equal(ea, eb)  # same seed: same sequence of epochs
    assert not np.array_equal(epochs_a[0], epochs_a[1])  # a new order each epoch
    for xb, yb in batches(x, y, 10, seed=5):
        np.testing.assert_array_equal(yb, xb[:, 0] * 10)


def test_unshuffled_batches_and_x_alone():
    x, _ = ids(7)
    got = [xb[:, 0].tolist() for xb in batches(x, batch_size=3, shuffle=False)]
    assert got == [[0, 1, 2], [3, 4, 5], [6]]


def test_a_large_epoch_is_fast():
    x = np.zeros((60000, 28, 28), np.uint8)
    y = np.zeros(60000, np.uint8)
    assert sum(len(xb) for xb, _ in batches(x, y, 64, seed=0)) == 60000


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, None])
def test_batch_size_errors(bad):
    with pytest.raises(ValueError, match="batch_size"):
        batches(np.zeros(4), None, bad)


def test_to_float():
    x = np.array([[[0, 255], [51, 102]]], np.uint8)  # (1, 2, 2): a 3-D (N, H, W) batch
    out = to_float(x)
    assert out.dtype == np.float32 and out.shape == (1, 2, 2, 1)
    np.testing.assert_array_equal(out[..., 0], np.array([[[0, 1], [0.2, 0.4]]], np.float32))
    assert to_float(np.zeros((2, 3, 3, 3), np.uint8)).shape == (2, 3, 3, 3)
    assert to_float(np.zeros((2, 5), np.uint8)).shape == (2, 5)
    assert to_float(x, dtype=np.float64).dtype == np.float64
    np.testing.assert_allclose(to_float(x, scale=1.0)[0, 0, 1, 0], 255)
    with pytest.raises(ValueError, match="scale"):
        to_float(x, scale=0)
    with pytest.raises(TypeError, match="float dtype"):
        to_float(x, dtype=np.int32)
    with pytest.raises(TypeError, match="numeric"):
        to_float(np.array(["a"]))


def test_one_hot():
    out = one_hot(np.array([2, 0, 1], np.uint8), 4)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0]])
    np.testing.assert_array_equal(one_hot(np.array([[1], [0]])), [[0, 1], [1, 0]])  # CIFAR's (N, 1)
    np.testing.assert_array_equal(one_hot([1.0, 0.0], 2), [[0, 1], [1, 0]])
    with pytest.raises(ValueError, match=r"labels in \[0, 2\]"):
        one_hot([3], 3)
    with pytest.raises(ValueError, match=r"labels in"):
        one_hot([-1, 1])
    with pytest.raises(ValueError, match="whole-number"):
        one_hot([0.5])
    with pytest.raises(ValueError, match="num_classes"):
        one_hot([0], 0)
    with pytest.raises(TypeError, match="integer labels"):
        one_hot(np.array(["a"]))
