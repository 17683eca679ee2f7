"""Checks the block-layer tests share (tests/layers/test_<module>.py): inputs, sub-layers by name,
numpy references, weights copied into a plain-Keras reference, batch norm in training, configs."""

import keras
import numpy as np


def random_input(shape, seed=0):
    """Standard normal values of `shape` (batch axis included), float32."""
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def wrap(layer, shape):
    """A functional model around `layer` on inputs of `shape` (so `randomize` can reach its variables)."""
    inputs = keras.Input(shape)
    return keras.Model(inputs, layer(inputs))


def keras_block_model(block_fn, shape, *args, **kwargs):
    """A keras.applications block function (`block_fn(x, *args, **kwargs)`, plain Keras layers) as a model."""
    inputs = keras.Input(shape)
    return keras.Model(inputs, block_fn(inputs, *args, **kwargs))


def sublayers(layer):
    """Every sub-layer of `layer` (nested ones too), by name."""
    return {sub.name: sub for sub in layer._flatten_layers(include_self=False, recursive=True)}


def relu(x):
    return np.maximum(x, 0.0)


def batch_norm(x, layer):
    """Inference batch normalization in numpy with the weights of `layer`: (x - mean) / sqrt(var + eps) * g + b."""
    gamma, beta, mean, variance = layer.get_weights()
    return (x - mean) / np.sqrt(variance + layer.epsilon) * gamma + beta


def copy_weights_to(reference, block):
    """Give each layer of `reference` (a model of plain Keras layers) the weights of the block's
    sub-layer of the same name; every reference layer has a namesake among the block's sub-layers
    that hold no sub-layers of their own, and vice versa."""
    ours = {name: sub for name, sub in sublayers(block).items() if not list(sub._flatten_layers(include_self=False))}
    theirs = {layer.name: layer for layer in reference.layers if not isinstance(layer, keras.layers.InputLayer)}
    assert set(ours) == set(theirs)
    for name, layer in theirs.items():
        if layer.weights:
            layer.set_weights(ours[name].get_weights())


def assert_same_outputs(layer, reference, x):
    np.testing.assert_allclose(layer(x, training=False), reference(x, training=False), rtol=1e-5, atol=1e-6)


def assert_training_reaches_batch_norm(layer, input_shape, batch_norm_name):
    """training=True normalizes with the batch's statistics and updates `batch_norm_name`'s moving ones."""
    model = wrap(layer, input_shape)
    x = random_input((4, *input_shape)) * 3 + 1
    inference = np.asarray(model(x, training=False))
    training = np.asarray(model(x, training=True))
    assert not np.allclose(inference, training)  # batch statistics, not the moving ones
    assert np.any(np.asarray(sublayers(layer)[batch_norm_name].moving_mean) != 0)  # and the moving ones moved


def assert_reloads(roundtrip, randomize, layer, shape):
    """`layer` with random weights, on a random input of `shape`, saves and reloads with identical outputs."""
    randomize(wrap(layer, shape[1:]))
    x = random_input(shape)
    expected = np.asarray(layer(x, training=False))
    np.testing.assert_array_equal(roundtrip(layer, x), expected)


def assert_config(layer, expected):
    """`layer.get_config()` holds the `expected` constructor arguments and rebuilds the same config."""
    config = layer.get_config()
    assert {key: config[key] for key in expected} == expected
    assert type(layer).from_config(config).get_config() == config
