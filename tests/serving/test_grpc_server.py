"""The gRPC server through TensorFlow Serving's own stubs: real SavedModels from zoo.export, real servers.

build -> fit -> export -> serve -> Predict through the raw `prediction_service_pb2_grpc` stub, compared
with the in-process Keras model (1e-5) for an image, a sequence and a graph model; Classify, Regress,
MultiInference, GetModelMetadata, GetModelStatus, HandleReloadConfigRequest; every error case answers
TF Serving's status code and the server keeps serving; health, reflection, auth, TLS, message
limits, deadlines, batching, metrics, hot swap of a new version, graceful shutdown, the command line.
"""

import io
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tensorflow.core.example import example_pb2, feature_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)
from tensorflow_serving.config import model_server_config_pb2

import zoo
import zoo.data
from serving.auth import TokenAuth
from serving.grpc_server import serve
from zoo.export import export

from servers import build_models, export_models, free_port, make_certificate, running

CLASS_NAMES = [f"digit_{i}" for i in range(10)]
OK = grpc.StatusCode.OK


def quiet_fit(model, x, y):
    zoo.fit(model, (x, y), epochs=1, batch_size=32, verbose=0)
    return model


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """{name: keras model} exported to models_dir/<name>/1 (digits: lenet5 fit on digits)."""
    (x, y), _ = zoo.data.load_digits(image_size=32)
    digits = quiet_fit(zoo.build("lenet5", num_classes=10, input_shape=(32, 32, 1)), x[:256], y[:256])
    built = {"digits": digits, **build_models("seq", "graph", "reg")}
    return {**export_models(tmp_path_factory.mktemp("models"), built, {"digits": CLASS_NAMES}), "x": x[:16]}


@pytest.fixture(scope="module")
def server(models):
    with running(models["root"], file_system_poll_wait_seconds=0.5) as server:
        yield server


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield channel


@pytest.fixture(scope="module")
def stub(channel):
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


@pytest.fixture(scope="module")
def model_stub(channel):
    return model_service_pb2_grpc.ModelServiceStub(channel)


def predict_request(model, inputs, signature="", version=None, label=None, output_filter=()):
    request = predict_pb2.PredictRequest(output_filter=list(output_filter))
    request.model_spec.name = model
    if signature:
        request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request


def outputs(response):
    return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}


def code_of(fn, request, **kw):
    try:
        fn(request, timeout=kw.pop("timeout", 30), **kw)
    except grpc.RpcError as exc:
        return exc.code(), exc.details()
    return OK, ""


def assert_still_serving(stub, models):
    x = models["x"][:2]
    got = outputs(stub.Predict(predict_request("digits", {"input_layer": x}), timeout=30))
    np.testing.assert_allclose(got["scores"], models["digits"](x, training=False), atol=1e-5)


# ------------------------------------------------------------------------------------------------
# Predict equals the in-process model


def test_predict_image_model_equals_in_process_model(stub, models):
    x = models["x"][:5]
    response = stub.Predict(predict_request("digits", {"input_layer": x}), timeout=30)
    got = outputs(response)
    expected = models["digits"](x, training=False).numpy()
    np.testing.assert_allclose(got["scores"], expected, atol=1e-5)
    np.testing.assert_array_equal(got["classes"], expected.argmax(-1))
    spec = response.model_spec  # the effective model_spec is echoed
    assert (spec.name, spec.version.value, spec.signature_name) == ("digits", 1, "serving_default")


def test_predict_sequence_model_equals_in_process_model(stub, models):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 7, 2)).astype(np.float32)
    x[1, 4:] = 0.0  # post-padded
    got = outputs(stub.Predict(predict_request("seq", {"input_layer": x}), timeout=30))
    np.testing.assert_allclose(got["scores"], models["seq"](x, training=False), atol=1e-5)
    # serving_lengths: any padding value works, the lengths say where sequences end
    garbage = x.copy()
    garbage[1, 4:] = 9.0
    lengths = np.array([7, 4, 7], np.int32)
    got = outputs(stub.Predict(
        predict_request("seq", {"input_layer": garbage, "lengths": lengths}, signature="serving_lengths"), timeout=30))
    np.testing.assert_allclose(got["scores"], models["seq"](x, training=False), atol=1e-5)


def test_predict_graph_model_equals_in_process_model(stub, models):
    rng = np.random.default_rng(1)
    graph = {"node_features": rng.normal(size=(6, 5)).astype(np.float32),
             "edge_index": np.array([[0, 1, 2, 3, 4], [1, 2, 3, 4, 5]], np.int32)}
    got = outputs(stub.Predict(predict_request("graph", graph), timeout=30))
    np.testing.assert_allclose(got["scores"], models["graph"](graph, training=False), atol=1e-5)


def test_output_filter_returns_only_the_named_outputs(stub, models):
    response = stub.Predict(predict_request("digits", {"input_layer": models["x"][:2]}, output_filter=["classes"]),
                            timeout=30)
    assert list(response.outputs) == ["classes"]


def test_raw_jpeg_bytes_end_to_end(stub, models):
    from PIL import Image

    image = (models["x"][3, :, :, 0] * 255).round().astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=95)
    jpeg = buffer.getvalue()
    request = predict_request("digits", {"image_bytes": np.array([jpeg], dtype=object)}, signature="serving_bytes")
    got = outputs(stub.Predict(request, timeout=30))
    decoded = tf.io.decode_jpeg(jpeg, channels=1).numpy().astype(np.float32)[None] / 255.0
    np.testing.assert_allclose(got["scores"], models["digits"](decoded, training=False), atol=1e-5)


# ------------------------------------------------------------------------------------------------
# Classify, Regress, MultiInference, metadata, status


def example_of(image):
    return example_pb2.Example(features=feature_pb2.Features(feature={
        "input_layer": feature_pb2.Feature(float_list=feature_pb2.FloatList(value=image.reshape(-1).tolist()))}))


def test_classify_returns_class_names_and_scores(stub, models):
    x = models["x"][:3]
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name, request.model_spec.signature_name = "digits", "classify"
    request.input.example_list.examples.extend(example_of(image) for image in x)
    response = stub.Classify(request, timeout=30)
    expected = models["digits"](x, training=False).numpy()  # a softmax head: the scores are its output
    assert len(response.result.classifications) == 3
    for row, classes in zip(expected, response.result.classifications):
        assert [c.label for c in classes.classes] == CLASS_NAMES
        np.testing.assert_allclose([c.score for c in classes.classes], row, atol=1e-5)
    assert response.model_spec.version.value == 1 and response.model_spec.signature_name == "classify"


def test_regress_and_multi_inference(stub, models):
    x = np.random.default_rng(2).random((4, 8, 8, 1)).astype(np.float32)
    expected = models["reg"](x, training=False).numpy()[:, 0]
    request = regression_pb2.RegressionRequest()
    request.model_spec.name, request.model_spec.signature_name = "reg", "regress"
    request.input.example_list.examples.extend(example_of(image) for image in x)
    response = stub.Regress(request, timeout=30)
    np.testing.assert_allclose([r.value for r in response.result.regressions], expected, atol=1e-5)

    multi = inference_pb2.MultiInferenceRequest()
    task = multi.tasks.add(method_name="tensorflow/serving/regress")
    task.model_spec.name, task.model_spec.signature_name = "reg", "regress"
    multi.input.example_list.examples.extend(example_of(image) for image in x)
    result = stub.MultiInference(multi, timeout=30).results[0]
    np.testing.assert_allclose([r.value for r in result.regression_result.regressions], expected, atol=1e-5)
    assert result.model_spec.name == "reg" and result.model_spec.version.value == 1


def test_multi_inference_classify(stub, models):
    multi = inference_pb2.MultiInferenceRequest()
    task = multi.tasks.add(method_name="tensorflow/serving/classify")
    task.model_spec.name, task.model_spec.signature_name = "digits", "classify"
    multi.input.example_list.examples.extend(example_of(image) for image in models["x"][:2])
    result = stub.MultiInference(multi, timeout=30).results[0]
    assert [c.label for c in result.classification_result.classifications[0].classes] == CLASS_NAMES


def test_get_model_metadata_has_signature_defs(stub):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "digits"
    response = stub.GetModelMetadata(request, timeout=30)
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(sig_map)
    assert {"serving_default", "serving_bytes", "classify"} <= set(sig_map.signature_def)
    default = sig_map.signature_def["serving_default"]
    assert default.method_name == "tensorflow/serving/predict"
    assert default.inputs["input_layer"].dtype == tf.float32.as_datatype_enum
    assert [d.size for d in default.inputs["input_layer"].tensor_shape.dim] == [-1, 32, 32, 1]
    assert response.model_spec.name == "digits" and response.model_spec.version.value == 1


def test_get_model_status(model_stub):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "digits"
    response = model_stub.GetModelStatus(request, timeout=30)
    (status,) = response.model_version_status
    assert status.version == 1 and status.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert status.status.error_code == 0


# ------------------------------------------------------------------------------------------------
# Errors: TF Serving's codes and wording; the server keeps serving after each


def _malformed_tensor():
    request = predict_request("digits", {"input_layer": np.zeros((1, 32, 32, 1), np.float32)})
    request.inputs["input_layer"].tensor_content = b"\x00" * 7
    return request


ZEROS = np.zeros((1, 32, 32, 1), np.float32)
PREDICT_ERRORS = {
    "unknown model": (predict_request("nope", {"input_layer": ZEROS}), grpc.StatusCode.NOT_FOUND,
                      "Servable not found for request: Latest(nope)"),
    "unknown version": (predict_request("digits", {"input_layer": ZEROS}, version=99), grpc.StatusCode.NOT_FOUND,
                        "Servable not found for request: Specific(digits, 99)"),
    "unknown label": (predict_request("digits", {"input_layer": ZEROS}, label="nolabel"),
                      grpc.StatusCode.INVALID_ARGUMENT, "nolabel"),
    "unknown signature": (predict_request("digits", {"input_layer": ZEROS}, signature="nosig"),
                          grpc.StatusCode.FAILED_PRECONDITION, "nosig"),
    "missing input": (predict_request("digits", {}), grpc.StatusCode.INVALID_ARGUMENT, "input_layer"),
    "extra input": (predict_request("digits", {"input_layer": ZEROS, "bogus": ZEROS}),
                    grpc.StatusCode.INVALID_ARGUMENT, "bogus"),
    "wrong dtype": (predict_request("digits", {"input_layer": ZEROS.astype(np.int32)}),
                    grpc.StatusCode.INVALID_ARGUMENT, "input_layer"),
    "wrong shape": (predict_request("digits", {"input_layer": np.zeros((1, 8, 8, 1), np.float32)}),
                    grpc.StatusCode.INVALID_ARGUMENT, "input_layer"),
    "wrong rank": (predict_request("digits", {"input_layer": np.zeros((32, 32), np.float32)}),
                   grpc.StatusCode.INVALID_ARGUMENT, "input_layer"),
    "bad output_filter": (predict_request("digits", {"input_layer": ZEROS}, output_filter=["nothing"]),
                          grpc.StatusCode.INVALID_ARGUMENT, "nothing"),
    "malformed tensor": (_malformed_tensor(), grpc.StatusCode.INVALID_ARGUMENT, "input_layer"),
    "no model name": (predict_pb2.PredictRequest(), grpc.StatusCode.INVALID_ARGUMENT, "ModelSpec"),
    "undecodable image": (predict_request("digits", {"image_bytes": np.array([b"not an image"], dtype=object)},
                                          signature="serving_bytes"), grpc.StatusCode.INVALID_ARGUMENT, ""),
    "graph with an out-of-range edge": (predict_request("graph", {
        "node_features": np.zeros((2, 5), np.float32), "edge_index": np.array([[0], [7]], np.int32)}),
        None, ""),
}


@pytest.mark.parametrize("case", sorted(PREDICT_ERRORS))
def test_predict_errors_answer_tf_serving_codes_and_server_keeps_serving(stub, models, case):
    request, code, words = PREDICT_ERRORS[case]
    got, details = code_of(stub.Predict, request)
    if code is None:  # whatever TF says (it may even run), never a crash
        assert got in (OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.INTERNAL), (got, details)
    else:
        assert got == code, (got, details)
        assert words in details
    assert_still_serving(stub, models)


def test_other_rpc_errors(stub, model_stub, models):
    classify = classification_pb2.ClassificationRequest()
    classify.model_spec.name = "digits"  # serving_default takes images, not serialized examples
    classify.input.example_list.examples.add()
    got, details = code_of(stub.Classify, classify)
    assert got == grpc.StatusCode.INVALID_ARGUMENT and "No classification inputs found" in details

    empty = classification_pb2.ClassificationRequest()
    empty.model_spec.name, empty.model_spec.signature_name = "digits", "classify"
    assert code_of(stub.Classify, empty)[0] == grpc.StatusCode.INVALID_ARGUMENT

    bad_example = classification_pb2.ClassificationRequest()
    bad_example.model_spec.name, bad_example.model_spec.signature_name = "digits", "classify"
    bad_example.input.example_list.examples.add().features.feature["input_layer"].float_list.value.extend([1.0] * 3)
    assert code_of(stub.Classify, bad_example)[0] == grpc.StatusCode.INVALID_ARGUMENT

    metadata = get_model_metadata_pb2.GetModelMetadataRequest()
    metadata.model_spec.name = "digits"
    assert code_of(stub.GetModelMetadata, metadata)[0] == grpc.StatusCode.INVALID_ARGUMENT
    metadata.metadata_field.append("nope")
    assert code_of(stub.GetModelMetadata, metadata)[0] == grpc.StatusCode.INVALID_ARGUMENT

    status = get_model_status_pb2.GetModelStatusRequest()
    status.model_spec.name = "nope"
    assert code_of(model_stub.GetModelStatus, status)[0] == grpc.StatusCode.NOT_FOUND

    multi = inference_pb2.MultiInferenceRequest()
    assert code_of(stub.MultiInference, multi)[0] == grpc.StatusCode.INVALID_ARGUMENT
    for name in ("digits", "reg"):
        task = multi.tasks.add(method_name="tensorflow/serving/classify")
        task.model_spec.name = name
    assert "same model name" in code_of(stub.MultiInference, multi)[1]

    bad_config = model_management_pb2.ReloadConfigRequest()
    bad_config.config.model_config_list.config.add(name="x")  # no base path
    assert code_of(model_stub.HandleReloadConfigRequest, bad_config)[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert_still_serving(stub, models)


def test_expired_deadline(stub, models):
    got, _ = code_of(stub.Predict, predict_request("digits", {"input_layer": models["x"][:2]}), timeout=1e-4)
    assert got == grpc.StatusCode.DEADLINE_EXCEEDED
    assert_still_serving(stub, models)


def test_message_size_limit(models):
    server = serve(models_dir=models["root"], host="127.0.0.1", port=0, rest_api_port=None,
                   max_message_size=1 << 16)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            big = np.zeros((64, 32, 32, 1), np.float32)  # 256 KiB > 64 KiB
            assert code_of(stub.Predict, predict_request("digits", {"input_layer": big}))[0] == \
                grpc.StatusCode.RESOURCE_EXHAUSTED
            assert_still_serving(stub, models)
    finally:
        server.stop(grace=1)


# ------------------------------------------------------------------------------------------------
# Health, reflection, reload config and labels


def test_health_and_reflection(channel, server):
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "tensorflow.serving.PredictionService", "digits"):
        response = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        assert response.status == health_pb2.HealthCheckResponse.SERVING
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                                                timeout=10)
    names = {s.name for r in responses for s in r.list_services_response.service}
    assert {"tensorflow.serving.PredictionService", "tensorflow.serving.ModelService",
            "grpc.health.v1.Health"} <= names


def test_reload_config_with_labels_and_versions(tmp_path, models):
    base = tmp_path / "digits"
    shutil.copytree(models["root"] / "digits" / "1", base / "1")
    shutil.copytree(models["root"] / "digits" / "1", base / "2")
    server = serve(models_dir=tmp_path, host="127.0.0.1", port=0, rest_api_port=None)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            models_stub = model_service_pb2_grpc.ModelServiceStub(channel)
            x = {"input_layer": models["x"][:1]}
            assert stub.Predict(predict_request("digits", x), timeout=30).model_spec.version.value == 2
            assert code_of(stub.Predict, predict_request("digits", x, version=1))[0] == grpc.StatusCode.NOT_FOUND
            config = text_format.Parse(f"""
                model_config_list {{ config {{
                  name: "digits" base_path: "{base}" model_platform: "tensorflow"
                  model_version_policy {{ all {{}} }}
                  version_labels {{ key: "stable" value: 1 }} version_labels {{ key: "canary" value: 2 }}
                }} }}""", model_server_config_pb2.ModelServerConfig())
            response = models_stub.HandleReloadConfigRequest(
                model_management_pb2.ReloadConfigRequest(config=config), timeout=60)
            assert response.status.error_code == 0
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if code_of(stub.Predict, predict_request("digits", x, version=1))[0] == OK:
                    break
                time.sleep(0.1)
            for label, version in (("stable", 1), ("canary", 2)):
                response = stub.Predict(predict_request("digits", x, label=label), timeout=30)
                assert response.model_spec.version.value == version  # the label resolved to its version
            status = get_model_status_pb2.GetModelStatusRequest()
            status.model_spec.name = "digits"
            versions = models_stub.GetModelStatus(status, timeout=30).model_version_status
            assert sorted(s.version for s in versions if s.state == 30) == [1, 2]
    finally:
        server.stop(grace=1)


def test_broken_version_is_reported_and_does_not_take_down_the_served_one(tmp_path, models):
    shutil.copytree(models["root"] / "digits" / "1", tmp_path / "digits" / "1")
    server = serve(models_dir=tmp_path, host="127.0.0.1", port=0, rest_api_port=None,
                   file_system_poll_wait_seconds=0.2)
    try:
        broken = tmp_path / "digits" / "2"
        broken.mkdir()
        (broken / "saved_model.pb").write_bytes(b"this is not a SavedModel")
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            models_stub = model_service_pb2_grpc.ModelServiceStub(channel)
            request = get_model_status_pb2.GetModelStatusRequest()
            request.model_spec.name = "digits"
            deadline = time.monotonic() + 10
            states = {}
            while time.monotonic() < deadline:
                states = {s.version: s for s in models_stub.GetModelStatus(request, timeout=30).model_version_status}
                if 2 in states and states[2].state == get_model_status_pb2.ModelVersionStatus.END:
                    break
                time.sleep(0.1)
            assert states[2].state == get_model_status_pb2.ModelVersionStatus.END
            assert states[2].status.error_code != 0 and states[2].status.error_message
            assert stub.Predict(predict_request("digits", {"input_layer": models["x"][:1]}),
                                timeout=30).model_spec.version.value == 1
    finally:
        server.stop(grace=1)


# ------------------------------------------------------------------------------------------------
# A new version while a client loops: served, zero failed requests (how fast: benchmarks/)


def wait_until(condition, timeout: float = 60.0) -> bool:
    """Poll `condition` until it holds (True) or `timeout` seconds pass (False)."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


def test_new_version_is_swapped_in_with_zero_failed_requests(tmp_path, models):
    base = tmp_path / "digits"
    shutil.copytree(models["root"] / "digits" / "1", base / "1")
    server = serve(models_dir=tmp_path, host="127.0.0.1", port=0, rest_api_port=None,
                   file_system_poll_wait_seconds=0.2)
    failures, versions = [], []
    stop = threading.Event()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            request = predict_request("digits", {"input_layer": models["x"][:1]})

            def loop():
                end = time.monotonic() + 60  # bounded
                while not stop.is_set() and time.monotonic() < end:
                    try:
                        versions.append(stub.Predict(request, timeout=30).model_spec.version.value)
                    except grpc.RpcError as exc:
                        failures.append((exc.code(), exc.details()))

            thread = threading.Thread(target=loop)
            thread.start()
            assert wait_until(lambda: len(versions) >= 5)
            assert export(models["digits"], base) == str(base / "2") or (base / "2").is_dir()
            assert wait_until(lambda: 2 in versions), "version 2 was never served"
            assert wait_until(lambda: versions[-5:] == [2] * 5)  # a few answers from the new version
            stop.set()
            thread.join()
    finally:
        stop.set()
        server.stop(grace=1)
    assert failures == []
    assert versions[0] == 1 and versions[-1] == 2
    assert versions == sorted(versions)  # never back to the old version once the new one serves


# ------------------------------------------------------------------------------------------------
# Batching and metrics


def concurrently(call, n):
    """[call(0), ..., call(n - 1)], each in its own thread, all started together."""
    results = [None] * n
    barrier = threading.Barrier(n)

    def work(i):
        barrier.wait()
        results[i] = call(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_batching_gives_the_same_results_and_records_batch_sizes(models):
    from serving.config import BatchingOptions

    options = BatchingOptions(max_batch_size=16, batch_timeout_micros=20_000, num_batch_threads=1)
    server = serve(models_dir=models["root"], host="127.0.0.1", port=0, rest_api_port=0, batching=options)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            x = models["x"]
            results = concurrently(lambda i: outputs(stub.Predict(
                predict_request("digits", {"input_layer": x[2 * i: 2 * i + 2]}), timeout=30)), 8)
            expected = models["digits"](x, training=False).numpy()
            for i, result in enumerate(results):
                np.testing.assert_allclose(result["scores"], expected[2 * i: 2 * i + 2], atol=1e-5)
            # graph signatures are not batchable: they run unbatched on the same server
            graph = {"node_features": np.ones((3, 5), np.float32), "edge_index": np.array([[0, 1], [1, 2]], np.int32)}
            assert outputs(stub.Predict(predict_request("graph", graph), timeout=30))["scores"].shape == (3, 3)
        import requests

        text = requests.get(f"http://127.0.0.1:{server.rest_port}/monitoring/prometheus/metrics", timeout=10).text
        batch_lines = [l for l in text.splitlines() if l.startswith(
            ":tensorflow:serving:batching_session:processed_batch_size_count{")]
        assert batch_lines and 'model_name="digits"' in batch_lines[0]
        sizes = server.metrics.batch_size
        total = sizes.count(("digits", "1", "serving_default"))
        assert 1 <= total < 8  # 8 requests ran in fewer batches
        assert ':tensorflow:serving:request_count{model_name="digits",version="1",API="predict",' \
               'entrypoint="GRPC",status="OK"} 8' in text
        assert ':tensorflow:core:servable_state{model_name="digits",version="1",state="AVAILABLE"} 1' in text
    finally:
        server.stop(grace=1)


def test_batching_answers_calls_without_a_deadline(models):
    """A call without a deadline (grpcio's default, and grpc.aio's) reaches the server as gRPC's infinite
    future: it once became a timeout no lock could take (OverflowError: INTERNAL on every batched call)."""
    import asyncio

    from serving.config import BatchingOptions

    options = BatchingOptions(max_batch_size=4, batch_timeout_micros=1000, num_batch_threads=1)
    request = predict_request("digits", {"input_layer": models["x"][:2]})
    expected = models["digits"](models["x"][:2], training=False).numpy()
    with running(models["root"], batching=options) as server:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            np.testing.assert_allclose(outputs(stub.Predict(request))["scores"], expected, atol=1e-5)

        async def aio_calls():
            async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
                return await asyncio.gather(*[stub.Predict(request) for _ in range(4)])

        for response in asyncio.run(aio_calls()):
            np.testing.assert_allclose(outputs(response)["scores"], expected, atol=1e-5)
        assert server.metrics.batch_size.count(("digits", "1", "serving_default")) >= 1


def test_batching_merges_classify_and_regress_requests_too(models):
    from serving.config import BatchingOptions

    options = BatchingOptions(max_batch_size=16, batch_timeout_micros=50_000, num_batch_threads=1)
    server = serve(models_dir=models["root"], host="127.0.0.1", port=0, rest_api_port=None, batching=options)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            x = models["x"]

            def classify(i):
                request = classification_pb2.ClassificationRequest()
                request.model_spec.name, request.model_spec.signature_name = "digits", "classify"
                request.input.example_list.examples.extend(example_of(image) for image in x[2 * i: 2 * i + 2])
                return [[c.score for c in row.classes] for row in stub.Classify(request, timeout=30).result.classifications]

            scores = concurrently(classify, 6)
            expected = models["digits"](x, training=False).numpy()
            for i, rows in enumerate(scores):
                np.testing.assert_allclose(rows, expected[2 * i: 2 * i + 2], atol=1e-5)  # each gets its own rows

            images = np.random.default_rng(3).random((12, 8, 8, 1)).astype(np.float32)

            def regress(i):
                request = regression_pb2.RegressionRequest()
                request.model_spec.name, request.model_spec.signature_name = "reg", "regress"
                request.input.example_list.examples.extend(example_of(image) for image in images[2 * i: 2 * i + 2])
                return [r.value for r in stub.Regress(request, timeout=30).result.regressions]

            values = concurrently(regress, 6)
            np.testing.assert_allclose(np.concatenate(values), models["reg"](images, training=False).numpy()[:, 0],
                                       atol=1e-5)
        sizes = server.metrics.batch_size
        for key in (("digits", "1", "classify"), ("reg", "1", "regress")):
            assert 1 <= sizes.count(key) < 6, (key, sizes.count(key))  # 6 requests ran in fewer batches
    finally:
        server.stop(grace=1)


def test_token_auth(models):
    server = serve(models_dir=models["root"], host="127.0.0.1", port=0, rest_api_port=None,
                   auth=TokenAuth(["s3cret"]))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            request = predict_request("digits", {"input_layer": models["x"][:1]})
            assert code_of(stub.Predict, request)[0] == grpc.StatusCode.UNAUTHENTICATED
            assert code_of(stub.Predict, request, metadata=[("authorization", "Bearer wrong")])[0] == \
                grpc.StatusCode.UNAUTHENTICATED
            assert code_of(stub.Predict, request, metadata=[("authorization", "Bearer s3cret")])[0] == OK
            health = health_pb2_grpc.HealthStub(channel)  # probes need no token
            assert health.Check(health_pb2.HealthCheckRequest(), timeout=10).status == \
                health_pb2.HealthCheckResponse.SERVING
    finally:
        server.stop(grace=1)


def test_tls(tmp_path, models):
    cert, key = make_certificate(tmp_path)
    server = serve(models_dir=models["root"], host="127.0.0.1", port=0, rest_api_port=None,
                   tls_cert=str(cert), tls_key=str(key))
    try:
        credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        with grpc.secure_channel(f"localhost:{server.port}", credentials) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            assert_still_serving(stub, models)
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:  # plaintext is refused
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            assert code_of(stub.Predict, predict_request("digits", {"input_layer": models["x"][:1]}),
                           timeout=5)[0] == grpc.StatusCode.UNAVAILABLE
    finally:
        server.stop(grace=1)


# ------------------------------------------------------------------------------------------------
# Graceful shutdown and the command line


def test_graceful_shutdown_finishes_in_flight_calls(models):
    from serving.config import BatchingOptions

    # A 1.5 s batch timeout keeps a call in flight while stop() begins.
    options = BatchingOptions(max_batch_size=64, batch_timeout_micros=1_500_000, num_batch_threads=1)
    server = serve(models_dir=models["root"], host="127.0.0.1", port=0, rest_api_port=None, batching=options)
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        future = stub.Predict.future(predict_request("digits", {"input_layer": models["x"][:1]}), timeout=30)
        time.sleep(0.3)
        server.stop(grace=10)
        assert future.result().model_spec.version.value == 1  # drained, not cut off
        assert code_of(stub.Predict, predict_request("digits", {"input_layer": models["x"][:1]}),
                       timeout=5)[0] == grpc.StatusCode.UNAVAILABLE


@pytest.mark.slow
def test_command_line_serves_and_stops_on_sigterm(tmp_path, models):
    port, rest_port = free_port(), free_port()
    monitoring = tmp_path / "monitoring.config"
    monitoring.write_text('prometheus_config { enable: true path: "/metrics" }\n')
    batching = tmp_path / "batching.config"
    batching.write_text("max_batch_size { value: 8 }\nbatch_timeout_micros { value: 1000 }\n")
    command = [sys.executable, "-m", "serving", f"--port={port}", f"--rest_api_port={rest_port}", "--host=127.0.0.1",
               "--model_name=digits", f"--model_base_path={models['root'] / 'digits'}", "--enable_batching",
               f"--batching_parameters_file={batching}", f"--monitoring_config_file={monitoring}",
               "--file_system_poll_wait_seconds=1"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=Path(__file__).resolve().parents[2])
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=120)
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            assert_still_serving(stub, models)
        import requests

        assert "request_count" in requests.get(f"http://127.0.0.1:{rest_port}/metrics", timeout=10).text
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_models_dir_picks_up_new_model_folders(tmp_path, models):
    from serving.cli import build_server, make_parser

    shutil.copytree(models["root"] / "digits" / "1", tmp_path / "digits" / "1")
    args = make_parser().parse_args([str(tmp_path), "--port=0", "--host=127.0.0.1",
                                     "--file_system_poll_wait_seconds=0.2"])
    server = build_server(args).start()
    try:
        shutil.copytree(models["root"] / "reg", tmp_path / "reg")
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            request = predict_request("reg", {"input_layer": np.zeros((1, 8, 8, 1), np.float32)})
            deadline, got = time.monotonic() + 10, None
            while time.monotonic() < deadline and got != OK:
                got = code_of(stub.Predict, request)[0]
                time.sleep(0.1)
            assert got == OK
            assert_still_serving(stub, models)
    finally:
        server.stop(grace=1)


def test_model_config_file_is_polled(tmp_path, models):
    from serving.cli import build_server, make_parser

    config = tmp_path / "models.config"
    entry = 'config {{ name: "{0}" base_path: "{1}" model_platform: "tensorflow" }}'
    config.write_text(f"model_config_list {{ {entry.format('digits', models['root'] / 'digits')} }}")
    args = make_parser().parse_args([f"--model_config_file={config}", "--model_config_file_poll_wait_seconds=0.2",
                                     "--port=0", "--host=127.0.0.1"])
    server = build_server(args).start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            request = predict_request("reg", {"input_layer": np.zeros((1, 8, 8, 1), np.float32)})
            assert code_of(stub.Predict, request)[0] == grpc.StatusCode.NOT_FOUND
            config.write_text("model_config_list { " + entry.format("digits", models["root"] / "digits")
                              + " " + entry.format("reg", models["root"] / "reg") + " }")
            deadline, got = time.monotonic() + 10, None
            while time.monotonic() < deadline and got != OK:
                got = code_of(stub.Predict, request)[0]
                time.sleep(0.1)
            assert got == OK
            assert_still_serving(stub, models)
    finally:
        server.stop(grace=1)


def test_command_line_rejects_inconsistent_flags(capsys):
    from serving.cli import main

    assert main(["--upstream=127.0.0.1:1", "--model_base_path=/x"]) == 2
    assert "gateway" in capsys.readouterr().err
    assert main(["--model_base_path=/x", "--batching_parameters_file=/y"]) == 2
