"""Zoo models through `.keras` save and load: card, class names, and the export they give."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo

# One model of each task, small. Sequence models export `serving_lengths`, image models
# `serving_bytes`; both need the card's task, which a plain attribute would lose.
MODELS = {
    "image": ("mlp", dict(input_shape=(8, 8, 1), num_classes=3, hidden=(8,), class_names=["cat", "dog", "owl"])),
    "sequence": ("gru", dict(input_shape=(None, 4), num_classes=3, units=(8,))),
    "graph": ("gin", dict(task="graph", input_shape=(5,), num_classes=2, hidden=(8,))),
}


def sample(task):
    rng = np.random.default_rng(0)
    if task == "image":
        return rng.uniform(size=(2, 8, 8, 1)).astype("float32")
    if task == "sequence":
        return rng.normal(size=(2, 6, 4)).astype("float32")
    return {"node_features": rng.normal(size=(5, 5)).astype("float32"),
            "edge_index": np.array([[0, 1, 2, 3], [1, 2, 3, 4]], "int32"),
            "node_graph_ids": np.array([0, 0, 0, 1, 1], "int32")}


def build(task):
    name, kwargs = MODELS[task]
    keras.utils.set_random_seed(0)
    return zoo.build(name, **kwargs)


def signatures(path):
    """{name: (input specs, output specs)} of an exported version, and its model_card.json less the version."""
    loaded = tf.saved_model.load(path)
    specs = {name: (fn.structured_input_signature, fn.structured_outputs) for name, fn in loaded.signatures.items()}
    card = json.load(open(os.path.join(path, "assets.extra", "model_card.json")))
    del card["export"]["version"]
    return specs, card, loaded


@pytest.mark.parametrize("task", list(MODELS))
def test_keras_round_trip_keeps_the_card_and_exports_the_same_signatures(task, tmp_path):
    model = build(task)
    path = tmp_path / "model.keras"
    model.save(path)
    again = keras.models.load_model(path)  # `import zoo` registered ZooModel and the layers
    assert isinstance(again, zoo.ZooModel)
    assert again.zoo_card == model.zoo_card == zoo.card(MODELS[task][0])
    assert again.zoo_class_names == model.zoo_class_names
    x = sample(task)
    np.testing.assert_allclose(again(x), model(x), atol=1e-6)

    original, card, _ = signatures(zoo.export(model, tmp_path / "original"))
    reloaded, card_again, served = signatures(zoo.export(again, tmp_path / "reloaded"))
    assert reloaded == original and card_again == card
    assert card["task"] == task
    expected = {"image": {"serving_default", "serving_bytes", "classify"},
                "sequence": {"serving_default", "serving_lengths", "classify"},
                "graph": {"serving_default"}}[task]
    assert set(original) == expected
    inputs = x if isinstance(x, dict) else {next(iter(original["serving_default"][0][1])): x}
    out = served.signatures["serving_default"](**{k: tf.constant(v) for k, v in inputs.items()})
    np.testing.assert_allclose(out["scores"], model(x), atol=1e-5)


def test_class_names_are_kept_and_exported_by_default(tmp_path):
    model = build("image")
    model.save(tmp_path / "m.keras")
    again = zoo.load_model(tmp_path / "m.keras")
    assert again.zoo_class_names == ("cat", "dog", "owl")
    version = zoo.export(again, tmp_path / "models")
    assert open(os.path.join(version, "assets.extra", "class_names.txt")).read().split() == ["cat", "dog", "owl"]
    example = tf.train.Example(features=tf.train.Features(feature={"input_layer": tf.train.Feature(
        float_list=tf.train.FloatList(value=sample("image")[0].ravel()))})).SerializeToString()
    classes = tf.saved_model.load(version).signatures["classify"](inputs=tf.constant([example]))["classes"]
    assert [c.decode() for c in classes.numpy()[0]] == ["cat", "dog", "owl"]
    with pytest.raises(zoo.InvalidArgumentError, match="class_names must be 3 distinct names"):
        zoo.build("mlp", input_shape=(8, 8, 1), num_classes=3, hidden=(8,), class_names=["cat", "dog"])


def test_a_copy_for_a_strategy_or_mixed_precision_keeps_the_card():
    from zoo.training.precision import rebuild_with_policy

    model = build("sequence")
    for copy in (rebuild_with_policy(model, None), rebuild_with_policy(model, "mixed_bfloat16"),
                 zoo.ZooModel.from_config(model.get_config())):
        assert isinstance(copy, zoo.ZooModel) and copy.zoo_card == model.zoo_card


def test_load_model_says_what_it_reads(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model file"):
        zoo.load_model(tmp_path / "missing.keras")
    model = build("image")
    model.save_weights(tmp_path / "w.weights.h5")
    with pytest.raises(zoo.InvalidArgumentError, match=r"reads \.keras archives.*model\.load_weights"):
        zoo.load_model(tmp_path / "w.weights.h5")


def test_keras_without_import_zoo_says_to_import_zoo(tmp_path):
    build("image").save(tmp_path / "m.keras")
    script = ("import sys, keras\n"
              "try:\n    keras.models.load_model(sys.argv[1])\n"
              "except Exception as error:\n    print('ERROR', type(error).__name__, str(error)[:700])\n"
              "print('zoo imported:', 'zoo' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "m.keras")], capture_output=True, text=True,
                            timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "zoo imported: False" in result.stdout
    assert "ERROR TypeError" in result.stdout and "import zoo before keras.models.load_model" in result.stdout


def test_zoo_train_keeps_the_class_names_of_an_image_folder(tmp_path):
    from zoo.training.job import train_job

    rng = np.random.default_rng(0)
    for name in ("circle", "square"):
        (tmp_path / "images" / name).mkdir(parents=True)
        for i in range(4):
            pixels = rng.integers(0, 255, size=(8, 8, 1), dtype=np.uint8)
            (tmp_path / "images" / name / f"{i}.png").write_bytes(tf.io.encode_png(pixels).numpy())
    output = tmp_path / "shapes.keras"
    train_job("mlp", str(tmp_path / "images"), output=str(output), overrides={"hidden": (8,)}, epochs=1, verbose=0)
    again = zoo.load_model(output)
    assert again.zoo_class_names == ("circle", "square") and again.zoo_card.name == "mlp"
