"""Padding1D/2D/3D: exact values, agreement with numpy.pad, errors, shapes, save/reload."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layers.padding import MODES, Padding1D, Padding2D, Padding3D

NUMPY_MODE = {
    "constant": "constant",
    "reflect": "reflect",
    "replicate": "edge",
    "symmetric": "symmetric",
    "circular": "wrap",
}
LAYERS = {1: Padding1D, 2: Padding2D, 3: Padding3D}


def numpy_reference(x, pairs, mode, constant_value=0.0):
    """numpy.pad over the spatial axes of a channels-last batch."""
    pad_width = ((0, 0),) + tuple(pairs) + ((0, 0),)
    kwargs = {"constant_values": constant_value} if mode == "constant" else {}
    return np.pad(x, pad_width, mode=NUMPY_MODE[mode], **kwargs)


def as_batch(values):
    return np.asarray(values, "float32").reshape(1, -1, 1)


# Exact values --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("constant", [0, 0, 1, 2, 3, 0, 0]),
        ("replicate", [1, 1, 1, 2, 3, 3, 3]),
        ("symmetric", [2, 1, 1, 2, 3, 3, 2]),
        ("circular", [2, 3, 1, 2, 3, 1, 2]),
        ("reflect", [3, 2, 1, 2, 3, 2, 1]),
    ],
)
def test_1d_exact_values(mode, expected):
    out = Padding1D(2, mode=mode)(as_batch([1, 2, 3]))
    np.testing.assert_array_equal(np.asarray(out)[0, :, 0], expected)


def test_constant_value_and_int_dtype():
    out = Padding1D((1, 2), constant_value=-5)(np.array([[[1], [2]]], "int32"))
    assert out.dtype == "int32"
    np.testing.assert_array_equal(np.asarray(out)[0, :, 0], [-5, 1, 2, -5, -5])


def test_1d_padding_forms_are_equivalent():
    x = as_batch([1, 2, 3, 4])
    expected = numpy_reference(x, [(1, 2)], "reflect")
    for padding in [(1, 2), [1, 2], ((1, 2),), [[1, 2]]]:
        layer = Padding1D(padding, mode="reflect")
        assert layer.padding == ((1, 2),)
        np.testing.assert_array_equal(layer(x), expected)
    assert Padding1D(3).padding == ((3, 3),)
    assert Padding1D((3,)).padding == ((3, 3),)


# Per-axis and asymmetric padding against numpy.pad -------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "padding, pairs",
    [(((1, 2), 3), [(1, 2), (3, 3)]), ((0, (2, 0)), [(0, 0), (2, 0)]), (2, [(2, 2)] * 2)],
)
def test_2d_matches_numpy(mode, padding, pairs):
    x = np.random.default_rng(0).normal(size=(2, 4, 5, 3)).astype("float32")
    out = Padding2D(padding, mode=mode)(x)
    np.testing.assert_array_equal(out, numpy_reference(x, pairs, mode))


@pytest.mark.parametrize("mode", MODES)
def test_3d_matches_numpy(mode):
    x = np.random.default_rng(1).normal(size=(2, 3, 4, 5, 2)).astype("float32")
    pairs = [(1, 0), (2, 1), (0, 3)]
    out = Padding3D([(1, 0), (2, 1), (0, 3)], mode=mode)(x)
    np.testing.assert_array_equal(out, numpy_reference(x, pairs, mode))


def test_constant_value_2d():
    x = np.ones((1, 2, 2, 1), "float32")
    out = Padding2D((1, (0, 1)), constant_value=0.5)(x)
    np.testing.assert_array_equal(out, numpy_reference(x, [(1, 1), (0, 1)], "constant", 0.5))


@st.composite
def padding_cases(draw):
    rank = draw(st.integers(1, 3))
    mode = draw(st.sampled_from(MODES))
    shape = [draw(st.integers(1, 2))] + [draw(st.integers(1, 4)) for _ in range(rank)]
    shape.append(draw(st.integers(1, 2)))
    pairs = []
    for size in shape[1:-1]:
        limit = {"reflect": size - 1, "symmetric": size, "circular": size}.get(mode, 5)
        pairs.append((draw(st.integers(0, limit)), draw(st.integers(0, limit))))
    seed = draw(st.integers(0, 2**16))
    return mode, pairs, np.random.default_rng(seed).normal(size=shape).astype("float32")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(padding_cases())
def test_property_matches_numpy_pad(case):
    mode, pairs, x = case
    layer = LAYERS[len(pairs)](pairs, mode=mode)
    out = np.asarray(layer(x))
    expected = numpy_reference(x, pairs, mode)
    np.testing.assert_array_equal(out, expected)
    assert layer.compute_output_shape(x.shape) == expected.shape


# Errors --------------------------------------------------------------------------------------


def test_unknown_mode_lists_valid_modes():
    with pytest.raises(ValueError, match="edge") as info:
        Padding2D(1, mode="edge")
    for mode in MODES:
        assert mode in str(info.value)


@pytest.mark.parametrize("padding", [-1, (1, -2), ((0, 1), -1), [(1, 1), (0, -3)]])
def test_negative_padding(padding):
    cls = Padding1D if padding in (-1, (1, -2)) else Padding2D
    with pytest.raises(ValueError, match=">= 0"):
        cls(padding)


@pytest.mark.parametrize("padding", [(1, 2, 3), ((1, 2, 3),), "1", 1.5])
def test_malformed_padding(padding):
    with pytest.raises((ValueError, TypeError)):
        Padding2D(padding)


def test_constant_value_only_for_constant_mode():
    with pytest.raises(ValueError, match="constant_value"):
        Padding1D(1, mode="reflect", constant_value=1.0)


@pytest.mark.parametrize(
    "mode, padding, ok",
    [
        ("reflect", 2, True),
        ("reflect", 3, False),
        ("symmetric", 3, True),
        ("symmetric", 4, False),
        ("circular", 3, True),
        ("circular", 4, False),
        ("replicate", 10, True),
        ("constant", 10, True),
    ],
)
def test_size_limits(mode, padding, ok):
    # Axis 2 (the columns) has size 3; the rows (size 6) are never the problem.
    x = np.zeros((1, 6, 3, 1), "float32")
    layer = Padding2D((0, (0, padding)), mode=mode)
    if ok:
        assert layer(x).shape == (1, 6, 3 + padding, 1)
        return
    with pytest.raises(ValueError, match=r"axis 2 .* size 3") as info:
        layer(x)
    assert mode in str(info.value)
    # Same error when the model is built symbolically.
    with pytest.raises(ValueError, match=r"axis 2 .* size 3"):
        Padding2D((0, (0, padding)), mode=mode)(keras.Input((6, 3, 1)))


def test_size_limit_checked_at_run_time_for_unknown_sizes():
    layer = Padding1D(3, mode="reflect")
    fn = tf.function(layer, input_signature=[tf.TensorSpec((None, None, 1), tf.float32)])
    assert fn(tf.zeros((2, 4, 1))).shape == (2, 10, 1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="reflect"):
        fn(tf.zeros((2, 3, 1)))


def test_wrong_rank():
    with pytest.raises(ValueError):
        Padding2D(1)(np.zeros((1, 3, 1), "float32"))


# Shapes, symbolic inputs, tf.function --------------------------------------------------------


def test_output_shape_with_none_dims():
    layer = Padding3D(((1, 2), 0, 3), mode="replicate")
    assert layer.compute_output_shape((None, None, 4, None, 2)) == (None, None, 4, None, 2)
    assert layer.compute_output_shape((None, 5, 4, 1, 2)) == (None, 8, 4, 7, 2)
    y = Padding2D(((1, 2), 3), mode="circular")(keras.Input((None, 4, 3)))
    assert tuple(y.shape) == (None, None, 10, 3)


@pytest.mark.parametrize("mode", MODES)
def test_functional_model_and_tf_function_with_unknown_sizes(mode):
    inputs = keras.Input((None, None, 2))
    model = keras.Model(inputs, Padding2D(((1, 0), 2), mode=mode)(inputs))
    fn = tf.function(model, input_signature=[tf.TensorSpec((None, None, None, 2), tf.float32)])
    x = np.random.default_rng(2).normal(size=(3, 3, 4, 2)).astype("float32")
    expected = numpy_reference(x, [(1, 0), (2, 2)], mode)
    np.testing.assert_array_equal(fn(x), expected)
    np.testing.assert_array_equal(model.predict(x, verbose=0), expected)


def test_gradient_flows_to_border_copies():
    x = tf.constant(as_batch([1, 2, 3]))
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(Padding1D(2, mode="replicate")(x))
    grad = tape.gradient(total, x)
    np.testing.assert_array_equal(np.asarray(grad)[0, :, 0], [3, 1, 3])


# Save / reload -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "layer, shape",
    [
        (Padding1D((1, 2), mode="reflect"), (2, 4, 3)),
        (Padding2D(((1, 2), 1), mode="circular"), (2, 3, 4, 2)),
        (Padding3D((1, 0, (0, 2)), mode="constant", constant_value=2.5), (1, 2, 3, 4, 1)),
        (Padding3D(1, mode="replicate"), (1, 2, 2, 2, 1)),
    ],
)
def test_save_and_reload(roundtrip, layer, shape):
    x = np.random.default_rng(3).normal(size=shape).astype("float32")
    pairs = layer.padding
    got = roundtrip(layer, x)
    np.testing.assert_array_equal(got, numpy_reference(x, pairs, layer.mode, layer.constant_value))


def test_config_is_complete():
    layer = Padding2D(((1, 2), 3), mode="symmetric", name="pad")
    config = layer.get_config()
    assert config["padding"] == ((1, 2), (3, 3))
    assert config["mode"] == "symmetric"
    assert config["constant_value"] == 0.0
    assert Padding2D.from_config(config).get_config() == config
