"""serving.Client against a real server: numpy, dicts, raw image bytes, variable-length sequences, graph
batches, classify / regress / metadata / status / health / reload, futures, errors as exceptions;
and the codec and input adapters it shares with the server."""

import io
import shutil
import subprocess
import threading

import grpc
import numpy as np
import pytest
import tensorflow as tf

import serving
from serving.auth import TokenAuth
from serving.client import adapt_inputs, batch_graphs, pad_sequences, to_ndarray, to_tensor_proto
from serving.grpc_server import serve

from servers import NAMES, build_models, export_models, make_certificate, running


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    built = build_models("image", "seq", "graph", "reg", "molecules")
    order = ["molecules", "image", "seq", "graph", "reg"]
    return export_models(tmp_path_factory.mktemp("models"), {name: built[name] for name in order}, {"image": NAMES})


@pytest.fixture(scope="module")
def server(models):
    with running(models["root"]) as server:
        yield server


@pytest.fixture(scope="module")
def client(server):
    with serving.Client(f"127.0.0.1:{server.port}", timeout=30) as client:
        yield client


def images(n, seed=0):
    return np.random.default_rng(seed).random((n, 32, 32, 1)).astype(np.float32)


def test_importing_serving_is_light():
    import sys

    code = "import sys, serving; bad = [m for m in ('tensorflow', 'zoo', 'grpc') if m in sys.modules]; print(bad)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_predict_numpy_and_dict(client, models):
    x = images(3)
    expected = models["image"](x, training=False).numpy()
    np.testing.assert_allclose(client.predict("image", x)["scores"], expected, atol=1e-5)
    np.testing.assert_allclose(client.predict("image", {"input_layer": x})["scores"], expected, atol=1e-5)
    got = client.predict("image", x.astype(np.float64), version=1, output_filter=["classes"])  # cast to float32
    assert list(got) == ["classes"] and got["classes"].tolist() == expected.argmax(-1).tolist()


def test_predict_raw_image_bytes(client, models):
    from PIL import Image

    pixels = (images(2)[..., 0] * 255).astype(np.uint8)
    files = []
    for image in pixels:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")  # lossless: exact comparison possible
        files.append(buffer.getvalue())
    got = client.predict("image", files)  # picks serving_bytes
    expected = models["image"](pixels[..., None].astype(np.float32) / 255.0, training=False).numpy()
    np.testing.assert_allclose(got["scores"], expected, atol=1e-5)
    assert client.predict("image", files[0])["scores"].shape == (1, 3)


def test_uint8_pixels_are_never_sent_silently_as_0_to_255_floats(client):
    pixels = (images(2) * 255).astype(np.uint8)
    with pytest.raises(serving.ServingError, match=r"got uint8 values \(pixels 0..255\?\).*x / 255.*serving_bytes"):
        client.predict("image", pixels)
    assert client.predict("image", pixels / 255.0)["scores"].shape == (2, 3)  # scaled as trained: answered


def test_predict_variable_length_sequences(client, models):
    rng = np.random.default_rng(3)
    sequences = [rng.normal(size=(n, 2)).astype(np.float32) for n in (5, 2, 7)]
    got = client.predict("seq", sequences)  # padded, sent with lengths to serving_lengths
    for sequence, scores in zip(sequences, got["scores"]):
        alone = models["seq"](sequence[None], training=False).numpy()[0]
        np.testing.assert_allclose(scores, alone, atol=1e-5)


def test_predict_graph_batch(client, models):
    rng = np.random.default_rng(4)
    graphs = [{"node_features": rng.normal(size=(n, 5)).astype(np.float32),
               "edge_index": np.array([[i for i in range(n - 1)], [i + 1 for i in range(n - 1)]], np.int32)}
              for n in (3, 4)]
    got = client.predict("graph", graphs)["scores"]
    assert got.shape == (7, 3)  # node-level model: one row per node of the batch
    for graph, rows in zip(graphs, (got[:3], got[3:])):
        np.testing.assert_allclose(rows, models["graph"](graph, training=False), atol=1e-5)


def test_predict_graph_level_model_on_a_list_of_graphs(client, models):
    rng = np.random.default_rng(7)
    graphs = [{"node_features": rng.normal(size=(n, 7)).astype(np.float32),
               "edge_index": np.array([list(range(n - 1)), list(range(1, n))], np.int32)} for n in (4, 2, 5)]
    got = client.predict("molecules", graphs)["scores"]  # batched: offsets added, node_graph_ids filled
    assert got.shape == (3, 3)
    for graph, row in zip(graphs, got):
        alone = dict(graph, node_graph_ids=np.zeros(len(graph["node_features"]), np.int32))
        np.testing.assert_allclose(row, models["molecules"](alone, training=False).numpy()[0], atol=1e-5)
    one = client.predict("molecules", graphs[0])["scores"]  # a single graph dict: node_graph_ids added
    np.testing.assert_allclose(one[0], got[0], atol=1e-5)


def test_classify_regress_metadata_status_health(client, models):
    x = images(2, seed=5)
    results = client.classify("image", x)
    expected = models["image"](x, training=False).numpy()
    assert [[label for label, _ in row] for row in results] == [NAMES, NAMES]
    np.testing.assert_allclose([[score for _, score in row] for row in results], expected, atol=1e-5)

    r = np.random.default_rng(6).random((3, 8, 8, 1)).astype(np.float32)
    np.testing.assert_allclose(client.regress("reg", r), models["reg"](r, training=False).numpy()[:, 0], atol=1e-5)

    metadata = client.metadata("image")
    assert metadata["signature_def"]["serving_default"]["inputs"]["input_layer"] == {
        "dtype": "float32", "shape": [None, 32, 32, 1]}
    assert client.status("image") == [{"version": 1, "state": "AVAILABLE", "error_code": "OK", "error_message": ""}]
    assert client.health() == "SERVING" and client.health("image") == "SERVING"


def test_futures(client, models):
    batches = [images(2, seed=i) for i in range(6)]
    futures = [client.predict_async("image", b) for b in batches]
    for batch, future in zip(batches, futures):
        np.testing.assert_allclose(future.result(30)["scores"], models["image"](batch, training=False), atol=1e-5)
    failing = client.predict_async("image", {"input_layer": np.zeros((1, 4), np.float32)})
    with pytest.raises(serving.ServingError) as info:
        failing.result(30)
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert client.classify_async("image", images(1)).result(30)[0][0][0] == "cat"


def test_errors_are_exceptions_with_code_and_message(client):
    with pytest.raises(serving.ServingError) as info:
        client.predict("nope", {"x": np.zeros(1)})
    assert info.value.code == grpc.StatusCode.NOT_FOUND
    assert info.value.message == "Servable not found for request: Latest(nope)"
    with pytest.raises(serving.ServingError) as info:
        client.predict("image", images(1), version=7)
    assert info.value.code == grpc.StatusCode.NOT_FOUND  # the metadata lookup already fails
    with pytest.raises(serving.ServingError) as info:
        client.predict("image", images(1), signature="nosig")
    assert info.value.code == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(serving.ServingError) as info:
        client.predict("image", {"input_layer": np.zeros((1, 5, 5, 1), np.float32)})
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT and "input_layer" in info.value.message
    with pytest.raises(serving.ServingError) as info:
        client.status("nope")
    assert info.value.code == grpc.StatusCode.NOT_FOUND
    assert client.predict("image", images(1))["scores"].shape == (1, 3)  # still serving


def test_reload_config_through_the_client(tmp_path, models):
    shutil.copytree(models["root"] / "image" / "1", tmp_path / "image" / "1")
    server = serve(models_dir=tmp_path, host="127.0.0.1", port=0, rest_api_port=None)
    try:
        with serving.Client(f"127.0.0.1:{server.port}") as client:
            client.reload_config(f'model_config_list {{ config {{ name: "renamed" base_path: "{tmp_path / "image"}" '
                                 f'model_platform: "tensorflow" }} }}')
            assert client.status("renamed")[0]["state"] == "AVAILABLE"
            with pytest.raises(serving.ServingError) as info:
                client.reload_config('model_config_list { config { name: "x" } }')
            assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        server.stop(grace=1)


def test_token_and_tls(tmp_path, models):
    cert, key = make_certificate(tmp_path)
    server = serve(models_dir=models["root"], host="127.0.0.1", port=0, rest_api_port=None,
                   auth=TokenAuth(["tok"]), tls_cert=str(cert), tls_key=str(key))
    try:
        target = f"127.0.0.1:{server.port}"
        with serving.Client(target, token="tok", tls=str(cert), tls_server_name="localhost") as client:
            assert client.predict("image", images(1))["scores"].shape == (1, 3)
        with serving.Client(target, token="bad", tls=cert.read_bytes(), tls_server_name="localhost") as client:
            with pytest.raises(serving.ServingError) as info:
                client.predict("image", {"input_layer": images(1)})
            assert info.value.code == grpc.StatusCode.UNAUTHENTICATED
    finally:
        server.stop(grace=1)


def test_concurrent_clients_share_one_channel(client, models):
    errors = []

    def work(seed):
        try:
            x = images(1, seed)
            np.testing.assert_allclose(client.predict("image", x)["scores"], models["image"](x, training=False),
                                       atol=1e-5)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# ------------------------------------------------------------------------------------------------
# codec and adapters (no server)


@pytest.mark.parametrize("array", [
    np.arange(6, dtype=np.float32).reshape(2, 3), np.arange(4, dtype=np.int64), np.array([True, False]),
    np.arange(3, dtype=np.float16), np.arange(3, dtype=np.uint8), np.zeros((0, 2), np.float64),
    np.array([b"a", b"bc"], dtype=object), np.array(3.5, np.float32)])
def test_codec_round_trips_and_agrees_with_tensorflow(array):
    proto = to_tensor_proto(array)
    back = to_ndarray(proto)
    assert back.dtype == array.dtype and back.shape == array.shape and (back == array).all()
    np.testing.assert_array_equal(tf.make_ndarray(proto), array)
    np.testing.assert_array_equal(to_ndarray(tf.make_tensor_proto(array)), array)


def test_codec_reads_typed_fields_and_rejects_malformed():
    proto = tf.make_tensor_proto(2.0, dtype=tf.float32, shape=[2, 2])  # one value fills the shape
    np.testing.assert_array_equal(to_ndarray(proto), np.full((2, 2), 2.0, np.float32))
    proto = to_tensor_proto(np.zeros((2, 2), np.float32))
    proto.tensor_content = b"\x00" * 3
    with pytest.raises(ValueError, match="bytes"):
        to_ndarray(proto)


def test_pad_sequences_and_batch_graphs():
    padded, mask, lengths = pad_sequences([[1, 2, 3], [4]])
    assert padded.tolist() == [[1, 2, 3], [4, 0, 0]] and lengths.tolist() == [3, 1]
    assert mask.tolist() == [[True, True, True], [True, False, False]]
    batch = batch_graphs([{"node_features": np.ones((2, 1)), "edge_index": [[0], [1]]},
                          {"node_features": np.ones((3, 1)), "edge_index": [[0, 1], [2, 2]]}])
    assert batch["edge_index"].tolist() == [[0, 2, 3], [1, 4, 4]]
    assert batch["node_graph_ids"].tolist() == [0, 0, 1, 1, 1]
    with pytest.raises(ValueError, match="refers to node"):
        batch_graphs([{"node_features": np.ones((2, 1)), "edge_index": [[0], [5]]}])


def test_adapt_inputs_without_a_signature_needs_names():
    assert set(adapt_inputs({"a": [1.0, 2.0]})) == {"a"}
    with pytest.raises(ValueError, match="pass a dict"):
        adapt_inputs(np.zeros(3))
