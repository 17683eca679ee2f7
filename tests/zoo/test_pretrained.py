"""weights="imagenet": the keras.applications files, their cache, mirrors, and offline errors."""

import socket

import h5py
import keras
import numpy as np
import pytest
from keras import layers

import zoo
from zoo import pretrained, registry


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed once the socket is released: connections are refused


@pytest.fixture
def published_model(tmp_path, monkeypatch):
    """A registered model with "imagenet" weights published under a mirror folder, and an empty cache."""
    spec = pretrained.keras_applications_weights("tinynet/tinynet_weights_tf_dim_ordering_tf_kernels.h5",
                                                 None, None, preprocessing="tf")

    @zoo.register(name="tinynet", family="tiny", task="image", input_shape=(8, 8, 3), num_classes=5,
                  min_input_size=3, pretrained={"imagenet": spec}, overwrite=True)
    def tinynet(*, num_classes, input_shape, include_top=True, pooling=None, classifier_activation="softmax"):
        inputs = keras.Input(input_shape)
        x = layers.Conv2D(4, 3, name="conv1")(inputs)
        x = layers.BatchNormalization(name="conv1_bn")(x)
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if include_top:
            x = layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
        return keras.Model(inputs, x)

    from keras.src.legacy.saving import legacy_h5_format

    published = zoo.build("tinynet")
    rng = np.random.default_rng(0)
    for v in published.weights:
        v.assign(rng.uniform(0.5, 1.5, tuple(v.shape)).astype("float32"))
    mirror = tmp_path / "mirror" / "tinynet"
    mirror.mkdir(parents=True)
    with h5py.File(mirror / "tinynet_weights_tf_dim_ordering_tf_kernels.h5", "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, published)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv(pretrained.MIRROR_ENV, str(tmp_path / "mirror"))
    yield published
    del registry._builders["tinynet"], registry._cards["tinynet"]


def test_imagenet_weights_are_fetched_cached_and_loaded(published_model, tmp_path, monkeypatch):
    x = np.random.default_rng(1).normal(size=(2, 8, 8, 3)).astype("float32")
    model = zoo.build("tinynet", weights="imagenet")
    np.testing.assert_allclose(model(x), published_model(x), rtol=1e-6)
    cached = tmp_path / "keras_home" / "models" / "tinynet_weights_tf_dim_ordering_tf_kernels.h5"
    assert cached.is_file()
    assert pretrained.cache_path(zoo.card("tinynet").pretrained["imagenet"].url) == str(cached)

    # Once cached, no download is attempted: a mirror that refuses connections does not matter.
    monkeypatch.setenv(pretrained.MIRROR_ENV, f"http://127.0.0.1:{_closed_port()}/")
    again = zoo.build("tinynet", weights="imagenet", num_classes=2)
    assert list(again.zoo_weights_report.shape_mismatch) == ["predictions"]
    np.testing.assert_array_equal(again.get_layer("conv1").kernel, published_model.get_layer("conv1").kernel)


def test_offline_without_cache_is_a_clear_error(published_model, monkeypatch):
    monkeypatch.setenv(pretrained.MIRROR_ENV, f"http://127.0.0.1:{_closed_port()}/")
    with pytest.raises(zoo.WeightsUnavailableError) as info:
        zoo.build("tinynet", weights="imagenet")
    message = str(info.value)
    assert "tinynet_weights_tf_dim_ordering_tf_kernels.h5" in message
    assert "keras_home" in message and "offline" in message and "weights='/path/to/" in message


def test_unknown_tag(published_model):
    with pytest.raises(zoo.InvalidArgumentError, match="'imagenet'"):
        zoo.build("tinynet", weights="imagenet21k")


def _expected_urls(name):
    """(url, no-top url) of `name`'s ImageNet weights, read from keras.applications' own constants."""
    from keras.src.applications import densenet, mobilenet_v2, resnet, vgg16, vgg19

    if name.startswith("resnet"):
        stem = resnet.BASE_WEIGHTS_PATH + name + "_weights_tf_dim_ordering_tf_kernels"
        return stem + ".h5", stem + "_notop.h5"
    if name.startswith("densenet"):
        number = name[len("densenet"):]
        return getattr(densenet, f"DENSENET{number}_WEIGHT_PATH"), getattr(densenet, f"DENSENET{number}_WEIGHT_PATH_NO_TOP")
    if name in ("vgg16", "vgg19"):
        module = vgg16 if name == "vgg16" else vgg19
        return module.WEIGHTS_PATH, module.WEIGHTS_PATH_NO_TOP
    stem = mobilenet_v2.BASE_WEIGHT_PATH + "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224"
    return stem + ".h5", stem + "_no_top.h5"


KERAS_COMPATIBLE = ["resnet50", "resnet101", "resnet152", "densenet121", "densenet169", "densenet201", "vgg16",
                    "vgg19", "mobilenet_v2"]


@pytest.mark.parametrize("name", KERAS_COMPATIBLE)
def test_cards_name_the_files_keras_applications_downloads(name):
    """Same URLs and md5 hashes as the installed keras.applications source."""
    import importlib
    import inspect

    card = zoo.card(name)
    spec = card.pretrained["imagenet"]
    assert (spec.url, spec.notop_url) == _expected_urls(name)
    module_name = {"resnet": "resnet", "densenet": "densenet"}.get(name.rstrip("0123456789"), name)
    module = importlib.import_module(f"keras.src.applications.{module_name}")
    source = inspect.getsource(module)
    for file_hash in (spec.file_hash, spec.notop_file_hash):
        if file_hash is not None:
            assert file_hash in source, f"{name}: hash {file_hash} is not in {module.__name__}"
    assert name == "mobilenet_v2" or (spec.file_hash and spec.notop_file_hash)
    assert card.keras_application and hasattr(keras.applications, card.keras_application)


@pytest.mark.parametrize(
    "name, reference",
    [("resnet50", "resnet50"), ("densenet121", "densenet"), ("mobilenet_v2", "mobilenet_v2"), ("vgg16", "vgg16")],
)
def test_preprocessing_matches_keras_applications(name, reference):
    import importlib

    images = np.random.default_rng(0).uniform(0, 255, size=(2, 8, 8, 3)).astype("float32")
    expected = importlib.import_module(f"keras.applications.{reference}").preprocess_input(images.copy())
    np.testing.assert_allclose(zoo.preprocess_input(name, images.copy()), expected, rtol=1e-6)


def test_preprocessing_needs_published_weights():
    with pytest.raises(zoo.WeightsUnavailableError):
        zoo.preprocess_input("lenet5", np.zeros((1, 32, 32, 3), "float32"))
