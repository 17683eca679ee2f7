"""LeNet-5: the paper's layer table, parameter count, sizes, backbones, weights, save/reload."""

import keras
import numpy as np
import pytest
from family_checks import assert_below_minimum_rejected, assert_parameter_parity, assert_reloads, assert_runs
from family_checks import build_backbone, check_new_head, random_images

import zoo

LENET5_PARAMS = 61_706  # 156 + 2,416 + 48,120 + 10,164 + 850


def images(size=32):
    return random_images((size, size, 1))


def test_parameter_count_and_card():
    model = assert_parameter_parity("lenet5", LENET5_PARAMS, "trainable", has_reference=False)
    assert model.count_params() == LENET5_PARAMS
    card = zoo.card("lenet5")
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
    assert_runs("lenet5", (size, size, 1))


def test_min_input_size_is_tight():
    # the builder itself: pool2 has nothing to pool at 15x15
    assert_below_minimum_rejected("lenet5", (15, 15, 1), builder_error=True)


@pytest.mark.parametrize("pooling, shape", [(None, (2, 5, 5, 16)), ("avg", (2, 16)), ("max", (2, 16))])
def test_backbone_pooling(pooling, shape):
    assert build_backbone("lenet5", pooling)(images()).shape == shape


def test_weights_load_with_a_new_head(tmp_path, randomize):
    check_new_head("lenet5", randomize, tmp_path, features="fc4")


def test_save_and_reload(tmp_path):
    assert_reloads(zoo.build("lenet5", classifier_activation=None), images(), tmp_path)
