"""Graph readouts: one vector per graph of the batch from its nodes' vectors.

    h_G = sum_v h_v,  mean_v h_v,  max_v h_v                          (Xu et al. 2019, eq. 4.2 uses sum)
    h_G = sum_v softmax_v(w^T h_v + b) h_v                            ("attention": the soft attention
                                                                        readout of Li et al. 2016, Gated
                                                                        Graph Sequence Neural Networks,
                                                                        eq. 7, with a softmax gate)

The nodes of graph g are the rows whose `node_graph_ids` equal g (see `layers.message_passing`);
the batch has max(node_graph_ids) + 1 graphs. Sums and softmaxes are segment reductions, so the
result does not depend on the order of the nodes.
"""

from __future__ import annotations

from collections.abc import Mapping

import keras
import tensorflow as tf
from keras import layers

from layers._sparse_sum import segment_sum
from layers.message_passing import (
    NODE_FEATURES,
    NODE_GRAPH_IDS,
    _choice,
    aggregate,
    count_graphs,
    segment_softmax,
)

READOUTS = ("sum", "mean", "max", "attention")


@keras.saving.register_keras_serializable(package="zoo")
class GraphReadout(keras.layers.Layer):
    """Pool node vectors [N, F] into graph vectors [G, F] by `node_graph_ids`.

    Args:
        reduction: "sum", "mean" (default), "max" or "attention" (a learned gate w^T h_v + b,
            softmax over the nodes of each graph, weighted sum).
        validate: check that `node_graph_ids` is a non-negative integer vector as long as the node
            features (see `layers.message_passing.validate_graph_batch`). Default True.
        kernel_initializer, bias_initializer: of the attention gate.
        **kwargs: base `keras.layers.Layer` arguments.

    Sub-layer: `{name}_gate` (Dense(1), "attention" only).

    Input shape:
        a dict with `node_features` (N, F) and `node_graph_ids` (N,) (e.g. a graph batch with
        updated node features); or a list `[node_features, node_graph_ids]`; or just the node
        features (N, F), taken as one graph. The ids need not be sorted. A graph id with no node
        gives a zero row.

    Output shape:
        `(G, F)` with G = max(node_graph_ids) + 1 (1 without ids).

    Example:

    >>> h = keras.Input((64,)); ids = keras.Input(shape=(), dtype="int32")
    >>> GraphReadout("sum", name="readout")({"node_features": h, "node_graph_ids": ids}).shape
    (None, 64)
    """

    def __init__(self, reduction="mean", validate=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 **kwargs):
        super().__init__(**kwargs)
        self.reduction = _choice(reduction, READOUTS, "reduction")
        self.validate = bool(validate)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.gate = None
        if self.reduction == "attention":
            self.gate = layers.Dense(
                1,
                kernel_initializer=self.kernel_initializer,
                bias_initializer=self.bias_initializer,
                name=f"{self.name}_gate",
            )

    @staticmethod
    def _node_shape(input_shape):
        if isinstance(input_shape, Mapping):
            return tuple(input_shape[NODE_FEATURES])
        if isinstance(input_shape, (list, tuple)) and input_shape and isinstance(input_shape[0], (list, tuple)):
            return tuple(input_shape[0])
        return tuple(input_shape)

    def build(self, input_shape):
        shape = self._node_shape(input_shape)
        if self.gate is not None:
            if shape[-1] is None:
                raise ValueError(f"GraphReadout {self.name!r}: the node feature size must be known, got {shape}")
            self.gate.build((None, shape[-1]))
        self.built = True

    def _unpack(self, inputs):
        where = f"GraphReadout {self.name!r}"
        if isinstance(inputs, Mapping):
            if NODE_FEATURES not in inputs:
                raise ValueError(f"{where}: the input dict needs {NODE_FEATURES!r}; got keys {sorted(inputs)}")
            x, ids = inputs[NODE_FEATURES], inputs.get(NODE_GRAPH_IDS)
        elif isinstance(inputs, (list, tuple)):
            if len(inputs) != 2:
                raise ValueError(f"{where}: expected [node_features, node_graph_ids], got a list of {len(inputs)}")
            x, ids = inputs
        else:
            x, ids = inputs, None
        x = tf.convert_to_tensor(x)
        if x.shape.rank is not None and x.shape.rank != 2:
            raise ValueError(f"{where}: node_features must have rank 2 [num_nodes, feature_size], got shape {x.shape}")
        if ids is None:
            return x, tf.zeros(tf.shape(x)[:1], dtype="int32")
        ids = tf.convert_to_tensor(ids)
        if not ids.dtype.is_integer:
            raise ValueError(f"{where}: node_graph_ids must be an integer tensor, got dtype {ids.dtype.name}")
        if ids.shape.rank is not None and ids.shape.rank != 1:
            raise ValueError(f"{where}: node_graph_ids must have rank 1 [num_nodes], got shape {ids.shape}")
        if self.validate:
            checks = [
                tf.debugging.assert_equal(
                    tf.shape(ids)[0],
                    tf.shape(x)[0],
                    message=f"{where}: the length of node_graph_ids must equal the number of nodes (rows of node_features)",
                ),
                tf.debugging.assert_non_negative(ids, message=f"{where}: node_graph_ids holds negative graph ids"),
            ]
            checks = [c for c in checks if c is not None]
            if checks:
                with tf.control_dependencies(checks):
                    ids = tf.identity(ids)
        return x, ids

    def call(self, inputs):
        x, ids = self._unpack(inputs)
        num_graphs = count_graphs(ids)
        if self.reduction == "attention":
            weights = segment_softmax(self.gate(x), ids, num_graphs)  # [N, 1]
            return tf.math.unsorted_segment_sum(weights * x, ids, num_graphs)
        if self.reduction in ("sum", "mean"):
            total = segment_sum(x, ids, num_graphs)
            if self.reduction == "sum":
                return total
            count = tf.math.unsorted_segment_sum(tf.ones_like(ids, dtype=x.dtype), ids, num_graphs)
            return tf.math.divide_no_nan(total, count[:, None])
        return aggregate(x, ids, num_graphs, self.reduction)

    def compute_output_shape(self, input_shape):
        return (None, self._node_shape(input_shape)[-1])

    def get_config(self):
        config = super().get_config()
        config.update(
            reduction=self.reduction,
            validate=self.validate,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
        )
        return config
