"""Graph convolutions over the plain-tensor graph batch (see `layers.message_passing`).

| layer       | paper                                                                      | update of node v                                     |
| ----------- | -------------------------------------------------------------------------- | ---------------------------------------------------- |
| `GCNConv`   | Kipf & Welling (2017). Semi-Supervised Classification with Graph            | "sym": D^-1/2 (A + I) D^-1/2 H W (eq. 2);            |
|             | Convolutional Networks. ICLR. arXiv:1609.02907                               | "mean": D^-1 A H W                                   |
| `SAGEConv`  | Hamilton, Ying, Leskovec (2017). Inductive Representation Learning on Large | W_self h_v + W_neigh AGG(h_u), AGG mean or max-pool   |
|             | Graphs. NeurIPS. arXiv:1706.02216 (Algorithm 1, section 3.3)                |                                                      |
| `GATv2Conv` | Brody, Alon, Yahav (2022). How Attentive are Graph Attention Networks?      | sum_u softmax_u(a^T LeakyReLU(W_r h_v + W_l h_u)) W_l h_u |
|             | ICLR. arXiv:2105.14491 (eq. 7); GAT: Velickovic et al. (2018) ICLR          | per head, heads concatenated or averaged             |
| `GINConv`   | Xu, Hu, Leskovec, Jegelka (2019). How Powerful are Graph Neural Networks?   | MLP((1 + eps) h_v + sum_u h_u), eps learnable (eq. 4.1) |
|             | ICLR. arXiv:1810.00826                                                      |                                                      |
| `GINEConv`  | Hu, Liu, Gomes, Zitnik, Liang, Pande, Leskovec (2020). Strategies for       | MLP((1 + eps) h_v + sum_u ReLU(h_u + e_uv W + b)),   |
|             | Pre-training Graph Neural Networks. ICLR. arXiv:1905.12265 (GIN with edges) | W projects the edge features to F (PyG's GINEConv)   |

A[v, u] = 1 for each edge u -> v of `edge_index` (row 0 senders u, row 1 receivers v), so each node
gathers from its incoming edges and D is the in-degree. For undirected graphs (both directions in
`edge_index`) this is the usual symmetric adjacency.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from layers._graph import dense_arguments_config, edge_endpoints, project_input, set_dense_arguments
from layers._sparse_sum import gather_rows, segment_sum, sparse_sum
from layers.normalization import FusedBatchNormalization
from layers.message_passing import (
    GraphLayer,
    _choice,
    _positive_int,
    aggregate,
    input_edge_feature_size,
    input_node_shape,
    segment_softmax,
)


def _feature_size(layer, input_shape) -> int:
    node_shape = input_node_shape(input_shape)
    if len(node_shape) != 2 or node_shape[-1] is None:
        raise ValueError(
            f"{type(layer).__name__} {layer.name!r}: node_features must have shape [num_nodes, feature_size] with "
            f"a known feature size, got {node_shape}"
        )
    return int(node_shape[-1])


def _in_degree(receivers, num_nodes, dtype):
    return tf.math.unsorted_segment_sum(tf.ones_like(receivers, dtype=dtype), receivers, num_nodes)


def _set_input_dropout(layer, rate):
    """`layer.input_dropout` (a rate in [0, 1)) and, when it is not 0, the seed generator of its draws."""
    layer.input_dropout = float(rate)
    if not 0.0 <= layer.input_dropout < 1.0:
        raise ValueError(f"input_dropout must be a rate in [0, 1), got {rate!r}")
    layer.seed_generator = keras.random.SeedGenerator(name=f"{layer.name}_input_dropout") if rate else None


def _project(layer, x, kernel, training):
    """`dropout(x, layer.input_dropout) @ kernel` (see `layers._graph.project_input`)."""
    seed = tf.cast(layer.seed_generator.next(), tf.int64) if layer.seed_generator is not None and training else None
    return project_input(x, kernel, rate=layer.input_dropout, seed=seed, training=bool(training))


class _DenseGraphLayer(GraphLayer):
    """Shared arguments of the graph convolutions that own a kernel and a bias."""

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        validate=True,
        **kwargs,
    ):
        super().__init__(validate=validate, **kwargs)
        self.units = _positive_int(units, "units")
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        set_dense_arguments(self, kernel_initializer, bias_initializer, kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)

    def _kernel(self, shape, name="kernel"):
        return self.add_weight(
            shape=shape,
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            name=name,
        )

    def _bias(self, size):
        if not self.use_bias:
            return None
        return self.add_weight(
            shape=(size,), initializer=self.bias_initializer, regularizer=self.bias_regularizer, name="bias"
        )

    def _finish(self, h):
        if self.bias is not None:
            h = h + self.bias
        return self.activation(h)

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            activation=keras.activations.serialize(self.activation),
            use_bias=self.use_bias,
            **dense_arguments_config(self),
            bias_regularizer=keras.regularizers.serialize(self.bias_regularizer),
        )
        return config


@keras.saving.register_keras_serializable(package="zoo")
class GCNConv(_DenseGraphLayer):
    """Graph convolution of Kipf & Welling (2017): normalized neighbourhood sum, then a linear map.

        "sym"  (default): H' = act(D^-1/2 (A + I) D^-1/2 H W + b)    (eq. 2; D the degree of A + I)
        "mean":           H' = act(D^-1 A H W + b)                   (the average over the neighbours)

    A[v, u] = 1 for each edge u -> v, D = diag(row sums), so degrees are in-degrees. `self_loops`
    adds one I (do not put self-loops in `edge_index` as well). A node with no incoming edge gets
    0 from its neighbourhood ("mean" without self-loops: only the bias).

    Args:
        units: output size, an int >= 1.
        normalization: "sym" or "mean".
        self_loops: add the identity to A; default None = True for "sym" (Kipf's renormalization
            trick), False for "mean".
        activation: applied last. Default None (linear).
        use_bias: add a bias after the propagation. Default True.
        input_dropout: dropout rate on H while training, before the product (Kipf & Welling drop
            the input features, sparsely). Default 0. Sparse features (under 5 % nonzero) are
            dropped and multiplied through their nonzero entries only (`layers._graph.project_input`).
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer: of W and b.
        validate: check the graph batch on every call (see `validate_graph_batch`).
        **kwargs: base `keras.layers.Layer` arguments.

    Weights: `kernel` (F, units), `bias` (units,).

    Input shape:
        a graph batch dict with `node_features` (N, F) and `edge_index` (2, E), or a list
        `[node_features, edge_index]`.

    Output shape:
        `(N, units)`.

    Example:

    >>> graph = {"node_features": keras.Input((1433,)), "edge_index": keras.Input(batch_shape=(2, None), dtype="int32")}
    >>> GCNConv(16, activation="relu", name="gcn1")(graph).shape
    (None, 16)
    """

    def __init__(self, units, normalization="sym", self_loops=None, activation=None, use_bias=True, input_dropout=0.0,
                 **kwargs):
        super().__init__(units, activation=activation, use_bias=use_bias, **kwargs)
        self.normalization = _choice(normalization, ("sym", "mean"), "normalization")
        _set_input_dropout(self, input_dropout)
        if self_loops not in (None, True, False):
            raise ValueError(f"self_loops must be None, True or False, got {self_loops!r}")
        self.self_loops = self_loops

    @property
    def adds_self_loops(self) -> bool:
        return self.normalization == "sym" if self.self_loops is None else self.self_loops

    def build(self, input_shape):
        size = _feature_size(self, input_shape)
        self.kernel = self._kernel((size, self.units))
        self.bias = self._bias(self.units)
        self.built = True

    def call(self, inputs, training=None):
        x, edge_index, _, _ = self._graph(inputs)
        senders, receivers, num_nodes = edge_endpoints(x, edge_index)
        h = _project(self, x, self.kernel, training)
        degree = _in_degree(receivers, num_nodes, h.dtype)
        if self.adds_self_loops:
            degree = degree + 1
        if self.normalization == "sym":
            inv_sqrt = tf.where(degree > 0, tf.math.rsqrt(tf.maximum(degree, 1e-12)), tf.zeros_like(degree))
            weight = tf.gather(inv_sqrt, senders) * tf.gather(inv_sqrt, receivers)
            out = sparse_sum(h, receivers, senders, num_nodes, weight)
            if self.adds_self_loops:
                out = out + h * tf.square(inv_sqrt)[:, None]
        else:
            out = sparse_sum(h, receivers, senders, num_nodes)
            if self.adds_self_loops:
                out = out + h
            out = tf.math.divide_no_nan(out, degree[:, None])
        return self._finish(out)

    def compute_output_shape(self, input_shape):
        return (input_node_shape(input_shape)[0], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(normalization=self.normalization, self_loops=self.self_loops, input_dropout=self.input_dropout)
        return config


@keras.saving.register_keras_serializable(package="zoo")
class SAGEConv(_DenseGraphLayer):
    """GraphSAGE convolution (Hamilton et al. 2017, Algorithm 1 with the aggregators of section 3.3).

        "mean": h_v' = act(W_self h_v + W_neigh mean_{u -> v} h_u + b)
        "max":  h_v' = act(W_self h_v + W_neigh max_{u -> v} relu(W_pool h_u + b_pool) + b)  (max-pooling)

    W_self h_v + W_neigh a_v is the paper's W [h_v || a_v] with W split in two. A node with no
    incoming edge aggregates 0. With `normalize=True` the output rows are scaled to unit L2 norm
    (Algorithm 1, line 7).

    Args:
        units: output size, an int >= 1.
        aggregator: "mean" (default) or "max".
        pool_units: size of the max-pooling network (default: the input feature size).
        normalize: L2-normalize the output rows. Default False.
        activation: applied before the normalization. Default None (linear).
        use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer: as Dense.
        validate: check the graph batch on every call (see `validate_graph_batch`).
        **kwargs: base `keras.layers.Layer` arguments.

    Sub-layers: `{name}_self` (Dense, no bias), `{name}_neigh` (Dense), `{name}_pool` (Dense, "max" only).

    Input shape:
        a graph batch dict with `node_features` (N, F) and `edge_index` (2, E), or a list
        `[node_features, edge_index]`.

    Output shape:
        `(N, units)`.

    Example:

    >>> graph = {"node_features": keras.Input((50,)), "edge_index": keras.Input(batch_shape=(2, None), dtype="int32")}
    >>> SAGEConv(64, aggregator="max", activation="relu", name="sage1")(graph).shape
    (None, 64)
    """

    def __init__(self, units, aggregator="mean", pool_units=None, normalize=False, activation=None, use_bias=True,
                 **kwargs):
        super().__init__(units, activation=activation, use_bias=use_bias, **kwargs)
        self.aggregator = _choice(aggregator, ("mean", "max"), "aggregator")
        self.pool_units = None if pool_units is None else _positive_int(pool_units, "pool_units")
        self.normalize = bool(normalize)
        dense = dict(
            kernel_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer,
            kernel_regularizer=self.kernel_regularizer,
            bias_regularizer=self.bias_regularizer,
        )
        self.self_dense = layers.Dense(self.units, use_bias=False, name=f"{self.name}_self", **dense)
        self.neigh_dense = layers.Dense(self.units, use_bias=self.use_bias, name=f"{self.name}_neigh", **dense)
        self.pool_dense = None
        if self.aggregator == "max":
            self.pool_dense = layers.Dense(self.pool_units or 1, activation="relu", name=f"{self.name}_pool", **dense)
        self.bias = None  # the bias lives in {name}_neigh

    def build(self, input_shape):
        size = _feature_size(self, input_shape)
        self.self_dense.build((None, size))
        neigh_size = size
        if self.pool_dense is not None:
            self.pool_dense.units = self.pool_units or size
            self.pool_dense.build((None, size))
            neigh_size = self.pool_dense.units
        self.neigh_dense.build((None, neigh_size))
        self.built = True

    def call(self, inputs):
        x, edge_index, _, _ = self._graph(inputs)
        senders, receivers, num_nodes = edge_endpoints(x, edge_index)
        if self.aggregator == "mean":
            degree = _in_degree(receivers, num_nodes, x.dtype)
            neigh = tf.math.divide_no_nan(sparse_sum(x, receivers, senders, num_nodes), degree[:, None])
        else:
            neigh = aggregate(tf.gather(self.pool_dense(x), senders), receivers, num_nodes, "max")
        out = self.activation(self.self_dense(x) + self.neigh_dense(neigh))
        if self.normalize:
            out = tf.math.l2_normalize(out, axis=-1)
        return out

    def compute_output_shape(self, input_shape):
        return (input_node_shape(input_shape)[0], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(aggregator=self.aggregator, pool_units=self.pool_units, normalize=self.normalize)
        return config


@keras.saving.register_keras_serializable(package="zoo")
class GATv2Conv(_DenseGraphLayer):
    """Graph attention, the GATv2 form of Brody et al. (2022, eq. 7), multi-head as in GAT (Velickovic 2018).

    For each head k and each edge u -> v (plus v -> v with `self_loops`):

        e_vu = a_k^T LeakyReLU(W_r^k h_v + W_l^k h_u)
        alpha_vu = softmax over the edges into v of e_vu          (then attention dropout)
        h_v'^k = sum_u alpha_vu W_l^k h_u

    and h_v' = act(concat_k h_v'^k + b) (concat=True) or act(mean_k h_v'^k + b) (concat=False, as GAT's
    output layer). The attention applies the nonlinearity before a_k ("dynamic" attention), which
    is the difference from GAT's a^T [W h_v || W h_u].

    Args:
        units: output size per head, an int >= 1.
        heads: number of attention heads. Default 1.
        concat: concatenate the heads (output heads * units) or average them (output units).
        attention_dropout: dropout rate on the attention coefficients while training. Default 0.
        input_dropout: dropout rate on the node features while training, before the kernels (GAT's
            dropout on each layer's input). Default 0. Sparse features (under 5 % nonzero) are
            dropped and multiplied through their nonzero entries only (`layers._graph.project_input`).
        negative_slope: of the LeakyReLU. Default 0.2.
        self_loops: attend to the node itself too (GAT's N(v) includes v). Default True.
        share_weights: W_l = W_r (one kernel). Default False.
        activation: applied last. Default None (linear).
        use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer: of the
            kernels, the attention vectors and the bias.
        validate: check the graph batch on every call (see `validate_graph_batch`).
        **kwargs: base `keras.layers.Layer` arguments.

    Weights: `kernel_left` (F, heads * units) (and `kernel_right` unless shared), `attention`
    (heads, units), `bias`. Sub-layer: `{name}_attention_dropout`.

    Input shape:
        a graph batch dict with `node_features` (N, F) and `edge_index` (2, E), or a list
        `[node_features, edge_index]`.

    Output shape:
        `(N, heads * units)` with concat=True, else `(N, units)`.

    Example:

    >>> graph = {"node_features": keras.Input((1433,)), "edge_index": keras.Input(batch_shape=(2, None), dtype="int32")}
    >>> GATv2Conv(8, heads=8, attention_dropout=0.6, activation="elu", name="gat1")(graph).shape
    (None, 64)
    """

    def __init__(
        self,
        units,
        heads=1,
        concat=True,
        attention_dropout=0.0,
        negative_slope=0.2,
        self_loops=True,
        share_weights=False,
        activation=None,
        use_bias=True,
        input_dropout=0.0,
        **kwargs,
    ):
        super().__init__(units, activation=activation, use_bias=use_bias, **kwargs)
        self.heads = _positive_int(heads, "heads")
        _set_input_dropout(self, input_dropout)
        self.concat = bool(concat)
        self.attention_dropout = float(attention_dropout)
        if not 0.0 <= self.attention_dropout < 1.0:
            raise ValueError(f"attention_dropout must be a rate in [0, 1), got {attention_dropout!r}")
        self.negative_slope = float(negative_slope)
        self.self_loops = bool(self_loops)
        self.share_weights = bool(share_weights)
        self.dropout_layer = layers.Dropout(self.attention_dropout, name=f"{self.name}_attention_dropout")

    @property
    def output_size(self) -> int:
        return self.heads * self.units if self.concat else self.units

    def build(self, input_shape):
        size = _feature_size(self, input_shape)
        self.kernel_left = self._kernel((size, self.heads * self.units), name="kernel_left")
        self.kernel_right = None if self.share_weights else self._kernel((size, self.heads * self.units), "kernel_right")
        self.attention = self._kernel((self.heads, self.units), name="attention")
        self.bias = self._bias(self.output_size)
        self.built = True

    def call(self, inputs, training=None):
        x, edge_index, _, _ = self._graph(inputs)
        senders, receivers, num_nodes = edge_endpoints(x, edge_index)
        if self.self_loops:
            loop = tf.range(num_nodes, dtype=receivers.dtype)
            senders = tf.concat([senders, loop], axis=0)
            receivers = tf.concat([receivers, loop], axis=0)
        if self.share_weights:
            left = right = tf.reshape(_project(self, x, self.kernel_left, training), [-1, self.heads, self.units])
        else:  # one product (and one dropout mask) for both kernels
            both = _project(self, x, tf.concat([self.kernel_left, self.kernel_right], axis=1), training)
            left, right = (tf.reshape(half, [-1, self.heads, self.units]) for half in tf.split(both, 2, axis=1))
        left_edges = tf.gather(left, senders)  # [E, heads, units]
        scores = tf.nn.leaky_relu(left_edges + tf.gather(right, receivers), alpha=self.negative_slope)
        logits = tf.reduce_sum(scores * self.attention, axis=-1)  # [E, heads]
        alpha = segment_softmax(logits, receivers, num_nodes)
        alpha = self.dropout_layer(alpha, training=training)
        out = tf.math.unsorted_segment_sum(left_edges * alpha[..., None], receivers, num_nodes)  # [N, heads, units]
        if self.concat:
            out = tf.reshape(out, [-1, self.heads * self.units])
        else:
            out = tf.reduce_mean(out, axis=1)
        return self._finish(out)

    def compute_output_shape(self, input_shape):
        return (input_node_shape(input_shape)[0], self.output_size)

    def get_config(self):
        config = super().get_config()
        config.update(
            heads=self.heads,
            concat=self.concat,
            attention_dropout=self.attention_dropout,
            negative_slope=self.negative_slope,
            self_loops=self.self_loops,
            share_weights=self.share_weights,
            input_dropout=self.input_dropout,
        )
        return config


@keras.saving.register_keras_serializable(package="zoo")
class GINConv(GraphLayer):
    """Graph Isomorphism Network convolution (Xu et al. 2019, eq. 4.1).

        h_v' = MLP((1 + eps) h_v + sum_{u -> v} h_u)

    with eps a learnable scalar (GIN-eps; `learn_epsilon=False` keeps it fixed: GIN-0 with
    epsilon=0) and the MLP of the paper's code: (Dense(hidden) -> BatchNorm -> act) x
    (mlp_layers - 1), then Dense(units). The last Dense has no activation: GIN models put
    BatchNorm and ReLU after each GINConv.

    A Dense followed by batch norm has no bias (as the convolutions before batch norm in
    keras.applications' DenseNet): the normalization subtracts the mean of its input, so in
    training the bias cancels and its gradient is exactly zero, and in inference the moving mean
    absorbs it. The function is the paper's; the step skips one bias gradient (a pass over the
    [N, hidden] states) per hidden Dense. `output_bias=False` does the same for the last Dense,
    for models that put batch norm after the layer (`zoo.models.gnn`'s GIN does).

    Args:
        units: output size, an int >= 1.
        hidden_units: width of the MLP's hidden layers (default: `units`).
        mlp_layers: number of Dense layers of the MLP, >= 1. Default 2.
        epsilon: the initial (or fixed) eps. Default 0.
        learn_epsilon: train eps. Default True.
        batch_norm: BatchNormalization after each hidden Dense (which then has no bias). Default True.
        output_bias: the last Dense has a bias. Default True.
        hidden_bias: the hidden Dense layers have a bias. Default None: only without batch norm
            (configs saved before this argument existed load with True, as their weights were).
        batch_norm_momentum: of its moving statistics. Default 0.9 (PyTorch's 0.1 in Keras' terms,
            as in the paper's code; Keras' 0.99 lags behind when training is short).
        activation: of the hidden layers. Default "relu".
        kernel_initializer, bias_initializer, kernel_regularizer: of the Dense layers.
        validate: check the graph batch on every call (see `validate_graph_batch`).
        **kwargs: base `keras.layers.Layer` arguments.

    Weights: `epsilon` (scalar). Sub-layers: `{name}_mlp{i}_dense` (i = 1..mlp_layers) and
    `{name}_mlp{i}_bn` (i < mlp_layers).

    Input shape:
        a graph batch dict with `node_features` (N, F) and `edge_index` (2, E), or a list
        `[node_features, edge_index]`.

    Output shape:
        `(N, units)`.

    Example:

    >>> graph = {"node_features": keras.Input((7,)), "edge_index": keras.Input(batch_shape=(2, None), dtype="int32")}
    >>> GINConv(64, name="gin1")(graph).shape
    (None, 64)
    """

    def __init__(
        self,
        units,
        hidden_units=None,
        mlp_layers=2,
        epsilon=0.0,
        learn_epsilon=True,
        batch_norm=True,
        batch_norm_momentum=0.9,
        activation="relu",
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        validate=True,
        output_bias=True,
        hidden_bias=None,
        **kwargs,
    ):
        super().__init__(validate=validate, **kwargs)
        self.units = _positive_int(units, "units")
        self.output_bias = bool(output_bias)
        # hidden_bias: a bias on the hidden Dense layers; None = only without batch norm (the saved
        # configs of earlier versions, whose hidden Dense layers had one, say True: `from_config`)
        self.hidden_bias = not batch_norm if hidden_bias is None else bool(hidden_bias)
        self.batch_norm_momentum = float(batch_norm_momentum)
        self.hidden_units = self.units if hidden_units is None else _positive_int(hidden_units, "hidden_units")
        self.mlp_layers = _positive_int(mlp_layers, "mlp_layers")
        self.epsilon_init = float(epsilon)
        self.learn_epsilon = bool(learn_epsilon)
        self.batch_norm = bool(batch_norm)
        self.activation = keras.activations.get(activation)
        set_dense_arguments(self, kernel_initializer, bias_initializer, kernel_regularizer)
        self.mlp = []
        for i in range(1, self.mlp_layers + 1):
            last = i == self.mlp_layers
            self.mlp.append(
                layers.Dense(
                    self.units if last else self.hidden_units,
                    kernel_initializer=self.kernel_initializer,
                    bias_initializer=self.bias_initializer,
                    kernel_regularizer=self.kernel_regularizer,
                    use_bias=self.output_bias if last else self.hidden_bias,
                    name=f"{self.name}_mlp{i}_dense",
                )
            )
            if not last and self.batch_norm:
                self.mlp.append(
                    FusedBatchNormalization(momentum=self.batch_norm_momentum, name=f"{self.name}_mlp{i}_bn")
                )
            if not last:
                self.mlp.append(layers.Activation(self.activation, name=f"{self.name}_mlp{i}_act"))

    needs_edge_features = False  # GINEConv's

    def build(self, input_shape):
        size = _feature_size(self, input_shape)
        self.epsilon = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(self.epsilon_init),
            trainable=self.learn_epsilon,
            name="epsilon",
        )
        shape = (None, size)
        for layer in self.mlp:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.built = True

    def _self_weight(self, x):
        """1 + eps, of x's dtype (GIN-0: the constant 1, which TensorFlow's graph optimizer multiplies away)."""
        if self.learn_epsilon or self.epsilon_init:
            return 1.0 + tf.cast(self.epsilon, x.dtype)
        return 1.0

    def _aggregate(self, x, senders, receivers, num_nodes, edge_features):
        """(1 + eps) h_v + sum_{u -> v} h_u [N, F]: one sparse-matrix product with its own gradient
        (`layers._sparse_sum.sparse_sum` with `self_weight`)."""
        return sparse_sum(x, receivers, senders, num_nodes, self_weight=self._self_weight(x))

    def call(self, inputs, training=None):
        x, edge_index, edge_features, _ = self._graph(inputs, require_edge_features=self.needs_edge_features)
        senders, receivers, num_nodes = edge_endpoints(x, edge_index)
        h = self._aggregate(x, senders, receivers, num_nodes, edge_features)
        for layer in self.mlp:
            h = layer(h, training=training) if isinstance(layer, layers.BatchNormalization) else layer(h)
        return h

    def compute_output_shape(self, input_shape):
        return (input_node_shape(input_shape)[0], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            hidden_units=self.hidden_units,
            mlp_layers=self.mlp_layers,
            epsilon=self.epsilon_init,
            learn_epsilon=self.learn_epsilon,
            batch_norm=self.batch_norm,
            batch_norm_momentum=self.batch_norm_momentum,
            activation=keras.activations.serialize(self.activation),
            output_bias=self.output_bias,
            hidden_bias=self.hidden_bias,
            **dense_arguments_config(self),
        )
        return config

    @classmethod
    def from_config(cls, config):
        # configs saved before `hidden_bias` existed describe hidden Dense layers with a bias
        return cls(**{"hidden_bias": True, **config})


@keras.saving.register_keras_serializable(package="zoo")
class GINEConv(GINConv):
    """GIN convolution with edge features, the GINE form of Hu et al. (2020) (PyTorch Geometric's GINEConv).

        h_v' = MLP((1 + eps) h_v + sum_{u -> v} ReLU(h_u + e_uv W + b))

    e_uv [D] are the features of the edge u -> v; W [D, F] and b [F] (the Dense `{name}_edge`)
    project them to the width F of the layer's input node states, so that they add to the sender's
    state before the ReLU. Everything else (eps, the MLP, its batch norm) is `GINConv`'s. The sum
    over the edges is a gather of the senders and a sorted segment sum into the receivers
    (`layers._sparse_sum.gather_rows` / `segment_sum`): the messages differ per edge, so GINConv's
    sparse-matrix product does not apply.

    Args:
        units, hidden_units, mlp_layers, epsilon, learn_epsilon, batch_norm, batch_norm_momentum,
            activation, kernel_initializer, bias_initializer, kernel_regularizer, validate, **kwargs:
            as `GINConv` (the initializers and the regularizer also apply to W and b).

    Weights: `epsilon` (scalar). Sub-layers: `{name}_edge` (Dense D -> F, with bias), and GINConv's
    `{name}_mlp{i}_dense`, `{name}_mlp{i}_bn`.

    Input shape:
        a graph batch dict with `node_features` (N, F), `edge_index` (2, E) and `edge_features`
        (E, D), or a list `[node_features, edge_index, edge_features]`. Edge features are required.

    Output shape:
        `(N, units)`.

    Example:

    >>> graph = {"node_features": keras.Input((7,)), "edge_index": keras.Input(batch_shape=(2, None), dtype="int32"),
    ...          "edge_features": keras.Input((4,))}
    >>> GINEConv(64, name="gin1")(graph).shape
    (None, 64)
    """

    needs_edge_features = True

    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        self.edge_dense = layers.Dense(
            1,  # the input width F, set in build
            kernel_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer,
            kernel_regularizer=self.kernel_regularizer,
            name=f"{self.name}_edge",
        )

    def build(self, input_shape):
        edge_size = input_edge_feature_size(input_shape)
        if edge_size is None:
            raise ValueError(
                f"GINEConv {self.name!r}: the input has no edge_features [num_edges, edge_feature_size] of known "
                f"size; give them, or use GINConv for graphs without edge features"
            )
        self.edge_dense.units = _feature_size(self, input_shape)
        self.edge_dense.build((None, int(edge_size)))
        super().build(input_shape)

    def _aggregate(self, x, senders, receivers, num_nodes, edge_features):
        """(1 + eps) h_v + sum_{u -> v} ReLU(h_u + e_uv W + b) [N, F]."""
        messages = tf.nn.relu(gather_rows(x, senders) + self.edge_dense(tf.cast(edge_features, x.dtype)))
        return self._self_weight(x) * x + segment_sum(messages, receivers, num_nodes)
