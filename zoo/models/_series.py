"""What the time-series classifiers of the authors' Keras code share (`inception_time`, `resnet1d`):
the masked input, the masked global-average-pooling head, the card checked against that code."""

from __future__ import annotations

from layers.sequence import MaskedGlobalPooling1D, PaddingMask
from zoo.cards import ModelCard
from zoo.errors import InvalidArgumentError
from zoo.models.recurrent import sequence_card, sequence_head, sequence_input


def series_input(input_shape, mask_value, name: str):
    """`(inputs, mask)`: the `[batch, time, features]` input and its padding mask "padding_mask"
    (boolean `[batch, time]`, None when `mask_value` is None)."""
    inputs = sequence_input(input_shape, name)
    if len(inputs.shape) != 3:
        raise InvalidArgumentError(f"{name} takes sequences [time, features], got input_shape={tuple(input_shape)}")
    mask = None if mask_value is None else PaddingMask(mask_value, name="padding_mask")(inputs)
    return inputs, mask


def gap_head(x, mask, *, num_classes, include_top, pooling, classifier_activation):
    """The mean of `x` `[batch, time, channels]` over the real steps ("avg_pool"), then Dense
    "predictions"; without the head, `sequence_head`'s backbone output."""
    features = MaskedGlobalPooling1D("avg", name="avg_pool")(x, mask=mask) if include_top else None
    return sequence_head(x, mask, num_classes=num_classes, include_top=include_top, pooling=pooling,
                         classifier_activation=classifier_activation, features=features)


def reference_card(name: str, *, params: int, trainable_params: int, reference: str, reference_impl: str,
                   description: str, extra: dict, recipe) -> ModelCard:
    """The card of a network whose count equals its Keras reference's (`count_params`, total)."""
    extra = dict(extra, input="[batch, time, features], post-padded; mask_value=0.0 marks padding")
    card = sequence_card(name, family=name, params=params, trainable_params=trainable_params, reference=reference,
                         reference_impl=reference_impl, description=description, extra=extra, recipe=recipe)
    return card.replace(reference_params=params, reference_counts="total")
