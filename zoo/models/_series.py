"""What the time-series classifiers share (`conv1d`, `inception_time`, `resnet1d`): the input with
its padding mask or its fixed-length padding, the masked global-average-pooling head, the card
checked against the authors' Keras code."""

from __future__ import annotations

from layers.sequence import MaskedGlobalPooling1D, PadToLength, PaddingMask
from zoo.cards import ModelCard
from zoo.errors import InvalidArgumentError
from zoo.models.recurrent import sequence_card, sequence_head, sequence_input


def series_input(input_shape, mask_value, name: str, *, pad_to_longest: bool = False):
    """`(inputs, x, mask)`: the `[batch, time, features]` input; what the first block reads (the
    input, or with `pad_to_longest` the input padded to the training set's longest length by
    `PadToLength` "pad_to_longest"); and the padding mask "padding_mask" (boolean `[batch, time]`,
    None when `mask_value` is None)."""
    inputs = sequence_input(input_shape, name)
    if len(inputs.shape) != 3:
        raise InvalidArgumentError(f"{name} takes sequences [time, features], got input_shape={tuple(input_shape)}")
    if pad_to_longest and mask_value is not None:
        raise InvalidArgumentError(
            f"{name}: pad_to_longest=True pads the series for a model without a padding mask; set mask_value=None "
            f"too (with mask_value={mask_value!r} the mask hides the padding, and padding changes nothing)")
    mask = None if mask_value is None else PaddingMask(mask_value, name="padding_mask")(inputs)
    x = PadToLength(0.0, name="pad_to_longest")(inputs) if pad_to_longest else inputs
    return inputs, x, mask


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
