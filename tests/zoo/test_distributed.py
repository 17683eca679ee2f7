"""zoo.fit under tf.distribute: one device, MirroredStrategy over 2 logical CPUs, two real workers."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.data import load_digits

from tests_paths import free_ports


def _mlp():
    keras.utils.set_random_seed(0)
    return zoo.build("mlp", input_shape=(8, 8, 1), num_classes=10, hidden=(32,), dropout=0.0)


def _digits():
    (x, y), _ = load_digits()
    return x[:256], y[:256]


def test_mirrored_over_two_cpus_equals_one_device():
    assert len(tf.config.list_logical_devices("CPU")) == 2
    data = _digits()
    single = _mlp()
    zoo.fit(single, data, epochs=2, batch_size=32, optimizer="sgd", learning_rate=0.1, strategy="one_device", verbose=0)
    mirrored = _mlp()
    strategy = zoo.training.resolve_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2
    history = zoo.fit(mirrored, data, epochs=2, batch_size=32, optimizer="sgd", learning_rate=0.1, strategy=strategy,
                      verbose=0)
    assert history.history["loss"][1] < history.history["loss"][0]
    for a, b in zip(single.get_weights(), mirrored.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert not np.allclose(single.get_weights()[0], _mlp().get_weights()[0])  # it did train


def test_model_built_inside_the_scope_is_trained_in_place():
    strategy = zoo.training.resolve_strategy("mirrored")
    with strategy.scope():
        model = _mlp()
    before = model.get_weights()[0].copy()
    zoo.fit(model, _digits(), epochs=1, batch_size=64, strategy=strategy, verbose=0)
    assert not np.allclose(before, model.get_weights()[0])


def _gin(num_features=9):  # MUTAG: 9 node features (one-hot tags)
    keras.utils.set_random_seed(0)
    return zoo.build("gin", task="graph", num_classes=2, input_shape=(num_features,), hidden=(16, 16),
                     batch_norm=False, dropout=0.0, head_dropout=0.0)


def _digits_job(tmp_path):
    """(`zoo train` arguments, the model to read the weights into) for an MLP on digits arrays."""
    x, y = _digits()
    np.savez(tmp_path / "digits.npz", x=x, y=y)
    return (["mlp", "--data", str(tmp_path / "digits.npz"), "--batch-size", "32", "--learning-rate", "0.1",
             "--set", "hidden=(32,)"], _mlp)


def _mutag_job(tmp_path):
    """The same for GIN on MUTAG: graph batches, each split between the two workers."""
    mutag = zoo.data.dataset_files("mutag")["graphs"].parent  # the bundled MUTAG folder
    return (["gin", "--data", str(mutag), "--batch-size", "17", "--learning-rate", "0.01", "--set", "batch_norm=False",
             "--set", "head_dropout=0.0", "--set", "hidden=(16,16)"], _gin)


@pytest.mark.slow
@pytest.mark.parametrize("job", [_digits_job, _mutag_job], ids=["digits-mlp", "mutag-gin"])
def test_two_workers_match_each_other_and_one_process(tmp_path, job):
    arguments, build = job(tmp_path)
    common = ["-m", "zoo", "train", *arguments, "--epochs", "2", "--optimizer", "sgd", "--set", "dropout=0.0",
              "--quiet"]
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["ZOO_HEARTBEAT_TIMEOUT"] = "600"  # the machine may be paused (a VM snapshot) while they train
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    workers = []
    for index in range(2):
        worker_env = dict(env, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        out = tmp_path / f"worker{index}.weights.h5"
        workers.append(subprocess.Popen(
            [sys.executable, *common, "--strategy", "multiworker", "--output", str(out)],
            env=worker_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        ))
    single = subprocess.run([sys.executable, *common, "--strategy", "one_device", "--output",
                             str(tmp_path / "single.weights.h5")], env=env, capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr[-3000:]
    for worker in workers:
        output, _ = worker.communicate(timeout=600)
        assert worker.returncode == 0, output[-3000:]

    def weights(name):
        model = build()
        model.load_weights(tmp_path / name)
        return model.get_weights()

    w0, w1, ws = weights("worker0.weights.h5"), weights("worker1.weights.h5"), weights("single.weights.h5")
    for a, b, c in zip(w0, w1, ws):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, c, atol=1e-4)
    assert not np.allclose(ws[-2], build().get_weights()[-2])  # it did train (the head's kernel)


def _start_workers(script_args, env, logs):
    """Two MultiWorkerMirroredStrategy processes on free ports of 127.0.0.1, output to `logs`."""
    cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(2)]}
    return [subprocess.Popen([sys.executable, *script_args],
                             env=dict(env, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})),
                             stdout=open(logs[i], "w"), stderr=subprocess.STDOUT)
            for i in range(2)]


@pytest.mark.slow
@pytest.mark.parametrize("heartbeat", [None, "60"], ids=["tensorflow-default", "ZOO_HEARTBEAT_TIMEOUT=60"])
def test_a_worker_paused_for_15_s_fails_the_job_unless_the_heartbeat_timeout_allows_it(tmp_path, heartbeat):
    """Worker 0 stopped (SIGSTOP) for 15 s mid-training, as a virtual machine is paused for a snapshot: with
    TensorFlow's 10-s heartbeat timeout the job fails (a CI run did so, 2026-12-04); with $ZOO_HEARTBEAT_TIMEOUT
    above the pause both workers finish."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "ZOO_HEARTBEAT_TIMEOUT", "ZOO_LOGICAL_CPUS")}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                                      env.get("PYTHONPATH", "")]))
    if heartbeat:
        env["ZOO_HEARTBEAT_TIMEOUT"] = heartbeat
    logs = [tmp_path / f"worker{i}.log" for i in range(2)]
    workers = _start_workers([str(Path(__file__).resolve().parents[1] / "paused_worker.py"), "20"], env, logs)
    try:
        deadline = time.monotonic() + 300
        while not all("ready" in log.read_text() for log in logs):
            assert time.monotonic() < deadline and all(w.poll() is None for w in workers), logs[0].read_text()[-3000:]
            time.sleep(0.1)
        os.kill(workers[0].pid, signal.SIGSTOP)
        time.sleep(15)
        os.kill(workers[0].pid, signal.SIGCONT)
        codes = [w.wait(timeout=300) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
    texts = [log.read_text() for log in logs]
    assert all(f"heartbeat_timeout_in_ms {int(heartbeat or 0) * 1000}" in text for text in texts)
    if heartbeat:
        assert codes == [0, 0] and all("done" in text for text in texts), texts[0][-3000:] + texts[1][-3000:]
    else:
        assert codes != [0, 0] and any("heartbeat timeout" in text for text in texts), texts[0][-3000:]


def test_heartbeat_timeout_must_be_whole_seconds(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 0}}))
    for bad in ("ten", "0", "-5", "1.5"):
        monkeypatch.setenv("ZOO_HEARTBEAT_TIMEOUT", bad)
        with pytest.raises(zoo.InvalidArgumentError, match="ZOO_HEARTBEAT_TIMEOUT must be an integer >= 1"):
            zoo.training.resolve_strategy("multiworker")
