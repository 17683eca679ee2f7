"""LeNet-5.

LeCun, Bottou, Bengio, Haffner (1998). Gradient-Based Learning Applied to Document Recognition.
Proceedings of the IEEE 86(11). http://yann.lecun.com/exdb/publis/pdf/lecun-98.pdf . Section II.B
and Figure 2, in its common modern form: the subsampling layers are plain 2x2 average pooling
(the paper's S2/S4 add a trainable gain and bias per map), C3 connects to all six S2 maps (the
paper's Table I uses a sparse connection scheme), and the output is a Dense softmax (the paper's
RBF units):

| layer        | paper  | here                       | output (32x32x1) | parameters |
| ------------ | ------ | -------------------------- | ---------------- | ---------- |
| conv1        | C1     | 6 @ 5x5, tanh              | 28 x 28 x 6      |        156 |
| pool1        | S2     | 2x2 average pool           | 14 x 14 x 6      |          0 |
| conv2        | C3     | 16 @ 5x5, tanh             | 10 x 10 x 16     |      2,416 |
| pool2        | S4     | 2x2 average pool           | 5 x 5 x 16       |          0 |
| flatten, fc3 | C5     | Dense 120, tanh            | 120              |     48,120 |
| fc4          | F6     | Dense 84, tanh             | 84               |     10,164 |
| predictions  | output | Dense 10                   | 10               |        850 |

61,706 parameters. C5 is a Dense layer on the flattened 5x5x16 maps (identical to the paper's 5x5
convolution at 32x32; at other sizes it takes every position). Any input >= 16x16 builds.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

from zoo.models._common import Counts, flatten_classifier, image_card, image_input, register_variants
from zoo.recipes import Recipe


@dataclass(frozen=True)
class LeNetConfig:
    """Feature maps of C1 and C3, their kernel size, widths of C5 and F6, the activation."""

    filters: tuple = (6, 16)
    kernel_size: int = 5
    fc: tuple = (120, 84)
    activation: str = "tanh"


VARIANTS = {"lenet5": LeNetConfig()}

# Training recipe: LeCun et al. 1998's 20 passes (section III.C); its stochastic diagonal Levenberg-Marquardt
# with hand-set step sizes is no Keras optimizer: Adam's defaults (Kingma & Ba 2015) take its place.
RECIPE = Recipe(
    source="LeCun et al. 1998 §III.C; Adam (Kingma & Ba 2015) for SDLM",
    optimizer="adam", learning_rate=1e-3, epochs=20, batch_size=32, keep="best_validation",
)

CARDS = {
    "lenet5": image_card(
        "lenet5",
        Counts(params=61_706, trainable_params=61_706, reference_counts="trainable"),
        family="lenet",
        input_shape=(32, 32, 1),
        num_classes=10,
        min_input_size=16,
        reference=(
            "LeCun, Bottou, Bengio, Haffner (1998). Gradient-Based Learning Applied to Document Recognition. "
            "Proceedings of the IEEE 86(11):2278-2324. http://yann.lecun.com/exdb/publis/pdf/lecun-98.pdf"
        ),
        recipe=RECIPE,
        description="LeNet-5 (C1-S2-C3-S4-C5-F6-output, tanh, average pooling) for 32x32 grayscale digits",
    )
}


def _build_lenet(config: LeNetConfig, *, name, num_classes, input_shape, include_top, pooling,
                 classifier_activation):
    """LeNet-5 as a functional model; without the head: the S4 feature map (or its global pool)."""
    inputs = image_input(input_shape)
    x = inputs
    for i, filters in enumerate(config.filters, start=1):
        x = layers.Conv2D(filters, config.kernel_size, activation=config.activation, name=f"conv{i}")(x)
        x = layers.AveragePooling2D(pool_size=2, strides=2, name=f"pool{i}")(x)
    # C5 and F6 (fc3, fc4) on the flattened S4 maps, then the output layer.
    outputs = flatten_classifier(
        x, config.fc, first=len(config.filters) + 1, activation=config.activation, num_classes=num_classes,
        include_top=include_top, pooling=pooling, classifier_activation=classifier_activation,
    )
    return keras.Model(inputs, outputs, name=name)


register_variants(VARIANTS, CARDS, _build_lenet)
