"""Recurrent networks for sequence classification: stacked simple RNN, LSTM and GRU layers.

Elman (1990). Finding Structure in Time. Cognitive Science 14:179-211 (the simple RNN).
Hochreiter & Schmidhuber (1997). Long Short-Term Memory. Neural Computation 9(8):1735-1780.
Cho et al. (2014). Learning Phrase Representations using RNN Encoder-Decoder for Statistical
Machine Translation. EMNLP 2014. arXiv:1406.1078 (the GRU).
Schuster & Paliwal (1997). Bidirectional Recurrent Neural Networks (the `bidirectional` option).

The cells are Keras' own (`SimpleRNN`, `LSTM`, `GRU` with `reset_after=True`, as cuDNN), stacked:

    padding_mask    True for real steps: a step whose features all equal `mask_value` is padding
    standardize     every feature scaled by the training set's mean and std (`SeriesStandardization`,
                    adapted by `zoo.fit` before it trains; `standardize=False` leaves it out)
    {cell}{i}       one recurrent layer per entry of `units` (Bidirectional when asked: the
                    forward and backward outputs are concatenated), all returning sequences but
                    the last, which returns its final output; padded steps are skipped
    drop{i}         dropout after every layer (when `dropout` > 0)
    predictions     Dense num_classes on the last layer's final output

Parameters of one layer with `u` units over `f` input features (times 2 when bidirectional):

| cell | parameters                        |
| ---- | --------------------------------- |
| rnn  | u * (u + f) + u                   |
| lstm | 4 * (u * (u + f) + u)             |
| gru  | 3 * (u * (u + f) + 2 * u)         |

With the default `units=(128, 128)` over one feature and 2 classes: rnn 49,794, lstm 198,402,
gru 149,634 trainable parameters, and 2 * f + 1 non-trainable ones in `standardize` (its mean,
std and count). Sequences are `[batch, time, features]`, `time` may be None; a padded
batch (padding at the end, as `zoo.data.pad_sequences` makes) gives the same outputs as each
sequence alone. Without the head (`include_top=False`) the model returns the last layer's output
at every step `[batch, time, units]` (pooling=None), or its mean / max over the real steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

from layers.sequence import MaskedGlobalPooling1D, PaddingMask, SeriesStandardization
from zoo.cards import ModelCard
from zoo.errors import InvalidArgumentError
from zoo.models._common import register_variants
from zoo.recipes import Recipe

CELLS = {"rnn": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}


@dataclass(frozen=True)
class RecurrentConfig:
    """A stack of recurrent layers.

    Attributes:
        cell: "rnn" (Elman), "lstm" or "gru".
        units: width of each layer, in order.
        bidirectional: run every layer in both directions and concatenate.
        dropout: rate of the dropout after each layer.
        recurrent_dropout: rate of the dropout on the recurrent state (Gal & Ghahramani 2016).
        mask_value: the padding value (steps whose features all equal it are skipped), or None
            for no masking.
        standardize: start with a `SeriesStandardization` layer: recurrent cells saturate on
            inputs far from unit scale, and the series a user has are rarely standardized.
    """

    cell: str
    units: tuple = (128, 128)
    bidirectional: bool = False
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    mask_value: float | None = 0.0
    standardize: bool = True


VARIANTS = {"rnn": RecurrentConfig("rnn"), "lstm": RecurrentConfig("lstm"), "gru": RecurrentConfig("gru")}

_REFERENCES = {
    "rnn": "Elman (1990). Finding Structure in Time. Cognitive Science 14(2):179-211. "
    "https://doi.org/10.1207/s15516709cog1402_1",
    "lstm": "Hochreiter & Schmidhuber (1997). Long Short-Term Memory. Neural Computation 9(8):1735-1780. "
    "https://doi.org/10.1162/neco.1997.9.8.1735",
    "gru": "Cho et al. (2014). Learning Phrase Representations using RNN Encoder-Decoder for Statistical "
    "Machine Translation. EMNLP 2014. arXiv:1406.1078",
}
_DESCRIPTIONS = {
    "rnn": "stacked simple (Elman) RNN, optional bidirectional, masked padding",
    "lstm": "stacked LSTM, optional bidirectional, masked padding",
    "gru": "stacked GRU, optional bidirectional, masked padding",
}
# the zoo's own counts at the default config, input (None, 1) and 2 classes (see the table above)
_PARAMS = {"rnn": 49_794, "lstm": 198_402, "gru": 149_634}
_STANDARDIZE_PARAMS = 3  # SeriesStandardization over one feature: mean, std, count (non-trainable)
_KERAS_LAYERS = {"rnn": "keras.layers.SimpleRNN", "lstm": "keras.layers.LSTM", "gru": "keras.layers.GRU"}

def sequence_card(name: str, *, family: str, params: int, reference: str, description: str, extra: dict,
                  trainable_params: int | None = None, reference_impl: str | None = None,
                  recipe: Recipe | None = None) -> ModelCard:
    """The card of a sequence classifier: default input (None, 1), 2 classes, head "predictions";
    `trainable_params` defaults to `params`."""
    return ModelCard(
        name=name,
        family=family,
        task="sequence",
        input_shape=(None, 1),
        params=params,
        trainable_params=params if trainable_params is None else trainable_params,
        num_classes=2,
        reference=reference,
        reference_impl=reference_impl,
        head_layers=("predictions",),
        description=description,
        extra=extra,
        recipe=recipe,
    )


# Training recipe (Karim et al. 2018, LSTM-FCN; titu1994/LSTM-FCN utils/keras_utils.py train_model): Adam 1e-3,
# ReduceLROnPlateau(factor 1/cbrt(2), patience 100, min_lr 1e-4) on the training loss, 2000 epochs, batch 128,
# the model of lowest training loss kept.
RECIPE = Recipe(
    source="Karim et al. 2018, LSTM-FCN utils/keras_utils.py",
    optimizer="adam", learning_rate=1e-3,
    schedule="plateau", schedule_args={"factor": 0.7937, "patience": 100, "min_lr": 1e-4, "monitor": "loss"},
    epochs=2000, batch_size=128, keep="best_training_loss", patience=400,
    notes="early stopping after 400 epochs without a lower training loss is the zoo's addition",
)

CARDS = {
    name: sequence_card(
        name,
        family="recurrent",
        params=_PARAMS[name] + _STANDARDIZE_PARAMS,
        trainable_params=_PARAMS[name],
        reference=_REFERENCES[name],
        reference_impl=_KERAS_LAYERS[name],
        recipe=RECIPE,
        description=_DESCRIPTIONS[name],
        extra={"input": "[batch, time, features], post-padded; mask_value=0.0 marks padding", "units": (128, 128)},
    )
    for name in VARIANTS
}


def recurrent_layer_params(cell: str, units: int, features: int, bidirectional: bool = False) -> int:
    """Parameters of one Keras recurrent layer (the formulas of the table in the module docstring)."""
    core = units * (units + features)
    count = {"rnn": core + units, "lstm": 4 * (core + units), "gru": 3 * (core + 2 * units)}[cell]
    return 2 * count if bidirectional else count


def sequence_input(input_shape, name: str, *, dtype: str = "float32") -> keras.KerasTensor:
    """The `[batch, time, features]` input of a sequence model, after checking its shape."""
    shape = tuple(input_shape)
    if len(shape) < 2 or shape[-1] is None or shape[-1] < 1:
        raise InvalidArgumentError(
            f"{name} takes sequences [time, features] with a known number of features >= 1 "
            f"(time may be None), e.g. (None, 1); got input_shape={shape}"
        )
    return keras.Input(shape=shape, dtype=dtype, name="input_layer")


def check_rate(value, what: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise InvalidArgumentError(f"{name}: {what} must be a rate in [0, 1), got {value!r}")
    return float(value)


def check_widths(values, what: str, name: str) -> tuple:
    values = tuple(values) if isinstance(values, (list, tuple)) else (values,)
    if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
        raise InvalidArgumentError(f"{name}: {what} must be a non-empty tuple of integers >= 1, got {values!r}")
    return values


def sequence_head(x, mask, *, num_classes, include_top, pooling, classifier_activation, features=None):
    """The shared end of sequence models.

    With the head: Dense "predictions" on `features` ([batch, channels], what the family
    classifies from). Without: `x` per step (pooling=None), or its mean / max over real steps.
    """
    if include_top:
        return layers.Dense(num_classes, activation=classifier_activation, name="predictions")(features)
    if pooling is None:
        return x
    name = {"avg": "avg_pool", "max": "max_pool"}[pooling]
    return MaskedGlobalPooling1D(pooling, name=name)(x, mask=mask)


def _build_recurrent(config: RecurrentConfig, *, name, num_classes, input_shape, include_top, pooling,
                     classifier_activation):
    """Stacked recurrent layers, each given the padding mask; Dense head on the final output."""
    if config.cell not in CELLS:
        raise InvalidArgumentError(f"{name}: cell must be one of {', '.join(CELLS)}, got {config.cell!r}")
    units = check_widths(config.units, "units", name)
    dropout = check_rate(config.dropout, "dropout", name)
    recurrent_dropout = check_rate(config.recurrent_dropout, "recurrent_dropout", name)
    inputs = sequence_input(input_shape, name)
    if len(inputs.shape) != 3:
        raise InvalidArgumentError(f"{name} takes sequences [time, features], got input_shape={tuple(input_shape)}")
    mask = None if config.mask_value is None else PaddingMask(config.mask_value, name="padding_mask")(inputs)

    x = inputs
    if config.standardize:
        x = SeriesStandardization(config.mask_value, name="standardize")(x, mask=mask)
    sequences = final = None
    for i, width in enumerate(units, start=1):
        last = i == len(units)
        # the last layer returns its final output for the head, its sequence for a backbone
        return_sequences = not (last and include_top)
        layer = CELLS[config.cell](
            width, return_sequences=return_sequences, recurrent_dropout=recurrent_dropout, name=f"{config.cell}{i}"
        )
        if config.bidirectional:
            layer = layers.Bidirectional(layer, name=f"{config.cell}{i}")
        x = layer(x, mask=mask)
        if dropout:
            x = layers.Dropout(dropout, name=f"drop{i}")(x)
    if include_top:
        final = x
    else:
        sequences = x
    outputs = sequence_head(
        sequences,
        mask,
        num_classes=num_classes,
        include_top=include_top,
        pooling=pooling,
        classifier_activation=classifier_activation,
        features=final,
    )
    return keras.Model(inputs, outputs, name=name)


register_variants(VARIANTS, CARDS, _build_recurrent)
