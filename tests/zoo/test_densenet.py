"""DenseNet-121/169/201/264: parameter parity, keras.applications weight compatibility, sizes, heads."""

import keras
import numpy as np
import pytest

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


def trainable_count(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def random_images(shape, batch=2, seed=1):
    return np.random.default_rng(seed).uniform(-1, 1, (batch,) + tuple(shape)).astype("float32")


def test_registered_names_and_cards():
    assert zoo.list_models("densenet*") == NAMES
    for name in NAMES:
        card = zoo.card(name)
        assert card.family == "densenet" and card.task == "image" and card.input_shape == (224, 224, 3)
        assert "1608.06993" in card.reference and card.head_layers == ("predictions",)
        assert card.min_input_size == 29
    for name in NAMES[:3]:
        card = zoo.card(name)
        assert card.keras_application == "DenseNet" + name[len("densenet"):]
        assert card.reference_impl == "keras.applications." + card.keras_application
        weights = card.pretrained["imagenet"]
        assert weights.preprocessing == "torch"
        assert weights.url.endswith(f"/densenet/{name}_weights_tf_dim_ordering_tf_kernels.h5")
        assert weights.notop_url.endswith(f"/densenet/{name}_weights_tf_dim_ordering_tf_kernels_notop.h5")
    assert zoo.card("densenet121").pretrained["imagenet"].file_hash == "9d60b8095a5708f2dcce2bca79d332c7"
    card = zoo.card("densenet264")
    assert card.keras_application is None and card.pretrained == {}
    assert card.reference_counts == "trainable" and "paper" in card.reference_impl


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "densenet264" else n for n in NAMES])
def test_parameter_parity(name):
    model = zoo.build(name)
    total, trainable = model.count_params(), trainable_count(model)
    count, kind = REFERENCE[name]
    assert (trainable if kind == "trainable" else total) == count
    card = zoo.card(name)
    assert (card.params, card.trainable_params) == (total, trainable)
    assert (card.reference_params, card.reference_counts) == (count, kind)
    assert model.name == name and model.output.shape == (None, 1000)


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


def keras_reference(name, randomize, path, input_shape=SMALL):
    application = getattr(keras.applications, zoo.card(name).keras_application)
    reference = application(weights=None, input_shape=input_shape, classifier_activation=None)
    randomize(reference)
    reference.save_weights(path)
    return reference


@pytest.mark.slow
def test_keras_applications_densenet121_weights(randomize, tmp_path):
    path = tmp_path / "ref.weights.h5"
    reference = keras_reference("densenet121", randomize, path)
    x = random_images(SMALL)

    model = zoo.build("densenet121", input_shape=SMALL, weights=path, classifier_activation=None)
    report = model.zoo_weights_report
    assert not report.missing and not report.unused and not report.shape_mismatch
    assert len(report.loaded) == sum(1 for layer in reference.layers if layer.weights)
    np.testing.assert_allclose(model(x, training=False), reference(x, training=False), rtol=1e-5, atol=1e-6)

    seven = zoo.build("densenet121", input_shape=SMALL, num_classes=7, weights=path)
    assert list(seven.zoo_weights_report.shape_mismatch) == ["predictions"]
    assert not seven.zoo_weights_report.missing and seven.output.shape == (None, 7)

    backbone = zoo.build("densenet121", input_shape=SMALL, include_top=False, pooling="avg", weights=path)
    keras_backbone = keras.Model(reference.input, reference.get_layer("avg_pool").output)
    np.testing.assert_allclose(backbone(x), keras_backbone(x), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["densenet169", "densenet201"])
def test_keras_applications_weights_deep(randomize, tmp_path, name):
    path = tmp_path / "ref.weights.h5"
    reference = keras_reference(name, randomize, path)
    model = zoo.build(name, input_shape=SMALL, weights=path, classifier_activation=None)
    assert not model.zoo_weights_report.missing and not model.zoo_weights_report.unused
    x = random_images(SMALL)
    np.testing.assert_allclose(model(x, training=False), reference(x, training=False), rtol=1e-5, atol=1e-6)


# Sizes, backbones, overrides, save/reload ----------------------------------------------------


@pytest.mark.parametrize("size, overrides", [(29, {}), (97, TINY)])
def test_any_size_from_the_minimum(size, overrides):
    model = zoo.build("densenet121", input_shape=(size, size, 3), num_classes=3, **overrides)
    out = np.asarray(model(random_images((size, size, 3))))
    assert out.shape == (2, 3) and np.all(np.isfinite(out))


def test_below_the_minimum_fails():
    with pytest.raises(zoo.InvalidArgumentError, match="29"):
        zoo.build("densenet121", input_shape=(28, 64, 3))
    # The architecture itself cannot take 28: the last transition would pool a 1x1 map.
    with pytest.raises(ValueError, match=">= 2"):
        zoo.registry.builder("densenet121")(num_classes=10, input_shape=(28, 28, 3), **TINY)


@pytest.mark.parametrize("pooling, rank", [(None, 4), ("avg", 2), ("max", 2)])
def test_backbone_outputs(pooling, rank):
    model = zoo.build("densenet121", input_shape=SMALL, include_top=False, pooling=pooling)
    assert len(model.output.shape) == rank and model.output.shape[-1] == 1024
    if pooling is None:
        assert model.output.shape == (None, 2, 2, 1024)
    assert "predictions" not in [layer.name for layer in model.layers]


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
    model = zoo.build("densenet121", input_shape=(32, 32, 3), num_classes=4, **TINY)
    randomize(model)
    x = random_images((32, 32, 3))
    path = tmp_path / "densenet.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(reloaded(x, training=False), model(x, training=False))
    again = zoo.build("densenet121", input_shape=(32, 32, 3), num_classes=4, weights=path, **TINY)
    np.testing.assert_array_equal(again(x, training=False), model(x, training=False))
