"""The dense network: parameter count, names, sizes, backbone, learning, weights, save/reload."""

import keras
import numpy as np
import pytest
from family_checks import assert_below_minimum_rejected, assert_parameter_parity, assert_reloads, assert_runs
from family_checks import check_new_head, layer_output, random_images

import zoo

MLP_PARAMS = 535_818  # 784*512+512 + 512*256+256 + 256*10+10 at 28x28x1, 10 classes


def images(shape=(28, 28, 1)):
    return random_images(shape)


def test_parameter_count_and_card():
    model = assert_parameter_parity("mlp", MLP_PARAMS, "trainable", has_reference=False)
    assert model.count_params() == MLP_PARAMS
    card = zoo.card("mlp")
    assert card.input_shape == (28, 28, 1) and card.num_classes == 10 and card.min_input_size == 1
    model = zoo.build("mlp", input_shape=(8, 8, 3), num_classes=4, hidden=(32, 16, 8))
    assert model.count_params() == (192 * 32 + 32) + (32 * 16 + 16) + (16 * 8 + 8) + (8 * 4 + 4)


def test_layer_names():
    model = zoo.build("mlp")
    assert [layer.name for layer in model.layers] == [
        "input_layer", "flatten", "fc1", "drop1", "fc2", "drop2", "predictions",
    ]  # fmt: skip
    assert model.get_layer("fc1").activation.__name__ == "relu" and model.get_layer("drop1").rate == 0.2
    nodrop = zoo.build("mlp", dropout=0.0, hidden=(4,))
    assert [layer.name for layer in nodrop.layers] == ["input_layer", "flatten", "fc1", "predictions"]
    out = zoo.build("mlp")(images())
    assert out.shape == (2, 10)
    np.testing.assert_allclose(np.sum(out, axis=-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("shape", [(1, 1, 1), (97, 97, 3), (5, 7, 2)])
def test_any_input_size(shape):
    assert_runs("mlp", shape, hidden=(8,))


def test_bad_arguments():
    assert_below_minimum_rejected("mlp", (0, 28, 1))
    with pytest.raises(zoo.InvalidArgumentError, match="rank 3"):
        zoo.build("mlp", input_shape=(784,))
    with pytest.raises(zoo.InvalidArgumentError, match="must be known"):
        zoo.build("mlp", input_shape=(None, 28, 1))
    with pytest.raises(zoo.InvalidArgumentError, match="hidden"):
        zoo.build("mlp", hidden=(64, 0))
    with pytest.raises(zoo.InvalidArgumentError, match="dropout"):
        zoo.build("mlp", dropout=1.5)


@pytest.mark.parametrize("pooling", [None, "avg", "max"])
def test_backbone_is_the_last_hidden_layer(pooling):
    model = zoo.build("mlp", include_top=False, pooling=pooling)
    assert model(images()).shape == (2, 256)
    assert model.layers[-1].name == "drop2"
    assert zoo.build("mlp", include_top=False, hidden=(64, 32), dropout=0.0).output.shape == (None, 32)


def test_learns_a_linearly_separable_problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 4, 4, 1)).astype("float32")
    scores = x.reshape(len(x), 16) @ rng.normal(size=(16, 3))
    ordered = np.sort(scores, axis=-1)
    keep = ordered[:, -1] - ordered[:, -2] > 0.5  # a margin between the classes
    x, y = x[keep], np.argmax(scores[keep], axis=-1)  # 3 classes separated by hyperplanes
    split = len(x) * 4 // 5
    model = zoo.build("mlp", input_shape=(4, 4, 1), num_classes=3, hidden=(64, 32), dropout=0.1)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:split], y[:split], epochs=5, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(x[split:], y[split:], verbose=0)
    assert accuracy >= 0.95


def test_weights_load_with_a_new_head(tmp_path, randomize):
    source, _, path, x = check_new_head("mlp", randomize, tmp_path, features="drop2")
    backbone = zoo.build("mlp", include_top=False, weights=path)
    np.testing.assert_allclose(backbone(x), layer_output(source, "drop2", x), rtol=1e-5, atol=1e-6)


def test_save_and_reload(tmp_path):
    assert_reloads(zoo.build("mlp", input_shape=(8, 8, 1), hidden=(16, 8)), images((8, 8, 1)), tmp_path)
