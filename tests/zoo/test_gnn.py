"""The graph models: registry and cards, both tasks, backbones, permutations, dynamic sizes inside
tf.function, save / reload, weight files, bad input."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.data import graph_dataset, merge_graphs

NAMES = ["gcn", "graphsage", "gat", "gin", "mpnn"]
F, D, C = 5, 3, 3  # node features, edge features, classes of the small models
SMALL = {
    "gcn": dict(hidden=(8,)),
    "graphsage": dict(hidden=(8,)),
    "gat": dict(hidden=(4,), heads=2),
    "gin": dict(hidden=(8, 8)),
    "mpnn": dict(hidden=(8, 8), edge_feature_size=D),
}


def small(name, task, **kwargs):
    return zoo.build(name, task=task, num_classes=C, input_shape=(F,), **{**SMALL[name], **kwargs})


def random_graphs(rng, sizes):
    graphs = []
    for n in sizes:
        e = int(rng.integers(0, 3 * n + 1)) if n > 1 else 0
        graphs.append(
            {
                "node_features": rng.normal(size=(n, F)).astype("float32"),
                "edge_index": rng.integers(0, n, size=(2, e)).astype("int32"),
                "edge_features": rng.normal(size=(e, D)).astype("float32"),
            }
        )
    return graphs


def input_names(model):
    return sorted(t.name for t in keras.tree.flatten(model.inputs))


def model_inputs(model, batch):
    return {k: batch[k] for k in input_names(model)}


def batch_of(rng, sizes=(4, 1, 6, 3)):
    return merge_graphs(random_graphs(rng, sizes))


# ------------------------------------------------------------------------------------------------
# Registry and cards
# ------------------------------------------------------------------------------------------------


def test_registered_with_cards():
    assert zoo.list_models(family="gnn") == sorted(NAMES)
    for name in NAMES:
        card = zoo.card(name)
        assert card.task == "graph" and card.family == "gnn"
        assert card.extra["level"] in ("node", "graph")
        assert len(card.input_shape) == 1 and card.params and card.reference
        assert card.head_layers == ("predictions",)
    assert zoo.card("gin").extra["level"] == "graph" and zoo.card("gcn").extra["level"] == "node"


@pytest.mark.parametrize("name", NAMES)
def test_parameter_counts_at_the_default_config(name):
    model = zoo.build(name)
    card = zoo.card(name)
    trainable = int(sum(np.prod(v.shape) for v in model.trainable_weights))
    assert model.count_params() == card.params
    assert trainable == card.trainable_params
    assert tuple(model.output.shape) == (None, card.num_classes)


def test_the_readme_example():
    model = zoo.build("gin", task="graph", num_classes=2, input_shape=(7,))
    assert input_names(model) == ["edge_index", "node_features", "node_graph_ids"]
    assert tuple(model.output.shape) == (None, 2)


# ------------------------------------------------------------------------------------------------
# Both tasks, backbones, permutations
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["node", "graph"])
@pytest.mark.parametrize("name", NAMES)
def test_both_tasks_build_and_run(name, task):
    rng = np.random.default_rng(0)
    batch = batch_of(rng)
    model = small(name, task)
    out = model(model_inputs(model, batch)).numpy()
    expected_rows = len(batch["node_features"]) if task == "node" else 4
    assert out.shape == (expected_rows, C)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    assert ("node_graph_ids" in input_names(model)) == (task == "graph")
    assert ("edge_features" in input_names(model)) == (name == "mpnn")
    logits = small(name, task, classifier_activation=None)
    assert logits.get_layer("predictions").get_config()["activation"] in ("linear", None)


@pytest.mark.parametrize("name", NAMES)
def test_backbones(name):
    rng = np.random.default_rng(1)
    batch = batch_of(rng)
    n = len(batch["node_features"])
    embeddings = small(name, "node", include_top=False)
    out = embeddings(model_inputs(embeddings, batch))
    assert out.shape[0] == n and "predictions" not in [layer.name for layer in embeddings.layers]
    for pooling in ("avg", "max"):
        pooled = small(name, "graph", include_top=False, pooling=pooling)
        assert pooled.get_layer(f"{pooling}_pool") is not None
        assert pooled(model_inputs(pooled, batch)).shape == (4, out.shape[1])


def _permute(batch, perm):
    inverse = np.argsort(perm)
    out = dict(batch)
    out["node_features"] = batch["node_features"][perm]
    out["node_graph_ids"] = batch["node_graph_ids"][perm]
    edge_perm = np.random.default_rng(len(perm)).permutation(batch["edge_index"].shape[1])
    out["edge_index"] = inverse[batch["edge_index"]][:, edge_perm].astype("int32")
    out["edge_features"] = batch["edge_features"][edge_perm]
    return out


@pytest.mark.parametrize("name", NAMES)
def test_node_outputs_permute_and_graph_outputs_do_not_change(name):
    rng = np.random.default_rng(2)
    batch = batch_of(rng, (5, 2, 7, 1))
    perm = rng.permutation(len(batch["node_features"]))
    permuted = _permute(batch, perm)
    node_model, graph_model = small(name, "node"), small(name, "graph")
    a = node_model(model_inputs(node_model, batch)).numpy()
    b = node_model(model_inputs(node_model, permuted)).numpy()
    np.testing.assert_allclose(b, a[perm], rtol=1e-4, atol=1e-6)
    a = graph_model(model_inputs(graph_model, batch)).numpy()
    b = graph_model(model_inputs(graph_model, permuted)).numpy()
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_isolated_nodes_and_graphs_without_edges(name):
    rng = np.random.default_rng(3)
    graphs = random_graphs(rng, (3, 4))
    for g in graphs:  # no edge at all
        g["edge_index"] = np.zeros((2, 0), "int32")
        g["edge_features"] = np.zeros((0, D), "float32")
    batch = merge_graphs(graphs)
    for task, rows in (("node", 7), ("graph", 2)):
        model = small(name, task)
        out = model(model_inputs(model, batch)).numpy()
        assert out.shape == (rows, C) and np.all(np.isfinite(out))


# ------------------------------------------------------------------------------------------------
# Dynamic N and E inside tf.function, predict over batches, save / reload, weights
# ------------------------------------------------------------------------------------------------


def _signature(model):
    spec = {
        "node_features": tf.TensorSpec([None, F], tf.float32),
        "edge_index": tf.TensorSpec([2, None], tf.int32),
        "edge_features": tf.TensorSpec([None, D], tf.float32),
        "node_graph_ids": tf.TensorSpec([None], tf.int32),
    }
    return {k: spec[k] for k in input_names(model)}


@pytest.mark.parametrize("name", NAMES)
def test_inside_tf_function_with_dynamic_sizes(name):
    rng = np.random.default_rng(4)
    for task in ("node", "graph"):
        model = small(name, task)
        run = tf.function(lambda g: model(g, training=False), input_signature=[_signature(model)])
        for sizes in [(4, 1, 6, 3), (9,), (2, 2, 2, 2, 2, 2), (1, 5)]:
            batch = model_inputs(model, batch_of(rng, sizes))
            np.testing.assert_allclose(run(batch).numpy(), model(batch).numpy(), rtol=1e-5, atol=1e-6)
        assert run.experimental_get_tracing_count() == 1


def test_predict_and_evaluate_over_batches_of_different_sizes():
    rng = np.random.default_rng(5)
    graphs = random_graphs(rng, rng.integers(1, 9, size=11))
    for g in graphs:
        del g["edge_features"]
    labels = rng.integers(0, C, size=11)
    model = small("gin", "graph")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    dataset = graph_dataset(graphs, labels, batch_size=4)
    predictions = model.predict(dataset.map(lambda x, y: x), verbose=0)
    assert predictions.shape == (11, C)
    expected = model(model_inputs(model, merge_graphs(graphs))).numpy()
    np.testing.assert_allclose(predictions, expected, rtol=1e-5, atol=1e-6)
    history = model.fit(dataset, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert len(model.evaluate(dataset, verbose=0)) == 2


@pytest.mark.parametrize("task", ["node", "graph"])
@pytest.mark.parametrize("name", NAMES)
def test_save_and_reload(name, task, tmp_path):
    rng = np.random.default_rng(6)
    model = small(name, task)
    batch = model_inputs(model, batch_of(rng))
    expected = model(batch).numpy()
    path = tmp_path / f"{name}_{task}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(reloaded(batch).numpy(), expected)
    other = model_inputs(model, batch_of(rng, (7, 2)))  # other N and E after reloading
    np.testing.assert_array_equal(reloaded(other).numpy(), model(other).numpy())


def test_weight_file_loads_everything_but_the_head(tmp_path, randomize):
    source = randomize(small("gin", "graph"))
    path = tmp_path / "gin.weights.h5"
    source.save_weights(path)
    same = zoo.build("gin", task="graph", num_classes=C, input_shape=(F,), weights=path, **SMALL["gin"])
    batch = model_inputs(same, batch_of(np.random.default_rng(7)))
    np.testing.assert_allclose(same(batch).numpy(), source(batch).numpy(), rtol=1e-5, atol=1e-6)
    other = zoo.build("gin", task="graph", num_classes=C + 2, input_shape=(F,), weights=path, **SMALL["gin"])
    assert list(other.zoo_weights_report.shape_mismatch) == ["predictions"]
    np.testing.assert_array_equal(other.get_layer("gin1").get_weights()[1], source.get_layer("gin1").get_weights()[1])


# ------------------------------------------------------------------------------------------------
# Bad arguments and bad input
# ------------------------------------------------------------------------------------------------


def test_bad_arguments():
    with pytest.raises(zoo.InvalidArgumentError, match="task must be one of"):
        zoo.build("gcn", task="edge")
    with pytest.raises(zoo.InvalidArgumentError, match="no option 'heads'.*normalization"):
        zoo.build("gcn", heads=4)
    with pytest.raises(zoo.InvalidArgumentError, match="rank 1"):
        zoo.build("gat", input_shape=(10, 3))
    with pytest.raises(zoo.InvalidArgumentError, match="feature size"):
        zoo.build("gat", input_shape=(None,))
    with pytest.raises(zoo.InvalidArgumentError, match="hidden"):
        zoo.build("gin", hidden=(0,))
    with pytest.raises(zoo.InvalidArgumentError, match="readout"):
        zoo.build("gin", readout="median")
    with pytest.raises(zoo.InvalidArgumentError, match="every hidden width must be equal"):
        zoo.build("mpnn", hidden=(8, 16))


def test_bad_input_raises_a_clear_error_eagerly_and_in_predict():
    rng = np.random.default_rng(8)
    model = small("gcn", "node")
    batch = model_inputs(model, batch_of(rng))
    bad = dict(batch, edge_index=np.array([[0, 1], [1, 99]], "int32"))
    with pytest.raises(tf.errors.InvalidArgumentError, match="edge_index holds node ids >= the number of nodes"):
        model(bad)
    with pytest.raises(tf.errors.InvalidArgumentError, match="edge_index holds negative"):
        model.predict(tf.data.Dataset.from_tensors(dict(batch, edge_index=np.array([[0, -1], [1, 2]], "int32"))),
                      verbose=0)
    graph_model = small("gin", "graph")
    batch = model_inputs(graph_model, batch_of(rng))
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match="node_graph_ids"):
        graph_model(dict(batch, node_graph_ids=batch["node_graph_ids"][:-1]))


# ------------------------------------------------------------------------------------------------
# gin with edge features (GINE, Hu et al. 2020)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["node", "graph"])
def test_gin_with_edge_features_uses_them(task, tmp_path):
    rng = np.random.default_rng(9)
    model = small("gin", task, edge_feature_size=D, classifier_activation=None)
    assert input_names(model) == sorted(["edge_features", "edge_index", "node_features"]
                                        + (["node_graph_ids"] if task == "graph" else []))
    assert [type(model.get_layer(f"gin{i}")).__name__ for i in (1, 2)] == ["GINEConv", "GINEConv"]
    assert model.get_layer("gin1").edge_dense.kernel.shape == (D, F)  # to the input width of each layer
    assert model.get_layer("gin2").edge_dense.kernel.shape == (D, 8)
    batch = model_inputs(model, batch_of(rng))
    out = model(batch).numpy()
    other = dict(batch, edge_features=rng.normal(size=batch["edge_features"].shape).astype("float32"))
    assert np.abs(model(other).numpy() - out).max() > 1e-2 * np.abs(out).max()
    path = tmp_path / "gine.keras"
    model.save(path)
    np.testing.assert_array_equal(keras.saving.load_model(path)(batch).numpy(), out)
    run = tf.function(lambda g: model(g, training=False), input_signature=[_signature(model)])
    for sizes in [(4, 1, 6, 3), (9,), (1, 5)]:
        b = model_inputs(model, batch_of(rng, sizes))
        np.testing.assert_allclose(run(b).numpy(), model(b).numpy(), rtol=1e-5, atol=1e-6)
    assert run.experimental_get_tracing_count() == 1


def test_gin_edge_feature_size_is_checked_and_in_the_card():
    assert "edge_features" in zoo.card("gin").extra["inputs"]
    assert "edge_features" in zoo.card("mpnn").extra["inputs"]
    assert "edge_features" not in zoo.card("gcn").extra["inputs"]
    assert input_names(zoo.build("gin")) == ["edge_index", "node_features", "node_graph_ids"]  # default 0: none
    for bad in (-1, 2.5, True, "4"):
        with pytest.raises(zoo.InvalidArgumentError, match="edge_feature_size must be an integer >= 0"):
            zoo.build("gin", edge_feature_size=bad)
        with pytest.raises(zoo.InvalidArgumentError, match="edge_feature_size must be an integer >= 0"):
            zoo.build("mpnn", edge_feature_size=bad)
    with pytest.raises(zoo.InvalidArgumentError, match="no option 'edge_feature_size'"):
        zoo.build("gcn", edge_feature_size=4)
