"""serving.Servable on real SavedModels written by zoo.export: signatures, checks, errors."""

import os
import time

import grpc
import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import input_pb2, prediction_log_pb2, predict_pb2

import zoo
from serving.errors import ServingError
from serving.servable import load_servable as Servable, serialized_examples
from zoo.export import export

TOL = 1e-5
NAMES = ["zero", "one", "two", "three"]


def example(image) -> tf.train.Example:
    feature = {"input_layer": tf.train.Feature(float_list=tf.train.FloatList(value=np.ravel(image)))}
    return tf.train.Example(features=tf.train.Features(feature=feature))


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(1)
    return zoo.build("mlp", num_classes=4, input_shape=(8, 8, 1), hidden=(16,))


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(0).uniform(0, 1, (5, 8, 8, 1)).astype("float32")


@pytest.fixture(scope="module")
def path(model, tmp_path_factory):
    return export(model, tmp_path_factory.mktemp("models") / "digits", class_names=NAMES, warmup=True)


@pytest.fixture(scope="module")
def servable(path):
    return Servable("digits", 1, path)


def expect_error(code, match, fn, *args, **kwargs):
    with pytest.raises(ServingError) as info:
        fn(*args, **kwargs)
    assert info.value.code == code, info.value
    assert match in info.value.message, info.value.message
    return info.value


def test_signatures(servable):
    assert servable.name == "digits" and servable.version == 1
    assert servable.signature_names == ["classify", "serving_bytes", "serving_default"]
    default = servable.signature("")
    assert default.name == "serving_default"
    assert default.method_name == "tensorflow/serving/predict"
    spec = default.inputs["input_layer"]
    assert spec.dtype == np.float32 and spec.shape == (None, 8, 8, 1) and spec.shape_text() == "[-1,8,8,1]"
    assert set(default.outputs) == {"scores", "probabilities", "classes"}
    assert default.outputs["classes"].dtype == np.int64 and default.outputs["classes"].type_text() == "int64"
    proto = servable.signature_def("classify")
    assert proto.method_name == "tensorflow/serving/classify"
    assert proto.inputs["inputs"].dtype == tf.string.as_datatype_enum
    assert set(servable.signature_def_map()) == {"classify", "serving_bytes", "serving_default"}


def test_run_equals_model(servable, model, x):
    expected = model(x, training=False).numpy()
    out = servable.run("serving_default", {"input_layer": x})
    np.testing.assert_allclose(out["scores"], expected, atol=TOL)
    np.testing.assert_array_equal(out["classes"], expected.argmax(-1))
    out = servable.run("", {"input_layer": x.tolist()}, output_filter=["classes"])  # lists are converted
    assert list(out) == ["classes"]
    np.testing.assert_array_equal(out["classes"], expected.argmax(-1))
    out = servable.run("serving_default", {"input_layer": tf.constant(x)})  # tensors too
    np.testing.assert_allclose(out["probabilities"], expected, atol=TOL)


def test_run_image_bytes(servable, model, x):
    pixels = np.round(x * 255).astype("uint8")
    files = np.array([tf.io.encode_png(p).numpy() for p in pixels], dtype=object)
    out = servable.run("serving_bytes", {"image_bytes": files})
    np.testing.assert_allclose(out["scores"], model(pixels / 255.0, training=False).numpy(), atol=TOL)


def test_input_errors_name_the_input_and_serving_continues(servable, x):
    good = {"input_layer": x}
    expect_error(grpc.StatusCode.FAILED_PRECONDITION, 'Serving signature key "nope" not found.',
                 servable.run, "nope", good)
    error = expect_error(grpc.StatusCode.INVALID_ARGUMENT, "input size does not match signature",
                         servable.run, "serving_default", {})
    assert "Missing but required: {input_layer}" in error.message
    error = expect_error(grpc.StatusCode.INVALID_ARGUMENT, "Sent extra: {extra}",
                         servable.run, "serving_default", {"input_layer": x, "extra": x})
    expect_error(grpc.StatusCode.INVALID_ARGUMENT,
                 "input tensor alias not found in signature: images. Inputs expected to be in the set {input_layer}.",
                 servable.run, "serving_default", {"images": x})
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "input 'input_layer': expects dtype float32 but float64",
                 servable.run, "serving_default", {"input_layer": x.astype("float64")})
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "input 'input_layer': expects dtype float32 but string",
                 servable.run, "serving_default", {"input_layer": np.array([b"x"], dtype=object)})
    # shapes are the graph's business (as in TF Serving); what it refuses is named with the signature's
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "input_layer [5,4,8,1] (signature [-1,8,8,1])",
                 servable.run, "serving_default", {"input_layer": x[:, :4]})
    error = expect_error(grpc.StatusCode.INVALID_ARGUMENT, "input_layer [8,8,1] (signature [-1,8,8,1])",
                         servable.run, "serving_default", {"input_layer": x[0]})
    assert "(in node EnsureShape)" in error.message  # zoo.export's graphs check their inputs
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "input 'image_bytes': expects dtype string but float32",
                 servable.run, "serving_bytes", {"image_bytes": x})
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "input 'input_layer': cannot convert to float32",
                 servable.run, "serving_default", {"input_layer": [["a"]]})
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "output tensor alias not found in signature: logits",
                 servable.run, "serving_default", good, output_filter=["logits"])
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "duplicate output tensor alias: scores",
                 servable.run, "serving_default", good, output_filter=["scores", "scores"])
    # an error raised inside the graph keeps TensorFlow's code
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "",
                 servable.run, "serving_bytes", {"image_bytes": np.array([b"not an image"], dtype=object)})
    assert servable.run("serving_default", good)["scores"].shape == (5, 4)


def test_classify(servable, model, x):
    expected = model(x, training=False).numpy()
    request = input_pb2.Input()
    request.example_list.examples.extend(example(im) for im in x)
    classes, scores = servable.classify("classify", request)
    assert classes.shape == (5, 4) and [c.decode() for c in classes[0]] == NAMES
    np.testing.assert_allclose(scores, expected, atol=TOL)
    # context features are merged into every example
    with_context = input_pb2.Input()
    ctx = with_context.example_list_with_context
    ctx.context.CopyFrom(example(x[0]))
    ctx.examples.add()  # takes everything from the context
    ctx.examples.append(example(x[1]))  # its own value wins
    _, scores = servable.classify("classify", with_context)
    np.testing.assert_allclose(scores, expected[:2], atol=TOL)
    _, scores = servable.classify("classify", [example(x[2]), example(x[3]).SerializeToString()])
    np.testing.assert_allclose(scores, expected[2:4], atol=TOL)


def test_classify_errors(servable, path, x):
    # As TF Serving: the method_name is checked only with --enable_signature_method_name_check ...
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "No classification inputs found in SignatureDef: serving_default",
                 servable.classify, "", [example(x[0])])
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "No regression outputs found in SignatureDef: classify",
                 servable.regress, "classify", [example(x[0])])
    checked = Servable("digits", 1, path, method_name_check=True)
    expect_error(grpc.StatusCode.INVALID_ARGUMENT,
                 "Expected classification signature method_name to be tensorflow/serving/classify. "
                 "Was: tensorflow/serving/predict", checked.classify, "", [example(x[0])])
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "Expected regression signature method_name",
                 checked.regress, "classify", [example(x[0])])
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "No signature was found with the name: nope",
                 servable.classify, "nope", [example(x[0])])
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "Input is empty.", servable.classify, "classify", input_pb2.Input())
    bad = tf.train.Example()  # no input_layer feature
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "input_layer", servable.classify, "classify", [bad])


def test_regress(tmp_path, x):
    keras.utils.set_random_seed(2)
    model = zoo.build("mlp", num_classes=1, input_shape=(8, 8, 1), hidden=(4,), classifier_activation=None)
    servable = Servable("reg", 1, export(model, tmp_path / "reg"))
    values = servable.regress("regress", [example(im) for im in x])
    assert values.shape == (5,) and values.dtype == np.float32
    np.testing.assert_allclose(values, model(x, training=False).numpy()[:, 0], atol=TOL)


def test_assets_extra_and_warmup(servable):
    assert servable.class_names == NAMES
    assert servable.card["name"] == "mlp" and servable.card["export"]["class_names"] == NAMES
    assert os.path.isdir(servable.assets_extra_dir)
    (log,) = servable.warmup_requests()
    assert log.WhichOneof("log_type") == "predict_log"
    assert servable.warmup() == 1


def test_warmup_replays_every_log_type(model, x, tmp_path):
    predict = predict_pb2.PredictRequest()
    predict.model_spec.signature_name = "serving_default"
    predict.inputs["input_layer"].CopyFrom(tf.make_tensor_proto(x[:2]))
    logs = [prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=predict))]
    classify = prediction_log_pb2.PredictionLog()
    classify.classify_log.request.model_spec.signature_name = "classify"
    classify.classify_log.request.input.example_list.examples.append(example(x[0]))
    logs.append(classify)
    multi = prediction_log_pb2.PredictionLog()
    task = multi.multi_inference_log.request.tasks.add()
    task.model_spec.signature_name = "classify"
    task.method_name = "tensorflow/serving/classify"
    multi.multi_inference_log.request.input.example_list.examples.append(example(x[1]))
    logs.append(multi)
    servable = Servable("digits", 1, export(model, tmp_path / "m", warmup=logs))
    assert servable.warmup() == 3

    bad = predict_pb2.PredictRequest()
    bad.inputs["wrong"].CopyFrom(tf.make_tensor_proto(x[:1]))
    log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=bad))
    broken = Servable("digits", 2, export(model, tmp_path / "m", warmup=[log]))
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "warmup request 1 of digits version 2 failed", broken.warmup)


def test_broken_folders(tmp_path):
    expect_error(grpc.StatusCode.NOT_FOUND, "no folder", Servable, "m", 1, tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    expect_error(grpc.StatusCode.NOT_FOUND, "Could not find SavedModel", Servable, "m", 1, empty)
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "saved_model.pb").write_bytes(b"\x00garbage\xff" * 10)
    error = expect_error(grpc.StatusCode.DATA_LOSS, "Could not parse", Servable, "m", 1, garbage)
    assert str(garbage) in error.message


def test_serialized_examples(x):
    out = serialized_examples([example(x[0]), b"raw"])
    assert out.dtype == object and out.shape == (2,) and out[1] == b"raw"
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "Input is empty.", serialized_examples, [])
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "tf.train.Example or serialized bytes", serialized_examples, [3])


def test_unload(path, x):
    servable = Servable("digits", 1, path)
    assert servable.loaded
    servable.unload()
    assert not servable.loaded
    expect_error(grpc.StatusCode.UNAVAILABLE, "unloaded", servable.run, "serving_default", {"input_layer": x})


def test_sequence_and_graph_models(tmp_path):
    """Padded sequences (+ lengths) and plain-tensor graph batches through the checks and the graph."""
    from zoo.data.graphs import merge_graphs

    keras.utils.set_random_seed(3)
    lstm = zoo.build("lstm", num_classes=2, input_shape=(None, 2), units=(4,))
    servable = Servable("seq", 1, export(lstm, tmp_path / "seq", warmup=True))
    assert servable.warmup() == 1  # a zero batch of one sequence of one step
    x = np.random.default_rng(0).uniform(0.5, 1.5, (2, 4, 2)).astype("float32")
    x[1, 2:] = 0.0  # the second sequence has 2 steps
    expected = lstm(x, training=False).numpy()
    np.testing.assert_allclose(servable.run("", {"input_layer": x})["scores"], expected, atol=TOL)
    padded_with_junk = np.where(x == 0, 7.0, x).astype("float32")
    out = servable.run("serving_lengths", {"input_layer": padded_with_junk, "lengths": np.array([4, 2], "int32")})
    np.testing.assert_allclose(out["scores"], expected, atol=TOL)
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "input 'lengths': expects dtype int32 but int64",
                 servable.run, "serving_lengths", {"input_layer": x, "lengths": np.array([4, 2])})

    gin = zoo.build("gin", num_classes=3, input_shape=(2,), hidden=(4,))
    servable = Servable("graph", 1, export(gin, tmp_path / "graph", warmup=True))
    assert servable.warmup() == 1  # a zero graph batch: one node, no edges
    rng = np.random.default_rng(1)
    batch = merge_graphs([
        {"node_features": rng.normal(size=(n, 2)).astype("float32"),
         "edge_index": np.array([np.arange(n - 1), np.arange(1, n)], dtype="int32")}
        for n in (2, 3)
    ])
    assert servable.signature("").inputs["edge_index"].shape == (2, None)
    out = servable.run("serving_default", batch)
    np.testing.assert_allclose(out["scores"], gin(batch, training=False).numpy(), atol=TOL)
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "edge_index [3,2] (signature [2,-1])",
                 servable.run, "serving_default", {**batch, "edge_index": batch["edge_index"].T})
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, "Missing but required: {node_graph_ids}",
                 servable.run, "serving_default", {k: v for k, v in batch.items() if k != "node_graph_ids"})


def test_loop_free_graphs_run_in_the_callers_thread_and_graphs_with_loops_keep_the_deadline(tmp_path, path, x):
    """A loop-free signature's Session runs in the calling thread (no inter-op pool: half the CPU of a small
    model's call); one whose outputs need a while loop (in a function of the graph's library, as
    tf.function saves it; the export's image-bytes signature has one, its tensors' serving_default not)
    runs in the pool with the deadline as its timeout, so the run can be stopped."""
    from serving.servable import has_loops

    module = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def doubled_until_large(v):
        return {"y": tf.while_loop(lambda s: tf.reduce_sum(s) < 100.0, lambda s: s * 2.0, [v])[0]}

    module.f = doubled_until_large
    tf.saved_model.save(module, str(tmp_path / "loop" / "1"), signatures={"serving_default": doubled_until_large})
    looping, plain = Servable("loop", 1, tmp_path / "loop" / "1"), Servable("digits", 1, path)
    try:
        outputs = {(s.name, k): [o.tensor_name for o in s.signature(k).outputs.values()]
                   for s in (looping, plain) for k in s.signature_names}
        graphs = {s.name: s._graph.as_graph_def() for s in (looping, plain)}
        assert {key: has_loops(graphs[key[0]], names) for key, names in outputs.items()} == {
            ("loop", "serving_default"): True, ("digits", "serving_default"): False, ("digits", "classify"): False,
            ("digits", "serving_bytes"): True}
        got = looping.run("serving_default", {"v": np.array([1.0, 2.0], np.float32)}, deadline=time.monotonic() + 30)
        np.testing.assert_allclose(got["y"], [64.0, 128.0])
        calls = {}
        for servable in (looping, plain):
            signature = servable.signature("serving_default")
            servable._callable(signature, sorted(signature.outputs), 5000)
            calls[servable.name] = [k[2] for k in servable._callables]
        # a deadline bucket (the 30-s run's and this 5-s one) only where the timeout can stop a run
        assert 5000 in calls["loop"] and 0 not in calls["loop"] and calls["digits"] == [0]
        want = plain.run("serving_default", {"input_layer": x[:1]})
        got = plain.run("serving_default", {"input_layer": x[:1]}, deadline=time.monotonic() + 30)
        assert sorted(got) == sorted(want) and all(np.array_equal(got[k], want[k]) for k in want)
    finally:
        looping.unload()
        plain.unload()
