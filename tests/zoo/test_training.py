"""zoo.fit on one device: data forms, errors before training, callbacks, logs, mixed precision."""

import glob

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.data import load_digits


@pytest.fixture(scope="module")
def digits():
    (x, y), (xt, yt) = load_digits()
    return (x, y), (xt, yt)


def small_model(**kw):
    keras.utils.set_random_seed(0)
    return zoo.build("mlp", input_shape=(8, 8, 1), num_classes=10, hidden=(32,), dropout=0.0, **kw)


def test_fit_learns_and_reports_history(digits):
    (x, y), (xt, yt) = digits
    model = small_model()
    history = zoo.fit(model, (x, y), epochs=4, batch_size=32, learning_rate=5e-3, validation_data=(xt, yt), verbose=0)
    h = history.history
    assert set(h) == {"loss", "accuracy", "val_loss", "val_accuracy"} and len(h["loss"]) == 4
    assert h["loss"][-1] < h["loss"][0]
    assert h["val_accuracy"][-1] > 0.8
    report = zoo.evaluate(model, (xt, yt))
    assert report["accuracy"] == pytest.approx(h["val_accuracy"][-1], abs=1e-6)
    assert report["accuracy"] == pytest.approx(np.mean(np.argmax(model.predict(xt, verbose=0), -1) == yt), abs=1e-6)


def test_loss_is_the_mean_over_the_epoch(digits):
    (x, y), _ = digits
    model = small_model()
    weights = model.get_weights()
    zoo.fit(model, (x[:100], y[:100]), epochs=1, batch_size=100, optimizer="sgd", learning_rate=0.0, verbose=0)
    expected = keras.losses.sparse_categorical_crossentropy(y[:100], model(x[:100])).numpy().mean()
    got = zoo.evaluate(model, (x[:100], y[:100]))["loss"]
    assert got == pytest.approx(float(expected), rel=1e-5)
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)  # learning rate 0 changes nothing


def test_augmented_training_is_reproducible(digits):
    (x, y), _ = digits

    def train(augment):
        model = small_model()
        zoo.fit(model, (x[:256], y[:256]), epochs=2, batch_size=32, augment=augment, seed=0, verbose=0)
        return model.get_weights()

    def shifts():
        return keras.layers.RandomTranslation(0.2, 0.2, fill_mode="constant", seed=1)

    first, again, plain = train(shifts()), train(shifts()), train(None)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)  # the same random shifts in the same batches
    assert not np.allclose(first[0], plain[0])  # and they were applied


def test_a_dataset_with_sample_weights(digits):
    (x, y), _ = digits
    w = (y < 5).astype("float32")  # only digits 0-4 count
    dataset = tf.data.Dataset.from_tensor_slices((x, y, w)).batch(64)
    model = small_model()
    zoo.fit(model, dataset, epochs=5, learning_rate=5e-3, verbose=0)
    predicted = np.argmax(model.predict(x, verbose=0), -1)
    assert np.mean(predicted[y < 5] == y[y < 5]) > 0.8
    assert np.mean(predicted[y >= 5] < 5) > 0.5  # never taught the other digits


def test_npz_path(tmp_path, digits):
    (x, y), _ = digits
    np.savez(tmp_path / "d.npz", x=x, y=y)
    history = zoo.fit(small_model(), str(tmp_path / "d.npz"), epochs=1, verbose=0)
    assert history.history["accuracy"][0] > 0.1


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(epochs=0), "epochs"),
        (dict(batch_size=0), "batch_size"),
        (dict(strategy="gpus"), "strategy"),
        (dict(optimizer="adamm"), "optimizer"),
        (dict(checkpoint_every=0), "checkpoint_every"),
        (dict(mixed_precision="float8"), "mixed_precision"),
    ],
)
def test_bad_arguments(digits, kwargs, words):
    (x, y), _ = digits
    with pytest.raises(zoo.InvalidArgumentError, match=words):
        zoo.fit(small_model(), (x, y), verbose=0, **kwargs)


def test_bad_data_is_refused_before_training(digits):
    (x, y), _ = digits
    with pytest.raises(zoo.InvalidArgumentError, match=r"label\(s\) \[10, 12\]"):
        zoo.fit(small_model(), (x[:10], np.r_[y[:8], 10, 12]), verbose=0)
    with pytest.raises(zoo.InvalidArgumentError, match="differ in length"):
        zoo.fit(small_model(), (x[:10], y[:9]), verbose=0)
    with pytest.raises(zoo.InvalidArgumentError, match="must be a tf.data.Dataset"):
        zoo.fit(small_model(), [x, y], verbose=0)
    with pytest.raises(FileNotFoundError):
        zoo.fit(small_model(), "/no/such/folder", verbose=0)


def test_multiworker_needs_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(zoo.InvalidArgumentError, match="TF_CONFIG"):
        zoo.training.resolve_strategy("multiworker")


def test_callbacks_early_stopping_and_custom(digits):
    (x, y), _ = digits
    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((epoch, dict(logs)))

    stop = keras.callbacks.EarlyStopping(monitor="loss", min_delta=10.0, patience=0)  # no epoch improves by 10
    history = zoo.fit(small_model(), (x, y), epochs=10, callbacks=[Record(), stop], verbose=0)
    assert len(history.history["loss"]) == 2 and [e for e, _ in seen] == [0, 1]
    assert set(seen[0][1]) == {"loss", "accuracy"}


def test_progress_is_printed_and_can_be_silenced(digits, capsys):
    (x, y), _ = digits
    zoo.fit(small_model(), (x, y), epochs=1, batch_size=64, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/1" in out and "loss" in out and "examples/s" in out and "15/15" in out
    zoo.fit(small_model(), (x, y), epochs=2, verbose=2)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Epoch")]
    assert len(lines) == 2 and "accuracy" in lines[1]
    zoo.fit(small_model(), (x, y), epochs=1, verbose=0)
    assert capsys.readouterr().out == ""


def test_tensorboard_logs(tmp_path, digits):
    (x, y), (xt, yt) = digits
    zoo.fit(small_model(), (x, y), epochs=2, validation_data=(xt, yt), log_dir=tmp_path, verbose=0)
    files = glob.glob(str(tmp_path / "events.out.tfevents.*"))
    assert files
    tags = set()
    for record in tf.data.TFRecordDataset(files):
        event = tf.compat.v1.Event.FromString(record.numpy())
        tags |= {value.tag for value in event.summary.value}
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"} <= tags


def test_learning_rate_schedule(digits):
    (x, y), _ = digits
    schedule = keras.optimizers.schedules.ExponentialDecay(0.01, decay_steps=1, decay_rate=0.5)
    history = zoo.fit(small_model(), (x, y), epochs=1, learning_rate=schedule, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_keeps_head_and_loss_in_float32(digits, policy):
    (x, y), _ = digits
    model = small_model()
    before = model.get_weights()[0].copy()
    history = zoo.fit(model, (x, y), epochs=3, mixed_precision=policy, learning_rate=3e-3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert not np.allclose(before, model.get_weights()[0])  # trained weights came back to the user's model
    assert model.dtype_policy.name == "float32"  # the user's model is unchanged in kind

    from zoo.training.precision import rebuild_with_policy

    mixed = rebuild_with_policy(model, policy)
    assert mixed.layers[1].compute_dtype == policy.split("_")[1]
    assert mixed.layers[-1].compute_dtype == "float32" and mixed(x[:2]).dtype == "float32"


def test_one_hot_labels_and_a_keras_loss(digits):
    (x, y), _ = digits
    onehot = keras.utils.to_categorical(y, 10)
    history = zoo.fit(small_model(), (x, onehot), epochs=3, learning_rate=5e-3,
                      loss=keras.losses.CategoricalCrossentropy(from_logits=False, label_smoothing=0.1), verbose=0)
    assert history.history["accuracy"][-1] > 0.8


@pytest.fixture
def tf_warnings():
    """The messages TensorFlow's Python logger emits during the test (e.g. its retracing warning)."""
    import logging

    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    tf.get_logger().addHandler(handler)
    yield messages
    tf.get_logger().removeHandler(handler)


def test_evaluating_again_reuses_the_traced_step_and_sees_new_weights(digits, tf_warnings):
    """Repeated zoo.evaluate on one model must not retrace (TensorFlow warns after 5 retraces)."""
    (x, y), (xt, yt) = digits
    model = small_model()
    before = [zoo.evaluate(model, (xt, yt))["accuracy"] for _ in range(7)]
    zoo.fit(model, (x, y), epochs=2, batch_size=32, learning_rate=5e-3, verbose=0)
    after = zoo.evaluate(model, (xt, yt))["accuracy"]
    assert not [m for m in tf_warnings if "retracing" in m], tf_warnings
    assert len(set(before)) == 1
    assert after == pytest.approx(np.mean(np.argmax(model.predict(xt, verbose=0), -1) == yt), abs=1e-6)
    assert after > before[0] + 0.3


def test_batches_of_varying_length_are_traced_once(tf_warnings):
    """Sequences padded per batch (a new length every batch) train through one traced step, and
    validate through one traced eval step. The model counts how often TensorFlow traces it: its
    Python code runs only while a tf.function traces."""
    from zoo.data import timeseries_dataset

    traces = []

    class CountTraces(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.supports_masking = True

        def call(self, x):
            traces.append(tuple(x.shape))
            return x

    rng = np.random.default_rng(0)
    lengths = rng.permutation(np.arange(5, 45))  # 40 series: every batch of 4 has its own padded length
    series = [rng.normal(size=(n, 3)).astype("float32") for n in lengths]
    data = timeseries_dataset(series, (lengths > 25).astype("int32"), batch_size=4)
    inputs = keras.Input((None, 3))
    hidden = keras.layers.GRU(8)(CountTraces()(keras.layers.Masking()(inputs)))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(hidden))
    traces.clear()
    history = zoo.fit(model, data, epochs=3, validation_data=data, verbose=0)
    assert len(history.history["loss"]) == 3
    assert traces == [(None, None, 3)] * 2, traces  # one train trace, one eval trace, any length
    assert not [m for m in tf_warnings if "retracing" in m], tf_warnings


def _batches(dataset):
    return [tf.nest.map_structure(lambda t: t.numpy(), batch) for batch in dataset]


def _assert_same_batches(got, expected):
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        tf.nest.map_structure(np.testing.assert_array_equal, a, b)


def _small_graphs(count=11):
    rng = np.random.default_rng(0)
    graphs = []
    for i in range(count):
        nodes = 2 + i % 4
        graphs.append({"node_features": rng.normal(size=(nodes, 3)).astype("float32"),
                       "edge_index": np.array([np.arange(nodes - 1), np.arange(1, nodes)], "int32")})
    return graphs, (np.arange(count) % 2).astype("int32")


@pytest.mark.parametrize("form", ["arrays", "dict of arrays", "graphs", "one graph"])
def test_the_stream_of_epochs_is_each_epoch_one_after_another(form):
    """`TrainingData.stream(first, last)`, which fit reads with one iterator, holds exactly the
    batches of make(first), make(first + 1), ...; a shuffled epoch's order depends on (seed, epoch)."""
    from zoo.training.sources import as_training_data

    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(10, 4)).astype("float32"), np.arange(10, dtype="int32")
    one_graph = _small_graphs(1)[0][0]  # 2 nodes, each labelled
    data = {"arrays": (x, y), "dict of arrays": ({"a": x, "b": x[:, :2] * 2}, y), "graphs": _small_graphs(),
            "one graph": (one_graph, np.zeros(2, "int32"))}[form]
    train = as_training_data(data, batch_size=4, seed=3)
    assert train.stream is not None
    expected = [batch for epoch in (2, 3, 4) for batch in _batches(train.make(epoch))]
    _assert_same_batches(_batches(train.stream(2, 5)), expected)
    again = as_training_data(data, batch_size=4, seed=3)
    _assert_same_batches(_batches(again.make(3)), _batches(train.make(3)))
    if form != "one graph":
        assert len(_batches(train.make(0))) == train.steps_per_epoch == 3
        first_labels = [b[1] for b in _batches(train.make(0))]
        assert not all(np.array_equal(a, b) for a, b in zip(first_labels, [b[1] for b in _batches(train.make(1))]))


def test_fit_makes_the_batching_map_of_graphs_once(monkeypatch):
    """fit reads all epochs of a list of graphs through one pipeline: the map that merges graphs
    into a batch is traced once (it was traced again every epoch, 0.4 s of a 0.9 s MUTAG epoch)."""
    import zoo.data.graphs as graphs_module

    traced = []
    real = graphs_module.graph_taker

    def counting_taker(graphs, labels):
        take = real(graphs, labels)

        def counted(indices):
            traced.append(1)
            return take(indices)

        return counted

    monkeypatch.setattr(graphs_module, "graph_taker", counting_taker)
    graphs, labels = _small_graphs()
    keras.utils.set_random_seed(0)
    model = zoo.build("gin", task="graph", num_classes=2, input_shape=(3,), hidden=(8,))
    history = zoo.fit(model, (graphs, labels), epochs=6, batch_size=4, verbose=0)
    assert len(history.history["loss"]) == 6
    assert len(traced) == 1


def test_a_users_dataset_of_known_length_trains_as_one_read_an_epoch_at_a_time():
    """A user's tf.data dataset of known length is read through one repeated pipeline (no iterator per
    epoch): the same batches, reshuffled each epoch as a new iterator reshuffles them, so the same
    weights and history as the same dataset of unknown length (a filter), read an epoch at a time."""
    from zoo.training.data import user_dataset

    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(64, 4, 4, 1)).astype("float32"), rng.integers(0, 3, size=64).astype("int32")

    def make(known):
        ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(64, seed=7, reshuffle_each_iteration=True).batch(16)
        return ds if known else ds.filter(lambda a, b: True)

    known, unknown = user_dataset(make(True)), user_dataset(make(False))
    assert known.stream is not None and known.batches_per_epoch == 4 and known.steps_per_epoch is None
    assert unknown.stream is None and unknown.batches_per_epoch is None
    results = []
    for is_known in (True, False):
        keras.utils.set_random_seed(0)
        model = zoo.build("mlp", num_classes=3, input_shape=(4, 4, 1), hidden=(8,))
        history = zoo.fit(model, make(is_known), validation_data=make(is_known), epochs=3, optimizer="sgd",
                          learning_rate=0.1, verbose=0)
        results.append((model.get_weights(), history.history))
    (weights_a, history_a), (weights_b, history_b) = results
    for a, b in zip(weights_a, weights_b):
        np.testing.assert_array_equal(a, b)
    assert history_a == history_b and len(history_a["loss"]) == 3
