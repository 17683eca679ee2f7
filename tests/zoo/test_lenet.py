"""LeNet-5: the paper's layer table, parameter count, sizes, backbones, weights, save/reload."""

import keras
import numpy as np
import pytest

import zoo

LENET5_PARAMS = 61_706  # 156 + 2,416 + 48,120 + 10,164 + 850


def images(size=32, batch=2, seed=0):
    return np.random.default_rng(seed).uniform(size=(batch, size, size, 1)).astype("float32")


def test_parameter_count_and_card():
    model = zoo.build("lenet5")
    card = zoo.card("lenet5")
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == model.count_params() == LENET5_PARAMS
    assert card.params == card.trainable_params == LENET5_PARAMS
    assert card.input_shape == (32, 32, 1) and card.num_classes == 10 and card.min_input_size == 16


def test_layer_table():
    model = zoo.build("lenet5")
    assert [layer.name for layer in model.layers] == [
        "input_layer", "conv1", "pool1", "conv2", "pool2", "flatten", "fc3", "fc4", "predictions",
    ]  # fmt: skip
    table = {  # name: (output shape, parameters)
        "conv1": ((28, 28, 6), 156), "pool1": ((14, 14, 6), 0), "conv2": ((10, 10, 16), 2416),
        "pool2": ((5, 5, 16), 0), "flatten": ((400,), 0), "fc3": ((120,), 48120), "fc4": ((84,), 10164),
        "predictions": ((10,), 850),
    }  # fmt: skip
    for name, (shape, params) in table.items():
        layer = model.get_layer(name)
        assert layer.output.shape[1:] == shape and layer.count_params() == params, name
    for name in ("conv1", "conv2", "fc3", "fc4"):
        assert model.get_layer(name).activation.__name__ == "tanh"
    for name in ("pool1", "pool2"):
        pool = model.get_layer(name)
        assert isinstance(pool, keras.layers.AveragePooling2D) and pool.pool_size == pool.strides == (2, 2)
    out = model(images())
    assert out.shape == (2, 10)
    np.testing.assert_allclose(np.sum(out, axis=-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("size", [16, 97])
def test_forward_at_min_and_odd_sizes(size):
    model = zoo.build("lenet5", input_shape=(size, size, 1), num_classes=3)
    assert model(images(size)).shape == (2, 3)


def test_min_input_size_is_tight():
    with pytest.raises(zoo.InvalidArgumentError, match=">= 16"):
        zoo.build("lenet5", input_shape=(15, 15, 1))
    with pytest.raises(ValueError):  # the builder itself: pool2 has nothing to pool at 15x15
        zoo.registry.builder("lenet5")(num_classes=10, input_shape=(15, 15, 1))


@pytest.mark.parametrize("pooling, shape", [(None, (2, 5, 5, 16)), ("avg", (2, 16)), ("max", (2, 16))])
def test_backbone_pooling(pooling, shape):
    model = zoo.build("lenet5", include_top=False, pooling=pooling)
    assert model(images()).shape == shape


def test_weights_load_with_a_new_head(tmp_path, randomize):
    source = randomize(zoo.build("lenet5"))
    path = tmp_path / "lenet5.weights.h5"
    source.save_weights(path)
    other = zoo.build("lenet5", num_classes=7, weights=path)
    assert set(other.zoo_weights_report.shape_mismatch) == {"predictions"}
    x = images()
    fc4 = lambda m: keras.Model(m.input, m.get_layer("fc4").output)(x)  # noqa: E731
    np.testing.assert_allclose(fc4(other), fc4(source), rtol=1e-5, atol=1e-6)


def test_save_and_reload(tmp_path):
    model = zoo.build("lenet5", classifier_activation=None)
    x = images()
    expected = np.asarray(model(x))
    model.save(tmp_path / "lenet5.keras")
    reloaded = keras.saving.load_model(tmp_path / "lenet5.keras")
    np.testing.assert_array_equal(np.asarray(reloaded(x)), expected)
