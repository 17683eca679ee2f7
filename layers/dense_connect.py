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

import operator

import keras
from keras import layers


def _positive_int(value, what):
    try:
        valid = not isinstance(value, bool) and operator.index(value) >= 1
    except TypeError:
        valid = False
    if not valid:
        raise ValueError(f"{what} must be an int >= 1, got {value!r}.")
    return operator.index(value)


def _known_channels(layer, input_shape):
    if input_shape[-1] is None:
        raise ValueError(f"{type(layer).__name__} {layer.name!r} needs a known number of input channels, got {input_shape}.")
    return input_shape[-1]


@keras.saving.register_keras_serializable(package="zoo")
class DenseLayer(keras.layers.Layer):
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

    def __init__(self, growth_rate=32, bottleneck_factor=4, epsilon=1.001e-5, use_bias=False, **kwargs):
        super().__init__(**kwargs)
        self.growth_rate = _positive_int(growth_rate, "growth_rate")
        self.bottleneck_factor = _positive_int(bottleneck_factor, "bottleneck_factor")
        self.epsilon = float(epsilon)
        self.use_bias = bool(use_bias)
        n, policy = self.name, self.dtype_policy
        self.bn0 = layers.BatchNormalization(axis=-1, epsilon=self.epsilon, name=f"{n}_0_bn", dtype=policy)
        self.relu0 = layers.Activation("relu", name=f"{n}_0_relu", dtype=policy)
        self.conv1 = layers.Conv2D(
            self.bottleneck_factor * self.growth_rate, 1, use_bias=self.use_bias, name=f"{n}_1_conv", dtype=policy
        )
        self.bn1 = layers.BatchNormalization(axis=-1, epsilon=self.epsilon, name=f"{n}_1_bn", dtype=policy)
        self.relu1 = layers.Activation("relu", name=f"{n}_1_relu", dtype=policy)
        self.conv2 = layers.Conv2D(
            self.growth_rate, 3, padding="same", use_bias=self.use_bias, name=f"{n}_2_conv", dtype=policy
        )
        self.concat = layers.Concatenate(axis=-1, name=f"{n}_concat", dtype=policy)
        self.input_spec = keras.InputSpec(ndim=4)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        _known_channels(self, input_shape)
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

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "growth_rate": self.growth_rate,
                "bottleneck_factor": self.bottleneck_factor,
                "epsilon": self.epsilon,
                "use_bias": self.use_bias,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="zoo")
class DenseBlock(keras.layers.Layer):
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

    def __init__(self, num_layers, growth_rate=32, bottleneck_factor=4, epsilon=1.001e-5, use_bias=False, **kwargs):
        super().__init__(**kwargs)
        self.num_layers = _positive_int(num_layers, "num_layers")
        self.growth_rate = _positive_int(growth_rate, "growth_rate")
        self.bottleneck_factor = _positive_int(bottleneck_factor, "bottleneck_factor")
        self.epsilon = float(epsilon)
        self.use_bias = bool(use_bias)
        self.dense_layers = [
            DenseLayer(
                self.growth_rate,
                bottleneck_factor=self.bottleneck_factor,
                epsilon=self.epsilon,
                use_bias=self.use_bias,
                name=f"{self.name}_block{i}",
                dtype=self.dtype_policy,
            )
            for i in range(1, self.num_layers + 1)
        ]
        self.input_spec = keras.InputSpec(ndim=4)

    def build(self, input_shape):
        shape = tuple(input_shape)
        _known_channels(self, shape)
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

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_layers": self.num_layers,
                "growth_rate": self.growth_rate,
                "bottleneck_factor": self.bottleneck_factor,
                "epsilon": self.epsilon,
                "use_bias": self.use_bias,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="zoo")
class TransitionBlock(keras.layers.Layer):
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

    def __init__(self, reduction=0.5, epsilon=1.001e-5, use_bias=False, **kwargs):
        super().__init__(**kwargs)
        reduction = float(reduction)
        if not 0.0 < reduction <= 1.0:
            raise ValueError(f"reduction (compression) must be in (0, 1], got {reduction!r}.")
        self.reduction = reduction
        self.epsilon = float(epsilon)
        self.use_bias = bool(use_bias)
        n, policy = self.name, self.dtype_policy
        self.bn = layers.BatchNormalization(axis=-1, epsilon=self.epsilon, name=f"{n}_bn", dtype=policy)
        self.relu = layers.Activation("relu", name=f"{n}_relu", dtype=policy)
        self.conv = None
        self.pool = layers.AveragePooling2D(2, strides=2, name=f"{n}_pool", dtype=policy)
        self.input_spec = keras.InputSpec(ndim=4)

    def _out_channels(self, in_channels):
        return max(1, int(in_channels * self.reduction))

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        channels = _known_channels(self, input_shape)
        for size in input_shape[1:3]:
            if size is not None and size < 2:
                raise ValueError(
                    f"TransitionBlock {self.name!r} halves the spatial size with a 2x2 pooling and needs rows and "
                    f"cols >= 2, got input shape {input_shape}. Use a larger input image."
                )
        self.bn.build(input_shape)
        if self.conv is None:
            self.conv = layers.Conv2D(
                self._out_channels(channels), 1, use_bias=self.use_bias, name=f"{self.name}_conv", dtype=self.dtype_policy
            )
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

    def get_config(self):
        config = super().get_config()
        config.update({"reduction": self.reduction, "epsilon": self.epsilon, "use_bias": self.use_bias})
        return config
