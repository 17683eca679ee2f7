"""TF-GNN interop: a homogeneous `tfgnn.GraphTensor` to the zoo's graph batch dict, and back.

TF-GNN (tensorflow-gnn 1.0.3) has the schema, `tf.Example` parsing and batching of graph data;
its Keras layers are Keras 2 only. The zoo's models are Keras 3 layers over plain tensors, so the
two meet here, as plain tensors:

    GraphTensor (one node set, one edge set)       graph batch dict
    node_sets[n][feature]              [N, F]  <->  node_features
    edge_sets[e].adjacency.source      [E]     <->  edge_index[0]
    edge_sets[e].adjacency.target      [E]     <->  edge_index[1]
    edge_sets[e][edge_feature]         [E, D]  <->  edge_features   (optional)
    node_sets[n].sizes (components)    [G]     <->  node_graph_ids  [N]

Using it: `pip install 'zoo[gnn]'` (tensorflow-gnn and tf-keras), and set `TF_USE_LEGACY_KERAS=1`
before TensorFlow is first imported: TF-GNN 1.0.3 only imports when `tf.keras` is Keras 2. That
variable changes what `tf.keras` means in that process; it does not change `import keras`
(always Keras 3), so the zoo's models keep working next to TF-GNN. The zoo never sets it and
never imports `tensorflow_gnn` itself: only calling a function of this module does.
"""

from __future__ import annotations

import numpy as np

from zoo.errors import InvalidArgumentError

NODE_FEATURES = "node_features"
EDGE_INDEX = "edge_index"
EDGE_FEATURES = "edge_features"
NODE_GRAPH_IDS = "node_graph_ids"
HIDDEN_STATE = "hidden_state"  # tfgnn.HIDDEN_STATE


def _tfgnn():
    """Import tensorflow_gnn, or explain what is missing."""
    try:
        import tensorflow_gnn as tfgnn
    except ImportError as error:
        import os

        if "Keras version 2" in str(error) or "TF_USE_LEGACY_KERAS" in str(error):
            raise ImportError(
                "tensorflow_gnn needs tf.keras to be Keras 2: set the environment variable TF_USE_LEGACY_KERAS=1 "
                "before TensorFlow is first imported (e.g. in the shell, or first thing in the script), with the "
                f"tf-keras package installed (TF_USE_LEGACY_KERAS is now {os.environ.get('TF_USE_LEGACY_KERAS')!r}). "
                "The zoo's models use Keras 3 (`import keras`) either way."
            ) from error
        raise ImportError(
            "the TF-GNN interop needs tensorflow-gnn and tf-keras: pip install 'zoo[gnn]', then run with "
            "TF_USE_LEGACY_KERAS=1 set before TensorFlow is imported"
        ) from error
    return tfgnn


def _only(names, kind: str, requested):
    names = sorted(names)
    if requested is not None:
        if requested not in names:
            raise InvalidArgumentError(f"the GraphTensor has no {kind} set {requested!r}; it has {names}")
        return requested
    if len(names) != 1:
        raise InvalidArgumentError(
            f"the GraphTensor must be homogeneous (one {kind} set) to become a graph batch; it has {kind} sets "
            f"{names}: pass {kind}_set=... to pick one"
        )
    return names[0]


def from_graph_tensor(graph, *, node_set: str | None = None, edge_set: str | None = None,
                      node_feature: str = HIDDEN_STATE, edge_feature: str | None = None) -> dict:
    """A homogeneous `tfgnn.GraphTensor` as a graph batch dict of tensors.

    A batched GraphTensor (rank 1) is first merged into one graph of components
    (`merge_batch_to_components`); each component becomes one graph id of `node_graph_ids`.

    Args:
        graph: a `tfgnn.GraphTensor` with one node set and one edge set between its nodes.
        node_set, edge_set: their names (default: the only one).
        node_feature: the node feature that becomes `node_features` (default "hidden_state").
        edge_feature: the edge feature that becomes `edge_features` (default: none).

    Returns:
        `{"node_features": [N, F] float, "edge_index": [2, E] int32, "node_graph_ids": [N] int32,
        ("edge_features": [E, D])}`.
    """
    tfgnn = _tfgnn()
    import tensorflow as tf

    if not isinstance(graph, tfgnn.GraphTensor):
        raise InvalidArgumentError(f"from_graph_tensor expects a tfgnn.GraphTensor, got {type(graph).__name__}")
    if graph.rank != 0:
        graph = graph.merge_batch_to_components()
    node_name = _only(graph.node_sets.keys(), "node", node_set)
    edge_name = _only(graph.edge_sets.keys(), "edge", edge_set)
    edges = graph.edge_sets[edge_name]
    adjacency = edges.adjacency
    if adjacency.source_name != node_name or adjacency.target_name != node_name:
        raise InvalidArgumentError(
            f"edge set {edge_name!r} goes from {adjacency.source_name!r} to {adjacency.target_name!r}; a graph "
            f"batch needs edges between the nodes of {node_name!r}"
        )
    nodes = graph.node_sets[node_name]
    if node_feature not in nodes.features:
        raise InvalidArgumentError(
            f"node set {node_name!r} has no feature {node_feature!r}; it has {sorted(nodes.features)}"
        )
    x = nodes[node_feature]
    if x.shape.rank == 1:
        x = x[:, None]
    sizes = tf.cast(nodes.sizes, tf.int32)
    batch = {
        NODE_FEATURES: x,
        EDGE_INDEX: tf.stack([tf.cast(adjacency.source, tf.int32), tf.cast(adjacency.target, tf.int32)]),
        NODE_GRAPH_IDS: tf.repeat(tf.range(tf.size(sizes), dtype=tf.int32), sizes),
    }
    if edge_feature is not None:
        if edge_feature not in edges.features:
            raise InvalidArgumentError(
                f"edge set {edge_name!r} has no feature {edge_feature!r}; it has {sorted(edges.features)}"
            )
        e = edges[edge_feature]
        batch[EDGE_FEATURES] = e[:, None] if e.shape.rank == 1 else e
    return batch


def to_graph_tensor(batch: dict, *, node_set: str = "nodes", edge_set: str = "edges",
                    node_feature: str = HIDDEN_STATE, edge_feature: str = HIDDEN_STATE, context: dict | None = None):
    """A graph batch dict as a homogeneous `tfgnn.GraphTensor` (scalar, one component per graph).

    The nodes of each graph must be contiguous and in graph order (as `zoo.data.graph_dataset` and
    `merge_graphs` make them); edges are grouped by the graph of their sender (a stable sort, so
    edges already in graph order keep their order).

    Args:
        batch: `node_features` [N, F], `edge_index` [2, E], optional `edge_features` [E, D] and
            `node_graph_ids` [N] (without it the batch is one graph).
        node_set, edge_set: the names of the node set and the edge set.
        node_feature, edge_feature: the names of their features.
        context: optional context features, each with one row per graph.

    Returns:
        a `tfgnn.GraphTensor`.
    """
    tfgnn = _tfgnn()
    import tensorflow as tf

    from layers.message_passing import count_graphs, validate_graph_batch

    batch = validate_graph_batch(batch, where="to_graph_tensor")
    x = batch[NODE_FEATURES]
    edge_index = tf.cast(batch[EDGE_INDEX], tf.int32)
    num_nodes = tf.shape(x)[0]
    ids = batch.get(NODE_GRAPH_IDS)
    if ids is None:
        ids = tf.zeros([num_nodes], tf.int32)
    ids = tf.cast(ids, tf.int32)
    if tf.executing_eagerly() and ids.shape[0]:
        ids_np = ids.numpy()
        if np.any(np.diff(ids_np) < 0):
            raise InvalidArgumentError(
                "to_graph_tensor: node_graph_ids must be sorted (the nodes of each graph contiguous, graphs in order)"
            )
    num_graphs = count_graphs(ids)
    node_sizes = tf.math.bincount(ids, minlength=num_graphs, dtype=tf.int32)
    edge_graph = tf.gather(ids, edge_index[0])
    order = tf.argsort(edge_graph, stable=True)
    edge_index = tf.gather(edge_index, order, axis=1)
    edge_sizes = tf.math.bincount(tf.gather(edge_graph, order), minlength=num_graphs, dtype=tf.int32)
    edge_features = {}
    if EDGE_FEATURES in batch:
        edge_features[edge_feature] = tf.gather(batch[EDGE_FEATURES], order)
    return tfgnn.GraphTensor.from_pieces(
        context=tfgnn.Context.from_fields(features=dict(context or {}), sizes=tf.ones([num_graphs], tf.int32)),
        node_sets={node_set: tfgnn.NodeSet.from_fields(sizes=node_sizes, features={node_feature: x})},
        edge_sets={
            edge_set: tfgnn.EdgeSet.from_fields(
                sizes=edge_sizes,
                adjacency=tfgnn.Adjacency.from_indices(source=(node_set, edge_index[0]), target=(node_set, edge_index[1])),
                features=edge_features,
            )
        },
    )
