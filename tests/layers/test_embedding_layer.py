"""Embedding: the op pair against torch and finite differences, the layer's errors, config,
files, summary and training."""

import numpy as np
import pytest

import npconv
from npconv import layers
from npconv.ops.embedding import embedding_backward, embedding_forward


def test_forward_gathers_rows_and_backward_sums_repeated_ids():
    table = np.arange(12.0).reshape(4, 3)
    ids = np.array([[1, 1], [3, 0]])
    out, cache = embedding_forward(ids, table)
    np.testing.assert_array_equal(out, table[ids])
    d_table = embedding_backward(np.ones((2, 2, 3)), cache)
    np.testing.assert_array_equal(d_table, [[1, 1, 1], [2, 2, 2], [0, 0, 0], [1, 1, 1]])


def test_table_gradient_by_finite_differences():
    rng = np.random.default_rng(0)
    table = rng.standard_normal((6, 4))
    ids = rng.integers(0, 6, (3, 5))
    weights = rng.standard_normal((3, 5, 4))
    _, cache = embedding_forward(ids, table)
    analytic = embedding_backward(weights, cache)
    numeric = np.zeros_like(table)
    eps = 1e-6
    for index in np.ndindex(table.shape):
        up, down = table.copy(), table.copy()
        up[index] += eps
        down[index] -= eps
        numeric[index] = (np.sum(embedding_forward(ids, up)[0] * weights)
                          - np.sum(embedding_forward(ids, down)[0] * weights)) / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-8)


@pytest.mark.torch
@pytest.mark.parametrize("seed", range(6))
def test_matches_torch_embedding_forward_and_weight_gradient(seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    vocab, dim = int(rng.integers(2, 30)), int(rng.integers(1, 9))
    shape = tuple(int(s) for s in rng.integers(1, 6, size=int(rng.integers(1, 4))))
    ids = rng.integers(0, vocab, shape)  # small vocabularies: many repeated ids
    for dtype in (np.float64, np.float32):
        table = rng.standard_normal((vocab, dim)).astype(dtype)
        d_out = rng.standard_normal(shape + (dim,)).astype(dtype)
        out, cache = embedding_forward(ids, table)
        t_table = torch.tensor(table, requires_grad=True)
        t_out = torch.nn.functional.embedding(torch.tensor(ids), t_table)
        t_out.backward(torch.tensor(d_out))
        tol = 1e-12 if dtype == np.float64 else 1e-5
        np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=tol, atol=tol)
        d_table = embedding_backward(d_out, cache)
        assert d_table.dtype == dtype
        np.testing.assert_allclose(d_table, t_table.grad.numpy(), rtol=tol, atol=tol)


def test_bad_ids_and_arguments_are_clear_errors():
    layer = layers.Embedding(5, 2, name="emb")
    with pytest.raises(ValueError, match=r"ids in \[0, 5\).*Received an id 7"):
        layer(np.array([[1, 7]]))
    with pytest.raises(ValueError, match=r"Received an id -1"):
        layer(np.array([[-1, 0]]))
    with pytest.raises(TypeError, match="integer ids"):
        layer(np.array([[0.5, 1.0]]))
    np.testing.assert_array_equal(layer(np.array([[1.0, 2.0]])),  # whole floats are cast
                                  layer(np.array([[1, 2]])))
    with pytest.raises((ValueError, TypeError), match="mask"):
        layers.Embedding(5, 2, mask_zero=True)
    with pytest.raises((ValueError, TypeError), match="input_dim"):
        layers.Embedding(0, 2)


def test_config_summary_and_file_round_trip(tmp_path):
    inputs = npconv.Input(shape=(7,), dtype="int64")
    x = layers.Embedding(1000, 64)(inputs)
    x = layers.GlobalAveragePooling1D()(x)
    model = npconv.Model(inputs, layers.Dense(2)(x))
    emb = model.layers[1]
    assert emb.embeddings.value.shape == (1000, 64)
    assert emb.count_params() == 64_000
    assert np.abs(emb.embeddings.value).max() <= 0.05  # Keras's uniform(-0.05, 0.05)
    again = layers.Embedding.from_config(emb.get_config())
    assert again.get_config() == emb.get_config()
    ids = np.random.default_rng(1).integers(0, 1000, (4, 7))
    path = tmp_path / "emb.npconv"
    model.save(path)
    loaded = npconv.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(ids, verbose=0), model.predict(ids, verbose=0))


def test_weights_argument_sets_the_table():
    table = np.arange(6, dtype=np.float32).reshape(3, 2)
    layer = layers.Embedding(3, 2, weights=[table])
    np.testing.assert_array_equal(layer(np.array([[2, 0]])), table[[[2, 0]]])


@pytest.mark.parametrize("threads", [1, 2])
def test_a_text_cnn_trains_on_integer_ids(threads):
    npconv.set_random_seed(0)
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 40, (256, 12))
    labels = (ids == 7).any(axis=1).astype(np.int64)  # "does the word 7 occur"
    model = npconv.Sequential([
        npconv.Input(shape=(12,), dtype="int64"),
        layers.Embedding(40, 16),
        layers.Conv1D(16, 3, activation="relu"),
        layers.GlobalMaxPooling1D(),
        layers.Dense(2, activation="softmax"),
    ])
    model.compile(optimizer=npconv.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    previous = npconv.get_num_threads()
    npconv.set_num_threads(threads)
    try:
        history = model.fit(ids, labels, epochs=6, batch_size=64, verbose=0)
    finally:
        npconv.set_num_threads(previous)
    losses = history.history["loss"]
    assert losses[-1] < 0.7 * losses[0]
    assert model.predict(ids[:5], verbose=0).shape == (5, 2)


def test_the_table_gradient_keeps_the_tables_dtype():
    layer = layers.Embedding(4, 3)
    layer(np.array([[0, 1]]), training=True)
    layer.backward(np.ones((1, 2, 3), np.float64))
    assert layer.embeddings.grad.dtype == np.float32
