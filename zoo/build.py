"""`zoo.build`: validate the arguments, run the registered builder, load weights."""

from __future__ import annotations

import os

import keras

from zoo import pretrained, registry
from zoo.cards import ModelCard
from zoo.errors import InvalidArgumentError
from zoo.saving import as_zoo_model
from zoo.weights import LoadReport, load_weights_by_name

POOLINGS = (None, "avg", "max")


def build(
    name: str,
    *,
    num_classes: int | None = None,
    input_shape: tuple | None = None,
    include_top: bool = True,
    pooling: str | None = None,
    weights: str | os.PathLike | None = None,
    classifier_activation: str | None = "softmax",
    class_names=None,
    **overrides,
) -> keras.Model:
    """Build a registered model.

    Args:
        name: a registered name (see `zoo.list_models()`), e.g. "densenet121".
        num_classes: classes of the head; default: the card's (1000 for ImageNet architectures).
        input_shape: input shape without the batch axis, e.g. (96, 96, 3); default: the card's.
            Any size at or above the card's `min_input_size` works when `weights` is None.
        include_top: with the classification head; False gives a backbone.
        pooling: for backbones (`include_top=False`): None (the last feature map), "avg" or "max".
        weights: None (random), "imagenet" (the keras.applications files, cached), or the path of a
            weight file (`.weights.h5`, legacy `.h5` or `.keras`), e.g. saved from keras.applications
            or from another zoo model. When the file's head does not fit (`num_classes` differs, or
            the file has no head) every other layer is loaded and a warning names the head.
        classifier_activation: activation of the head ("softmax", or None for logits).
        class_names: the names of the `num_classes` classes, kept with the model (also in its
            `.keras` file) as `model.zoo_class_names`; `zoo.export` writes them by default.
        **overrides: architecture options of the family (e.g. `growth_rate=12`); unknown ones
            raise an error listing the valid ones.

    Returns:
        a `zoo.ZooModel` (a functional `keras.Model`; see `zoo.saving`) whose card,
        `model.zoo_card`, is `zoo.card(name)` and survives `.keras` save and load. The load report
        of `weights` (if any) is in `model.zoo_weights_report`. (A user's builder returning a
        Sequential or subclassed model keeps its class; its card is then a plain attribute.)

    Raises:
        UnknownModelError: the name is not registered (the message lists close names).
        InvalidArgumentError: a bad num_classes, input_shape, pooling or override.
        WeightsError / WeightsUnavailableError: a weight file that is missing or does not fit.
    """
    card = registry.card(name)
    num_classes = _check_num_classes(card, num_classes)
    input_shape = _check_input_shape(card, input_shape)
    if pooling not in POOLINGS:
        raise InvalidArgumentError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    weights_path = _resolve_weights(card, weights, include_top)

    model = registry.builder(card.name)(
        num_classes=num_classes,
        input_shape=input_shape,
        include_top=include_top,
        pooling=pooling,
        classifier_activation=classifier_activation,
        **overrides,
    )
    model = as_zoo_model(model, card, class_names)
    model.zoo_weights_report = None
    if weights_path is not None:
        model.zoo_weights_report = _load(model, card, weights_path)
    return model


def _check_num_classes(card: ModelCard, num_classes) -> int:
    if num_classes is None:
        return card.num_classes
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise InvalidArgumentError(f"num_classes must be an integer >= 1, got {num_classes!r}")
    return num_classes


def _check_input_shape(card: ModelCard, input_shape) -> tuple:
    default = tuple(card.input_shape)
    if input_shape is None:
        return default
    try:
        shape = tuple(None if d is None else int(d) for d in input_shape)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"input_shape must be a tuple of sizes like {default}, got {input_shape!r}") from None
    if len(shape) != len(default):
        raise InvalidArgumentError(
            f"{card.name} takes inputs of rank {len(default)} (without the batch axis), like {default}; "
            f"got input_shape={shape} of rank {len(shape)}"
        )
    if any(d is not None and d < 1 for d in shape):
        raise InvalidArgumentError(f"input_shape sizes must be >= 1, got {shape}")
    if card.task == "image":
        if shape[-1] is None:
            raise InvalidArgumentError(f"the channel axis of input_shape must be known, got {shape}")
        spatial = shape[:-1]
        small = [d for d in spatial if d is not None and card.min_input_size and d < card.min_input_size]
        if small:
            m = card.min_input_size
            raise InvalidArgumentError(
                f"input_shape {shape} is smaller than the minimum of {card.name}: each spatial size must be "
                f">= {m} (e.g. {(m,) * len(spatial) + (shape[-1],)}); its default is {default}"
            )
    return shape


def _resolve_weights(card: ModelCard, weights, include_top: bool) -> str | None:
    if weights is None:
        return None
    if isinstance(weights, (str, os.PathLike)) and os.path.isfile(weights):
        return os.fspath(weights)
    if isinstance(weights, str) and weights in card.pretrained:
        return pretrained.fetch(card, weights, include_top=include_top)
    tags = ", ".join(repr(t) for t in card.pretrained) or "no published weights"
    raise InvalidArgumentError(
        f"weights={weights!r} is neither a file nor a published set of {card.name} ({tags}); "
        "pass None, a tag, or the path of a weight file"
    )


def _load(model: keras.Model, card: ModelCard, path: str) -> LoadReport:
    return load_weights_by_name(model, path, skippable=tuple(card.head_layers))
