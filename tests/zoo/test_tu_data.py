"""The TU Dortmund format reader (`zoo.data.load_tu`) on hand-made data sets whose arrays are spelled
out, its vocabulary for test sets, its errors, and TU folders read by `zoo.fit` / `zoo train`."""

import logging

import numpy as np
import pytest

import zoo
from zoo.data import load_tu
from zoo.training.sources import read_source

# TOY: graph 1 is the path 1 - 2 - 3 (bonds labelled 1 and 2), graph 2 the edge 4 - 5 (bond 0);
# node labels (atoms) 6, 8, 6 | 7, 6; graph labels 1 and -1; both directions of every edge listed.
TOY = {
    "A": ["1, 2", "2, 1", "2, 3", "3, 2", "4, 5", "5, 4"],
    "graph_indicator": ["1", "1", "1", "2", "2"],
    "graph_labels": ["1", "-1"],
    "node_labels": ["6", "8", "6", "7", "6"],
    "edge_labels": ["1", "1", "2", "2", "0", "0"],
    "node_attributes": ["0.5, 1.0", "1.5, 2.0", "2.5, 3.0", "3.5, 4.0", "4.5, 5.0"],
    "edge_attributes": ["0.1", "0.2", "0.3", "0.4", "0.5", "0.6"],
}


def write_tu(folder, name="TOY", parts=TOY, leave_out=()):
    folder.mkdir(parents=True, exist_ok=True)
    for part, lines in parts.items():
        if part not in leave_out:
            (folder / f"{name}_{part}.txt").write_text("\n".join(lines) + "\n")
    return folder


def test_reads_the_hand_made_set(tmp_path):
    data = load_tu(write_tu(tmp_path / "TOY"))
    assert data.name == "TOY" and len(data) == 2
    assert data.label_values == [-1, 1] and data.labels.tolist() == [1, 0]
    assert data.tag_values == [6, 7, 8] and data.edge_tag_values == [0, 1, 2]
    first, second = data.graphs
    # node features: one-hot atom (6, 7, 8), then the two attributes
    np.testing.assert_array_equal(first["node_features"], [[1, 0, 0, 0.5, 1.0], [0, 0, 1, 1.5, 2.0], [1, 0, 0, 2.5, 3.0]])
    np.testing.assert_array_equal(second["node_features"], [[0, 1, 0, 3.5, 4.0], [1, 0, 0, 4.5, 5.0]])
    # edges in each graph's numbering, as DS_A lists them, sorted by receiver (stable)
    np.testing.assert_array_equal(first["edge_index"], [[1, 0, 2, 1], [0, 1, 1, 2]])
    np.testing.assert_array_equal(second["edge_index"], [[1, 0], [0, 1]])
    # edge features: one-hot bond (0, 1, 2), then the attribute, permuted with the edges
    np.testing.assert_allclose(first["edge_features"], [[0, 1, 0, 0.2], [0, 1, 0, 0.1], [0, 0, 1, 0.4], [0, 0, 1, 0.3]])
    np.testing.assert_allclose(second["edge_features"], [[1, 0, 0, 0.6], [1, 0, 0, 0.5]])
    assert first["edge_index"].dtype == np.int32 and first["edge_features"].dtype == np.float32
    assert data.edge_feature_size == 4 and data.num_features == 5
    assert data.subset([1]).edge_tag_values == [0, 1, 2]
    # the same set by its DS_A.txt, and in a folder of another name
    by_file = load_tu(tmp_path / "TOY" / "TOY_A.txt")
    np.testing.assert_array_equal(by_file.graphs[0]["edge_features"], first["edge_features"])
    assert load_tu(write_tu(tmp_path / "elsewhere")).name == "TOY"


def test_without_the_optional_files(tmp_path):
    labels_only = load_tu(write_tu(tmp_path / "a", leave_out=("node_attributes", "edge_attributes")))
    np.testing.assert_array_equal(labels_only.graphs[1]["node_features"], [[0, 1, 0], [1, 0, 0]])
    np.testing.assert_array_equal(labels_only.graphs[1]["edge_features"], [[1, 0, 0], [1, 0, 0]])
    no_attributes = load_tu(tmp_path / "a" / "TOY_A.txt", node_attributes=False, edge_attributes=False)
    assert no_attributes.num_features == 3 and no_attributes.edge_feature_size == 3
    bare = load_tu(write_tu(tmp_path / "b", leave_out=("node_labels", "edge_labels", "node_attributes",
                                                       "edge_attributes")))
    np.testing.assert_array_equal(bare.graphs[0]["node_features"], np.ones((3, 1)))  # a column of ones
    assert "edge_features" not in bare.graphs[0] and bare.edge_feature_size == 0
    assert bare.tag_values == [] and bare.edge_tag_values == []
    attributes_only = load_tu(write_tu(tmp_path / "c", leave_out=("node_labels", "edge_labels")))
    np.testing.assert_allclose(attributes_only.graphs[1]["edge_features"], [[0.6], [0.5]])


def test_a_test_set_reads_with_the_training_vocabulary(tmp_path, caplog):
    train = load_tu(write_tu(tmp_path / "train"))
    # one graph: atoms 6 and 9 (unseen), bond 3 (unseen) then 1; label -1
    test_parts = {"A": ["1, 2", "2, 1", "2, 3", "3, 2"], "graph_indicator": ["1", "1", "1"], "graph_labels": ["-1"],
                  "node_labels": ["6", "9", "8"], "edge_labels": ["3", "3", "1", "1"]}
    folder = write_tu(tmp_path / "test", parts=test_parts)
    own = load_tu(folder)
    assert own.tag_values == [6, 8, 9] and own.edge_tag_values == [1, 3] and own.labels.tolist() == [0]
    with caplog.at_level(logging.WARNING, logger="zoo.data"):
        test = load_tu(folder, node_tags=train.tag_values, edge_tags=train.edge_tag_values,
                       label_values=train.label_values)
    np.testing.assert_array_equal(test.graphs[0]["node_features"], [[1, 0, 0], [0, 0, 0], [0, 0, 1]])
    np.testing.assert_array_equal(test.graphs[0]["edge_features"], [[0, 0, 0], [0, 0, 0], [0, 1, 0], [0, 1, 0]])
    assert test.labels.tolist() == [0] and test.label_values == [-1, 1]
    warnings = [r.getMessage() for r in caplog.records]
    assert any("1 of the 3 nodes" in w and "node_tags [6, 7, 8]: [9]" in w for w in warnings)
    assert any("2 of the 4 edges" in w and "edge_tags [0, 1, 2]: [3]" in w for w in warnings)
    with pytest.raises(zoo.InvalidArgumentError, match=r"labels \[-1\] that are not in label_values \[0, 1\]"):
        load_tu(folder, label_values=[0, 1])
    with pytest.raises(zoo.InvalidArgumentError, match="edge_tags"):
        load_tu(write_tu(tmp_path / "no_bonds", leave_out=("edge_labels",)), edge_tags=[0, 1])


@pytest.mark.parametrize("change, message", [
    ({"A": TOY["A"][:-1] + ["3, 4"]}, r"edge 6 \(3, 4\) joins nodes of graphs 1 and 2"),
    ({"A": TOY["A"][:-1] + ["5, 9"]}, r"edge 6 \(5, 9\) names a node outside 1..5"),
    ({"A": TOY["A"][:-1] + ["5"]}, "line 6: expected 2 values"),
    ({"graph_indicator": ["1", "1", "1", "2", "3"]}, "node 5 is in graph 3, but TOY_graph_labels.txt labels graphs 1..2"),
    ({"edge_labels": TOY["edge_labels"][:-1]}, "5 lines, expected 6"),
    ({"node_labels": ["6", "8", "C", "7", "6"]}, "line 3: expected numbers, got 'C'"),
    ({"node_attributes": TOY["node_attributes"][:-1] + ["4.5"]}, "different numbers of attributes"),
    ({"graph_labels": []}, "is empty"),
])
def test_files_that_break_the_format(tmp_path, change, message):
    with pytest.raises(zoo.InvalidArgumentError, match=message):
        load_tu(write_tu(tmp_path / "TOY", parts={**TOY, **change}))


def test_missing_files_and_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="lacks TOY_graph_labels.txt"):
        load_tu(write_tu(tmp_path / "TOY", leave_out=("graph_labels",)))
    with pytest.raises(FileNotFoundError, match="no TU data set"):
        load_tu(tmp_path)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_tu(tmp_path / "nowhere")
    write_tu(tmp_path / "two")
    write_tu(tmp_path / "two", name="OTHER")
    with pytest.raises(zoo.InvalidArgumentError, match=r"several TU data sets \['OTHER', 'TOY'\]"):
        load_tu(tmp_path / "two")


def test_read_source_takes_a_tu_folder_with_its_vocabulary(tmp_path):
    source = read_source(str(write_tu(tmp_path / "TOY")))
    assert source.kind == "graphs" and source.input_shape == (5,) and source.edge_feature_size == 4
    assert source.vocabulary == {"node_tags": [6, 7, 8], "edge_tags": [0, 1, 2], "label_values": [-1, 1]}
    assert "TU data set TOY: 2 graphs" in source.description
    (batch, labels), = list(source.training_data(4, False, 0).make(0))
    assert batch["edge_features"].shape == (6, 4) and labels.numpy().tolist() == [1, 0]
    parts = {"A": ["1, 2", "2, 1"], "graph_indicator": ["1", "1"], "graph_labels": ["1"], "node_labels": ["7", "7"],
             "edge_labels": ["2", "2"], "node_attributes": ["0, 0", "1, 1"], "edge_attributes": ["1", "1"]}
    validation = read_source(str(write_tu(tmp_path / "VAL", name="VAL", parts=parts)), name="validation_data",
                             training=source)
    assert validation.vocabulary == source.vocabulary and validation.input_shape == (5,)
    (batch, _), = list(validation.training_data(4, False, 0).make(0))
    np.testing.assert_array_equal(batch["edge_features"].numpy(), [[0, 0, 1, 1], [0, 0, 1, 1]])


# ------------------------------------------------------------------------------------------------
# The model's edge input against the data's edge features: zoo train builds to fit, zoo.fit checks
# ------------------------------------------------------------------------------------------------


def edge_input_size(model):
    edges = model.input.get("edge_features")
    return 0 if edges is None else edges.shape[-1]


def test_zoo_train_builds_the_edge_input_the_data_has(tmp_path, caplog):
    from zoo.training.job import train_job

    with_bonds = str(write_tu(tmp_path / "TOY"))
    without = str(write_tu(tmp_path / "BARE", leave_out=("edge_labels", "edge_attributes")))
    small = {"hidden": (8,)}
    for name, data, expected in [("gin", with_bonds, 4), ("mpnn", with_bonds, 4), ("mpnn", without, 0),
                                 ("gin", without, 0)]:
        model, history = train_job(name, data, overrides=small, epochs=1, batch_size=2, verbose=0)
        assert edge_input_size(model) == expected, (name, data)
        assert np.isfinite(history.history["loss"]).all()
    with caplog.at_level(logging.WARNING, logger="zoo.training"):  # --set edge_feature_size=0: trained without them
        model, _ = train_job("gin", with_bonds, overrides={**small, "edge_feature_size": 0}, epochs=1, batch_size=2,
                             verbose=0)
    assert edge_input_size(model) == 0
    assert any("has edge_features [E, 4] but the model 'gin' has no edge_features input" in r.getMessage()
               and "edge_feature_size=4" in r.getMessage() and "gin, mpnn" in r.getMessage() for r in caplog.records)


def test_zoo_fit_says_what_to_do_when_model_and_data_disagree(tmp_path, caplog):
    with_bonds = load_tu(write_tu(tmp_path / "TOY"))
    without = load_tu(write_tu(tmp_path / "BARE", leave_out=("edge_labels", "edge_attributes")))
    mpnn = zoo.build("mpnn", num_classes=2, input_shape=(5,), hidden=(8,))  # edge_feature_size 4 by default
    with pytest.raises(zoo.InvalidArgumentError, match=r"takes edge_features \[E, 4\] but data has none: build it "
                                                       r"with edge_feature_size=0"):
        zoo.fit(mpnn, without, epochs=1, verbose=0)
    three = zoo.build("mpnn", num_classes=2, input_shape=(5,), hidden=(8,), edge_feature_size=3)
    with pytest.raises(zoo.InvalidArgumentError, match="takes edge_features of size 3 but data has edge features of "
                                                       "size 4: build it with edge_feature_size=4"):
        zoo.fit(three, with_bonds, epochs=1, verbose=0)
    with pytest.raises(zoo.InvalidArgumentError, match="edge_feature_size=0"):
        zoo.evaluate(mpnn, without)
    gin = zoo.build("gin", num_classes=2, input_shape=(5,), hidden=(8,))
    with caplog.at_level(logging.WARNING, logger="zoo.training"):
        history = zoo.fit(gin, with_bonds, validation_data=with_bonds, epochs=1, batch_size=2, verbose=0)
        zoo.evaluate(gin, with_bonds.dataset(batch_size=2))  # a tf.data.Dataset of graph batches too
    assert np.isfinite(history.history["val_loss"]).all()
    warnings = [r.getMessage() for r in caplog.records if "has no edge_features input" in r.getMessage()]
    assert len(warnings) == 2 and warnings[0].startswith("data has edge_features [E, 4]")  # not again for validation
    gine = zoo.build("gin", num_classes=2, input_shape=(5,), hidden=(8,), edge_feature_size=4)
    assert set(zoo.evaluate(gine, with_bonds)) >= {"loss", "accuracy"}
