"""The TU Dortmund graph-kernel format (TUDataset: MUTAG, PROTEINS, NCI1, ... with their bond labels).

A data set DS is a folder of text files, one value (or one comma-separated row) per line, node ids
1..n and graph ids 1..N numbered across the whole set (Morris et al. 2020,
https://chrsmrrs.github.io/datasets/docs/format/):

| file                       | lines | what                                                            |
| -------------------------- | ----- | --------------------------------------------------------------- |
| `DS_A.txt`                 | m     | `u, v`: an edge from node u to node v (both directions listed)  |
| `DS_graph_indicator.txt`   | n     | line i: the graph of node i                                     |
| `DS_graph_labels.txt`      | N     | line g: the class of graph g                                    |
| `DS_node_labels.txt`       | n     | optional: line i the label (tag) of node i, e.g. the atom type  |
| `DS_edge_labels.txt`       | m     | optional: the label of each edge of `DS_A.txt`, e.g. bond type  |
| `DS_node_attributes.txt`   | n     | optional: comma-separated real attributes of node i             |
| `DS_edge_attributes.txt`   | m     | optional: comma-separated real attributes of each edge          |

`load_tu` reads them into the `GraphClassificationData` of `load_gin_text`: node features the
one-hot node label, then the node attributes; edge features the one-hot edge label, then the edge
attributes; the edges as `DS_A.txt` lists them (the format lists both directions of every
undirected edge, so nothing is added). `DS_graph_attributes.txt` (regression targets) is not read.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from zoo.data.graphs import (
    EDGE_FEATURES,
    EDGE_INDEX,
    NODE_FEATURES,
    GraphClassificationData,
    _listed,
    _number,
    _vocabulary,
    _warn_unknown_tags,
    check_graph,
)
from zoo.errors import InvalidArgumentError

REQUIRED = ("A", "graph_indicator", "graph_labels")
OPTIONAL = ("node_labels", "edge_labels", "node_attributes", "edge_attributes")


def tu_files(path: str | os.PathLike) -> tuple[str, dict[str, Path]]:
    """(DS, {part: file}) of a TU data set: `path` is its folder (holding `DS_A.txt`, ...) or its
    `DS_A.txt`; the dict has the parts present ("A", "graph_indicator", ..., "edge_attributes").

    Raises:
        FileNotFoundError: no such folder or file, no `*_A.txt` in the folder, or a required part missing.
        InvalidArgumentError: a folder with several data sets (several `*_A.txt`).
    """
    path = Path(path)
    if path.is_file() and path.name.endswith("_A.txt"):
        folder, name = path.parent, path.name[: -len("_A.txt")]
    elif path.is_dir():
        folder = path
        if (path / f"{path.name}_A.txt").is_file():
            name = path.name
        else:
            names = sorted(p.name[: -len("_A.txt")] for p in path.glob("*_A.txt"))
            if not names:
                raise FileNotFoundError(f"no TU data set in {str(path)!r}: expected DS_A.txt, DS_graph_indicator.txt "
                                        "and DS_graph_labels.txt")
            if len(names) > 1:
                raise InvalidArgumentError(f"{str(path)!r} holds several TU data sets {names}: pass the path of "
                                           "one's DS_A.txt")
            name = names[0]
    else:
        raise FileNotFoundError(f"TU data set not found: {str(path)!r} (a folder with DS_A.txt, or a DS_A.txt file)")
    files = {part: folder / f"{name}_{part}.txt" for part in REQUIRED + OPTIONAL}
    missing = [f.name for part, f in files.items() if part in REQUIRED and not f.is_file()]
    if missing:
        raise FileNotFoundError(f"TU data set {name} in {str(folder)!r} lacks {', '.join(missing)}")
    return name, {part: f for part, f in files.items() if f.is_file()}


def is_tu(path: str | os.PathLike) -> bool:
    """Whether `path` is a TU data set's folder or its `DS_A.txt` (with `DS_graph_indicator.txt` beside it)."""
    path = Path(path)
    if path.is_file():
        return path.name.endswith("_A.txt") and path.with_name(path.name[:-5] + "graph_indicator.txt").is_file()
    return path.is_dir() and any(p.with_name(p.name[:-5] + "graph_indicator.txt").is_file()
                                 for p in path.glob("*_A.txt"))


def _rows(file: Path, *, expected: int | None = None, columns: int | None = None, numbers=float) -> list:
    """The lines of a TU file as lists of numbers (comma-separated values; blank lines skipped)."""
    rows = []
    with open(file) as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            tokens = line.replace(",", " ").split()
            try:
                row = [numbers(t) for t in tokens]
            except ValueError:
                raise InvalidArgumentError(f"{file}: line {number}: expected numbers, got {line.strip()!r}") from None
            if columns is not None and len(row) != columns:
                values = f"{columns} value{'s' if columns > 1 else ''}"
                raise InvalidArgumentError(f"{file}: line {number}: expected {values}, got {line.strip()!r}")
            rows.append(row)
    if expected is not None and len(rows) != expected:
        raise InvalidArgumentError(f"{file}: {len(rows)} lines, expected {expected} (one per "
                                   f"{'edge of the _A.txt file' if 'edge' in file.name else 'node'})")
    return rows


def _integer(token: str) -> int:
    value = float(token)
    if not value.is_integer():
        raise ValueError(token)
    return int(value)


def _attributes(file: Path, expected: int) -> np.ndarray:
    rows = _rows(file, expected=expected)
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        raise InvalidArgumentError(f"{file}: lines have different numbers of attributes: {sorted(widths)}")
    return np.asarray(rows, dtype="float32").reshape(expected, widths.pop() if widths else 0)


def _one_hot(tags: list, vocabulary: list) -> np.ndarray:
    """[len(tags), len(vocabulary)] float32; a tag not in the vocabulary gives a zero row."""
    position = {t: i for i, t in enumerate(vocabulary)}
    out = np.zeros((len(tags), len(vocabulary)), dtype="float32")
    known = [i for i, t in enumerate(tags) if t in position]
    out[known, [position[tags[i]] for i in known]] = 1.0
    return out


def load_tu(path: str | os.PathLike, *, node_tags=None, edge_tags=None, label_values=None,
            node_attributes: bool = True, edge_attributes: bool = True) -> GraphClassificationData:
    """Read a data set in the TU Dortmund format (see the module doc) into graphs with classes.

    Node features [n, T + A]: the one-hot node label (T columns, one per value of `tag_values`),
    then the A node attributes; a data set with neither has a column of ones. Edge features
    [e, T_e + A_e]: the one-hot edge label (`edge_tag_values`), then the edge attributes; a data
    set with neither has no `edge_features`. Edges are `DS_A.txt`'s lines, in each graph's node
    numbering (from 0, in node id order), sorted by receiver (`check_graph`), with their features
    alike. Graph labels are mapped to 0..C-1 (`label_values` keeps the files' labels).

    As with `load_gin_text`, the vocabulary is the files' own (distinct values, sorted) unless
    given: read a separate test set with the training set's, or the same label lands in another
    column or class:

    >>> train = load_tu("MUTAG_train/")
    >>> test = load_tu("MUTAG_test/", node_tags=train.tag_values, edge_tags=train.edge_tag_values,
    ...                label_values=train.label_values)

    Args:
        path: the data set's folder (`MUTAG/` with `MUTAG_A.txt`, ...; or any folder holding one
            `DS_A.txt`), or the path of its `DS_A.txt`.
        node_tags: the node label of each one-hot column (e.g. the training set's `tag_values`);
            a node whose label is not among them gets a zero row, and one warning (logger
            `zoo.data`) says how many and which.
        edge_tags: the same for edge labels (`edge_tag_values`).
        label_values: the graph label of each class index; a graph label not among them is an error.
        node_attributes, edge_attributes: append the real attributes when the files exist.

    Returns:
        a `GraphClassificationData` (`tag_values`, `edge_tag_values`, `label_values`: the vocabulary
        used; `name`: DS).

    Raises:
        FileNotFoundError: no such folder, or a required file is missing.
        InvalidArgumentError: a file breaks the format (the message names the file and line, or the
            node, edge or graph), a bad vocabulary, or a graph label not in `label_values`.
    """
    name, files = tu_files(path)
    edges = np.asarray(_rows(files["A"], columns=2, numbers=_integer), dtype="int64").reshape(-1, 2) - 1
    indicator = np.asarray(_rows(files["graph_indicator"], columns=1, numbers=_integer), dtype="int64").reshape(-1) - 1
    raw_labels = [row[0] for row in _rows(files["graph_labels"], columns=1, numbers=_number)]
    num_nodes, num_edges, num_graphs = len(indicator), len(edges), len(raw_labels)
    where = f"TU data set {name} ({files['A'].parent})"
    if not num_graphs:
        raise InvalidArgumentError(f"{files['graph_labels']} is empty: a TU data set has one line per graph")
    if num_nodes and (indicator.min() < 0 or indicator.max() >= num_graphs):
        bad = int(np.argmax((indicator < 0) | (indicator >= num_graphs)))
        raise InvalidArgumentError(f"{files['graph_indicator']}: node {bad + 1} is in graph {indicator[bad] + 1}, but "
                                   f"{files['graph_labels'].name} labels graphs 1..{num_graphs}")
    if num_edges and (edges.min() < 0 or edges.max() >= num_nodes):
        line = int(np.argmax(((edges < 0) | (edges >= num_nodes)).any(axis=1)))
        u, v = edges[line] + 1
        raise InvalidArgumentError(f"{files['A']}: edge {line + 1} ({u}, {v}) names a node outside 1..{num_nodes} "
                                   f"(the lines of {files['graph_indicator'].name})")
    edge_graph = indicator[edges[:, 0]] if num_edges else np.zeros(0, "int64")
    across = np.flatnonzero(edge_graph != indicator[edges[:, 1]]) if num_edges else []
    if len(across):
        u, v = edges[across[0]] + 1
        raise InvalidArgumentError(f"{files['A']}: edge {across[0] + 1} ({u}, {v}) joins nodes of graphs "
                                   f"{indicator[u - 1] + 1} and {indicator[v - 1] + 1}")

    label_values = _vocabulary(label_values, set(raw_labels), "label_values")
    label_pos = {label: i for i, label in enumerate(label_values)}
    unknown = sorted(set(raw_labels) - set(label_pos))
    if unknown:
        raise InvalidArgumentError(
            f"{where}: {sum(label not in label_pos for label in raw_labels)} graph(s) have labels {_listed(unknown)} "
            f"that are not in label_values {_listed(label_values)}; pass the label_values of the data these classes "
            f"belong to, or leave label_values out to use the files' own")
    labels = np.array([label_pos[label] for label in raw_labels], dtype="int32")

    # nodes and edges in graph order: node_order lists the node ids of graph 0, then graph 1, ...
    node_order = np.argsort(indicator, kind="stable")
    node_counts = np.bincount(indicator, minlength=num_graphs)
    node_starts = np.concatenate([[0], np.cumsum(node_counts)[:-1]])
    local = np.empty(num_nodes, dtype="int64")
    local[node_order] = np.arange(num_nodes) - np.repeat(node_starts, node_counts)
    edge_order = np.argsort(edge_graph, kind="stable")
    edge_counts = np.bincount(edge_graph, minlength=num_graphs)

    def split_by_graph(rows, order, counts):
        return np.split(rows[order], np.cumsum(counts)[:-1])

    node_parts, tag_values = _labelled_features(files, "node", num_nodes, node_tags, node_attributes, where,
                                                node_order, node_counts)
    edge_parts, edge_tag_values = _labelled_features(files, "edge", num_edges, edge_tags, edge_attributes, where,
                                                     edge_order, edge_counts)
    x = np.concatenate(node_parts, axis=1) if node_parts else np.ones((num_nodes, 1), dtype="float32")
    e = np.concatenate(edge_parts, axis=1) if edge_parts else None
    xs = split_by_graph(x, node_order, node_counts)
    pairs = split_by_graph(local[edges].reshape(-1, 2), edge_order, edge_counts)
    es = split_by_graph(e, edge_order, edge_counts) if e is not None else [None] * num_graphs
    graphs = []
    for g in range(num_graphs):
        graph = {NODE_FEATURES: xs[g], EDGE_INDEX: pairs[g].T.astype("int32")}
        if es[g] is not None:
            graph[EDGE_FEATURES] = es[g]
        graphs.append(check_graph(graph, f"{where}: graph {g + 1}"))
    return GraphClassificationData(graphs, labels, label_values, tag_values, name=name,
                                   edge_tag_values=edge_tag_values)


def _labelled_features(files, items: str, count: int, given_tags, attributes: bool, where: str, order, counts):
    """([one-hot labels [count, T], attributes [count, A]] as present, the label vocabulary) of the
    nodes or edges (items "node" / "edge")."""
    parts, vocabulary = [], []
    if f"{items}_labels" in files:
        tags = [row[0] for row in _rows(files[f"{items}_labels"], expected=count, columns=1, numbers=_number)]
        vocabulary = _vocabulary(given_tags, set(tags), f"{items}_tags")
        position = {t: i for i, t in enumerate(vocabulary)}
        by_graph = np.split(np.asarray(tags, dtype=object)[order], np.cumsum(counts)[:-1])
        _warn_unknown_tags(where, [list(t) for t in by_graph], position, items=items)
        parts.append(_one_hot(tags, vocabulary))
    elif given_tags is not None:
        labels_file = files["A"].name[:-5] + f"{items}_labels.txt"
        raise InvalidArgumentError(f"{where} has no {labels_file}, but {items}_tags were given")
    if attributes and f"{items}_attributes" in files:
        parts.append(_attributes(files[f"{items}_attributes"], count))
    return parts, vocabulary
