"""AlexNet: the paper's layer table, parameter count, sizes, backbones, weights, save/reload."""

import keras
import numpy as np
import pytest

import zoo
from layers.normalization import LocalResponseNormalization

PAPER_PARAMS = 62_378_344  # the single-tower layer table at 1000 classes (all trainable)
SMALL = {"filters": (8, 16, 16, 16, 16), "fc": (32, 32)}  # overrides that keep tests fast


def images(size, batch=2, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, size, size, 3)).astype("float32")


def test_parameter_count_and_card():
    model = zoo.build("alexnet")
    card = zoo.card("alexnet")
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == model.count_params() == PAPER_PARAMS
    assert card.params == card.trainable_params == PAPER_PARAMS
    assert card.input_shape == (227, 227, 3) and card.num_classes == 1000
    assert card.min_input_size == 67 and card.head_layers == ("predictions",)
    assert card.keras_application is None


def test_layer_table():
    model = zoo.build("alexnet")
    assert [layer.name for layer in model.layers] == [
        "input_layer", "conv1", "lrn1", "pool1", "conv2", "lrn2", "pool2", "conv3", "conv4", "conv5",
        "pool5", "flatten", "fc6", "drop6", "fc7", "drop7", "predictions",
    ]  # fmt: skip
    shapes = {
        "conv1": (55, 55, 96), "pool1": (27, 27, 96), "conv2": (27, 27, 256), "pool2": (13, 13, 256),
        "conv3": (13, 13, 384), "conv4": (13, 13, 384), "conv5": (13, 13, 256), "pool5": (6, 6, 256),
        "flatten": (9216,), "fc6": (4096,), "fc7": (4096,), "predictions": (1000,),
    }  # fmt: skip
    for name, shape in shapes.items():
        assert model.get_layer(name).output.shape[1:] == shape, name
    kernels = {f"conv{i}": (k, k) for i, k in enumerate((11, 5, 3, 3, 3), start=1)}
    for name, kernel in kernels.items():
        layer = model.get_layer(name)
        assert layer.kernel_size == kernel and layer.activation.__name__ == "relu"
    assert model.get_layer("conv1").strides == (4, 4)
    for name in ("lrn1", "lrn2"):
        lrn = model.get_layer(name)
        assert isinstance(lrn, LocalResponseNormalization)
        assert (lrn.size, lrn.alpha, lrn.beta, lrn.k) == (5, 1e-4, 0.75, 2.0)
    for name in ("pool1", "pool2", "pool5"):
        pool = model.get_layer(name)
        assert isinstance(pool, keras.layers.MaxPooling2D) and pool.pool_size == (3, 3) and pool.strides == (2, 2)
    assert model.get_layer("drop6").rate == model.get_layer("drop7").rate == 0.5


def test_forward_at_min_and_odd_sizes():
    for size in (67, 97):
        model = zoo.build("alexnet", input_shape=(size, size, 3), num_classes=5, **SMALL)
        out = model(images(size))
        assert out.shape == (2, 5)
        np.testing.assert_allclose(np.sum(out, axis=-1), 1.0, rtol=1e-5)


def test_min_input_size_is_tight():
    with pytest.raises(zoo.InvalidArgumentError, match=">= 67"):
        zoo.build("alexnet", input_shape=(66, 66, 3))
    # the builder itself cannot go lower: pool5 has nothing to pool at 66x66
    with pytest.raises(ValueError):
        zoo.registry.builder("alexnet")(num_classes=5, input_shape=(66, 66, 3), **SMALL)


@pytest.mark.parametrize("pooling, rank", [(None, 4), ("avg", 2), ("max", 2)])
def test_backbone_pooling(pooling, rank):
    model = zoo.build("alexnet", input_shape=(97, 97, 3), include_top=False, pooling=pooling, **SMALL)
    out = model(images(97))
    assert len(out.shape) == rank and out.shape[-1] == 16
    assert "predictions" not in [layer.name for layer in model.layers]


def test_logits_and_dropout_in_training():
    model = zoo.build("alexnet", input_shape=(67, 67, 3), num_classes=5, classifier_activation=None, **SMALL)
    assert model.get_layer("predictions").activation.__name__ == "linear"
    x = images(67)
    np.testing.assert_array_equal(model(x, training=False), model(x, training=False))
    assert not np.allclose(model(x, training=True), model(x, training=False))


def test_weights_load_with_a_new_head(tmp_path, randomize):
    source = randomize(zoo.build("alexnet", input_shape=(67, 67, 3), num_classes=10, **SMALL))
    path = tmp_path / "alexnet.weights.h5"
    source.save_weights(path)
    other = zoo.build("alexnet", input_shape=(67, 67, 3), num_classes=7, weights=path, **SMALL)
    assert set(other.zoo_weights_report.shape_mismatch) == {"predictions"}
    assert not other.zoo_weights_report.missing
    x = images(67)
    fc7 = lambda m: keras.Model(m.input, m.get_layer("fc7").output)(x)  # noqa: E731
    np.testing.assert_allclose(fc7(other), fc7(source), rtol=1e-5, atol=1e-6)


def test_save_and_reload(tmp_path):
    model = zoo.build("alexnet", input_shape=(67, 67, 3), num_classes=4, **SMALL)
    x = images(67)
    expected = np.asarray(model(x))
    model.save(tmp_path / "alexnet.keras")
    reloaded = keras.saving.load_model(tmp_path / "alexnet.keras")
    np.testing.assert_array_equal(np.asarray(reloaded(x)), expected)
