"""The inverted residual block of MobileNetV2 (Sandler et al. 2018, section 3.3 and Table 1).

    x -> [1x1 expand conv, BN, ReLU6]   (left out when expansion == 1)
      -> [zero padding, when stride 2] -> 3x3 depthwise conv (stride s), BN, ReLU6
      -> 1x1 linear projection conv, BN (no activation: the "linear bottleneck")
      -> + x   (only when stride 1 and the input has `filters` channels)

Sub-layers are named as keras.applications' `mobilenet_v2._inverted_res_block` names them, from the
block's own name: a block named "block_3" holds "block_3_expand", "block_3_expand_BN", ...,
"block_3_add"; keras' first block (block_id 0) is named "expanded_conv". This is what makes
keras.applications weight files load into zoo models by layer name.
"""

import keras
from keras import layers

from layers._blocks import Block, positive_int

_EPSILON = 1e-3  # keras.applications MobileNetV2's BatchNormalization settings
_MOMENTUM = 0.999


def correct_pad(input_size, kernel_size):
    """The zero padding keras.applications puts before a stride-2 "valid" convolution.

    Per spatial axis: `k // 2` after, and `k // 2` before for an odd size or `k // 2 - 1` for an even
    one (so the output has `ceil(size / 2)` positions, as TensorFlow's "same" but with the extra
    padding after, not before). An unknown size (None) is padded as an even one, like
    `keras.applications.imagenet_utils.correct_pad`.

    Args:
        input_size: the spatial sizes `(rows, cols)`, each an int or None.
        kernel_size: an int or a `(rows, cols)` pair.

    Returns:
        `((top, bottom), (left, right))` for `keras.layers.ZeroPadding2D`.
    """
    if isinstance(kernel_size, int):
        kernel_size = (kernel_size, kernel_size)
    pads = []
    for size, kernel in zip(input_size, kernel_size):
        adjust = 1 if size is None else 1 - size % 2
        pads.append((kernel // 2 - adjust, kernel // 2))
    return tuple(pads)


@keras.saving.register_keras_serializable(package="zoo")
class InvertedResidual(Block):
    """MobileNetV2's inverted residual block with a linear bottleneck (Sandler et al. 2018).

    A 1x1 convolution expands the input's `c` channels to `expansion * c` (skipped when `expansion`
    is 1), a 3x3 depthwise convolution filters them (stride 1 or 2), and a 1x1 convolution without
    activation projects them to `filters` channels. Each convolution is followed by batch
    normalization (epsilon 1e-3, momentum 0.999, as keras.applications); the first two by ReLU6.
    The input is added to the output when `stride` is 1 and the input already has `filters`
    channels. With stride 2 the depthwise convolution is "valid" after explicit zero padding
    (`correct_pad`), exactly as keras.applications does.

    Sub-layers, named from the block's `name` (say "block_1"): "block_1_expand",
    "block_1_expand_BN", "block_1_expand_relu" (only when expansion > 1), "block_1_pad" (only when
    stride is 2), "block_1_depthwise", "block_1_depthwise_BN", "block_1_depthwise_relu",
    "block_1_project", "block_1_project_BN", "block_1_add" (only used with the residual). The
    expansion convolution and the padding depend on the input's channels and size, so they are
    created when the block is built.

    Args:
        filters: output channels (already rounded by the width multiplier, e.g. 24).
        expansion: expansion factor `t` of the paper (1 leaves out the expansion convolution).
            Default 6.
        stride: 1 or 2, the stride of the depthwise convolution. Default 1.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...). The name should be
            keras' block prefix without its trailing "_" ("expanded_conv", "block_1", ...).

    Input shape:
        `(batch, rows, cols, channels)`.

    Output shape:
        `(batch, ceil(rows / stride), ceil(cols / stride), filters)`. A spatial size unknown when the
        block is built (None) is padded as an even one, as keras.applications does, so an odd size
        given at run time then yields `floor(size / 2)` with stride 2.

    Example:

    >>> x = keras.Input((56, 56, 24))
    >>> y = InvertedResidual(32, expansion=6, stride=2, name="block_3")(x)
    >>> y.shape
    (None, 28, 28, 32)
    """

    config_keys = ("filters", "expansion", "stride")

    def __init__(self, filters, expansion=6, stride=1, **kwargs):
        super().__init__(**kwargs)
        self.filters = positive_int(filters, "filters")
        self.expansion = positive_int(expansion, "expansion")
        if stride not in (1, 2) or isinstance(stride, bool):
            raise ValueError(f"stride must be 1 or 2, got {stride!r}.")
        self.stride = int(stride)
        prefix = f"{self.name}_"
        bn = dict(epsilon=_EPSILON, momentum=_MOMENTUM)
        if self.expansion > 1:
            self.expand_bn = layers.BatchNormalization(**bn, name=f"{prefix}expand_BN")
            self.expand_relu = layers.ReLU(6.0, name=f"{prefix}expand_relu")
        self.depthwise = layers.DepthwiseConv2D(
            3,
            strides=self.stride,
            padding="same" if self.stride == 1 else "valid",
            use_bias=False,
            name=f"{prefix}depthwise",
        )
        self.depthwise_bn = layers.BatchNormalization(**bn, name=f"{prefix}depthwise_BN")
        self.depthwise_relu = layers.ReLU(6.0, name=f"{prefix}depthwise_relu")
        self.project = layers.Conv2D(self.filters, 1, padding="same", use_bias=False, name=f"{prefix}project")
        self.project_bn = layers.BatchNormalization(**bn, name=f"{prefix}project_BN")
        self.residual_add = layers.Add(name=f"{prefix}add")
        self.expand = None
        self.pad = None
        self.residual = False

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"{self.name}: the channel axis of the input must be known, got shape {input_shape}.")
        prefix = f"{self.name}_"
        shape = input_shape
        if self.expansion > 1:
            self.expand = layers.Conv2D(
                self.expansion * channels, 1, padding="same", use_bias=False, name=f"{prefix}expand"
            )
            self.expand.build(shape)
            shape = self.expand.compute_output_shape(shape)
            self.expand_bn.build(shape)
        if self.stride == 2:
            self.pad = layers.ZeroPadding2D(correct_pad(shape[1:3], 3), name=f"{prefix}pad")
            shape = self.pad.compute_output_shape(shape)
        self.depthwise.build(shape)
        shape = self.depthwise.compute_output_shape(shape)
        self.depthwise_bn.build(shape)
        self.project.build(shape)
        shape = self.project.compute_output_shape(shape)
        self.project_bn.build(shape)
        self.residual = self.stride == 1 and channels == self.filters

    def call(self, inputs, training=None):
        x = inputs
        if self.expand is not None:
            x = self.expand_relu(self.expand_bn(self.expand(x), training=training))
        if self.pad is not None:
            x = self.pad(x)
        x = self.depthwise_relu(self.depthwise_bn(self.depthwise(x), training=training))
        x = self.project_bn(self.project(x), training=training)
        if self.residual:
            x = self.residual_add([inputs, x])
        return x

    def compute_output_shape(self, input_shape):
        def out(size):
            return None if size is None else -(-size // self.stride)

        return (input_shape[0], out(input_shape[1]), out(input_shape[2]), self.filters)
