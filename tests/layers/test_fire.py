"""FireModule: the formula (numpy), agreement with plain Keras layers, names, shapes, save/reload."""

import keras
import numpy as np
import pytest
from block_checks import assert_config, assert_reloads, relu
from keras import layers

from layers.fire import FireModule


def numpy_conv_same(x, kernel, bias):
    """Stride-1 "same" convolution, channels last, odd kernel: the definition, in numpy."""
    kh, kw, _, _ = kernel.shape
    padded = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    out = np.zeros(x.shape[:3] + (kernel.shape[-1],), "float64")
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("bhwc,cf->bhwf", padded[:, i : i + x.shape[1], j : j + x.shape[2]], kernel[i, j])
    return out + bias


def test_matches_the_formula(randomize):
    layer = FireModule(3, 4, 5, name="fire2")
    x = np.random.default_rng(0).normal(size=(2, 6, 7, 8)).astype("float32")
    layer(x)
    randomize(layer)
    s, e1, e3 = (layer.squeeze.get_weights(), layer.expand1x1.get_weights(), layer.expand3x3.get_weights())
    squeezed = relu(numpy_conv_same(x, *s))
    expected = np.concatenate([relu(numpy_conv_same(squeezed, *e1)), relu(numpy_conv_same(squeezed, *e3))], axis=-1)
    np.testing.assert_allclose(np.asarray(layer(x)), expected, rtol=1e-5, atol=1e-5)


def test_matches_plain_keras_layers(randomize):
    """The Caffe / torchvision fire module written with plain Keras layers, same weights."""
    inputs = keras.Input((9, 9, 16))
    x = layers.ReLU()(layers.Conv2D(4, 1, name="sq")(inputs))
    left = layers.ReLU()(layers.Conv2D(8, 1, name="e1")(x))
    right = layers.ReLU()(layers.Conv2D(6, 3, padding="same", name="e3")(x))
    reference = randomize(keras.Model(inputs, layers.Concatenate()([left, right])))
    layer = FireModule(4, 8, 6)
    model = keras.Model(inputs, layer(inputs))
    for ours, theirs in [(layer.squeeze, "sq"), (layer.expand1x1, "e1"), (layer.expand3x3, "e3")]:
        ours.set_weights(reference.get_layer(theirs).get_weights())
    x = np.random.default_rng(2).normal(size=(3, 9, 9, 16)).astype("float32")
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(reference(x)), rtol=1e-5, atol=1e-6)


def test_names_and_parameter_count():
    layer = FireModule(16, 64, 64, name="fire2")
    layer.build((None, 55, 55, 96))
    names = sorted(sub.name for sub in layer._flatten_layers(include_self=False, recursive=False))
    assert names == sorted(
        "fire2_" + s
        for s in ["squeeze1x1", "squeeze1x1_relu", "expand1x1", "expand1x1_relu", "expand3x3", "expand3x3_relu",
                  "concat"]
    )
    # torchvision's Fire(96, 16, 64, 64): (96*16+16) + (16*64+64) + (16*9*64+64)
    assert layer.count_params() == 96 * 16 + 16 + 16 * 64 + 64 + 16 * 9 * 64 + 64 == 11_920


@pytest.mark.parametrize("shape", [(1, 1, 1, 3), (2, 5, 8, 7), (1, 13, 13, 512)])
def test_output_shape(shape):
    layer = FireModule(2, 3, 5)
    y = layer(np.zeros(shape, "float32"))
    assert tuple(y.shape) == shape[:3] + (8,) == layer.compute_output_shape(shape)


def test_outputs_are_non_negative():
    y = FireModule(4, 4, 4)(np.random.default_rng(0).normal(size=(2, 5, 5, 3)).astype("float32"))
    assert np.all(np.asarray(y) >= 0)


@pytest.mark.parametrize("args, words", [((0, 4, 4), "squeeze_filters"), ((4, -1, 4), "expand1x1_filters"),
                                         ((4, 4, 1.5), "expand3x3_filters"), ((True, 4, 4), "squeeze_filters")])
def test_bad_arguments(args, words):
    with pytest.raises(ValueError, match=words):
        FireModule(*args)


def test_config_is_complete():
    assert_config(
        FireModule(32, 128, 96, name="fire5"),
        {"squeeze_filters": 32, "expand1x1_filters": 128, "expand3x3_filters": 96, "name": "fire5"},
    )


def test_roundtrip(roundtrip, randomize):
    assert_reloads(roundtrip, randomize, FireModule(3, 4, 6, name="fire3"), (2, 7, 6, 5))
