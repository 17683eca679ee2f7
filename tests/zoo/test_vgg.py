"""VGG: parameter parity, keras.applications weight compatibility, input sizes, heads, save/reload."""

import inspect

import keras
import numpy as np
import pytest
from family_checks import assert_below_minimum_rejected, assert_family_cards, assert_keras_applications_card
from family_checks import assert_parameter_parity, assert_reloads, check_backbone_outputs
from family_checks import check_keras_applications_weights, random_images, trainable_count
from keras.src.applications import vgg16 as keras_vgg16
from keras.src.applications import vgg19 as keras_vgg19

import zoo
from zoo import registry
from zoo.models.vgg import VARIANTS

PARAMS = {  # 1000 classes, 224x224x3
    "vgg11": 132_863_336,  # torchvision.models.vgg11
    "vgg13": 133_047_848,  # torchvision.models.vgg13
    "vgg16": 138_357_544,  # keras.applications.VGG16
    "vgg19": 143_667_240,  # keras.applications.VGG19
}
KERAS = {"vgg16": keras_vgg16, "vgg19": keras_vgg19}  # keras.applications' modules
SMALL = dict(fc_units=8)  # a cheap head for tests that are not about the head


def test_registered():
    assert_family_cards("vgg*", ["vgg11", "vgg13", "vgg16", "vgg19"], family="vgg", reference="1409.1556")
    assert [zoo.card(n).extra["configuration"] for n in PARAMS] == ["A", "B", "D", "E"]
    # weight layers of Table 1: the convolutions plus three fully connected layers
    assert [sum(VARIANTS[n].convs_per_block) + 3 for n in PARAMS] == [11, 13, 16, 19]


@pytest.mark.parametrize("name", list(PARAMS))
def test_parameter_parity_at_224(name):
    model = assert_parameter_parity(name, PARAMS[name], "total" if name in KERAS else "trainable")
    assert model.count_params() == trainable_count(model) == PARAMS[name]  # no batch normalization


@pytest.mark.slow  # three VGGs of 38M parameters (the 32x32 head) and the keras.applications one
@pytest.mark.parametrize("name", list(KERAS))
def test_keras_applications_weights_load_by_name(name, tmp_path, randomize):
    """keras.applications' VGG at 32x32 with its head (allowed with weights=None), randomized."""
    reference, model, seven, _ = check_keras_applications_weights(name, randomize, tmp_path, (32, 32, 3))
    assert [l.name for l in model.layers if l.weights] == [l.name for l in reference.layers if l.weights]
    np.testing.assert_array_equal(seven.get_layer("fc2").get_weights()[0], reference.get_layer("fc2").get_weights()[0])


@pytest.mark.parametrize("name", list(KERAS))
def test_card_points_at_the_keras_applications_files(name):
    module = KERAS[name]
    spec = assert_keras_applications_card(
        name, name.upper(), f"{name}/{name}_weights_tf_dim_ordering_tf_kernels.h5", "caffe"
    )
    source = inspect.getsource(module)
    assert (spec.url, spec.notop_url) == (module.WEIGHTS_PATH, module.WEIGHTS_PATH_NO_TOP)
    assert len(spec.file_hash) == len(spec.notop_file_hash) == 32
    assert f'file_hash="{spec.file_hash}"' in source and f'file_hash="{spec.notop_file_hash}"' in source
    assert not zoo.card("vgg11").pretrained and not zoo.card("vgg13").pretrained


@pytest.mark.parametrize("size", [32, 97])
@pytest.mark.parametrize("include_top", [True, False])
def test_any_size_from_the_minimum_builds_and_runs(size, include_top):
    assert zoo.card("vgg11").min_input_size == 32
    model = zoo.build("vgg11", input_shape=(size, size + 3, 3), include_top=include_top, num_classes=5, **SMALL)
    y = np.asarray(model(random_images((size, size + 3, 3))))
    assert y.shape == ((2, 5) if include_top else (2, size // 32, (size + 3) // 32, 512))
    assert np.all(np.isfinite(y))


@pytest.mark.parametrize("shape", [(31, 31, 3), (64, 31, 3), (16, 16, 3)])
def test_below_the_minimum_is_rejected(shape):
    assert_below_minimum_rejected("vgg16", shape)


def test_the_minimum_is_the_architectures():
    """Five 2x2 "valid" pools: 31 leaves an empty feature map."""
    registry.builder("vgg11")(num_classes=5, input_shape=(32, 32, 3), include_top=False)
    assert_below_minimum_rejected("vgg11", (31, 31, 3), builder_error=True, include_top=False)


@pytest.mark.parametrize("pooling", [None, "avg", "max"])
def test_backbone_pooling(pooling):
    model = check_backbone_outputs("vgg13", pooling, (64, 64, 3), (2, 2, 512))
    assert all("fc" not in l.name for l in model.layers)


def test_head_needs_a_fixed_size_but_the_backbone_does_not():
    with pytest.raises(zoo.InvalidArgumentError, match="fixed input size"):
        zoo.build("vgg11", input_shape=(None, None, 3))
    model = zoo.build("vgg11", input_shape=(None, None, 3), include_top=False, pooling="max")
    for size in (32, 70):
        assert model(random_images((size, size, 3))).shape == (2, 512)


def test_dropout_and_logits():
    model = zoo.build("vgg11", input_shape=(32, 32, 3), num_classes=4, **SMALL)
    assert [l.name for l in model.layers if isinstance(l, keras.layers.Dropout)] == ["fc1_dropout", "fc2_dropout"]
    assert model.layers[-1].name == "predictions"
    np.testing.assert_allclose(np.asarray(model(random_images((32, 32, 3)))).sum(axis=1), 1.0, rtol=1e-5)
    model = zoo.build("vgg11", input_shape=(32, 32, 3), dropout=0.0, classifier_activation=None, **SMALL)
    assert not any(isinstance(l, keras.layers.Dropout) for l in model.layers)
    assert model.get_layer("predictions").activation is keras.activations.linear


def test_saved_and_reloaded(tmp_path, randomize):
    model = randomize(zoo.build("vgg11", input_shape=(32, 32, 3), num_classes=3, fc_units=16))
    assert_reloads(model, random_images((32, 32, 3)), tmp_path)
