"""DenseLayer / DenseBlock / TransitionBlock: keras.applications' blocks, the formula, names, save/reload."""

import keras
import numpy as np
import pytest
from block_checks import assert_config, assert_reloads, assert_same_outputs, assert_training_reaches_batch_norm
from block_checks import batch_norm, copy_weights_to, keras_block_model, random_input, relu, sublayers, wrap
from keras.src.applications import densenet as keras_densenet

from layers.dense_connect import DenseBlock, DenseLayer, TransitionBlock


def test_dense_layer_matches_keras_conv_block(randomize):
    shape = (7, 7, 24)
    layer = DenseLayer(8, name="conv2_block1")
    randomize(wrap(layer, shape))
    reference = keras_block_model(keras_densenet.conv_block, shape, 8, name="conv2_block1")
    copy_weights_to(reference, layer)
    x = random_input((2,) + shape)
    assert_same_outputs(layer, reference, x)
    out = np.asarray(layer(x, training=False))
    assert out.shape == (2, 7, 7, 32)
    np.testing.assert_array_equal(out[..., :24], x)  # the input passes through unchanged


def test_dense_block_matches_keras_dense_block(randomize):
    # keras' dense_block hard-codes growth rate 32.
    shape = (6, 6, 16)
    block = DenseBlock(3, growth_rate=32, name="conv3")
    randomize(wrap(block, shape))
    reference = keras_block_model(keras_densenet.dense_block, shape, 3, name="conv3")
    copy_weights_to(reference, block)
    assert [sub.name for sub in block.dense_layers] == ["conv3_block1", "conv3_block2", "conv3_block3"]
    x = random_input((2,) + shape)
    assert_same_outputs(block, reference, x)
    assert block(x).shape == (2, 6, 6, 16 + 3 * 32)


@pytest.mark.parametrize("reduction, size", [(0.5, 8), (0.5, 7), (0.25, 6)])
def test_transition_block_matches_keras_transition_block(randomize, reduction, size):
    shape = (size, size, 12)
    block = TransitionBlock(reduction, name="pool2")
    randomize(wrap(block, shape))
    reference = keras_block_model(keras_densenet.transition_block, shape, reduction, name="pool2")
    copy_weights_to(reference, block)
    x = random_input((2,) + shape)
    assert_same_outputs(block, reference, x)
    assert block(x).shape == (2, size // 2, size // 2, int(12 * reduction))


def test_dense_layer_formula(randomize):
    """concat([x, conv3x3(relu(bn1(conv1x1(relu(bn0(x))))))]) with BN = (x - mean) / sqrt(var + eps) * g + b."""
    layer = DenseLayer(4, bottleneck_factor=2, epsilon=1e-3, name="d")
    randomize(wrap(layer, (5, 5, 3)))
    s = sublayers(layer)
    assert s["d_0_bn"].epsilon == s["d_1_bn"].epsilon == 1e-3
    x = random_input((1, 5, 5, 3))
    (w1,) = s["d_1_conv"].get_weights()
    (w2,) = s["d_2_conv"].get_weights()
    assert w1.shape == (1, 1, 3, 8) and w2.shape == (3, 3, 8, 4)
    h = relu(batch_norm(np.einsum("bijc,cd->bijd", relu(batch_norm(x, s["d_0_bn"])), w1[0, 0]), s["d_1_bn"]))
    padded = np.pad(h, ((0, 0), (1, 1), (1, 1), (0, 0)))
    new = sum(np.einsum("bijc,cd->bijd", padded[:, i : i + 5, j : j + 5], w2[i, j]) for i in range(3) for j in range(3))
    np.testing.assert_allclose(layer(x, training=False), np.concatenate([x, new], axis=-1), rtol=1e-5, atol=1e-5)


def test_names():
    layer = DenseLayer(32, name="conv4_block7")
    layer.build((None, 14, 14, 64))
    assert set(sublayers(layer)) == {
        f"conv4_block7_{s}" for s in ["0_bn", "0_relu", "1_conv", "1_bn", "1_relu", "2_conv", "concat"]
    }
    transition = TransitionBlock(name="pool3")
    transition.build((None, 14, 14, 64))
    assert set(sublayers(transition)) == {"pool3_bn", "pool3_relu", "pool3_conv", "pool3_pool"}
    block = DenseBlock(2, name="conv5")
    block.build((None, 7, 7, 64))
    assert {n for n in sublayers(block) if n.endswith("_2_conv")} == {"conv5_block1_2_conv", "conv5_block2_2_conv"}


def test_defaults_are_keras_applications():
    layer = DenseLayer(name="x")
    layer.build((None, 4, 4, 8))
    s = sublayers(layer)
    assert s["x_1_conv"].filters == 128 and s["x_2_conv"].filters == 32
    assert not s["x_1_conv"].use_bias and s["x_0_bn"].epsilon == 1.001e-5
    transition = TransitionBlock(name="t")
    transition.build((None, 4, 4, 10))
    assert sublayers(transition)["t_conv"].filters == 5 and not sublayers(transition)["t_conv"].use_bias


def test_training_flag_reaches_batch_norm():
    assert_training_reaches_batch_norm(DenseBlock(2, growth_rate=4, name="blk"), (4, 4, 3), "blk_block1_0_bn")


def test_errors():
    with pytest.raises(ValueError, match="reduction"):
        TransitionBlock(0.0)
    with pytest.raises(ValueError, match="reduction"):
        TransitionBlock(1.5)
    with pytest.raises(ValueError, match="growth_rate"):
        DenseLayer(0)
    with pytest.raises(ValueError, match="num_layers"):
        DenseBlock(0)
    with pytest.raises(ValueError, match=">= 2"):
        TransitionBlock(name="pool4")(keras.Input((1, 1, 8)))


def test_unknown_spatial_size():
    x = keras.Input((None, None, 8))
    y = TransitionBlock(0.5)(DenseBlock(2, growth_rate=4)(x))
    assert tuple(y.shape) == (None, None, None, 8)


@pytest.mark.parametrize(
    "layer, shape",
    [
        (DenseLayer(4, bottleneck_factor=2, epsilon=1e-3, use_bias=True, name="conv2_block1"), (2, 5, 5, 3)),
        (DenseBlock(3, growth_rate=4, name="conv3"), (2, 4, 4, 6)),
        (TransitionBlock(0.5, epsilon=1e-4, name="pool2"), (2, 6, 5, 8)),
    ],
)
def test_save_and_reload(roundtrip, randomize, layer, shape):
    assert_reloads(roundtrip, randomize, layer, shape)


def test_config_is_complete():
    cases = [
        (DenseLayer(12, bottleneck_factor=2, epsilon=1e-3, use_bias=True), dict(growth_rate=12, bottleneck_factor=2, epsilon=1e-3, use_bias=True)),
        (DenseBlock(5, growth_rate=12, bottleneck_factor=3, epsilon=1e-4, use_bias=True),
         dict(num_layers=5, growth_rate=12, bottleneck_factor=3, epsilon=1e-4, use_bias=True)),
        (TransitionBlock(0.25, epsilon=1e-3, use_bias=True), dict(reduction=0.25, epsilon=1e-3, use_bias=True)),
    ]
    for layer, expected in cases:
        assert_config(layer, expected)
