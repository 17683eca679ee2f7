"""Normalization layers not in Keras: local response normalization (AlexNet)."""

import keras
from keras import ops

from layers._blocks import Block, positive_int


@keras.saving.register_keras_serializable(package="zoo")
class LocalResponseNormalization(Block):
    """Local response normalization across channels (Krizhevsky et al. 2012, section 3.3).

    With `a[..., i]` the input at channel `i` and `N` channels, the output is the paper's formula

        b[..., i] = a[..., i] / (k + alpha * sum_j a[..., j] ** 2) ** beta

    where `j` runs over the `size` channels `i - size // 2 ... i + (size - 1) // 2` clipped to
    `0 ... N - 1` (missing channels at the borders count as zero). For odd `size` (the paper uses
    `n = 5`) this window is `i - n/2 ... i + n/2`, exactly the paper's; for even `size` it has one
    more channel before `i` than after, as in PyTorch.

    **alpha is not divided by size** (the paper's formula, and `tf.nn.local_response_normalization`
    with `depth_radius=(size - 1) // 2, bias=k, alpha=alpha, beta=beta` for odd `size`).
    `torch.nn.LocalResponseNorm(size, alpha, beta, k)` divides alpha by `size`
    (`b = a / (k + alpha / size * sum) ** beta`): to reproduce it, pass `alpha=torch_alpha / size`.
    Caffe's LRN layer (`ACROSS_CHANNELS`) divides by `size` too.

    Args:
        size: number of adjacent channels summed over (`n` in the paper), an int >= 1.
            Default 5.
        alpha: scaling of the sum of squares (not divided by `size`, see above). Default 1e-4.
        beta: exponent. Default 0.75.
        k: additive constant (`bias` in TensorFlow). Default 2.0.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Input shape:
        Any tensor of rank >= 2, channels last: `(batch, ..., channels)`; e.g. `(batch, rows,
        cols, channels)` after a convolution.

    Output shape:
        Same as the input.

    Example:

    >>> x = keras.Input((55, 55, 96))
    >>> y = LocalResponseNormalization(size=5, alpha=1e-4, beta=0.75, k=2.0)(x)  # AlexNet
    >>> y.shape
    (None, 55, 55, 96)
    """

    config_keys = ("size", "alpha", "beta", "k")

    def __init__(self, size=5, alpha=1e-4, beta=0.75, k=2.0, **kwargs):
        super().__init__(**kwargs)
        self.size = positive_int(size, "size", note=" (number of channels)")
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.k = float(k)
        self.input_spec = keras.InputSpec(min_ndim=2)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs):
        squares = ops.square(inputs)
        before, after = self.size // 2, (self.size - 1) // 2
        rank = len(inputs.shape)
        padded = ops.pad(squares, ((0, 0),) * (rank - 1) + ((before, after),))
        # Window sum as `size` shifted slices of the zero-padded squares: exact, no channel count
        # needed (works with an unknown number of channels), and no cumulative-sum cancellation.
        total = None
        last = self.size - 1
        for offset in range(self.size):
            stop = offset - last if offset < last else None
            part = padded[..., offset:stop]
            total = part if total is None else total + part
        return inputs / ops.power(self.k + self.alpha * total, self.beta)


@keras.saving.register_keras_serializable(package="zoo")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` whose training step over rows [N, C] runs TensorFlow's fused kernel.

    Same arguments, weights (`gamma`, `beta`, `moving_mean`, `moving_variance`), formula and moving
    averages as the Keras layer (moving_variance follows the biased batch variance, as Keras'):

        y = gamma * (x - mean_batch) / sqrt(var_batch + epsilon) + beta           (training)
        y = gamma * (x - moving_mean) / sqrt(moving_variance + epsilon) + beta    (inference)

    Keras 3 computes the training step from separate moment, subtract, multiply ops and their
    gradients (about 12 ms forward + backward on [43471, 64] here); TensorFlow's
    `FusedBatchNormV3` over the rows seen as [N, 1, 1, C] does it in one kernel each way (about
    6 ms). The graph models (`zoo.models.gnn`: GIN) normalize node states of that shape in every
    layer. Other cases (another backend or axis, rank != 2, a mask, renorm, synchronized,
    non-float32 inputs, inference) run the Keras layer's own code.

    Input shape: (N, C) on the fast path; anything the Keras layer takes otherwise.
    Output shape: same as the input.

    Example:

    >>> FusedBatchNormalization(momentum=0.9, name="gin1_bn")(keras.Input((64,))).shape
    (None, 64)
    """

    def _fused(self, inputs, training) -> bool:
        return bool(
            training
            and self.trainable
            and keras.backend.backend() == "tensorflow"
            and not self.renorm
            and not self.synchronized
            and len(inputs.shape) == 2
            and self.axis in (-1, 1)
            and inputs.dtype == "float32"
        )

    def call(self, inputs, training=None, mask=None):
        if mask is not None or not self._fused(inputs, training):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        channels = inputs.shape[-1]
        gamma = self.gamma if self.scale else tf.ones((channels,), inputs.dtype)
        beta = self.beta if self.center else tf.zeros((channels,), inputs.dtype)
        y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            tf.reshape(inputs, [-1, 1, 1, channels]), gamma, beta, epsilon=self.epsilon, is_training=True
        )
        # the kernel returns the unbiased batch variance (x n / (n - 1)); Keras' moving average uses the biased one
        n = tf.cast(tf.shape(inputs)[0], variance.dtype)
        variance = tf.where(n > 1, variance * (n - 1) / tf.maximum(n, 1), tf.zeros_like(variance))
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return tf.reshape(y, tf.shape(inputs))
