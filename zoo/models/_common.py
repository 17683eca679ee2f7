"""Pieces every image family shares: configurations with overrides, the input, the head."""

from __future__ import annotations

import dataclasses
from typing import Callable

import keras
from keras import layers

from zoo.cards import ModelCard
from zoo.errors import InvalidArgumentError
from zoo.registry import register_model


def configure(config, overrides: dict, model_name: str):
    """`config` (a dataclass) with `overrides` applied; unknown names raise a clear error."""
    fields = [f.name for f in dataclasses.fields(config)]
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise InvalidArgumentError(
            f"{model_name} has no option {', '.join(map(repr, unknown))}; its options are: {', '.join(fields)}"
        )
    return dataclasses.replace(config, **overrides)


def register_variants(variants: dict, cards: dict[str, ModelCard], build_fn: Callable) -> None:
    """Register each `name -> config` of a family, as data, with its card.

    `build_fn(config, *, name, num_classes, input_shape, include_top, pooling, classifier_activation)`
    builds one model; overrides given to `zoo.build` replace fields of the variant's config.
    """
    for name, config in variants.items():

        def builder(*, num_classes, input_shape, include_top=True, pooling=None, classifier_activation="softmax",
                    _config=config, _name=name, **overrides):
            return build_fn(
                configure(_config, overrides, _name),
                name=_name,
                num_classes=num_classes,
                input_shape=input_shape,
                include_top=include_top,
                pooling=pooling,
                classifier_activation=classifier_activation,
            )

        builder.__name__ = builder.__qualname__ = name
        builder.__doc__ = f"Build {name} ({cards[name].description}). Use zoo.build({name!r}, ...)."
        register_model(cards[name], builder)


def image_input(input_shape: tuple) -> keras.KerasTensor:
    return keras.Input(shape=input_shape, name="input_layer")


def global_pool(x, pooling: str | None, *, rank: int = 2):
    """Backbone output: the feature map (pooling=None), or its global average / max ("avg"/"max")."""
    if pooling == "avg":
        return (layers.GlobalAveragePooling1D, layers.GlobalAveragePooling2D, layers.GlobalAveragePooling3D)[rank - 1](
            name="avg_pool"
        )(x)
    if pooling == "max":
        return (layers.GlobalMaxPooling1D, layers.GlobalMaxPooling2D, layers.GlobalMaxPooling3D)[rank - 1](
            name="max_pool"
        )(x)
    return x


def pooled_classifier(x, *, num_classes, include_top, pooling, classifier_activation, dropout: float = 0.0):
    """The keras.applications head: global average pool then Dense "predictions".

    Input: a feature map [batch, h, w, c]. Output: [batch, num_classes] with the head, else
    `global_pool(x, pooling)`.
    """
    if not include_top:
        return global_pool(x, pooling)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name="head_dropout")(x)
    return layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
