"""SqueezeNet 1.0 / 1.1: parameter parity with torchvision, ceil-mode pools, sizes, heads, weights, save/reload."""

import math

import keras
import numpy as np
import pytest
from family_checks import assert_below_minimum_rejected, assert_parameter_parity, assert_reloads, assert_runs
from family_checks import check_backbone_outputs, check_new_head, layer_output, random_images

import zoo
from layers.fire import FireModule
from zoo import registry
from zoo.models.squeezenet import VARIANTS, _ceil_max_pool

PARAMS = {"squeezenet1_0": 1_248_424, "squeezenet1_1": 1_235_496}  # torchvision, trainable, 1000 classes
MIN_SIZE = {"squeezenet1_0": 21, "squeezenet1_1": 17}
# torchvision's feature map sizes at 224x224 (ceil-mode pools): conv1, then each pool
POOL_SIZES = {
    "squeezenet1_0": {"conv1": 109, "pool1": 54, "pool4": 27, "pool8": 13},
    "squeezenet1_1": {"conv1": 111, "pool1": 55, "pool3": 27, "pool5": 13},
}


def torch_ceil_max_pool(x, kernel=3, stride=2):
    """torch.nn.MaxPool2d(kernel, stride, ceil_mode=True) in numpy: windows may run past the border."""
    _, h, w, _ = x.shape
    oh, ow = (math.ceil((n - kernel) / stride) + 1 for n in (h, w))
    out = np.empty((x.shape[0], oh, ow, x.shape[-1]), x.dtype)
    for i in range(oh):
        for j in range(ow):
            out[:, i, j] = x[:, i * stride : i * stride + kernel, j * stride : j * stride + kernel].max(axis=(1, 2))
    return out


@pytest.mark.parametrize("name", list(PARAMS))
def test_parameter_parity_at_224(name):
    model = assert_parameter_parity(name, PARAMS[name], "trainable")
    assert model.count_params() == PARAMS[name]  # no batch normalization
    card = zoo.card(name)
    assert card.reference_impl == f"torchvision.models.{name}" and card.head_layers == ("conv10",)
    assert [l.name for l in model.layers if isinstance(l, FireModule)] == [f"fire{i}" for i in range(2, 10)]
    for layer, size in POOL_SIZES[name].items():
        assert model.get_layer(layer).output.shape[1:3] == (size, size)
    assert model.get_layer("fire9").output.shape == (None, 13, 13, 512)
    assert model.output.shape == (None, 1000)


def test_tables():
    """torchvision's Fire(inplanes, squeeze, expand1x1, expand3x3) tables."""
    fires = {name: [e for e in config.features if e != "pool"] for name, config in VARIANTS.items()}
    expected = [(16, 64, 64), (16, 64, 64), (32, 128, 128), (32, 128, 128), (48, 192, 192), (48, 192, 192),
                (64, 256, 256), (64, 256, 256)]
    assert fires["squeezenet1_0"] == fires["squeezenet1_1"] == expected
    assert (VARIANTS["squeezenet1_0"].stem_filters, VARIANTS["squeezenet1_0"].stem_kernel) == (96, 7)
    assert (VARIANTS["squeezenet1_1"].stem_filters, VARIANTS["squeezenet1_1"].stem_kernel) == (64, 3)


@pytest.mark.parametrize("size", [(3, 3), (4, 4), (5, 6), (7, 8), (13, 13), (54, 55), (2, 9)])
def test_pools_are_torch_ceil_mode(size):
    x = np.random.default_rng(0).uniform(0, 1, size=(2, *size, 4)).astype("float32")  # post-ReLU inputs
    inputs = keras.Input((None, None, 4))
    pool = keras.Model(inputs, _ceil_max_pool(inputs, "pool1"))
    np.testing.assert_array_equal(np.asarray(pool(x)), torch_ceil_max_pool(x))


@pytest.mark.parametrize("name", list(PARAMS))
@pytest.mark.parametrize("offset", [0, "odd"])
def test_any_size_from_the_minimum_builds_and_runs(name, offset):
    size = MIN_SIZE[name] if offset == 0 else 97
    assert zoo.card(name).min_input_size == MIN_SIZE[name]
    y = assert_runs(name, (size, size, 3), num_classes=5)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("name", list(PARAMS))
def test_below_the_minimum(name):
    m = MIN_SIZE[name]
    # the architecture itself does not build there: the last pool would have a 1x1 input
    assert_below_minimum_rejected(name, (m - 1, m - 1, 3), builder_error="zero or negative")
    registry.builder(name)(num_classes=5, input_shape=(m, m, 3))


@pytest.mark.parametrize("pooling", [None, "avg", "max"])
def test_backbone_pooling(pooling):
    model = check_backbone_outputs("squeezenet1_1", pooling, (64, 64, 3), (3, 3, 512))
    assert not any(l.name in ("drop9", "conv10", "predictions") for l in model.layers)


def test_head_and_logits():
    model = zoo.build("squeezenet1_0", input_shape=(64, 64, 3), num_classes=6, classifier_activation=None)
    assert [l.name for l in model.layers[-5:]] == ["drop9", "conv10", "conv10_relu", "pool10", "predictions"]
    assert model.get_layer("drop9").rate == 0.5
    assert model.get_layer("conv10").kernel.shape == (1, 1, 512, 6)
    y = np.asarray(model(random_images((64, 64, 3))))
    assert y.shape == (2, 6) and np.all(y >= 0)  # average of a ReLU: non-negative logits, as torchvision


def test_unknown_size_runs():
    model = zoo.build("squeezenet1_1", input_shape=(None, None, 3), num_classes=3)
    for size in (17, 40, 97):
        assert model(random_images((size, size, 3))).shape == (2, 3)


@pytest.mark.parametrize("name", list(PARAMS))
def test_weight_file_with_another_head(name, tmp_path, randomize):
    shape = (48, 48, 3)
    source, _, path, x = check_new_head(name, randomize, tmp_path, features="fire9", input_shape=shape)
    same = zoo.build(name, input_shape=shape, weights=path)
    np.testing.assert_array_equal(np.asarray(same(x)), np.asarray(source(x)))
    backbone = zoo.build(name, input_shape=shape, include_top=False, weights=path)
    np.testing.assert_array_equal(np.asarray(backbone(x)), layer_output(source, "fire9", x))


def test_saved_and_reloaded(tmp_path, randomize):
    model = randomize(zoo.build("squeezenet1_1", input_shape=(32, 32, 3), num_classes=4))
    assert_reloads(model, random_images((32, 32, 3)), tmp_path)
