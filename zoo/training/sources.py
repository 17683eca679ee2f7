"""What a user passes as data, read once: the one dispatcher behind `zoo.fit`, `zoo.evaluate` and `zoo train`.

`read_source(data)` accepts every form the zoo reads and returns a `DataSource`: how to batch it
(`training_data(batch_size, shuffle, seed)`) and what it says about the model to build for it (the
number of classes, the input shape, the task, the class names). The forms:

| data | read as |
| --- | --- |
| a `tf.data.Dataset` of `(inputs, labels[, weights])` batches | used as given (batch it yourself) |
| `(x, y)` arrays (x may be a dict of arrays) | examples, shuffled per epoch |
| `(graph_dict, node_labels)` | node classification on one graph; label -1 = unlabelled |
| `(graph_batch_dict, graph_labels)` (with `node_graph_ids`) | one batch of graphs, graph labels |
| `(list_of_graph_dicts, labels)` / `(list_of_networkx_graphs, labels)` | graph classification, batched |
| `(networkx_graph, node_labels)` | node classification on one graph (features: attribute "features") |
| `(list_of_arrays_of_different_lengths, labels)` | sequences, padded at the end |
| `TimeSeriesData` / a `.ts` file | sequences, padded at the end |
| `NodeClassificationData` / a Planetoid `.npz` | its train split, validated on its val split |
| `GraphClassificationData` / a GIN text file or folder / a TU folder (`DS_A.txt`, ...) | graph classification, batched |
| a folder of images (one sub-folder per class) | listed, not decoded: `zoo.fit` streams it at the model's input size (`zoo.training.image_folders`) |
| a `.npz` with `x`/`y` (or `images`/`labels`, `x_train`/`y_train`) | examples |

Validation data read for training data (`read_source(validation_data, training=source)`) is
encoded as the training data was: a `.ts` file's labels through the training data's class names,
a GIN text file's node tags and labels through the training file's vocabulary (`tag_values`,
`label_values`; a TU set's also its edge tags, `edge_tag_values`; `DataSource.vocabulary`), and
an in-memory set with another vocabulary is an error rather than columns and classes that
silently mean something else.

Arrays and graph lists are reshuffled every epoch with a fixed seed (the order of epoch e depends only
on (seed, e)), so a resumed run sees the same order as the original and can skip what it trained.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from zoo.data.graphs import edge_feature_size
from zoo.data.tu import is_tu
from zoo.errors import InvalidArgumentError
from zoo.training.data import (
    TrainingData,
    arrays_training_data,
    check_batch_size,
    index_batches,
    single_batch,
    user_dataset,
)

NODE_FEATURES, EDGE_INDEX, NODE_GRAPH_IDS = "node_features", "edge_index", "node_graph_ids"


@dataclass
class DataSource:
    """Data as read from what the user passed, not batched yet.

    Attributes:
        training_data: `(batch_size, shuffle, seed) -> TrainingData`.
        kind: what was read: "dataset", "arrays", "images", "sequences", "node_graph", "graphs".
        num_classes: the number of classes the labels imply (max label + 1), or None if unknown.
        input_shape: the per-example input shape for `zoo.build` (images (h, w, c), sequences
            (None, channels), graphs (node_features,)), or None if unknown.
        overrides: `zoo.build` options the data implies (graphs: {"task": "node"} or {"task": "graph"}).
        class_names: the name of each class index, when the data names them, else None.
        labels: integer class labels to check against the model's outputs, when known.
        validation: the validation split the data itself defines (a Planetoid graph's val nodes), or None.
        test: the test split the data itself defines (what `zoo.evaluate` uses), or None.
        description: one line saying what was read, e.g. "GIN text file MUTAG.txt: 188 graphs".
        vocabulary: how the data's values were encoded, as keyword arguments of its reader, so that
            its validation data is read the same way: time series {"class_names": (...)}, GIN
            graphs {"node_tags": [...], "label_values": [...]}, TU graphs also {"edge_tags": [...]};
            empty for other data.
        edge_feature_size: graphs: D of their `edge_features` [E, D], 0 when they have none; None
            for other data, or a dataset whose elements do not say.
    """

    training_data: Callable[[int, bool, int], TrainingData]
    kind: str
    num_classes: int | None = None
    input_shape: tuple | None = None
    overrides: dict = field(default_factory=dict)
    class_names: tuple | None = None
    labels: np.ndarray | None = None
    validation: "DataSource | None" = None
    test: "DataSource | None" = None
    description: str = ""
    vocabulary: dict = field(default_factory=dict)
    edge_feature_size: int | None = None


def read_source(data, *, name: str = "data", training: DataSource | None = None) -> DataSource:
    """Read `data` (any form of the module docstring) into a DataSource.

    Args:
        data: what the user passed.
        name: how errors call it ("data", "validation_data").
        training: the training data's source, when reading its validation data: a `.ts` file maps
            its labels through the training data's class names, a GIN text file one-hot encodes
            its node tags and maps its labels through the training file's vocabulary.

    Raises:
        InvalidArgumentError / FileNotFoundError: data the zoo cannot read, saying what it got and
        what it accepts; validation data (in memory) encoded with another vocabulary than `training`.
    """
    source = _read(data, name=name, vocabulary=training.vocabulary if training is not None else {})
    if training is not None:
        _check_vocabulary(source, training, name)
    return source


def _check_vocabulary(source: DataSource, training: DataSource, name: str) -> None:
    """Validation data encoded with the training data's vocabulary (class names, node tags, labels)."""
    keys = [key for key in source.vocabulary if key in training.vocabulary
            and list(source.vocabulary[key]) != list(training.vocabulary[key])]
    if not keys:
        return
    own = " and ".join(f"{key} {list(source.vocabulary[key])[:20]}" for key in keys)
    expected = " and ".join(f"{key} {list(training.vocabulary[key])[:20]}" for key in keys)
    how = ("zoo.data.load_ts(path, class_names=train.class_names)" if keys == ["class_names"] else
           "zoo.data.load_tu(path, node_tags=train.tag_values, edge_tags=train.edge_tag_values, "
           "label_values=train.label_values)" if "edge_tags" in training.vocabulary else
           "zoo.data.load_gin_text(path, node_tags=train.tag_values, label_values=train.label_values)")
    raise InvalidArgumentError(
        f"{name} was encoded with {own}, but the training data with {expected}: a feature column or class index "
        f"would mean different things in the two. Read it with the training data's vocabulary ({how}), or pass "
        f"its path, which is read that way")


def _read(data, *, name: str, vocabulary: dict) -> DataSource:
    import tensorflow as tf

    from zoo.data.graphs import GraphClassificationData, NodeClassificationData
    from zoo.data.timeseries import TimeSeriesData

    if isinstance(data, DataSource):
        return data
    if isinstance(data, tf.data.Dataset):
        return DataSource(lambda batch_size, shuffle, seed: user_dataset(data), "dataset",
                          description="a tf.data.Dataset, used as given",
                          edge_feature_size=_dataset_edge_feature_size(data))
    if isinstance(data, (str, os.PathLike)):
        return _read_path(os.fspath(data), name=name, vocabulary=vocabulary)
    if isinstance(data, TimeSeriesData):
        source = _sequences(data.series, data.labels, class_names=tuple(data.class_names) or None, name=name,
                            description=f"time series {data.problem_name or ''}: {len(data)} series".replace(" :", ":"))
        source.vocabulary = {"class_names": tuple(data.class_names)} if data.class_names else {}
        return source
    if isinstance(data, NodeClassificationData):
        return _planetoid(data)
    if isinstance(data, GraphClassificationData):
        source = _graph_list(data.graphs, data.labels, name=name, num_classes=data.num_classes,
                             class_names=tuple(str(v) for v in data.label_values) or None,
                             description=f"graph classification set {data.name}: {len(data)} graphs")
        source.vocabulary = {key: list(values) for key, values in
                             (("node_tags", data.tag_values), ("edge_tags", data.edge_tag_values),
                              ("label_values", data.label_values)) if values}
        return source
    if isinstance(data, tuple) and len(data) == 2:
        return _pair(*data, name=name)
    raise InvalidArgumentError(
        f"{name} must be a tf.data.Dataset, a tuple (inputs, labels) of arrays, a graph dict, graphs or series, a "
        f"zoo.data set (TimeSeriesData, NodeClassificationData, GraphClassificationData), or a path to an image "
        f"folder, a .npz, a .ts file, a GIN text file or a TU folder; got {type(data).__name__}"
    )


def as_training_data(data, *, batch_size: int, shuffle: bool = True, seed: int = 0, name: str = "data") -> TrainingData:
    """`read_source(data).training_data(...)`: batched data for one epoch at a time."""
    return read_source(data, name=name).training_data(batch_size, shuffle, seed)


# --------------------------------------------------------------------------------------------------
# In-memory forms
# --------------------------------------------------------------------------------------------------


def _pair(x, y, *, name: str) -> DataSource:
    """A tuple (inputs, labels): arrays, one graph, a graph batch, a list of graphs or of series."""
    if _is_networkx(x):
        return _one_graph(_from_networkx(x), y, name=name, what="networkx graph")
    if isinstance(x, dict) and NODE_FEATURES in x and EDGE_INDEX in x:
        return _one_graph(x, y, name=name, what="graph dict")
    if isinstance(x, (list, tuple)) and x and all(isinstance(g, dict) or _is_networkx(g) for g in x):
        return _graph_list(x, y, name=name)
    if isinstance(x, (list, tuple)) and x and _lengths_differ(x):
        return _sequences(x, y, name=name)
    return _arrays(x, y, name=name)


def _arrays(x, y, *, name: str, class_names=None, kind: str = "arrays", description: str = "") -> DataSource:
    x = {k: np.asarray(v) for k, v in x.items()} if isinstance(x, dict) else np.asarray(x)
    y = np.asarray(y)
    lengths = {k: len(v) for k, v in x.items()} if isinstance(x, dict) else {"x": len(x)}
    if any(n != len(y) for n in lengths.values()):
        raise InvalidArgumentError(f"{name}: inputs and labels differ in length: {lengths} vs {len(y)} labels")
    if len(y) == 0:
        raise InvalidArgumentError(f"{name} is empty")
    shape = None if isinstance(x, dict) else tuple(x.shape[1:])
    return DataSource(
        lambda batch_size, shuffle, seed: arrays_training_data(x, y, batch_size=batch_size, shuffle=shuffle, seed=seed),
        kind, num_classes=_num_classes(y), input_shape=shape, class_names=class_names,
        labels=y if np.issubdtype(y.dtype, np.integer) else None,
        description=description or f"{len(y)} examples of shape {shape}",
    )


def _sequences(series, labels, *, name: str, class_names=None, description: str = "") -> DataSource:
    """Series of possibly different lengths, padded at the end with zeros to the longest."""
    from zoo.data.timeseries import pad_sequences

    if labels is None:
        raise InvalidArgumentError(f"{name}: the series have no class labels to train on")
    x, _ = pad_sequences(series)
    source = _arrays(x, labels, name=name, class_names=class_names, kind="sequences",
                     description=description or f"{len(x)} series of up to {x.shape[1]} steps")
    source.input_shape = (None, x.shape[-1])
    return source


def _one_graph(graph: dict, labels, *, name: str, what: str) -> DataSource:
    """One graph dict with node labels (node classification), or a graph batch with graph labels."""
    from zoo.data.graphs import check_graph

    graph = check_graph(graph, f"{name} ({what})")
    labels = np.asarray(labels)
    num_nodes = len(graph[NODE_FEATURES])
    if NODE_GRAPH_IDS in graph:
        num_graphs = int(np.max(graph[NODE_GRAPH_IDS])) + 1 if num_nodes else 0
        if len(labels) != num_graphs:
            raise InvalidArgumentError(
                f"{name}: a graph batch of {num_graphs} graphs (node_graph_ids) needs one label per graph, got {len(labels)}")
        return _single_element(graph, labels, None, "graphs", {"task": "graph"},
                               f"{what}: one batch of {num_graphs} graphs")
    if len(labels) != num_nodes:
        raise InvalidArgumentError(
            f"{name}: a {what} of {num_nodes} nodes needs one label per node (-1 for unlabelled nodes), got "
            f"{len(labels)} labels; for graph classification pass a list of graphs with one label each")
    labelled = labels >= 0 if np.issubdtype(labels.dtype, np.integer) else np.ones(num_nodes, bool)
    if not labelled.any():
        raise InvalidArgumentError(f"{name}: every node is unlabelled (-1)")
    weights = (labelled * (num_nodes / labelled.sum())).astype("float32")  # the mean loss over labelled nodes
    targets = np.where(labelled, labels, 0).astype(labels.dtype)
    return _single_element(graph, targets, weights, "node_graph", {"task": "node"},
                           f"{what}: {num_nodes} nodes, {int(labelled.sum())} labelled",
                           checked_labels=labels[labelled])


def _single_element(graph, labels, weights, kind, overrides, description, checked_labels=None) -> DataSource:
    """A source of one batch: `(graph, labels[, weights])`, the same every epoch."""
    import tensorflow as tf

    element = (graph, labels) if weights is None else (graph, labels, weights)
    dataset = tf.data.Dataset.from_tensors(element)
    checked = labels if checked_labels is None else checked_labels
    return DataSource(lambda batch_size, shuffle, seed: single_batch(dataset), kind,
                      num_classes=_num_classes(checked), input_shape=(graph[NODE_FEATURES].shape[1],),
                      overrides=overrides, labels=checked if np.issubdtype(np.asarray(checked).dtype, np.integer) else None,
                      description=description, edge_feature_size=edge_feature_size([graph]))


def _graph_list(graphs, labels, *, name: str, num_classes=None, class_names=None, description: str = "") -> DataSource:
    """Many graphs (dicts or networkx graphs) with one label each, merged into batches of graphs."""
    from zoo.data.graphs import check_graph, graph_taker

    graphs = [_from_networkx(g) if _is_networkx(g) else check_graph(g, f"{name}: graph {i}") for i, g in enumerate(graphs)]
    labels = np.asarray(labels)
    if len(labels) != len(graphs):
        raise InvalidArgumentError(f"{name}: got {len(labels)} labels for {len(graphs)} graphs (one label per graph)")
    widths = {g[NODE_FEATURES].shape[1] for g in graphs}
    if len(widths) > 1:
        raise InvalidArgumentError(f"{name}: the graphs' node features differ in size: {sorted(widths)}")
    try:
        edge_size = edge_feature_size(graphs)
    except InvalidArgumentError as error:
        raise InvalidArgumentError(f"{name}: {error}") from None
    take = None

    def training_data(batch_size, shuffle, seed):
        nonlocal take
        check_batch_size(batch_size)
        take = take or graph_taker(graphs, labels)  # the graphs as pipeline constants, once
        return index_batches(len(graphs), take, batch_size=batch_size, shuffle=shuffle, seed=seed)

    return DataSource(training_data, "graphs", num_classes=num_classes or _num_classes(labels),
                      input_shape=(widths.pop(),), overrides={"task": "graph"}, class_names=class_names,
                      labels=labels if np.issubdtype(labels.dtype, np.integer) else None,
                      description=description or f"{len(graphs)} graphs", edge_feature_size=edge_size)


def _planetoid(graph) -> DataSource:
    """A NodeClassificationData: its train split, with its val split as validation."""

    def split(name):
        dataset = graph.dataset(name)
        return DataSource(lambda batch_size, shuffle, seed: single_batch(dataset), "node_graph",
                          num_classes=graph.num_classes, input_shape=(graph.num_features,), overrides={"task": "node"},
                          labels=graph.labels[graph.labels >= 0],
                          description=f"graph {graph.name}: {graph.num_nodes} nodes, {name} split",
                          edge_feature_size=edge_feature_size([graph.graph]))

    source = split("train")
    source.validation, source.test = split("val"), split("test")
    return source


def _dataset_edge_feature_size(dataset) -> int | None:
    """D of the `edge_features` of a dataset of `(graph batch dict, labels[, weights])`, 0 when its
    graph batches have none, None when its elements are not graph batches (or D is not static)."""
    spec = dataset.element_spec
    batch = spec[0] if isinstance(spec, tuple) and spec else spec
    if not isinstance(batch, dict) or NODE_FEATURES not in batch or EDGE_INDEX not in batch:
        return None
    edges = batch.get("edge_features")
    if edges is None:
        return 0
    size = edges.shape[-1] if edges.shape.rank else None
    return None if size is None else int(size)


def _num_classes(labels) -> int | None:
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer) or labels.ndim != 1 or labels.size == 0:
        return None
    return int(labels.max()) + 1


FEATURES_ATTRIBUTE = "features"


def _from_networkx(graph) -> dict:
    """A networkx graph as a graph dict: node (edge) features from the attribute "features" when every
    node (edge) has one, else a column of ones (no edge features). For other attributes, convert it
    yourself with `zoo.data.from_networkx(graph, node_features=[...])`."""
    from zoo.data.graphs import from_networkx

    def named(items):
        items = list(items)
        return FEATURES_ATTRIBUTE if items and all(FEATURES_ATTRIBUTE in d for *_, d in items) else None

    return from_networkx(graph, node_features=named(graph.nodes(data=True)),
                         edge_features=named(graph.edges(data=True)))


def _is_networkx(x) -> bool:
    return all(hasattr(x, a) for a in ("nodes", "edges", "is_directed")) and not isinstance(x, dict)


def _lengths_differ(items) -> bool:
    try:
        return len({len(np.asarray(item)) for item in items}) > 1
    except TypeError:
        return False


# --------------------------------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------------------------------


def _read_path(path: str, *, name: str, vocabulary: dict) -> DataSource:
    from zoo import data as zoo_data

    if not os.path.exists(path):
        raise FileNotFoundError(f"{'training data' if name == 'data' else name} not found: {path!r}")
    base = os.path.basename(os.path.normpath(path))
    if path.endswith((".ts", ".ts.gz")):
        series = zoo_data.load_ts(path, class_names=vocabulary.get("class_names"))
        return _read(series, name=name, vocabulary={})
    if is_planetoid(path):
        return _planetoid(zoo_data.load_planetoid(path))
    if is_tu(path):
        graphs = zoo_data.load_tu(path, node_tags=vocabulary.get("node_tags"), edge_tags=vocabulary.get("edge_tags"),
                                  label_values=vocabulary.get("label_values"))
        source = _read(graphs, name=name, vocabulary={})
        source.description = f"TU data set {graphs.name}: {len(graphs)} graphs" + (
            f", edge features of size {source.edge_feature_size}" if source.edge_feature_size else "")
        return source
    if path.endswith(".txt") or (os.path.isdir(path) and is_gin_folder(path)):
        graphs = zoo_data.load_gin_text(path, node_tags=vocabulary.get("node_tags"),
                                        label_values=vocabulary.get("label_values"))
        source = _read(graphs, name=name, vocabulary={})
        source.description = f"GIN text {base}: {len(graphs)} graphs"
        return source
    if os.path.isdir(path):  # streamed by zoo.fit at the model's input size
        from zoo.training.image_folders import folder_source

        return folder_source(path)
    if path.endswith(".npz"):
        x, y = _npz_arrays(path)
        return _arrays(x, y, name=name, description=f"{base}: {len(y)} examples")
    raise InvalidArgumentError(
        f"cannot read {name} from {path!r}: expected an image folder, a .npz file, a .ts file, a GIN text file or a "
        f"TU data set's folder")


def _npz_arrays(path: str):
    """(x, y) of a `.npz` file: `x`/`y`, `images`/`labels` or `x_train`/`y_train`."""
    with np.load(path) as archive:
        keys = set(archive.files)
        for x_key, y_key in (("x", "y"), ("images", "labels"), ("x_train", "y_train")):
            if {x_key, y_key} <= keys:
                return archive[x_key], archive[y_key]
    raise InvalidArgumentError(f"{path!r} has arrays {sorted(keys)}; expected 'x' and 'y' (or 'images' and 'labels')")


def is_planetoid(path: str) -> bool:
    """Whether `path` is a Planetoid-style `.npz` (features, edge_index and split indices)."""
    if not path.endswith(".npz") or not os.path.isfile(path):
        return False
    with np.load(path) as archive:
        return {"features", "edge_index", "train_index"} <= set(archive.files)


def is_gin_folder(path: str) -> bool:
    """Whether folder `path` holds `<folder name>.txt`, a GIN text file (MUTAG/MUTAG.txt)."""
    name = os.path.basename(os.path.normpath(path))
    return os.path.isfile(os.path.join(path, f"{name}.txt"))
