"""zoo.fit under every strategy with what users pass: the matrix of tests/strategy_cells.py.

Strategies (one device; MirroredStrategy over the 2 logical CPUs of conftest; two
MultiWorkerMirroredStrategy worker processes on 127.0.0.1) x user objects (an optimizer by name;
an AdamW with a cosine schedule created beforehand; loss and metric objects; callbacks that read
and set `model.optimizer.learning_rate` and stop early) x data kinds (digit images, variable-length
JapaneseVowels series, MUTAG graph batches). Every cell trains to the one-device weights; objects
that cannot be rebuilt under a strategy are refused with an error that says what to do.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

import strategy_cells as cells
import zoo
from tests_paths import free_ports

CELLS = [(kind, objects) for kind in cells.KINDS for objects in cells.OBJECTS]
IDS = [f"{kind}-{objects}" for kind, objects in CELLS]
TESTS_DIR = Path(__file__).resolve().parents[1]


_ONE_DEVICE = {}


def one_device(kind, objects):
    """The reference run of a cell (computed once, for the mirrored and the worker comparisons)."""
    if (kind, objects) not in _ONE_DEVICE:
        _ONE_DEVICE[kind, objects] = cells.run_cell(kind, objects, "one_device")
    return _ONE_DEVICE[kind, objects]


def assert_same_training(result, reference, atol):
    """Same weights (up to float summation order), same history, same callback observations."""
    for got, want in zip(result["weights"], reference["weights"], strict=True):
        np.testing.assert_allclose(got, want, atol=atol, rtol=atol)
    assert result["step"] == reference["step"]
    assert set(result["history"]) == set(reference["history"])
    for key, values in reference["history"].items():
        assert result["history"][key] == pytest.approx(values, rel=1e-4, abs=1e-5), key
    assert [e["learning_rate"] for e in result["seen"]] == [e["learning_rate"] for e in reference["seen"]]
    assert [e["loss"] for e in result["seen"]] == pytest.approx([e["loss"] for e in reference["seen"]], rel=1e-4)


def assert_cell_behaviour(kind, objects, result):
    """What each column promises, on any strategy."""
    history = result["history"]
    initial = cells.load_kind(kind)[0]().get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(result["weights"], initial)), "it did not train"
    if objects == "loss-and-metrics":
        accuracy, xent = cells.METRIC_NAMES
        for prefix in ("", "val_"):
            # the metric objects are summed over replicas and workers like zoo.fit's own numbers
            assert history[prefix + accuracy] == pytest.approx(history[prefix + "accuracy"], abs=1e-6)
            assert history[prefix + xent] == pytest.approx(history[prefix + "loss"], rel=1e-5)
    if objects == "callbacks":
        assert len(history["loss"]) == 2 and result["step"] == 8  # EarlyStopping after the second epoch
        assert [e["learning_rate"] for e in result["seen"]] == pytest.approx(
            [cells.CALLBACKS_RATE, cells.CALLBACKS_RATE / 2])  # LearningRateScheduler set model.optimizer's rate
    else:
        assert len(history["loss"]) == cells.EPOCHS and result["step"] == cells.EPOCHS * cells.STEPS_PER_EPOCH


@pytest.mark.parametrize("kind, objects", CELLS, ids=IDS)
def test_mirrored_over_two_cpus_trains_like_one_device(kind, objects):
    strategy = zoo.training.resolve_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2
    reference = one_device(kind, objects)
    mirrored = cells.run_cell(kind, objects, strategy)
    assert_cell_behaviour(kind, objects, reference)
    assert_cell_behaviour(kind, objects, mirrored)
    assert_same_training(mirrored, reference, atol=1e-5)


# --- two worker processes --------------------------------------------------------------------


@pytest.fixture(scope="module")
def workers(tmp_path_factory):
    """Two MultiWorkerMirroredStrategy processes on 127.0.0.1 running every cell (strategy_cells.main).

    Started when the module's first test starts (they train while the in-process tests run), so
    that the whole matrix costs one cluster start-up. Yields a function that waits for them and
    returns (their folder, their logs)."""
    out = tmp_path_factory.mktemp("workers")
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "ZOO_LOGICAL_CPUS")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["ZOO_HEARTBEAT_TIMEOUT"] = "600"  # the machine may be paused (a VM snapshot) while they train
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS_DIR), env.get("PYTHONPATH", "")])
    cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(2)]}
    logs = [open(out / f"worker{i}.log", "w") for i in range(2)]
    processes = [
        subprocess.Popen(
            [sys.executable, str(TESTS_DIR / "strategy_cells.py"), str(out), *cells.KINDS],
            env=dict(env, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})),
            stdout=logs[i], stderr=subprocess.STDOUT)
        for i in range(2)
    ]
    finished = {}

    def wait(timeout=900):
        if not finished:
            deadline = time.monotonic() + timeout
            while any(p.poll() is None for p in processes):
                if any(p.returncode not in (None, 0) for p in processes) or time.monotonic() > deadline:
                    break  # one worker failed (the other would wait for it forever), or too slow
                time.sleep(0.2)
            for p in processes:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            texts = [(out / f"worker{i}.log").read_text() for i in range(2)]
            for p, text in zip(processes, texts):
                assert p.returncode == 0, text[-4000:]
            finished["result"] = (out, texts)
        return finished["result"]

    yield wait
    for p in processes:
        if p.poll() is None:
            p.kill()
            p.wait()
    for log in logs:
        log.close()


@pytest.fixture(scope="module", autouse=True)
def _start_workers_first(request):
    """Start the worker processes with the module's first test when worker tests are selected
    (`-m "not slow"` leaves them out)."""
    if any(item.module is request.module and item.get_closest_marker("slow") for item in request.session.items):
        request.getfixturevalue("workers")


@pytest.mark.slow
@pytest.mark.parametrize("kind, objects", CELLS, ids=IDS)
def test_two_workers_train_like_one_device(workers, kind, objects):
    out, _ = workers()
    worker0, worker1 = (cells.load_result(out / f"worker{i}" / f"{kind}-{objects}") for i in (0, 1))
    for a, b in zip(worker0["weights"], worker1["weights"], strict=True):
        np.testing.assert_array_equal(a, b)  # the workers hold one model
    assert worker0["history"] == worker1["history"]
    assert_cell_behaviour(kind, objects, worker0)
    assert_same_training(worker0, one_device(kind, objects), atol=1e-4)


@pytest.mark.slow
def test_two_workers_resume_from_the_newest_step_both_restore(workers):
    """Worker 1's newest checkpoint (step 8) is truncated, worker 0's is intact: both resume from
    step 4 (worker 1 warns about its file, worker 0 that it went back for the other), and end
    with the weights of an uninterrupted three-epoch run."""
    out, logs = workers()
    worker0, worker1 = (cells.load_result(out / f"worker{i}" / "resume") for i in (0, 1))
    for a, b in zip(worker0["weights"], worker1["weights"], strict=True):
        np.testing.assert_array_equal(a, b)
    assert worker0["step"] == worker1["step"] == 12
    assert len(worker0["history"]["loss"]) == 2  # epochs 2 and 3: resumed at the end of epoch 1 (step 4)
    assert "ckpt-8 does not restore" in logs[1] and "resuming from" in logs[1]
    assert "another worker restores nothing newer than step 4" in logs[0]
    build, train, _, batch_size = cells.load_kind("image")
    uninterrupted = build()
    zoo.fit(uninterrupted, train, epochs=3, batch_size=batch_size, optimizer="sgd", learning_rate=0.1, verbose=0)
    for a, b in zip(worker0["weights"], uninterrupted.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)


# --- objects that are used as they are, or refused -------------------------------------------


def _digits(n=64):
    (x, y), _ = zoo.data.load_digits()
    return x[:n], y[:n]


def _mlp():
    keras.utils.set_random_seed(0)
    return zoo.build("mlp", input_shape=(8, 8, 1), num_classes=10, hidden=(16,), dropout=0.0)


def test_an_optimizer_created_outside_is_rebuilt_and_left_untouched():
    schedule = keras.optimizers.schedules.CosineDecay(1e-2, decay_steps=8)
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=0.05)
    zoo.fit(_mlp(), _digits(), epochs=2, batch_size=16, optimizer=optimizer, strategy="mirrored", verbose=0)
    assert not optimizer.built and int(optimizer.iterations.numpy()) == 0  # a copy trained
    zoo.fit(_mlp(), _digits(), epochs=2, batch_size=16, optimizer=optimizer, strategy="one_device", verbose=0)
    assert int(optimizer.iterations.numpy()) == 8  # on one device it is used as is


def test_the_backbone_optimizer_keeps_the_hyper_parameters_with_its_own_learning_rate():
    """backbone_learning_rate=1e-4 (not a float32 number) under mirrored, as notebook 01's stage 3."""
    from zoo.training.user_objects import optimizer_like

    backbone = optimizer_like(keras.optimizers.Adam(1e-3, beta_1=0.8), 1e-4)
    assert isinstance(backbone, keras.optimizers.Adam) and backbone.beta_1 == 0.8
    assert np.isclose(float(backbone.learning_rate.numpy()), 1e-4)
    model = _mlp()
    zoo.freeze(model, until="head")
    zoo.unfreeze(model)
    zoo.fit(model, _digits(), epochs=1, batch_size=16, optimizer=keras.optimizers.Adam(1e-3), strategy="mirrored",
            backbone_learning_rate=1e-4, verbose=0)


def test_an_optimizer_created_inside_the_scope_is_used_as_is():
    strategy = zoo.training.resolve_strategy("mirrored")
    with strategy.scope():
        optimizer = keras.optimizers.SGD(0.1, momentum=0.9)
    zoo.fit(_mlp(), _digits(), epochs=1, batch_size=16, optimizer=optimizer, strategy=strategy, verbose=0)
    assert int(optimizer.iterations.numpy()) == 4


@keras.saving.register_keras_serializable(package="tests")
class ForgetfulSGD(keras.optimizers.SGD):
    """A user's optimizer whose get_config leaves out an __init__ argument (momentum)."""

    def get_config(self):
        config = super().get_config()
        del config["momentum"]
        return config


@pytest.mark.parametrize("strategy", ["one_device", "mirrored"])
def test_what_cannot_be_rebuilt_is_refused_where_it_would_be_needed(strategy):
    optimizer = ForgetfulSGD(0.1, momentum=0.9)
    if strategy == "one_device":  # used as is: nothing to rebuild
        zoo.fit(_mlp(), _digits(), epochs=1, batch_size=16, optimizer=optimizer, strategy=strategy, verbose=0)
        return
    with pytest.raises(zoo.InvalidArgumentError, match=r"differs in \['momentum'\].*strategy\.scope\(\)"):
        zoo.fit(_mlp(), _digits(), epochs=1, batch_size=16, optimizer=optimizer, strategy=strategy, verbose=0)


@pytest.mark.parametrize("strategy", ["one_device", "mirrored"])
def test_a_used_optimizer_and_bad_metrics_are_refused(strategy):
    used = keras.optimizers.Adam()
    zoo.fit(_mlp(), _digits(), epochs=1, optimizer=used, strategy="one_device", verbose=0)
    with pytest.raises(zoo.InvalidArgumentError, match="already been used.*pass a new one"):
        zoo.fit(_mlp(), _digits(), epochs=1, optimizer=used, strategy=strategy, verbose=0)
    with pytest.raises(zoo.InvalidArgumentError, match="clash with zoo.fit's own"):
        zoo.fit(_mlp(), _digits(), metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                strategy=strategy, verbose=0)
    with pytest.raises(zoo.InvalidArgumentError, match="unknown metric 'f1-ish'"):
        zoo.fit(_mlp(), _digits(), metrics=["f1-ish"], strategy=strategy, verbose=0)


def test_metric_names_and_functions_and_evaluate():
    def error_rate(y_true, y_pred):
        return keras.ops.cast(keras.ops.not_equal(keras.ops.cast(y_true, "int64"),
                                                  keras.ops.argmax(y_pred, axis=-1)), "float32")

    x, y = _digits(128)
    model = _mlp()
    history = zoo.fit(model, (x, y), epochs=2, batch_size=32, metrics=["accuracy", "sparse_top_k_categorical_accuracy",
                                                                       error_rate], strategy="mirrored", verbose=0)
    assert set(history.history) == {"loss", "accuracy", "sparse_top_k_categorical_accuracy", "error_rate"}
    assert history.history["error_rate"] == pytest.approx([1 - a for a in history.history["accuracy"]], abs=1e-6)
    report = zoo.evaluate(model, (x, y), metrics=[error_rate], strategy="mirrored")
    assert report["error_rate"] == pytest.approx(1 - report["accuracy"], abs=1e-6)


# --- ZOO_LOGICAL_CPUS ------------------------------------------------------------------------

LOGICAL_CPUS_SCRIPT = r'''
import zoo
from zoo.data import load_digits
(x, y), _ = load_digits()                  # data and model first: TensorFlow starts here
model = zoo.build("mlp", input_shape=(8, 8, 1), num_classes=10, hidden=(8,))
model(x[:2])
strategy = zoo.training.resolve_strategy("mirrored")
history = zoo.fit(model, (x[:64], y[:64]), epochs=1, strategy=strategy, verbose=0)
print("REPLICAS", strategy.num_replicas_in_sync, len(history.history["loss"]))
'''


def test_zoo_logical_cpus_is_applied_at_import():
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    result = subprocess.run([sys.executable, "-c", LOGICAL_CPUS_SCRIPT], env=dict(env, ZOO_LOGICAL_CPUS="2"),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "REPLICAS 2 1" in result.stdout


@pytest.mark.parametrize("value", ["two", "0", "-1"])
def test_a_bad_zoo_logical_cpus_says_what_is_right(monkeypatch, value):
    monkeypatch.setenv("ZOO_LOGICAL_CPUS", value)
    with pytest.raises(zoo.InvalidArgumentError, match=r"ZOO_LOGICAL_CPUS must be an integer >= 1 \(e\.g\. 2\)"):
        zoo.training.resolve_strategy("mirrored")


def test_the_issue_recipe_trains_under_mirrored():
    """The reproduction of the issue: the demo's recipe (AdamW with a cosine schedule, a loss object,
    seeded augmentation layers, all created before zoo.fit) under strategy="mirrored"."""
    from zoo.demo import train_digits

    assert zoo.training.resolve_strategy("mirrored").num_replicas_in_sync == 2
    _, _, accuracy = train_digits("lenet5", epochs=1, strategy="mirrored", verbose=0)
    assert accuracy > 0.5
