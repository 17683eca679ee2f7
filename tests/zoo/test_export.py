"""zoo.export: TF Serving's layout, signatures equal to the in-process model, atomic versions."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

import zoo
import zoo.data
from zoo.errors import InvalidArgumentError
from zoo.export import VersionExistsError, export, list_versions, next_version

TOL = 1e-5
CLASSES = [f"digit-{i}" for i in range(10)]


@pytest.fixture(scope="module")
def digits():
    (x, y), (xt, yt) = zoo.data.load_digits()
    return x, y, xt[:16], yt[:16]


@pytest.fixture(scope="module")
def mlp(digits):
    """A small MLP on 8x8 digits, trained one epoch."""
    x, y, _, _ = digits
    model = zoo.build("mlp", num_classes=10, input_shape=(8, 8, 1), hidden=(32,))
    zoo.fit(model, (x, y), epochs=1, batch_size=64, verbose=0)
    return model


@pytest.fixture(scope="module")
def exported(mlp, tmp_path_factory):
    base = tmp_path_factory.mktemp("models") / "digits"
    path = export(mlp, base, class_names=CLASSES, warmup=True)
    return base, path, tf.saved_model.load(path)


def method_names(path):
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString(open(os.path.join(path, "saved_model.pb"), "rb").read())
    return {k: v.method_name for k, v in proto.meta_graphs[0].signature_def.items() if not k.startswith("__")}


def to_png(images):
    return [tf.io.encode_png(tf.cast(tf.round(im * 255.0), tf.uint8)).numpy() for im in images]


def example(features: dict) -> bytes:
    feature = {}
    for name, value in features.items():
        value = np.asarray(value).ravel()
        if value.dtype.kind == "f":
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=value))
        else:
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=value))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def test_layout_assets_and_card(exported):
    base, path, _ = exported
    assert path == os.fspath(base / "1")
    assert sorted(os.listdir(base)) == ["1"]  # no temporary folder left
    assert {"saved_model.pb", "variables", "assets.extra"} <= set(os.listdir(path))
    extra = os.path.join(path, "assets.extra")
    assert sorted(os.listdir(extra)) == ["class_names.txt", "model_card.json", "tf_serving_warmup_requests"]
    assert open(os.path.join(extra, "class_names.txt")).read().splitlines() == CLASSES
    card = json.load(open(os.path.join(extra, "model_card.json")))
    assert card["name"] == "mlp" and card["task"] == "image"
    assert card["export"]["class_names"] == CLASSES
    assert card["export"]["inputs"] == {"input_layer": {"dtype": "float32", "shape": [-1, 8, 8, 1]}}
    assert card["export"]["preprocessing"] == "unit"
    assert set(card["export"]["signatures"]) == {"serving_default", "serving_bytes", "classify"}


def test_signature_method_names(exported):
    _, path, loaded = exported
    assert method_names(path) == {
        "serving_default": "tensorflow/serving/predict",
        "serving_bytes": "tensorflow/serving/predict",
        "classify": "tensorflow/serving/classify",
    }
    assert set(loaded.signatures) == {"serving_default", "serving_bytes", "classify"}


def test_serving_default_equals_model(exported, mlp, digits):
    _, _, loaded = exported
    x = digits[2]
    expected = mlp(x, training=False).numpy()
    out = loaded.signatures["serving_default"](input_layer=tf.constant(x))
    assert set(out) == {"scores", "probabilities", "classes"}
    np.testing.assert_allclose(out["scores"].numpy(), expected, atol=TOL)
    np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=TOL)  # softmax head
    assert out["classes"].dtype == tf.int64
    np.testing.assert_array_equal(out["classes"].numpy(), expected.argmax(-1))


def test_bytes_signature_png_and_jpeg(exported, mlp, digits):
    _, _, loaded = exported
    x = digits[2]
    images = tf.cast(tf.round(x * 255.0), tf.uint8)
    for encode, decode in [(tf.io.encode_png, tf.io.decode_png), (tf.io.encode_jpeg, tf.io.decode_jpeg)]:
        files = [encode(im).numpy() for im in images]
        decoded = np.stack([decode(f, channels=1).numpy() for f in files]).astype("float32") / 255.0
        expected = mlp(decoded, training=False).numpy()
        out = loaded.signatures["serving_bytes"](image_bytes=tf.constant(files))
        np.testing.assert_allclose(out["scores"].numpy(), expected, atol=TOL)
        np.testing.assert_array_equal(out["classes"].numpy(), expected.argmax(-1))
    # PNG is lossless: on pixels that are multiples of 1/255 the bytes path equals the model itself
    quantized = np.round(x * 255.0) / 255.0
    out = loaded.signatures["serving_bytes"](image_bytes=tf.constant(to_png(quantized)))
    np.testing.assert_allclose(out["scores"].numpy(), mlp(quantized, training=False).numpy(), atol=TOL)


def test_bytes_signature_converts_rgb_to_the_model_channels(exported, mlp, digits):
    _, _, loaded = exported
    grey = tf.cast(tf.round(digits[2][:2] * 255.0), tf.uint8)
    rgb_files = [tf.io.encode_png(tf.image.grayscale_to_rgb(im)).numpy() for im in grey]
    decoded = np.stack([tf.io.decode_png(f, channels=1).numpy() for f in rgb_files]).astype("float32") / 255.0
    out = loaded.signatures["serving_bytes"](image_bytes=tf.constant(rgb_files))
    np.testing.assert_allclose(out["scores"].numpy(), mlp(decoded, training=False).numpy(), atol=TOL)


def test_bytes_signature_rejects_garbage(exported):
    _, _, loaded = exported
    with pytest.raises(tf.errors.InvalidArgumentError):
        loaded.signatures["serving_bytes"](image_bytes=tf.constant([b"not an image"]))


def test_classify_contract(exported, mlp, digits):
    _, _, loaded = exported
    x = digits[2]
    serialized = [example({"input_layer": im}) for im in x]
    out = loaded.signatures["classify"](inputs=tf.constant(serialized))
    assert set(out) == {"classes", "scores"}
    assert out["classes"].shape == (len(x), 10)
    assert [c.decode() for c in out["classes"].numpy()[0]] == CLASSES
    np.testing.assert_allclose(out["scores"].numpy(), mlp(x, training=False).numpy(), atol=TOL)


def test_variables_saved_once(exported, mlp):
    _, path, _ = exported
    saved = [(name, shape) for name, shape in tf.train.list_variables(os.path.join(path, "variables", "variables"))
             if name.endswith("VARIABLE_VALUE")]
    used = [w for w in mlp.weights if "seed_generator" not in w.path]  # dropout's RNG state is not used
    assert len(saved) == len(used)
    assert sum(int(np.prod(shape)) for _, shape in saved) == mlp.count_params()


def test_warmup_file_holds_prediction_logs(exported):
    _, path, loaded = exported
    records = list(tf.data.TFRecordDataset(os.path.join(path, "assets.extra", "tf_serving_warmup_requests")))
    assert len(records) == 1
    log = prediction_log_pb2.PredictionLog.FromString(records[0].numpy())
    request = log.predict_log.request
    assert request.model_spec.signature_name == "serving_default"
    inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
    assert inputs["input_layer"].shape == (1, 8, 8, 1)
    loaded.signatures["serving_default"](**inputs)  # replayable


def test_versions_are_numbered_and_never_overwritten(mlp, tmp_path):
    base = tmp_path / "m"
    assert next_version(base) == 1 and list_versions(base) == []
    assert export(mlp, base) == os.fspath(base / "1")
    assert export(mlp, base) == os.fspath(base / "2")
    assert export(mlp, base, 7) == os.fspath(base / "7")
    assert next_version(base) == 8
    before = sorted(os.listdir(base / "2"))
    stamp = os.stat(base / "2" / "saved_model.pb").st_mtime_ns
    with pytest.raises(VersionExistsError, match="version 2 .* already exists"):
        export(mlp, base, 2)
    assert sorted(os.listdir(base / "2")) == before
    assert os.stat(base / "2" / "saved_model.pb").st_mtime_ns == stamp
    assert sorted(os.listdir(base)) == ["1", "2", "7"]
    with pytest.raises(InvalidArgumentError, match="version must be an integer"):
        export(mlp, base, -1)


def test_half_written_version_is_never_visible(mlp, digits, tmp_path):
    """While the export runs only a dot-folder exists; a failure mid-export leaves nothing."""
    base = tmp_path / "m"
    export(mlp, base)
    seen = []

    def spy(pixels):  # traced during the export, after the temporary folder is written to
        seen.append(sorted(os.listdir(base)))
        return pixels / 255.0

    export(mlp, base, preprocessing=spy)
    assert seen  # traced (possibly more than once) while writing
    during = seen[0]
    assert all(listing == during for listing in seen)
    assert "2" not in during and len(during) == 2
    tmp = [name for name in during if name != "1"][0]
    assert tmp.startswith(".")
    assert sorted(os.listdir(base)) == ["1", "2"]

    def broken(pixels):
        raise RuntimeError("preprocessing exploded")

    with pytest.raises(RuntimeError, match="exploded"):
        export(mlp, base, preprocessing=broken)
    assert sorted(os.listdir(base)) == ["1", "2"]  # the temporary folder is gone, no version 3


@pytest.mark.parametrize(
    "mode, normalize",
    [
        ("tf", lambda x: x / 127.5 - 1.0),
        ("raw", lambda x: x),
    ],
)
def test_preprocessing_modes(mlp, digits, tmp_path, mode, normalize):
    x = digits[2][:4]
    files = to_png(x)
    pixels = np.stack([tf.io.decode_png(f).numpy() for f in files]).astype("float32")
    loaded = tf.saved_model.load(export(mlp, tmp_path / "m", preprocessing=mode))
    out = loaded.signatures["serving_bytes"](image_bytes=tf.constant(files))
    expected = mlp(normalize(pixels).astype("float32"), training=False).numpy()
    np.testing.assert_allclose(out["scores"].numpy(), expected, atol=TOL)


@pytest.mark.parametrize("mode", ["imagenet-caffe", "torch"])
def test_imagenet_preprocessing_on_rgb(tmp_path, mode):
    from keras.applications import imagenet_utils

    model = zoo.build("mlp", num_classes=4, input_shape=(6, 6, 3), hidden=(8,))
    pixels = np.random.default_rng(1).integers(0, 256, (3, 6, 6, 3)).astype("uint8")
    files = [tf.io.encode_png(p).numpy() for p in pixels]
    loaded = tf.saved_model.load(export(model, tmp_path / "rgb", preprocessing=mode))
    out = loaded.signatures["serving_bytes"](image_bytes=tf.constant(files))
    x = imagenet_utils.preprocess_input(pixels.astype("float32"), mode=mode.replace("imagenet-", ""))
    np.testing.assert_allclose(out["scores"].numpy(), model(x, training=False).numpy(), atol=TOL)


def test_imagenet_preprocessing_needs_rgb(mlp, tmp_path):
    with pytest.raises(InvalidArgumentError, match="needs RGB inputs"):
        export(mlp, tmp_path / "m", preprocessing="imagenet-caffe")
    assert list_versions(tmp_path / "m") == []


def test_preprocessing_from_the_cards_weights_tag():
    from zoo.export import _preprocessing_fn

    card = zoo.card("resnet50").to_dict()
    assert _preprocessing_fn("imagenet", card)[0] == "caffe"
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    got = _preprocessing_fn("imagenet", card)[1](tf.constant(pixels)).numpy()
    np.testing.assert_allclose(got, zoo.preprocess_input("resnet50", pixels.copy()), atol=1e-4)


def test_bad_arguments(mlp, tmp_path):
    with pytest.raises(InvalidArgumentError, match="preprocessing 'bogus' is not known"):
        export(mlp, tmp_path / "a", preprocessing="bogus")
    with pytest.raises(InvalidArgumentError, match="class_names has 3 names but the model has 10 classes"):
        export(mlp, tmp_path / "a", class_names=["a", "b", "c"])
    with pytest.raises(InvalidArgumentError, match="warmup request inputs"):
        export(mlp, tmp_path / "a", warmup={"wrong": np.zeros((1, 8, 8, 1))})
    assert not (tmp_path / "a").exists() or list_versions(tmp_path / "a") == []


def test_warmup_from_inputs_and_logs(mlp, digits, tmp_path):
    request = predict_pb2.PredictRequest()
    request.model_spec.signature_name = "serving_bytes"
    request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto(np.array(to_png(digits[2][:2]), dtype=object)))
    log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
    path = export(mlp, tmp_path / "m", warmup=[{"input_layer": digits[2][:3]}, log])
    records = list(tf.data.TFRecordDataset(os.path.join(path, "assets.extra", "tf_serving_warmup_requests")))
    assert len(records) == 2


def test_lenet_bytes_are_resized_like_training(digits, tmp_path):
    """8x8 PNGs into LeNet-5 at 32x32: resized in the graph (bilinear) as load_digits(image_size=32)."""
    (x32, y32), _ = zoo.data.load_digits(image_size=32)
    model = zoo.build("lenet5", num_classes=10, input_shape=(32, 32, 1))
    zoo.fit(model, (x32[:256], y32[:256]), epochs=1, batch_size=64, verbose=0)
    loaded = tf.saved_model.load(export(model, tmp_path / "lenet"))
    small = digits[2][:4]
    files = to_png(small)
    decoded = np.stack([tf.io.decode_png(f).numpy() for f in files]).astype("float32")
    resized = tf.image.resize(decoded, (32, 32), method="bilinear").numpy() / 255.0
    out = loaded.signatures["serving_bytes"](image_bytes=tf.constant(files))
    np.testing.assert_allclose(out["scores"].numpy(), model(resized, training=False).numpy(), atol=TOL)
    # the same images at 32x32 pass through unchanged
    big = to_png(resized)
    decoded_big = np.stack([tf.io.decode_png(f).numpy() for f in big]).astype("float32") / 255.0
    out = loaded.signatures["serving_bytes"](image_bytes=tf.constant(big))
    np.testing.assert_allclose(out["scores"].numpy(), model(decoded_big, training=False).numpy(), atol=TOL)
    out = loaded.signatures["serving_default"](input_layer=tf.constant(resized))
    np.testing.assert_allclose(out["scores"].numpy(), model(resized, training=False).numpy(), atol=TOL)


def test_regression_head_gets_regress(digits, tmp_path):
    model = zoo.build("mlp", num_classes=1, input_shape=(8, 8, 1), hidden=(8,), classifier_activation=None)
    path = export(model, tmp_path / "reg")
    assert method_names(path) == {
        "serving_default": "tensorflow/serving/predict",
        "serving_bytes": "tensorflow/serving/predict",
        "regress": "tensorflow/serving/regress",
    }
    loaded = tf.saved_model.load(path)
    x = digits[2][:5]
    expected = model(x, training=False).numpy()
    out = loaded.signatures["serving_default"](input_layer=tf.constant(x))
    assert set(out) == {"scores"}
    out = loaded.signatures["regress"](inputs=tf.constant([example({"input_layer": im}) for im in x]))
    np.testing.assert_allclose(out["outputs"].numpy(), expected[:, 0], atol=TOL)


def test_sequence_model_padded_lengths_and_classify(tmp_path):
    assert "lstm" in zoo.list_models(task="sequence")
    model = zoo.build("lstm", num_classes=3, input_shape=(None, 2), units=(8,))
    rng = np.random.default_rng(0)
    lengths = np.array([5, 2, 3], dtype="int32")
    x = np.zeros((3, 5, 2), dtype="float32")  # padded with the model's mask value 0
    for i, n in enumerate(lengths):
        x[i, :n] = rng.uniform(0.5, 1.5, (n, 2))
    expected = model(x, training=False).numpy()
    expected_alone = np.concatenate([model(x[i:i + 1, :n], training=False).numpy() for i, n in enumerate(lengths)])
    np.testing.assert_allclose(expected, expected_alone, atol=TOL)

    path = export(model, tmp_path / "seq", class_names=["a", "b", "c"])
    assert set(method_names(path)) == {"serving_default", "serving_lengths", "classify"}
    loaded = tf.saved_model.load(path)
    out = loaded.signatures["serving_default"](input_layer=tf.constant(x))
    np.testing.assert_allclose(out["scores"].numpy(), expected, atol=TOL)
    garbage = np.where(x == 0, 9.0, x).astype("float32")  # padding with anything, lengths say where
    out = loaded.signatures["serving_lengths"](input_layer=tf.constant(garbage), lengths=tf.constant(lengths))
    np.testing.assert_allclose(out["scores"].numpy(), expected, atol=TOL)
    serialized = [example({"input_layer": x[i, :n]}) for i, n in enumerate(lengths)]  # variable lengths
    out = loaded.signatures["classify"](inputs=tf.constant(serialized))
    np.testing.assert_allclose(out["scores"].numpy(), expected, atol=TOL)
    assert [c.decode() for c in out["classes"].numpy()[1]] == ["a", "b", "c"]


def test_graph_model_plain_tensor_batch(tmp_path):
    from zoo.data.graphs import merge_graphs

    assert "gin" in zoo.list_models(task="graph")
    model = zoo.build("gin", num_classes=2, input_shape=(3,), hidden=(8, 8))
    rng = np.random.default_rng(0)
    graphs = [
        {"node_features": rng.normal(size=(n, 3)).astype("float32"),
         "edge_index": np.array([np.arange(n - 1), np.arange(1, n)], dtype="int32")}
        for n in (3, 4, 2)
    ]
    batch = merge_graphs(graphs)
    expected = model(batch, training=False).numpy()
    path = export(model, tmp_path / "graph")
    assert set(method_names(path)) == {"serving_default"}
    loaded = tf.saved_model.load(path)
    sig = loaded.signatures["serving_default"]
    assert set(sig.structured_input_signature[1]) == set(batch)
    out = sig(**{k: tf.constant(v) for k, v in batch.items()})
    np.testing.assert_allclose(out["scores"].numpy(), expected, atol=TOL)
    assert out["scores"].shape == (3, 2)
