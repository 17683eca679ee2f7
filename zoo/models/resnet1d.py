"""The ResNet time-series baseline: three 1-D residual blocks, global average pooling, softmax.

Wang, Yan, Oates (2017). Time Series Classification from Scratch with Deep Neural Networks: A
Strong Baseline. IJCNN 2017. arXiv:1611.06455, figure 1 (c). The architecture is that of the
Keras code of Ismail Fawaz et al.'s review (2019, Deep learning for time series classification:
a review, DMKD 33:917-963), github:hfawaz/dl-4-tsc `classifiers/resnet.py` (commit e0233ef),
layer for layer:

    padding_mask    True for real steps: a step whose features all equal `mask_value` is padding
    block{i}        `layers.conv1d_blocks.ResidualBlock1D`, i = 1, 2, 3, of 64, 128, 128 filters:
                    convolutions 8 / 5 / 3 ("same", with bias), each followed by BN (ReLU after the
                    first two), plus a shortcut: 1x1 conv + BN when the channels change (blocks 1
                    and 2), BN alone when they do not (block 3, resnet.py line 96); add, ReLU
    avg_pool        mean over the real steps
    predictions     Dense num_classes, softmax

(The zoo's `resnet18` ... `resnet152` are He et al.'s image networks; this is the 1-D baseline.)

Parameters at the default config, input (None, 1), 2 classes: 506,818 (504,258 trainable), the
count of the reference network built with Keras 3 from that code (tests/zoo/test_tsc_baselines.py).

Published training recipe (classifiers/resnet.py of github:hfawaz/dl-4-tsc, commit e0233ef):

- loss categorical cross-entropy, optimizer `keras.optimizers.Adam()`: learning rate 0.001 (line 109);
- `ReduceLROnPlateau(monitor="loss", factor=0.5, patience=50, min_lr=0.0001)` on the training loss
  (line 112);
- 1500 epochs (`nb_epochs = 1500`, line 129), mini-batches of `int(min(n_train / 10, 64))`
  (`batch_size = 64`, lines 128 and 131; 5 for GunPoint's 50 training series). (The
  `int(min(n_train / 10, 16))` rule, 2000 epochs, is that of the FCN, classifiers/fcn.py lines 65-68.)
- the model kept is the one of lowest training loss: `ModelCheckpoint(monitor="loss",
  save_best_only=True)` (lines 116-117), reloaded for the predictions (lines 159-160); the test
  set is passed to fit as validation data for monitoring only (line 127 comment).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import keras

from layers.conv1d_blocks import ResidualBlock1D
from layers.sequence import receptive_field
from zoo.models.conv1d import FCN_RECIPE
from zoo.models._common import register_variants
from zoo.models._series import gap_head, reference_card, series_input
from zoo.models.recurrent import check_rate, check_widths


@dataclass(frozen=True)
class ResNet1DConfig:
    """The 1-D ResNet: one residual block per entry of `filters`.

    Attributes:
        filters: channels of each block (64, 128, 128).
        kernel_sizes: kernels of the three convolutions of every block (8, 5, 3).
        bn_momentum: of every batch normalization's moving statistics (Keras' 0.99, the code's).
        mask_value: the padding value (steps whose features all equal it are padding), or None.
        pad_to_longest: with `mask_value=None`, pad every series to the training set's longest
            length (`PadToLength`, set by `zoo.fit`), so that the padding the model sees (a length
            signal for the average pool) is the same in every batch.
    """

    filters: tuple = (64, 128, 128)
    kernel_sizes: tuple = (8, 5, 3)
    bn_momentum: float = 0.99
    mask_value: float | None = 0.0
    pad_to_longest: bool = False

    @property
    def receptive_field(self) -> int:
        kernels = tuple(self.kernel_sizes) * len(self.filters)
        return receptive_field(kernels, (1,) * len(kernels))


VARIANTS = {"resnet1d": ResNet1DConfig()}

_REFERENCE = (
    "Wang, Yan, Oates (2017). Time Series Classification from Scratch with Deep Neural Networks: A Strong "
    "Baseline. IJCNN 2017. arXiv:1611.06455"
)
_REFERENCE_IMPL = "github:hfawaz/dl-4-tsc classifiers/resnet.py (Keras, commit e0233ef)"

# The published recipe (module doc): the FCN's (conv1d), with 1500 epochs and batches of 64.
RESNET1D_RECIPE = dataclasses.replace(
    FCN_RECIPE,
    epochs=1500,
    batch_size=64,
    source="Wang et al. 2017; hfawaz/dl-4-tsc classifiers/resnet.py lines 109-131",
    notes="early stopping after 200 epochs without a lower training loss is the zoo's addition; the code trains all 1500",
)


CARDS = {
    "resnet1d": reference_card(
        "resnet1d",
        params=506_818,
        trainable_params=504_258,
        reference=_REFERENCE,
        reference_impl=_REFERENCE_IMPL,
        recipe=RESNET1D_RECIPE,
        description="1-D ResNet baseline: 3 residual blocks (64/128/128, kernels 8/5/3), BN, masked GAP",
        extra={"receptive_field": ResNet1DConfig().receptive_field},
    )
}


def _build(config: ResNet1DConfig, *, name, num_classes, input_shape, include_top, pooling, classifier_activation):
    """Residual blocks "block1", "block2", ... given the padding mask; masked global average pooling."""
    filters = check_widths(config.filters, "filters", name)
    kernels = check_widths(config.kernel_sizes, "kernel_sizes", name)
    check_rate(config.bn_momentum, "bn_momentum", name)
    inputs, x, mask = series_input(input_shape, config.mask_value, name, pad_to_longest=config.pad_to_longest)
    for i, width in enumerate(filters, start=1):
        x = ResidualBlock1D(width, kernel_sizes=kernels, momentum=config.bn_momentum, name=f"block{i}")(x, mask=mask)
    outputs = gap_head(x, mask, num_classes=num_classes, include_top=include_top, pooling=pooling,
                       classifier_activation=classifier_activation)
    return keras.Model(inputs, outputs, name=name)


register_variants(VARIANTS, CARDS, _build)
