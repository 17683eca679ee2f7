"""Graph data: the Planetoid and GIN readers, edge lists and networkx, batching with offsets as a
tf.data pipeline, and the TF-GNN interop (in subprocesses: it needs TF_USE_LEGACY_KERAS=1)."""

import importlib.util
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tests_paths import local_dataset_or_skip
from zoo.data import (
    NodeClassificationData,
    dataset_files,
    from_edge_list,
    from_networkx,
    graph_dataset,
    load_gin_folds,
    load_gin_text,
    load_dataset,
    load_planetoid,
    merge_graphs,
    shard_graph_batch,
)
from zoo.errors import InvalidArgumentError

ROOT = Path(__file__).resolve().parents[2]

# ------------------------------------------------------------------------------------------------
# Readers
# ------------------------------------------------------------------------------------------------


def test_planetoid_cora():
    path = dataset_files("cora")["graph"]  # the bundled cora.npz
    data = load_planetoid(path)
    g = data.graph
    assert g["node_features"].shape == (2708, 1433) and g["node_features"].dtype == np.float32
    assert g["edge_index"].shape == (2, 10858) and g["edge_index"].dtype == np.int32
    assert (len(data.train_index), len(data.val_index), len(data.test_index)) == (140, 500, 1000)
    assert data.num_classes == 7 and data.num_features == 1433 and data.name == "cora"
    # both directions of every edge
    pairs = set(map(tuple, g["edge_index"].T))
    assert all((v, u) in pairs for u, v in pairs)
    normalized = load_planetoid(path, normalize_features=True)
    sums = normalized.graph["node_features"].sum(axis=1)
    np.testing.assert_allclose(sums[sums > 0], 1.0, rtol=1e-5)
    (x, y, w), = list(data.dataset("train"))
    assert x["node_features"].shape == (2708, 1433) and y.shape == (2708,)
    np.testing.assert_allclose(w.numpy().sum(), 2708, rtol=1e-5)  # the loss is the mean over the split
    assert np.count_nonzero(w.numpy()) == 140 and set(np.flatnonzero(w.numpy())) == set(data.train_index)


def test_planetoid_citeseer_unlabelled_nodes():
    data = local_dataset_or_skip("citeseer")  # $ZOO_DATA_DIR: ../shared/data for developers and CI
    assert data.num_nodes == 3327 and data.num_classes == 6
    unlabelled = np.flatnonzero(data.labels < 0)
    assert len(unlabelled) == 15
    (_, y, w), = list(data.dataset("test"))
    assert np.all(y.numpy()[unlabelled] == 0) and np.all(w.numpy()[unlabelled] == 0)


def test_planetoid_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_planetoid(tmp_path / "missing.npz")
    np.savez(tmp_path / "bad.npz", features=np.ones((2, 2)))
    with pytest.raises(InvalidArgumentError, match="lacks"):
        load_planetoid(tmp_path / "bad.npz")
    with pytest.raises(InvalidArgumentError, match="split"):
        NodeClassificationData(
            {"node_features": np.ones((1, 1)), "edge_index": np.zeros((2, 0))}, np.zeros(1), [], [], []
        ).mask("dev")


def test_gin_text_mutag_and_folds():
    folder = dataset_files("mutag")["graphs"].parent  # the bundled MUTAG/
    data = load_gin_text(folder)
    assert len(data) == 188 and data.num_classes == 2 and data.name == "MUTAG"
    assert np.bincount(data.labels).tolist() == [63, 125]
    assert data.num_features == len(data.tag_values)
    for g in data.graphs:
        x, ei = g["node_features"], g["edge_index"]
        np.testing.assert_array_equal(x.sum(axis=1), 1.0)  # one-hot tags
        assert ei.min() >= 0 and ei.max() < len(x)
        pairs = set(map(tuple, ei.T))
        assert len(pairs) == ei.shape[1] and all((v, u) in pairs for u, v in pairs)
    first = data.graphs[0]
    assert len(first["node_features"]) == 23  # "23 2": the first graph's header line
    directed = load_gin_text(folder / "MUTAG.txt", undirected=False)
    assert sum(g["edge_index"].shape[1] for g in directed.graphs) == 7439  # the neighbour lists as written
    folds = load_gin_folds(folder)
    assert len(folds) == 10
    tests = np.concatenate([test for _, test in folds])
    assert len(set(tests.tolist())) == len(tests) == 180  # disjoint test folds of 18 (the files' own split)
    for train, test in folds:
        assert sorted(np.concatenate([train, test]).tolist()) == list(range(188))


def write_gin(path, graphs):
    """A GIN text file of `graphs`: (label, node tags, undirected edges) each."""
    lines = [str(len(graphs))]
    for label, tags, edges in graphs:
        lines.append(f"{len(tags)} {label}")
        for v, tag in enumerate(tags):
            neighbours = [b for a, b in edges if a == v] + [a for a, b in edges if b == v]
            lines.append(" ".join(map(str, [tag, len(neighbours), *neighbours])))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_gin_text_test_file_read_with_the_training_vocabulary(tmp_path, caplog):
    # Tags 6 and 8 (say C and O) in training; the test file has 8 and 16 (O and S) and one label only.
    train = load_gin_text(write_gin(tmp_path / "train.txt", [(1, [6, 6, 8], [(0, 1), (1, 2)]),
                                                             (-1, [8, 6], [(0, 1)])]))
    test_path = write_gin(tmp_path / "test.txt", [(-1, [8, 16, 8], [(0, 1), (1, 2)]), (-1, [16], [])])
    alone = load_gin_text(test_path)  # its own vocabulary: O lands in the column that is C in training
    assert train.tag_values == [6, 8] and alone.tag_values == [8, 16]
    assert alone.graphs[0]["node_features"][0].tolist() == [1, 0] and alone.labels.tolist() == [0, 0]
    with caplog.at_level(logging.WARNING, logger="zoo.data"):
        test = load_gin_text(test_path, node_tags=train.tag_values, label_values=train.label_values)
    assert test.tag_values == [6, 8] and test.label_values == [-1, 1] and test.labels.tolist() == [0, 0]
    np.testing.assert_array_equal(test.graphs[0]["node_features"], [[0, 1], [0, 0], [0, 1]])  # S: all zero
    np.testing.assert_array_equal(test.graphs[1]["node_features"], [[0, 0]])
    assert train.graphs[1]["node_features"].tolist() == [[0, 1], [1, 0]]  # O is column 1 in both files now
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "2 of the 4 nodes (in 2 of the 2 graphs)" in warnings[0]
    assert "node_tags [6, 8]: [16]" in warnings[0] and str(test_path) in warnings[0]
    reordered = load_gin_text(test_path, node_tags=[16, 8.0, 6])  # that order, numbers as any type
    assert reordered.tag_values == [16, 8, 6] and reordered.graphs[1]["node_features"].tolist() == [[1, 0, 0]]
    for kwargs, message in [({"label_values": [1]}, r"2 graph\(s\) have labels \[-1\] that are not in label_values \[1\]"),
                            ({"node_tags": [8, 8]}, r"lists \[8\] more than once"),
                            ({"node_tags": []}, "node_tags is empty"),
                            ({"node_tags": ["C"]}, "must hold numbers"),
                            ({"node_tags": 8}, "must be a sequence")]:
        with pytest.raises(InvalidArgumentError, match=message):
            load_gin_text(test_path, **kwargs)


def test_gin_text_proteins():
    data, folds = local_dataset_or_skip("proteins")  # $ZOO_DATA_DIR: ../shared/data for developers and CI
    assert len(folds) == 10
    assert len(data) == 1113 and data.num_classes == 2 and data.num_features == 3


def test_gin_text_continuous_features_and_errors(tmp_path):
    good = tmp_path / "TOY.txt"
    good.write_text("2\n2 1\n0 1 1 0.5 1.5\n1 1 0 2.5 3.5\n1 0\n1 0 1.0 1.0\n")
    data = load_gin_text(good)
    assert data.num_features == 2 + 2 and data.label_values == [0, 1] and data.labels.tolist() == [1, 0]
    np.testing.assert_array_equal(data.graphs[0]["node_features"], [[1, 0, 0.5, 1.5], [0, 1, 2.5, 3.5]])
    assert data.graphs[1]["edge_index"].shape == (2, 0)
    assert load_gin_text(good, continuous_features=False).num_features == 2
    cases = {
        "cut.txt": ("2\n2 1\n0 1 1\n", "cut short"),
        "range.txt": ("1\n2 1\n0 1 5\n1 1 0\n", r"neighbour ids in \[0, 2\)"),
        "header.txt": ("x\n", "number of graphs"),
        "extra.txt": ("1\n1 0\n0 0\n1 0\n", "lines left"),
    }
    for name, (text, pattern) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(InvalidArgumentError, match=pattern):
            load_gin_text(tmp_path / name)
    with pytest.raises(FileNotFoundError):
        load_gin_text(tmp_path / "missing.txt")
    with pytest.raises(FileNotFoundError):
        load_gin_folds(tmp_path)


# ------------------------------------------------------------------------------------------------
# User input
# ------------------------------------------------------------------------------------------------


def test_from_edge_list():
    g = from_edge_list([(0, 1), (1, 2)])
    np.testing.assert_array_equal(g["edge_index"], [[1, 0, 2, 1], [0, 1, 1, 2]])  # both ways, by receiver
    assert g["node_features"].shape == (3, 1)
    d = from_edge_list(np.array([[0, 1], [1, 2], [0, 1]]), undirected=False, num_nodes=5)
    np.testing.assert_array_equal(d["edge_index"], [[0, 0, 1], [1, 1, 2]])
    assert d["node_features"].shape == (5, 1)
    e = from_edge_list([(0, 1)], node_features=np.eye(2), edge_features=[[7.0]])
    np.testing.assert_array_equal(e["edge_features"], [[7.0], [7.0]])
    assert from_edge_list([], num_nodes=2)["edge_index"].shape == (2, 0)
    with pytest.raises(InvalidArgumentError, match="negative"):
        from_edge_list([(0, -1)])
    with pytest.raises(InvalidArgumentError, match="refers to node 3"):
        from_edge_list([(0, 3)], node_features=np.ones((2, 1)))
    with pytest.raises(InvalidArgumentError, match="pairs"):
        from_edge_list([0, 1, 2])


def test_from_networkx():
    nx = pytest.importorskip("networkx")
    g = from_networkx(nx.karate_club_graph())
    assert g["node_features"].shape == (34, 1) and g["edge_index"].shape == (2, 156)
    h = nx.DiGraph()
    h.add_node("a", x=[1.0, 2.0])
    h.add_node("b", x=[3.0, 4.0])
    h.add_edge("b", "a", w=0.5)
    out = from_networkx(h, node_features="x", edge_features="w")
    np.testing.assert_array_equal(out["node_features"], [[1, 2], [3, 4]])
    np.testing.assert_array_equal(out["edge_index"], [[1], [0]])
    np.testing.assert_array_equal(out["edge_features"], [[0.5]])
    with pytest.raises(InvalidArgumentError, match="no attribute 'y'"):
        from_networkx(h, node_features="y")
    with pytest.raises(InvalidArgumentError, match="networkx graph"):
        from_networkx([(0, 1)])


# ------------------------------------------------------------------------------------------------
# Batching
# ------------------------------------------------------------------------------------------------


def _graphs(rng, sizes, edge_features=True):
    out = []
    for n in sizes:
        e = int(rng.integers(0, 2 * n + 1))
        g = {"node_features": rng.normal(size=(n, 2)).astype("float32"),
             "edge_index": rng.integers(0, n, size=(2, e)).astype("int32")}
        if edge_features:
            g["edge_features"] = rng.normal(size=(e, 3)).astype("float32")
        out.append(g)
    return out


def test_merge_graphs_adds_offsets():
    graphs = [from_edge_list([(0, 1)]), from_edge_list([], num_nodes=2), from_edge_list([(0, 2), (1, 2)])]
    batch = merge_graphs(graphs)
    np.testing.assert_array_equal(batch["node_graph_ids"], [0, 0, 1, 1, 2, 2, 2])
    np.testing.assert_array_equal(batch["edge_index"], [[1, 0, 6, 6, 4, 5], [0, 1, 4, 5, 6, 6]])  # by receiver
    with pytest.raises(InvalidArgumentError, match="different node feature sizes"):
        merge_graphs([from_edge_list([(0, 1)]), from_edge_list([(0, 1)], node_features=np.ones((2, 3)))])
    with pytest.raises(InvalidArgumentError, match="graph 1: edge_index refers to node 5"):
        merge_graphs([graphs[0], {"node_features": np.ones((2, 1)), "edge_index": [[0], [5]]}])


def test_graph_dataset_batches_equal_merge_graphs():
    rng = np.random.default_rng(0)
    graphs = _graphs(rng, [3, 1, 4, 2, 5, 1, 2])
    labels = np.arange(7)
    dataset = graph_dataset(graphs, labels, batch_size=3)
    spec = dataset.element_spec[0]
    assert spec["node_features"].shape.as_list() == [None, 2]
    assert spec["edge_index"].shape.as_list() == [2, None] and spec["edge_index"].dtype == tf.int32
    batches = list(dataset)
    assert len(batches) == 3
    for i, (batch, y) in enumerate(batches):
        expected = merge_graphs(graphs[3 * i: 3 * i + 3])
        assert sorted(batch) == sorted(expected)
        for key in expected:
            np.testing.assert_array_equal(batch[key].numpy(), expected[key], err_msg=key)
        np.testing.assert_array_equal(y.numpy(), labels[3 * i: 3 * i + 3])
    assert len(list(graph_dataset(graphs, labels, batch_size=3, drop_remainder=True))) == 2
    unlabelled = next(iter(graph_dataset(graphs, batch_size=2)))
    assert isinstance(unlabelled, dict)


@pytest.mark.parametrize("num_shards", [2, 3])
def test_shard_graph_batch_gives_whole_graphs_that_together_are_the_batch(num_shards):
    rng = np.random.default_rng(1)
    graphs = _graphs(rng, [3, 1, 4, 2, 5, 1, 2])
    labels = np.arange(7) * 10
    batch = merge_graphs(graphs)
    node_labels = np.arange(len(batch["node_graph_ids"]))  # per-node targets follow their nodes
    starts = np.concatenate([[0], np.cumsum([len(g["node_features"]) for g in graphs])])
    for index in range(num_shards):
        first, last = index * 7 // num_shards, (index + 1) * 7 // num_shards
        shard, shard_labels, shard_node_labels = shard_graph_batch(
            {k: tf.constant(v) for k, v in batch.items()}, (labels, node_labels), index, num_shards)
        expected = merge_graphs(graphs[first:last])
        assert set(shard) == set(expected)
        for key in expected:
            np.testing.assert_array_equal(shard[key].numpy(), expected[key], err_msg=key)
        np.testing.assert_array_equal(shard_labels, labels[first:last])
        np.testing.assert_array_equal(shard_node_labels, node_labels[starts[first]:starts[last]])


def test_shard_graph_batch_of_fewer_graphs_than_shards_is_the_whole_batch():
    batch = {k: tf.constant(v) for k, v in merge_graphs(_graphs(np.random.default_rng(2), [3, 2])).items()}
    for index in range(3):
        shard, labels = shard_graph_batch(batch, (tf.constant([4, 5]),), index, 3)
        for key in batch:
            np.testing.assert_array_equal(shard[key], batch[key])
        np.testing.assert_array_equal(labels, [4, 5])


def test_graph_dataset_shuffles_with_a_seed():
    rng = np.random.default_rng(1)
    graphs = _graphs(rng, [2] * 20, edge_features=False)
    labels = np.arange(20)

    def order(seed):
        return np.concatenate([y.numpy() for _, y in graph_dataset(graphs, labels, batch_size=6, shuffle=True, seed=seed)])

    first = order(3)
    assert sorted(first.tolist()) == list(range(20)) and first.tolist() != list(range(20))
    np.testing.assert_array_equal(order(3), first)
    # each batch still holds the right graphs
    for batch, y in graph_dataset(graphs, labels, batch_size=6, shuffle=True, seed=3):
        expected = merge_graphs([graphs[i] for i in y.numpy()])
        np.testing.assert_array_equal(batch["node_features"].numpy(), expected["node_features"])
        np.testing.assert_array_equal(batch["edge_index"].numpy(), expected["edge_index"])
    repeated = graph_dataset(graphs, labels, batch_size=6, repeat=True)
    assert len(list(repeated.take(7))) == 7


def test_graph_dataset_bad_arguments():
    graphs = _graphs(np.random.default_rng(2), [2, 3])
    with pytest.raises(InvalidArgumentError, match="labels"):
        graph_dataset(graphs, [0], batch_size=2)
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        graph_dataset(graphs, batch_size=0)
    with pytest.raises(InvalidArgumentError, match="some graphs have edge_features"):
        graph_dataset([graphs[0], {k: v for k, v in graphs[1].items() if k != "edge_features"}])


def test_gin_data_dataset():
    data, folds = load_dataset("mutag")
    train, test = folds[0]
    batches = list(data.dataset(test, batch_size=8))
    assert sum(len(y) for _, y in batches) == len(test)
    np.testing.assert_array_equal(np.concatenate([y.numpy() for _, y in batches]), data.labels[test])


# ------------------------------------------------------------------------------------------------
# TF-GNN interop (subprocesses: TF_USE_LEGACY_KERAS must be set before TensorFlow is imported)
# ------------------------------------------------------------------------------------------------


def _run(script: str, **env):
    environment = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    environment.update(env, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, env=environment,
        cwd=str(ROOT), timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_importing_zoo_does_not_import_tfgnn_nor_change_tf_keras():
    """`import zoo` leaves tf.keras alone; without TF_USE_LEGACY_KERAS the interop explains what to do.

    In this process (TF_USE_LEGACY_KERAS unset): TF-GNN's own version check runs before it imports
    anything else, so the failed import below leaves nothing behind.
    """
    import keras

    import zoo.data
    import zoo.models  # noqa: F401

    assert "tensorflow_gnn" not in sys.modules, "importing zoo imported tensorflow_gnn"
    assert os.environ.get("TF_USE_LEGACY_KERAS") in (None, "", "0", "false")
    assert tf.keras.__version__ == keras.__version__ and keras.__version__.startswith("3.")
    if importlib.util.find_spec("tensorflow_gnn") is not None:
        with pytest.raises(ImportError, match="TF_USE_LEGACY_KERAS=1"):
            zoo.data.from_graph_tensor(None)
        assert "tensorflow_gnn" not in sys.modules
    assert tf.keras.__version__.startswith("3.")


@pytest.mark.skipif(importlib.util.find_spec("tensorflow_gnn") is None,
                    reason="tensorflow-gnn is not installed (pip install 'zoo[gnn]')")
def test_tfgnn_graph_tensor_round_trip():
    out = _run(
        """
        import numpy as np
        import tensorflow as tf
        import tensorflow_gnn as tfgnn
        import keras
        import zoo
        from zoo.data import from_graph_tensor, merge_graphs, to_graph_tensor
        from zoo.data.graphs import check_graph

        assert keras.__version__.startswith("3.") and tf.keras.__name__.startswith("tf_keras"), (
            keras.__version__, tf.keras.__name__)
        rng = np.random.default_rng(0)
        graphs = []
        for n, e in [(3, 4), (1, 0), (5, 7)]:
            graphs.append({"node_features": rng.normal(size=(n, 4)).astype("float32"),
                           "edge_index": rng.integers(0, n, size=(2, e)).astype("int32"),
                           "edge_features": rng.normal(size=(e, 2)).astype("float32")})
        graphs = [check_graph(g) for g in graphs]  # edges by receiver, as merge_graphs orders them
        batch = merge_graphs(graphs)
        graph = to_graph_tensor(batch)
        assert isinstance(graph, tfgnn.GraphTensor) and graph.rank == 0
        assert graph.node_sets["nodes"].sizes.numpy().tolist() == [3, 1, 5]
        assert graph.edge_sets["edges"].sizes.numpy().tolist() == [4, 0, 7]
        back = from_graph_tensor(graph, edge_feature="hidden_state")
        for key in batch:
            np.testing.assert_array_equal(back[key].numpy(), batch[key], err_msg=key)

        # a batched GraphTensor (rank 1) from a tf.data pipeline of single graphs
        singles = [to_graph_tensor(g) for g in graphs]
        spec = singles[0].spec.relax(num_components=True, num_nodes=True, num_edges=True)
        dataset = tf.data.Dataset.from_generator(lambda: iter(singles), output_signature=spec).batch(3)
        batched = next(iter(dataset))
        assert batched.rank == 1
        merged = from_graph_tensor(batched, edge_feature="hidden_state")
        for key in batch:
            np.testing.assert_array_equal(merged[key].numpy(), batch[key], err_msg=key)

        # a zoo model (Keras 3) runs on the converted batch in the same process
        model = zoo.build("mpnn", num_classes=2, input_shape=(4,), edge_feature_size=2, hidden=(8,))
        out = model(merged)
        assert out.shape == (3, 2)

        # only homogeneous graphs convert
        two = tfgnn.GraphTensor.from_pieces(node_sets={
            "a": tfgnn.NodeSet.from_fields(sizes=[1], features={"hidden_state": tf.ones([1, 1])}),
            "b": tfgnn.NodeSet.from_fields(sizes=[1], features={"hidden_state": tf.ones([1, 1])})})
        try:
            from_graph_tensor(two)
        except ValueError as error:
            assert "homogeneous" in str(error), error
        else:
            raise AssertionError("a heterogeneous GraphTensor converted")
        print("ok")
        """,
        TF_USE_LEGACY_KERAS="1",
    )
    assert "ok" in out
