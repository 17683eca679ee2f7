"""1-D convolutional networks for sequences: the fully convolutional baseline, and the TCN.

`conv1d`: the Fully Convolutional Network (FCN) of Wang, Yan & Oates (2017). Time Series
Classification from Scratch with Deep Neural Networks: A Strong Baseline. IJCNN 2017.
arXiv:1611.06455, figure 1 (b): three convolutional blocks, global average pooling, softmax.

    block{i}_mask   zero the padded steps (so a padded sequence's real steps see the zeros "same"
                    padding gives the unpadded sequence)
    block{i}_conv   Conv1D filters[i], kernel_sizes[i], "same"      (128/8, 256/5, 128/3)
    block{i}_bn     BatchNormalization (momentum 0.9)
    block{i}_relu   ReLU
    avg_pool        mean over the real steps
    predictions     Dense num_classes

`tcn`: the Temporal Convolutional Network of Bai, Kolter & Koltun (2018). An Empirical Evaluation
of Generic Convolutional and Recurrent Networks for Sequence Modeling. arXiv:1803.01271, section 3
and figure 1: residual blocks (`layers.sequence.CausalDilatedResidualBlock`, two causal dilated
convolutions each) with dilations 1, 2, 4, ... and the classification read at the last step.

    block{i}        CausalDilatedResidualBlock(filters[i], kernel_size, dilation = base^(i-1))
    last_step       the output at each sequence's last real step
    predictions     Dense num_classes

Its receptive field, `1 + 2 * sum_i (kernel_size - 1) * dilation_i`, is on the card (`extra`):
253 steps at the default 6 blocks of 64 filters with kernel 3. Output step t depends on input
steps t - 252 ... t only, so a post-padded sequence gives, at its last real step, exactly the
output of the unpadded sequence.

Parameters at the default configs, input (None, 1), 2 classes: conv1d 265,986 (264,962
trainable: batch-norm statistics are not), tcn 136,386.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

from layers.sequence import ApplyMask, CausalDilatedResidualBlock, LastTimeStep, MaskedGlobalPooling1D, PaddingMask
from layers.sequence import receptive_field
from zoo.errors import InvalidArgumentError
from zoo.models._common import register_variants
from zoo.models._series import series_input
from zoo.models.recurrent import check_rate, check_widths, sequence_card, sequence_head, sequence_input
from zoo.recipes import Recipe


@dataclass(frozen=True)
class Conv1DConfig:
    """The FCN: one "same" convolution + batch norm + ReLU per entry of `filters`.

    Attributes:
        filters: channels of each block.
        kernel_sizes: kernel of each block (as many as `filters`).
        dropout: rate of a dropout before the head.
        bn_momentum: of the batch normalizations' moving statistics. Default 0.9 (PyTorch's):
            with Keras' 0.99 the statistics lag behind the fast-changing training ones on small
            data sets (GunPoint after 60 epochs: test accuracy 0.51 at 0.99, 1.00 at 0.9).
        mask_value: the padding value (steps whose features all equal it are padding), or None.
        pad_to_longest: with `mask_value=None`, pad every series to the training set's longest
            length (`PadToLength`, set by `zoo.fit`), so that the padding the model sees (a length
            signal for the average pool) is the same in every batch.
    """

    filters: tuple = (128, 256, 128)
    kernel_sizes: tuple = (8, 5, 3)
    dropout: float = 0.0
    bn_momentum: float = 0.9
    mask_value: float | None = 0.0
    pad_to_longest: bool = False


@dataclass(frozen=True)
class TCNConfig:
    """The TCN: one residual block per entry of `filters`, dilation `dilation_base ** i`.

    Attributes:
        filters: channels of each residual block.
        kernel_size: taps of every causal convolution.
        dilation_base: the dilation of block i (from 0) is dilation_base ** i.
        dropout: rate of the dropout inside the blocks (the paper's dropout).
        normalization: None or "layer" (see `CausalDilatedResidualBlock`).
        mask_value: the padding value (steps whose features all equal it are padding), or None.
    """

    filters: tuple = (64,) * 6
    kernel_size: int = 3
    dilation_base: int = 2
    dropout: float = 0.0
    normalization: str | None = None
    mask_value: float | None = 0.0

    @property
    def dilations(self) -> tuple:
        return tuple(self.dilation_base**i for i in range(len(self.filters)))

    @property
    def receptive_field(self) -> int:
        return receptive_field(self.kernel_size, self.dilations, convs_per_block=2)


CONV1D_VARIANTS = {"conv1d": Conv1DConfig()}
TCN_VARIANTS = {"tcn": TCNConfig()}

_WANG = (
    "Wang, Yan, Oates (2017). Time Series Classification from Scratch with Deep Neural Networks: A Strong "
    "Baseline. IJCNN 2017. arXiv:1611.06455"
)
_BAI = (
    "Bai, Kolter, Koltun (2018). An Empirical Evaluation of Generic Convolutional and Recurrent Networks for "
    "Sequence Modeling. arXiv:1803.01271"
)

# Training recipes. FCN (Wang et al. 2017 section 3; code: cauchyturing/UCR_Time_Series_Classification_Deep_Learning_
# Baseline FCN.py, as in aeon's FCNClassifier): Adam 1e-3, ReduceLROnPlateau(0.5, 50, min_lr 1e-4) on the training
# loss, up to 2000 epochs, batch int(min(n/10, 16)), the model of lowest training loss kept.
FCN_RECIPE = Recipe(
    source="Wang et al. 2017 §3, FCN.py",
    optimizer="adam", learning_rate=1e-3,
    schedule="plateau", schedule_args={"factor": 0.5, "patience": 50, "min_lr": 1e-4, "monitor": "loss"},
    epochs=2000, batch_size=16, batch_fraction=0.1, keep="best_training_loss", patience=200,
    notes="early stopping after 200 epochs without a lower training loss (four learning-rate reductions) is the "
          "zoo's addition; the paper trains all 2000",
)
# TCN (Bai, Kolter, Koltun 2018; locuslab/TCN TCN/mnist_pixel/pmnist_test.py): Adam 2e-3, batch 64, 20 epochs.
TCN_RECIPE = Recipe(
    source="Bai et al. 2018, locuslab/TCN mnist_pixel/pmnist_test.py",
    optimizer="adam", learning_rate=2e-3, epochs=20, min_steps=2000, batch_size=64, batch_fraction=0.1,
    keep="best_validation",
    notes="at least 2000 steps and the batch int(min(n/10, 64)) are the zoo's, for small training sets",
)

CONV1D_CARDS = {
    "conv1d": sequence_card(
        "conv1d",
        family="conv1d",
        params=265_986,
        trainable_params=264_962,
        reference=_WANG,
        recipe=FCN_RECIPE,
        description="1-D fully convolutional network (FCN): 3 conv blocks, BN, ReLU, masked global average pool",
        extra={
            "receptive_field": receptive_field((8, 5, 3), (1, 1, 1)),
            "input": "[batch, time, features], post-padded; mask_value=0.0 marks padding",
        },
    )
}

TCN_CARDS = {
    "tcn": sequence_card(
        "tcn",
        family="tcn",
        params=136_386,
        reference=_BAI,
        recipe=TCN_RECIPE,
        description="temporal convolutional network: residual blocks of causal dilated 1-D convolutions",
        extra={
            "receptive_field": TCNConfig().receptive_field,
            "kernel_size": TCNConfig().kernel_size,
            "dilations": TCNConfig().dilations,
            "convs_per_block": 2,
            "input": "[batch, time, features], post-padded; mask_value=0.0 marks padding",
        },
    )
}


def _build_conv1d(config: Conv1DConfig, *, name, num_classes, input_shape, include_top, pooling,
                  classifier_activation):
    """The FCN as a functional model, the padded steps zeroed before every convolution."""
    filters = check_widths(config.filters, "filters", name)
    kernels = check_widths(config.kernel_sizes, "kernel_sizes", name)
    if len(kernels) != len(filters):
        raise InvalidArgumentError(f"{name}: got {len(kernels)} kernel_sizes for {len(filters)} filters")
    dropout = check_rate(config.dropout, "dropout", name)
    check_rate(config.bn_momentum, "bn_momentum", name)
    inputs, x, mask = series_input(input_shape, config.mask_value, name, pad_to_longest=config.pad_to_longest)
    for i, (width, kernel) in enumerate(zip(filters, kernels), start=1):
        if mask is not None:
            x = ApplyMask(name=f"block{i}_mask")(x, mask=mask)
        x = layers.Conv1D(width, kernel, padding="same", name=f"block{i}_conv")(x)
        x = layers.BatchNormalization(momentum=config.bn_momentum, name=f"block{i}_bn")(x)
        x = layers.Activation("relu", name=f"block{i}_relu")(x)
    features = None
    if include_top:
        features = MaskedGlobalPooling1D("avg", name="avg_pool")(x, mask=mask)
        if dropout:
            features = layers.Dropout(dropout, name="head_dropout")(features)
    outputs = sequence_head(x, mask, num_classes=num_classes, include_top=include_top, pooling=pooling,
                            classifier_activation=classifier_activation, features=features)
    return keras.Model(inputs, outputs, name=name)


def _build_tcn(config: TCNConfig, *, name, num_classes, input_shape, include_top, pooling, classifier_activation):
    """Residual blocks with dilations 1, base, base^2, ...; the head reads the last real step."""
    filters = check_widths(config.filters, "filters", name)
    check_widths(config.kernel_size, "kernel_size", name)
    check_widths(config.dilation_base, "dilation_base", name)
    dropout = check_rate(config.dropout, "dropout", name)
    if config.normalization not in (None, "layer"):
        raise InvalidArgumentError(f"{name}: normalization must be None or 'layer', got {config.normalization!r}")
    inputs = sequence_input(input_shape, name)
    if len(inputs.shape) != 3:
        raise InvalidArgumentError(f"{name} takes sequences [time, features], got input_shape={tuple(input_shape)}")
    mask = None if config.mask_value is None else PaddingMask(config.mask_value, name="padding_mask")(inputs)
    x = inputs
    for i, (width, dilation) in enumerate(zip(filters, config.dilations), start=1):
        x = CausalDilatedResidualBlock(
            width,
            kernel_size=config.kernel_size,
            dilation_rate=dilation,
            dropout=dropout,
            normalization=config.normalization,
            name=f"block{i}",
        )(x)
    features = LastTimeStep(name="last_step")(x, mask=mask) if include_top else None
    outputs = sequence_head(x, mask, num_classes=num_classes, include_top=include_top, pooling=pooling,
                            classifier_activation=classifier_activation, features=features)
    return keras.Model(inputs, outputs, name=name)


register_variants(CONV1D_VARIANTS, CONV1D_CARDS, _build_conv1d)
register_variants(TCN_VARIANTS, TCN_CARDS, _build_tcn)
