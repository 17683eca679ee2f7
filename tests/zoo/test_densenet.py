"""DenseNet-121/169/201/264: parameter parity, keras.applications weight compatibility, sizes, heads."""

import keras
import numpy as np
import pytest
from family_checks import assert_below_minimum_rejected, assert_family_cards, assert_keras_applications_card
from family_checks import assert_loads_keras_twin, assert_parameter_parity, assert_reloads, assert_runs
from family_checks import check_backbone_outputs, check_keras_applications_weights, keras_twin, random_images

import zoo
from layers.dense_connect import DenseBlock, TransitionBlock

NAMES = ["densenet121", "densenet169", "densenet201", "densenet264"]

# Reference counts at 224x224x3 and 1000 classes: keras.applications' count_params() (total) for
# 121/169/201; for 264 (no keras.applications model) the paper configuration's trainable count,
# which is what a PyTorch (torchvision-style) DenseNet-264 reports.
REFERENCE = {
    "densenet121": (8_062_504, "total"),
    "densenet169": (14_307_880, "total"),
    "densenet201": (20_242_984, "total"),
    "densenet264": (33_337_704, "trainable"),
}
SMALL = (64, 64, 3)
TINY = dict(blocks=(1, 2, 1, 1), growth_rate=4, stem_filters=8)


def test_registered_names_and_cards():
    assert_family_cards(
        "densenet*", NAMES, family="densenet", reference="1608.06993", input_shape=(224, 224, 3),
        head_layers=("predictions",), min_input_size=29,
    )
    for name in NAMES[:3]:
        assert_keras_applications_card(
            name, "DenseNet" + name[len("densenet"):], f"densenet/{name}_weights_tf_dim_ordering_tf_kernels.h5", "torch"
        )
    assert zoo.card("densenet121").pretrained["imagenet"].file_hash == "9d60b8095a5708f2dcce2bca79d332c7"
    card = zoo.card("densenet264")
    assert card.keras_application is None and card.pretrained == {}
    assert card.reference_counts == "trainable" and "paper" in card.reference_impl


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "densenet264" else n for n in NAMES])
def test_parameter_parity(name):
    assert_parameter_parity(name, *REFERENCE[name])


def test_densenet264_total_count():
    """33,337,704 is DenseNet-264's trainable count; Keras' total adds the BN moving statistics."""
    assert zoo.card("densenet264").params == 33_736_232
    assert zoo.card("densenet264").trainable_params == 33_337_704


def test_layout():
    model = zoo.build("densenet121", input_shape=SMALL)
    names = [layer.name for layer in model.layers]
    assert names == [
        "input_layer", "zero_padding2d", "conv1_conv", "conv1_bn", "conv1_relu", "zero_padding2d_1", "pool1",
        "conv2", "pool2", "conv3", "pool3", "conv4", "pool4", "conv5", "bn", "relu", "avg_pool", "predictions",
    ]
    assert [model.get_layer(f"conv{i}").num_layers for i in range(2, 6)] == [6, 12, 24, 16]
    assert all(isinstance(model.get_layer(f"pool{i}"), TransitionBlock) for i in range(2, 5))
    assert model.get_layer("pool2").output.shape == (None, 8, 8, 128)


# Weight compatibility with keras.applications ------------------------------------------------


@pytest.mark.slow
def test_keras_applications_densenet121_weights(randomize, tmp_path):
    check_keras_applications_weights("densenet121", randomize, tmp_path, SMALL)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["densenet169", "densenet201"])
def test_keras_applications_weights_deep(randomize, tmp_path, name):
    reference = keras_twin(name, randomize, tmp_path / "ref.weights.h5", SMALL)
    assert_loads_keras_twin(name, reference, tmp_path / "ref.weights.h5", SMALL, random_images(SMALL))


# Sizes, backbones, overrides, save/reload ----------------------------------------------------


@pytest.mark.parametrize("size, overrides", [(29, {}), (97, TINY)])
def test_any_size_from_the_minimum(size, overrides):
    assert_runs("densenet121", (size, size, 3), **overrides)


def test_below_the_minimum_fails():
    # The architecture itself cannot take 28: the last transition would pool a 1x1 map.
    assert_below_minimum_rejected("densenet121", (28, 64, 3))
    assert_below_minimum_rejected("densenet121", (28, 28, 3), builder_error=">= 2", **TINY)


@pytest.mark.parametrize("pooling", [None, "avg", "max"])
def test_backbone_outputs(pooling):
    check_backbone_outputs("densenet121", pooling, SMALL, (2, 2, 1024))


def test_logits_and_softmax_heads():
    x = random_images((32, 32, 3))
    probabilities = np.asarray(zoo.build("densenet121", input_shape=(32, 32, 3), num_classes=5, **TINY)(x))
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, rtol=1e-5)
    logits = zoo.build("densenet121", num_classes=5, classifier_activation=None, **TINY)
    assert logits.get_layer("predictions").activation is keras.activations.linear


def test_overrides():
    model = zoo.build("densenet121", input_shape=SMALL, growth_rate=12)
    assert model.get_layer("conv2").growth_rate == 12
    assert model.get_layer("conv5").output.shape[-1] == model.get_layer("pool4").output.shape[-1] + 16 * 12
    compressed = zoo.build("densenet121", input_shape=SMALL, reduction=0.25, blocks=(2, 2, 2, 2))
    assert compressed.get_layer("pool2").output.shape[-1] == (64 + 2 * 32) // 4
    three = zoo.build("densenet121", input_shape=SMALL, blocks=(2, 2, 2))
    assert isinstance(three.get_layer("conv4"), DenseBlock) and "pool4" not in [layer.name for layer in three.layers]
    for bad in [dict(reduction=0.0), dict(growth_rate=0), dict(blocks=()), dict(block_type="basic")]:
        with pytest.raises(zoo.InvalidArgumentError):
            zoo.build("densenet121", **bad)


def test_save_and_reload(tmp_path, randomize):
    model = randomize(zoo.build("densenet121", input_shape=(32, 32, 3), num_classes=4, **TINY))
    x = random_images((32, 32, 3))
    path = assert_reloads(model, x, tmp_path)
    again = zoo.build("densenet121", input_shape=(32, 32, 3), num_classes=4, weights=path, **TINY)
    np.testing.assert_array_equal(again(x, training=False), model(x, training=False))
