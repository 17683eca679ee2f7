"""AlexNet.

Krizhevsky, Sutskever, Hinton (2012). ImageNet Classification with Deep Convolutional Neural
Networks. NeurIPS 2012. https://papers.nips.cc/paper/4824 . Section 3.5 and Figure 2, as one
tower (the two-GPU split and its grouped convolutions undone, as in the paper's single-GPU
comparison), on the 227x227x3 input the layer sizes imply:

| layer        | paper                                   | output (227x227x3 input) |
| ------------ | --------------------------------------- | ------------------------ |
| conv1        | 96 @ 11x11, stride 4, ReLU              | 55 x 55 x 96             |
| lrn1, pool1  | LRN (n=5, k=2, alpha=1e-4, beta=0.75), max pool 3/2 (overlapping) | 27 x 27 x 96 |
| conv2        | 256 @ 5x5 (pad 2), ReLU                 | 27 x 27 x 256            |
| lrn2, pool2  | LRN, max pool 3/2                       | 13 x 13 x 256            |
| conv3        | 384 @ 3x3 (pad 1), ReLU                 | 13 x 13 x 384            |
| conv4        | 384 @ 3x3 (pad 1), ReLU                 | 13 x 13 x 384            |
| conv5        | 256 @ 3x3 (pad 1), ReLU                 | 13 x 13 x 256            |
| pool5        | max pool 3/2                            | 6 x 6 x 256              |
| fc6, fc7     | 4096, ReLU, dropout 0.5 each            | 4096                     |
| predictions  | 1000-way softmax                        | 1000                     |

62,378,344 parameters at 1000 classes (the paper: "60 million"). torchvision's `alexnet` is the
later "one weird trick" variant (64-192-384-256-256 filters, no LRN, 61,100,840 parameters), not
this table. The flatten head makes fc6's size depend on the input size; any input >= 67x67 builds.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

from layers.normalization import LocalResponseNormalization
from zoo.models._common import Counts, flatten_classifier, image_card, image_input, register_variants
from zoo.recipes import Recipe


@dataclass(frozen=True)
class AlexNetConfig:
    """Filters of conv1..conv5 (with their kernel sizes and conv1's stride), fc widths, dropout, LRN."""

    filters: tuple = (96, 256, 384, 384, 256)
    kernel_sizes: tuple = (11, 5, 3, 3, 3)
    stem_stride: int = 4
    fc: tuple = (4096, 4096)
    dropout: float = 0.5
    lrn_size: int = 5
    lrn_alpha: float = 1e-4
    lrn_beta: float = 0.75
    lrn_k: float = 2.0


VARIANTS = {"alexnet": AlexNetConfig()}

# Training recipe (Krizhevsky et al. 2012 section 5): SGD, batch 128, momentum 0.9, weight decay 5e-4,
# lr 0.01 divided by 10 when the validation error stopped improving, ~90 epochs; crops and flips (section 4.1).
RECIPE = Recipe(
    source="Krizhevsky et al. 2012 §4.1, §5",
    optimizer="sgd", optimizer_args={"momentum": 0.9}, learning_rate=0.01,
    schedule="plateau", schedule_args={"factor": 0.1, "patience": 5, "min_lr": 1e-5, "monitor": "val_loss"},
    epochs=90, batch_size=128, weight_decay=5e-4, augment=("random_crop", "horizontal_flip"), keep="best_validation",
    notes="'when the validation error stopped improving' is read as 5 epochs without a lower validation loss; "
          "the PCA colour noise is left out",
)

CARDS = {
    "alexnet": image_card(
        "alexnet",
        Counts(params=62_378_344, trainable_params=62_378_344, reference_counts="trainable"),
        family="alexnet",
        input_shape=(227, 227, 3),
        min_input_size=67,
        reference=(
            "Krizhevsky, Sutskever, Hinton (2012). ImageNet Classification with Deep Convolutional Neural "
            "Networks. NeurIPS 2012. https://papers.nips.cc/paper/4824"
        ),
        recipe=RECIPE,
        description="AlexNet, the paper's layer table as one tower: 5 conv (LRN after conv1-2) + 3 fc",
        extra={"torchvision.models.alexnet": "a different, later variant (61,100,840 parameters)"},
    )
}


def _build_alexnet(config: AlexNetConfig, *, name, num_classes, input_shape, include_top, pooling,
                   classifier_activation):
    """AlexNet as a functional model; without the head: the pool5 feature map (or its global pool)."""

    def lrn(index):
        return LocalResponseNormalization(
            size=config.lrn_size, alpha=config.lrn_alpha, beta=config.lrn_beta, k=config.lrn_k, name=f"lrn{index}"
        )

    def conv(index, padding="same", strides=1):
        return layers.Conv2D(
            config.filters[index - 1],
            config.kernel_sizes[index - 1],
            strides=strides,
            padding=padding,
            activation="relu",
            name=f"conv{index}",
        )

    def pool(index):
        return layers.MaxPooling2D(pool_size=3, strides=2, name=f"pool{index}")

    inputs = image_input(input_shape)
    x = conv(1, padding="valid", strides=config.stem_stride)(inputs)
    x = lrn(1)(x)
    x = pool(1)(x)
    x = conv(2)(x)
    x = lrn(2)(x)
    x = pool(2)(x)
    x = conv(3)(x)
    x = conv(4)(x)
    x = conv(5)(x)
    x = pool(5)(x)
    # fc6, fc7 (dropout after each), predictions.
    outputs = flatten_classifier(
        x, config.fc, first=6, dropout=config.dropout, dropout_name="drop{}", num_classes=num_classes,
        include_top=include_top, pooling=pooling, classifier_activation=classifier_activation,
    )
    return keras.Model(inputs, outputs, name=name)


register_variants(VARIANTS, CARDS, _build_alexnet)
