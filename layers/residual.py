"""Residual blocks of ResNet (He et al. 2016): the basic block and the bottleneck block.

He, Zhang, Ren, Sun (2016). Deep Residual Learning for Image Recognition. CVPR.
https://arxiv.org/abs/1512.03385 (figure 5; table 1 stacks these blocks into ResNet-18 ... 152).

Both blocks compute `relu(shortcut(x) + residual(x))`. The shortcut is the identity, or a
"projection" (a 1x1 convolution with the block's stride, then batch normalization) when the
shape changes (the paper's option B). Data is channels-last.

Every sub-layer is named after its place, from the block's own name, exactly as
`keras.applications.ResNet50` names them, so weight files load by layer name:

| sub-layer             | `BottleneckBlock` (keras `block1`) | `BasicBlock` (torchvision)    |
| --------------------- | ---------------------------------- | ----------------------------- |
| `{name}_0_conv`, `_bn`| projection 1x1, stride `s`         | projection 1x1, stride `s`    |
| `{name}_1_pad`        | -                                  | zero padding 1                |
| `{name}_1_conv`       | 1x1, `filters`, stride `s`         | 3x3, `filters`, stride `s`    |
| `{name}_1_bn`, `_relu`| BN, ReLU                           | BN, ReLU                      |
| `{name}_2_conv`       | 3x3 "same", `filters`              | 3x3 "same", `filters`         |
| `{name}_2_bn`         | BN, then `{name}_2_relu`           | BN                            |
| `{name}_3_conv`, `_bn`| 1x1, `expansion * filters`, BN     | -                             |
| `{name}_add`          | shortcut + residual                | shortcut + residual           |
| `{name}_out`          | ReLU                               | ReLU                          |

The bottleneck block puts its stride on the first 1x1 convolution, as Keras (and the original
Caffe ResNet) does; torchvision's "ResNet v1.5" puts it on the 3x3 instead. The basic block pads
its strided 3x3 convolution symmetrically (one pixel on each side, then a "valid" convolution),
exactly as PyTorch's `padding=1` does; TensorFlow's "same" would pad only bottom/right when the
stride is 2 and the size even.
"""

import keras
from keras import layers

from layers._blocks import Block, known_channels, positive_int


class _ResidualBlock(Block):
    """Shared part of the residual blocks: the shortcut, the addition, the final ReLU, the config.

    Subclasses create their residual branch in `__init__` (`self._residual_layers`, in call order)
    and define `out_channels`.
    """

    config_keys = ("filters", "stride", "projection", "use_bias", "epsilon")

    def __init__(self, filters, stride=1, projection="auto", use_bias=False, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.filters = positive_int(filters, "filters")
        self.stride = positive_int(stride, "stride")
        if not (projection is True or projection is False or projection == "auto"):
            raise ValueError(
                f"projection must be True (1x1 conv + BN shortcut), False (identity) or 'auto' "
                f"(a projection when the stride or the number of channels changes), got {projection!r}."
            )
        self.projection = projection
        self.use_bias = bool(use_bias)
        self.epsilon = float(epsilon)
        self.shortcut_conv = None
        self.shortcut_bn = None
        if projection is True:
            self._make_projection()
        self.add_op = self.sublayer(layers.Add, "add")
        self.out_relu = self.sublayer(layers.Activation, "out", "relu")
        self.input_spec = keras.InputSpec(ndim=4)

    @property
    def out_channels(self):
        raise NotImplementedError

    def _conv(self, filters, kernel_size, suffix, strides=1, padding="valid"):
        return self.sublayer(
            layers.Conv2D, suffix, filters, kernel_size, strides=strides, padding=padding, use_bias=self.use_bias
        )

    def _relu(self, suffix):
        return self.sublayer(layers.Activation, suffix, "relu")

    def _make_projection(self):
        self.shortcut_conv = self._conv(self.out_channels, 1, "0_conv", strides=self.stride)
        self.shortcut_bn = self.batch_norm("0_bn")

    def _needs_projection(self, in_channels):
        return self.stride != 1 or in_channels != self.out_channels

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        in_channels = known_channels(self, input_shape)
        if self.projection == "auto" and self.shortcut_conv is None and self._needs_projection(in_channels):
            # The shortcut's shape is only known now; created once, named as in __init__.
            self._make_projection()
        if self.shortcut_conv is None and self._needs_projection(in_channels):
            raise ValueError(
                f"{type(self).__name__} {self.name!r}: an identity shortcut (projection=False) needs stride 1 and "
                f"{self.out_channels} input channels, got stride {self.stride} and {in_channels} channels. "
                "Use projection=True or 'auto'."
            )
        if self.shortcut_conv is not None:
            self.shortcut_conv.build(input_shape)
            self.shortcut_bn.build(self.shortcut_conv.compute_output_shape(input_shape))
        shape = input_shape
        for layer in self._residual_layers:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.add_op.build([shape, shape])
        self.out_relu.build(shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self._residual_layers:
            shape = layer.compute_output_shape(shape)
        return shape

    def call(self, inputs, training=None):
        shortcut = inputs
        if self.shortcut_conv is not None:
            shortcut = self.shortcut_bn(self.shortcut_conv(inputs), training=training)
        x = inputs
        for layer in self._residual_layers:
            x = layer(x, training=training) if isinstance(layer, layers.BatchNormalization) else layer(x)
        return self.out_relu(self.add_op([shortcut, x]))


@keras.saving.register_keras_serializable(package="zoo")
class BasicBlock(_ResidualBlock):
    """The basic residual block of ResNet-18/34: two 3x3 convolutions (He et al. 2016, fig. 5 left).

    `relu(shortcut(x) + bn(conv3x3(relu(bn(conv3x3_stride(x))))))`, laid out as
    `torchvision.models.resnet.BasicBlock` (no convolution bias, stride on the first 3x3,
    symmetric padding), with sub-layers named as in the module docstring.

    Args:
        filters: output channels of both 3x3 convolutions (and of the block).
        stride: stride of the first 3x3 convolution and of the projection (1 or 2 in ResNets).
        projection: shortcut: True (1x1 conv + BN, named `{name}_0_conv` / `{name}_0_bn`),
            False (identity; needs stride 1 and `filters` input channels), or "auto" (default:
            a projection exactly when the stride is not 1 or the channels change, as in
            torchvision; its sub-layers are then created when the block is built).
        use_bias: whether the convolutions have a bias (default False, as torchvision).
        epsilon: batch-normalization epsilon (default 1e-5, PyTorch's).
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Input shape:
        4D tensor `(batch, rows, cols, channels)`.

    Output shape:
        4D tensor `(batch, ceil(rows / stride), ceil(cols / stride), filters)`.

    Example:

    >>> x = keras.Input((56, 56, 64))
    >>> BasicBlock(128, stride=2, name="conv3_block1")(x).shape
    (None, 28, 28, 128)
    """

    def __init__(self, filters, stride=1, projection="auto", use_bias=False, epsilon=1e-5, **kwargs):
        super().__init__(filters, stride=stride, projection=projection, use_bias=use_bias, epsilon=epsilon, **kwargs)
        self.pad1 = self.sublayer(layers.ZeroPadding2D, "1_pad", 1)
        self.conv1 = self._conv(self.filters, 3, "1_conv", strides=self.stride)
        self.bn1 = self.batch_norm("1_bn")
        self.relu1 = self._relu("1_relu")
        self.conv2 = self._conv(self.filters, 3, "2_conv", padding="same")
        self.bn2 = self.batch_norm("2_bn")
        self._residual_layers = [self.pad1, self.conv1, self.bn1, self.relu1, self.conv2, self.bn2]

    @property
    def out_channels(self):
        return self.filters


@keras.saving.register_keras_serializable(package="zoo")
class BottleneckBlock(_ResidualBlock):
    """The bottleneck residual block of ResNet-50/101/152: 1x1, 3x3, 1x1 (He et al. 2016, fig. 5 right).

    `relu(shortcut(x) + bn(conv1x1(relu(bn(conv3x3(relu(bn(conv1x1_stride(x)))))))))`, the layout
    of `keras.applications.ResNet50`'s `block1` (stride on the first 1x1 convolution, convolutions
    with bias, BN epsilon 1.001e-5), with its sub-layer names (see the module docstring).

    Args:
        filters: channels of the bottleneck (the 1x1 and 3x3 convolutions); the block outputs
            `expansion * filters` channels.
        stride: stride of the first 1x1 convolution and of the projection.
        projection: shortcut: True (1x1 conv + BN, `{name}_0_conv` / `{name}_0_bn`), False
            (identity; needs stride 1 and `expansion * filters` input channels), or "auto"
            (default: a projection exactly when the stride is not 1 or the channels change; its
            sub-layers are then created when the block is built).
        use_bias: whether the convolutions have a bias (default True, as keras.applications).
        epsilon: batch-normalization epsilon (default 1.001e-5, as keras.applications).
        expansion: output channels per bottleneck channel (default 4).
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Input shape:
        4D tensor `(batch, rows, cols, channels)`.

    Output shape:
        4D tensor `(batch, ceil(rows / stride), ceil(cols / stride), expansion * filters)`.

    Example:

    >>> x = keras.Input((56, 56, 64))
    >>> BottleneckBlock(64, name="conv2_block1")(x).shape  # with a projection (64 -> 256 channels)
    (None, 56, 56, 256)
    """

    config_keys = _ResidualBlock.config_keys + ("expansion",)

    def __init__(self, filters, stride=1, projection="auto", use_bias=True, epsilon=1.001e-5, expansion=4, **kwargs):
        self.expansion = positive_int(expansion, "expansion")
        super().__init__(filters, stride=stride, projection=projection, use_bias=use_bias, epsilon=epsilon, **kwargs)
        self.conv1 = self._conv(self.filters, 1, "1_conv", strides=self.stride)
        self.bn1 = self.batch_norm("1_bn")
        self.relu1 = self._relu("1_relu")
        self.conv2 = self._conv(self.filters, 3, "2_conv", padding="same")
        self.bn2 = self.batch_norm("2_bn")
        self.relu2 = self._relu("2_relu")
        self.conv3 = self._conv(self.out_channels, 1, "3_conv")
        self.bn3 = self.batch_norm("3_bn")
        self._residual_layers = [self.conv1, self.bn1, self.relu1, self.conv2, self.bn2, self.relu2, self.conv3, self.bn3]

    @property
    def out_channels(self):
        return self.expansion * self.filters
