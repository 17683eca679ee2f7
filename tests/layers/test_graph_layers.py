"""Graph layers: formulas against dense / NumPy references, permutations, isolated nodes, empty
edge sets, dynamic N and E inside tf.function, save / reload, and bad graph batches."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layers import (
    GATv2Conv,
    GCNConv,
    GINConv,
    GINEConv,
    GraphReadout,
    MessagePassing,
    SAGEConv,
    ValidateGraphBatch,
    validate_graph_batch,
)

F = 3  # node feature size of the random graphs


def random_graph(rng, num_nodes, num_edges, feature_size=F, edge_feature_size=None):
    graph = {
        "node_features": rng.normal(size=(num_nodes, feature_size)).astype("float32"),
        "edge_index": rng.integers(0, max(num_nodes, 1), size=(2, num_edges)).astype("int32"),
    }
    if edge_feature_size:
        graph["edge_features"] = rng.normal(size=(num_edges, edge_feature_size)).astype("float32")
    return graph


def dense_adjacency(edge_index, num_nodes):
    """A[v, u] = number of edges u -> v."""
    a = np.zeros((num_nodes, num_nodes), dtype="float64")
    np.add.at(a, (edge_index[1], edge_index[0]), 1.0)
    return a


def randomize(layer, seed=1):
    rng = np.random.default_rng(seed)
    for v in layer.weights:
        if "moving_variance" in v.path:
            v.assign(rng.uniform(0.5, 1.5, v.shape).astype(v.dtype))
        else:
            v.assign(rng.normal(0, 0.5, v.shape).astype(v.dtype))
    return layer


def permute_graph(graph, perm, edge_perm):
    """Node i of the result is node perm[i] of `graph`; edges reordered by edge_perm."""
    inverse = np.argsort(perm)
    out = {"node_features": graph["node_features"][perm], "edge_index": inverse[graph["edge_index"]][:, edge_perm]}
    if "edge_features" in graph:
        out["edge_features"] = graph["edge_features"][edge_perm]
    if "node_graph_ids" in graph:
        out["node_graph_ids"] = graph["node_graph_ids"][perm]
    return out


def _layers(feature_size=F):
    """One of each graph layer (and variant), keyed by a readable name."""
    return {
        "gcn_sym": GCNConv(4, name="gcn_sym"),
        "gcn_mean": GCNConv(4, normalization="mean", name="gcn_mean"),
        "sage_mean": SAGEConv(4, name="sage_mean"),
        "sage_max": SAGEConv(4, aggregator="max", name="sage_max"),
        "gat": GATv2Conv(2, heads=3, name="gat"),
        "gat_mean": GATv2Conv(2, heads=2, concat=False, self_loops=False, name="gat_mean"),
        "gin": GINConv(4, learn_epsilon=True, epsilon=0.3, name="gin"),
        "gine": GINEConv(4, learn_epsilon=True, epsilon=0.3, name="gine"),
        "mp_gru": MessagePassing(feature_size, name="mp_gru"),
        "mp_dense_max": MessagePassing(4, update="dense", aggregation="max", name="mp_dense_max"),
        "mp_dense_mean": MessagePassing(4, update="dense", aggregation="mean", name="mp_dense_mean"),
    }


# ------------------------------------------------------------------------------------------------
# Formulas
# ------------------------------------------------------------------------------------------------


def test_worked_example_mean_normalization():
    """adjacency [[0,1,0],[1,0,1],[0,1,0]], D^-1 A, identity weights: every node gets [3, 4]."""
    adjacency = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]])
    receivers, senders = np.nonzero(adjacency)
    graph = {
        "node_features": np.array([[1, 2], [3, 4], [5, 6]], dtype="float32"),
        "edge_index": np.stack([senders, receivers]).astype("int32"),
    }
    layer = GCNConv(2, normalization="mean", use_bias=False, kernel_initializer="identity")
    np.testing.assert_allclose(layer(graph).numpy(), [[3, 4], [3, 4], [3, 4]], rtol=0, atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gcn_sym_equals_dense_formula(seed):
    """D^-1/2 (A + I) D^-1/2 H W + b on a random directed multigraph with isolated nodes."""
    rng = np.random.default_rng(seed)
    graph = random_graph(rng, 9, 14)
    graph["edge_index"] = graph["edge_index"] % 7  # nodes 7 and 8 are isolated
    layer = randomize(GCNConv(5, name="gcn"))
    layer.build({"node_features": (None, F), "edge_index": (2, None)})
    randomize(layer, seed)
    a_hat = dense_adjacency(graph["edge_index"], 9) + np.eye(9)
    d = np.diag(a_hat.sum(axis=1) ** -0.5)
    expected = d @ a_hat @ d @ graph["node_features"] @ layer.kernel.numpy() + layer.bias.numpy()
    np.testing.assert_allclose(layer(graph).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_gcn_mean_equals_dense_formula_and_self_loop_option():
    rng = np.random.default_rng(3)
    graph = random_graph(rng, 6, 10)
    for self_loops in (False, True):
        layer = GCNConv(4, normalization="mean", self_loops=self_loops)
        layer.build({"node_features": (None, F), "edge_index": (2, None)})
        randomize(layer)
        a = dense_adjacency(graph["edge_index"], 6) + (np.eye(6) if self_loops else 0)
        deg = a.sum(axis=1, keepdims=True)
        norm = np.divide(a, deg, out=np.zeros_like(a), where=deg > 0)
        expected = norm @ graph["node_features"] @ layer.kernel.numpy() + layer.bias.numpy()
        np.testing.assert_allclose(layer(graph).numpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("aggregator", ["mean", "max"])
def test_sage_equals_reference(aggregator):
    rng = np.random.default_rng(4)
    graph = random_graph(rng, 7, 12)
    layer = SAGEConv(4, aggregator=aggregator, pool_units=5, name="sage")
    layer(graph)
    randomize(layer)
    x, (s, r) = graph["node_features"], graph["edge_index"]
    if aggregator == "max":
        pool = np.maximum(x @ layer.pool_dense.kernel.numpy() + layer.pool_dense.bias.numpy(), 0)
    neigh = np.zeros((7, 5 if aggregator == "max" else F))
    for v in range(7):
        rows = s[r == v]
        if len(rows):
            neigh[v] = x[rows].mean(0) if aggregator == "mean" else pool[rows].max(0)
    expected = x @ layer.self_dense.kernel.numpy() + neigh @ layer.neigh_dense.kernel.numpy() + layer.neigh_dense.bias
    np.testing.assert_allclose(layer(graph).numpy(), expected, rtol=1e-5, atol=1e-5)
    normalized = SAGEConv(4, aggregator=aggregator, normalize=True)(graph).numpy()
    np.testing.assert_allclose(np.linalg.norm(normalized, axis=1), 1.0, rtol=1e-5)


def gatv2_reference(layer, graph):
    x, (s, r) = graph["node_features"].astype("float64"), graph["edge_index"]
    n, h, c = len(x), layer.heads, layer.units
    if layer.self_loops:
        s, r = np.concatenate([s, np.arange(n)]), np.concatenate([r, np.arange(n)])
    left = (x @ layer.kernel_left.numpy()).reshape(n, h, c)
    right = left if layer.share_weights else (x @ layer.kernel_right.numpy()).reshape(n, h, c)
    att = layer.attention.numpy()
    out = np.zeros((n, h, c))
    for v in range(n):
        rows = s[r == v]
        if not len(rows):
            continue
        z = left[rows] + right[v]
        z = np.where(z > 0, z, layer.negative_slope * z)
        logits = (z * att).sum(-1)  # [k, h]
        alpha = np.exp(logits - logits.max(0))
        alpha /= alpha.sum(0)
        out[v] = (alpha[..., None] * left[rows]).sum(0)
    out = out.reshape(n, h * c) if layer.concat else out.mean(1)
    return out + layer.bias.numpy()


@pytest.mark.parametrize("concat,self_loops,share", [(True, True, False), (False, False, True)])
def test_gatv2_equals_reference(concat, self_loops, share):
    rng = np.random.default_rng(5)
    graph = random_graph(rng, 8, 15)
    layer = GATv2Conv(3, heads=2, concat=concat, self_loops=self_loops, share_weights=share, name="gat")
    layer(graph)
    randomize(layer)
    np.testing.assert_allclose(layer(graph).numpy(), gatv2_reference(layer, graph), rtol=1e-4, atol=1e-5)


def test_gatv2_attention_dropout_only_in_training():
    rng = np.random.default_rng(6)
    graph = random_graph(rng, 20, 60)
    layer = GATv2Conv(4, heads=2, attention_dropout=0.5)
    a, b = layer(graph, training=False).numpy(), layer(graph, training=False).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(layer(graph, training=True).numpy(), a)


def test_gin_equals_formula_and_learns_epsilon():
    rng = np.random.default_rng(7)
    graph = random_graph(rng, 6, 9)
    layer = GINConv(4, mlp_layers=1, epsilon=0.25, name="gin")
    layer(graph)
    randomize(layer)
    x, (s, r) = graph["node_features"], graph["edge_index"]
    eps = float(layer.epsilon.numpy())
    summed = np.zeros_like(x)
    np.add.at(summed, r, x[s])
    dense = layer.mlp[0]
    expected = ((1 + eps) * x + summed) @ dense.kernel.numpy() + dense.bias.numpy()
    np.testing.assert_allclose(layer(graph).numpy(), expected, rtol=1e-5, atol=1e-5)
    assert [w.name for w in layer.trainable_weights][0] == "epsilon"
    fixed = GINConv(4, learn_epsilon=False)
    fixed(graph)
    assert "epsilon" in [w.name for w in fixed.non_trainable_weights]
    two = GINConv(4, hidden_units=6, name="gin2")
    two(graph)
    assert [type(m).__name__ for m in two.mlp] == ["Dense", "FusedBatchNormalization", "Activation", "Dense"]
    assert [m.name for m in two.mlp][:2] == ["gin2_mlp1_dense", "gin2_mlp1_bn"]


def test_gin_hidden_dense_before_batch_norm_has_no_bias_and_the_function_is_unchanged():
    """A bias before batch norm cancels (training mode subtracts the batch mean): the layer without it
    equals the one with a random bias; configs saved before `hidden_bias` existed keep theirs."""
    rng = np.random.default_rng(3)
    graph = random_graph(rng, 12, 30)
    plain, biased = GINConv(4, hidden_units=6, name="plain"), GINConv(4, hidden_units=6, hidden_bias=True, name="biased")
    plain(graph), biased(graph)
    assert not plain.mlp[0].use_bias and plain.mlp[-1].use_bias and biased.mlp[0].use_bias
    randomize(plain)
    biased.epsilon.assign(plain.epsilon)
    biased.mlp[0].kernel.assign(plain.mlp[0].kernel)
    biased.mlp[0].bias.assign(rng.normal(size=6).astype("float32") * 3)
    for name in ("kernel", "bias"):
        getattr(biased.mlp[-1], name).assign(getattr(plain.mlp[-1], name))
    for a, b in zip(plain.mlp[1].weights, biased.mlp[1].weights):
        b.assign(a)
    np.testing.assert_allclose(biased(graph, training=True).numpy(), plain(graph, training=True).numpy(),
                               rtol=1e-4, atol=1e-4)
    assert not GINConv(4, output_bias=False).mlp[-1].use_bias
    assert not GINConv(4, batch_norm=False, output_bias=False).mlp[-1].use_bias
    assert GINConv(4, batch_norm=False).mlp[0].use_bias
    old = {k: v for k, v in plain.get_config().items() if k not in ("hidden_bias", "output_bias")}
    assert GINConv.from_config(old).hidden_bias is True
    assert GINConv.from_config(plain.get_config()).hidden_bias is False


def _gine_formula(layer, graph):
    """GINE in NumPy (float64): MLP((1 + eps) h_v + sum_{u -> v} ReLU(h_u + e_uv W + b)), the MLP
    Dense -> batch norm (inference) -> ReLU -> ... -> Dense, from the layer's weights."""
    x, (s, r), e = (graph["node_features"].astype("float64"), graph["edge_index"],
                    graph["edge_features"].astype("float64"))
    edge = layer.edge_dense
    messages = np.maximum(x[s] + e @ edge.kernel.numpy() + edge.bias.numpy(), 0.0)
    summed = np.zeros_like(x)
    np.add.at(summed, r, messages)
    h = (1 + float(layer.epsilon.numpy())) * x + summed
    for sub in layer.mlp:
        if type(sub).__name__ == "Dense":
            h = h @ sub.kernel.numpy() + (sub.bias.numpy() if sub.use_bias else 0.0)
        elif type(sub).__name__ == "FusedBatchNormalization":
            h = (h - sub.moving_mean.numpy()) / np.sqrt(sub.moving_variance.numpy() + sub.epsilon)
            h = h * sub.gamma.numpy() + sub.beta.numpy()
        else:
            h = np.maximum(h, 0.0)
    return h


@pytest.mark.parametrize("sort_receivers", [True, False])
@pytest.mark.parametrize("mlp_layers", [1, 2])
def test_gine_equals_formula(sort_receivers, mlp_layers):
    """Hu et al. (2020) GINE against NumPy on a multigraph with isolated nodes and self-loops, with the
    edges sorted by receiver (the sorted segment sum) or not; the edge projection maps D=3 to F."""
    rng = np.random.default_rng(8 + mlp_layers)
    graph = random_graph(rng, 7, 12, edge_feature_size=3)
    graph["edge_index"] = graph["edge_index"] % 6  # node 6 is isolated
    graph["edge_index"][:, 0] = 2  # a self-loop 2 -> 2
    if sort_receivers:
        order = np.argsort(graph["edge_index"][1], kind="stable")
        graph["edge_index"], graph["edge_features"] = graph["edge_index"][:, order], graph["edge_features"][order]
    layer = GINEConv(5, mlp_layers=mlp_layers, hidden_units=6, epsilon=0.25, name="gine")
    layer(graph)
    randomize(layer)
    assert layer.edge_dense.kernel.shape == (3, F) and layer.edge_dense.name == "gine_edge"
    np.testing.assert_allclose(layer(graph).numpy(), _gine_formula(layer, graph), rtol=1e-5, atol=1e-5)
    # the edge features matter: other bond types, other outputs (the ReLU cannot be folded away)
    other = dict(graph, edge_features=rng.normal(size=graph["edge_features"].shape).astype("float32"))
    assert not np.allclose(layer(other).numpy(), layer(graph).numpy(), atol=1e-3)


def test_gine_gradients_and_missing_edge_features():
    rng = np.random.default_rng(9)
    graph = random_graph(rng, 5, 8, edge_feature_size=2)
    layer = GINEConv(3, mlp_layers=1, name="gine")
    layer(graph)
    randomize(layer)
    x = tf.constant(graph["node_features"])
    e = tf.constant(graph["edge_features"])
    with tf.GradientTape() as tape:
        tape.watch([x, e])
        loss = tf.reduce_sum(layer({"node_features": x, "edge_index": graph["edge_index"], "edge_features": e}) ** 2)
    dx, de = tape.gradient(loss, [x, e])

    def numeric(key, index, step=1e-3):
        plus, minus = dict(graph), dict(graph)
        plus[key], minus[key] = graph[key].astype("float64").copy(), graph[key].astype("float64").copy()
        plus[key][index] += step
        minus[key][index] -= step
        return ((_gine_formula(layer, plus) ** 2).sum() - (_gine_formula(layer, minus) ** 2).sum()) / (2 * step)

    for index in [(0, 0), (3, 2), (4, 1)]:
        np.testing.assert_allclose(dx.numpy()[index], numeric("node_features", index), rtol=2e-2, atol=2e-3)
    for index in [(0, 0), (5, 1), (7, 0)]:
        np.testing.assert_allclose(de.numpy()[index], numeric("edge_features", index), rtol=2e-2, atol=2e-3)
    plain = {k: v for k, v in graph.items() if k != "edge_features"}
    with pytest.raises(ValueError, match="edge_features"):
        GINEConv(3)(plain)
    with pytest.raises(ValueError, match="edge_features"):
        GINEConv(3, validate=False)(plain)


@pytest.mark.parametrize("aggregation", ["sum", "mean", "max"])
def test_message_passing_equals_reference(aggregation):
    rng = np.random.default_rng(8)
    graph = random_graph(rng, 6, 11, edge_feature_size=2)
    layer = MessagePassing(4, message_units=5, aggregation=aggregation, update="dense", name="mp")
    layer(graph)
    randomize(layer)
    x, (s, r), e = graph["node_features"], graph["edge_index"], graph["edge_features"]
    wm, bm = layer.message_dense.kernel.numpy(), layer.message_dense.bias.numpy()
    messages = np.maximum(np.concatenate([x[s], x[r], e], axis=1) @ wm + bm, 0)
    agg = np.zeros((6, 5))
    for v in range(6):
        rows = messages[r == v]
        if len(rows):
            agg[v] = {"sum": rows.sum(0), "mean": rows.mean(0), "max": rows.max(0)}[aggregation]
    wu, bu = layer.update_layer.kernel.numpy(), layer.update_layer.bias.numpy()
    expected = np.maximum(np.concatenate([x, agg], axis=1) @ wu + bu, 0)
    np.testing.assert_allclose(layer(graph).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_message_passing_gru_update_and_edge_feature_options():
    rng = np.random.default_rng(9)
    graph = random_graph(rng, 5, 8, edge_feature_size=2)
    layer = MessagePassing(F, name="mp")
    out = layer(graph)
    aggregated = layer.aggregate(
        layer.message(
            tf.gather(graph["node_features"], graph["edge_index"][0]),
            tf.gather(graph["node_features"], graph["edge_index"][1]),
            graph["edge_features"],
        ),
        graph["edge_index"][1],
        5,
    )
    expected, _ = layer.update_layer(aggregated, [tf.constant(graph["node_features"])])
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
    # the message network saw 2F + 2 inputs; without edge features it sees 2F
    assert layer.message_dense.kernel.shape == (2 * F + 2, F)
    plain = MessagePassing(F, use_edge_features=False)
    plain(graph)
    assert plain.message_dense.kernel.shape == (2 * F, F)
    with pytest.raises(ValueError, match="edge_features"):
        MessagePassing(F, use_edge_features=True)({k: v for k, v in graph.items() if k != "edge_features"})
    with pytest.raises(ValueError, match="must equal units"):
        MessagePassing(F + 1)(graph)


@pytest.mark.parametrize("reduction", ["sum", "mean", "max", "attention"])
def test_readout_equals_reference(reduction):
    rng = np.random.default_rng(10)
    x = rng.normal(size=(9, 4)).astype("float32")
    ids = np.array([2, 0, 0, 2, 2, 0, 4, 4, 2], dtype="int32")  # graphs 1 and 3 have no nodes
    layer = GraphReadout(reduction, name="readout")
    out = layer({"node_features": x, "node_graph_ids": ids}).numpy()
    assert out.shape == (5, 4)
    if reduction == "attention":
        gate = x @ layer.gate.kernel.numpy() + layer.gate.bias.numpy()
    for g in range(5):
        rows = x[ids == g]
        if not len(rows):
            np.testing.assert_array_equal(out[g], 0.0)
            continue
        if reduction == "attention":
            w = np.exp(gate[ids == g] - gate[ids == g].max())
            expected = (w / w.sum() * rows).sum(0)
        else:
            expected = {"sum": rows.sum(0), "mean": rows.mean(0), "max": rows.max(0)}[reduction]
        np.testing.assert_allclose(out[g], expected, rtol=1e-5, atol=1e-6)
    # without ids the input is one graph; as a list it is [node_features, node_graph_ids]
    np.testing.assert_allclose(layer(x).numpy()[0], layer([x, np.zeros(9, "int32")]).numpy()[0], rtol=1e-6)


# ------------------------------------------------------------------------------------------------
# Permutations (property-based), isolated nodes, graphs with no edges
# ------------------------------------------------------------------------------------------------


@st.composite
def graphs_and_permutations(draw):
    n = draw(st.integers(1, 9))
    e = draw(st.integers(0, 20))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    graph = random_graph(rng, n, e, edge_feature_size=2)
    return graph, rng.permutation(n), rng.permutation(e)


_PERMUTATION_LAYERS = _layers()


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs_and_permutations())
def test_node_outputs_permute_with_the_nodes(case):
    graph, perm, edge_perm = case
    permuted = permute_graph(graph, perm, edge_perm)
    for name, layer in _PERMUTATION_LAYERS.items():
        out = layer(graph).numpy()
        out_permuted = layer(permuted).numpy()
        np.testing.assert_allclose(out_permuted, out[perm], rtol=1e-4, atol=1e-5, err_msg=name)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs_and_permutations(), st.sampled_from(["sum", "mean", "max", "attention"]))
def test_graph_outputs_do_not_change_with_node_order(case, reduction):
    graph, perm, edge_perm = case
    n = len(graph["node_features"])
    graph["node_graph_ids"] = np.sort(np.random.default_rng(n).integers(0, 3, size=n)).astype("int32")
    permuted = permute_graph(graph, perm, edge_perm)
    conv = _PERMUTATION_LAYERS["gin"]
    readout = GraphReadout(reduction, name=f"readout_{reduction}")

    def model(g):
        h = conv(g)
        return readout({"node_features": h, "node_graph_ids": g["node_graph_ids"]}).numpy()

    np.testing.assert_allclose(model(permuted), model(graph), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", list(_layers()))
def test_isolated_nodes_and_no_edges(name):
    layer = _layers()[name]
    rng = np.random.default_rng(11)
    x = rng.normal(size=(4, F)).astype("float32")
    no_edges = {"node_features": x, "edge_index": np.zeros((2, 0), "int32"), "edge_features": np.zeros((0, 2), "f4")}
    out = layer(no_edges).numpy()
    assert out.shape[0] == 4 and np.all(np.isfinite(out))
    # node 3 is isolated in the second graph: its output is what it gets with no edges at all
    some = {
        "node_features": x,
        "edge_index": np.array([[0, 1, 2], [1, 2, 0]], "int32"),
        "edge_features": rng.normal(size=(3, 2)).astype("float32"),
    }
    np.testing.assert_allclose(layer(some).numpy()[3], out[3], rtol=1e-5, atol=1e-6)
    if name == "gcn_sym":  # only the self-loop: D^-1/2 I D^-1/2 = I
        np.testing.assert_allclose(out, x @ layer.kernel.numpy() + layer.bias.numpy(), rtol=1e-5, atol=1e-6)
    if name == "gcn_mean":  # nothing to average: the bias alone
        np.testing.assert_allclose(out, np.broadcast_to(layer.bias.numpy(), out.shape), atol=1e-7)
    # a graph with no node at all
    empty = {"node_features": np.zeros((0, F), "f4"), "edge_index": np.zeros((2, 0), "int32"),
             "edge_features": np.zeros((0, 2), "f4")}
    assert layer(empty).shape[0] == 0


# ------------------------------------------------------------------------------------------------
# tf.function with dynamic N and E; save / reload
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(_layers()))
def test_inside_tf_function_with_dynamic_sizes(name):
    layer = _layers()[name]
    signature = {
        "node_features": tf.TensorSpec([None, F], tf.float32),
        "edge_index": tf.TensorSpec([2, None], tf.int32),
        "edge_features": tf.TensorSpec([None, 2], tf.float32),
    }
    rng = np.random.default_rng(12)
    layer(random_graph(rng, 2, 2, edge_feature_size=2))  # built eagerly: the trace creates no variable
    run = tf.function(lambda g: layer(g), input_signature=[signature])
    for n, e in [(5, 8), (11, 30), (3, 0), (1, 1)]:
        graph = random_graph(rng, n, e, edge_feature_size=2)
        np.testing.assert_allclose(run(graph).numpy(), layer(graph).numpy(), rtol=1e-5, atol=1e-6)
    assert run.experimental_get_tracing_count() == 1


@pytest.mark.parametrize("name", list(_layers()))
def test_save_and_reload(name, roundtrip):
    layer = _layers()[name]
    rng = np.random.default_rng(13)
    graph = random_graph(rng, 6, 10, edge_feature_size=2)
    inputs = [graph["node_features"], graph["edge_index"]]  # the list form of the graph input
    if name.startswith(("mp", "gine")):
        inputs.append(graph["edge_features"])
    roundtrip(layer, inputs)


@pytest.mark.parametrize("reduction", ["sum", "max", "attention"])
def test_readout_save_and_reload_and_tf_function(reduction, roundtrip):
    layer = GraphReadout(reduction, name="readout")
    x = np.random.default_rng(14).normal(size=(7, 4)).astype("float32")
    ids = np.array([0, 0, 1, 1, 1, 2, 2], "int32")
    roundtrip(layer, [x, ids])
    run = tf.function(
        lambda g: layer(g),
        input_signature=[{"node_features": tf.TensorSpec([None, 4]), "node_graph_ids": tf.TensorSpec([None], tf.int32)}],
    )
    for n in (7, 3):
        g = {"node_features": x[:n], "node_graph_ids": ids[:n]}
        np.testing.assert_allclose(run(g).numpy(), layer(g).numpy(), rtol=1e-6)
    assert run.experimental_get_tracing_count() == 1


def test_configs_are_complete():
    for layer in list(_layers().values()) + [GraphReadout("attention", name="r")]:
        config = layer.get_config()
        clone = type(layer).from_config(config)
        assert clone.get_config() == config
    config = SAGEConv(3, aggregator="max", pool_units=7, normalize=True, validate=False).get_config()
    assert config["pool_units"] == 7 and config["normalize"] and config["validate"] is False


def test_list_inputs_and_bad_arguments():
    rng = np.random.default_rng(15)
    graph = random_graph(rng, 4, 5)
    layer = GCNConv(2)
    np.testing.assert_array_equal(layer(graph).numpy(), layer([graph["node_features"], graph["edge_index"]]).numpy())
    with pytest.raises(ValueError, match="normalization"):
        GCNConv(2, normalization="row")
    with pytest.raises(ValueError, match="aggregator"):
        SAGEConv(2, aggregator="sum")
    with pytest.raises(ValueError, match="units"):
        GATv2Conv(0)
    with pytest.raises(ValueError, match="reduction"):
        GraphReadout("median")


# ------------------------------------------------------------------------------------------------
# Bad graph batches: clear errors naming the tensor and the problem
# ------------------------------------------------------------------------------------------------

_ERRORS = (ValueError, tf.errors.InvalidArgumentError)


def _good():
    return {
        "node_features": np.ones((3, 2), "float32"),
        "edge_index": np.array([[0, 1, 2], [1, 2, 0]], "int32"),
        "edge_features": np.ones((3, 4), "float32"),
        "node_graph_ids": np.zeros(3, "int32"),
    }


_BAD = {
    "out of range": ({"edge_index": np.array([[0, 1, 2], [1, 3, 0]], "int32")}, r"edge_index.*>= the number of nodes"),
    "negative id": ({"edge_index": np.array([[0, -1, 2], [1, 2, 0]], "int32")}, "edge_index holds negative"),
    "edge_index rank": ({"edge_index": np.array([0, 1, 2], "int32")}, "edge_index must have rank 2"),
    "edge_index transposed": ({"edge_index": np.array([[0, 1], [1, 2], [2, 0]], "int32")}, r"\[2, num_edges\].*transpose"),
    "edge_index float": ({"edge_index": np.array([[0.0, 1.0], [1.0, 2.0]], "float32")}, "edge_index must be an integer"),
    "node_features rank": ({"node_features": np.ones((3, 2, 1), "float32")}, "node_features must have rank 2"),
    "edge_features length": ({"edge_features": np.ones((2, 4), "float32")}, "edge_features"),
    "edge_features rank": ({"edge_features": np.ones((3,), "float32")}, "edge_features must have rank 2"),
    "graph ids length": ({"node_graph_ids": np.zeros(4, "int32")}, "node_graph_ids"),
    "graph ids negative": ({"node_graph_ids": np.array([0, -1, 0], "int32")}, "node_graph_ids holds negative"),
}


@pytest.mark.parametrize("case", list(_BAD))
def test_bad_batches_raise_clear_errors_eagerly(case):
    change, pattern = _BAD[case]
    graph = {**_good(), **change}
    with pytest.raises(_ERRORS, match=pattern):
        validate_graph_batch(graph)


def test_missing_keys_and_non_dicts():
    with pytest.raises(ValueError, match="missing 'edge_index'"):
        validate_graph_batch({"node_features": np.ones((2, 2), "float32")})
    with pytest.raises(ValueError, match="missing 'edge_features'"):
        validate_graph_batch({k: v for k, v in _good().items() if k != "edge_features"}, require_edge_features=True)
    with pytest.raises(ValueError, match="expected a dict"):
        validate_graph_batch(np.ones((2, 2)))


_TRACED = {}


def _traced_checks():
    """One tf.function (traced once, dynamic N and E) that checks a batch and runs layers on it."""
    if "run" in _TRACED:
        return _TRACED["run"]
    spec = {
        "node_features": tf.TensorSpec([None, 2], tf.float32),
        "edge_index": tf.TensorSpec([2, None], tf.int32),
        "edge_features": tf.TensorSpec([None, 4], tf.float32),
        "node_graph_ids": tf.TensorSpec([None], tf.int32),
    }
    layer = MessagePassing(2)
    readout = GraphReadout("sum")

    @tf.function(input_signature=[spec])
    def run(g):
        checked = validate_graph_batch(g)
        return readout({"node_features": layer(checked), "node_graph_ids": checked["node_graph_ids"]})

    layer(_good())
    readout([np.ones((3, 2), "float32"), np.zeros(3, "int32")])
    _TRACED["run"] = run
    return run


@pytest.mark.parametrize("case", ["out of range", "negative id", "edge_features length", "graph ids length",
                                  "graph ids negative"])
def test_bad_batches_raise_inside_tf_function_with_dynamic_sizes(case):
    change, pattern = _BAD[case]
    run = _traced_checks()
    assert run(_good()).shape == (1, 2)  # fine
    with pytest.raises(tf.errors.InvalidArgumentError, match=pattern):
        run({**_good(), **change})
    assert run.experimental_get_tracing_count() == 1


def test_layers_check_their_input():
    graph = {**_good(), "edge_index": np.array([[0, 1, 2], [1, 5, 0]], "int32")}
    for layer in _layers(feature_size=2).values():
        with pytest.raises(_ERRORS, match="edge_index"):
            layer(graph)
    unchecked = GCNConv(2, validate=False)
    unchecked(_good())  # builds; out-of-range ids are then the user's business


def test_validate_graph_batch_layer_orders_the_checks_first(tmp_path):
    """In a model the checks run before any gather, so a bad id gives the check's message."""
    layer = ValidateGraphBatch(name="validate_graph_batch")
    good = _good()
    inputs = {
        "node_features": keras.Input(shape=(2,), name="node_features"),
        "edge_index": keras.Input(batch_shape=(2, None), dtype="int32", name="edge_index"),
    }
    checked = layer(inputs)
    h = GCNConv(3, validate=False, name="gcn1")(checked)
    h = GCNConv(3, validate=False, name="gcn2")({"node_features": h, "edge_index": checked["edge_index"]})
    model = keras.Model(inputs, h)
    batch = {k: good[k] for k in inputs}
    predict = tf.function(model, input_signature=[{
        "node_features": tf.TensorSpec([None, 2]), "edge_index": tf.TensorSpec([2, None], tf.int32)}])
    np.testing.assert_allclose(predict(batch).numpy(), model(batch).numpy(), rtol=1e-6)
    for bad, pattern in [(np.array([[0, 1], [1, 7]], "int32"), ">= the number of nodes"),
                         (np.array([[0, -3], [1, 2]], "int32"), "negative")]:
        with pytest.raises(tf.errors.InvalidArgumentError, match=pattern):
            predict(dict(batch, edge_index=bad))
    model.save(tmp_path / "checked.keras")
    reloaded = keras.saving.load_model(tmp_path / "checked.keras")
    np.testing.assert_array_equal(reloaded(batch).numpy(), model(batch).numpy())
    config = ValidateGraphBatch(require_edge_features=True, name="v").get_config()
    assert ValidateGraphBatch.from_config(config).require_edge_features
    with pytest.raises(ValueError, match="missing 'edge_features'"):
        ValidateGraphBatch(require_edge_features=True)(batch)
