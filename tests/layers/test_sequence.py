"""layers.sequence: causality, receptive field, agreement with plain Keras layers, masks, save/reload."""

import keras
import numpy as np
import pytest
from keras import layers

from layers.sequence import (
    ApplyMask,
    CausalDilatedResidualBlock,
    LastTimeStep,
    MaskedGlobalPooling1D,
    PadToLength,
    PaddingMask,
    SeriesStandardization,
    SinusoidalPositionEmbedding,
    receptive_field,
    sinusoidal_positions,
)

RNG = np.random.default_rng(0)


def sequences(batch=2, time=20, channels=3, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, time, channels)).astype("float32")


def sublayer_names(layer):
    return sorted(sub.name for sub in layer._flatten_layers(include_self=False, recursive=False))


def masked_roundtrip(tmp_path, layer, x, mask):
    """Save / reload a model calling `layer(x, mask=mask)` with the mask as a second input."""
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config
    xin = keras.Input(x.shape[1:], name="x")
    min_ = keras.Input(mask.shape[1:], dtype="bool", name="mask")
    model = keras.Model([xin, min_], layer(xin, mask=min_))
    expected = np.asarray(model([x, mask]))
    model.save(tmp_path / "m.keras")
    got = np.asarray(keras.saving.load_model(tmp_path / "m.keras")([x, mask]))
    np.testing.assert_array_equal(got, expected)
    return got


# receptive field ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kernel, dilations, convs, expected",
    [
        (3, (1, 2, 4, 8), 2, 1 + 2 * 2 * (1 + 2 + 4 + 8)),
        (2, (1, 2, 4, 8, 16), 1, 32),  # WaveNet's stack: 2^5 steps
        (7, (1,), 2, 13),
        ((8, 5, 3), (1, 1, 1), 1, 14),
        (1, (1, 2), 2, 1),
    ],
)
def test_receptive_field_formula(kernel, dilations, convs, expected):
    assert receptive_field(kernel, dilations, convs_per_block=convs) == expected
    kernels = kernel if isinstance(kernel, tuple) else (kernel,) * len(dilations)
    assert expected == 1 + sum(convs * (k - 1) * d for k, d in zip(kernels, dilations))


def test_receptive_field_rejects_bad_arguments():
    with pytest.raises(ValueError, match="kernel sizes"):
        receptive_field((3, 3), (1, 2, 4))
    with pytest.raises(ValueError, match="dilation"):
        receptive_field(3, (1, 0))


@pytest.mark.parametrize("kernel, dilations", [(3, (1, 2, 4)), (2, (1, 3)), (4, (2, 1, 5))])
def test_receptive_field_is_what_a_stack_of_blocks_sees(kernel, dilations):
    """The last output moves with input step T - rf and not with step T - rf - 1 (linear blocks)."""
    rf = receptive_field(kernel, dilations, convs_per_block=2)
    time = rf + 5
    inputs = keras.Input((time, 2))
    x = inputs
    for i, d in enumerate(dilations):
        x = CausalDilatedResidualBlock(4, kernel_size=kernel, dilation_rate=d, activation="linear", name=f"b{i}")(x)
    model = keras.Model(inputs, x)
    base = sequences(1, time, 2)
    changed = np.repeat(base, time, axis=0)  # copy t has its step t changed
    changed[np.arange(time), np.arange(time)] += 1.0
    out = np.asarray(model(np.concatenate([base, changed])))[:, -1]
    sensitive = [not np.array_equal(out[1 + t], out[0]) for t in range(time)]
    assert sensitive == [False] * (time - rf) + [True] * rf
    assert sum(block.receptive_field_increase for block in model.layers[1:]) == rf - 1


# causal dilated residual block ----------------------------------------------------------------------


@pytest.mark.parametrize("kernel, dilation, filters", [(3, 1, 3), (3, 4, 5), (2, 8, 3), (5, 2, 6)])
def test_block_is_causal(kernel, dilation, filters):
    """Changing input step t changes no output before t (and does change the output at t)."""
    block = CausalDilatedResidualBlock(filters, kernel_size=kernel, dilation_rate=dilation, dropout=0.3)
    x = sequences(2, 24, 3)
    base = np.asarray(block(x))
    for t in (0, 7, 15, 23):
        changed = x.copy()
        changed[:, t] += RNG.normal(size=(2, 3)) * 3
        out = np.asarray(block(changed))
        np.testing.assert_array_equal(out[:, :t], base[:, :t])
        assert not np.array_equal(out[:, t], base[:, t])


def plain_block(input_shape, filters, kernel, dilation, normalization):
    """The same block written with plain Keras layers (the reference)."""
    inputs = keras.Input(input_shape)
    y = inputs
    for i in (1, 2):
        y = layers.Conv1D(filters, kernel, padding="causal", dilation_rate=dilation, name=f"c{i}")(y)
        if normalization == "layer":
            y = layers.LayerNormalization(epsilon=1e-5, name=f"n{i}")(y)
        y = layers.ReLU()(y)
    shortcut = inputs if input_shape[-1] == filters else layers.Conv1D(filters, 1, name="c0")(inputs)
    return keras.Model(inputs, layers.ReLU()(layers.Add()([shortcut, y])))


@pytest.mark.parametrize("channels, filters, normalization", [(4, 4, None), (3, 6, None), (5, 5, "layer")])
def test_block_matches_plain_keras_layers(randomize, channels, filters, normalization):
    x = sequences(2, 17, channels, seed=3)
    reference = randomize(plain_block((17, channels), filters, 3, 2, normalization))
    block = CausalDilatedResidualBlock(filters, kernel_size=3, dilation_rate=2, normalization=normalization,
                                       name="block1")
    inputs = keras.Input((17, channels))
    model = keras.Model(inputs, block(inputs))
    sub = {s.name: s for s in block._flatten_layers(include_self=False, recursive=False)}
    pairs = [("block1_1_conv", "c1"), ("block1_2_conv", "c2")]
    if channels != filters:
        pairs.append(("block1_0_conv", "c0"))
    if normalization:
        pairs += [("block1_1_ln", "n1"), ("block1_2_ln", "n2")]
    for ours, theirs in pairs:
        sub[ours].set_weights(reference.get_layer(theirs).get_weights())
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(reference(x)), rtol=1e-5, atol=1e-6)


def test_block_names_and_shortcut():
    block = CausalDilatedResidualBlock(8, kernel_size=3, dilation_rate=4, dropout=0.1, name="block3")
    block.build((None, None, 2))
    assert sublayer_names(block) == sorted(
        ["block3_0_conv", "block3_1_conv", "block3_1_relu", "block3_1_drop", "block3_2_conv", "block3_2_relu",
         "block3_2_drop", "block3_add", "block3_out"]
    )
    same = CausalDilatedResidualBlock(2, name="b")
    same.build((None, None, 2))
    assert same.shortcut is None and "b_0_conv" not in sublayer_names(same)
    assert block.receptive_field_increase == 2 * 2 * 4


def test_block_passes_a_keras_mask_and_any_length():
    inputs = keras.Input((None, 2))
    masked = layers.Masking(0.0)(inputs)
    out = CausalDilatedResidualBlock(4, name="b")(masked)
    assert out.shape == (None, None, 4)
    model = keras.Model(inputs, out)
    assert np.asarray(model(sequences(1, 9, 2))).shape == (1, 9, 4)


def test_block_rejects_bad_arguments():
    with pytest.raises(ValueError, match="normalization"):
        CausalDilatedResidualBlock(4, normalization="batch")
    with pytest.raises(ValueError, match="filters"):
        CausalDilatedResidualBlock(0)
    with pytest.raises(ValueError, match="dropout"):
        CausalDilatedResidualBlock(4, dropout=1.0)


def test_block_roundtrip(roundtrip):
    block = CausalDilatedResidualBlock(6, kernel_size=2, dilation_rate=3, dropout=0.2, normalization="layer",
                                       activation="gelu", name="block2")
    roundtrip(block, sequences(2, 11, 3))


# sinusoidal positions -------------------------------------------------------------------------------


def test_sinusoidal_table_follows_the_paper():
    table = sinusoidal_positions(50, 8)
    pos = np.arange(50)[:, None]
    for i in range(4):
        np.testing.assert_allclose(table[:, 2 * i], np.sin(pos[:, 0] / 10000 ** (2 * i / 8)), atol=1e-6)
        np.testing.assert_allclose(table[:, 2 * i + 1], np.cos(pos[:, 0] / 10000 ** (2 * i / 8)), atol=1e-6)
    np.testing.assert_allclose(table[0], [0, 1] * 4)


@pytest.mark.parametrize("time, dim", [(1, 4), (13, 6), (40, 7)])
def test_sinusoidal_layer_adds_the_table_for_any_length(time, dim):
    layer = SinusoidalPositionEmbedding()
    x = sequences(2, time, dim)
    np.testing.assert_allclose(np.asarray(layer(x)), x + sinusoidal_positions(time, dim)[None], atol=1e-5)
    assert not layer.weights


def test_sinusoidal_roundtrip_and_mask(roundtrip):
    roundtrip(SinusoidalPositionEmbedding(base=100.0, name="pos"), sequences(2, 5, 4))
    inputs = keras.Input((None, 4))
    out = SinusoidalPositionEmbedding()(layers.Masking(0.0)(inputs))
    assert getattr(out, "_keras_mask", None) is not None
    with pytest.raises(ValueError, match="base"):
        SinusoidalPositionEmbedding(base=1.0)


# masks -----------------------------------------------------------------------------------------------


def test_padding_mask_for_tokens_features_and_grids(roundtrip):
    tokens = np.array([[5, 2, 0, 0], [1, 0, 3, 0]], "int32")
    np.testing.assert_array_equal(np.asarray(PaddingMask()(tokens)), tokens != 0)
    x = np.zeros((2, 4, 3), "float32")
    x[0, :2, 1] = 1.0
    x[1, 3, 0] = -2.0
    np.testing.assert_array_equal(np.asarray(PaddingMask()(x)), [[True, True, False, False],
                                                                 [False, False, False, True]])
    np.testing.assert_array_equal(np.asarray(PaddingMask(mask_value=-1.0)(x - 1.0)), np.asarray(PaddingMask()(x)))
    grid = np.zeros((1, 3, 2, 2, 1), "float32")
    grid[0, 1, 1, 0, 0] = 4.0
    np.testing.assert_array_equal(np.asarray(PaddingMask()(grid)), [[False, True, False]])
    assert keras.Input((None, 3)).shape[:2] == PaddingMask()(keras.Input((None, 3))).shape
    assert PaddingMask()(keras.Input((None, 3))).dtype == "bool"
    roundtrip(PaddingMask(mask_value=2.0, name="padding_mask"), x)


def test_apply_mask(tmp_path):
    x = sequences(2, 5, 3)
    mask = np.array([[1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], bool)
    got = masked_roundtrip(tmp_path, ApplyMask(name="zero"), x, mask)
    np.testing.assert_array_equal(got, x * mask[..., None])
    np.testing.assert_array_equal(np.asarray(ApplyMask()(x)), x)


@pytest.mark.parametrize("mode", ["avg", "max"])
def test_masked_pooling_uses_real_steps_only(tmp_path, mode):
    x = sequences(3, 6, 4)
    mask = np.array([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0]], bool)
    got = masked_roundtrip(tmp_path, MaskedGlobalPooling1D(mode, name="pool"), x, mask)
    reduce = np.mean if mode == "avg" else np.max
    np.testing.assert_allclose(got[0], reduce(x[0, :3], axis=0), rtol=1e-6)
    np.testing.assert_allclose(got[1], reduce(x[1], axis=0), rtol=1e-6)
    np.testing.assert_array_equal(got[2], np.zeros(4))  # no real step
    np.testing.assert_allclose(np.asarray(MaskedGlobalPooling1D(mode)(x)), reduce(x, axis=1), rtol=1e-6)
    with pytest.raises(ValueError, match="mode"):
        MaskedGlobalPooling1D("sum")


def test_masked_pooling_takes_a_keras_mask():
    inputs = keras.Input((None, 2))
    model = keras.Model(inputs, MaskedGlobalPooling1D("avg")(layers.Masking(0.0)(inputs)))
    x = np.array([[[1.0, 1.0], [3.0, 5.0], [0.0, 0.0]]], "float32")
    np.testing.assert_allclose(np.asarray(model(x)), [[2.0, 3.0]])


def test_last_time_step(tmp_path):
    x = sequences(3, 5, 2)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]], bool)
    got = masked_roundtrip(tmp_path, LastTimeStep(name="last"), x, mask)
    np.testing.assert_array_equal(got, np.stack([x[0, 2], x[1, 4], x[2, 0]]))
    np.testing.assert_array_equal(np.asarray(LastTimeStep()(x)), x[:, -1])


# standardization -------------------------------------------------------------------------------------


def test_series_standardization_uses_the_real_steps_of_the_training_batches(tmp_path):
    rng = np.random.default_rng(1)
    first, second = rng.normal(3.0, 2.0, (4, 6, 3)), rng.normal(-1.0, 5.0, (2, 9, 3))
    first[:, :, 2] = second[:, :, 2] = 7.0  # a constant channel: centred only
    first[1, 4:] = 0.0  # padding: left out of the statistics
    second[0, 2:] = 0.0
    layer = SeriesStandardization(name="standardize")
    assert not layer.adapted
    layer.adapt([first.astype("float32"), second.astype("float32")])
    real = np.concatenate([first.reshape(-1, 3), second.reshape(-1, 3)])
    real = real[np.any(real != 0.0, axis=-1)]
    assert layer.adapted and int(layer.count.numpy()) == len(real) == 4 * 6 - 2 + 2 * 9 - 7
    mean, std = real.mean(axis=0), real.std(axis=0)
    std[2] = 1.0
    np.testing.assert_allclose(layer.mean.numpy(), mean, rtol=1e-5)
    np.testing.assert_allclose(layer.std.numpy(), std, rtol=1e-5)
    x = sequences(2, 5, 3)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    got = masked_roundtrip(tmp_path, layer, x, mask)  # the statistics are saved with the model
    np.testing.assert_allclose(got, (x - mean) / std * mask[..., None], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(layer(x)), (x - mean) / std, rtol=1e-5, atol=1e-6)
    assert layer.non_trainable_weights and not layer.trainable_weights


def test_series_standardization_before_adapt_and_without_a_mask_value():
    x = sequences(2, 4, 2)
    layer = SeriesStandardization(mask_value=None)
    np.testing.assert_array_equal(np.asarray(layer(x)), x)  # never adapted: unchanged
    padded = np.concatenate([x, np.zeros((2, 2, 2), "float32")], axis=1)
    layer.adapt([padded])  # mask_value None: the zeros count too
    flat = padded.reshape(-1, 2)
    np.testing.assert_allclose(layer.mean.numpy(), flat.mean(axis=0), rtol=1e-5)
    assert int(layer.count.numpy()) == 12
    with pytest.raises(ValueError, match="no real"):
        SeriesStandardization().adapt([np.zeros((1, 3, 2), "float32")])
    with pytest.raises(ValueError, match="batch, time, channels"):
        SeriesStandardization().adapt([np.zeros((3, 2), "float32")])


# fixed-length padding ---------------------------------------------------------------------------


def test_pad_to_length_takes_the_longest_real_series_of_the_training_batches(tmp_path):
    first, second = sequences(3, 6, 2), sequences(2, 9, 2, seed=1)
    first[0, 4:] = 0.0  # padded: real length 4
    second[0, 7:] = second[1, 5:] = 0.0  # the longest real series has 7 steps of the 9
    second[1, 2] = 0.0  # a zero step inside a series is not padding
    layer = PadToLength(name="pad")
    assert not layer.adapted
    layer.adapt([first, second])
    assert layer.adapted and float(layer.length.numpy()) == 7.0
    x = sequences(2, 3, 2, seed=2)
    got = np.asarray(layer(x))
    assert got.shape == (2, 7, 2)
    np.testing.assert_array_equal(got[:, :3], x)
    np.testing.assert_array_equal(got[:, 3:], 0.0)
    longer = sequences(1, 10, 2)
    np.testing.assert_array_equal(np.asarray(layer(longer)), longer)  # longer series are kept whole
    model = keras.Sequential([keras.Input((None, 2)), layer])
    model.save(tmp_path / "m.keras")  # the length is saved with the model
    np.testing.assert_array_equal(np.asarray(keras.saving.load_model(tmp_path / "m.keras")(x)), got)
    assert layer.non_trainable_weights and not layer.trainable_weights
    assert PadToLength.from_config(layer.get_config()).get_config() == layer.get_config()


def test_pad_to_length_before_adapt_and_bad_batches():
    x = sequences(2, 4, 2)
    np.testing.assert_array_equal(np.asarray(PadToLength()(x)), x)  # never adapted: unchanged
    layer = PadToLength(pad_value=-1.0)
    layer.adapt([np.concatenate([x, -np.ones((2, 3, 2), "float32")], axis=1)])
    assert float(layer.length.numpy()) == 4.0
    np.testing.assert_array_equal(np.asarray(layer(x[:, :1]))[:, 1:], -1.0)
    with pytest.raises(ValueError, match="no real"):
        PadToLength().adapt([np.zeros((1, 3, 2), "float32")])
    with pytest.raises(ValueError, match="batch, time, channels"):
        PadToLength().adapt([np.zeros((3, 2), "float32")])
