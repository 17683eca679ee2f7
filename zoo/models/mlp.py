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

from zoo.errors import InvalidArgumentError
from zoo.models._common import Counts, fully_connected, image_card, image_input, is_positive_int, predictions
from zoo.models._common import register_variants
from zoo.recipes import Recipe


@dataclass(frozen=True)
class MLPConfig:
    """Widths of the hidden layers (in order), and the dropout rate after each."""

    hidden: tuple = (512, 256)
    dropout: float = 0.2
    activation: str = "relu"


VARIANTS = {"mlp": MLPConfig()}

# Training recipe: the 20 epochs of keras-team/keras examples/mnist_mlp.py with Adam's defaults (Kingma & Ba 2015)
# and Keras' default batch of 32.
RECIPE = Recipe(
    source="keras examples/mnist_mlp.py; Adam (Kingma & Ba 2015)",
    optimizer="adam", learning_rate=1e-3, epochs=20, batch_size=32, keep="last",
)

CARDS = {
    "mlp": image_card(
        "mlp",
        Counts(params=535_818, trainable_params=535_818, reference_counts="trainable"),
        family="mlp",
        input_shape=(28, 28, 1),
        num_classes=10,
        min_input_size=1,
        reference=(
            "Rumelhart, Hinton, Williams (1986). Learning representations by back-propagating errors. "
            "Nature 323:533-536. https://doi.org/10.1038/323533a0"
        ),
        recipe=RECIPE,
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
    if not all(is_positive_int(h) for h in hidden):
        raise InvalidArgumentError(f"{name}: hidden must be a tuple of layer widths >= 1, got {config.hidden!r}")
    if not 0.0 <= config.dropout < 1.0:
        raise InvalidArgumentError(f"{name}: dropout must be a rate in [0, 1), got {config.dropout!r}")
    inputs = image_input(input_shape)
    x = layers.Flatten(name="flatten")(inputs)
    x = fully_connected(
        x, hidden, first=1, activation=config.activation, dropout=config.dropout,
        dropout_name="drop{}" if config.dropout else None,
    )
    if include_top:
        x = predictions(x, num_classes, classifier_activation)
    return keras.Model(inputs, x, name=name)


register_variants(VARIANTS, CARDS, _build_mlp)
