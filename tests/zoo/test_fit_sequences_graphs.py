"""zoo.fit and `zoo train` on the sequence and graph data of the other families, on real data (the bundled sets)."""

import gzip
import subprocess
import sys

import keras
import numpy as np
import pytest

import zoo
from zoo import data as zoo_data


@pytest.fixture(scope="module")
def cora():
    return zoo_data.load_dataset("cora", normalize_features=True)


def gcn(cora):
    keras.utils.set_random_seed(0)
    return zoo.build("gcn", task="node", num_classes=cora.num_classes, input_shape=(cora.num_features,), dropout=0.0)


def test_node_classification_one_device_equals_mirrored(cora):
    single, mirrored = gcn(cora), gcn(cora)
    kwargs = dict(epochs=3, optimizer="sgd", learning_rate=0.5, verbose=0, recipe=None)  # plain loop on both
    zoo.fit(single, cora.dataset("train"), strategy="one_device", **kwargs)
    strategy = zoo.training.resolve_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2
    history = zoo.fit(mirrored, cora.dataset("train"), strategy=strategy, validation_data=cora.dataset("val"),
                      **kwargs)
    for a, b in zip(single.get_weights(), mirrored.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert history.history["loss"][-1] < history.history["loss"][0]


@pytest.mark.slow
def test_node_classification_learns_cora(cora):
    model = gcn(cora)
    zoo.fit(model, cora.dataset("train"), epochs=60, learning_rate=0.01, verbose=0)
    accuracy = zoo.evaluate(model, cora.dataset("test"))["accuracy"]
    assert accuracy > 0.7, accuracy


def test_graph_classification_batches():
    mutag, _ = zoo_data.load_dataset("mutag")
    keras.utils.set_random_seed(0)
    model = zoo.build("gin", task="graph", num_classes=2, input_shape=(mutag.num_features,))
    history = zoo.fit(model, mutag.dataset(batch_size=32, shuffle=True, seed=0), epochs=15, learning_rate=0.01,
                      verbose=0)
    assert history.history["accuracy"][-1] > 0.75
    assert zoo.evaluate(model, mutag.dataset(batch_size=64))["accuracy"] > 0.75


def test_graph_batches_are_split_across_replicas_and_train_as_on_one_device():
    from zoo.training.loop import _distribute

    mutag, _ = zoo_data.load_dataset("mutag")
    data = mutag.dataset(batch_size=17)  # 188 graphs: 11 batches of 17, then one graph alone
    strategy = zoo.training.resolve_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2
    shards = [[(s[0]["node_graph_ids"].shape[0], s[1].shape[0]) for s in strategy.experimental_local_results(element)]
              for element in _distribute(strategy, data)]
    first_batch = next(iter(data))
    assert [graphs for _, graphs in shards[0]] == [8, 9]  # each replica its own whole graphs
    assert sum(nodes for nodes, _ in shards[0]) == first_batch[0]["node_graph_ids"].shape[0]
    assert shards[-1][0] == shards[-1][1] and shards[-1][0][1] == 1  # one graph: both replicas get it

    def gin():
        keras.utils.set_random_seed(0)
        return zoo.build("gin", task="graph", num_classes=2, input_shape=(mutag.num_features,), hidden=(16, 16),
                         batch_norm=False, dropout=0.0, head_dropout=0.0)

    single, mirrored = gin(), gin()
    # a rate that trains smoothly: at 0.01 this model without batch norm overshoots (loss 4.7 -> 23 in the
    # first epoch) and the two runs, 1e-7 apart after it, part by 1e-4 when a ReLU falls the other way
    kwargs = dict(epochs=2, optimizer="sgd", learning_rate=0.001, verbose=0, recipe=None)  # the last weights
    untrained = zoo.evaluate(gin(), data)
    zoo.fit(single, data, strategy="one_device", **kwargs)
    zoo.fit(mirrored, data, strategy=strategy, **kwargs)
    for a, b in zip(single.get_weights(), mirrored.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)  # sums in another order: float rounding
    trained = zoo.evaluate(single, data)
    assert trained["loss"] < untrained["loss"]  # it did train
    assert zoo.evaluate(mirrored, data, strategy=strategy) == pytest.approx(trained, rel=1e-5)  # 188 graphs, once each


def test_variable_length_sequences():
    train = zoo_data.load_dataset("japanese_vowels", split="train")
    x, _ = zoo_data.pad_sequences(zoo_data.standardize(train.series)[0])
    keras.utils.set_random_seed(0)
    model = zoo.build("gru", num_classes=9, input_shape=(None, 12), units=(32,))
    history = zoo.fit(model, (x, train.labels), epochs=5, batch_size=16, learning_rate=3e-3, verbose=0)
    assert history.history["accuracy"][-1] > history.history["accuracy"][0]


def test_fit_standardizes_a_recurrent_model_once_from_the_raw_training_series(tmp_path):
    """The gru's `standardize` layer takes the mean / std of the real (unpadded) training steps at
    the first fit, keeps them through a second fit, and travels with the saved model."""
    train = zoo_data.load_dataset("japanese_vowels", split="train")
    steps = np.concatenate(train.series)
    keras.utils.set_random_seed(0)
    model = zoo.build("gru", num_classes=9, input_shape=(None, 12), units=(16,))
    layer = model.get_layer("standardize")
    assert not layer.adapted
    zoo.fit(model, train, epochs=1, verbose=0)
    np.testing.assert_allclose(layer.mean.numpy(), steps.mean(axis=0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(layer.std.numpy(), steps.std(axis=0), rtol=1e-4)
    assert int(layer.count.numpy()) == len(steps)
    shifted = [s + 100.0 for s in train.series]
    zoo.fit(model, (shifted, train.labels), epochs=1, verbose=0)  # adapted already: left as it is
    np.testing.assert_allclose(layer.mean.numpy(), steps.mean(axis=0), rtol=1e-4, atol=1e-6)
    x, _ = zoo_data.pad_sequences(train.series[:8])
    model.save(tmp_path / "gru.keras")
    reloaded = keras.saving.load_model(tmp_path / "gru.keras")
    np.testing.assert_allclose(np.asarray(reloaded(x)), np.asarray(model(x)), atol=1e-6)
    assert reloaded.get_layer("standardize").adapted
    assert "standardize" not in [l.name for l in zoo.build("gru", input_shape=(None, 12), standardize=False).layers]
    with pytest.raises(zoo.InvalidArgumentError, match="no real"):  # all padding: nothing to standardize with
        zoo.fit(zoo.build("gru", num_classes=2, input_shape=(None, 3)), (np.zeros((4, 5, 3), "float32"), [0, 1, 0, 1]),
                epochs=1, verbose=0)


@pytest.mark.parametrize("name", ["conv1d", "resnet1d", "inception_time"])
def test_fit_sets_the_fixed_length_of_an_unmasked_classifier_and_its_predictions_ignore_the_batch(tmp_path, name):
    """With mask_value=None and pad_to_longest=True, zoo.fit records the training set's longest
    length, and a series gets the same prediction alone, beside a longer series (a batch padded
    further) and after save / reload; padded to its batch only, it does not."""
    train = zoo_data.load_dataset("japanese_vowels", split="train")
    longest = max(len(s) for s in train.series)
    keras.utils.set_random_seed(0)
    small = {"conv1d": {"filters": (8, 8), "kernel_sizes": (3, 3)}, "resnet1d": {"filters": (8,)},
             "inception_time": {"depth": 1, "filters": 4, "bottleneck_size": 4}}[name]
    model = zoo.build(name, num_classes=9, input_shape=(None, 12), mask_value=None, pad_to_longest=True, **small)
    zoo.fit(model, train, epochs=1, batch_size=64, verbose=0)
    assert float(model.get_layer("pad_to_longest").length.numpy()) == longest
    short, other = train.series[0], train.series[1][: longest - 2]
    assert len(short) < len(other) < longest
    alone, _ = zoo_data.pad_sequences([short])
    beside, _ = zoo_data.pad_sequences([short, other])
    np.testing.assert_allclose(np.asarray(model(beside))[0], np.asarray(model(alone))[0], atol=1e-5)
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(np.asarray(reloaded(alone)), np.asarray(model(alone)), atol=1e-6)
    batch_padded = zoo.build(name, num_classes=9, input_shape=(None, 12), mask_value=None, **small)
    batch_padded.set_weights([w for w in model.get_weights() if w.shape != ()])
    assert not np.allclose(np.asarray(batch_padded(beside))[0], np.asarray(batch_padded(alone))[0], atol=1e-5)


def _plain_files(dataset, roles, folder):
    """Paths `zoo train --data` reads: the bundled files, the gzipped ones unpacked into `folder`."""
    paths = []
    for role in roles:
        path = zoo_data.dataset_files(dataset)[role]
        if path.suffix == ".gz":
            plain = folder / path.stem
            plain.write_bytes(gzip.decompress(path.read_bytes()))
            path = plain
        paths.append(str(path.parent if role == "graphs" else path))
    return paths


@pytest.mark.slow
@pytest.mark.parametrize(
    "model, dataset, roles, words",
    [
        ("gcn", "cora", ["graph"], ["val_accuracy"]),
        ("gin", "mutag", ["graphs"], ["accuracy"]),
        ("conv1d", "gunpoint", ["train", "test"], ["val_accuracy"]),
    ],
)
def test_zoo_train_reads_graph_and_sequence_files(tmp_path, model, dataset, roles, words):
    paths = _plain_files(dataset, roles, tmp_path)
    command = [sys.executable, "-m", "zoo", "train", model, "--data", paths[0], "--epochs", "2", "--one-line"]
    if len(paths) > 1:
        command += ["--validation-data", paths[1]]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Epoch 2/2" in result.stdout and all(w in result.stdout for w in words), result.stdout
