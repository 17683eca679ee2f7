"""Gateway mode, with the project's own server as the upstream TensorFlow Serving.

Client -> gateway (auth, metrics, input adapters) -> upstream (runs the SavedModels). Results equal
the in-process model; upstream errors come back with the upstream's code and message; an upstream
that is down is UNAVAILABLE and the gateway goes on serving once it is back.
"""

import io
import json

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc, predict_pb2, prediction_service_pb2_grpc

import serving
from serving.auth import TokenAuth
from serving.gateway import Gateway
from serving.grpc_server import Server, serve

from servers import NAMES, build_models, export_models, free_port, running


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    built = build_models("image", "seq", "graph")
    return export_models(tmp_path_factory.mktemp("models"), built, {"image": NAMES})


@pytest.fixture(scope="module")
def upstream(models):
    with running(models["root"]) as server:
        yield server


@pytest.fixture(scope="module")
def gateway(upstream):
    backend = Gateway(f"127.0.0.1:{upstream.port}", timeout=30)
    server = Server(backend, host="127.0.0.1", port=0, rest_api_port=0, auth=TokenAuth(["gw"]),
                    on_stop=[backend.close]).start()
    yield server
    server.stop(grace=1)


@pytest.fixture(scope="module")
def client(gateway):
    with serving.Client(f"127.0.0.1:{gateway.port}", token="gw", timeout=30) as client:
        yield client


AUTH = [("authorization", "Bearer gw")]


def images(n, seed=0):
    return np.random.default_rng(seed).random((n, 32, 32, 1)).astype(np.float32)


def raw_predict(gateway, model, inputs, signature=""):
    with grpc.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model
        request.model_spec.signature_name = signature
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        response = stub.Predict(request, timeout=30, metadata=AUTH)
        return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}, response.model_spec


def test_predict_through_the_gateway_equals_in_process(gateway, models):
    x = images(3)
    outputs, spec = raw_predict(gateway, "image", {"input_layer": x})
    np.testing.assert_allclose(outputs["scores"], models["image"](x, training=False), atol=1e-5)
    assert (spec.name, spec.version.value, spec.signature_name) == ("image", 1, "serving_default")


def test_client_features_through_the_gateway(client, models):
    x = images(2, seed=1)
    np.testing.assert_allclose(client.predict("image", x)["scores"], models["image"](x, training=False), atol=1e-5)
    assert [label for label, _ in client.classify("image", x)[0]] == NAMES
    assert client.status("image")[0]["state"] == "AVAILABLE"
    assert "serving_bytes" in client.metadata("image")["signature_def"]


def test_raw_image_bytes_adapter(gateway, models):
    from PIL import Image

    pixels = (images(1, seed=2)[0, :, :, 0] * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    # sent to serving_default (which takes floats): the gateway routes it to serving_bytes
    outputs, spec = raw_predict(gateway, "image", {"images": np.array([buffer.getvalue()], dtype=object)})
    expected = models["image"](pixels[None, :, :, None].astype(np.float32) / 255.0, training=False)
    np.testing.assert_allclose(outputs["scores"], expected, atol=1e-5)
    assert spec.signature_name == "serving_bytes"


def test_sequence_mask_adapter(gateway, models):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 5, 2)).astype(np.float32)
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]], np.int32)
    garbage = x.copy()
    garbage[1, 2:] = 7.0  # padding the mask marks, whatever its values
    outputs, spec = raw_predict(gateway, "seq", {"input_layer": garbage, "mask": mask})
    assert spec.signature_name == "serving_lengths"  # mask turned into lengths
    clean = x.copy()
    clean[1, 2:] = 0.0
    np.testing.assert_allclose(outputs["scores"], models["seq"](clean, training=False), atol=1e-5)


def test_rest_adapters_through_the_gateway(gateway, models):
    url = f"http://127.0.0.1:{gateway.rest_port}"
    headers = {"Authorization": "Bearer gw"}
    rng = np.random.default_rng(4)
    sequences = [rng.normal(size=(n, 2)).astype(np.float32) for n in (3, 6)]
    response = requests.post(url + "/v1/models/seq:predict", headers=headers, timeout=30,
                             data=json.dumps({"instances": [s.tolist() for s in sequences]}))
    assert response.status_code == 200, response.text
    for sequence, prediction in zip(sequences, response.json()["predictions"]):
        np.testing.assert_allclose(prediction["scores"], models["seq"](sequence[None], training=False)[0], atol=1e-5)
    graphs = [{"node_features": rng.normal(size=(n, 5)).astype(np.float32).tolist(),
               "edge_index": [list(range(n - 1)), list(range(1, n))]} for n in (2, 3)]
    response = requests.post(url + "/v1/models/graph:predict", headers=headers, timeout=30,
                             data=json.dumps({"instances": graphs}))
    assert response.status_code == 200, response.text
    scores = np.array([p["scores"] for p in response.json()["predictions"]])
    assert scores.shape == (5, 3)
    first = {"node_features": np.array(graphs[0]["node_features"], np.float32),
             "edge_index": np.array(graphs[0]["edge_index"], np.int32)}
    np.testing.assert_allclose(scores[:2], models["graph"](first, training=False), atol=1e-5)
    status = requests.get(url + "/v1/models/image", headers=headers, timeout=30)
    assert status.json()["model_version_status"][0]["state"] == "AVAILABLE"


def test_auth_and_metrics_at_the_gateway(gateway):
    with grpc.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "image"
        request.inputs["input_layer"].CopyFrom(tf.make_tensor_proto(images(1)))
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(request, timeout=30)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        stub.Predict(request, timeout=30, metadata=AUTH)
    metrics = f"http://127.0.0.1:{gateway.rest_port}/monitoring/prometheus/metrics"
    assert requests.get(metrics, timeout=30).status_code == 401  # the metrics are behind the token too
    text = requests.get(metrics, headers={"Authorization": dict(AUTH)["authorization"]}, timeout=30).text
    assert ':tensorflow:serving:request_count{model_name="image",version="1",API="predict",entrypoint="GRPC",' \
           'status="OK"}' in text


def test_upstream_errors_pass_through(client):
    with pytest.raises(serving.ServingError) as info:
        client.predict("nope", {"x": np.zeros(1, np.float32)})
    assert info.value.code == grpc.StatusCode.NOT_FOUND
    assert info.value.message == "Servable not found for request: Latest(nope)"
    with pytest.raises(serving.ServingError) as info:
        client.predict("image", {"input_layer": np.zeros((1, 3), np.float32)})
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT and "input_layer" in info.value.message
    with grpc.insecure_channel(client.target) as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = "nope"
        with pytest.raises(grpc.RpcError) as rpc:
            stub.GetModelStatus(request, timeout=30, metadata=AUTH)
        assert rpc.value.code() == grpc.StatusCode.NOT_FOUND
    assert client.predict("image", images(1))["scores"].shape == (1, 3)


def test_upstream_down_is_unavailable_then_recovers(models):
    port = free_port()
    backend = Gateway(f"127.0.0.1:{port}", timeout=5)
    gateway = Server(backend, host="127.0.0.1", port=0, on_stop=[backend.close]).start()
    upstream = None
    try:
        with serving.Client(f"127.0.0.1:{gateway.port}", timeout=10) as client:
            with pytest.raises(serving.ServingError) as info:
                client.predict("image", {"input_layer": images(1)})
            assert info.value.code == grpc.StatusCode.UNAVAILABLE and "upstream" in info.value.message
            upstream = serve(models_dir=models["root"], host="127.0.0.1", port=port, rest_api_port=None)
            outputs = None
            for _ in range(50):  # the channel reconnects with backoff
                try:
                    outputs = client.predict("image", {"input_layer": images(1)}, timeout=5)
                    break
                except serving.ServingError as exc:
                    assert exc.code == grpc.StatusCode.UNAVAILABLE
                    import time

                    time.sleep(0.2)
            assert outputs is not None and outputs["scores"].shape == (1, 3)
    finally:
        gateway.stop(grace=1)
        if upstream is not None:
            upstream.stop(grace=1)


def test_gateway_from_the_command_line_flags(upstream, models):
    from serving.cli import build_server, make_parser

    args = make_parser().parse_args([f"--upstream=127.0.0.1:{upstream.port}", "--port=0", "--host=127.0.0.1",
                                     "--token=a,b"])
    server = build_server(args).start()
    try:
        with serving.Client(f"127.0.0.1:{server.port}", token="b", timeout=30) as client:
            x = images(1, seed=9)
            np.testing.assert_allclose(client.predict("image", x)["scores"], models["image"](x, training=False),
                                       atol=1e-5)
    finally:
        server.stop(grace=1)
