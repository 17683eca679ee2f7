"""Private helpers shared by the graph layers (`layers.graph_conv`, `layers.message_passing`)."""

from __future__ import annotations

import keras
import tensorflow as tf


def edge_endpoints(x, edge_index):
    """(senders, receivers, num_nodes) of a graph batch: the rows of `edge_index` and the number of
    rows of the node states `x`, in the dtype of `edge_index`."""
    senders, receivers = edge_index[0], edge_index[1]
    return senders, receivers, tf.shape(x, out_type=receivers.dtype)[0]


def set_dense_arguments(layer, kernel_initializer, bias_initializer, kernel_regularizer):
    """Set `layer.kernel_initializer`, `.bias_initializer` and `.kernel_regularizer` from their arguments."""
    layer.kernel_initializer = keras.initializers.get(kernel_initializer)
    layer.bias_initializer = keras.initializers.get(bias_initializer)
    layer.kernel_regularizer = keras.regularizers.get(kernel_regularizer)


def dense_arguments_config(layer) -> dict:
    """The config entries of the arguments `set_dense_arguments` set, serialized."""
    return dict(
        kernel_initializer=keras.initializers.serialize(layer.kernel_initializer),
        bias_initializer=keras.initializers.serialize(layer.bias_initializer),
        kernel_regularizer=keras.regularizers.serialize(layer.kernel_regularizer),
    )
