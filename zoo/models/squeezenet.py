"""SqueezeNet 1.0 (Iandola et al. 2016, Table 1) and 1.1 (the SqueezeNet v1.1 release), as torchvision.

    F. N. Iandola, S. Han, M. W. Moskewicz, K. Ashraf, W. J. Dally, K. Keutzer (2016). SqueezeNet:
    AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size.
    https://arxiv.org/abs/1602.07360

The layer tables of torchvision.models.squeezenet1_0 / squeezenet1_1 as data: a first convolution
(1.0: 96 filters 7x7 stride 2; 1.1: 64 filters 3x3 stride 2, from github.com/forresti/SqueezeNet
v1.1, 2.4x less computation at the same accuracy), ReLU, then fire modules fire2..fire9
(`layers.FireModule`: squeeze s1x1, expand e1x1 and e3x3 filters) with 3x3 stride-2 max pools in
between (1.0 after conv1, fire4 and fire8; 1.1 after conv1, fire3 and fire5), then the classifier:
dropout 0.5, a 1x1 convolution to the classes ("conv10"), ReLU and global average pooling.

The max pools are Caffe's and torch's `ceil_mode=True` pools (the last window may run past the
border). A Keras "valid" pool after one zero row and column at the bottom and right gives exactly
that for a 3x3 stride-2 window at any input size; zeros stand in for torch's ignored border because
every pooled tensor is the output of a ReLU (>= 0).

Layer names follow the Caffe model (conv1, pool1, fire2 ... fire9, drop9, conv10, pool10) with "_"
for "/" inside the fire modules (fire2_squeeze1x1, fire2_expand3x3, ...); see `layers.fire`.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

from layers.fire import FireModule
from zoo.models._common import Counts, global_pool, image_card, image_input, register_variants
from zoo.recipes import Recipe

POOL = "pool"


@dataclass(frozen=True)
class SqueezeNetConfig:
    """One SqueezeNet version.

    Attributes:
        stem_filters: filters of conv1.
        stem_kernel: kernel size of conv1 (stride 2, no padding).
        features: after conv1, in order: POOL (a 3x3 stride-2 ceil-mode max pool) or a fire module
            `(s1x1, e1x1, e3x3)`; fire modules are numbered from fire2.
        dropout: dropout rate before conv10 (0.5 in the paper).
    """

    stem_filters: int
    stem_kernel: int
    features: tuple
    dropout: float = 0.5


VARIANTS = {
    "squeezenet1_0": SqueezeNetConfig(
        stem_filters=96,
        stem_kernel=7,
        features=(
            POOL,
            (16, 64, 64),  # fire2
            (16, 64, 64),  # fire3
            (32, 128, 128),  # fire4
            POOL,
            (32, 128, 128),  # fire5
            (48, 192, 192),  # fire6
            (48, 192, 192),  # fire7
            (64, 256, 256),  # fire8
            POOL,
            (64, 256, 256),  # fire9
        ),
    ),
    "squeezenet1_1": SqueezeNetConfig(
        stem_filters=64,
        stem_kernel=3,
        features=(
            POOL,
            (16, 64, 64),  # fire2
            (16, 64, 64),  # fire3
            POOL,
            (32, 128, 128),  # fire4
            (32, 128, 128),  # fire5
            POOL,
            (48, 192, 192),  # fire6
            (48, 192, 192),  # fire7
            (64, 256, 256),  # fire8
            (64, 256, 256),  # fire9
        ),
    ),
}

_REFERENCE = (
    "Iandola, F. N., Han, S., Moskewicz, M. W., Ashraf, K., Dally, W. J. & Keutzer, K. (2016). SqueezeNet: "
    "AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size. https://arxiv.org/abs/1602.07360"
)

# name: (params at 224x224x3 and 1000 classes (= torchvision's count: no batch norm), smallest input
#        size, description)
_TABLE = {
    "squeezenet1_0": (1_248_424, 21, "SqueezeNet 1.0 (the paper's Table 1)"),
    "squeezenet1_1": (1_235_496, 17, "SqueezeNet 1.1 (3x3 conv1, earlier pools: 2.4x fewer FLOPs than 1.0)"),
}

_SOURCES = {  # where each layer table was published
    "squeezenet1_0": "https://github.com/forresti/SqueezeNet/tree/master/SqueezeNet_v1.0",
    "squeezenet1_1": "https://github.com/forresti/SqueezeNet/tree/master/SqueezeNet_v1.1",
}

# Training recipe (Iandola et al. 2016; DeepScale/SqueezeNet SqueezeNet_v1.0/solver.prototxt): SGD, momentum 0.9,
# weight decay 2e-4, lr 0.04 with linear ("poly", power 1) decay, batch 512, 170,000 iterations (~68 epochs).
RECIPE = Recipe(
    source="Iandola et al. 2016; DeepScale/SqueezeNet SqueezeNet_v1.0/solver.prototxt",
    optimizer="sgd", optimizer_args={"momentum": 0.9}, learning_rate=0.04, schedule="linear",
    epochs=68, batch_size=512, weight_decay=2e-4, augment=("random_crop", "horizontal_flip"), keep="best_validation",
)

CARDS = {
    name: image_card(
        name,
        Counts(params, params, f"torchvision.models.{name}", params, "trainable"),
        family="squeezenet",
        reference=_REFERENCE,
        min_input_size=min_size,  # the last max pool needs a 2x2 input
        head_layers=("conv10",),
        recipe=RECIPE,
        description=description,
        extra={"version": name[-3:].replace("_", "."), "source": _SOURCES[name]},
    )
    for name, (params, min_size, description) in _TABLE.items()
}


def _ceil_max_pool(x, name):
    """torch's MaxPool2d(3, stride=2, ceil_mode=True) on a non-negative input (see the module docstring)."""
    x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"{name}_pad")(x)
    return layers.MaxPooling2D(3, strides=2, name=name)(x)


def _build_squeezenet(config: SqueezeNetConfig, *, name, num_classes, input_shape, include_top, pooling,
                      classifier_activation):
    inputs = image_input(input_shape)
    x = layers.Conv2D(config.stem_filters, config.stem_kernel, strides=2, name="conv1")(inputs)
    x = layers.ReLU(name="conv1_relu")(x)
    last = 1  # number of the layer before a pool, which names it (Caffe: pool1, pool4, pool8)
    for entry in config.features:
        if entry == POOL:
            x = _ceil_max_pool(x, f"pool{last}")
        else:
            last += 1
            x = FireModule(*entry, name=f"fire{last}")(x)

    if not include_top:
        return keras.Model(inputs, global_pool(x, pooling), name=name)
    # The classifier keeps the Caffe names whatever the features (conv10 is the card's head layer);
    # torchvision initializes it from N(0, 0.01).
    x = layers.Dropout(config.dropout, name="drop9")(x)
    x = layers.Conv2D(num_classes, 1, kernel_initializer=keras.initializers.RandomNormal(stddev=0.01), name="conv10")(x)
    x = layers.ReLU(name="conv10_relu")(x)
    x = layers.GlobalAveragePooling2D(name="pool10")(x)
    outputs = layers.Activation(classifier_activation, name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


register_variants(VARIANTS, CARDS, _build_squeezenet)
