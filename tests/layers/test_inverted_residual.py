"""InvertedResidual: agreement with keras.applications' block, names, shapes, residual rule, save/reload."""

import keras
import numpy as np
import pytest
from block_checks import assert_config, assert_reloads, assert_training_reaches_batch_norm, keras_block_model, sublayers
from block_checks import wrap
from keras.src.applications import imagenet_utils
from keras.src.applications.mobilenet_v2 import _inverted_res_block

from layers.inverted_residual import InvertedResidual, correct_pad


def keras_block(input_shape, filters, expansion, stride, block_id):
    """keras.applications' own `_inverted_res_block` (block 0 has no expansion) as a model."""
    return keras_block_model(_inverted_res_block, input_shape, expansion, stride, 1.0, filters, block_id)


def zoo_block(input_shape, filters, expansion, stride, block_id):
    layer = InvertedResidual(
        filters, expansion=expansion, stride=stride, name="expanded_conv" if block_id == 0 else f"block_{block_id}"
    )
    return wrap(layer, input_shape), layer


@pytest.mark.parametrize(
    "input_shape, filters, expansion, stride, block_id",
    [
        ((9, 9, 32), 16, 1, 1, 0),  # keras' first block: no expansion, no residual (32 -> 16)
        ((8, 8, 16), 16, 6, 1, 2),  # residual
        ((8, 8, 16), 24, 6, 2, 1),  # stride 2, even size: padding (0, 1)
        ((7, 9, 16), 24, 6, 2, 3),  # stride 2, odd sizes: padding (1, 1)
        ((6, 7, 24), 32, 6, 1, 4),  # stride 1, channels change: no residual
    ],
)
def test_matches_keras_applications_block(randomize, input_shape, filters, expansion, stride, block_id):
    reference = randomize(keras_block(input_shape, filters, expansion, stride, block_id))
    model, layer = zoo_block(input_shape, filters, expansion, stride, block_id)
    ref_layers = {l.name: l for l in reference.layers}
    ours = sublayers(layer)
    # every keras layer has a namesake in the block and vice versa (the Add only when it is used)
    unused = set() if layer.residual else {layer.residual_add.name}
    assert set(ref_layers) - {reference.layers[0].name} == set(ours) - unused
    for name, sub in ours.items():
        if sub.weights:
            sub.set_weights(ref_layers[name].get_weights())
    x = np.random.default_rng(1).normal(size=(2, *input_shape)).astype("float32")
    for training in (False, True):
        np.testing.assert_allclose(
            np.asarray(model(x, training=training)), np.asarray(reference(x, training=training)), rtol=1e-5, atol=1e-6
        )


def test_names_follow_the_block_name():
    layer = InvertedResidual(24, expansion=6, stride=2, name="block_1")
    layer.build((None, 112, 112, 16))
    assert sorted(sublayers(layer)) == sorted(
        "block_1_" + s
        for s in ["expand", "expand_BN", "expand_relu", "pad", "depthwise", "depthwise_BN", "depthwise_relu",
                  "project", "project_BN", "add"]
    )
    assert layer.expand.filters == 96  # expansion 6 x 16 input channels
    bn = sublayers(layer)["block_1_project_BN"]
    assert (bn.epsilon, bn.momentum) == (1e-3, 0.999)


def test_expansion_one_has_no_expansion_convolution():
    layer = InvertedResidual(16, expansion=1, name="expanded_conv")
    layer.build((None, 8, 8, 32))
    assert layer.expand is None and "expanded_conv_expand" not in sublayers(layer)
    assert len(layer.weights) == 1 + 4 + 1 + 4  # depthwise, BN, project, BN


@pytest.mark.parametrize("stride, in_channels, filters, residual", [(1, 16, 16, True), (1, 16, 24, False),
                                                                     (2, 16, 16, False)])
def test_residual_only_with_stride_one_and_same_channels(stride, in_channels, filters, residual):
    layer = InvertedResidual(filters, expansion=2, stride=stride)
    x = np.random.default_rng(0).normal(size=(1, 6, 6, in_channels)).astype("float32")
    layer(x)
    assert layer.residual is residual
    if residual:  # zeroing the projection leaves the input (BN beta is 0)
        layer.project.kernel.assign(np.zeros(layer.project.kernel.shape, "float32"))
        np.testing.assert_allclose(np.asarray(layer(x, training=False)), x, atol=1e-6)


@pytest.mark.parametrize("size", [(1, 1), (2, 3), (7, 8), (None, 9), (10, None)])
def test_correct_pad_matches_keras(size):
    if None not in size:
        expected = imagenet_utils.correct_pad(keras.KerasTensor((1, *size, 4)), 3)
        assert correct_pad(size, 3) == expected
    assert correct_pad((None, None), 3) == imagenet_utils.correct_pad(keras.KerasTensor((1, None, None, 4)), 3)
    for n, pad in zip(size, correct_pad(size, 3)):
        assert pad == ((0, 1) if n is None or n % 2 == 0 else (1, 1))


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("rows, cols", [(1, 1), (5, 8), (13, 14)])
def test_output_shape(stride, rows, cols):
    layer = InvertedResidual(8, stride=stride)
    y = layer(np.zeros((2, rows, cols, 4), "float32"))
    expected = (2, -(-rows // stride), -(-cols // stride), 8)
    assert tuple(y.shape) == expected == layer.compute_output_shape((2, rows, cols, 4))


def test_unknown_spatial_size_is_padded_as_keras_pads_it():
    """An unknown size is padded (0, 1) like an even one, as keras.applications does."""
    inputs = keras.Input((None, None, 8))
    layer = InvertedResidual(8, stride=2)
    model = keras.Model(inputs, layer(inputs))
    assert layer.pad.padding == ((0, 1), (0, 1))
    assert tuple(model(np.zeros((1, 10, 11, 8), "float32")).shape) == (1, 5, 5, 8)


def test_training_reaches_batch_normalization():
    assert_training_reaches_batch_norm(InvertedResidual(8, stride=1, name="b"), (5, 5, 8), "b_expand_BN")


@pytest.mark.parametrize(
    "kwargs, words",
    [({"filters": 0}, "filters"), ({"filters": 8, "expansion": 0}, "expansion"),
     ({"filters": 8, "stride": 3}, "stride"), ({"filters": 8, "stride": True}, "stride"),
     ({"filters": 2.5}, "filters")],
)
def test_bad_arguments(kwargs, words):
    with pytest.raises(ValueError, match=words):
        InvertedResidual(**kwargs)


def test_config_is_complete():
    assert_config(
        InvertedResidual(24, expansion=4, stride=2, name="block_7"),
        {"filters": 24, "expansion": 4, "stride": 2, "name": "block_7"},
    )


@pytest.mark.parametrize("filters, expansion, stride", [(16, 6, 1), (24, 6, 2), (16, 1, 1)])
def test_roundtrip(roundtrip, randomize, filters, expansion, stride):
    layer = InvertedResidual(filters, expansion=expansion, stride=stride, name="block_5")
    assert_reloads(roundtrip, randomize, layer, (2, 7, 8, 16))
