"""Dense connectivity of DenseNet (Huang et al. 2017): the dense layer, the dense block, the transition.

Huang, Liu, van der Maaten, Weinberger (2017). Densely Connected Convolutional Networks. CVPR.
https://arxiv.org/abs/1608.06993 (section 3 "DenseNet-BC"; table 1 stacks these blocks).

A dense layer computes `k` new feature maps ("growth rate") from everything before it and
concatenates them to its input; a dense block is `n` such layers; a transition between blocks
compresses the channels (by `reduction`, the paper's compression theta) and halves the spatial size.
Data is channels-last. Sub-layers are named after their place, exactly as
`keras.applications.densenet` names them (see each class), so weight files load by layer name;
all batch normalizations use epsilon 1.001e-5 and convolutions have no bias by default, as there.
"""

import keras
from keras import layers

from layers._blocks import Block, known_channels, positive_int


@keras.saving.register_keras_serializable(package="zoo")
class DenseLayer(Block):
    """One DenseNet-BC layer: `concat([x, conv3x3(relu(bn(conv1x1(relu(bn(x))))))])`.

    keras.applications' `conv_block`. Sub-layers: `{name}_0_bn`, `{name}_0_relu`,
    `{name}_1_conv` (1x1, `bottleneck_factor * growth_rate` channels), `{name}_1_bn`,
    `{name}_1_relu`, `{name}_2_conv` (3x3 "same", `growth_rate` channels), `{name}_concat`.

    Args:
        growth_rate: new channels this layer adds (`k` in the paper; 32 in DenseNet-121...264).
        bottleneck_factor: the 1x1 bottleneck has `bottleneck_factor * growth_rate` channels
            (default 4, the paper's "4k").
        epsilon: batch-normalization epsilon (default 1.001e-5, as keras.applications).
        use_bias: whether the convolutions have a bias (default False).
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Input shape:
        4D tensor `(batch, rows, cols, channels)`.

    Output shape:
        4D tensor `(batch, rows, cols, channels + growth_rate)`; the first `channels` are the input.

    Example:

    >>> x = keras.Input((56, 56, 64))
    >>> DenseLayer(32, name="conv2_block1")(x).shape
    (None, 56, 56, 96)
    """

    config_keys = ("growth_rate", "bottleneck_factor", "epsilon", "use_bias")

    def __init__(self, growth_rate=32, bottleneck_factor=4, epsilon=1.001e-5, use_bias=False, **kwargs):
        super().__init__(**kwargs)
        self.growth_rate = positive_int(growth_rate, "growth_rate")
        self.bottleneck_factor = positive_int(bottleneck_factor, "bottleneck_factor")
        self.epsilon = float(epsilon)
        self.use_bias = bool(use_bias)
        self.bn0 = self.batch_norm("0_bn")
        self.relu0 = self.sublayer(layers.Activation, "0_relu", "relu")
        self.conv1 = self.sublayer(
            layers.Conv2D, "1_conv", self.bottleneck_factor * self.growth_rate, 1, use_bias=self.use_bias
        )
        self.bn1 = self.batch_norm("1_bn")
        self.relu1 = self.sublayer(layers.Activation, "1_relu", "relu")
        self.conv2 = self.sublayer(layers.Conv2D, "2_conv", self.growth_rate, 3, padding="same", use_bias=self.use_bias)
        self.concat = self.sublayer(layers.Concatenate, "concat", axis=-1)
        self.input_spec = keras.InputSpec(ndim=4)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        known_channels(self, input_shape)
        self.bn0.build(input_shape)
        self.conv1.build(input_shape)
        inner = self.conv1.compute_output_shape(input_shape)
        self.bn1.build(inner)
        self.conv2.build(inner)
        self.concat.build([input_shape, self.conv2.compute_output_shape(inner)])
        self.built = True

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        channels = None if input_shape[-1] is None else input_shape[-1] + self.growth_rate
        return input_shape[:-1] + (channels,)

    def call(self, inputs, training=None):
        x = self.relu0(self.bn0(inputs, training=training))
        x = self.relu1(self.bn1(self.conv1(x), training=training))
        x = self.conv2(x)
        return self.concat([inputs, x])


@keras.saving.register_keras_serializable(package="zoo")
class DenseBlock(Block):
    """A dense block: `num_layers` `DenseLayer`s, each fed with the concatenation of all before it.

    keras.applications' `dense_block`. The layers are named `{name}_block1 ... {name}_block{n}`,
    so a block named "conv2" holds "conv2_block1" whose sub-layers are "conv2_block1_0_bn", ...

    Args:
        num_layers: number of dense layers (e.g. 6, 12, 24, 16 in DenseNet-121).
        growth_rate: channels each dense layer adds (default 32).
        bottleneck_factor: bottleneck width of each dense layer, in multiples of `growth_rate`
            (default 4).
        epsilon: batch-normalization epsilon (default 1.001e-5).
        use_bias: whether the convolutions have a bias (default False).
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Input shape:
        4D tensor `(batch, rows, cols, channels)`.

    Output shape:
        4D tensor `(batch, rows, cols, channels + num_layers * growth_rate)`.

    Example:

    >>> x = keras.Input((56, 56, 64))
    >>> DenseBlock(6, growth_rate=32, name="conv2")(x).shape
    (None, 56, 56, 256)
    """

    config_keys = ("num_layers",) + DenseLayer.config_keys

    def __init__(self, num_layers, growth_rate=32, bottleneck_factor=4, epsilon=1.001e-5, use_bias=False, **kwargs):
        super().__init__(**kwargs)
        self.num_layers = positive_int(num_layers, "num_layers")
        self.growth_rate = positive_int(growth_rate, "growth_rate")
        self.bottleneck_factor = positive_int(bottleneck_factor, "bottleneck_factor")
        self.epsilon = float(epsilon)
        self.use_bias = bool(use_bias)
        self.dense_layers = [
            self.sublayer(
                DenseLayer,
                f"block{i}",
                self.growth_rate,
                bottleneck_factor=self.bottleneck_factor,
                epsilon=self.epsilon,
                use_bias=self.use_bias,
            )
            for i in range(1, self.num_layers + 1)
        ]
        self.input_spec = keras.InputSpec(ndim=4)

    def build(self, input_shape):
        shape = tuple(input_shape)
        known_channels(self, shape)
        for layer in self.dense_layers:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        channels = None if input_shape[-1] is None else input_shape[-1] + self.num_layers * self.growth_rate
        return input_shape[:-1] + (channels,)

    def call(self, inputs, training=None):
        x = inputs
        for layer in self.dense_layers:
            x = layer(x, training=training)
        return x


@keras.saving.register_keras_serializable(package="zoo")
class TransitionBlock(Block):
    """A DenseNet transition: batch norm, ReLU, 1x1 convolution to `int(channels * reduction)`
    channels, 2x2 average pooling with stride 2.

    keras.applications' `transition_block`. Sub-layers: `{name}_bn`, `{name}_relu`, `{name}_conv`,
    `{name}_pool`. The convolution's width depends on the input channels, so `{name}_conv` is
    created when the block is built (the others in the constructor).

    Args:
        reduction: compression factor theta in (0, 1] (default 0.5, DenseNet-BC's).
        epsilon: batch-normalization epsilon (default 1.001e-5).
        use_bias: whether the convolution has a bias (default False).
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Input shape:
        4D tensor `(batch, rows, cols, channels)`, rows and cols >= 2.

    Output shape:
        4D tensor `(batch, rows // 2, cols // 2, int(channels * reduction))`.

    Example:

    >>> x = keras.Input((56, 56, 256))
    >>> TransitionBlock(0.5, name="pool2")(x).shape
    (None, 28, 28, 128)
    """

    config_keys = ("reduction", "epsilon", "use_bias")

    def __init__(self, reduction=0.5, epsilon=1.001e-5, use_bias=False, **kwargs):
        super().__init__(**kwargs)
        reduction = float(reduction)
        if not 0.0 < reduction <= 1.0:
            raise ValueError(f"reduction (compression) must be in (0, 1], got {reduction!r}.")
        self.reduction = reduction
        self.epsilon = float(epsilon)
        self.use_bias = bool(use_bias)
        self.bn = self.batch_norm("bn")
        self.relu = self.sublayer(layers.Activation, "relu", "relu")
        self.conv = None
        self.pool = self.sublayer(layers.AveragePooling2D, "pool", 2, strides=2)
        self.input_spec = keras.InputSpec(ndim=4)

    def _out_channels(self, in_channels):
        return max(1, int(in_channels * self.reduction))

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        channels = known_channels(self, input_shape)
        for size in input_shape[1:3]:
            if size is not None and size < 2:
                raise ValueError(
                    f"TransitionBlock {self.name!r} halves the spatial size with a 2x2 pooling and needs rows and "
                    f"cols >= 2, got input shape {input_shape}. Use a larger input image."
                )
        self.bn.build(input_shape)
        if self.conv is None:
            self.conv = self.sublayer(layers.Conv2D, "conv", self._out_channels(channels), 1, use_bias=self.use_bias)
        self.conv.build(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        spatial = tuple(None if s is None else s // 2 for s in input_shape[1:3])
        channels = None if input_shape[-1] is None else self._out_channels(input_shape[-1])
        return (input_shape[0],) + spatial + (channels,)

    def call(self, inputs, training=None):
        x = self.relu(self.bn(inputs, training=training))
        return self.pool(self.conv(x))
