"""Every data kind through the one dispatcher (zoo.training.sources): zoo.fit, zoo.evaluate and `zoo train`
on graphs, networkx graphs, series and files the tests write."""

import dataclasses

import keras
import networkx as nx
import numpy as np
import pytest

import zoo
from zoo import data as zoo_data
from zoo.training.job import train_job
from zoo.training.sources import read_source


def karate():
    """Zachary's karate club (networkx ships it): 34 nodes, the club each member joined, one-hot node ids."""
    graph = nx.karate_club_graph()
    labels = np.array([0 if graph.nodes[n]["club"] == "Mr. Hi" else 1 for n in graph.nodes], dtype="int32")
    for n in graph.nodes:
        graph.nodes[n]["features"] = np.eye(34, dtype="float32")[n]
    return graph, labels


def gcn(features=34, classes=2):
    keras.utils.set_random_seed(0)
    return zoo.build("gcn", task="node", num_classes=classes, input_shape=(features,), dropout=0.0)


def test_networkx_graph_with_node_labels_trains_node_classification():
    graph, labels = karate()
    source = read_source((graph, labels))
    assert (source.kind, source.overrides, source.input_shape, source.num_classes) == ("node_graph", {"task": "node"},
                                                                                         (34,), 2)
    model = gcn()
    zoo.fit(model, (graph, labels), epochs=30, learning_rate=0.05, verbose=0)
    assert zoo.evaluate(model, (graph, labels))["accuracy"] >= 0.95


def test_graph_dict_pair_was_refused_and_now_trains():
    # the failure: "inputs and labels differ in length: {'node_features': 34, 'edge_index': 2} vs 34 labels"
    graph, labels = karate()
    as_dict = zoo_data.from_networkx(graph, node_features="features")
    model = gcn()
    history = zoo.fit(model, (as_dict, labels), epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2


def test_unlabelled_nodes_do_not_count_in_the_loss():
    graph, labels = karate()
    partial = labels.copy()
    partial[8:] = -1  # eight labelled nodes
    model = gcn()
    probabilities = keras.ops.convert_to_numpy(model(zoo_data.from_networkx(graph, node_features="features")))
    expected = -np.mean(np.log(probabilities[np.arange(8), labels[:8]]))  # cross-entropy over the labelled nodes
    history = zoo.fit(model, (graph, partial), epochs=1, optimizer="sgd", learning_rate=0.0, verbose=0)
    np.testing.assert_allclose(history.history["loss"][0], expected, rtol=1e-5)
    assert read_source((graph, partial)).labels.tolist() == labels[:8].tolist()


def cycles_and_stars(count, seed):
    """`count` graphs: cycles (class 0) and stars (class 1) of 5..12 nodes, as networkx graphs."""
    rng = np.random.default_rng(seed)
    graphs, labels = [], []
    for i in range(count):
        n = int(rng.integers(5, 13))
        graphs.append(nx.cycle_graph(n) if i % 2 == 0 else nx.star_graph(n - 1))
        labels.append(i % 2)
    return graphs, np.array(labels, dtype="int32")


def test_list_of_networkx_graphs_trains_graph_classification():
    graphs, labels = cycles_and_stars(40, seed=0)
    source = read_source((graphs, labels))
    assert (source.kind, source.overrides, source.input_shape) == ("graphs", {"task": "graph"}, (1,))
    first = next(iter(source.training_data(8, True, 0).make(0)))[0]
    assert int(first["node_graph_ids"].numpy().max()) + 1 == 8  # 8 graphs merged per batch
    keras.utils.set_random_seed(0)
    model = zoo.build("gin", task="graph", num_classes=2, input_shape=(1,))
    zoo.fit(model, (graphs, labels), epochs=20, batch_size=8, learning_rate=0.01, verbose=0)
    test_graphs, test_labels = cycles_and_stars(20, seed=1)
    assert zoo.evaluate(model, (test_graphs, test_labels))["accuracy"] >= 0.9


def test_graph_orders_are_fixed_per_epoch_and_differ_between_epochs():
    graphs, labels = cycles_and_stars(12, seed=0)
    data = read_source((graphs, labels)).training_data(4, True, 7)
    again = read_source((graphs, labels)).training_data(4, True, 7)

    def labels_of(training_data, epoch):
        return np.concatenate([y.numpy() for _, y in training_data.make(epoch)]).tolist()

    sizes = [[int(b["node_features"].shape[0]) for b, _ in data.make(e)] for e in (0, 1)]
    assert sizes[0] != sizes[1]  # another order in the next epoch
    assert [int(b["node_features"].shape[0]) for b, _ in again.make(1)] == sizes[1]  # the same order on a rerun
    assert sorted(labels_of(data, 0)) == sorted(labels.tolist())


def test_series_of_different_lengths_are_padded():
    rng = np.random.default_rng(0)
    labels = np.arange(40) % 2
    series = [rng.normal(1.0 if y else -1.0, 0.5, size=(int(rng.integers(5, 20)), 2)).astype("float32") for y in labels]
    source = read_source((series, labels))
    assert (source.kind, source.input_shape) == ("sequences", (None, 2))
    keras.utils.set_random_seed(0)
    model = zoo.build("conv1d", num_classes=2, input_shape=(None, 2))
    zoo.fit(model, (series, labels), epochs=15, batch_size=8, learning_rate=0.01, verbose=0)
    assert zoo.evaluate(model, (series, labels))["accuracy"] >= 0.9


def write_ts(path, rng, count):
    """A .ts file of rising ("up") and falling ("down") series of 8..16 steps."""
    lines = ["@problemName updown", "@univariate true", "@equalLength false", "@classLabel true up down", "@data"]
    for i in range(count):
        label = "up" if i % 2 else "down"
        steps = np.linspace(0, 1, int(rng.integers(8, 17))) * (1 if label == "up" else -1) + rng.normal(0, 0.1)
        lines.append(",".join(f"{v:.4f}" for v in steps) + f":{label}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_ts_files_through_zoo_train_keep_their_class_names(tmp_path):
    rng = np.random.default_rng(0)
    train, test = write_ts(tmp_path / "train.ts", rng, 40), write_ts(tmp_path / "test.ts", rng, 20)
    model, history = train_job("conv1d", str(train), validation_data=str(test), epochs=12, batch_size=8,
                               learning_rate=0.01, verbose=0)
    assert model.zoo_class_names == ("up", "down")
    assert history.history["val_accuracy"][-1] >= 0.9
    assert zoo.evaluate(model, str(test))["accuracy"] == pytest.approx(history.history["val_accuracy"][-1])


def test_zoo_fit_gives_the_data_class_names_to_a_model_without_any(tmp_path):
    train = write_ts(tmp_path / "train.ts", np.random.default_rng(0), 8)
    keras.utils.set_random_seed(0)
    model = zoo.build("conv1d", num_classes=2, input_shape=(None, 1))
    zoo.fit(model, str(train), epochs=1, verbose=0)
    assert model.zoo_class_names == ("up", "down")
    named = zoo.build("conv1d", num_classes=2, input_shape=(None, 1), class_names=["rise", "fall"])
    with pytest.raises(zoo.InvalidArgumentError, match="differ from the data's"):
        zoo.fit(named, str(train), epochs=1, verbose=0)


def write_planetoid(path):
    """A Planetoid-style .npz: 60 nodes in 2 communities, features one-hot community + noise."""
    rng = np.random.default_rng(0)
    labels = np.arange(60) % 2
    features = (np.eye(2)[labels] + rng.normal(0, 0.8, (60, 2))).astype("float32")
    same = [(i, j) for i in range(60) for j in range(i + 1, 60) if labels[i] == labels[j] and rng.random() < 0.1]
    edges = np.array(same + [(j, i) for i, j in same]).T
    np.savez(path, features=features, labels=labels, edge_index=edges, train_index=np.arange(10),
             val_index=np.arange(10, 30), test_index=np.arange(30, 60))
    return path


def test_planetoid_file_validates_on_its_val_split_and_evaluates_on_its_test_split(tmp_path):
    path = write_planetoid(tmp_path / "toy.npz")
    model = gcn(features=2)
    history = zoo.fit(model, str(path), epochs=3, verbose=0)
    assert "val_accuracy" in history.history  # the file's own val split, without validation_data
    graph = zoo_data.load_planetoid(path)
    assert zoo.evaluate(model, str(path)) == pytest.approx(zoo.evaluate(model, graph.dataset("test")))


def write_gin_text(path, graphs, labels):
    lines = [str(len(graphs))]
    for graph, label in zip(graphs, labels):
        lines.append(f"{graph.number_of_nodes()} {label}")
        for node in graph.nodes:
            neighbours = list(graph.neighbors(node))
            lines.append(" ".join(map(str, [graph.degree(node) % 3, len(neighbours), *neighbours])))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_gin_text_through_zoo_train_honours_validation_data(tmp_path):
    train = write_gin_text(tmp_path / "train.txt", *cycles_and_stars(30, seed=0))
    test = write_gin_text(tmp_path / "test.txt", *cycles_and_stars(10, seed=1))
    model, history = train_job("gin", str(train), validation_data=str(test), epochs=2, batch_size=8, verbose=0)
    assert len(history.history["val_loss"]) == 2
    batch, labels = next(iter(read_source(str(test)).training_data(4, False, 0).make(0)))
    assert model(batch).shape == (4, 2)  # built for graph classification: one prediction per graph


def test_validation_data_is_encoded_with_the_training_vocabulary(tmp_path):
    train_path = write_gin_text(tmp_path / "train.txt", [nx.star_graph(3), nx.cycle_graph(4)], [1, 0])  # tags 0, 1, 2
    val_path = write_gin_text(tmp_path / "val.txt", [nx.cycle_graph(5)], [0])  # tag 2 only, label 0 only
    training = read_source(str(train_path))
    assert training.vocabulary == {"node_tags": [0, 1, 2], "label_values": [0, 1]}
    assert read_source(str(val_path)).input_shape == (1,)  # on its own: one tag, one column
    validation = read_source(str(val_path), name="validation_data", training=training)
    assert validation.input_shape == (3,) and validation.vocabulary == training.vocabulary
    (batch, labels), = list(validation.training_data(4, False, 0).make(0))
    assert batch["node_features"].numpy().tolist() == [[0, 0, 1]] * 5 and labels.numpy().tolist() == [0]
    # a zoo.data set read on its own is refused rather than read with columns that mean other tags
    message = (r"validation_data was encoded with node_tags \[2\] and label_values \[0\], "
               r"but the training data with node_tags \[0, 1, 2\] and label_values \[0, 1\]")
    with pytest.raises(zoo.InvalidArgumentError, match=message):
        read_source(zoo_data.load_gin_text(val_path), name="validation_data", training=training)
    read_source(zoo_data.load_gin_text(train_path).subset([1]), name="validation_data", training=training)  # same file
    series = zoo_data.load_ts(write_ts(tmp_path / "train.ts", np.random.default_rng(0), 4))
    flipped = dataclasses.replace(series, class_names=series.class_names[::-1])
    with pytest.raises(zoo.InvalidArgumentError, match="encoded with class_names"):
        read_source(flipped, name="validation_data", training=read_source(series))


@pytest.mark.parametrize("data, message", [
    ((zoo_data.from_edge_list([(0, 1), (1, 2)]), [0, 1]), "needs one label per node"),
    (([zoo_data.from_edge_list([(0, 1)]), zoo_data.from_edge_list([(0, 1)], node_features=np.ones((2, 3)))], [0, 1]),
     "node features differ in size"),
    (([zoo_data.from_edge_list([(0, 1)])], [0, 1]), "2 labels for 1 graphs"),
    ((zoo_data.from_edge_list([(0, 1)]), [-1, -1]), "every node is unlabelled"),
    ({"x": 1}, "must be a tf.data.Dataset"),
])
def test_data_the_zoo_cannot_read_is_a_clear_error(data, message):
    with pytest.raises(zoo.InvalidArgumentError, match=message):
        read_source(data)
