"""DenseNet-121/169/201/264: Huang, Liu, van der Maaten, Weinberger (2017). Densely Connected
Convolutional Networks. https://arxiv.org/abs/1608.06993

Table 1 of the paper (DenseNet-BC, growth rate k = 32, compression 0.5): a 7x7/2 convolution with
2k = 64 filters and a 3x3/2 max pooling, then four dense blocks separated by transition layers
(1x1 convolution, 2x2 average pooling), then batch norm, ReLU, global average pooling and a
1000-way fully connected layer.

| name        | dense layers per block | parameters (1000 classes)                            |
| ----------- | ---------------------- | ---------------------------------------------------- |
| densenet121 | 6-12-24-16             | 8,062,504 total (keras.applications.DenseNet121)     |
| densenet169 | 6-12-32-32             | 14,307,880 total (keras.applications.DenseNet169)    |
| densenet201 | 6-12-48-32             | 20,242,984 total (keras.applications.DenseNet201)    |
| densenet264 | 6-12-64-48             | 33,337,704 trainable (33,736,232 total; no keras app)|

Layer names are keras.applications.densenet's: zero_padding2d, conv1_conv, conv1_bn, conv1_relu,
zero_padding2d_1, pool1, conv2 (a `layers.DenseBlock` holding conv2_block1 ... whose sub-layers
are conv2_block1_0_bn, ...), pool2 (a `layers.TransitionBlock`: pool2_bn, pool2_relu, pool2_conv,
pool2_pool), conv3, pool3, conv4, pool4, conv5, bn, relu, avg_pool, predictions. The
keras.applications weight files (and ImageNet weights) therefore load by name.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

from layers.dense_connect import DenseBlock, TransitionBlock
from zoo.cards import ModelCard
from zoo.errors import InvalidArgumentError
from zoo.models._common import Counts, conv_pool_stem, image_card, image_input, is_positive_int, pooled_classifier
from zoo.models._common import register_variants
from zoo.recipes import Recipe


@dataclass(frozen=True)
class DenseNetConfig:
    """One DenseNet variant (a column of the paper's table 1).

    Attributes:
        blocks: dense layers in each dense block conv2, conv3, ... (e.g. (6, 12, 24, 16)).
        growth_rate: channels each dense layer adds (k).
        reduction: compression of the transition layers (theta; 0.5 in DenseNet-BC).
        stem_filters: filters of the 7x7 stem convolution (2k in the paper).
        bottleneck_factor: width of each dense layer's 1x1 bottleneck, in multiples of k (4).
        bn_epsilon: batch-normalization epsilon (keras.applications: 1.001e-5).
    """

    blocks: tuple[int, ...]
    growth_rate: int = 32
    reduction: float = 0.5
    stem_filters: int = 64
    bottleneck_factor: int = 4
    bn_epsilon: float = 1.001e-5


VARIANTS = {
    "densenet121": DenseNetConfig(blocks=(6, 12, 24, 16)),
    "densenet169": DenseNetConfig(blocks=(6, 12, 32, 32)),
    "densenet201": DenseNetConfig(blocks=(6, 12, 48, 32)),
    "densenet264": DenseNetConfig(blocks=(6, 12, 64, 48)),
}

_REFERENCE = (
    "Huang, Liu, van der Maaten, Weinberger (2017). Densely Connected Convolutional Networks. CVPR. "
    "https://arxiv.org/abs/1608.06993"
)

# params and trainable_params: the zoo model at 224x224x3 and 1000 classes (asserted by the tests).
_COUNTS = {
    "densenet121": Counts(
        8_062_504, 7_978_856, "keras.applications.DenseNet121", 8_062_504, "total", "DenseNet121",
        "9d60b8095a5708f2dcce2bca79d332c7", "30ee3e1110167f948a6b9946edeeb738",
    ),
    "densenet169": Counts(
        14_307_880, 14_149_480, "keras.applications.DenseNet169", 14_307_880, "total", "DenseNet169",
        "d699b8f76981ab1b30698df4c175e90b", "b8c4d4c20dd625c148057b9ff1c1176b",
    ),
    "densenet201": Counts(
        20_242_984, 20_013_928, "keras.applications.DenseNet201", 20_242_984, "total", "DenseNet201",
        "1ceb130c1ea1b78c3bf6114dbdfd8807", "c13680b51ded0fb44dff2d8f86ac8bb1",
    ),
    # No keras.applications model: the paper's configuration. 33,337,704 is the trainable count
    # (what a PyTorch DenseNet-264 with torchvision's layout reports); Keras' total adds the
    # batch-norm moving statistics.
    "densenet264": Counts(
        33_736_232, 33_337_704, "the DenseNet paper's configuration (torchvision-style DenseNet, k=32, 6-12-64-48)",
        33_337_704, "trainable",
    ),
}

# Each transition halves the size with a "valid" 2x2 pooling, so the map entering the last
# transition must be >= 2: 29 is the smallest input that builds (28 leaves a 1x1 map there).
MIN_INPUT_SIZE = 29


# Training recipe (Huang et al. 2017 section 4.2, ImageNet): SGD with Nesterov momentum 0.9, batch 256,
# weight decay 1e-4, lr 0.1 divided by 10 at epochs 30 and 60, 90 epochs.
RECIPE = Recipe(
    source="Huang et al. 2017 §4.2",
    optimizer="sgd", optimizer_args={"momentum": 0.9, "nesterov": True}, learning_rate=0.1,
    schedule="step", schedule_args={"every": 30, "factor": 0.1},
    epochs=90, batch_size=256, weight_decay=1e-4, augment=("random_crop", "horizontal_flip"), keep="best_validation",
)


def _card(name: str) -> ModelCard:
    config = VARIANTS[name]
    blocks = "-".join(map(str, config.blocks))
    return image_card(
        name,
        _COUNTS[name],
        family="densenet",
        reference=_REFERENCE,
        min_input_size=MIN_INPUT_SIZE,
        weights_file="densenet/{name}_weights_tf_dim_ordering_tf_kernels.h5",
        preprocessing="torch",
        recipe=RECIPE,
        description=f"DenseNet-{name[len('densenet'):]}-BC, growth rate {config.growth_rate}, dense blocks {blocks}",
        extra={"blocks": config.blocks, "growth_rate": config.growth_rate, "reduction": config.reduction},
    )


CARDS = {name: _card(name) for name in VARIANTS}


def _check(config: DenseNetConfig, name: str) -> None:
    if not config.blocks or not all(is_positive_int(n) for n in config.blocks):
        raise InvalidArgumentError(f"{name}: blocks must be a non-empty sequence of integers >= 1, got {config.blocks}")
    for field in ("growth_rate", "stem_filters", "bottleneck_factor"):
        value = getattr(config, field)
        if not is_positive_int(value):
            raise InvalidArgumentError(f"{name}: {field} must be an integer >= 1, got {value!r}")
    if not isinstance(config.reduction, (int, float)) or not 0 < config.reduction <= 1:
        raise InvalidArgumentError(f"{name}: reduction (compression) must be in (0, 1], got {config.reduction!r}")


def _build_densenet(config, *, name, num_classes, input_shape, include_top, pooling, classifier_activation):
    _check(config, name)
    options = dict(epsilon=config.bn_epsilon)

    inputs = image_input(input_shape)
    # Convolution 7x7 conv, stride 2; pooling 3x3 max pool, stride 2 (keras.applications' names).
    x = conv_pool_stem(
        inputs, config.stem_filters, use_bias=False, epsilon=config.bn_epsilon,
        pad_names=("zero_padding2d", "zero_padding2d_1"), pool_name="pool1",
    )
    # Dense block (1) ... (4), a transition layer (1x1 conv, 2x2 average pool) between two blocks.
    last = len(config.blocks) + 1
    for stage, count in enumerate(config.blocks, start=2):
        x = DenseBlock(
            count, growth_rate=config.growth_rate, bottleneck_factor=config.bottleneck_factor, name=f"conv{stage}",
            **options,
        )(x)
        if stage < last:
            x = TransitionBlock(config.reduction, name=f"pool{stage}", **options)(x)
    x = layers.BatchNormalization(epsilon=config.bn_epsilon, name="bn")(x)
    x = layers.Activation("relu", name="relu")(x)
    outputs = pooled_classifier(
        x, num_classes=num_classes, include_top=include_top, pooling=pooling, classifier_activation=classifier_activation
    )
    return keras.Model(inputs, outputs, name=name)


register_variants(VARIANTS, CARDS, _build_densenet)
