"""Message passing over the plain-tensor graph batch: input checks, gather + segment reductions, MPNN.

A graph batch is a dict of plain tensors (see DESIGN.md), so it passes through `tf.function`,
`tf.distribute` and SavedModel signatures unchanged:

| key              | shape     | dtype | what                                                        |
| ---------------- | --------- | ----- | ----------------------------------------------------------- |
| `node_features`  | [N, F]    | float | one row per node of every graph of the batch                |
| `edge_index`     | [2, E]    | int   | row 0 the sender, row 1 the receiver of each directed edge  |
| `edge_features`  | [E, D]    | float | optional, one row per edge                                  |
| `node_graph_ids` | [N]       | int   | optional, which graph of the batch each node belongs to     |

Node ids in `edge_index` already include each graph's offset in the batch. An undirected edge is
two directed edges. N and E are dynamic (None in `keras.Input`); there is no batch axis.

Every layer here computes messages with a gather over the edges (`tf.gather(h, senders)`) and
collects them with a segment reduction over the receivers (`tf.math.unsorted_segment_sum` / `_max`,
or a segment softmax), so node outputs permute with the nodes and isolated nodes receive nothing.

This module holds the pieces the graph layers share (`validate_graph_batch` and its layer form
`ValidateGraphBatch`, `unpack_graph`, `aggregate`, `segment_softmax`, the `GraphLayer` base class)
and the general message-passing layer of Gilmer et al. (2017). Neural Message Passing for Quantum Chemistry. ICML. arXiv:1703.01212:

    m_v = AGG_{w -> v} M(h_w, h_v, e_wv)        (message from sender, receiver and edge; sum/mean/max)
    h_v' = U(h_v, m_v)                          (update: a GRU as in the paper, or a dense layer)
"""

from __future__ import annotations

from collections.abc import Mapping

import keras
import tensorflow as tf
from keras import layers

from layers._graph import dense_arguments_config, edge_endpoints, set_dense_arguments
from layers._sparse_sum import gather_rows, segment_sum

NODE_FEATURES = "node_features"
EDGE_INDEX = "edge_index"
EDGE_FEATURES = "edge_features"
NODE_GRAPH_IDS = "node_graph_ids"
GRAPH_KEYS = (NODE_FEATURES, EDGE_INDEX, EDGE_FEATURES, NODE_GRAPH_IDS)
REDUCTIONS = ("sum", "mean", "max")


# --------------------------------------------------------------------------------------------------
# Checking a graph batch
# --------------------------------------------------------------------------------------------------


def _static_rank(x):
    return x.shape.rank


def _check_rank(x, rank: int, what: str, expected: str, checks: list):
    """A static rank error now, or a run-time assert when the rank is unknown."""
    static = _static_rank(x)
    if static is None:
        checks.append(tf.debugging.assert_rank(x, rank, message=f"{what} must have rank {rank} {expected}"))
    elif static != rank:
        raise ValueError(f"{what} must have rank {rank} {expected}; got rank {static} with shape {x.shape}")


def _check_integer(x, what: str):
    if not x.dtype.is_integer:
        raise ValueError(f"{what} must be an integer tensor (int32 or int64), got dtype {x.dtype.name}")


def _check_float(x, what: str):
    if not x.dtype.is_floating:
        raise ValueError(f"{what} must be a floating-point tensor, got dtype {x.dtype.name}")


def _check_same_length(a, b, what_a: str, what_b: str, axis_a: int, axis_b: int, checks: list):
    """len(a along axis_a) == len(b along axis_b): statically when both are known, else at run time."""
    size_a, size_b = a.shape[axis_a], b.shape[axis_b]
    if size_a is not None and size_b is not None:
        if size_a != size_b:
            raise ValueError(f"{what_a} has {size_a} but {what_b} has {size_b}; they must be equal")
        return
    checks.append(
        tf.debugging.assert_equal(
            tf.shape(a, out_type=tf.int64)[axis_a],
            tf.shape(b, out_type=tf.int64)[axis_b],
            message=f"{what_a} must equal {what_b}",
        )
    )


def validate_graph_batch(
    graph,
    *,
    require_edge_features: bool = False,
    require_node_graph_ids: bool = False,
    where: str = "graph batch",
) -> dict:
    """Check a graph batch and return it as a dict of tensors, with the checks attached.

    Problems that the static shapes and dtypes already show (a missing key, a wrong rank, `edge_index`
    not of shape [2, E], a float `edge_index`, lengths that differ) raise a `ValueError` at once.
    Problems in the values or in dynamic sizes (negative node ids, ids >= the number of nodes,
    `edge_features` rows != edges, `node_graph_ids` length != nodes) are `tf.debugging` asserts:
    in eager mode they raise `tf.errors.InvalidArgumentError` at once, inside `tf.function` (and so
    inside `Model.fit` / `predict` / a SavedModel) when the graph runs. Every message names the
    tensor and the problem.

    Args:
        graph: a mapping with `node_features` [N, F], `edge_index` [2, E] and optionally
            `edge_features` [E, D], `node_graph_ids` [N]. Values may be tensors or arrays.
        require_edge_features: raise when `edge_features` is missing.
        require_node_graph_ids: raise when `node_graph_ids` is missing.
        where: who is checking, for the messages (e.g. the layer's name).

    Returns:
        a dict with the same keys; its tensors depend on the checks (so inside `tf.function` the
        checks run before anything that uses them).

    Example:

    >>> batch = {"node_features": np.ones((3, 2), "float32"), "edge_index": np.array([[0, 1], [1, 3]])}
    >>> validate_graph_batch(batch)
    InvalidArgumentError: graph batch: edge_index holds node ids >= the number of nodes (rows of
    node_features) ...
    """
    if not isinstance(graph, Mapping):
        raise ValueError(
            f"{where}: expected a dict with keys {NODE_FEATURES!r} and {EDGE_INDEX!r} (optionally "
            f"{EDGE_FEATURES!r}, {NODE_GRAPH_IDS!r}), got {type(graph).__name__}"
        )
    required = [NODE_FEATURES, EDGE_INDEX]
    if require_edge_features:
        required.append(EDGE_FEATURES)
    if require_node_graph_ids:
        required.append(NODE_GRAPH_IDS)
    missing = [k for k in required if graph.get(k) is None]
    if missing:
        raise ValueError(
            f"{where}: missing {', '.join(map(repr, missing))}; a graph batch has keys {', '.join(GRAPH_KEYS)} "
            f"and this needs {', '.join(required)}; got keys {sorted(graph)}"
        )
    out = {k: tf.convert_to_tensor(v) for k, v in graph.items() if v is not None}
    x, edge_index = out[NODE_FEATURES], out[EDGE_INDEX]
    checks: list = []

    _check_float(x, f"{where}: node_features")
    _check_rank(x, 2, f"{where}: node_features", "[num_nodes, feature_size]", checks)

    _check_integer(edge_index, f"{where}: edge_index")
    _check_rank(edge_index, 2, f"{where}: edge_index", "[2, num_edges] (senders, receivers)", checks)
    rows = edge_index.shape[0] if edge_index.shape.rank else None
    if rows is not None and rows != 2:
        hint = " (it looks like [num_edges, 2]: transpose it)" if edge_index.shape[1] == 2 else ""
        raise ValueError(
            f"{where}: edge_index must have shape [2, num_edges] (row 0 senders, row 1 receivers); "
            f"got shape {edge_index.shape}{hint}"
        )
    if rows is None:
        checks.append(
            tf.debugging.assert_equal(
                tf.shape(edge_index)[0], 2, message=f"{where}: edge_index must have shape [2, num_edges]"
            )
        )
    num_nodes = tf.shape(x, out_type=edge_index.dtype)[0]
    checks.append(
        tf.debugging.assert_non_negative(
            edge_index, message=f"{where}: edge_index holds negative node ids; node ids must be in [0, num_nodes)"
        )
    )
    checks.append(
        tf.debugging.assert_less(
            edge_index,
            num_nodes,
            message=(
                f"{where}: edge_index holds node ids >= the number of nodes (rows of node_features); "
                "node ids must be in [0, num_nodes), with each graph's offset added when graphs are batched"
            ),
        )
    )

    if EDGE_FEATURES in out:
        edge_features = out[EDGE_FEATURES]
        _check_float(edge_features, f"{where}: edge_features")
        _check_rank(edge_features, 2, f"{where}: edge_features", "[num_edges, edge_feature_size]", checks)
        _check_same_length(
            edge_features,
            edge_index,
            f"{where}: the number of rows of edge_features",
            "the number of edges (columns of edge_index)",
            0,
            1,
            checks,
        )

    if NODE_GRAPH_IDS in out:
        ids = out[NODE_GRAPH_IDS]
        _check_integer(ids, f"{where}: node_graph_ids")
        _check_rank(ids, 1, f"{where}: node_graph_ids", "[num_nodes]", checks)
        _check_same_length(
            ids, x, f"{where}: the length of node_graph_ids", "the number of nodes (rows of node_features)", 0, 0, checks
        )
        checks.append(
            tf.debugging.assert_non_negative(ids, message=f"{where}: node_graph_ids holds negative graph ids")
        )

    checks = [c for c in checks if c is not None]  # eager asserts return None once they passed
    if checks:
        with tf.control_dependencies(checks):
            out = {k: tf.identity(v) for k, v in out.items()}
    return out


def unpack_graph(inputs, *, where: str = "graph layer", validate: bool = True, require_edge_features=False):
    """(node_features, edge_index, edge_features or None, node_graph_ids or None) of a layer's input.

    `inputs` is a graph batch dict, or a list / tuple `[node_features, edge_index]` or
    `[node_features, edge_index, edge_features]`.
    """
    if isinstance(inputs, Mapping):
        graph = dict(inputs)
    elif isinstance(inputs, (list, tuple)) and len(inputs) in (2, 3):
        graph = dict(zip((NODE_FEATURES, EDGE_INDEX, EDGE_FEATURES), inputs))
    else:
        raise ValueError(
            f"{where}: expected a graph batch dict ({NODE_FEATURES}, {EDGE_INDEX}, ...) or a list "
            f"[node_features, edge_index(, edge_features)], got {type(inputs).__name__}"
        )
    if validate:
        graph = validate_graph_batch(graph, require_edge_features=require_edge_features, where=where)
    elif require_edge_features and graph.get(EDGE_FEATURES) is None:
        raise ValueError(f"{where}: this layer needs {EDGE_FEATURES!r} in its input")
    return (graph[NODE_FEATURES], graph[EDGE_INDEX], graph.get(EDGE_FEATURES), graph.get(NODE_GRAPH_IDS))


def input_node_shape(input_shape):
    """The [N, F] shape of the node features in a layer's `build(input_shape)` argument."""
    if isinstance(input_shape, Mapping):
        if NODE_FEATURES not in input_shape:
            raise ValueError(f"the graph input has no {NODE_FEATURES!r}; got keys {sorted(input_shape)}")
        return tuple(input_shape[NODE_FEATURES])
    if isinstance(input_shape, (list, tuple)) and input_shape and isinstance(input_shape[0], (list, tuple)):
        return tuple(input_shape[0])
    return tuple(input_shape)


def input_edge_feature_size(input_shape):
    """D of the [E, D] edge features in `build(input_shape)`, or None when the input has none."""
    if isinstance(input_shape, Mapping):
        shape = input_shape.get(EDGE_FEATURES)
    elif isinstance(input_shape, (list, tuple)) and len(input_shape) == 3 and isinstance(input_shape[0], (list, tuple)):
        shape = input_shape[2]
    else:
        shape = None
    return None if shape is None else shape[-1]


# --------------------------------------------------------------------------------------------------
# Gather and segment reductions
# --------------------------------------------------------------------------------------------------


def aggregate(messages, segment_ids, num_segments, reduction: str = "sum"):
    """Reduce the rows of `messages` [E, ...] into `num_segments` rows by `segment_ids` [E].

    "sum", "mean" or "max"; a segment that receives nothing (an isolated node, an empty graph) is 0.
    """
    if reduction == "sum":
        return segment_sum(messages, segment_ids, num_segments)
    if reduction == "mean":
        total = segment_sum(messages, segment_ids, num_segments)
        count = tf.math.unsorted_segment_sum(tf.ones_like(segment_ids, dtype=messages.dtype), segment_ids, num_segments)
        count = tf.reshape(count, [-1] + [1] * (messages.shape.rank - 1))
        return tf.math.divide_no_nan(total, count)
    if reduction == "max":
        result = tf.math.unsorted_segment_max(messages, segment_ids, num_segments)
        count = tf.math.unsorted_segment_sum(tf.ones_like(segment_ids, dtype=messages.dtype), segment_ids, num_segments)
        count = tf.reshape(count, [-1] + [1] * (messages.shape.rank - 1))
        return tf.where(count > 0, result, tf.zeros_like(result))
    raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def count_graphs(node_graph_ids):
    """The number of graphs G of a batch from its `node_graph_ids` [N]: max + 1, and 0 without nodes
    (a scalar tensor of the ids' dtype)."""
    return tf.reduce_max(tf.concat([node_graph_ids, tf.constant([-1], node_graph_ids.dtype)], axis=0)) + 1


def segment_softmax(logits, segment_ids, num_segments):
    """Softmax of `logits` [E, ...] within each segment of `segment_ids` [E] (e.g. over each node's
    incoming edges, or over each graph's nodes). Numerically stable (the segment max is subtracted)."""
    seg_max = tf.math.unsorted_segment_max(logits, segment_ids, num_segments)
    shifted = logits - tf.stop_gradient(tf.gather(seg_max, segment_ids))
    exp = tf.exp(shifted)
    total = tf.math.unsorted_segment_sum(exp, segment_ids, num_segments)
    return exp / tf.gather(total, segment_ids)


def _positive_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be an integer >= 1, got {value!r}")
    return int(value)


def _choice(value, options, what: str):
    if value not in options:
        raise ValueError(f"{what} must be one of {options}, got {value!r}")
    return value


@keras.saving.register_keras_serializable(package="zoo")
class ValidateGraphBatch(keras.layers.Layer):
    """Check a graph batch and pass it on: `validate_graph_batch` as a layer.

    Put it first in a model and feed its output to every graph layer (built with
    `validate=False`): inside `tf.function` all later ops then depend on the checks, so a bad
    batch fails with the check's message instead of an anonymous gather error.

    Args:
        require_edge_features: the batch must have `edge_features`.
        require_node_graph_ids: the batch must have `node_graph_ids`.
        **kwargs: base `keras.layers.Layer` arguments.

    Input shape:
        a graph batch dict (`node_features` (N, F), `edge_index` (2, E), optional
        `edge_features` (E, D), `node_graph_ids` (N,)).

    Output shape:
        the same dict, same shapes and dtypes.

    Example:

    >>> inputs = {"node_features": keras.Input((7,)), "edge_index": keras.Input(batch_shape=(2, None), dtype="int32")}
    >>> checked = ValidateGraphBatch(name="validate_graph_batch")(inputs)
    >>> h = GCNConv(16, validate=False, name="gcn1")(checked)
    """

    def __init__(self, require_edge_features=False, require_node_graph_ids=False, **kwargs):
        super().__init__(**kwargs)
        self.require_edge_features = bool(require_edge_features)
        self.require_node_graph_ids = bool(require_node_graph_ids)

    def call(self, inputs):
        return validate_graph_batch(
            inputs,
            require_edge_features=self.require_edge_features,
            require_node_graph_ids=self.require_node_graph_ids,
            where=f"graph batch ({self.name})",
        )

    def compute_output_shape(self, input_shape):
        return dict(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            require_edge_features=self.require_edge_features, require_node_graph_ids=self.require_node_graph_ids
        )
        return config


class GraphLayer(keras.layers.Layer):
    """Base of the graph layers: unpacks and (optionally) checks the graph batch input.

    Args:
        validate: check the input with `validate_graph_batch` on every call (default True; the
            checks cost one pass over `edge_index`).
        **kwargs: base `keras.layers.Layer` arguments.
    """

    def __init__(self, validate=True, **kwargs):
        super().__init__(**kwargs)
        self.validate = bool(validate)

    def _graph(self, inputs, require_edge_features=False):
        return unpack_graph(
            inputs,
            where=f"{type(self).__name__} {self.name!r}",
            validate=self.validate,
            require_edge_features=require_edge_features,
        )

    def get_config(self):
        config = super().get_config()
        config["validate"] = self.validate
        return config


# --------------------------------------------------------------------------------------------------
# MPNN
# --------------------------------------------------------------------------------------------------


def _gru_step(cell, inputs, state):
    """`cell(inputs, [state])[0]` of a Keras `GRUCell` (reset_after, no dropout), with its own weights.

    Keras 3's cell cuts the [N, 3 units] recurrent product with three strided slices, whose
    gradients each write a zero [N, 3 units] tensor (a third of MPNN's step on PROTEINS); one
    `tf.split` per product has a single concatenation as gradient:

        z = sigmoid(x W_z + b_z + h U_z + c_z),  r = sigmoid(x W_r + b_r + h U_r + c_r)
        h~ = tanh(x W_h + b_h + r * (h U_h + c_h)),  h' = z * h + (1 - z) * h~
    """
    plain = cell.reset_after and cell.use_bias and not cell.dropout and not cell.recurrent_dropout
    if not plain:
        return cell(inputs, [state])[0]
    input_bias, recurrent_bias = tf.unstack(tf.cast(cell.bias, inputs.dtype))
    x_z, x_r, x_h = tf.split(tf.matmul(inputs, tf.cast(cell.kernel, inputs.dtype)) + input_bias, 3, axis=-1)
    h_z, h_r, h_h = tf.split(tf.matmul(state, tf.cast(cell.recurrent_kernel, inputs.dtype)) + recurrent_bias, 3, axis=-1)
    z = cell.recurrent_activation(x_z + h_z)
    r = cell.recurrent_activation(x_r + h_r)
    candidate = cell.activation(x_h + r * h_h)
    return z * state + (1.0 - z) * candidate


@keras.saving.register_keras_serializable(package="zoo")
class MessagePassing(GraphLayer):
    """One step of neural message passing with edge features (Gilmer et al. 2017, eq. 1-2).

    For every directed edge w -> v a message is computed from the sender's state, the receiver's
    state and the edge's features ("pair message" network of section 5.1), the messages arriving at
    each node are aggregated, and the node's state is updated:

        m_wv = act(W_m [h_w || h_v || e_wv] + b_m)           (message; `{name}_message`)
        m_v  = sum / mean / max of m_wv over the edges into v  (aggregate; 0 for isolated nodes)
        h_v' = GRU(m_v, h_v)      (update="gru", the paper's; `{name}_update`, needs F == units)
        h_v' = act(W_u [h_v || m_v] + b_u)   (update="dense")

    Subclasses may override `message`, `aggregate` and `update`.

    Args:
        units: size of the updated node states, an int >= 1. With update="gru" the input node
            feature size must equal `units` (project the inputs first, as the paper does).
        message_units: size of the messages (default: `units`).
        aggregation: "sum" (default, the paper's), "mean" or "max".
        update: "gru" (default) or "dense".
        message_activation: activation of the message network. Default "relu".
        activation: activation of the dense update (ignored by "gru"). Default "relu".
        use_edge_features: None (default: use `edge_features` when the input has them), True
            (require them) or False (ignore them).
        kernel_initializer, bias_initializer, kernel_regularizer: of the message and update layers.
        validate: check the graph batch on every call (see `validate_graph_batch`).
        **kwargs: base `keras.layers.Layer` arguments.

    Sub-layers: `{name}_message` (Dense), `{name}_update` (GRUCell or Dense).

    Input shape:
        a graph batch dict with `node_features` (N, F), `edge_index` (2, E) and optionally
        `edge_features` (E, D); or a list `[node_features, edge_index(, edge_features)]`.

    Output shape:
        `(N, units)`: the updated node states.

    Example:

    >>> graph = {"node_features": keras.Input((32,)), "edge_index": keras.Input(batch_shape=(2, None), dtype="int32"),
    ...          "edge_features": keras.Input((4,))}
    >>> MessagePassing(32, name="mp1")(graph).shape
    (None, 32)
    """

    def __init__(
        self,
        units,
        message_units=None,
        aggregation="sum",
        update="gru",
        message_activation="relu",
        activation="relu",
        use_edge_features=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        validate=True,
        **kwargs,
    ):
        super().__init__(validate=validate, **kwargs)
        self.units = _positive_int(units, "units")
        self.message_units = self.units if message_units is None else _positive_int(message_units, "message_units")
        self.aggregation = _choice(aggregation, REDUCTIONS, "aggregation")
        self.update_mode = _choice(update, ("gru", "dense"), "update")
        self.message_activation = keras.activations.get(message_activation)
        self.activation = keras.activations.get(activation)
        if use_edge_features not in (None, True, False):
            raise ValueError(f"use_edge_features must be None, True or False, got {use_edge_features!r}")
        self.use_edge_features = use_edge_features
        set_dense_arguments(self, kernel_initializer, bias_initializer, kernel_regularizer)
        common = dict(
            kernel_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer,
            kernel_regularizer=self.kernel_regularizer,
        )
        self.message_dense = layers.Dense(
            self.message_units, activation=self.message_activation, name=f"{self.name}_message", **common
        )
        if self.update_mode == "gru":
            self.update_layer = layers.GRUCell(
                self.units,
                kernel_initializer=self.kernel_initializer,
                bias_initializer=self.bias_initializer,
                kernel_regularizer=self.kernel_regularizer,
                name=f"{self.name}_update",
            )
        else:
            self.update_layer = layers.Dense(self.units, activation=self.activation, name=f"{self.name}_update", **common)

    def _uses_edge_features(self, edge_feature_size) -> bool:
        if self.use_edge_features is False:
            return False
        if self.use_edge_features and edge_feature_size is None:
            raise ValueError(f"MessagePassing {self.name!r}: use_edge_features=True but the input has no edge_features")
        return edge_feature_size is not None

    def build(self, input_shape):
        node_shape = input_node_shape(input_shape)
        feature_size = node_shape[-1]
        if feature_size is None:
            raise ValueError(f"MessagePassing {self.name!r}: the node feature size must be known, got {node_shape}")
        edge_size = input_edge_feature_size(input_shape)
        edge_size = edge_size if self._uses_edge_features(edge_size) else 0
        if self.update_mode == "gru" and feature_size != self.units:
            raise ValueError(
                f"MessagePassing {self.name!r}: update='gru' keeps the state size, so the node feature size "
                f"({feature_size}) must equal units ({self.units}); project the features first or use update='dense'"
            )
        self.message_dense.build((None, 2 * feature_size + edge_size))
        if self.update_mode == "gru":
            self.update_layer.build((None, self.message_units))
        else:
            self.update_layer.build((None, feature_size + self.message_units))
        self.built = True

    def message(self, sender_features, receiver_features, edge_features, training=None):
        """The message of each edge [E, message_units] (override to change the message function)."""
        parts = [sender_features, receiver_features]
        if edge_features is not None:
            parts.append(edge_features)
        return self.message_dense(tf.concat(parts, axis=-1))

    def aggregate(self, messages, receivers, num_nodes):
        """The messages arriving at each node, reduced to [N, message_units]."""
        return aggregate(messages, receivers, num_nodes, self.aggregation)

    def update(self, node_features, aggregated, training=None):
        """The new node states [N, units] from the old states and the aggregated messages."""
        if self.update_mode == "gru":
            return _gru_step(self.update_layer, aggregated, node_features)
        return self.update_layer(tf.concat([node_features, aggregated], axis=-1))

    def _pair_messages(self, x, senders, receivers, edge_features):
        """`message` of the base class, computed as W_s h_w + W_r h_v + W_e e_wv + b: the sender and
        receiver parts multiply the N node states, not the E gathered copies (E / N times fewer
        FLOPs, no [E, 2F + D] concatenation); the same kernel, the same result."""
        dense = self.message_dense
        size = x.shape[-1]
        kernel = tf.cast(dense.kernel, x.dtype)
        pre = gather_rows(tf.matmul(x, kernel[:size]), senders) + gather_rows(tf.matmul(x, kernel[size:2 * size]), receivers)
        if edge_features is not None:
            pre = pre + tf.matmul(edge_features, kernel[2 * size:])
        if dense.use_bias:
            pre = pre + tf.cast(dense.bias, x.dtype)
        return dense.activation(pre)

    def call(self, inputs, training=None):
        x, edge_index, edge_features, _ = self._graph(inputs, require_edge_features=bool(self.use_edge_features))
        if not self._uses_edge_features(None if edge_features is None else edge_features.shape[-1]):
            edge_features = None
        senders, receivers, num_nodes = edge_endpoints(x, edge_index)
        if type(self).message is MessagePassing.message:
            messages = self._pair_messages(x, senders, receivers, edge_features)
        else:
            messages = self.message(tf.gather(x, senders), tf.gather(x, receivers), edge_features, training=training)
        aggregated = self.aggregate(messages, receivers, num_nodes)
        return self.update(x, aggregated, training=training)

    def compute_output_shape(self, input_shape):
        return (input_node_shape(input_shape)[0], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            message_units=self.message_units,
            aggregation=self.aggregation,
            update=self.update_mode,
            message_activation=keras.activations.serialize(self.message_activation),
            activation=keras.activations.serialize(self.activation),
            use_edge_features=self.use_edge_features,
            **dense_arguments_config(self),
        )
        return config
