"""The REST API (TensorFlow Serving's JSON) against a real server, and its codec without one."""

import base64
import io
import json

import grpc
import numpy as np
import pytest
import requests

from serving.auth import TokenAuth
from serving.client import Signature, TensorSpec
from serving.grpc_server import serve
from serving.rest import (MAX_JSON_DEPTH, check_input_types, format_predict_outputs, parse_examples, parse_json,
                          parse_predict_body)
from serving.errors import ServingError

from servers import NAMES, build_models, export_models, make_certificate, running


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    built = build_models("image", "seq", "graph", "reg")
    return export_models(tmp_path_factory.mktemp("models"), built, {"image": NAMES})


@pytest.fixture(scope="module")
def url(models):
    with running(models["root"], rest_api_port=0) as server:
        yield f"http://127.0.0.1:{server.rest_port}"


def images(n, seed=0):
    return np.random.default_rng(seed).random((n, 32, 32, 1)).astype(np.float32)


def post(url, path, body, **kw):
    return requests.post(url + path, data=body if isinstance(body, (bytes, str)) else json.dumps(body), timeout=30, **kw)


def test_predict_row_format(url, models):
    x = images(2)
    response = post(url, "/v1/models/image:predict", {"instances": x.tolist()})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    expected = models["image"](x, training=False).numpy()
    assert len(predictions) == 2 and set(predictions[0]) == {"scores", "probabilities", "classes"}
    np.testing.assert_allclose([p["scores"] for p in predictions], expected, atol=1e-5)
    named = post(url, "/v1/models/image/versions/1:predict",
                 {"signature_name": "serving_default", "instances": [{"input_layer": row} for row in x.tolist()]})
    np.testing.assert_allclose([p["scores"] for p in named.json()["predictions"]], expected, atol=1e-5)


def test_predict_columnar_format(url, models):
    x = images(3, seed=1)
    response = post(url, "/v1/models/image:predict", {"inputs": {"input_layer": x.tolist()}})
    outputs = response.json()["outputs"]
    np.testing.assert_allclose(outputs["scores"], models["image"](x, training=False), atol=1e-5)
    single = requests.post(url + "/v1/models/image:predict", timeout=30, data=json.dumps({"inputs": x.tolist()}))
    assert np.shape(single.json()["outputs"]["scores"]) == (3, 3)


def test_predict_b64_jpeg(url, models):
    from PIL import Image

    pixels = (images(1, seed=2)[0, :, :, 0] * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    b64 = base64.b64encode(buffer.getvalue()).decode()
    expected = models["image"](pixels[None, :, :, None].astype(np.float32) / 255.0, training=False).numpy()
    # explicitly to serving_bytes, and to serving_default (routed to the image-bytes signature)
    for body in ({"signature_name": "serving_bytes", "instances": [{"b64": b64}]}, {"instances": [{"b64": b64}]}):
        response = post(url, "/v1/models/image:predict", body)
        assert response.status_code == 200, response.text
        np.testing.assert_allclose(response.json()["predictions"][0]["scores"], expected[0], atol=1e-5)


def test_predict_variable_length_sequences_and_graphs(url, models):
    rng = np.random.default_rng(3)
    sequences = [rng.normal(size=(n, 2)).astype(np.float32) for n in (4, 6)]
    response = post(url, "/v1/models/seq:predict", {"instances": [s.tolist() for s in sequences]})
    assert response.status_code == 200, response.text
    for sequence, prediction in zip(sequences, response.json()["predictions"]):
        np.testing.assert_allclose(prediction["scores"], models["seq"](sequence[None], training=False)[0], atol=1e-5)
    graph = {"node_features": rng.normal(size=(3, 5)).astype(np.float32).tolist(), "edge_index": [[0, 1], [1, 2]]}
    response = post(url, "/v1/models/graph:predict", {"inputs": graph})
    assert response.status_code == 200, response.text
    expected = models["graph"]({k: np.asarray(v, np.float32 if k == "node_features" else np.int32)
                                for k, v in graph.items()}, training=False)
    np.testing.assert_allclose(response.json()["outputs"]["scores"], expected, atol=1e-5)


def test_classify_and_regress(url, models):
    x = images(2, seed=4)
    body = {"signature_name": "classify", "examples": [{"input_layer": row.reshape(-1).tolist()} for row in x]}
    response = post(url, "/v1/models/image:classify", body)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [[label for label, _ in row] for row in results] == [NAMES, NAMES]
    np.testing.assert_allclose([[s for _, s in row] for row in results], models["image"](x, training=False), atol=1e-5)

    r = np.random.default_rng(5).random((2, 8, 8, 1)).astype(np.float32)
    body = {"signature_name": "regress", "examples": [{"input_layer": row.reshape(-1).tolist()} for row in r]}
    response = post(url, "/v1/models/reg:regress", body)
    np.testing.assert_allclose(response.json()["results"], models["reg"](r, training=False).numpy()[:, 0], atol=1e-5)


def test_status_and_metadata(url):
    status = requests.get(url + "/v1/models/image", timeout=30).json()
    assert status == {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    assert requests.get(url + "/v1/models/image/versions/1", timeout=30).json() == status
    metadata = requests.get(url + "/v1/models/image/metadata", timeout=30).json()
    assert metadata["model_spec"]["name"] == "image" and metadata["model_spec"]["version"] == "1"
    signature = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["inputs"]["input_layer"]["dtype"] == "DT_FLOAT"
    assert signature["method_name"] == "tensorflow/serving/predict"


REST_ERRORS = [
    ("POST", "/v1/models/nope:predict", {"instances": [1]}, 404, "Servable not found for request: Latest(nope)"),
    ("POST", "/v1/models/image/versions/9:predict", {"instances": [1]}, 404, "Specific(image, 9)"),
    ("POST", "/v1/models/image/versions/x:predict", {"instances": [1]}, 400, "version"),
    ("POST", "/v1/models/image/labels/nolabel:predict", {"instances": [1]}, 400, "nolabel"),
    ("POST", "/v1/models/image:predict", "{not json", 400, "JSON Parse error"),
    ("POST", "/v1/models/image:predict", {}, 400, "Missing 'inputs' or 'instances' key"),
    ("POST", "/v1/models/image:predict", {"instances": [1], "inputs": [1]}, 400, "both"),
    ("POST", "/v1/models/image:predict", {"instances": [[1, 2, 3]]}, 400, "input_layer"),
    ("POST", "/v1/models/image:predict", {"signature_name": "nosig", "instances": [1]}, 400, "nosig"),
    ("POST", "/v1/models/image:predict", {"instances": [{"input_layer": 1}, {"other": 2}]}, 400, "element: 1"),
    ("POST", "/v1/models/image:predict", {"instances": [{"b64": "***"}]}, 400, "base64"),
    ("POST", "/v1/models/image:classify", {"examples": [{"input_layer": [1.0]}]}, 400, ""),
    ("POST", "/v1/models/image:classify", {"instances": []}, 400, "examples"),
    ("GET", "/v1/models/nope", None, 404, "nope"),
    ("GET", "/v1/models/image:predict", None, 400, "Malformed request"),
    ("GET", "/v2/whatever", None, 400, "Malformed request"),
]


@pytest.mark.parametrize("method, path, body, status, words", REST_ERRORS)
def test_errors_answer_http_status_and_server_keeps_serving(url, method, path, body, status, words):
    if method == "POST":
        response = post(url, path, body)
    else:
        response = requests.get(url + path, timeout=30)
    assert response.status_code == status, response.text
    assert words in response.json()["error"]
    assert requests.post(url + "/v1/models/image:predict", timeout=30,
                         data=json.dumps({"instances": images(1).tolist()})).status_code == 200


def test_metrics_endpoint(url):
    post(url, "/v1/models/image:predict", {"instances": images(1).tolist()})
    text = requests.get(url + "/monitoring/prometheus/metrics", timeout=30).text
    assert "# TYPE :tensorflow:serving:request_count counter" in text
    assert 'API="predict",entrypoint="REST",status="OK"' in text
    assert ':tensorflow:serving:request_latency_bucket{model_name="image",version="1",API="predict",' \
           'entrypoint="REST",le="+Inf"}' in text


def test_token_auth_over_http(models):
    server = serve(models_dir=models["root"], host="127.0.0.1", port=0, rest_api_port=0, auth=TokenAuth(["tok"]))
    try:
        url = f"http://127.0.0.1:{server.rest_port}/v1/models/image"
        assert requests.get(url, timeout=30).status_code == 401
        assert requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=30).status_code == 401
        assert requests.get(url, headers={"Authorization": "Bearer tok"}, timeout=30).status_code == 200
        # RFC 6750: the scheme is case-insensitive
        assert requests.get(url, headers={"Authorization": "bearer  tok"}, timeout=30).status_code == 200
        metrics = f"http://127.0.0.1:{server.rest_port}/monitoring/prometheus/metrics"  # names models: behind the token
        assert requests.get(metrics, timeout=30).status_code == 401
        assert "# TYPE" in requests.get(metrics, headers={"Authorization": "Bearer tok"}, timeout=30).text
    finally:
        server.stop(grace=1)


def test_body_size_limit(models):
    server = serve(models_dir=models["root"], host="127.0.0.1", port=0, rest_api_port=0, max_message_size=1000)
    try:
        url = f"http://127.0.0.1:{server.rest_port}/v1/models/image:predict"
        assert requests.post(url, data=json.dumps({"instances": images(1).tolist()}), timeout=30).status_code == 413
        assert requests.get(f"http://127.0.0.1:{server.rest_port}/v1/models/image", timeout=30).status_code == 200
    finally:
        server.stop(grace=1)


# ------------------------------------------------------------------------------------------------
# codec (no server)

SIG = Signature("s", "tensorflow/serving/predict",
                {"x": TensorSpec("x", np.dtype(np.float32), (None, 2))}, {})


def test_parse_predict_body_formats():
    assert parse_predict_body({"instances": [[1, 2], [3, 4]]}, SIG) == ({"": [[1, 2], [3, 4]]}, "row")
    assert parse_predict_body({"instances": [{"x": [1, 2]}, {"x": [3, 4]}]}, SIG) == ({"x": [[1, 2], [3, 4]]}, "row")
    assert parse_predict_body({"inputs": {"x": [[1, 2]]}}, SIG) == ({"x": [[1, 2]]}, "columnar")
    raw, _ = parse_predict_body({"instances": [{"b64": base64.b64encode(b"\x00\x01").decode()}]}, SIG)
    assert raw == {"": [b"\x00\x01"]}
    with pytest.raises(ServingError) as info:
        parse_predict_body({"instances": []}, SIG)
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT


def _invalid(fn, *args) -> str:
    with pytest.raises(ServingError) as info:
        fn(*args)
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    return info.value.message


def test_parse_json_limits():
    nested = lambda depth: ("[" * depth + "]" * depth).encode()  # noqa: E731
    assert parse_json(nested(MAX_JSON_DEPTH)) == json.loads(nested(MAX_JSON_DEPTH))
    for depth in (MAX_JSON_DEPTH + 1, 500, 100000):
        assert "nested deeper than" in _invalid(parse_json, b'{"instances": ' + nested(depth) + b"}")
    assert "Number too big" in _invalid(parse_json, b"[" + b"9" * 5000 + b"]")
    assert parse_json(b"[" + b"9" * 400 + b"]") == [int("9" * 400)]  # refused where a dtype meets it
    assert parse_json(b'{"x": NaN}')["x"] != parse_json(b'{"x": NaN}')["x"]  # NaN / Infinity, as TF Serving
    assert "The document is empty" in _invalid(parse_json, b"")
    assert "not UTF-8" in _invalid(parse_json, b'"\xff"')
    assert "Unterminated string starting at offset: 0" in _invalid(parse_json, b'"abc')


def test_check_input_types_as_tf_serving():
    spec = lambda dtype: Signature("s", "tensorflow/serving/predict", {"x": TensorSpec("x", np.dtype(dtype), (None,))}, {})  # noqa: E731
    check_input_types({"x": [[1, 2.5], [3, 4]]}, spec(np.float32))
    check_input_types({"": [[True, False]]}, spec(np.bool_))
    check_input_types({"": [b"\x00", "text"]}, spec(object))
    check_input_types({"x": [[1, 2], [-(1 << 63), (1 << 63) - 1]]}, spec(np.int64))
    assert _invalid(check_input_types, {"x": [[1.0], ["a"]]}, spec(np.float32)) == \
        "input 'x': JSON Value: \"a\" Type: String is not of expected type: float32"
    assert "Type: Null" in _invalid(check_input_types, {"": [None]}, spec(np.float32))
    assert "Type: True is not of expected type: float32" in _invalid(check_input_types, {"x": [True]}, spec(np.float32))
    assert "Type: Number is not of expected type: string" in _invalid(check_input_types, {"x": [-(10 ** 30)]}, spec(object))
    assert "Type: Object is not of expected type: int32" in _invalid(check_input_types, {"x": [{"a": 1}]}, spec(np.int32))
    assert "1.5 Type: Number is not of expected type: int64" in _invalid(check_input_types, {"x": [1, 1.5]}, spec(np.int64))
    assert "Type: Number is not of expected type: int64" in _invalid(check_input_types, {"x": [[1 << 63]]}, spec(np.int64))
    check_input_types({"x": [300]}, spec(np.uint8))  # small integer types take any int32 (then wrap), as TF Serving
    assert "Type: Number is not of expected type: uint8" in _invalid(check_input_types, {"x": [1 << 31]}, spec(np.uint8))


def test_bad_bodies_name_what_is_wrong():
    assert "mixes named (objects) and unnamed" in _invalid(parse_predict_body, {"instances": [1, {"a": 1}]}, SIG)
    assert "not formatted correctly for base64" in _invalid(parse_predict_body, {"instances": [{"b64": None}]}, SIG)
    assert "Is not object" in _invalid(parse_predict_body, [1], SIG)
    assert "unexpected JSON type: Null" in _invalid(parse_examples, {"examples": [{"x": None}]})
    assert "Only int64 is supported" in _invalid(parse_examples, {"examples": [{"x": [(1 << 64) - 1]}]})


def test_format_predict_outputs_as_tf_serving():
    one = {"scores": np.array([[0.5, 0.5], [1.0, 0.0]], np.float32)}
    assert format_predict_outputs(one, "row") == {"predictions": [[0.5, 0.5], [1.0, 0.0]]}
    assert format_predict_outputs(one, "columnar") == {"outputs": [[0.5, 0.5], [1.0, 0.0]]}
    two = {"a": np.array([1, 2]), "b_bytes": np.array([b"\xff", b"x"], dtype=object)}
    assert format_predict_outputs(two, "row") == {"predictions": [
        {"a": 1, "b_bytes": {"b64": "/w=="}}, {"a": 2, "b_bytes": {"b64": "eA=="}}]}
    text = {"classes": np.array([[b"cat"]], dtype=object)}
    assert format_predict_outputs(text, "columnar") == {"outputs": [["cat"]]}


def test_parse_examples_types_features_by_the_signature():
    default = Signature("serving_default", "tensorflow/serving/predict",
                        {"x": TensorSpec("x", np.dtype(np.float32), (None, 2))}, {})
    proto = parse_examples({"examples": [{"x": [1, 2], "tag": "a", "n": 3}], "context": {"c": 1.5}},
                           {"serving_default": default})
    example = proto.example_list_with_context.examples[0].features.feature
    assert list(example["x"].float_list.value) == [1.0, 2.0]  # ints in JSON, float input
    assert list(example["tag"].bytes_list.value) == [b"a"] and list(example["n"].int64_list.value) == [3]
    assert list(proto.example_list_with_context.context.features.feature["c"].float_list.value) == [1.5]


def test_https(tmp_path, models):
    cert, key = make_certificate(tmp_path)
    server = serve(models_dir=models["root"], host="127.0.0.1", port=0, rest_api_port=0,
                   tls_cert=str(cert), tls_key=str(key))
    try:
        response = requests.get(f"https://localhost:{server.rest_port}/v1/models/image", verify=str(cert), timeout=30)
        assert response.json()["model_version_status"][0]["state"] == "AVAILABLE"
    finally:
        server.stop(grace=1)
