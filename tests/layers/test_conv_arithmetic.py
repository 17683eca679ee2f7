"""Convolution arithmetic on real Keras layers: a worked example and the output-size formulas."""

import math

import keras
import numpy as np
import pytest

from layers.padding import Padding2D

IMAGE = np.array(
    [
        [0.2, 0.1, 0.5, 0.8, 0.1],
        [0.4, 0.6, 0.2, 0.8, 0.5],
        [0.2, 0.4, 0.3, 0.9, 0.2],
        [0.5, 0.8, 0.1, 0.2, 0.7],
        [0.8, 0.7, 0.9, 0.5, 0.5],
    ]
)
KERNEL = np.array([[1, 1, 1], [0, 0, 0], [-1, -1, -1]], dtype=float)


def cross_correlate_valid(image, kernel):
    """What deep-learning 'convolution' computes: no kernel flip, no padding, stride 1."""
    kh, kw = kernel.shape
    rows, cols = image.shape[0] - kh + 1, image.shape[1] - kw + 1
    return np.array(
        [[np.sum(image[i : i + kh, j : j + kw] * kernel) for j in range(cols)] for i in range(rows)]
    )


def conv2d_with_kernel(kernel, input_shape):
    layer = keras.layers.Conv2D(1, kernel.shape, padding="valid", use_bias=False)
    layer.build((None,) + input_shape)
    layer.set_weights([kernel.reshape(kernel.shape + (1, 1)).astype("float32")])
    return layer


def test_worked_example_first_output():
    layer = conv2d_with_kernel(KERNEL, (5, 5, 1))
    out = np.asarray(layer(IMAGE.reshape(1, 5, 5, 1).astype("float32")))[0, :, :, 0] / 9
    assert out.shape == (3, 3)
    exact = (0.2 + 0.1 + 0.5 - 0.2 - 0.4 - 0.3) / 9  # top row minus bottom row of the 3x3 window
    assert out[0, 0] == pytest.approx(exact, abs=1e-7)
    assert out[0, 0] == pytest.approx(-0.0111, abs=5e-5)
    assert round(float(out[0, 0]), 2) == -0.01


def test_worked_example_whole_output_is_a_cross_correlation():
    layer = conv2d_with_kernel(KERNEL, (5, 5, 1))
    out = np.asarray(layer(IMAGE.reshape(1, 5, 5, 1).astype("float32")))[0, :, :, 0] / 9
    expected = cross_correlate_valid(IMAGE, KERNEL) / 9
    np.testing.assert_allclose(out, expected, atol=1e-7)
    # A true (flipped-kernel) convolution would give the negated result for this kernel.
    flipped = cross_correlate_valid(IMAGE, KERNEL[::-1, ::-1]) / 9
    np.testing.assert_allclose(flipped, -expected, atol=1e-12)
    assert not np.allclose(out, flipped)


# Output sizes --------------------------------------------------------------------------------


def expected_size(n, k, stride, dilation, padding):
    effective_kernel = dilation * (k - 1) + 1
    if padding == "valid":
        return math.floor((n - effective_kernel) / stride) + 1
    return math.ceil(n / stride)


# (n, k, stride, dilation)
SIZE_CASES = [
    (5, 3, 1, 1),  # valid: n - k + 1 = 3; same: 5
    (7, 1, 1, 1),
    (8, 5, 1, 1),
    (7, 3, 2, 1),  # floor((7 - 3) / 2) + 1 = 3; ceil(7 / 2) = 4
    (8, 3, 2, 1),  # 3; 4
    (9, 4, 3, 1),  # 2; 3
    (10, 3, 4, 1),  # 2; 3
    (9, 3, 1, 2),  # effective kernel 5: 5; 9
    (10, 3, 1, 3),  # effective kernel 7: 4; 10
    (12, 2, 1, 4),  # effective kernel 5: 8; 12
]


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("n, k, stride, dilation", SIZE_CASES)
def test_conv1d_output_size(n, k, stride, dilation, padding):
    layer = keras.layers.Conv1D(2, k, strides=stride, dilation_rate=dilation, padding=padding)
    out = layer(np.zeros((1, n, 1), "float32"))
    size = expected_size(n, k, stride, dilation, padding)
    assert out.shape == (1, size, 2)
    assert tuple(layer.compute_output_shape((None, n, 1))) == (None, size, 2)


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("n, k, stride, dilation", SIZE_CASES)
def test_conv2d_output_size(n, k, stride, dilation, padding):
    # Non-square input (n rows, n + 3 columns), same kernel / stride / dilation on both axes.
    layer = keras.layers.Conv2D(2, k, strides=stride, dilation_rate=dilation, padding=padding)
    out = layer(np.zeros((1, n, n + 3, 1), "float32"))
    rows = expected_size(n, k, stride, dilation, padding)
    cols = expected_size(n + 3, k, stride, dilation, padding)
    assert out.shape == (1, rows, cols, 2)
    symbolic = keras.layers.Conv2D(2, k, strides=stride, dilation_rate=dilation, padding=padding)(
        keras.Input((n, n + 3, 1))
    )
    assert tuple(symbolic.shape) == (None, rows, cols, 2)


def test_valid_size_formula_special_cases():
    assert expected_size(5, 3, 1, 1, "valid") == 5 - 3 + 1
    assert expected_size(5, 3, 1, 1, "same") == 5
    assert expected_size(9, 3, 1, 2, "valid") == expected_size(9, 5, 1, 1, "valid")


@pytest.mark.parametrize("n, k", [(5, 3), (6, 3), (8, 5), (7, 7)])
def test_reflect_padding_then_valid_conv_keeps_size(n, k):
    x = np.random.default_rng(0).normal(size=(2, n, n + 1, 3)).astype("float32")
    inputs = keras.Input((None, None, 3))
    padded = Padding2D(k // 2, mode="reflect")(inputs)
    outputs = keras.layers.Conv2D(4, k, padding="valid")(padded)
    model = keras.Model(inputs, outputs)
    assert model(x).shape == (2, n, n + 1, 4)
    # Same size as padding="same", but the border sees mirrored pixels instead of zeros.
    conv = model.layers[-1]
    same = keras.layers.Conv2D(4, k, padding="same")
    same.build((None, n, n + 1, 3))
    same.set_weights(conv.get_weights())
    same_out = np.asarray(same(x))
    reflect_out = np.asarray(model(x))
    assert same_out.shape == reflect_out.shape
    half = k // 2
    interior = (slice(None), slice(half, n - half), slice(half, n + 1 - half))
    np.testing.assert_allclose(reflect_out[interior], same_out[interior], rtol=1e-5, atol=1e-5)
    assert not np.allclose(reflect_out, same_out)
