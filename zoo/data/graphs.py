"""Graph data: readers, user input (edge lists, networkx), and batching many graphs into one batch.

A single graph, and a batch of graphs, is a dict of arrays in the zoo's graph batch convention
(see `layers.message_passing`): `node_features` [N, F] float32, `edge_index` [2, E] int32
(row 0 senders, row 1 receivers), optionally `edge_features` [E, D] float32 and, for batches,
`node_graph_ids` [N] int32. Batching many graphs concatenates their nodes and edges and adds
each graph's node offset to its edge ids, so a batch is one big graph with disconnected parts.

Readers (any path; `zoo.data.load_dataset` reads the bundled and downloadable sets with them):

- `load_planetoid(path)`: the Planetoid citation graphs (Cora, CiteSeer) as `.npz` files with
  `features`, `labels`, `edge_index`, `train_index`, `val_index`, `test_index`.
- `load_gin_text(path)`, `load_gin_folds(folder)`: the text format of the GIN paper's code (MUTAG,
  PROTEINS, ...): first line the number of graphs; per graph a line `n label` then n lines
  `tag k nb_1 ... nb_k [f_1 ... f_m]`; and its `10fold_idx/{train,test}_idx-i.txt` folds. A
  separate test file is read with the training file's vocabulary: `load_gin_text(test_path,
  node_tags=train.tag_values, label_values=train.label_values)`.
- `zoo.data.load_tu(folder)` (module `zoo.data.tu`): the TU Dortmund format (DS_A.txt,
  DS_graph_indicator.txt, ...), into the same `GraphClassificationData`, with `edge_features`
  from the edge labels (one-hot, vocabulary `edge_tag_values`) and attributes.

Input for users: `from_edge_list(edges, ...)` and `from_networkx(graph, ...)` (networkx itself is
not needed to import this module).

Batching: `merge_graphs(graphs)` (NumPy, one batch) and `graph_dataset(graphs, labels, batch_size=...)`
(a `tf.data` pipeline: batches of graph indices, then a gather of those graphs from ragged
tensors and a merge that adds the offsets), whose
elements `fit`, `evaluate` and `predict` of the graph models take as they are;
`shard_graph_batch` splits a batch back into shards of whole graphs (one per replica in `zoo.fit`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zoo.errors import InvalidArgumentError

log = logging.getLogger("zoo.data")

NODE_FEATURES = "node_features"
EDGE_INDEX = "edge_index"
EDGE_FEATURES = "edge_features"
NODE_GRAPH_IDS = "node_graph_ids"
GRAPH_BATCH_KEYS = frozenset({NODE_FEATURES, EDGE_INDEX, EDGE_FEATURES, NODE_GRAPH_IDS})


# --------------------------------------------------------------------------------------------------
# Single graphs from user data
# --------------------------------------------------------------------------------------------------


def _as_edge_index(edges, what: str = "edges") -> np.ndarray:
    """[2, E] int array from [E, 2] pairs or a [2, E] array (or an empty list)."""
    array = np.asarray(edges)
    if array.size == 0:
        return np.zeros((2, 0), dtype="int32")
    if array.ndim != 2 or 2 not in array.shape:
        raise InvalidArgumentError(f"{what} must be pairs (sender, receiver): shape [E, 2] or [2, E], got {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        if not np.all(np.equal(np.mod(array, 1), 0)):
            raise InvalidArgumentError(f"{what} must hold integer node ids, got dtype {array.dtype}")
        array = array.astype("int64")
    if array.shape[0] != 2 or array.shape == (2, 2) and isinstance(edges, (list, tuple)):
        array = array.T  # [E, 2] pairs (a 2x2 Python list is taken as two pairs)
    if array.min() < 0:
        raise InvalidArgumentError(f"{what} holds negative node ids; node ids must be >= 0")
    return array.astype("int32")


def _symmetrize(edge_index: np.ndarray, edge_features: np.ndarray | None = None):
    """Both directions of every edge, duplicates removed (the first occurrence's features kept)."""
    both = np.concatenate([edge_index, edge_index[::-1]], axis=1)
    features = None if edge_features is None else np.concatenate([edge_features, edge_features], axis=0)
    _, first = np.unique(both.T, axis=0, return_index=True)
    keep = np.sort(first)
    return both[:, keep], (None if features is None else features[keep])


def check_graph(graph: dict, what: str = "graph") -> dict:
    """A graph dict with the convention's dtypes, its edges sorted by receiver; clear errors for bad
    shapes or ids (NumPy, eager).

    The stable sort by receiver (row 1 of `edge_index`, `edge_features` permuted alike) changes no
    result: it lets the graph layers sum over edges with a sparse-matrix product instead of a gather
    and a segment sum (`layers._sparse_sum`; edges in another order take the slower path)."""
    if not isinstance(graph, dict) or NODE_FEATURES not in graph or EDGE_INDEX not in graph:
        keys = sorted(graph) if isinstance(graph, dict) else type(graph).__name__
        raise InvalidArgumentError(f"{what}: expected a dict with {NODE_FEATURES!r} and {EDGE_INDEX!r}, got {keys}")
    x = np.asarray(graph[NODE_FEATURES], dtype="float32")
    if x.ndim != 2:
        raise InvalidArgumentError(f"{what}: node_features must have shape [num_nodes, feature_size], got {x.shape}")
    edge_index = np.asarray(graph[EDGE_INDEX])
    if edge_index.ndim != 2 or edge_index.shape[0] != 2:
        raise InvalidArgumentError(f"{what}: edge_index must have shape [2, num_edges], got {edge_index.shape}")
    if edge_index.size and not np.issubdtype(edge_index.dtype, np.integer):
        raise InvalidArgumentError(f"{what}: edge_index must hold integers, got dtype {edge_index.dtype}")
    if edge_index.size and edge_index.min() < 0:
        raise InvalidArgumentError(f"{what}: edge_index holds negative node ids")
    if edge_index.size and edge_index.max() >= len(x):
        raise InvalidArgumentError(
            f"{what}: edge_index refers to node {int(edge_index.max())} but node_features has {len(x)} rows"
        )
    order = np.argsort(edge_index[1], kind="stable") if edge_index.size else slice(None)
    out = {NODE_FEATURES: x, EDGE_INDEX: edge_index[:, order].astype("int32")}
    if graph.get(EDGE_FEATURES) is not None:
        e = np.asarray(graph[EDGE_FEATURES], dtype="float32")
        if e.ndim != 2 or len(e) != edge_index.shape[1]:
            raise InvalidArgumentError(
                f"{what}: edge_features must have shape [num_edges={edge_index.shape[1]}, edge_feature_size], got {e.shape}"
            )
        out[EDGE_FEATURES] = e[order]
    return out


def from_edge_list(edges, *, num_nodes: int | None = None, node_features=None, edge_features=None,
                   undirected: bool = True) -> dict:
    """One graph from a list of edges.

    Args:
        edges: pairs `(sender, receiver)` as a list or an [E, 2] array, or a [2, E] array.
        num_nodes: the number of nodes (default: from `node_features`, else the largest id + 1).
        node_features: [N, F] array (default: a column of ones, [N, 1]).
        edge_features: [E, D] array aligned with `edges`.
        undirected: add the reverse of every edge (duplicates dropped). Default True.

    Returns:
        a graph dict (`node_features`, `edge_index`, and `edge_features` when given).

    Example:

    >>> g = from_edge_list([(0, 1), (1, 2)])
    >>> g["edge_index"]
    array([[1, 0, 2, 1], [0, 1, 1, 2]], dtype=int32)
    """
    edge_index = _as_edge_index(edges)
    e = None if edge_features is None else np.asarray(edge_features, dtype="float32")
    if e is not None and (e.ndim != 2 or len(e) != edge_index.shape[1]):
        raise InvalidArgumentError(
            f"edge_features must have shape [num_edges={edge_index.shape[1]}, edge_feature_size], got {e.shape}"
        )
    if undirected:
        edge_index, e = _symmetrize(edge_index, e)
    if node_features is not None:
        x = np.asarray(node_features, dtype="float32")
        if num_nodes is not None and len(x) != num_nodes:
            raise InvalidArgumentError(f"node_features has {len(x)} rows but num_nodes is {num_nodes}")
    else:
        if num_nodes is None:
            num_nodes = int(edge_index.max()) + 1 if edge_index.size else 0
        x = np.ones((num_nodes, 1), dtype="float32")
    graph = {NODE_FEATURES: x, EDGE_INDEX: edge_index}
    if e is not None:
        graph[EDGE_FEATURES] = e
    return check_graph(graph)


def _attribute_matrix(items, names, what: str, default_ones: bool):
    """Rows of the named numeric attributes of (key, data) items; ones [n, 1] when names is None."""
    items = list(items)
    if names is None:
        return np.ones((len(items), 1), dtype="float32") if default_ones else None
    names = [names] if isinstance(names, str) else list(names)
    rows = []
    for key, data in items:
        row = []
        for name in names:
            if name not in data:
                raise InvalidArgumentError(f"{what} {key!r} has no attribute {name!r}")
            row.extend(np.ravel(np.asarray(data[name], dtype="float32")))
        rows.append(row)
    width = len(rows[0]) if rows else len(names)
    if any(len(r) != width for r in rows):
        raise InvalidArgumentError(f"the {what} attributes {names} do not have the same size everywhere")
    return np.asarray(rows, dtype="float32").reshape(len(rows), width)


def from_networkx(graph, *, node_features=None, edge_features=None) -> dict:
    """One graph from a networkx graph (networkx is not imported by this module).

    Nodes are numbered in `graph.nodes` order. An undirected graph gives both directions of every
    edge; a directed one its edges as they are.

    Args:
        graph: a `networkx.Graph` / `DiGraph` (any object with `nodes(data=True)`, `edges(data=True)`
            and `is_directed()`).
        node_features: a node attribute name (or list of names) whose numeric values (scalars or
            vectors) make the node features; default None gives a column of ones.
        edge_features: the same for edges; default None gives no edge features.

    Example:

    >>> import networkx as nx
    >>> g = from_networkx(nx.karate_club_graph())
    >>> g["node_features"].shape, g["edge_index"].shape
    ((34, 1), (2, 156))
    """
    if not all(hasattr(graph, a) for a in ("nodes", "edges", "is_directed")):
        raise InvalidArgumentError(f"from_networkx expects a networkx graph, got {type(graph).__name__}")
    nodes = list(graph.nodes(data=True))
    index = {key: i for i, (key, _) in enumerate(nodes)}
    x = _attribute_matrix(nodes, node_features, "node", default_ones=True)
    edges = list(graph.edges(data=True))
    pairs = np.array([(index[u], index[v]) for u, v, _ in edges], dtype="int32").reshape(-1, 2)
    e = _attribute_matrix((((u, v), d) for u, v, d in edges), edge_features, "edge", default_ones=False)
    edge_index = pairs.T
    if not graph.is_directed():
        edge_index = np.concatenate([edge_index, edge_index[::-1]], axis=1)
        e = None if e is None else np.concatenate([e, e], axis=0)
    out = {NODE_FEATURES: x, EDGE_INDEX: edge_index}
    if e is not None:
        out[EDGE_FEATURES] = e
    return check_graph(out, "networkx graph")


# --------------------------------------------------------------------------------------------------
# Batching
# --------------------------------------------------------------------------------------------------


def edge_feature_size(graphs) -> int:
    """D of the `edge_features` [e, D] that every graph has, 0 when none has them; an error when only
    some have them or their sizes differ."""
    sizes = {None if g.get(EDGE_FEATURES) is None else int(np.shape(g[EDGE_FEATURES])[-1]) for g in graphs}
    if sizes == {None} or not sizes:
        return 0
    if None in sizes:
        raise InvalidArgumentError("some graphs have edge_features and some do not")
    if len(sizes) > 1:
        raise InvalidArgumentError(f"the graphs have different edge feature sizes: {sorted(sizes)}")
    return sizes.pop()


def merge_graphs(graphs) -> dict:
    """Many graphs as one batch (NumPy): nodes and edges concatenated, edge ids offset per graph.

    Returns a graph batch dict with `node_graph_ids` (graph i's nodes have id i) and
    `edge_features` when every graph has them.
    """
    graphs = [check_graph(g, f"graph {i}") for i, g in enumerate(graphs)]
    if not graphs:
        raise InvalidArgumentError("merge_graphs needs at least one graph")
    sizes = np.array([len(g[NODE_FEATURES]) for g in graphs], dtype="int32")
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype("int32")
    widths = {g[NODE_FEATURES].shape[1] for g in graphs}
    if len(widths) > 1:
        raise InvalidArgumentError(f"the graphs have different node feature sizes: {sorted(widths)}")
    batch = {
        NODE_FEATURES: np.concatenate([g[NODE_FEATURES] for g in graphs], axis=0),
        EDGE_INDEX: np.concatenate([g[EDGE_INDEX] + o for g, o in zip(graphs, offsets)], axis=1).astype("int32"),
        NODE_GRAPH_IDS: np.repeat(np.arange(len(graphs), dtype="int32"), sizes),
    }
    with_edges = [EDGE_FEATURES in g for g in graphs]
    if any(with_edges):
        if not all(with_edges):
            raise InvalidArgumentError("some graphs have edge_features and some do not")
        batch[EDGE_FEATURES] = np.concatenate([g[EDGE_FEATURES] for g in graphs], axis=0)
    return batch


def shard_graph_batch(batch: dict, targets: tuple, index, num_shards: int):
    """Shard `index` of `num_shards` of a graph batch, split by whole graphs (TensorFlow ops, for tf.data).

    The batch's G graphs (numbered by `node_graph_ids`) are split into `num_shards` runs of graph ids
    whose sizes differ by at most one: shard k holds graphs [k*G // S, (k+1)*G // S). Its nodes keep
    their order, its edges are those whose sender it holds (a batch never links two graphs), and node
    and graph ids are renumbered from 0. Shards together are exactly the batch. A batch of fewer
    graphs than shards (a single graph, the last small batch) cannot be split: every shard is then
    the whole batch (`layers.message_passing.count_graphs(ids) < num_shards` tells; zoo.fit then
    gives each copy 1/num_shards of the sample weights, so the batch counts once).

    Args:
        batch: a graph batch dict with `node_graph_ids` [N]; `node_features` [N, F], `edge_index`
            [2, E], optional `edge_features` [E, D].
        targets: labels, sample weights, ...: each with one row per graph [G, ...] or one row per
            node [N, ...] (node classification over a batch of graphs).
        index: which shard (int or int32 scalar tensor), 0 <= index < num_shards.
        num_shards: how many.

    Returns:
        (shard batch dict, *targets of the shard).
    """
    import tensorflow as tf

    from layers.message_passing import count_graphs

    ids = batch[NODE_GRAPH_IDS]
    num_nodes = tf.shape(ids, out_type=ids.dtype)[0]
    num_graphs = count_graphs(ids)
    index = tf.cast(index, ids.dtype)
    split = num_graphs >= num_shards
    first = tf.where(split, index * num_graphs // num_shards, tf.zeros_like(num_graphs))
    last = tf.where(split, (index + 1) * num_graphs // num_shards, num_graphs)
    keep = (ids >= first) & (ids < last)  # [N]
    position = tf.cumsum(tf.cast(keep, batch[EDGE_INDEX].dtype)) - 1  # a kept node's index in the shard
    keep_edge = tf.gather(keep, batch[EDGE_INDEX][0])  # [E]
    shard = {
        NODE_FEATURES: tf.boolean_mask(batch[NODE_FEATURES], keep),
        EDGE_INDEX: tf.gather(position, tf.boolean_mask(batch[EDGE_INDEX], keep_edge, axis=1)),
        NODE_GRAPH_IDS: tf.boolean_mask(ids, keep) - first,
    }
    if EDGE_FEATURES in batch:
        shard[EDGE_FEATURES] = tf.boolean_mask(batch[EDGE_FEATURES], keep_edge)

    def rows(target):
        target = tf.convert_to_tensor(target)
        per_node = tf.cast(tf.shape(target)[0], ids.dtype) == num_nodes
        return tf.cond(per_node, lambda: tf.boolean_mask(target, keep), lambda: target[first:last])

    return (shard, *(rows(target) for target in targets))


def _ragged_graphs(graphs):
    """The graphs as ragged tensors [G, (n), F], [G, (e), 2] (and [G, (e), D])."""
    import tensorflow as tf

    graphs = [check_graph(g, f"graph {i}") for i, g in enumerate(graphs)]
    if not graphs:
        raise InvalidArgumentError("graph_dataset needs at least one graph")
    merged = merge_graphs(graphs)
    node_counts = np.array([len(g[NODE_FEATURES]) for g in graphs], dtype="int64")
    edge_counts = np.array([g[EDGE_INDEX].shape[1] for g in graphs], dtype="int64")
    local_edges = np.concatenate([g[EDGE_INDEX] for g in graphs], axis=1).T  # [sum e, 2], per-graph ids
    element = {
        NODE_FEATURES: tf.RaggedTensor.from_row_lengths(merged[NODE_FEATURES], node_counts),
        "edges": tf.RaggedTensor.from_row_lengths(local_edges.astype("int32"), edge_counts),
    }
    if EDGE_FEATURES in merged:
        element[EDGE_FEATURES] = tf.RaggedTensor.from_row_lengths(merged[EDGE_FEATURES], edge_counts)
    return element


def _merge_ragged_batch(element):
    """tf.data map: a ragged batch of graphs -> one graph batch dict with offsets added."""
    import tensorflow as tf

    x = element[NODE_FEATURES]  # [B, (n), F]
    edges = element["edges"]  # [B, (e), 2]
    node_counts = tf.cast(x.row_lengths(), tf.int32)
    offsets = tf.cumsum(node_counts, exclusive=True)
    edge_graph = tf.cast(edges.value_rowids(), tf.int32)
    global_edges = edges.values + tf.gather(offsets, edge_graph)[:, None]
    batch = {
        NODE_FEATURES: x.values,
        EDGE_INDEX: tf.transpose(global_edges),
        NODE_GRAPH_IDS: tf.cast(x.value_rowids(), tf.int32),
    }
    if EDGE_FEATURES in element:
        batch[EDGE_FEATURES] = element[EDGE_FEATURES].values
    return batch


def graph_dataset(graphs, labels=None, *, batch_size: int = 32, shuffle: bool = False, seed: int | None = None,
                  drop_remainder: bool = False, repeat: bool = False):
    """A `tf.data.Dataset` of graph batches (many graphs merged into one batch with offsets).

    The pipeline holds all graphs as ragged tensors ([G, (n), F] nodes, [G, (e), 2] edges), and
    runs over graph indices: (optionally) shuffled, grouped into batches of `batch_size`, then one
    `map` gathers the graphs of each batch and merges them: nodes and edges concatenated, each
    graph's node offset added to its edge ids, `node_graph_ids` numbering the graphs of the batch
    0..B-1. N and E vary from batch to batch (the element spec has None sizes), so a model traces
    once. The graphs are held in memory (as constants of the pipeline).

    Args:
        graphs: a list of graph dicts (`node_features`, `edge_index`, optional `edge_features`).
        labels: per-graph labels (any array with one row per graph), or None.
        batch_size: graphs per batch.
        shuffle: reshuffle the graphs every epoch (with `seed`).
        seed: the shuffle seed.
        drop_remainder: drop a last, smaller batch.
        repeat: repeat forever (then pass `steps_per_epoch` to fit).

    Returns:
        a dataset of `(batch, labels)` (or `batch` when labels is None), where batch is a dict
        `node_features` [N, F] float32, `edge_index` [2, E] int32, `node_graph_ids` [N] int32
        (and `edge_features` [E, D]); labels [B, ...].

    Example:

    >>> data = load_gin_text("MUTAG/MUTAG.txt")
    >>> model.fit(graph_dataset(data.graphs, data.labels, batch_size=32, shuffle=True, seed=0), epochs=100)
    """
    import tensorflow as tf

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidArgumentError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    graphs = list(graphs)
    take = graph_taker(graphs, labels)
    dataset = tf.data.Dataset.range(len(graphs))
    if shuffle:
        dataset = dataset.shuffle(len(graphs), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    dataset = dataset.map(take, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def graph_taker(graphs: list, labels):
    """A tf.data map `indices [B] int64 -> batch` (or `(batch, labels [B])`) over `graphs` held as
    constants: the graphs of `indices` merged into one batch, as `graph_dataset`'s elements."""
    import tensorflow as tf

    element = _ragged_graphs(graphs)
    if labels is not None:
        labels = np.asarray(labels)
        if len(labels) != len(graphs):
            raise InvalidArgumentError(f"got {len(labels)} labels for {len(graphs)} graphs")
        labels = tf.constant(labels)

    def take(indices):
        batch = _merge_ragged_batch({key: tf.gather(value, indices) for key, value in element.items()})
        return batch if labels is None else (batch, tf.gather(labels, indices))

    return take


# --------------------------------------------------------------------------------------------------
# Planetoid citation graphs (.npz)
# --------------------------------------------------------------------------------------------------


@dataclass
class NodeClassificationData:
    """One graph whose nodes are classified, with its train / validation / test split.

    Attributes:
        graph: the graph dict (`node_features` [N, F], `edge_index` [2, E]).
        labels: int32 [N]; -1 marks unlabelled nodes (e.g. CiteSeer's isolated ones).
        train_index, val_index, test_index: int32 node ids of each split.
        name: the data set's name.
    """

    graph: dict
    labels: np.ndarray
    train_index: np.ndarray
    val_index: np.ndarray
    test_index: np.ndarray
    name: str = ""

    @property
    def num_nodes(self) -> int:
        return len(self.labels)

    @property
    def num_features(self) -> int:
        return int(self.graph[NODE_FEATURES].shape[1])

    @property
    def num_classes(self) -> int:
        return int(self.labels.max()) + 1

    def mask(self, split: str) -> np.ndarray:
        """float32 [N]: 1 for the nodes of `split` ("train", "val" or "test"), else 0."""
        index = {"train": self.train_index, "val": self.val_index, "test": self.test_index}.get(split)
        if index is None:
            raise InvalidArgumentError(f"split must be 'train', 'val' or 'test', got {split!r}")
        mask = np.zeros(self.num_nodes, dtype="float32")
        mask[index] = 1.0
        return mask

    def dataset(self, split: str):
        """A one-element `tf.data.Dataset` `(graph, labels, sample_weight)` for `fit` / `evaluate`.

        The element is the whole graph; the sample weights are N / n_split on the nodes of `split`
        and 0 elsewhere, so Keras' loss (a weighted sum divided by N) is the mean loss over the
        split's nodes, and weighted metrics (`weighted_metrics=["accuracy"]`) count only them.
        Unlabelled nodes get label 0 with weight 0.
        """
        import tensorflow as tf

        labels = np.where(self.labels < 0, 0, self.labels).astype("int32")
        mask = self.mask(split)
        weights = (mask * (len(mask) / max(mask.sum(), 1.0))).astype("float32")
        return tf.data.Dataset.from_tensors((self.graph, labels, weights))


def load_planetoid(path: str | os.PathLike, *, normalize_features: bool = False) -> NodeClassificationData:
    """Read a Planetoid citation graph (Cora, CiteSeer, PubMed) from an `.npz` file.

    The file has `features` [N, F], `labels` [N] (-1: unlabelled), `edge_index` [2, E] (both
    directions of every undirected edge) and the standard split `train_index`, `val_index`,
    `test_index` (Yang et al. 2016; 20 labelled nodes per class).

    Args:
        path: the `.npz` file.
        normalize_features: divide each feature row by its sum (Kipf & Welling's preprocessing).

    Returns:
        a `NodeClassificationData`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Planetoid file not found: {str(path)!r}")
    with np.load(path) as f:
        missing = {"features", "labels", "edge_index", "train_index", "val_index", "test_index"} - set(f.files)
        if missing:
            raise InvalidArgumentError(f"{str(path)!r} is not a Planetoid .npz file: it lacks {sorted(missing)}")
        x = f["features"].astype("float32")
        if normalize_features:
            total = x.sum(axis=1, keepdims=True)
            x = np.divide(x, total, out=np.zeros_like(x), where=total > 0)
        graph = check_graph({NODE_FEATURES: x, EDGE_INDEX: f["edge_index"]}, str(path))
        return NodeClassificationData(
            graph=graph,
            labels=f["labels"].astype("int32"),
            train_index=f["train_index"].astype("int32"),
            val_index=f["val_index"].astype("int32"),
            test_index=f["test_index"].astype("int32"),
            name=path.stem,
        )


# --------------------------------------------------------------------------------------------------
# The GIN text format
# --------------------------------------------------------------------------------------------------


@dataclass
class GraphClassificationData:
    """Many small graphs, each with a class.

    Attributes:
        graphs: graph dicts (`node_features` [n, F]: the one-hot node tag, then any continuous
            features; `edge_index` [2, e]).
        labels: int32 [G], 0..num_classes-1.
        label_values: the file's label of each class index (the file's own, sorted, or the
            `label_values` it was read with).
        tag_values: the node tag of each one-hot column (the file's own, sorted, or the
            `node_tags` it was read with).
        name: the data set's name.
        edge_tag_values: the edge tag (TU edge label, e.g. bond type) of each one-hot column of
            `edge_features` (the files' own, sorted, or the `edge_tags` they were read with);
            empty when the graphs have no edge labels.
    """

    graphs: list
    labels: np.ndarray
    label_values: list = field(default_factory=list)
    tag_values: list = field(default_factory=list)
    name: str = ""
    edge_tag_values: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.graphs)

    @property
    def num_classes(self) -> int:
        return len(self.label_values)

    @property
    def num_features(self) -> int:
        return int(self.graphs[0][NODE_FEATURES].shape[1])

    @property
    def edge_feature_size(self) -> int:
        """D of the graphs' `edge_features` [e, D], 0 when they have none."""
        return edge_feature_size(self.graphs)

    def subset(self, indices) -> "GraphClassificationData":
        indices = np.asarray(indices, dtype="int64")
        return GraphClassificationData(
            graphs=[self.graphs[i] for i in indices],
            labels=self.labels[indices],
            label_values=self.label_values,
            tag_values=self.tag_values,
            name=self.name,
            edge_tag_values=self.edge_tag_values,
        )

    def dataset(self, indices=None, *, batch_size: int = 32, shuffle: bool = False, seed: int | None = None):
        """`graph_dataset` of these graphs (or of `indices`) with their labels."""
        data = self if indices is None else self.subset(indices)
        return graph_dataset(data.graphs, data.labels, batch_size=batch_size, shuffle=shuffle, seed=seed)


def _gin_file(path: Path) -> Path:
    if path.is_dir():
        candidate = path / f"{path.name}.txt"
        if candidate.is_file():
            return candidate
        texts = sorted(path.glob("*.txt"))
        if len(texts) == 1:
            return texts[0]
        raise FileNotFoundError(f"no GIN text file in {str(path)!r}: expected {candidate.name}")
    if not path.is_file():
        raise FileNotFoundError(f"GIN text file not found: {str(path)!r}")
    return path


def _number(token: str):
    value = float(token)
    return int(value) if value.is_integer() else value


def load_gin_text(path: str | os.PathLike, *, continuous_features: bool = True, undirected: bool = True,
                  node_tags=None, label_values=None) -> GraphClassificationData:
    """Read graphs in the text format of the GIN paper's code (MUTAG.txt, PROTEINS.txt, ...).

    Node features are the one-hot node tag (one column per tag of the vocabulary), followed by the
    node's continuous features when the file has them and `continuous_features` is True. Labels
    are mapped to 0..C-1 (`label_values` keeps the file's labels).

    The vocabulary is the file's own (its tags and labels, sorted) unless `node_tags` /
    `label_values` give another: read a separate test or validation file with the training file's,
    or the same tag lands in different columns (and the same label on different classes) in the
    two, silently:

    >>> train = load_gin_text("train.txt")
    >>> test = load_gin_text("test.txt", node_tags=train.tag_values, label_values=train.label_values)

    Args:
        path: the `.txt` file, or its folder (`MUTAG/` reads `MUTAG/MUTAG.txt`).
        continuous_features: append the optional per-node features `f_1 ... f_m`.
        undirected: make every edge go both ways (duplicates dropped), as the GIN code does
            (it builds a networkx `Graph`). Default True.
        node_tags: the tag of each one-hot column, in order (e.g. the training set's
            `tag_values`); default: the file's distinct tags, sorted. A node whose tag is not
            among them gets an all-zero one-hot row, and one warning (logger `zoo.data`) says how
            many nodes and which tags.
        label_values: the label of each class index (e.g. the training set's `label_values`);
            default: the file's distinct labels, sorted. A label not among them is an error.

    Returns:
        a `GraphClassificationData` (`tag_values` and `label_values`: the vocabulary used).

    Raises:
        FileNotFoundError: no such file or folder.
        InvalidArgumentError: the file breaks the format (the message names the graph and line),
            `node_tags` / `label_values` that are empty, repeat a value or are not numbers, or a
            graph label not in `label_values`.
    """
    path = _gin_file(Path(path))
    with open(path) as f:
        lines = [line.split() for line in f if line.strip()]
    where = str(path)
    try:
        count = int(lines[0][0])
    except (IndexError, ValueError):
        raise InvalidArgumentError(f"{where}: the first line must be the number of graphs") from None
    raw = []
    row = 1
    for g in range(count):
        try:
            n, label = int(lines[row][0]), _number(lines[row][1])
        except (IndexError, ValueError):
            raise InvalidArgumentError(f"{where}: graph {g}: expected a line 'n label' at line {row + 1}") from None
        row += 1
        tags, pairs, extra = [], [], []
        for v in range(n):
            if row >= len(lines):
                raise InvalidArgumentError(f"{where}: graph {g} is cut short: expected {n} node lines")
            tokens = lines[row]
            row += 1
            try:
                tag, k = _number(tokens[0]), int(tokens[1])
                neighbours = [int(t) for t in tokens[2:2 + k]]
                values = [float(t) for t in tokens[2 + k:]]
            except (IndexError, ValueError):
                raise InvalidArgumentError(f"{where}: graph {g}, node {v}: bad line {' '.join(tokens)!r}") from None
            if len(neighbours) != k or any(u < 0 or u >= n for u in neighbours):
                raise InvalidArgumentError(
                    f"{where}: graph {g}, node {v}: expected {k} neighbour ids in [0, {n}), got {neighbours}"
                )
            tags.append(tag)
            extra.append(values)
            pairs.extend((u, v) for u in neighbours)
        raw.append((label, tags, pairs, extra))
    if row != len(lines):
        raise InvalidArgumentError(f"{where}: {len(lines) - row} lines left after the {count} graphs")

    tag_values = _vocabulary(node_tags, {t for _, tags, _, _ in raw for t in tags}, "node_tags")
    label_values = _vocabulary(label_values, {label for label, _, _, _ in raw}, "label_values")
    tag_pos = {t: i for i, t in enumerate(tag_values)}
    label_pos = {label: i for i, label in enumerate(label_values)}
    unknown_labels = sorted({label for label, _, _, _ in raw} - set(label_pos))
    if unknown_labels:
        count = sum(label not in label_pos for label, _, _, _ in raw)
        raise InvalidArgumentError(
            f"{where}: {count} graph(s) have labels {_listed(unknown_labels)} that are not in label_values "
            f"{_listed(label_values)} (a graph of another class cannot be encoded); pass the label_values of the "
            f"data these classes belong to, or leave label_values out to use the file's own")
    _warn_unknown_tags(where, [tags for _, tags, _, _ in raw], tag_pos)
    widths = {len(e) for _, _, _, extra in raw for e in extra}
    use_extra = continuous_features and widths != {0}
    if use_extra and len(widths) != 1:
        raise InvalidArgumentError(f"{where}: nodes have different numbers of continuous features: {sorted(widths)}")
    graphs = []
    for label, tags, pairs, extra in raw:
        x = np.zeros((len(tags), len(tag_values)), dtype="float32")
        known = [v for v, t in enumerate(tags) if t in tag_pos]  # unknown tags: all-zero rows
        x[known, [tag_pos[tags[v]] for v in known]] = 1.0
        if use_extra:
            x = np.concatenate([x, np.asarray(extra, dtype="float32").reshape(len(tags), -1)], axis=1)
        edge_index = np.asarray(pairs, dtype="int32").reshape(-1, 2).T
        if undirected and edge_index.size:
            edge_index, _ = _symmetrize(edge_index)
        graphs.append({NODE_FEATURES: x, EDGE_INDEX: edge_index.astype("int32")})
    labels = np.array([label_pos[label] for label, _, _, _ in raw], dtype="int32")
    return GraphClassificationData(graphs, labels, label_values, tag_values, name=path.stem)


_VOCABULARY_ATTRIBUTES = {"node_tags": "tag_values", "edge_tags": "edge_tag_values"}


def _vocabulary(given, found: set, what: str) -> list:
    """The values of a graph reader's vocabulary (GIN text, TU): `given` (tags or labels as numbers, in
    order) or the values `found` in the files, sorted."""
    if given is None:
        return sorted(found)
    if isinstance(given, (str, bytes)) or not hasattr(given, "__iter__"):
        raise InvalidArgumentError(f"{what} must be a sequence of values (e.g. the training set's "
                                   f"{_VOCABULARY_ATTRIBUTES.get(what, what)}), got {given!r}")
    values = []
    for value in given:
        number = _as_number(value)
        if number is None:
            raise InvalidArgumentError(f"{what} must hold numbers (as written in the data files), got {value!r}")
        values.append(number)
    if not values:
        raise InvalidArgumentError(f"{what} is empty: give at least one value, or None for the file's own")
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise InvalidArgumentError(f"{what} lists {_listed(repeated)} more than once")
    return values


def _as_number(value):
    """A tag or label given by the caller (int, float, NumPy scalar or numeric string) as the reader
    parses the file's (`_number`), or None."""
    if isinstance(value, (bool, np.bool_)):
        return None
    try:
        return _number(str(value))
    except ValueError:
        return None


def _listed(values, most: int = 10) -> str:
    """`[a, b, ...]` with at most `most` values and how many more."""
    values = list(values)
    shown = ", ".join(str(v) for v in values[:most])
    return f"[{shown}{f', ... ({len(values) - most} more)' if len(values) > most else ''}]"


def _warn_unknown_tags(where: str, graph_tags: list, tag_pos: dict, items: str = "node") -> None:
    """One warning for the nodes (or edges, items="edge") whose tag is not in the vocabulary (their
    one-hot rows are zero)."""
    unknown = [sum(t not in tag_pos for t in tags) for tags in graph_tags]
    count = sum(unknown)
    if not count:
        return
    tags = sorted({t for tags in graph_tags for t in tags if t not in tag_pos})
    log.warning("%s: %d of the %d %ss (in %d of the %d graphs) have %s tags not in %s_tags %s: %s; "
                "their one-hot %s features are all zero", where, count, sum(map(len, graph_tags)), items,
                sum(n > 0 for n in unknown), len(graph_tags), items, items, _listed(list(tag_pos)), _listed(tags),
                items)


def load_gin_folds(folder: str | os.PathLike, num_folds: int = 10) -> list[tuple[np.ndarray, np.ndarray]]:
    """The cross-validation folds of the GIN code: `[(train_indices, test_indices), ...]`.

    Reads `train_idx-i.txt` / `test_idx-i.txt` (i = 1..num_folds) from `folder` or from its
    `10fold_idx/` subfolder; each holds one 0-based graph index per line.
    """
    folder = Path(folder)
    if (folder / "10fold_idx").is_dir():
        folder = folder / "10fold_idx"
    folds = []
    for i in range(1, num_folds + 1):
        pair = []
        for part in ("train", "test"):
            file = folder / f"{part}_idx-{i}.txt"
            if not file.is_file():
                raise FileNotFoundError(f"fold file not found: {str(file)!r}")
            pair.append(np.loadtxt(file, dtype="int64", ndmin=1))
        folds.append(tuple(pair))
    return folds
