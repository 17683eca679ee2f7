"""ResNet-18/34/50/101/152: He, Zhang, Ren, Sun (2016). Deep Residual Learning for Image Recognition.

https://arxiv.org/abs/1512.03385, table 1: a 7x7/2 convolution and a 3x3/2 max pooling ("conv1",
"pool1"), then four stages conv2_x ... conv5_x of residual blocks with 64, 128, 256, 512 filters,
the first block of conv3..conv5 halving the size, then global average pooling and a 1000-way
fully connected layer.

| name      | block      | blocks per stage | layout                          | parameters (1000 classes) |
| --------- | ---------- | ---------------- | ------------------------------- | ------------------------- |
| resnet18  | basic      | 2-2-2-2          | torchvision (no conv bias)      | 11,689,512 trainable      |
| resnet34  | basic      | 3-4-6-3          | torchvision (no conv bias)      | 21,797,672 trainable      |
| resnet50  | bottleneck | 3-4-6-3          | keras.applications.ResNet50     | 25,636,712 total          |
| resnet101 | bottleneck | 3-4-23-3         | keras.applications.ResNet101    | 44,707,176 total          |
| resnet152 | bottleneck | 3-8-36-3         | keras.applications.ResNet152    | 60,419,944 total          |

Layer names are keras.applications' (conv1_pad, conv1_conv, conv1_bn, conv1_relu, pool1_pad,
pool1_pool, conv{2..5}_block{i}, avg_pool, predictions); each block is one `layers.BasicBlock` or
`layers.BottleneckBlock` whose sub-layers carry keras' names (conv2_block1_1_conv, ...), so the
keras.applications weight files (and ImageNet weights) load by name into resnet50/101/152.
The stem's zero padding + "valid" max pooling equals PyTorch's max pooling with padding 1 because
it follows a ReLU (inputs >= 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from layers.residual import BasicBlock, BottleneckBlock
from zoo.cards import ModelCard
from zoo.errors import InvalidArgumentError
from zoo.models._common import Counts, conv_pool_stem, image_card, image_input, is_positive_int, pooled_classifier
from zoo.models._common import register_variants
from zoo.recipes import Recipe

BLOCKS = {"basic": BasicBlock, "bottleneck": BottleneckBlock}


@dataclass(frozen=True)
class ResNetConfig:
    """One ResNet variant (a column of the paper's table 1).

    Attributes:
        blocks: residual blocks in each stage conv2, conv3, ... (e.g. (3, 4, 6, 3)).
        block_type: "basic" (two 3x3 convolutions) or "bottleneck" (1x1, 3x3, 1x1 with 4x expansion).
        filters: filters of each stage (bottleneck width for bottleneck blocks).
        stem_filters: filters of the 7x7 stem convolution.
        use_bias: whether convolutions have a bias (keras.applications: True; torchvision: False).
        bn_epsilon: batch-normalization epsilon (keras.applications: 1.001e-5; PyTorch: 1e-5).
    """

    blocks: tuple[int, ...]
    block_type: str = "bottleneck"
    filters: tuple[int, ...] = (64, 128, 256, 512)
    stem_filters: int = 64
    use_bias: bool = True
    bn_epsilon: float = 1.001e-5


_TORCHVISION = dict(block_type="basic", use_bias=False, bn_epsilon=1e-5)

VARIANTS = {
    "resnet18": ResNetConfig(blocks=(2, 2, 2, 2), **_TORCHVISION),
    "resnet34": ResNetConfig(blocks=(3, 4, 6, 3), **_TORCHVISION),
    "resnet50": ResNetConfig(blocks=(3, 4, 6, 3)),
    "resnet101": ResNetConfig(blocks=(3, 4, 23, 3)),
    "resnet152": ResNetConfig(blocks=(3, 8, 36, 3)),
}

_REFERENCE = (
    "He, Zhang, Ren, Sun (2016). Deep Residual Learning for Image Recognition. CVPR. "
    "https://arxiv.org/abs/1512.03385"
)

# params and trainable_params: the zoo model at 224x224x3 and 1000 classes (asserted by the tests).
_COUNTS = {
    "resnet18": Counts(11_699_112, 11_689_512, "torchvision.models.resnet18", 11_689_512, "trainable"),
    "resnet34": Counts(21_814_696, 21_797_672, "torchvision.models.resnet34", 21_797_672, "trainable"),
    "resnet50": Counts(
        25_636_712, 25_583_592, "keras.applications.ResNet50", 25_636_712, "total", "ResNet50",
        "2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626",
    ),
    "resnet101": Counts(
        44_707_176, 44_601_832, "keras.applications.ResNet101", 44_707_176, "total", "ResNet101",
        "f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21",
    ),
    "resnet152": Counts(
        60_419_944, 60_268_520, "keras.applications.ResNet152", 60_419_944, "total", "ResNet152",
        "100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c",
    ),
}


# Training recipe (He et al. 2016 section 3.4; the 90-epoch form of torchvision's
# references/classification/train.py): SGD, batch 256, momentum 0.9, weight decay 1e-4, lr 0.1 x0.1 every 30 epochs.
RECIPE = Recipe(
    source="He et al. 2016 §3.4; torchvision references/classification/train.py",
    optimizer="sgd", optimizer_args={"momentum": 0.9}, learning_rate=0.1,
    schedule="step", schedule_args={"every": 30, "factor": 0.1},
    epochs=90, batch_size=256, weight_decay=1e-4, augment=("random_crop", "horizontal_flip"), keep="best_validation",
    notes="the paper divides by 10 when the error plateaus (60e4 iterations); torchvision's fixed steps are used",
)


def _card(name: str) -> ModelCard:
    config, counts = VARIANTS[name], _COUNTS[name]
    blocks = "-".join(map(str, config.blocks))
    layout = "keras.applications" if counts.keras_application else "torchvision"
    return image_card(
        name,
        counts,
        family="resnet",
        reference=_REFERENCE,
        # Every layer accepts a 1x1 map (the stem pads, the strided convolutions are 1x1 or padded),
        # so any size builds; keras.applications asks for >= 32 (the last stage is then 1x1).
        min_input_size=1,
        weights_file="resnet/{name}_weights_tf_dim_ordering_tf_kernels.h5",
        preprocessing="caffe",
        recipe=RECIPE,
        description=f"ResNet-{name[len('resnet'):]}, {config.block_type} blocks {blocks}, {layout} layout",
        extra={"blocks": config.blocks, "block_type": config.block_type, "output_stride": 32},
    )


CARDS = {name: _card(name) for name in VARIANTS}


def _check(config: ResNetConfig, name: str) -> None:
    if config.block_type not in BLOCKS:
        raise InvalidArgumentError(f"{name}: block_type must be one of {sorted(BLOCKS)}, got {config.block_type!r}")
    if len(config.blocks) != len(config.filters) or not config.blocks:
        raise InvalidArgumentError(
            f"{name}: blocks {config.blocks} and filters {config.filters} must give one entry per stage (same length)"
        )
    if not all(is_positive_int(n) for n in config.blocks):
        raise InvalidArgumentError(f"{name}: blocks must be integers >= 1, got {config.blocks}")


def _build_resnet(config, *, name, num_classes, input_shape, include_top, pooling, classifier_activation):
    _check(config, name)
    block = BLOCKS[config.block_type]
    options = dict(use_bias=config.use_bias, epsilon=config.bn_epsilon)

    inputs = image_input(input_shape)
    # conv1: 7x7, 64, stride 2; then 3x3 max pool, stride 2.
    x = conv_pool_stem(inputs, config.stem_filters, use_bias=config.use_bias, epsilon=config.bn_epsilon)
    # conv2_x ... conv5_x: the first block of every stage after conv2 halves the size; a block
    # gets a projection shortcut exactly when its stride or channels change ("auto").
    for stage, (filters, count) in enumerate(zip(config.filters, config.blocks), start=2):
        for i in range(1, count + 1):
            stride = 2 if (i == 1 and stage > 2) else 1
            x = block(filters, stride=stride, projection="auto", name=f"conv{stage}_block{i}", **options)(x)
    outputs = pooled_classifier(
        x, num_classes=num_classes, include_top=include_top, pooling=pooling, classifier_activation=classifier_activation
    )
    return keras.Model(inputs, outputs, name=name)


register_variants(VARIANTS, CARDS, _build_resnet)
