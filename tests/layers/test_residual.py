"""BasicBlock / BottleneckBlock: the formula, keras.applications' block, shortcuts, names, save/reload."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from block_checks import assert_config, assert_reloads, assert_same_outputs, assert_training_reaches_batch_norm
from block_checks import batch_norm, copy_weights_to, keras_block_model, random_input, relu, sublayers, wrap
from keras.src.applications.resnet import residual_block_v1

from layers.residual import BasicBlock, BottleneckBlock

# The formula ---------------------------------------------------------------------------------


def conv(x, layer, stride=1, padding="SAME"):
    """tf.nn.conv2d with the weights of a Conv2D layer; padding as tf.nn.conv2d takes it."""
    weights = layer.get_weights()
    y = tf.nn.conv2d(x, weights[0], strides=stride, padding=padding)
    return y + weights[1] if len(weights) == 2 else y


@pytest.mark.parametrize("stride, in_channels, filters", [(1, 8, 8), (2, 8, 16), (1, 4, 8), (2, 8, 8)])
@pytest.mark.parametrize("size", [8, 7])
def test_basic_block_matches_the_formula(randomize, stride, in_channels, filters, size):
    """relu(shortcut(x) + bn2(conv2(relu(bn1(conv1(x)))))), with PyTorch's symmetric padding 1."""
    block = BasicBlock(filters, stride=stride, name="conv3_block1")
    randomize(wrap(block, (size, size, in_channels)))
    x = random_input((2, size, size, in_channels))
    s = sublayers(block)
    torch_padding = [[0, 0], [1, 1], [1, 1], [0, 0]]  # torch.nn.Conv2d(padding=1)
    y = relu(batch_norm(conv(x, s["conv3_block1_1_conv"], stride, torch_padding), s["conv3_block1_1_bn"]))
    y = batch_norm(conv(y, s["conv3_block1_2_conv"]), s["conv3_block1_2_bn"])
    if stride != 1 or in_channels != filters:
        shortcut = batch_norm(conv(x, s["conv3_block1_0_conv"], stride, "VALID"), s["conv3_block1_0_bn"])
    else:
        shortcut = x
        assert "conv3_block1_0_conv" not in s
    expected = relu(shortcut + y)
    got = block(x, training=False)
    assert got.shape == (2, -(-size // stride), -(-size // stride), filters)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "in_channels, filters, stride, conv_shortcut",
    [(8, 4, 1, True), (16, 8, 2, True), (16, 4, 1, False)],  # conv2_block1, conv3_block1, conv2_block2
)
def test_bottleneck_block_matches_keras_applications(randomize, in_channels, filters, stride, conv_shortcut):
    shape = (9, 9, in_channels)
    block = BottleneckBlock(filters, stride=stride, name="conv3_block1")
    randomize(wrap(block, shape))
    # keras.applications.ResNet50's block, built from plain Keras layers.
    reference = keras_block_model(
        residual_block_v1, shape, filters, stride=stride, conv_shortcut=conv_shortcut, name="conv3_block1"
    )
    # Same names as keras.applications, sub-layer for sub-layer (shortcut included or not).
    copy_weights_to(reference, block)
    assert_same_outputs(block, reference, random_input((2,) + shape))


def test_sub_layer_names():
    block = BottleneckBlock(64, name="conv2_block1")
    block.build((None, 56, 56, 64))
    assert set(sublayers(block)) == {
        f"conv2_block1_{suffix}"
        for suffix in ["0_conv", "0_bn", "1_conv", "1_bn", "1_relu", "2_conv", "2_bn", "2_relu", "3_conv", "3_bn", "add", "out"]
    }
    basic = BasicBlock(64, stride=2, name="conv3_block1")
    basic.build((None, 56, 56, 64))
    assert set(sublayers(basic)) == {
        f"conv3_block1_{suffix}"
        for suffix in ["0_conv", "0_bn", "1_pad", "1_conv", "1_bn", "1_relu", "2_conv", "2_bn", "add", "out"]
    }


# Shortcuts, bias, epsilon --------------------------------------------------------------------


def test_projection_auto_true_false():
    # auto: identity when nothing changes, projection when the stride or the channels do.
    assert sum(w.size for w in _weights(BasicBlock(8), (6, 6, 8))) == 2 * (9 * 64) + 2 * 4 * 8
    with_projection = _weights(BasicBlock(8, projection=True), (6, 6, 8))
    assert len(with_projection) == len(_weights(BasicBlock(8), (6, 6, 8))) + 5  # 1x1 kernel + 4 BN vectors
    assert len(_weights(BasicBlock(8, stride=2), (6, 6, 8))) == len(with_projection)
    assert len(_weights(BottleneckBlock(2), (6, 6, 8))) == 3 * 2 + 3 * 4  # 3 convs with bias, 3 BNs
    # Identity is impossible when the shape changes.
    with pytest.raises(ValueError, match="identity shortcut"):
        BottleneckBlock(4, projection=False)(keras.Input((6, 6, 8)))
    with pytest.raises(ValueError, match="identity shortcut"):
        BasicBlock(8, stride=2, projection=False)(keras.Input((6, 6, 8)))


def _weights(block, shape):
    block.build((None,) + shape)
    return [np.asarray(w) for w in block.weights]


def test_use_bias_and_epsilon():
    block = BottleneckBlock(4, use_bias=False, epsilon=1e-3, expansion=2, name="b")
    block.build((None, 5, 5, 6))  # 6 -> 8 channels: a projection
    s = sublayers(block)
    assert all(not s[f"b_{i}_conv"].use_bias for i in range(4))
    assert all(s[f"b_{i}_bn"].epsilon == 1e-3 for i in range(4))
    assert s["b_3_conv"].filters == 8
    basic = BasicBlock(4, name="c")
    basic.build((None, 5, 5, 4))
    assert not sublayers(basic)["c_1_conv"].use_bias and sublayers(basic)["c_1_bn"].epsilon == 1e-5


@pytest.mark.parametrize(
    "kwargs", [{"filters": 0}, {"filters": 2.5}, {"filters": 4, "stride": 0}, {"filters": 4, "projection": "yes"}]
)
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        BottleneckBlock(**kwargs)


def test_training_flag_reaches_batch_norm():
    assert_training_reaches_batch_norm(BasicBlock(4, name="t"), (5, 5, 4), "t_1_bn")


def test_symbolic_unknown_spatial_size():
    y = BottleneckBlock(4, stride=2)(keras.Input((None, None, 3)))
    assert tuple(y.shape) == (None, None, None, 16)
    assert BasicBlock(8, stride=2).compute_output_shape((None, 7, 8, 3)) == (None, 4, 4, 8)


# Save / reload -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "layer, shape",
    [
        (BasicBlock(8, stride=2, name="conv3_block1"), (2, 7, 6, 4)),
        (BasicBlock(4, name="conv2_block2"), (2, 5, 5, 4)),
        (BottleneckBlock(2, stride=2, projection=True, use_bias=False, epsilon=1e-3, name="conv4_block1"), (2, 6, 6, 8)),
        (BottleneckBlock(2, expansion=2, name="conv5_block2"), (1, 4, 4, 4)),
    ],
)
def test_save_and_reload(roundtrip, randomize, layer, shape):
    assert_reloads(roundtrip, randomize, layer, shape)


def test_config_is_complete():
    block = BottleneckBlock(16, stride=2, projection=False, use_bias=False, epsilon=1e-3, expansion=2, name="blk")
    assert_config(block, dict(filters=16, stride=2, projection=False, use_bias=False, epsilon=1e-3, expansion=2))
    basic = BasicBlock(8, projection="auto", name="b")
    assert_config(basic, dict(filters=8, stride=1, projection="auto", use_bias=False, epsilon=1e-5))
