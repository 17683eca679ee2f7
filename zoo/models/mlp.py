"""A dense network (multilayer perceptron) on flattened inputs.

Rumelhart, Hinton, Williams (1986). Learning representations by back-propagating errors. Nature
323:533-536. https://doi.org/10.1038/323533a0 . The modern form (ReLU, dropout: Srivastava et al.
2014, JMLR 15) used as the MNIST baseline of LeCun et al. (1998, Figure 9, "2-layer/3-layer NN"):

| layer        | here                                       |
| ------------ | ------------------------------------------ |
| flatten      | the input as one vector (28*28*1 = 784)    |
| fc{i}        | Dense hidden[i-1], ReLU; drop{i} dropout   |
| predictions  | Dense num_classes                          |

With the default `hidden=(512, 256)` at 28x28x1 and 10 classes: 535,818 parameters. Without the
head the model returns the last hidden layer (after its dropout), already a vector, so `pooling`
has nothing to pool and is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

from zoo.cards import ModelCard
from zoo.errors import InvalidArgumentError
from zoo.models._common import image_input, register_variants


@dataclass(frozen=True)
class MLPConfig:
    """Widths of the hidden layers (in order), and the dropout rate after each."""

    hidden: tuple = (512, 256)
    dropout: float = 0.2
    activation: str = "relu"


VARIANTS = {"mlp": MLPConfig()}

CARDS = {
    "mlp": ModelCard(
        name="mlp",
        family="mlp",
        task="image",
        input_shape=(28, 28, 1),
        params=535_818,
        trainable_params=535_818,
        min_input_size=1,
        num_classes=10,
        reference=(
            "Rumelhart, Hinton, Williams (1986). Learning representations by back-propagating errors. "
            "Nature 323:533-536. https://doi.org/10.1038/323533a0"
        ),
        reference_impl=None,
        reference_params=None,
        reference_counts="trainable",
        keras_application=None,
        head_layers=("predictions",),
        description="dense network: flatten, hidden Dense layers (ReLU, dropout), Dense head",
    )
}


def _build_mlp(config: MLPConfig, *, name, num_classes, input_shape, include_top, pooling, classifier_activation):
    """The dense network as a functional model; without the head: the last hidden layer's output."""
    if any(d is None for d in input_shape):
        raise InvalidArgumentError(
            f"{name} flattens its input, so every size must be known; got input_shape={tuple(input_shape)}"
        )
    hidden = tuple(config.hidden)
    if any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden):
        raise InvalidArgumentError(f"{name}: hidden must be a tuple of layer widths >= 1, got {config.hidden!r}")
    if not 0.0 <= config.dropout < 1.0:
        raise InvalidArgumentError(f"{name}: dropout must be a rate in [0, 1), got {config.dropout!r}")
    inputs = image_input(input_shape)
    x = layers.Flatten(name="flatten")(inputs)
    for i, units in enumerate(hidden, start=1):
        x = layers.Dense(units, activation=config.activation, name=f"fc{i}")(x)
        if config.dropout:
            x = layers.Dropout(config.dropout, name=f"drop{i}")(x)
    if include_top:
        x = layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
    return keras.Model(inputs, x, name=name)


register_variants(VARIANTS, CARDS, _build_mlp)
