"""AlexNet: the paper's layer table, parameter count, sizes, backbones, weights, save/reload."""

import keras
import numpy as np
import pytest
from family_checks import assert_below_minimum_rejected, assert_parameter_parity, assert_reloads, assert_runs
from family_checks import build_backbone, check_new_head, random_images

import zoo
from layers.normalization import LocalResponseNormalization

PAPER_PARAMS = 62_378_344  # the single-tower layer table at 1000 classes (all trainable)
SMALL = {"filters": (8, 16, 16, 16, 16), "fc": (32, 32)}  # overrides that keep tests fast


def images(size):
    return random_images((size, size, 3))


def test_parameter_count_and_card():
    model = assert_parameter_parity("alexnet", PAPER_PARAMS, "trainable", has_reference=False)
    assert model.count_params() == PAPER_PARAMS
    card = zoo.card("alexnet")
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
        out = assert_runs("alexnet", (size, size, 3), num_classes=5, **SMALL)
        np.testing.assert_allclose(np.sum(out, axis=-1), 1.0, rtol=1e-5)


def test_min_input_size_is_tight():
    # the builder itself cannot go lower: pool5 has nothing to pool at 66x66
    assert_below_minimum_rejected("alexnet", (66, 66, 3), builder_error=True, **SMALL)


@pytest.mark.parametrize("pooling", [None, "avg", "max"])
def test_backbone_pooling(pooling):
    model = build_backbone("alexnet", pooling, input_shape=(97, 97, 3), **SMALL)
    assert model(images(97)).shape[-1] == 16


def test_logits_and_dropout_in_training():
    model = zoo.build("alexnet", input_shape=(67, 67, 3), num_classes=5, classifier_activation=None, **SMALL)
    assert model.get_layer("predictions").activation.__name__ == "linear"
    x = images(67)
    np.testing.assert_array_equal(model(x, training=False), model(x, training=False))
    assert not np.allclose(model(x, training=True), model(x, training=False))


def test_weights_load_with_a_new_head(tmp_path, randomize):
    check_new_head("alexnet", randomize, tmp_path, features="fc7", input_shape=(67, 67, 3), num_classes=10, **SMALL)


def test_save_and_reload(tmp_path):
    assert_reloads(zoo.build("alexnet", input_shape=(67, 67, 3), num_classes=4, **SMALL), images(67), tmp_path)
