"""What the zoo's layers share: argument checks, a complete `get_config`, sub-layers named after their place.

Not a layer module of its own: `Block` is the base of the composite blocks (`BasicBlock`,
`DenseLayer`, `FireModule`, ...) and of other layers whose configuration is their constructor's
arguments, kept as attributes of the same names.
"""

import operator

import keras
from keras import layers


def positive_int(value, what, note=""):
    """`value` as an int when it is an integer >= 1 (a bool is not), else a ValueError naming `what`.

    `note` is added after the rule in the message, e.g. " (number of channels)".
    """
    try:
        valid = not isinstance(value, bool) and operator.index(value) >= 1
    except TypeError:
        valid = False
    if not valid:
        raise ValueError(f"{what} must be an int >= 1{note}, got {value!r}.")
    return operator.index(value)


def known_channels(layer, input_shape):
    """The number of input channels (last axis), which `layer` needs to know when it is built."""
    if input_shape[-1] is None:
        raise ValueError(
            f"{type(layer).__name__} {layer.name!r} needs a known number of input channels, got {input_shape}."
        )
    return input_shape[-1]


class Block(keras.layers.Layer):
    """A layer whose configuration is the constructor arguments listed in `config_keys`.

    `get_config` returns those attributes (initializers serialized), so a subclass only lists them.
    `sublayer` and `batch_norm` create sub-layers named `{block name}_{suffix}` with the block's
    dtype policy, as keras.applications names the layers of its blocks.
    """

    config_keys = ()

    def sublayer(self, layer_class, suffix, *args, **kwargs):
        return layer_class(*args, name=f"{self.name}_{suffix}", dtype=self.dtype_policy, **kwargs)

    def batch_norm(self, suffix):
        """Batch normalization over the channels (last axis) with the block's `epsilon`."""
        return self.sublayer(layers.BatchNormalization, suffix, axis=-1, epsilon=self.epsilon)

    def get_config(self):
        config = super().get_config()
        for key in self.config_keys:
            value = getattr(self, key)
            if isinstance(value, keras.initializers.Initializer):
                value = keras.initializers.serialize(value)
            config[key] = value
        return config
