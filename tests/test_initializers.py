"""Initializers: Keras's names and class names, Keras 3 config dicts, TruncatedNormal and
Orthogonal, seeds kept through serialization."""

import json

import numpy as np
import pytest

import npconv
from npconv import initializers as I


@pytest.mark.parametrize("name, cls", [("GlorotUniform", "glorot_uniform"),
                                       ("HeNormal", "he_normal"), ("Zeros", "zeros"),
                                       ("TruncatedNormal", "truncated_normal"),
                                       ("Orthogonal", "orthogonal")])
def test_keras_class_names_give_the_same_initializer_as_the_snake_names(name, cls):
    a, b = I.get(name), I.get(cls)
    assert repr(a) == repr(b)
    np.testing.assert_array_equal(a((3, 4), rng=np.random.default_rng(0)),
                                  b((3, 4), rng=np.random.default_rng(0)))


def test_a_keras_3_config_dict_loads():
    """What Keras 3's serialize_keras_object writes for a layer's kernel_initializer."""
    keras = {"module": "keras.initializers", "class_name": "RandomNormal",
             "config": {"mean": 0.0, "stddev": 0.02, "seed": 7}, "registered_name": None}
    init = I.get(keras)
    assert isinstance(init, I.RandomNormal) and init.stddev == 0.02 and init.seed == 7
    dense = npconv.layers.Dense(3, kernel_initializer={"module": "keras.initializers",
                                                      "class_name": "GlorotUniform",
                                                      "config": {"seed": None},
                                                      "registered_name": None})
    dense.build((None, 4))
    assert dense.kernel.shape == (4, 3)
    with pytest.raises(ValueError, match=r"dense.*unknown initializer.*Received: 'Bogus'"):
        npconv.layers.Dense(3, kernel_initializer={"class_name": "Bogus", "config": {}},
                            name="dense")
    with pytest.raises(ValueError, match=r"initializer 'Zeros' does not take the config"):
        I.get({"class_name": "Zeros", "config": {"value": 1}})


def test_truncated_normal_stays_within_two_stddev_with_keras_moments():
    init = I.TruncatedNormal(mean=1.0, stddev=0.5, seed=3)
    values = init((200, 300))
    assert values.dtype == np.float32
    assert np.all(np.abs(values - 1.0) <= 1.0)
    # the unit normal truncated at +-2 has standard deviation 0.8796
    assert abs(values.std() - 0.5 * 0.87962566) < 0.005 and abs(values.mean() - 1.0) < 0.005
    np.testing.assert_array_equal(values, init((200, 300)))  # a seed draws the same values


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (3, 3, 2, 8), (5, 5)])
def test_orthogonal_gives_orthonormal_rows_or_columns_times_gain(shape):
    w = I.Orthogonal(gain=2.0, seed=1)(shape, dtype=np.float64)
    flat = w.reshape(-1, shape[-1])
    small = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    np.testing.assert_allclose(small, 4.0 * np.eye(small.shape[0]), atol=1e-12)
    with pytest.raises(ValueError, match=r"Orthogonal: expected a weight shape of rank >= 2"):
        I.Orthogonal()((5,))


def test_a_seeded_named_initializer_keeps_its_seed_through_serialize():
    """serialize(GlorotUniform(seed=3)) wrote only "glorot_uniform": a layer rebuilt from its
    config drew other weights."""
    init = I.GlorotUniform(seed=3)
    again = I.get(json.loads(json.dumps(I.serialize(init))))
    np.testing.assert_array_equal(again((4, 5)), init((4, 5)))
    assert I.serialize(I.GlorotUniform()) == "glorot_uniform"
    layer = npconv.layers.Dense(5, kernel_initializer=I.HeNormal(seed=11))
    twin = npconv.layers.Dense.from_config(json.loads(json.dumps(layer.get_config())))
    layer.build((None, 4))
    twin.build((None, 4))
    np.testing.assert_array_equal(layer.kernel.value, twin.kernel.value)


def test_an_initializer_class_is_instantiated_as_keras_does():
    # Keras's initializers.get makes an instance of a class (kernel_initializer=HeNormal,
    # without parentheses); npconv called the class itself as the initializer at build:
    # a bare "float() argument must be ... not 'tuple'" or "takes no arguments"
    from npconv import initializers, layers

    for init in (initializers.TruncatedNormal, initializers.Zeros, initializers.GlorotUniform,
                 initializers.Orthogonal):
        layer = layers.Dense(3, kernel_initializer=init)
        layer.build((None, 4))
        assert layer.kernel.value.shape == (4, 3)
        assert initializers.serialize(layer.kernel_initializer) == \
            initializers.serialize(init())
