"""InceptionTime: a deep stack of 1-D Inception modules with residual shortcuts (one network of the ensemble).

Ismail Fawaz, Lucas, Forestier, Pelletier, Schmidt, Weber, Webb, Idoumghar, Muller, Petitjean
(2020). InceptionTime: Finding AlexNet for Time Series Classification. Data Mining and Knowledge
Discovery 34:1936-1962. arXiv:1909.04939. The architecture is that of the authors' Keras code,
github:hfawaz/InceptionTime `classifiers/inception.py` (commit 952d115), layer for layer:

    padding_mask        True for real steps: a step whose features all equal `mask_value` is padding
    inception{i}        `layers.conv1d_blocks.InceptionModule1D`, i = 1 ... depth (6): a bottleneck
                        (32, left out on a 1-channel input), convolutions 40 / 20 / 10 and a max
                        pooling + 1x1 branch of 32 filters each, concatenated (128), BN, ReLU
    shortcut{j}         after every third module (`residual_every`), j = 1, 2:
                        `layers.conv1d_blocks.ProjectionShortcut1D`, a 1x1 conv (no bias) "_conv" of
                        the three modules' input, BN "_bn", added "_add" to their output, ReLU
                        "_relu" (inception.py lines 65-72 and 84-86)
    avg_pool            mean over the real steps
    predictions         Dense num_classes, softmax

The paper's InceptionTime is an ensemble of five such networks, each trained from another random
initialization, whose predicted probabilities are averaged (main.py line 91 `nb_iter_ = 5`,
classifiers/nne.py); a registered model here is one network (the authors' `inception`
classifier), and an ensemble is five of them trained apart and averaged.

Parameters at the default config, input (None, 1), 2 classes: 422,498 (420,450 trainable), the
count of the authors' network built with Keras 3 from their code (tests/zoo/test_tsc_baselines.py).
On a multichannel input every module has its bottleneck (input (None, 3): 492,354).

Published training recipe (classifiers/inception.py of github:hfawaz/InceptionTime, commit 952d115):

- loss categorical cross-entropy, optimizer `keras.optimizers.Adam()`: learning rate 0.001 (line 94);
- `ReduceLROnPlateau(monitor="loss", factor=0.5, patience=50, min_lr=0.0001)` on the training loss
  (lines 97-98);
- 1500 epochs (`nb_epochs=1500`, line 14), mini-batches of 64 (`batch_size=64`, line 13; the rule
  `int(min(n_train / 10, 16))` applies only when batch_size is None, lines 115-116); on GunPoint's
  50 training series that is one batch of 50 an epoch;
- the model kept is the one of lowest training loss: `ModelCheckpoint(monitor="loss",
  save_best_only=True)` (lines 102-103), reloaded for the predictions (lines 153-155); the test
  set is not used for the choice (by default it is not even given to fit, lines 122-129; with
  plot_test_acc it is validation data for monitoring only, line 113 comment).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import keras

from layers.conv1d_blocks import InceptionModule1D, ProjectionShortcut1D
from layers.sequence import receptive_field
from zoo.errors import InvalidArgumentError
from zoo.models.conv1d import FCN_RECIPE
from zoo.models._common import is_positive_int, register_variants
from zoo.models._series import gap_head, reference_card, series_input
from zoo.models.recurrent import check_rate, check_widths


@dataclass(frozen=True)
class InceptionTimeConfig:
    """One InceptionTime network.

    Attributes:
        depth: number of Inception modules (6).
        filters: channels of each branch of a module (32; a module outputs 4 * filters).
        kernel_sizes: kernels of the convolution branches: (40, 20, 10), the code's kernel_size
            41 minus one, halved twice (inception.py lines 22 and 44).
        bottleneck_size: channels of each module's bottleneck (32).
        use_bottleneck: whether modules on inputs of more than one channel start with it.
        use_residual: whether to add the residual shortcuts.
        residual_every: a shortcut spans this many modules (3: after modules 3 and 6).
        bn_momentum: of every batch normalization's moving statistics. Default 0.9 (PyTorch's; the
            authors' code keeps Keras' 0.99): with batch 64 a small set gets one optimizer step per
            epoch and 0.99 statistics lag behind (GunPoint, 300 epochs of the published recipe:
            test accuracy 0.69 at 0.99, 1.00 at 0.9, the same training loss). conv1d does the same.
        mask_value: the padding value (steps whose features all equal it are padding), or None.
        pad_to_longest: with `mask_value=None`, pad every series to the training set's longest
            length (`PadToLength`, set by `zoo.fit`), so that the padding the model sees (a length
            signal for the average pool) is the same in every batch.
    """

    depth: int = 6
    filters: int = 32
    kernel_sizes: tuple = (40, 20, 10)
    bottleneck_size: int = 32
    use_bottleneck: bool = True
    use_residual: bool = True
    residual_every: int = 3
    bn_momentum: float = 0.9
    mask_value: float | None = 0.0
    pad_to_longest: bool = False

    @property
    def receptive_field(self) -> int:
        """Input steps one output step sees: each module widens it by its longest kernel minus one."""
        return receptive_field(max(self.kernel_sizes), (1,) * self.depth)


VARIANTS = {"inception_time": InceptionTimeConfig()}

_REFERENCE = (
    "Ismail Fawaz et al. (2020). InceptionTime: Finding AlexNet for Time Series Classification. Data Mining and "
    "Knowledge Discovery 34:1936-1962. arXiv:1909.04939"
)
_REFERENCE_IMPL = "github:hfawaz/InceptionTime classifiers/inception.py (Keras, commit 952d115)"

# The published recipe (module doc): the FCN's (conv1d), with 1500 epochs and batches of 64.
INCEPTION_TIME_RECIPE = dataclasses.replace(
    FCN_RECIPE,
    epochs=1500,
    batch_size=64,
    batch_fraction=None,
    source="Ismail Fawaz et al. 2020; hfawaz/InceptionTime classifiers/inception.py lines 13-14, 94-103",
    notes="early stopping after 200 epochs without a lower training loss is the zoo's addition; the code trains all 1500",
)


CARDS = {
    "inception_time": reference_card(
        "inception_time",
        params=422_498,
        trainable_params=420_450,
        reference=_REFERENCE,
        reference_impl=_REFERENCE_IMPL,
        recipe=INCEPTION_TIME_RECIPE,
        description="InceptionTime: 6 Inception modules (kernels 40/20/10, bottleneck 32), residual every 3, GAP",
        extra={
            "receptive_field": InceptionTimeConfig().receptive_field,
            "ensemble": "the paper averages 5 such networks; this is one",
        },
    )
}


def _build(config: InceptionTimeConfig, *, name, num_classes, input_shape, include_top, pooling,
           classifier_activation):
    """`depth` Inception modules with a shortcut every `residual_every`, masked global average pooling."""
    for what in ("depth", "filters", "bottleneck_size", "residual_every"):
        if not is_positive_int(getattr(config, what)):
            raise InvalidArgumentError(f"{name}: {what} must be an integer >= 1, got {getattr(config, what)!r}")
    kernels = check_widths(config.kernel_sizes, "kernel_sizes", name)
    check_rate(config.bn_momentum, "bn_momentum", name)
    inputs, x, mask = series_input(input_shape, config.mask_value, name, pad_to_longest=config.pad_to_longest)
    residual = x
    for d in range(config.depth):
        x = InceptionModule1D(
            config.filters,
            kernel_sizes=kernels,
            bottleneck_size=config.bottleneck_size,
            use_bottleneck=config.use_bottleneck,
            momentum=config.bn_momentum,
            name=f"inception{d + 1}",
        )(x, mask=mask)
        if config.use_residual and d % config.residual_every == config.residual_every - 1:
            index = (d + 1) // config.residual_every
            x = residual = ProjectionShortcut1D(momentum=config.bn_momentum, name=f"shortcut{index}")(
                x, residual, mask=mask
            )
    outputs = gap_head(x, mask, num_classes=num_classes, include_top=include_top, pooling=pooling,
                       classifier_activation=classifier_activation)
    return keras.Model(inputs, outputs, name=name)


register_variants(VARIANTS, CARDS, _build)
