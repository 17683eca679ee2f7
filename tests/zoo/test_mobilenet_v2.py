"""MobileNetV2: parameter parity, keras.applications weight compatibility, alpha, sizes, heads, save/reload."""

import h5py
import keras
import numpy as np
import pytest
from keras.src.applications import mobilenet_v2 as keras_mobilenet_v2

import zoo
from layers.inverted_residual import InvertedResidual
from zoo import registry
from zoo.models.mobilenet_v2 import make_divisible

PARAMS = 3_538_984  # keras.applications.MobileNetV2, 1000 classes, 224x224x3 (total)
TRAINABLE = 3_504_872  # the same without the batch-norm moving statistics


def images(shape, batch=2, seed=1):
    return np.random.default_rng(seed).uniform(-1, 1, size=(batch, *shape)).astype("float32")


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
    model = zoo.build("mobilenet_v2")
    card = zoo.card("mobilenet_v2")
    assert model.count_params() == PARAMS == card.params == card.reference_params
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == TRAINABLE == card.trainable_params
    assert card.reference_counts == "total" and card.keras_application == "MobileNetV2"
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


@pytest.fixture(scope="module")
def keras_reference(tmp_path_factory):
    """keras.applications' MobileNetV2 at 64x64 with random weights (as the `randomize` fixture draws
    them), saved as a Keras 3 weight file and as a legacy HDF5 file like the published downloads, with
    its logits and its average-pooled backbone's output on `images(SHAPE)`."""
    from keras.src.legacy.saving import legacy_h5_format

    folder = tmp_path_factory.mktemp("mobilenet_v2_reference")
    keras.utils.set_random_seed(0)
    reference = keras.applications.MobileNetV2(weights=None, input_shape=SHAPE, classifier_activation=None)
    rng = np.random.default_rng(0)
    for variable in reference.weights:
        shape = tuple(variable.shape)
        value = rng.uniform(0.5, 1.5, shape) if "variance" in variable.path else rng.normal(0.0, 0.05, shape)
        variable.assign(value.astype(variable.dtype))
    reference.save_weights(folder / "ref.weights.h5")
    with h5py.File(folder / "legacy.h5", "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, reference)
    backbone = keras.applications.MobileNetV2(weights=None, include_top=False, pooling="avg", input_shape=SHAPE)
    for layer in backbone.layers:
        if layer.weights:
            layer.set_weights(reference.get_layer(layer.name).get_weights())
    x = images(SHAPE)
    yield {
        "weights": folder / "ref.weights.h5",
        "legacy": folder / "legacy.h5",
        "logits": np.asarray(reference(x)),
        "backbone_avg": np.asarray(backbone(x)),
        "weight_layers": [l.name for l in reference.layers if l.weights],
        "block_16_project": reference.get_layer("block_16_project").kernel.numpy(),
    }
    keras.backend.clear_session()


def test_keras_applications_weights_load_by_name(keras_reference):
    model = zoo.build("mobilenet_v2", input_shape=SHAPE, weights=keras_reference["weights"], classifier_activation=None)
    report = model.zoo_weights_report
    assert not report.missing and not report.shape_mismatch and not report.unused
    assert sorted(report.loaded) == sorted(keras_reference["weight_layers"])
    assert leaf_weight_layers(model) == keras_reference["weight_layers"]
    out = np.asarray(model(images(SHAPE), training=False))
    np.testing.assert_allclose(out, keras_reference["logits"], rtol=1e-5, atol=1e-6)


def test_other_number_of_classes_loads_all_but_the_head(keras_reference):
    model = zoo.build("mobilenet_v2", input_shape=SHAPE, weights=keras_reference["weights"], num_classes=7)
    assert list(model.zoo_weights_report.shape_mismatch) == ["predictions"]
    assert not model.zoo_weights_report.missing
    assert model.output.shape == (None, 7)
    kernel = model.get_layer("block_16").project.kernel.numpy()
    np.testing.assert_array_equal(kernel, keras_reference["block_16_project"])


def test_backbone_matches_keras_backbone(keras_reference):
    model = zoo.build("mobilenet_v2", input_shape=SHAPE, include_top=False, pooling="avg",
                      weights=keras_reference["weights"])
    np.testing.assert_allclose(np.asarray(model(images(SHAPE))), keras_reference["backbone_avg"], rtol=1e-5, atol=1e-6)


def test_legacy_h5_like_the_published_files(keras_reference):
    """The ImageNet downloads are legacy HDF5 weight files with keras' flat layer names."""
    model = zoo.build("mobilenet_v2", input_shape=SHAPE, weights=keras_reference["legacy"], classifier_activation=None)
    np.testing.assert_allclose(np.asarray(model(images(SHAPE))), keras_reference["logits"], rtol=1e-5, atol=1e-6)


def test_card_points_at_the_keras_applications_files():
    spec = zoo.card("mobilenet_v2").pretrained["imagenet"]
    name = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224"
    assert spec.url == keras_mobilenet_v2.BASE_WEIGHT_PATH + name + ".h5"
    assert spec.notop_url == keras_mobilenet_v2.BASE_WEIGHT_PATH + name + "_no_top.h5"
    assert spec.file_hash is None and spec.notop_file_hash is None  # keras publishes no hashes for them
    assert spec.preprocessing == "tf"


@pytest.mark.parametrize("shape", [(32, 32, 3), (97, 97, 3), (45, 97, 1)])
def test_any_size_from_the_minimum_builds_and_runs(shape):
    assert zoo.card("mobilenet_v2").min_input_size == 32
    model = zoo.build("mobilenet_v2", input_shape=shape, num_classes=3, alpha=0.35)
    y = np.asarray(model(images(shape)))
    assert y.shape == (2, 3) and np.all(np.isfinite(y))


@pytest.mark.parametrize("shape", [(31, 31, 3), (224, 20, 3)])
def test_below_the_minimum_is_rejected(shape):
    with pytest.raises(zoo.InvalidArgumentError, match="32"):
        zoo.build("mobilenet_v2", input_shape=shape)


@pytest.mark.parametrize("pooling, expected", [(None, (None, 2, 2, 1280)), ("avg", (None, 1280)),
                                               ("max", (None, 1280))])
def test_backbone_pooling(pooling, expected):
    model = zoo.build("mobilenet_v2", input_shape=(64, 64, 3), include_top=False, pooling=pooling)
    assert model.output.shape == expected
    assert model.layers[-1].name == {None: "out_relu", "avg": "avg_pool", "max": "max_pool"}[pooling]


def test_unknown_size_backbone_runs():
    model = zoo.build("mobilenet_v2", input_shape=(None, None, 3), include_top=False, pooling="avg", alpha=0.35)
    for size in (32, 64):
        assert model(images((size, size, 3))).shape == (2, 1280)


def test_logits_and_dropout():
    model = zoo.build("mobilenet_v2", input_shape=(32, 32, 3), alpha=0.35, dropout=0.2, classifier_activation=None)
    assert model.get_layer("head_dropout").rate == 0.2
    assert model.get_layer("predictions").activation is keras.activations.linear


def test_saved_and_reloaded(tmp_path, randomize):
    model = randomize(zoo.build("mobilenet_v2", input_shape=(32, 32, 3), num_classes=4, alpha=0.35))
    x = images((32, 32, 3))
    expected = np.asarray(model(x, training=False))
    model.save(tmp_path / "mobilenet_v2.keras")
    reloaded = keras.saving.load_model(tmp_path / "mobilenet_v2.keras")
    np.testing.assert_array_equal(np.asarray(reloaded(x, training=False)), expected)


def test_minimum_is_keras_applications_policy():
    """Every convolution pads, so smaller sizes would build; below the total stride of 32 the last
    feature map is 1x1 whatever the size, so the card keeps keras.applications' minimum of 32."""
    build = registry.builder("mobilenet_v2")
    for size in (31, 32):
        model = build(num_classes=3, input_shape=(size, size, 3), include_top=False, alpha=0.35)
        assert model.output.shape == (None, 1, 1, 1280)
