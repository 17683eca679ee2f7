"""Layers over a time axis: the causal dilated residual block of TCNs, sinusoidal positions, masks.

Sequences are `[batch, time, features]` (channels last). Variable-length batches are padded at
the END of the time axis (post-padding) and carry a boolean mask `[batch, time]` (True = a real
step). The layers here take that mask as an explicit `mask=` argument (or as the Keras mask that
travels with a tensor, e.g. from `keras.layers.Masking` or `Embedding(mask_zero=True)`):

| layer                         | what it does                                                              |
| ----------------------------- | ------------------------------------------------------------------------- |
| `CausalDilatedResidualBlock`  | TCN residual block (Bai et al. 2018, figure 1b): two causal dilated convs  |
| `SinusoidalPositionEmbedding` | adds the fixed sin/cos positions of Vaswani et al. (2017), section 3.5     |
| `PaddingMask`                 | the mask of a padded batch: steps whose features all equal a padding value |
| `SeriesStandardization`       | every channel scaled by the training set's mean and std (real steps only)  |
| `PadToLength`                 | every series post-padded to the training set's longest length              |
| `ApplyMask`                   | zeroes the padded steps of a sequence                                      |
| `MaskedGlobalPooling1D`       | mean or max over the real steps only                                       |
| `LastTimeStep`                | the output at each sequence's last real step                               |

and `receptive_field(kernel_size, dilations, convs_per_block)`, the number of input steps one
output step of a stack of causal dilated convolutions sees.

Bai, Kolter, Koltun (2018). An Empirical Evaluation of Generic Convolutional and Recurrent
Networks for Sequence Modeling. arXiv:1803.01271.
Vaswani et al. (2017). Attention Is All You Need. NeurIPS 2017. arXiv:1706.03762.
"""

from __future__ import annotations

import operator

import keras
import numpy as np
from keras import layers, ops


def _positive_int(value, what: str) -> int:
    try:
        valid = not isinstance(value, bool) and operator.index(value) >= 1
    except TypeError:
        valid = False
    if not valid:
        raise ValueError(f"{what} must be an integer >= 1, got {value!r}")
    return operator.index(value)


def _rate(value, what: str) -> float:
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{what} must be a rate in [0, 1), got {value!r}")
    return value


def receptive_field(kernel_size, dilations, convs_per_block: int = 1) -> int:
    """Input steps seen by one output step of stacked (causal) dilated 1-D convolutions.

        receptive_field = 1 + convs_per_block * sum_i (kernel_size_i - 1) * dilation_i

    Args:
        kernel_size: one int for every layer, or one per layer (same length as `dilations`).
        dilations: the dilation rate of each layer (or block), e.g. (1, 2, 4, 8).
        convs_per_block: convolutions per entry of `dilations` sharing its kernel and dilation
            (2 in a `CausalDilatedResidualBlock`). Residual 1x1 shortcuts add nothing.

    Example:

    >>> receptive_field(3, (1, 2, 4, 8), convs_per_block=2)   # 1 + 2 * 2 * 15
    61
    """
    dilations = [_positive_int(d, "dilation") for d in dilations]
    if isinstance(kernel_size, (list, tuple)):
        kernels = [_positive_int(k, "kernel_size") for k in kernel_size]
        if len(kernels) != len(dilations):
            raise ValueError(f"got {len(kernels)} kernel sizes for {len(dilations)} dilations")
    else:
        kernels = [_positive_int(kernel_size, "kernel_size")] * len(dilations)
    convs = _positive_int(convs_per_block, "convs_per_block")
    return 1 + convs * sum((k - 1) * d for k, d in zip(kernels, dilations))


@keras.saving.register_keras_serializable(package="zoo")
class CausalDilatedResidualBlock(keras.layers.Layer):
    """The residual block of a Temporal Convolutional Network (Bai et al. 2018, figure 1b).

        y = Dropout(ReLU(Norm(CausalConv_d(x))))          ("{name}_1_*")
        y = Dropout(ReLU(Norm(CausalConv_d(y))))          ("{name}_2_*")
        out = ReLU(shortcut(x) + y)                       ("{name}_add", "{name}_out")

    Both convolutions have `filters` channels, `kernel_size` taps and dilation `dilation_rate`,
    with causal padding (`(kernel_size - 1) * dilation_rate` zeros on the left), so output step t
    depends on input steps <= t only. The shortcut is the identity, or a 1x1 convolution
    ("{name}_0_conv") when the number of channels changes. The paper normalizes the convolution
    weights (weight normalization), which Keras 3 does not provide; `normalization="layer"`
    (layer normalization of each step, which keeps the block causal) is offered instead, and
    batch normalization is not (its training statistics mix all steps, so the future).
    A block adds `2 * (kernel_size - 1) * dilation_rate` steps to the receptive field.

    Args:
        filters: output channels, an int >= 1.
        kernel_size: taps of both convolutions, an int >= 1. Default 3.
        dilation_rate: dilation of both convolutions, an int >= 1. Default 1.
        dropout: rate of the dropout after each ReLU (the paper's dropout). Default 0.
        normalization: None (default) or "layer".
        activation: activation after each convolution and after the addition. Default "relu".
        kernel_initializer: of the convolutions. Default "he_normal".
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Masks: the block passes a Keras mask through. With post-padded sequences the outputs at the
    real steps do not depend on the padding (causality), so no masking is needed inside.

    Input shape:
        `(batch, time, channels)`.

    Output shape:
        `(batch, time, filters)`.

    Example:

    >>> x = keras.Input((None, 1))
    >>> CausalDilatedResidualBlock(32, kernel_size=3, dilation_rate=4, name="block3")(x).shape
    (None, None, 32)
    """

    def __init__(
        self,
        filters,
        kernel_size=3,
        dilation_rate=1,
        dropout=0.0,
        normalization=None,
        activation="relu",
        kernel_initializer="he_normal",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = _positive_int(filters, "filters")
        self.kernel_size = _positive_int(kernel_size, "kernel_size")
        self.dilation_rate = _positive_int(dilation_rate, "dilation_rate")
        self.dropout = _rate(dropout, "dropout")
        if normalization not in (None, "layer"):
            raise ValueError(
                f"normalization must be None or 'layer' (batch normalization would not be causal in training), "
                f"got {normalization!r}"
            )
        self.normalization = normalization
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.supports_masking = True
        self.input_spec = keras.InputSpec(ndim=3)

        name = self.name
        self.branch = []
        for i in (1, 2):
            self.branch.append(
                layers.Conv1D(
                    self.filters,
                    self.kernel_size,
                    padding="causal",
                    dilation_rate=self.dilation_rate,
                    kernel_initializer=self.kernel_initializer,
                    name=f"{name}_{i}_conv",
                    dtype=self.dtype_policy,
                )
            )
            if self.normalization == "layer":
                self.branch.append(
                    layers.LayerNormalization(epsilon=1e-5, name=f"{name}_{i}_ln", dtype=self.dtype_policy)
                )
            self.branch.append(layers.Activation(self.activation, name=f"{name}_{i}_relu", dtype=self.dtype_policy))
            self.branch.append(layers.Dropout(self.dropout, name=f"{name}_{i}_drop", dtype=self.dtype_policy))
        self.shortcut = None  # a 1x1 conv when the channels change: created in build
        self.add_op = layers.Add(name=f"{name}_add", dtype=self.dtype_policy)
        self.out = layers.Activation(self.activation, name=f"{name}_out", dtype=self.dtype_policy)

    @property
    def receptive_field_increase(self) -> int:
        """Steps this block adds to the receptive field: 2 * (kernel_size - 1) * dilation_rate."""
        return 2 * (self.kernel_size - 1) * self.dilation_rate

    def build(self, input_shape):
        shape = tuple(input_shape)
        channels = shape[-1]
        if channels is None:
            raise ValueError(f"{self.name}: the channel axis of the input must be known, got {shape}")
        if channels != self.filters and self.shortcut is None:
            self.shortcut = layers.Conv1D(
                self.filters, 1, kernel_initializer=self.kernel_initializer, name=f"{self.name}_0_conv",
                dtype=self.dtype_policy,
            )
        if self.shortcut is not None:
            self.shortcut.build(shape)
        for layer in self.branch:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.add_op.build([shape, shape])
        self.out.build(shape)
        self.built = True

    def call(self, inputs, training=None, mask=None):
        inputs = ops.copy(inputs)  # without the Keras mask, which the convolutions do not take
        y = inputs
        for layer in self.branch:
            y = layer(y, training=training) if isinstance(layer, layers.Dropout) else layer(y)
        shortcut = inputs if self.shortcut is None else self.shortcut(inputs)
        return self.out(self.add_op([shortcut, y]))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "dilation_rate": self.dilation_rate,
                "dropout": self.dropout,
                "normalization": self.normalization,
                "activation": keras.activations.serialize(self.activation),
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config


def sinusoidal_positions(length: int, dim: int, base: float = 10000.0):
    """The [length, dim] table of Vaswani et al. (2017), section 3.5, as a numpy float32 array.

        PE[pos, 2i] = sin(pos / base^(2i / dim)),   PE[pos, 2i + 1] = cos(pos / base^(2i / dim))
    """
    import numpy as np

    pos = np.arange(length, dtype="float64")[:, None]
    i = np.arange(dim, dtype="float64")[None, :]
    angle = pos / np.power(base, (2.0 * (i // 2)) / dim)
    return np.where(i % 2 == 0, np.sin(angle), np.cos(angle)).astype("float32")


@keras.saving.register_keras_serializable(package="zoo")
class SinusoidalPositionEmbedding(keras.layers.Layer):
    """Add the fixed sinusoidal positions of Vaswani et al. (2017, section 3.5) to a sequence.

        PE[pos, 2i] = sin(pos / base^(2i / dim)),   PE[pos, 2i + 1] = cos(pos / base^(2i / dim))

    No weights, and any number of tokens works (the table is computed for the input's length),
    unlike the learned `layers.transformer.PositionEmbedding`. A Keras mask passes through.

    Args:
        base: the wavelength base, 10000 in the paper.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Input shape:
        `(batch, tokens, dim)`, `dim` known.

    Output shape:
        Same as the input.

    Example:

    >>> x = keras.Input((None, 64))
    >>> SinusoidalPositionEmbedding(name="pos_embed")(x).shape
    (None, None, 64)
    """

    def __init__(self, base=10000.0, **kwargs):
        super().__init__(**kwargs)
        self.base = float(base)
        if self.base <= 1.0:
            raise ValueError(f"base must be > 1, got {base!r}")
        self.supports_masking = True
        self.input_spec = keras.InputSpec(ndim=3)

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError(f"{self.name}: the last axis (dim) of the input must be known, got {tuple(input_shape)}")
        self.built = True

    def call(self, inputs):
        dim = inputs.shape[-1]
        length = ops.shape(inputs)[1]
        pos = ops.cast(ops.arange(length), "float32")[:, None]
        i = ops.arange(dim)
        exponent = ops.cast(2 * (i // 2), "float32") / float(dim)
        angle = pos / ops.power(self.base, exponent)[None, :]
        table = ops.where(ops.equal(i % 2, 0)[None, :], ops.sin(angle), ops.cos(angle))
        return inputs + ops.cast(table, inputs.dtype)[None, :, :]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        config = super().get_config()
        config.update({"base": self.base})
        return config


@keras.saving.register_keras_serializable(package="zoo")
class PaddingMask(keras.layers.Layer):
    """The boolean mask of a padded batch: True for real steps, False for padding.

    For token ids `(batch, time)`: True where the id differs from `mask_value` (0 is the padding
    id of `TextVectorization` and `Embedding(mask_zero=True)`). For features
    `(batch, time, ..., channels)`: True where ANY value of the step differs from `mask_value`
    (the rule of `keras.layers.Masking`), so a real step whose features all equal `mask_value`
    would be taken for padding.

    Args:
        mask_value: the padding value. Default 0.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Input shape:
        `(batch, time)` or `(batch, time, ...)`.

    Output shape:
        `(batch, time)`, boolean.

    Example:

    >>> PaddingMask()(np.array([[[1.0], [2.0], [0.0]]])).numpy().tolist()
    [[True, True, False]]
    """

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = mask_value

    def call(self, inputs):
        keep = ops.not_equal(inputs, ops.cast(self.mask_value, inputs.dtype))
        if len(inputs.shape) > 2:
            keep = ops.any(keep, axis=tuple(range(2, len(inputs.shape))))
        return keep

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:2])

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(tuple(inputs.shape[:2]), dtype="bool")

    def get_config(self):
        config = super().get_config()
        config.update({"mask_value": self.mask_value})
        return config


@keras.saving.register_keras_serializable(package="zoo")
class SeriesStandardization(keras.layers.Layer):
    """Every channel standardized with statistics of the training set: `(x - mean) / std`, padding 0.

    The statistics are the layer's non-trainable weights, so a trained and exported model carries
    its own preprocessing (a client sends raw series): `mean` and `std` `[channels]`, and `count`,
    the number of real steps they were computed from. `count == 0` means never adapted: the layer
    then passes its inputs through (mean 0, std 1). `adapt(batches)` sets them from the real steps
    of padded batches (a step is padding when all its channels equal `mask_value`, the rule of
    `PaddingMask`); `zoo.fit` adapts a layer that has never been adapted before it trains, on the
    training data. A channel with std 0 (constant) is only centred.

    Args:
        mask_value: the padding value (steps of all `mask_value` are left out of the statistics),
            or None (every step counts). Default 0.0.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, time, channels)`.
        mask: boolean `(batch, time)`, or None: with a mask, padded steps come out as 0 (the
            standardized mean).

    Input shape:
        `(batch, time, channels)`, channels known.

    Output shape:
        Same as the input.

    Example:

    >>> layer = SeriesStandardization()
    >>> layer.adapt([np.array([[[1.0], [3.0], [0.0]]])])      # the padded step is left out
    >>> layer(np.array([[[1.0], [3.0]]])).numpy()[0, :, 0].tolist(), int(layer.count.numpy())
    ([-1.0, 1.0], 2)
    """

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = mask_value
        self.supports_masking = True
        self.input_spec = keras.InputSpec(ndim=3)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"SeriesStandardization {self.name!r} needs a known number of channels, got {input_shape}")
        self.mean = self.add_weight(name="mean", shape=(channels,), initializer="zeros", trainable=False)
        self.std = self.add_weight(name="std", shape=(channels,), initializer="ones", trainable=False)
        self.count = self.add_weight(name="count", shape=(), initializer="zeros", trainable=False)

    @property
    def adapted(self) -> bool:
        return self.built and float(keras.ops.convert_to_numpy(self.count)) > 0

    def adapt(self, batches) -> None:
        """Set the statistics from `batches`: an iterable of `(batch, time, channels)` arrays (padded
        batches); the real steps of all of them count, accumulated in float64."""
        total = squares = None
        count = 0
        for batch in batches:
            x = np.asarray(keras.ops.convert_to_numpy(batch), dtype="float64")
            if x.ndim != 3:
                raise ValueError(f"SeriesStandardization.adapt takes (batch, time, channels) arrays, got {x.shape}")
            steps = x.reshape(-1, x.shape[-1])
            if self.mask_value is not None:
                steps = steps[np.any(steps != self.mask_value, axis=-1)]
            steps = steps[np.all(np.isfinite(steps), axis=-1)]
            if total is None:
                total, squares = np.zeros(x.shape[-1]), np.zeros(x.shape[-1])
            total += steps.sum(axis=0)
            squares += np.square(steps).sum(axis=0)
            count += len(steps)
        if not count:
            raise ValueError("SeriesStandardization.adapt found no real (unpadded, finite) step in the data")
        if not self.built:
            self.build((None, None, len(total)))
        mean = total / count
        std = np.sqrt(np.maximum(squares / count - np.square(mean), 0.0))
        std[std < 1e-7 * np.maximum(np.abs(mean), 1.0)] = 1.0
        self.mean.assign(mean.astype(self.mean.dtype))
        self.std.assign(std.astype(self.std.dtype))
        self.count.assign(float(count))

    def call(self, inputs, mask=None):
        outputs = (inputs - ops.cast(self.mean, inputs.dtype)) / ops.cast(self.std, inputs.dtype)
        return outputs if mask is None else outputs * _float_mask(mask, outputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"mask_value": self.mask_value})
        return config


@keras.saving.register_keras_serializable(package="zoo")
class PadToLength(keras.layers.Layer):
    """Every series post-padded with `pad_value` to one length, the training set's longest.

    A model without a padding mask sees the padding as data: a global average pool then averages
    over the padded steps too, which tells the model how long the series was (a useful signal on
    some data sets). Padded only to the longest series of its batch, a series would get a
    prediction that depends on the other series of the batch (a server batching requests changes
    it); padded to one fixed length, it gets the same prediction in any batch.

    The length is the layer's non-trainable weight `length` (a float scalar), so a trained and
    exported model carries it. `length == 0` means never adapted: the layer passes its inputs
    through. `adapt(batches)` sets it to the longest real length in padded batches (a series'
    real length runs to its last step that is not all `pad_value`); `zoo.fit` adapts a layer that
    has never been adapted before it trains, on the training data. Series longer than `length`
    are kept whole: their batch is as long as its longest series.

    Args:
        pad_value: the value of the padded steps (what the batches are padded with). Default 0.0.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Input shape:
        `(batch, time, channels)`.

    Output shape:
        `(batch, max(time, length), channels)`.

    Example:

    >>> layer = PadToLength()
    >>> layer.adapt([np.array([[[1.0], [2.0], [3.0]], [[4.0], [0.0], [0.0]]])])
    >>> layer(np.array([[[5.0]]])).numpy()[0, :, 0].tolist()
    [5.0, 0.0, 0.0]
    """

    def __init__(self, pad_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.pad_value = pad_value
        self.input_spec = keras.InputSpec(ndim=3)

    def build(self, input_shape):
        self.length = self.add_weight(name="length", shape=(), initializer="zeros", trainable=False)

    @property
    def adapted(self) -> bool:
        return self.built and float(keras.ops.convert_to_numpy(self.length)) > 0

    def adapt(self, batches) -> None:
        """Set `length` from `batches`: an iterable of padded `(batch, time, channels)` arrays."""
        longest = 0
        for batch in batches:
            x = np.asarray(keras.ops.convert_to_numpy(batch))
            if x.ndim != 3:
                raise ValueError(f"PadToLength.adapt takes (batch, time, channels) arrays, got {x.shape}")
            real = np.any(x != self.pad_value, axis=-1)  # [batch, time]
            ends = x.shape[1] - np.argmax(real[:, ::-1], axis=1)  # one past each series' last real step
            longest = max(longest, int(ends[real.any(axis=1)].max(initial=0)))
        if not longest:
            raise ValueError("PadToLength.adapt found no real (not all pad_value) step in the data")
        if not self.built:
            self.build((None, None, None))
        self.length.assign(float(longest))

    def call(self, inputs):
        missing = ops.maximum(ops.cast(self.length, "int32") - ops.shape(inputs)[1], 0)
        return ops.pad(inputs, [[0, 0], [0, missing], [0, 0]], constant_values=self.pad_value)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None, input_shape[2])

    def get_config(self):
        config = super().get_config()
        config.update({"pad_value": self.pad_value})
        return config


def _float_mask(mask, like):
    return ops.expand_dims(ops.cast(mask, like.dtype), -1)


@keras.saving.register_keras_serializable(package="zoo")
class ApplyMask(keras.layers.Layer):
    """Zero the padded steps of a sequence: `inputs * mask[..., None]`.

    Before a non-causal "same" convolution this makes a padded sequence's real steps see exactly
    the zeros that "same" padding puts after the end of the unpadded sequence.

    Args:
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, time, channels)`.
        mask: boolean `(batch, time)`, or None (inputs returned unchanged).

    Input shape:
        `(batch, time, channels)`.

    Output shape:
        Same as the input.

    Example:

    >>> x, m = np.ones((1, 3, 2)), np.array([[True, True, False]])
    >>> ApplyMask()(x, mask=m).numpy()[0, :, 0].tolist()
    [1.0, 1.0, 0.0]
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return inputs
        return inputs * _float_mask(mask, inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_mask(self, inputs, mask=None):
        return None  # the padded steps are zeros now; layers after this one need no mask


@keras.saving.register_keras_serializable(package="zoo")
class MaskedGlobalPooling1D(keras.layers.Layer):
    """Global average or max over the time axis, over the real (unmasked) steps only.

    With no mask this is `GlobalAveragePooling1D` / `GlobalMaxPooling1D`. A sequence with no real
    step pools to zeros.

    Args:
        mode: "avg" (default) or "max".
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, time, channels)`.
        mask: boolean `(batch, time)`, or None.

    Input shape:
        `(batch, time, channels)`.

    Output shape:
        `(batch, channels)`.

    Example:

    >>> x = np.array([[[1.0], [3.0], [100.0]]])
    >>> MaskedGlobalPooling1D("avg")(x, mask=np.array([[True, True, False]])).numpy().tolist()
    [[2.0]]
    """

    def __init__(self, mode="avg", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("avg", "max"):
            raise ValueError(f"mode must be 'avg' or 'max', got {mode!r}")
        self.mode = mode
        self.supports_masking = True
        self.input_spec = keras.InputSpec(ndim=3)

    def call(self, inputs, mask=None):
        if mask is None:
            return ops.mean(inputs, axis=1) if self.mode == "avg" else ops.max(inputs, axis=1)
        weights = _float_mask(mask, inputs)
        if self.mode == "avg":
            total = ops.sum(inputs * weights, axis=1)
            count = ops.sum(weights, axis=1)
            return total / ops.maximum(count, 1.0)
        lowest = ops.cast(ops.min(inputs) - 1.0, inputs.dtype)
        pooled = ops.max(ops.where(ops.cast(weights, "bool"), inputs, lowest), axis=1)
        any_real = ops.any(ops.cast(mask, "bool"), axis=1, keepdims=False)[:, None]
        return ops.where(any_real, pooled, ops.zeros_like(pooled))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode})
        return config


@keras.saving.register_keras_serializable(package="zoo")
class LastTimeStep(keras.layers.Layer):
    """The output at each sequence's last real step (the last step where the mask is True).

    With no mask, the last step `inputs[:, -1]`. With post-padded sequences and a causal model
    (TCN) this is the output the unpadded sequence gives at its end. A sequence with no real step
    gives its first step.

    Args:
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, time, channels)`.
        mask: boolean `(batch, time)`, or None.

    Input shape:
        `(batch, time, channels)`.

    Output shape:
        `(batch, channels)`.

    Example:

    >>> x = np.arange(3.0).reshape(1, 3, 1)
    >>> LastTimeStep()(x, mask=np.array([[True, True, False]])).numpy().tolist()
    [[1.0]]
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.input_spec = keras.InputSpec(ndim=3)

    def call(self, inputs, mask=None):
        if mask is None:
            return inputs[:, -1, :]
        steps = ops.arange(ops.shape(inputs)[1])[None, :]
        last = ops.max(ops.where(ops.cast(mask, "bool"), steps, ops.zeros_like(steps)), axis=1)
        index = ops.reshape(ops.cast(last, "int32"), (-1, 1, 1))
        return ops.take_along_axis(inputs, index, axis=1)[:, 0, :]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def compute_mask(self, inputs, mask=None):
        return None


__all__ = [
    "ApplyMask",
    "CausalDilatedResidualBlock",
    "LastTimeStep",
    "MaskedGlobalPooling1D",
    "PaddingMask",
    "SinusoidalPositionEmbedding",
    "receptive_field",
    "sinusoidal_positions",
]
