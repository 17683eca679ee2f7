"""1-D convolutional blocks of time-series classifiers, with the padding mask of variable-length series.

| layer                  | what it is                                                                   |
| ---------------------- | ---------------------------------------------------------------------------- |
| `InceptionModule1D`    | the Inception module of InceptionTime (Ismail Fawaz et al. 2020)             |
| `ProjectionShortcut1D` | InceptionTime's residual shortcut: `relu(x + BN(Conv1D 1x1(residual)))`      |
| `ResidualBlock1D`      | the residual block of the ResNet baseline (Wang, Yan & Oates 2017, fig. 1c)  |

Sequences are `[batch, time, channels]`, post-padded, with a boolean mask `[batch, time]` (True =
a real step, e.g. from `layers.sequence.PaddingMask`) given as `mask=` (or travelling with the
tensor as its Keras mask). With a mask, every block zeroes the padded steps before each "same"
convolution (so the real steps next to the end see the zeros "same" padding gives the unpadded
series), keeps padded steps out of its max pooling, and computes its batch-norm training
statistics over the real steps only. At inference a post-padded series then gives, at its real
steps, exactly the outputs of the unpadded series; in training the padding stays out of the
batch statistics too. The values at the padded steps are left unspecified (not zero), and
the output carries no Keras mask: give the mask to the next block and to the pooling explicitly,
as the zoo's `inception_time` and `resnet1d` do (a Keras mask would be dropped, with a warning, by
the plain convolutions of a shortcut).

Ismail Fawaz et al. (2020). InceptionTime: Finding AlexNet for Time Series Classification. Data
Mining and Knowledge Discovery 34:1936-1962. arXiv:1909.04939.
Wang, Yan, Oates (2017). Time Series Classification from Scratch with Deep Neural Networks: A
Strong Baseline. IJCNN 2017. arXiv:1611.06455.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from layers._blocks import Block, known_channels, positive_int


def _real(mask):
    """The mask `[batch, time]` as a boolean `[batch, time, 1]` that broadcasts over the channels."""
    return ops.expand_dims(ops.cast(mask, "bool"), -1)


def zero_padded_steps(x, mask):
    """`x` with the steps where `mask` is False set to 0 (`ops.where`, so an inf or NaN there goes too)."""
    if mask is None:
        return x
    return ops.where(_real(mask), x, ops.zeros_like(x))


def _kernel_sizes(value, what="kernel_sizes") -> tuple:
    values = tuple(value) if isinstance(value, (list, tuple)) else (value,)
    if not values:
        raise ValueError(f"{what} must be a non-empty tuple of ints >= 1, got {value!r}.")
    return tuple(positive_int(k, what) for k in values)


class _MaskedBlock(Block):
    """Shared part of the blocks: the batch normalization of their config, masks passed through."""

    def __init__(self, epsilon=1e-3, momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)
        self.momentum = float(momentum)
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}.")
        self.supports_masking = True
        self.input_spec = keras.InputSpec(ndim=3)

    def batch_norm(self, suffix):
        """Batch normalization over the channels with the block's epsilon and momentum."""
        return self.sublayer(layers.BatchNormalization, suffix, epsilon=self.epsilon, momentum=self.momentum)

    def compute_mask(self, inputs, mask=None):
        return None  # given explicitly to the next layer (see the module docstring)


@keras.saving.register_keras_serializable(package="zoo")
class InceptionModule1D(_MaskedBlock):
    """The Inception module of InceptionTime (Ismail Fawaz et al. 2020).

        b = Conv1D(bottleneck_size, 1)(x)               "{name}_bottleneck"   (only when x has > 1 channel)
        y_i = Conv1D(filters, kernel_sizes[i])(b)       "{name}_conv{i}"      i = 1, 2, 3 ("same")
        p = Conv1D(filters, 1)(MaxPool1D(pool_size)(x)) "{name}_pool", "{name}_pool_conv"
        out = ReLU(BN(concat(y_1, ..., p)))             "{name}_concat", "{name}_bn", "{name}_relu"

    exactly as `_inception_module` of the authors' code (github:hfawaz/InceptionTime,
    classifiers/inception.py, lines 35-63): every convolution "same", stride 1, without bias and
    with a linear activation; the max pooling "same", stride 1; the bottleneck is left out when the
    input has a single channel (line 37), as for the first module of a univariate series. The
    output has `(len(kernel_sizes) + 1) * filters` channels (128 with the defaults). The sub-layers
    are created when the block is built (the bottleneck depends on the input's channels), in the
    order of the authors' code, so their weights line up with its layers'.

    Args:
        filters: channels of each branch, an int >= 1. Default 32.
        kernel_sizes: kernels of the convolution branches. Default (40, 20, 10): the code's
            `kernel_size=41`, minus one, halved twice (lines 22 and 44).
        bottleneck_size: channels of the bottleneck. Default 32 (line 25).
        use_bottleneck: whether to use the bottleneck (on inputs of more than one channel).
        pool_size: of the max pooling branch. Default 3.
        activation: of the convolutions. Default "linear" (the code's).
        use_bias: whether the convolutions have a bias. Default False (the code's).
        epsilon, momentum: of the batch normalization. Default Keras' 1e-3 and 0.99 (the code's).
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, time, channels)`.
        mask: boolean `(batch, time)`, or None (see the module docstring).
        training: whether batch normalization uses the batch's statistics.

    Input shape:
        `(batch, time, channels)`, channels known.

    Output shape:
        `(batch, time, (len(kernel_sizes) + 1) * filters)`.

    Example:

    >>> x = keras.Input((None, 1))
    >>> InceptionModule1D(32, name="inception1")(x).shape
    (None, None, 128)
    """

    config_keys = ("filters", "kernel_sizes", "bottleneck_size", "use_bottleneck", "pool_size", "activation",
                   "use_bias", "epsilon", "momentum")

    def __init__(self, filters=32, kernel_sizes=(40, 20, 10), bottleneck_size=32, use_bottleneck=True, pool_size=3,
                 activation="linear", use_bias=False, epsilon=1e-3, momentum=0.99, **kwargs):
        super().__init__(epsilon=epsilon, momentum=momentum, **kwargs)
        self.filters = positive_int(filters, "filters")
        self.kernel_sizes = _kernel_sizes(kernel_sizes)
        self.bottleneck_size = positive_int(bottleneck_size, "bottleneck_size")
        self.use_bottleneck = bool(use_bottleneck)
        self.pool_size = positive_int(pool_size, "pool_size")
        self.activation = keras.activations.serialize(keras.activations.get(activation))
        self.use_bias = bool(use_bias)
        self.bottleneck = None
        self.convs = []

    @property
    def out_channels(self) -> int:
        return (len(self.kernel_sizes) + 1) * self.filters

    def _conv(self, filters, kernel_size, suffix):
        return self.sublayer(layers.Conv1D, suffix, filters, kernel_size, padding="same",
                             activation=self.activation, use_bias=self.use_bias)

    def build(self, input_shape):
        shape = tuple(input_shape)
        channels = known_channels(self, shape)
        if self.use_bottleneck and channels > 1:
            self.bottleneck = self._conv(self.bottleneck_size, 1, "bottleneck")
            self.bottleneck.build(shape)
        branch_shape = shape if self.bottleneck is None else self.bottleneck.compute_output_shape(shape)
        self.convs = [self._conv(self.filters, k, f"conv{i}") for i, k in enumerate(self.kernel_sizes, start=1)]
        for conv in self.convs:
            conv.build(branch_shape)
        self.pool = self.sublayer(layers.MaxPooling1D, "pool", pool_size=self.pool_size, strides=1, padding="same")
        self.pool.build(shape)
        self.pool_conv = self._conv(self.filters, 1, "pool_conv")
        self.pool_conv.build(shape)
        out_shape = shape[:-1] + (self.out_channels,)
        self.concat = self.sublayer(layers.Concatenate, "concat", axis=-1)
        self.concat.build([shape[:-1] + (self.filters,)] * (len(self.convs) + 1))
        self.bn = self.batch_norm("bn")
        self.bn.build(out_shape)
        self.relu = self.sublayer(layers.Activation, "relu", "relu")
        self.relu.build(out_shape)
        self.built = True

    def call(self, inputs, training=None, mask=None):
        x = ops.copy(inputs)  # without the Keras mask: the sub-layers get it explicitly
        branch_in = zero_padded_steps(x, mask)
        pool_in = x
        if mask is not None:  # padded steps below every real value: out of the max
            pool_in = ops.where(_real(mask), x, ops.min(x) - 1.0)
        if self.bottleneck is not None:
            branch_in = zero_padded_steps(self.bottleneck(branch_in), mask)
        branches = [conv(branch_in) for conv in self.convs]
        branches.append(self.pool_conv(zero_padded_steps(self.pool(pool_in), mask)))
        y = self.concat(branches)
        return self.relu(self.bn(y, training=training, mask=mask))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.out_channels,)


@keras.saving.register_keras_serializable(package="zoo")
class ResidualBlock1D(_MaskedBlock):
    """The residual block of the ResNet time-series baseline (Wang, Yan & Oates 2017, figure 1c).

        y = ReLU(BN(Conv1D(filters, kernel_sizes[0])(x)))      "{name}_1_conv", "_1_bn", "_1_relu"
        y = ReLU(BN(Conv1D(filters, kernel_sizes[1])(y)))      "{name}_2_conv", "_2_bn", "_2_relu"
        y = BN(Conv1D(filters, kernel_sizes[2])(y))            "{name}_3_conv", "_3_bn"
        s = BN(Conv1D(filters, 1)(x)), or BN(x) when x has `filters` channels   "{name}_0_conv", "_0_bn"
        out = ReLU(s + y)                                      "{name}_add", "{name}_out"

    exactly as a block of the reference code (github:hfawaz/dl-4-tsc, classifiers/resnet.py,
    lines 42-99): "same" convolutions with bias, Keras' default batch normalization, and a
    shortcut that is batch-normalized even when it is the identity (line 96). The sub-layers are
    created when the block is built, in the order of that code.

    Args:
        filters: channels of the three convolutions (and of the block), an int >= 1.
        kernel_sizes: kernels of the three convolutions. Default (8, 5, 3).
        use_bias: whether the convolutions have a bias. Default True (the code's).
        epsilon, momentum: of the batch normalizations. Default Keras' 1e-3 and 0.99 (the code's).
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, time, channels)`.
        mask: boolean `(batch, time)`, or None (see the module docstring).
        training: whether batch normalization uses the batch's statistics.

    Input shape:
        `(batch, time, channels)`, channels known.

    Output shape:
        `(batch, time, filters)`.

    Example:

    >>> x = keras.Input((None, 1))
    >>> ResidualBlock1D(64, name="block1")(x).shape
    (None, None, 64)
    """

    config_keys = ("filters", "kernel_sizes", "use_bias", "epsilon", "momentum")

    def __init__(self, filters, kernel_sizes=(8, 5, 3), use_bias=True, epsilon=1e-3, momentum=0.99, **kwargs):
        super().__init__(epsilon=epsilon, momentum=momentum, **kwargs)
        self.filters = positive_int(filters, "filters")
        self.kernel_sizes = _kernel_sizes(kernel_sizes)
        self.use_bias = bool(use_bias)
        self.shortcut_conv = None
        self.convs, self.bns, self.relus = [], [], []

    def build(self, input_shape):
        shape = tuple(input_shape)
        channels = known_channels(self, shape)
        out_shape = shape[:-1] + (self.filters,)
        last = len(self.kernel_sizes)
        in_shape = shape
        for i, kernel in enumerate(self.kernel_sizes, start=1):
            conv = self.sublayer(layers.Conv1D, f"{i}_conv", self.filters, kernel, padding="same",
                                 use_bias=self.use_bias)
            conv.build(in_shape)
            bn = self.batch_norm(f"{i}_bn")
            bn.build(out_shape)
            self.convs.append(conv)
            self.bns.append(bn)
            if i < last:
                self.relus.append(self.sublayer(layers.Activation, f"{i}_relu", "relu"))
            in_shape = out_shape
        if channels != self.filters:
            self.shortcut_conv = self.sublayer(layers.Conv1D, "0_conv", self.filters, 1, padding="same",
                                               use_bias=self.use_bias)
            self.shortcut_conv.build(shape)
        self.shortcut_bn = self.batch_norm("0_bn")
        self.shortcut_bn.build(out_shape)
        self.add_op = self.sublayer(layers.Add, "add")
        self.add_op.build([out_shape, out_shape])
        self.out = self.sublayer(layers.Activation, "out", "relu")
        self.out.build(out_shape)
        self.built = True

    def call(self, inputs, training=None, mask=None):
        x = ops.copy(inputs)  # without the Keras mask: the sub-layers get it explicitly
        y = x
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns)):
            y = bn(conv(zero_padded_steps(y, mask)), training=training, mask=mask)
            if i < len(self.relus):
                y = self.relus[i](y)
        shortcut = x if self.shortcut_conv is None else self.shortcut_conv(x)
        shortcut = self.shortcut_bn(shortcut, training=training, mask=mask)
        return self.out(self.add_op([shortcut, y]))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.filters,)


@keras.saving.register_keras_serializable(package="zoo")
class ProjectionShortcut1D(_MaskedBlock):
    """A residual shortcut around a stack of blocks: `relu(x + BN(Conv1D(channels of x, 1)(residual)))`.

        s = Conv1D(x channels, 1, no bias)(residual)   "{name}_conv"
        s = BN(s)                                      "{name}_bn"
        out = ReLU(s + x)                              "{name}_add", "{name}_relu"

    exactly as `_shortcut_layer` of InceptionTime's code (github:hfawaz/InceptionTime,
    classifiers/inception.py, lines 65-72), which adds the input of three Inception modules to
    their output. The convolution is 1x1 (pointwise), so only the batch normalization's training
    statistics use the mask (over the real steps).

    Args:
        use_bias: whether the convolution has a bias. Default False (the code's).
        epsilon, momentum: of the batch normalization. Default Keras' 1e-3 and 0.99 (the code's).
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `x`, the output of the blocks, `(batch, time, channels)`.
        residual: their input, `(batch, time, residual_channels)`.
        mask: boolean `(batch, time)`, or None.
        training: whether batch normalization uses the batch's statistics.

    Input shape:
        `(batch, time, channels)` and `(batch, time, residual_channels)`, channels known.

    Output shape:
        `(batch, time, channels)`.

    Example:

    >>> x, residual = keras.Input((None, 128)), keras.Input((None, 1))
    >>> ProjectionShortcut1D(name="shortcut1")(x, residual).shape
    (None, None, 128)
    """

    config_keys = ("use_bias", "epsilon", "momentum")

    def __init__(self, use_bias=False, epsilon=1e-3, momentum=0.99, **kwargs):
        super().__init__(epsilon=epsilon, momentum=momentum, **kwargs)
        self.use_bias = bool(use_bias)
        self.input_spec = None  # two inputs

    def build(self, inputs_shape, residual_shape):
        shape, residual_shape = tuple(inputs_shape), tuple(residual_shape)
        channels = known_channels(self, shape)
        known_channels(self, residual_shape)
        self.conv = self.sublayer(layers.Conv1D, "conv", channels, 1, padding="same", use_bias=self.use_bias)
        self.conv.build(residual_shape)
        self.bn = self.batch_norm("bn")
        self.bn.build(shape)
        self.add_op = self.sublayer(layers.Add, "add")
        self.add_op.build([shape, shape])
        self.relu = self.sublayer(layers.Activation, "relu", "relu")
        self.relu.build(shape)
        self.built = True

    def call(self, inputs, residual, training=None, mask=None):
        shortcut = self.bn(self.conv(residual), training=training, mask=mask)
        return self.relu(self.add_op([shortcut, ops.copy(inputs)]))

    def compute_output_shape(self, inputs_shape, residual_shape):
        return tuple(inputs_shape)


__all__ = ["InceptionModule1D", "ProjectionShortcut1D", "ResidualBlock1D", "zero_padded_steps"]
