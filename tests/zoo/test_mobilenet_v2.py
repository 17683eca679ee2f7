"""MobileNetV2: parameter parity, keras.applications weight compatibility, alpha, sizes, heads, save/reload."""

import keras
import numpy as np
import pytest
from family_checks import assert_below_minimum_rejected, assert_keras_applications_card, assert_parameter_parity
from family_checks import assert_reloads, assert_runs, check_backbone_outputs, check_keras_applications_weights
from family_checks import random_images, save_legacy_h5, trainable_count
from keras.src.applications import mobilenet_v2 as keras_mobilenet_v2

import zoo
from layers.inverted_residual import InvertedResidual
from zoo import registry
from zoo.models.mobilenet_v2 import make_divisible

PARAMS = 3_538_984  # keras.applications.MobileNetV2, 1000 classes, 224x224x3 (total)
TRAINABLE = 3_504_872  # the same without the batch-norm moving statistics


BLOCK_ORDER = ["expand", "expand_BN", "depthwise", "depthwise_BN", "project", "project_BN"]


def leaf_weight_layers(model):
    """Names of the layers owning weights, blocks opened, in keras.applications' order."""
    names = []
    for layer in model.layers:
        if isinstance(layer, InvertedResidual):
            subs = {sub.name: sub for sub in layer._flatten_layers(include_self=False, recursive=False)}
            names += [n for n in (f"{layer.name}_{s}" for s in BLOCK_ORDER) if n in subs and subs[n].weights]
        elif layer.weights:
            names.append(layer.name)
    return names


def test_parameter_parity_at_224():
    model = assert_parameter_parity("mobilenet_v2", PARAMS, "total")
    assert trainable_count(model) == TRAINABLE and zoo.card("mobilenet_v2").keras_application == "MobileNetV2"
    assert sum(isinstance(l, InvertedResidual) for l in model.layers) == 17


@pytest.mark.parametrize("alpha", [0.35, 0.75, 1.3])
def test_width_multiplier_matches_keras(alpha):
    shape = (96, 96, 3)
    reference = keras.applications.MobileNetV2(weights=None, alpha=alpha, input_shape=shape)
    model = zoo.build("mobilenet_v2", alpha=alpha, input_shape=shape)
    assert model.count_params() == reference.count_params()
    assert leaf_weight_layers(model) == [l.name for l in reference.layers if l.weights]


def test_make_divisible_is_keras_rounding():
    for value in [8, 11.2, 12, 16 * 0.35, 24 * 0.75, 32 * 1.3, 1280 * 1.4, 96 * 0.5, 3.9]:
        assert make_divisible(value) == keras_mobilenet_v2._make_divisible(value, 8)


SHAPE = (64, 64, 3)


def test_keras_applications_weights(randomize, tmp_path):
    """keras.applications' MobileNetV2 at 64x64, randomized: its weight file loads by name (see
    `check_keras_applications_weights`), in keras' layer order, and so does a legacy HDF5 file."""
    reference, model, seven, x = check_keras_applications_weights("mobilenet_v2", randomize, tmp_path, SHAPE)
    assert leaf_weight_layers(model) == [l.name for l in reference.layers if l.weights]
    kernel = seven.get_layer("block_16").project.kernel.numpy()
    np.testing.assert_array_equal(kernel, reference.get_layer("block_16_project").kernel.numpy())
    # The ImageNet downloads are legacy HDF5 weight files with keras' flat layer names.
    legacy = save_legacy_h5(reference, tmp_path / "legacy.h5")
    model = zoo.build("mobilenet_v2", input_shape=SHAPE, weights=legacy, classifier_activation=None)
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(reference(x)), rtol=1e-5, atol=1e-6)


def test_card_points_at_the_keras_applications_files():
    name = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224"
    spec = assert_keras_applications_card(
        "mobilenet_v2", "MobileNetV2", f"mobilenet_v2/{name}.h5", "tf", notop="_no_top.h5"
    )
    assert spec.url == keras_mobilenet_v2.BASE_WEIGHT_PATH + name + ".h5"
    assert spec.notop_url == keras_mobilenet_v2.BASE_WEIGHT_PATH + name + "_no_top.h5"
    assert spec.file_hash is None and spec.notop_file_hash is None  # keras publishes no hashes for them


@pytest.mark.parametrize("shape", [(32, 32, 3), (97, 97, 3), (45, 97, 1)])
def test_any_size_from_the_minimum_builds_and_runs(shape):
    assert zoo.card("mobilenet_v2").min_input_size == 32
    assert_runs("mobilenet_v2", shape, alpha=0.35)


@pytest.mark.parametrize("shape", [(31, 31, 3), (224, 20, 3)])
def test_below_the_minimum_is_rejected(shape):
    assert_below_minimum_rejected("mobilenet_v2", shape)


@pytest.mark.parametrize("pooling", [None, "avg", "max"])
def test_backbone_pooling(pooling):
    model = check_backbone_outputs("mobilenet_v2", pooling, (64, 64, 3), (2, 2, 1280))
    assert model.layers[-1].name == {None: "out_relu", "avg": "avg_pool", "max": "max_pool"}[pooling]


def test_unknown_size_backbone_runs():
    model = zoo.build("mobilenet_v2", input_shape=(None, None, 3), include_top=False, pooling="avg", alpha=0.35)
    for size in (32, 64):
        assert model(random_images((size, size, 3))).shape == (2, 1280)


def test_logits_and_dropout():
    model = zoo.build("mobilenet_v2", input_shape=(32, 32, 3), alpha=0.35, dropout=0.2, classifier_activation=None)
    assert model.get_layer("head_dropout").rate == 0.2
    assert model.get_layer("predictions").activation is keras.activations.linear


def test_saved_and_reloaded(tmp_path, randomize):
    model = randomize(zoo.build("mobilenet_v2", input_shape=(32, 32, 3), num_classes=4, alpha=0.35))
    assert_reloads(model, random_images((32, 32, 3)), tmp_path)


def test_minimum_is_keras_applications_policy():
    """Every convolution pads, so smaller sizes would build; below the total stride of 32 the last
    feature map is 1x1 whatever the size, so the card keeps keras.applications' minimum of 32."""
    build = registry.builder("mobilenet_v2")
    for size in (31, 32):
        model = build(num_classes=3, input_shape=(size, size, 3), include_top=False, alpha=0.35)
        assert model.output.shape == (None, 1, 1, 1280)
