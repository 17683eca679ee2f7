"""Sequence families (rnn, lstm, gru, conv1d, tcn, convlstm, transformer): cards, parameter formulas,
masking of padded steps, causality, train / save / reload, heads and argument errors."""

import keras
import numpy as np
import pytest

import zoo
from layers.sequence import receptive_field
from zoo.models.convlstm import convlstm_layer_params
from zoo.models.recurrent import recurrent_layer_params

NAMES = ["rnn", "lstm", "gru", "conv1d", "tcn", "convlstm", "transformer"]

# small configurations (and inputs) for the tests that run the models
SMALL = {
    "rnn": dict(units=(8, 6)),
    "lstm": dict(units=(8, 6)),
    "gru": dict(units=(8, 6)),
    "conv1d": dict(filters=(8, 16, 8)),
    "tcn": dict(filters=(8, 8, 8)),
    "convlstm": dict(filters=(4, 3), kernel_size=3),
    "transformer": dict(dim=16, depth=2, num_heads=2, mlp_dim=32),
}
SMALL_INPUT = {"convlstm": (None, 6, 6, 2)}
REFERENCES = {
    "rnn": "Elman",
    "lstm": "Hochreiter & Schmidhuber (1997)",
    "gru": "Cho et al. (2014)",
    "conv1d": "Wang, Yan, Oates (2017)",
    "tcn": "Bai, Kolter, Koltun (2018)",
    "convlstm": "Shi, Chen",
    "transformer": "Vaswani et al. (2017)",
}


def small(name, **kwargs):
    options = dict(SMALL[name], input_shape=SMALL_INPUT.get(name, (None, 3)))
    options.update(kwargs)
    return zoo.build(name, **options)


def batch(name, n=3, time=7, seed=0):
    shape = SMALL_INPUT.get(name, (None, 3))[1:]
    return np.random.default_rng(seed).normal(size=(n, time, *shape)).astype("float32")


def pad(seqs):
    """Post-pad a list of [length, ...] arrays with zeros."""
    out = np.zeros((len(seqs), max(len(s) for s in seqs), *seqs[0].shape[1:]), seqs[0].dtype)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return out


def assert_padded_equals_unpadded(model, seqs, atol=1e-5):
    padded = np.asarray(model(pad(seqs), training=False))
    for i, s in enumerate(seqs):
        alone = np.asarray(model(s[None], training=False))[0]
        got = padded[i, : len(s)] if alone.ndim == 2 and padded.ndim == 3 else padded[i]
        np.testing.assert_allclose(got, alone, rtol=1e-5, atol=atol)


# registry and cards -----------------------------------------------------------------------------


def test_registered_sequence_models_and_cards():
    assert set(NAMES) <= set(zoo.list_models(task="sequence"))
    for name in NAMES:
        card = zoo.card(name)
        assert card.task == "sequence" and card.num_classes == 2
        assert card.head_layers == ("predictions",)
        assert REFERENCES[name] in card.reference
        assert card.input_shape[0] is None  # any number of steps
        assert card.params and card.trainable_params


@pytest.mark.parametrize("name", NAMES)
def test_card_counts_are_the_default_model(name):
    model = zoo.build(name)
    card = zoo.card(name)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert (model.count_params(), trainable) == (card.params, card.trainable_params)
    assert model.input_shape == (None, *card.input_shape)
    assert model.output_shape == (None, 2)
    assert model.get_layer("predictions").units == 2


def test_tcn_card_reports_its_receptive_field():
    card = zoo.card("tcn")
    kernel, dilations = card.extra["kernel_size"], card.extra["dilations"]
    assert dilations == (1, 2, 4, 8, 16, 32)
    assert card.extra["receptive_field"] == 1 + 2 * sum((kernel - 1) * d for d in dilations) == 253
    assert card.extra["receptive_field"] == receptive_field(kernel, dilations, convs_per_block=2)
    assert zoo.card("conv1d").extra["receptive_field"] == 1 + 7 + 4 + 2


# parameter formulas -----------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_recurrent_layer_parameter_formulas(cell, bidirectional):
    units, features = (16, 5), 3
    model = zoo.build(cell, input_shape=(None, features), units=units, bidirectional=bidirectional, num_classes=4)
    width = 2 if bidirectional else 1
    inputs = (features, units[0] * width)
    for i, (u, f) in enumerate(zip(units, inputs), start=1):
        count = model.get_layer(f"{cell}{i}").count_params()
        core = {"rnn": u * (u + f) + u, "lstm": 4 * (u * (u + f) + u), "gru": 3 * (u * (u + f) + 2 * u)}[cell]
        assert count == width * core == recurrent_layer_params(cell, u, f, bidirectional)
    assert model.get_layer("predictions").count_params() == units[-1] * width * 4 + 4


def test_lstm_default_count_by_hand():
    # two LSTM(128) layers over 1 feature, then Dense(2); the standardization's mean, std and count
    trainable = 4 * (128 * 129 + 128) + 4 * (128 * 256 + 128) + 128 * 2 + 2
    assert zoo.card("lstm").trainable_params == trainable
    assert zoo.card("lstm").params == trainable + 3


def test_convlstm_layer_parameter_formula():
    model = zoo.build("convlstm", input_shape=(None, 8, 8, 2), filters=(4, 3), kernel_size=3)
    assert model.get_layer("convlstm1").count_params() == 4 * (9 * (2 + 4) * 4 + 4) == convlstm_layer_params(4, 3, 2)
    assert model.get_layer("convlstm2").count_params() == convlstm_layer_params(3, 3, 4)
    assert zoo.card("convlstm").params == (
        convlstm_layer_params(128, 5, 1) + convlstm_layer_params(64, 5, 128) + convlstm_layer_params(64, 5, 64)
        + 64 * 2 + 2
    )


# masking ----------------------------------------------------------------------------------------------


def variable_length(features=3, lengths=(5, 9, 2, 7), seed=1):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(n, features)).astype("float32") for n in lengths]


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_recurrent_padded_batch_equals_unpadded_sequences(randomize, cell, bidirectional):
    seqs = variable_length()
    model = randomize(small(cell, bidirectional=bidirectional, dropout=0.2))
    assert_padded_equals_unpadded(model, seqs)
    if bidirectional:  # the per-step outputs, pooled over the real steps
        backbone = small(cell, bidirectional=bidirectional, include_top=False, pooling="avg")
        assert_padded_equals_unpadded(randomize(backbone), seqs)
    else:  # without masking the padding does change the result
        unmasked = randomize(small(cell, mask_value=None, classifier_activation=None))
        difference = np.asarray(unmasked(pad(seqs)))[2] - np.asarray(unmasked(seqs[2][None]))[0]
        assert np.abs(difference).max() > 1e-4


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"positions": "learned", "max_length": 16},
        {"include_top": False, "pooling": "avg"},
        {"include_top": False, "pooling": "max"},
        {"include_top": False},
    ],
    ids=["sinusoidal", "learned", "avg", "max", "per-step"],
)
def test_transformer_honours_the_padding_mask(randomize, options):
    model = randomize(small("transformer", **options))
    assert_padded_equals_unpadded(model, variable_length())


def test_transformer_token_input_and_padding(randomize):
    model = randomize(small("transformer", vocab_size=40, input_shape=(None, 1)))
    assert model.input.dtype == "int32" and model.input_shape == (None, None)
    rng = np.random.default_rng(2)
    seqs = [rng.integers(1, 40, size=n).astype("int32") for n in (6, 3, 11)]
    assert_padded_equals_unpadded(model, seqs)
    assert model.get_layer("token_embedding").input_dim == 40


@pytest.mark.parametrize("name", ["tcn", "conv1d"])
def test_convolutional_models_mask_padding_too(randomize, name):
    seqs = variable_length()
    assert_padded_equals_unpadded(randomize(small(name)), seqs)
    assert_padded_equals_unpadded(randomize(small(name, include_top=False, pooling="max")), seqs)


def test_convlstm_masks_padded_frames_when_asked(randomize):
    rng = np.random.default_rng(3)
    clips = [rng.normal(size=(n, 6, 6, 2)).astype("float32") for n in (4, 2)]
    assert_padded_equals_unpadded(randomize(small("convlstm", mask_value=0.0)), clips)


# causality and receptive field of the TCN ---------------------------------------------------------------


def test_tcn_is_causal_and_sees_its_receptive_field(randomize):
    kernel, filters = 3, (6, 6, 6)
    model = randomize(small("tcn", filters=filters, kernel_size=kernel, include_top=False))
    rf = receptive_field(kernel, (1, 2, 4), convs_per_block=2)
    assert rf == 29
    time = rf + 6
    base = batch("tcn", n=1, time=time)
    t_values = list(range(time))
    changed = np.repeat(base, time, axis=0)
    changed[np.arange(time), np.arange(time)] += 2.0  # copy t changes step t
    out = np.asarray(model(np.concatenate([base, changed])))
    reference, perturbed = out[0], out[1:]
    for t in t_values:
        np.testing.assert_array_equal(perturbed[t, :t], reference[:t])  # nothing before t moves
    last_moved = [not np.array_equal(perturbed[t, -1], reference[-1]) for t in t_values]
    assert last_moved[: time - rf] == [False] * (time - rf)  # older than the receptive field
    assert last_moved[time - rf]  # the oldest step it sees


# training, saving, reloading -------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_builds_trains_saves_and_reloads(tmp_path, name):
    model = small(name, num_classes=3, **({"depth": 1} if name == "transformer" else {}))
    assert model.zoo_card.name == name
    x = batch(name, n=4, time=5)
    y = np.array([0, 1, 2, 1])
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    path = tmp_path / f"{name}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(np.asarray(reloaded(x)), np.asarray(model(x)))
    longer = batch(name, n=2, time=9, seed=5)  # another length, after reloading
    np.testing.assert_array_equal(np.asarray(reloaded(longer)), np.asarray(model(longer)))


def test_token_transformer_trains_saves_and_reloads(tmp_path):
    model = small("transformer", vocab_size=30, num_classes=2, positions="learned", max_length=12,
                  input_shape=(None, 1))
    tokens = np.array([[3, 5, 7, 0, 0], [9, 2, 0, 0, 0], [4, 4, 4, 4, 1]], "int32")
    # eagerly: the graph-mode training step is covered by test_builds_trains_saves_and_reloads
    model.compile("adam", "sparse_categorical_crossentropy", run_eagerly=True)
    assert np.isfinite(model.train_on_batch(tokens, np.array([0, 1, 1])))
    model.save(tmp_path / "t.keras")
    reloaded = keras.saving.load_model(tmp_path / "t.keras")
    np.testing.assert_array_equal(np.asarray(reloaded(tokens)), np.asarray(model(tokens)))


# heads -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_backbones_and_pooling(name):
    channels = {"rnn": 6, "lstm": 6, "gru": 6, "conv1d": 8, "tcn": 8, "convlstm": 3, "transformer": 16}[name]
    per_step = small(name, include_top=False)
    x = batch(name, n=2, time=5)
    if name == "convlstm":  # the final hidden state, a feature map
        assert np.asarray(per_step(x)).shape == (2, 6, 6, channels)
    else:  # the last layer at every step
        assert np.asarray(per_step(x)).shape == (2, 5, channels)
    for pooling in ("avg", "max"):
        pooled = small(name, include_top=False, pooling=pooling)
        assert np.asarray(pooled(x)).shape == (2, channels)
        assert "predictions" not in [layer.name for layer in pooled.layers]
    logits = small(name, num_classes=5, classifier_activation=None)
    assert logits.get_layer("predictions").activation.__name__ == "linear"
    assert np.asarray(logits(x)).shape == (2, 5)


def test_bidirectional_doubles_the_width():
    model = small("lstm", bidirectional=True, include_top=False, pooling="avg")
    assert model.output_shape == (None, 12)
    assert {l.name for l in model.get_layer("lstm1")._flatten_layers(include_self=False)} >= {"forward_lstm1",
                                                                                              "backward_lstm1"}


# argument errors ---------------------------------------------------------------------------------------


BAD_ARGUMENTS = [
    ("lstm", dict(input_shape=(None, None)), "known number of features"),
    ("lstm", dict(input_shape=(10,)), "rank 2"),
    ("gru", dict(cell="transformer"), "cell must be one of"),
    ("rnn", dict(units=()), "units"),
    ("rnn", dict(units=(4, 0)), "units"),
    ("lstm", dict(dropout=1.5), "dropout"),
    ("lstm", dict(bogus=1), "has no option 'bogus'"),
    ("conv1d", dict(filters=(8, 8), kernel_sizes=(3,)), "kernel_sizes"),
    ("tcn", dict(normalization="batch"), "normalization"),
    ("tcn", dict(kernel_size=0), "kernel_size"),
    ("convlstm", dict(input_shape=(None, 8, 8, None)), "channels"),
    ("transformer", dict(dim=30, num_heads=4), "not divisible"),
    ("transformer", dict(positions="rotary"), "positions"),
    ("transformer", dict(input_shape=(40, 3), positions="learned", max_length=32), "max_length"),
    ("transformer", dict(vocab_size=100, input_shape=(None, 3)), "int tokens"),
    ("transformer", dict(vocab_size=0), "vocab_size"),
]


def test_bad_arguments_raise_clear_errors():
    for name, kwargs, match in BAD_ARGUMENTS:
        with pytest.raises(zoo.InvalidArgumentError, match=match):
            zoo.build(name, **kwargs)
