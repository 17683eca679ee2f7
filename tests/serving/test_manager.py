"""serving.source + serving.manager: versions appear, swap, fail and unload safely (real SavedModels)."""

import os
import shutil
import threading
import time

import grpc
import keras
import numpy as np
import pytest
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2
from tensorflow_serving.config import model_server_config_pb2

import zoo
from serving import errors
from serving.config import single_model_config
from serving.errors import ServingError
from serving.manager import ModelManager, State
from serving.source import FileSystemSource, ModelSource, VersionPolicy, list_versions
from zoo.export import export

X = np.random.default_rng(0).uniform(0, 1, (3, 8, 8, 1)).astype("float32")


@pytest.fixture(scope="module")
def templates(tmp_path_factory):
    """Three exported versions of a tiny MLP with different weights, and their expected scores."""
    base = tmp_path_factory.mktemp("templates") / "digits"
    expected = {}
    for version, seed in [(1, 1), (2, 2), (3, 3)]:
        keras.utils.set_random_seed(seed)
        model = zoo.build("mlp", num_classes=4, input_shape=(8, 8, 1), hidden=(8,))
        export(model, base, version)
        expected[version] = model(X, training=False).numpy()
    return base, expected


def drop_in(templates, base, version, as_version=None):
    """Copy a template version into `base` the way export does: a dot-folder, then one rename."""
    source = templates[0] / str(version)
    base.mkdir(parents=True, exist_ok=True)
    tmp = base / f".tmp-copy-{version}"
    shutil.copytree(source, tmp)
    os.rename(tmp, base / str(as_version or version))
    return base / str(as_version or version)


def broken_version(base, version):
    folder = base / str(version)
    folder.mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"this is not a SavedModel" * 4)
    return folder


def scores(manager, name="digits", **kwargs):
    with manager.acquire(name, **kwargs) as servable:
        return servable.version, servable.run("serving_default", {"input_layer": X})["scores"]


def config_of(*models):
    config = model_server_config_pb2.ModelServerConfig()
    for name, base, policy, labels in models:
        model = config.model_config_list.config.add(name=name, base_path=str(base), model_platform="tensorflow")
        if policy is not None:
            model.model_version_policy.CopyFrom(policy.to_proto())
        for label, version in (labels or {}).items():
            model.version_labels[label] = version
    return config


@pytest.fixture
def manager():
    manager = ModelManager(poll_wait_seconds=0.2)
    yield manager
    manager.stop(timeout=10)


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def states(manager, name="digits"):
    return {s.version: s.state for s in manager.status(name)}


# ---------------------------------------------------------------------------------- source


def test_list_versions_ignores_temporary_and_other_folders(tmp_path):
    assert list_versions(tmp_path / "missing") is None
    for name in ["1", "12", ".tmp-export-3-ab12", "tmp", "3.bak", "007"]:
        (tmp_path / name).mkdir()
    (tmp_path / "5").write_text("a file, not a version")
    assert sorted(list_versions(tmp_path)) == [1, 7, 12]


def test_version_policies():
    available = [3, 1, 7, 5]
    assert VersionPolicy.latest().select(available) == [7]
    assert VersionPolicy.latest(2).select(available) == [5, 7]
    assert VersionPolicy.all().select(available) == [1, 3, 5, 7]
    assert VersionPolicy.specific([5, 1, 9]).select(available) == [1, 5]
    for policy in [VersionPolicy.latest(3), VersionPolicy.all(), VersionPolicy.specific([2, 4])]:
        assert VersionPolicy.from_proto(policy.to_proto()) == policy
    unset = model_server_config_pb2.ModelConfig().model_version_policy
    assert VersionPolicy.from_proto(unset) == VersionPolicy.latest(1)
    with pytest.raises(ValueError, match="num_versions must be >= 1"):
        VersionPolicy.latest(0)
    with pytest.raises(ValueError, match="at least one version"):
        VersionPolicy.specific([])


def test_file_system_source_reports_aspired_versions(tmp_path):
    reports = []
    source = FileSystemSource(lambda name, versions: reports.append((name, sorted(versions))), poll_wait_seconds=0)
    source.set_models([ModelSource("a", tmp_path / "a", VersionPolicy.latest(2)),
                       ModelSource("b", tmp_path / "b")])
    for v in (1, 2, 3):
        (tmp_path / "a" / str(v)).mkdir(parents=True)
    assert source.poll_once() == {"a": {2: str(tmp_path / "a" / "2"), 3: str(tmp_path / "a" / "3")}, "b": None}
    assert reports == [("a", [2, 3])]  # a missing base path proposes nothing (keeps what is served)
    (tmp_path / "b").mkdir()
    source.poll_once()
    assert reports[-1] == ("b", [])  # an existing but empty base path proposes no version
    with pytest.raises(ValueError, match="unique"):
        source.set_models([ModelSource("a", tmp_path), ModelSource("a", tmp_path)])


# ---------------------------------------------------------------------------------- manager


def test_serves_latest_and_answers_not_found(manager, templates, tmp_path):
    base = tmp_path / "digits"
    drop_in(templates, base, 1)
    manager.reload_config(single_model_config("digits", base))
    version, got = scores(manager)
    assert version == 1
    np.testing.assert_allclose(got, templates[1][1], atol=1e-5)
    assert manager.model_names() == ["digits"] and manager.available_versions("digits") == [1]
    for kwargs, code, message in [
        (dict(name="nope"), grpc.StatusCode.NOT_FOUND, "Servable not found for request: Latest(nope)"),
        (dict(version=9), grpc.StatusCode.NOT_FOUND, "Servable not found for request: Specific(digits, 9)"),
        (dict(label="stable"), grpc.StatusCode.INVALID_ARGUMENT, "Unrecognized servable version label: stable"),
    ]:
        with pytest.raises(ServingError) as info:
            scores(manager, **kwargs)
        assert (info.value.code, info.value.message) == (code, message)
    with pytest.raises(ServingError, match="Could not find any versions of model nope"):
        manager.status("nope")
    with pytest.raises(ServingError, match="Could not find version 4 of model digits"):
        manager.status("digits", 4)
    assert scores(manager)[0] == 1  # still serving after every error


def test_new_version_is_swapped_in_under_load(manager, templates, tmp_path):
    """A version dropped in while requests loop: served (how fast is benchmarks' business), no request fails."""
    base = tmp_path / "digits"
    drop_in(templates, base, 1)
    manager.reload_config(single_model_config("digits", base))
    manager.start()
    served, failures, stop = [], [], threading.Event()

    def loop():
        while not stop.is_set():
            try:
                started = time.monotonic()
                version, got = scores(manager)
                served.append((started, version, got))
            except Exception as error:  # noqa: BLE001 - counted, must stay zero
                failures.append(error)

    threads = [threading.Thread(target=loop) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        assert wait_for(lambda: len(served) > 5)
        drop_in(templates, base, 2)
        assert wait_for(lambda: any(v == 2 for _, v, _ in served), timeout=60)
        assert wait_for(lambda: states(manager).get(1) == State.END)
        ended = time.monotonic()
        assert wait_for(lambda: sum(t > ended for t, _, _ in served) >= 5)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert failures == []
    assert {v for t, v, _ in served if t > ended} == {2}
    for _, version, got in served:  # every answer came from the version it names
        np.testing.assert_allclose(got, templates[1][version], atol=1e-5)
    assert states(manager) == {1: State.END, 2: State.AVAILABLE}


def test_old_version_unloads_only_after_in_flight_requests(manager, templates, tmp_path):
    base = tmp_path / "digits"
    drop_in(templates, base, 1)
    manager.reload_config(single_model_config("digits", base))
    events = []
    manager.add_listener(lambda name, version, state: events.append((version, state)))
    with manager.acquire("digits") as held:  # an in-flight request on version 1
        assert held.version == 1
        drop_in(templates, base, 2)
        manager.poll_now()
        assert manager.wait_until_available("digits", 2)
        assert wait_for(lambda: states(manager)[1] == State.UNLOADING)
        assert scores(manager)[0] == 2  # new requests get version 2 at once
        time.sleep(0.3)
        assert states(manager)[1] == State.UNLOADING and held.loaded  # not unloaded under the request
        out = held.run("serving_default", {"input_layer": X})["scores"]
        np.testing.assert_allclose(out, templates[1][1], atol=1e-5)
    assert wait_for(lambda: states(manager)[1] == State.END)
    assert not held.loaded
    assert [s for v, s in events if v == 2] == [State.LOADING, State.AVAILABLE]
    assert [s for v, s in events if v == 1] == [State.UNLOADING, State.END]


def test_broken_version_is_reported_and_previous_keeps_serving(manager, templates, tmp_path):
    base = tmp_path / "digits"
    drop_in(templates, base, 1)
    manager.reload_config(single_model_config("digits", base))
    broken_version(base, 2)
    manager.poll_now()
    assert wait_for(lambda: states(manager).get(2) == State.END)
    (status,) = manager.status("digits", 2)
    assert status.error.code == grpc.StatusCode.DATA_LOSS
    assert "Could not parse" in status.error.message and str(base / "2") in status.error.message
    assert manager.status("digits", 1)[0].state == State.AVAILABLE and manager.status("digits", 1)[0].error is None
    for _ in range(3):  # polls again: not retried, version 1 keeps serving
        manager.poll_now()
        assert scores(manager)[0] == 1
    with pytest.raises(ServingError, match=r"Specific\(digits, 2\)"):
        scores(manager, version=2)
    # the folder is fixed: the version is retried and swapped in
    shutil.rmtree(base / "2")
    drop_in(templates, base, 2)
    manager.poll_now()
    assert manager.wait_until_available("digits", 2)
    assert manager.status("digits", 2)[0].error is None
    assert wait_for(lambda: states(manager)[1] == State.END)
    assert scores(manager)[0] == 2


def test_failing_warmup_keeps_the_version_out(manager, templates, tmp_path):
    base = tmp_path / "digits"
    drop_in(templates, base, 1)
    manager.reload_config(single_model_config("digits", base))
    bad = predict_pb2.PredictRequest()
    bad.inputs["wrong_name"].CopyFrom(__import__("tensorflow").make_tensor_proto(X))
    log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=bad))
    keras.utils.set_random_seed(5)
    export(zoo.build("mlp", num_classes=4, input_shape=(8, 8, 1), hidden=(8,)), base, 2, warmup=[log])
    manager.poll_now()
    assert wait_for(lambda: states(manager).get(2) == State.END)
    error = manager.status("digits", 2)[0].error
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and "warmup request 1" in error.message
    assert "wrong_name" in error.message
    assert scores(manager)[0] == 1


def test_policies_labels_and_reload(manager, templates, tmp_path):
    base = tmp_path / "digits"
    for v in (1, 2, 3):
        drop_in(templates, base, v)
    manager.reload_config(config_of(("digits", base, VersionPolicy.latest(2), {"stable": 2, "canary": 3})))
    assert manager.available_versions("digits") == [2, 3]
    assert scores(manager)[0] == 3
    assert scores(manager, version=2)[0] == 2
    assert scores(manager, label="stable")[0] == 2
    assert scores(manager, label="canary")[0] == 3
    assert manager.resolve_version("digits", label="stable") == 2
    with pytest.raises(ServingError, match=r"Specific\(digits, 1\)"):
        scores(manager, version=1)

    manager.reload_config(config_of(("digits", base, VersionPolicy.specific([1, 3]), {"stable": 1, "old": 2})))
    assert wait_for(lambda: manager.available_versions("digits") == [1, 3])
    assert scores(manager, label="stable")[0] == 1
    with pytest.raises(ServingError) as info:  # a label naming a version that is not served
        scores(manager, label="old")
    assert info.value.code == grpc.StatusCode.NOT_FOUND
    assert manager.labels("digits") == {"stable": 1, "old": 2}

    manager.reload_config(config_of(("digits", base, VersionPolicy.all(), None)))
    assert manager.available_versions("digits") == [1, 2, 3]
    with pytest.raises(ServingError, match="Unrecognized servable version label: stable"):
        scores(manager, label="stable")

    # a second model; then the first is removed from the config and unloaded
    other = tmp_path / "other"
    drop_in(templates, other, 1, as_version=5)
    manager.reload_config(config_of(("digits", base, VersionPolicy.all(), None), ("other", other, None, None)))
    assert scores(manager, "other")[0] == 5
    manager.reload_config(config_of(("other", other, None, None)))
    assert wait_for(lambda: all(s == State.END for s in states(manager).values()))
    with pytest.raises(ServingError, match=r"Latest\(digits\)"):
        scores(manager)
    assert scores(manager, "other")[0] == 5


def test_removed_version_folder_is_unloaded(manager, templates, tmp_path):
    base = tmp_path / "digits"
    for v in (1, 2):
        drop_in(templates, base, v)
    manager.reload_config(config_of(("digits", base, VersionPolicy.all(), None)))
    assert manager.available_versions("digits") == [1, 2]
    shutil.rmtree(base / "2")
    manager.poll_now()
    assert wait_for(lambda: manager.available_versions("digits") == [1])
    assert scores(manager)[0] == 1


def test_bad_configs_are_rejected(manager, tmp_path):
    config = config_of(("a", tmp_path, None, None), ("a", tmp_path, None, None))
    with pytest.raises(ServingError, match="Illegal to list model a multiple times") as info:
        manager.reload_config(config)
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    config = config_of(("a", "", None, None))
    with pytest.raises(ServingError, match="base_path is empty"):
        manager.reload_config(config)
    config = model_server_config_pb2.ModelServerConfig()
    config.custom_model_config.type_url = "x"
    with pytest.raises(ServingError, match="custom_model_config is not supported"):
        manager.reload_config(config)


def test_loader_exceptions_become_status_errors(tmp_path):
    def loader(name, version, path):
        if version == 2:
            raise RuntimeError("disk on fire")
        return errors  # any object will do as a servable here

    manager = ModelManager(loader=loader, warmup=False, poll_wait_seconds=0)
    try:
        manager.set_aspired_versions("m", {1: str(tmp_path), 2: str(tmp_path)})
        assert wait_for(lambda: {s.version: s.state for s in manager.status("m")} == {1: State.AVAILABLE, 2: State.END})
        error = manager.status("m", 2)[0].error
        assert error.code == grpc.StatusCode.INTERNAL and "disk on fire" in error.message
        with manager.acquire("m") as servable:
            assert servable is errors
    finally:
        manager.stop()
