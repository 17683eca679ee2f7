"""VGG (Simonyan & Zisserman 2015), configurations A, B, D and E of the paper's Table 1.

    K. Simonyan, A. Zisserman (2015). Very Deep Convolutional Networks for Large-Scale Image
    Recognition. ICLR 2015. https://arxiv.org/abs/1409.1556

Every configuration is five blocks of 3x3 convolutions (stride 1, "same" padding, ReLU), each block
ending in a 2x2 max pool of stride 2, then three fully connected layers (4096, 4096, classes) with
dropout 0.5 after the first two (the paper's section 3.1). Table 1 as data: the convolutions per
block (A: vgg11, B: vgg13, D: vgg16, E: vgg19); the widths 64, 128, 256, 512, 512 are shared.

Layer names are keras.applications' (block{b}_conv{c}, block{b}_pool, flatten, fc1, fc2,
predictions), so its VGG16 / VGG19 weight files load by name. The head flattens the last feature map,
as the paper and keras.applications do, so `fc1` depends on the input size (25088 inputs at 224x224)
and a model with the head needs a fixed input size.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

from zoo.errors import InvalidArgumentError
from zoo.models._common import Counts, flatten_classifier, image_card, image_input, register_variants
from zoo.recipes import Recipe


@dataclass(frozen=True)
class VGGConfig:
    """One column of Table 1.

    Attributes:
        convs_per_block: 3x3 convolutions in each of the five blocks.
        widths: filters of the convolutions of each block.
        fc_units: units of the two hidden fully connected layers (4096 in the paper).
        dropout: dropout rate after fc1 and fc2 (0.5 in the paper; keras.applications has none).
    """

    convs_per_block: tuple[int, ...]
    widths: tuple[int, ...] = (64, 128, 256, 512, 512)
    fc_units: int = 4096
    dropout: float = 0.5


VARIANTS = {
    "vgg11": VGGConfig(convs_per_block=(1, 1, 2, 2, 2)),  # A
    "vgg13": VGGConfig(convs_per_block=(2, 2, 2, 2, 2)),  # B
    "vgg16": VGGConfig(convs_per_block=(2, 2, 3, 3, 3)),  # D
    "vgg19": VGGConfig(convs_per_block=(2, 2, 4, 4, 4)),  # E
}

_REFERENCE = (
    "Simonyan, K. & Zisserman, A. (2015). Very Deep Convolutional Networks for Large-Scale Image "
    "Recognition. ICLR 2015. https://arxiv.org/abs/1409.1556"
)

# name: (Table 1 column, params at 224x224x3 and 1000 classes, reference implementation, its count,
#        what it counts, keras.applications function, md5 of its weight file, md5 without the top)
_TABLE = {
    "vgg11": ("A", 132_863_336, "torchvision.models.vgg11", 132_863_336, "trainable", None, None, None),
    "vgg13": ("B", 133_047_848, "torchvision.models.vgg13", 133_047_848, "trainable", None, None, None),
    "vgg16": (
        "D", 138_357_544, "keras.applications.VGG16", 138_357_544, "total", "VGG16",
        "64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc",
    ),
    "vgg19": (
        "E", 143_667_240, "keras.applications.VGG19", 143_667_240, "total", "VGG19",
        "cbe5617147190e668d6c5d5026f83318", "253f8cb515780f3b799900260a226db6",
    ),
}

# Training recipe (Simonyan & Zisserman 2015 section 3.1): SGD, batch 256, momentum 0.9, weight decay 5e-4,
# lr 0.01 divided by 10 when the validation accuracy stopped improving, 74 epochs; crops and flips.
RECIPE = Recipe(
    source="Simonyan & Zisserman 2015 §3.1",
    optimizer="sgd", optimizer_args={"momentum": 0.9}, learning_rate=0.01,
    schedule="plateau", schedule_args={"factor": 0.1, "patience": 5, "min_lr": 1e-5, "monitor": "val_loss"},
    epochs=74, batch_size=256, weight_decay=5e-4, augment=("random_crop", "horizontal_flip"), keep="best_validation",
    notes="the plateau is read as 5 epochs without a lower validation loss; scale jittering and RGB shift left out",
)

CARDS = {
    name: image_card(
        name,
        # no batch normalization: every weight is trainable
        Counts(params, params, impl, ref_params, counts, app, md5, md5_notop),
        family="vgg",
        reference=_REFERENCE,
        min_input_size=32,  # five 2x2 pools of stride 2 ("valid"): 31 leaves an empty feature map
        weights_file="{name}/{name}_weights_tf_dim_ordering_tf_kernels.h5",
        preprocessing="caffe",
        recipe=RECIPE,
        description=f"VGG-{name[3:]} (configuration {column}), {sum(VARIANTS[name].convs_per_block) + 3} weight layers",
        extra={"configuration": column},
    )
    for name, (column, params, impl, ref_params, counts, app, md5, md5_notop) in _TABLE.items()
}


def _build_vgg(config: VGGConfig, *, name, num_classes, input_shape, include_top, pooling, classifier_activation):
    if include_top and any(size is None for size in input_shape[:-1]):
        raise InvalidArgumentError(
            f"{name} with its head (include_top=True) flattens the last feature map, so it needs a fixed input "
            f"size, got input_shape={tuple(input_shape)}; pass sizes like (224, 224, 3), or include_top=False"
        )
    if len(config.convs_per_block) != len(config.widths):
        raise InvalidArgumentError(
            f"{name}: convs_per_block {config.convs_per_block} and widths {config.widths} must have one entry per block"
        )
    inputs = image_input(input_shape)
    x = inputs
    for block, (convs, width) in enumerate(zip(config.convs_per_block, config.widths), start=1):
        for conv in range(1, convs + 1):
            x = layers.Conv2D(width, 3, padding="same", activation="relu", name=f"block{block}_conv{conv}")(x)
        x = layers.MaxPooling2D(2, strides=2, name=f"block{block}_pool")(x)

    # Three fully connected layers: 4096, 4096, classes; dropout after the first two.
    outputs = flatten_classifier(
        x, (config.fc_units, config.fc_units), first=1, dropout=config.dropout,
        dropout_name="fc{}_dropout" if config.dropout else None, num_classes=num_classes, include_top=include_top,
        pooling=pooling, classifier_activation=classifier_activation,
    )
    return keras.Model(inputs, outputs, name=name)


register_variants(VARIANTS, CARDS, _build_vgg)
