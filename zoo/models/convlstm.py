"""Convolutional LSTM for spatio-temporal grids (video, radar maps): stacked ConvLSTM layers.

Shi, Chen, Wang, Yeung, Wong, Woo (2015). Convolutional LSTM Network: A Machine Learning Approach
for Precipitation Nowcasting. NeurIPS 2015. arXiv:1506.04214. Equations 3 (the ConvLSTM cell:
every gate a convolution of the input and of the hidden state). The default stack follows the
deepest network the paper compares on Moving MNIST (section 4.1: three ConvLSTM layers with 128,
64 and 64 hidden states and 5x5 kernels); here it encodes a clip and a classifier reads its final
state (the paper's forecasting network is not reproduced):

    padding_mask    (only with `mask_value`) True for frames that are not all `mask_value`
    convlstm{i}     keras.layers.ConvLSTM2D filters[i], kernel_size, "same"; all but the last
                    return the whole sequence; the last returns its final hidden state
    avg_pool        global average over the final state's height and width
    predictions     Dense num_classes

One layer has `4 * (k * k * (c_in + f) * f + f)` parameters (input-to-state and state-to-state
convolutions of the four gates, one bias each). At the default input (None, 64, 64, 1) and 2
classes: 3,700,354 parameters. Inputs are `[batch, time, height, width, channels]`; `time`,
`height` and `width` may be None. Without the head the model returns the final state
`[batch, height, width, filters[-1]]` (pooling=None) or its spatial average / maximum.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

from layers.sequence import PaddingMask
from zoo.cards import ModelCard
from zoo.errors import InvalidArgumentError
from zoo.models._common import global_pool, register_variants
from zoo.models.recurrent import check_widths
from zoo.recipes import Recipe


@dataclass(frozen=True)
class ConvLSTMConfig:
    """A stack of ConvLSTM2D layers.

    Attributes:
        filters: hidden-state channels of each layer.
        kernel_size: the (square) kernel of the input-to-state and state-to-state convolutions.
        mask_value: frames whose values all equal it are padding (skipped), or None (default:
            an all-black frame is a real frame).
    """

    filters: tuple = (128, 64, 64)
    kernel_size: int = 5
    mask_value: float | None = None


VARIANTS = {"convlstm": ConvLSTMConfig()}

# Training recipe (Shi et al. 2015 section 4.1): RMSProp, lr 1e-3, decay 0.9, batch 16, early stopping on
# the validation set.
RECIPE = Recipe(
    source="Shi et al. 2015 §4.1",
    optimizer="rmsprop", optimizer_args={"rho": 0.9}, learning_rate=1e-3,
    epochs=100, batch_size=16, keep="best_validation", patience=10,
    notes="the paper gives no epoch count or patience: 100 and 10 here",
)

CARDS = {
    "convlstm": ModelCard(
        name="convlstm",
        family="convlstm",
        task="sequence",
        input_shape=(None, 64, 64, 1),
        params=3_700_354,
        trainable_params=3_700_354,
        num_classes=2,
        reference=(
            "Shi, Chen, Wang, Yeung, Wong, Woo (2015). Convolutional LSTM Network: A Machine Learning Approach "
            "for Precipitation Nowcasting. NeurIPS 2015. arXiv:1506.04214"
        ),
        reference_impl="keras.layers.ConvLSTM2D",
        head_layers=("predictions",),
        recipe=RECIPE,
        description="stacked ConvLSTM (128, 64, 64 filters, 5x5) over [time, height, width, channels] clips",
        extra={"input": "[batch, time, height, width, channels] (video / spatio-temporal grids)"},
    )
}


def convlstm_layer_params(filters: int, kernel_size: int, in_channels: int) -> int:
    """Parameters of one ConvLSTM2D layer: 4 * (k * k * (c_in + f) * f + f)."""
    return 4 * (kernel_size * kernel_size * (in_channels + filters) * filters + filters)


def _build_convlstm(config: ConvLSTMConfig, *, name, num_classes, input_shape, include_top, pooling,
                    classifier_activation):
    """ConvLSTM2D layers ("same" padding) over the clip, then the head on the final state."""
    filters = check_widths(config.filters, "filters", name)
    check_widths(config.kernel_size, "kernel_size", name)
    shape = tuple(input_shape)
    if shape[-1] is None:
        raise InvalidArgumentError(
            f"{name} takes clips [time, height, width, channels] with a known number of channels, "
            f"e.g. (None, 64, 64, 1); got input_shape={shape}"
        )
    inputs = keras.Input(shape=shape, name="input_layer")
    mask = None if config.mask_value is None else PaddingMask(config.mask_value, name="padding_mask")(inputs)
    x = inputs
    for i, width in enumerate(filters, start=1):
        x = layers.ConvLSTM2D(
            width,
            config.kernel_size,
            padding="same",
            return_sequences=i < len(filters),
            name=f"convlstm{i}",
        )(x, mask=mask)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = global_pool(x, pooling)
    return keras.Model(inputs, x, name=name)


register_variants(VARIANTS, CARDS, _build_convlstm)
