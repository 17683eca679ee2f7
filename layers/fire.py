"""The fire module of SqueezeNet (Iandola et al. 2016, section 3.2 and Figure 1).

    x -> 1x1 "squeeze" conv (s1x1 filters), ReLU
      -> [1x1 "expand" conv (e1x1 filters), ReLU] and [3x3 "expand" conv (e3x3 filters), ReLU]
      -> concatenated on the channel axis (e1x1 + e3x3 channels)

Sub-layers are named from the module's name, after the Caffe SqueezeNet layers ("fire2/squeeze1x1",
"fire2/relu_squeeze1x1", ...) with "_" for "/": a module named "fire2" holds "fire2_squeeze1x1",
"fire2_squeeze1x1_relu", "fire2_expand1x1", "fire2_expand1x1_relu", "fire2_expand3x3",
"fire2_expand3x3_relu" and "fire2_concat".
"""

import keras
from keras import layers

from layers._blocks import Block, positive_int


@keras.saving.register_keras_serializable(package="zoo")
class FireModule(Block):
    """SqueezeNet's fire module: a 1x1 squeeze convolution feeding 1x1 and 3x3 expand convolutions.

    Every convolution has a bias and is followed by ReLU; the 3x3 convolution is zero-padded
    ("same") so both expand branches keep the spatial size, and their outputs are concatenated on
    the channel axis, 1x1 branch first (as Caffe and torchvision do).

    Args:
        squeeze_filters: filters of the 1x1 squeeze convolution (`s1x1` in the paper).
        expand1x1_filters: filters of the 1x1 expand convolution (`e1x1`).
        expand3x3_filters: filters of the 3x3 expand convolution (`e3x3`).
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Input shape:
        `(batch, rows, cols, channels)`.

    Output shape:
        `(batch, rows, cols, expand1x1_filters + expand3x3_filters)`.

    Example:

    >>> x = keras.Input((55, 55, 96))
    >>> y = FireModule(16, 64, 64, name="fire2")(x)  # SqueezeNet's fire2
    >>> y.shape
    (None, 55, 55, 128)
    """

    config_keys = ("squeeze_filters", "expand1x1_filters", "expand3x3_filters")

    def __init__(self, squeeze_filters, expand1x1_filters, expand3x3_filters, **kwargs):
        super().__init__(**kwargs)
        self.squeeze_filters = positive_int(squeeze_filters, "squeeze_filters")
        self.expand1x1_filters = positive_int(expand1x1_filters, "expand1x1_filters")
        self.expand3x3_filters = positive_int(expand3x3_filters, "expand3x3_filters")
        prefix = f"{self.name}_"
        self.squeeze = layers.Conv2D(self.squeeze_filters, 1, name=f"{prefix}squeeze1x1")
        self.squeeze_relu = layers.ReLU(name=f"{prefix}squeeze1x1_relu")
        self.expand1x1 = layers.Conv2D(self.expand1x1_filters, 1, name=f"{prefix}expand1x1")
        self.expand1x1_relu = layers.ReLU(name=f"{prefix}expand1x1_relu")
        self.expand3x3 = layers.Conv2D(self.expand3x3_filters, 3, padding="same", name=f"{prefix}expand3x3")
        self.expand3x3_relu = layers.ReLU(name=f"{prefix}expand3x3_relu")
        self.concat = layers.Concatenate(axis=-1, name=f"{prefix}concat")

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        self.squeeze.build(input_shape)
        squeezed = self.squeeze.compute_output_shape(input_shape)
        self.expand1x1.build(squeezed)
        self.expand3x3.build(squeezed)

    def call(self, inputs):
        x = self.squeeze_relu(self.squeeze(inputs))
        return self.concat([self.expand1x1_relu(self.expand1x1(x)), self.expand3x3_relu(self.expand3x3(x))])

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:-1], self.expand1x1_filters + self.expand3x3_filters)
