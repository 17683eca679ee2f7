"""Pieces every image family shares: configurations with overrides, cards, the input, the stem, the head."""

from __future__ import annotations

import dataclasses
from typing import Callable, NamedTuple

import keras
from keras import layers

from layers.transformer import TransformerEncoderBlock
from zoo.recipes import Recipe
from zoo.cards import ModelCard
from zoo.errors import InvalidArgumentError
from zoo.pretrained import keras_applications_weights
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
        builder.__module__ = build_fn.__module__  # the family's module: what the card index records
        builder.__doc__ = f"Build {name} ({cards[name].description}). Use zoo.build({name!r}, ...)."
        register_model(cards[name], builder)


def is_positive_int(value) -> bool:
    """Whether `value` is an int >= 1 (a bool is not): the check of block counts and widths."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


# Cards ---------------------------------------------------------------------------------------


class Counts(NamedTuple):
    """A variant's row of parameter counts, and what they are checked against.

    Attributes:
        params, trainable_params: the zoo model at the card's default input shape and number of
            classes (asserted by the tests).
        reference_impl: the implementation the count is checked against (e.g.
            "keras.applications.ResNet50", "torchvision.models.resnet18"), or None.
        reference_params: that implementation's count.
        reference_counts: what it counts: "total" (Keras' count_params) or "trainable" (PyTorch's
            parameters(), which leaves out batch-norm running statistics).
        keras_application: the weight-compatible keras.applications function, or None.
        md5, md5_notop: the md5 hashes of its ImageNet weight files with and without the top
            (keras/src/applications/<model>.py; None where keras publishes none).
    """

    params: int
    trainable_params: int
    reference_impl: str | None = None
    reference_params: int | None = None
    reference_counts: str = "trainable"
    keras_application: str | None = None
    md5: str | None = None
    md5_notop: str | None = None


def image_card(
    name: str,
    counts: Counts,
    *,
    family: str,
    reference: str,
    min_input_size: int,
    description: str,
    input_shape: tuple = (224, 224, 3),
    num_classes: int = 1000,
    head_layers: tuple[str, ...] = ("predictions",),
    weights_file: str | None = None,
    preprocessing: str | None = None,
    extra: dict | None = None,
    recipe: Recipe | None = None,
) -> ModelCard:
    """The card of an image classifier, from its row of `counts`.

    A variant with a keras_application carries keras.applications' ImageNet weights as
    `pretrained["imagenet"]` when `weights_file` is given: the file's path under keras' weight folder,
    where "{name}" stands for the variant's name (the no-top file lies beside it), and
    `preprocessing` the inputs those weights expect ("caffe", "torch" or "tf").
    """
    pretrained = {}
    if counts.keras_application is not None and weights_file is not None:
        pretrained["imagenet"] = keras_applications_weights(
            weights_file.format(name=name), counts.md5, counts.md5_notop, preprocessing=preprocessing
        )
    return ModelCard(
        name=name,
        family=family,
        task="image",
        input_shape=input_shape,
        params=counts.params,
        trainable_params=counts.trainable_params,
        min_input_size=min_input_size,
        num_classes=num_classes,
        reference=reference,
        reference_impl=counts.reference_impl,
        reference_params=counts.reference_params,
        reference_counts=counts.reference_counts,
        keras_application=counts.keras_application,
        head_layers=head_layers,
        pretrained=pretrained,
        description=description,
        extra={} if extra is None else extra,
        recipe=recipe,
    )


# Layers --------------------------------------------------------------------------------------


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


def conv_pool_stem(x, filters: int, *, use_bias: bool, epsilon: float, pad_names=("conv1_pad", "pool1_pad"),
                   pool_name="pool1_pool"):
    """The stem of ResNet and DenseNet (He et al. 2016, table 1 "conv1" and its pooling).

    A 7x7 stride-2 convolution "conv1_conv" after a zero padding of 3, batch normalization
    "conv1_bn", ReLU "conv1_relu", then a 3x3 stride-2 max pooling after a zero padding of 1.
    keras.applications names the two paddings and the pooling differently in ResNet (the
    defaults) and DenseNet ("zero_padding2d", "zero_padding2d_1", "pool1").
    """
    x = layers.ZeroPadding2D(3, name=pad_names[0])(x)
    x = layers.Conv2D(filters, 7, strides=2, use_bias=use_bias, name="conv1_conv")(x)
    x = layers.BatchNormalization(epsilon=epsilon, name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(1, name=pad_names[1])(x)
    return layers.MaxPooling2D(3, strides=2, name=pool_name)(x)


def transformer_encoder(x, config, *, attention_mask=None):
    """ViT's encoder (Dosovitskiy et al. 2021, equations 2-4) on position-embedded tokens [batch, tokens, dim].

    Dropout "pos_drop" (when `config.dropout`), `config.depth` pre-norm `TransformerEncoderBlock`s
    "encoder_block{i}", then LayerNormalization "encoder_norm". `config` holds depth, num_heads,
    mlp_dim, dropout, attention_dropout and layer_norm_epsilon; `attention_mask` goes to every block.
    """
    if config.dropout:
        x = layers.Dropout(config.dropout, name="pos_drop")(x)
    mask = {} if attention_mask is None else {"attention_mask": attention_mask}
    for i in range(config.depth):
        x = TransformerEncoderBlock(
            num_heads=config.num_heads,
            mlp_dim=config.mlp_dim,
            dropout=config.dropout,
            attention_dropout=config.attention_dropout,
            layer_norm_epsilon=config.layer_norm_epsilon,
            name=f"encoder_block{i}",
        )(x, **mask)
    return layers.LayerNormalization(epsilon=config.layer_norm_epsilon, name="encoder_norm")(x)


def predictions(x, num_classes: int, classifier_activation):
    """The classifier: Dense "predictions" with `num_classes` units (the layer a new head replaces)."""
    return layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)


def fully_connected(x, units, *, first: int, activation="relu", dropout: float = 0.0, dropout_name: str | None = None):
    """Dense layers "fc{first}", "fc{first + 1}", ... of widths `units`.

    With `dropout_name` (e.g. "drop{}", formatted with the layer's number) each is followed by a
    Dropout of rate `dropout`.
    """
    for i, width in enumerate(units, start=first):
        x = layers.Dense(width, activation=activation, name=f"fc{i}")(x)
        if dropout_name is not None:
            x = layers.Dropout(dropout, name=dropout_name.format(i))(x)
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
    return predictions(x, num_classes, classifier_activation)


def flatten_classifier(x, units, *, num_classes, include_top, pooling, classifier_activation, first: int,
                       activation="relu", dropout: float = 0.0, dropout_name: str | None = None):
    """The head of LeNet, AlexNet and VGG: Flatten "flatten", `fully_connected` layers, Dense "predictions".

    Input: a feature map [batch, h, w, c] of a fixed size (the first fc layer's size depends on it).
    Output: [batch, num_classes] with the head, else `global_pool(x, pooling)`.
    """
    if not include_top:
        return global_pool(x, pooling)
    x = layers.Flatten(name="flatten")(x)
    x = fully_connected(x, units, first=first, activation=activation, dropout=dropout, dropout_name=dropout_name)
    return predictions(x, num_classes, classifier_activation)
