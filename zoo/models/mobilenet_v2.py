"""MobileNetV2 (Sandler et al. 2018), following the paper's Table 2 and keras.applications.

    M. Sandler, A. Howard, M. Zhu, A. Zhmoginov, L.-C. Chen (2018). MobileNetV2: Inverted Residuals
    and Linear Bottlenecks. CVPR 2018. https://arxiv.org/abs/1801.04381

Table 2 as data: a 3x3 stride-2 convolution of 32 filters, then seven stages of inverted residual
blocks (`layers.InvertedResidual`), each row `(t, c, n, s)`: expansion factor t, output channels c,
n blocks, the first of stride s; then a 1x1 convolution to 1280 channels, global average pooling and
the classifier. The width multiplier `alpha` scales every width, rounded to a multiple of 8 as
keras.applications rounds it (the last convolution only grows, for alpha > 1).

Layer names are keras.applications' (Conv1, bn_Conv1, Conv1_relu, expanded_conv_*, block_1_* ...
block_16_*, Conv_1, Conv_1_bn, out_relu, predictions), so its weight files load by name.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

from layers.inverted_residual import InvertedResidual
from zoo.models._common import Counts, image_card, image_input, pooled_classifier, register_variants
from zoo.recipes import Recipe

_BN = dict(epsilon=1e-3, momentum=0.999)  # keras.applications' batch normalization


@dataclass(frozen=True)
class MobileNetV2Config:
    """Table 2 of the paper, with the width multiplier.

    Attributes:
        alpha: width multiplier (1.0 in Table 2; keras.applications publishes weights for 0.35,
            0.5, 0.75, 1.0, 1.3 and 1.4).
        stages: rows `(expansion t, channels c, repeats n, stride s)` of the bottleneck stages.
        stem_filters: filters of the first 3x3 convolution (before alpha).
        last_filters: filters of the last 1x1 convolution (scaled only when alpha > 1).
        dropout: dropout before the classifier (0 in keras.applications, 0.2 in torchvision).
    """

    alpha: float = 1.0
    stages: tuple[tuple[int, int, int, int], ...] = (
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    )
    stem_filters: int = 32
    last_filters: int = 1280
    dropout: float = 0.0


VARIANTS = {"mobilenet_v2": MobileNetV2Config()}

# Training recipe (Sandler et al. 2018 section 6.1): RMSProp (decay 0.9, momentum 0.9), weight decay 4e-5,
# lr 0.045 x0.98 every epoch, batch 96.
RECIPE = Recipe(
    source="Sandler et al. 2018 §6.1",
    optimizer="rmsprop", optimizer_args={"rho": 0.9, "momentum": 0.9}, learning_rate=0.045,
    schedule="step", schedule_args={"every": 1, "factor": 0.98},
    epochs=300, batch_size=96, weight_decay=4e-5, augment=("random_crop", "horizontal_flip"), keep="best_validation",
    notes="the paper gives no epoch count: 300 here (the learning rate is then 0.2% of its start)",
)

CARDS = {
    "mobilenet_v2": image_card(
        "mobilenet_v2",
        Counts(
            params=3_538_984,
            trainable_params=3_504_872,
            reference_impl="keras.applications.MobileNetV2",
            reference_params=3_538_984,
            reference_counts="total",
            keras_application="MobileNetV2",
            # keras.applications publishes no hashes for the MobileNetV2 files (md5 None)
        ),
        family="mobilenet_v2",
        # Every convolution pads ("same", or keras' correct_pad before stride 2), so any size >= 1
        # would build; 32 (the total stride, keras.applications' minimum) is the smallest size
        # whose last feature map is not made of padding alone.
        min_input_size=32,
        reference=(
            "Sandler, M., Howard, A., Zhu, M., Zhmoginov, A. & Chen, L.-C. (2018). MobileNetV2: Inverted "
            "Residuals and Linear Bottlenecks. CVPR 2018. https://arxiv.org/abs/1801.04381"
        ),
        weights_file="mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5",
        preprocessing="tf",
        recipe=RECIPE,
        description="MobileNetV2 1.0 (width multiplier alpha), inverted residuals with linear bottlenecks",
        extra={"alpha": 1.0, "total_stride": 32},
    )
}


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """`value` rounded to the nearest multiple of `divisor`, never more than 10% below it.

    The rounding of keras.applications and the reference TensorFlow implementation.
    """
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def _build_mobilenet_v2(config: MobileNetV2Config, *, name, num_classes, input_shape, include_top, pooling,
                        classifier_activation):
    alpha = config.alpha
    inputs = image_input(input_shape)
    x = layers.Conv2D(make_divisible(config.stem_filters * alpha), 3, strides=2, padding="same", use_bias=False,
                      name="Conv1")(inputs)
    x = layers.BatchNormalization(**_BN, name="bn_Conv1")(x)
    x = layers.ReLU(6.0, name="Conv1_relu")(x)

    block_id = 0
    for expansion, channels, repeats, stride in config.stages:
        filters = make_divisible(int(channels * alpha))
        for i in range(repeats):
            x = InvertedResidual(
                filters,
                expansion=expansion,
                stride=stride if i == 0 else 1,
                name="expanded_conv" if block_id == 0 else f"block_{block_id}",
            )(x)
            block_id += 1

    last_filters = make_divisible(config.last_filters * alpha) if alpha > 1.0 else config.last_filters
    x = layers.Conv2D(last_filters, 1, use_bias=False, name="Conv_1")(x)
    x = layers.BatchNormalization(**_BN, name="Conv_1_bn")(x)
    x = layers.ReLU(6.0, name="out_relu")(x)
    outputs = pooled_classifier(x, num_classes=num_classes, include_top=include_top, pooling=pooling,
                                classifier_activation=classifier_activation, dropout=config.dropout)
    return keras.Model(inputs, outputs, name=name)


register_variants(VARIANTS, CARDS, _build_mobilenet_v2)
