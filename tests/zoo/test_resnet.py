"""ResNet-18/34/50/101/152: parameter parity, keras.applications weight compatibility, sizes, heads."""

import keras
import numpy as np
import pytest
from family_checks import assert_below_minimum_rejected, assert_family_cards, assert_keras_applications_card
from family_checks import assert_loads_keras_twin, assert_parameter_parity, assert_reloads, assert_runs
from family_checks import check_backbone_outputs, check_keras_applications_weights, keras_twin, random_images
from family_checks import save_legacy_h5

import zoo
from layers.residual import BasicBlock, BottleneckBlock

NAMES = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]

# Reference counts at 224x224x3 and 1000 classes: torchvision's parameters() (trainable only) for
# the basic-block ResNets, keras.applications' count_params() (total) for the bottleneck ones.
REFERENCE = {
    "resnet18": (11_689_512, "trainable"),
    "resnet34": (21_797_672, "trainable"),
    "resnet50": (25_636_712, "total"),
    "resnet101": (44_707_176, "total"),
    "resnet152": (60_419_944, "total"),
}
SMALL = (64, 64, 3)


def test_registered_names_and_cards():
    assert_family_cards(
        "resnet[0-9][0-9]*", NAMES, family="resnet", reference="1512.03385", input_shape=(224, 224, 3),
        head_layers=("predictions",),
    )
    for name in ["resnet50", "resnet101", "resnet152"]:
        weights = assert_keras_applications_card(
            name, "ResNet" + name[len("resnet"):], f"resnet/{name}_weights_tf_dim_ordering_tf_kernels.h5", "caffe"
        )
        assert len(weights.file_hash) == len(weights.notop_file_hash) == 32
    for name in ["resnet18", "resnet34"]:
        card = zoo.card(name)
        assert card.reference_impl == f"torchvision.models.{name}" and card.keras_application is None
        assert card.pretrained == {}
    assert zoo.card("resnet50").pretrained["imagenet"].file_hash == "2cb95161c43110f7111970584f804107"


@pytest.mark.parametrize("name", NAMES)
def test_parameter_parity(name):
    assert_parameter_parity(name, *REFERENCE[name])


def test_block_layout():
    model = zoo.build("resnet50", input_shape=SMALL)
    blocks = [layer for layer in model.layers if isinstance(layer, BottleneckBlock)]
    assert [b.name for b in blocks][:4] == ["conv2_block1", "conv2_block2", "conv2_block3", "conv3_block1"]
    assert len(blocks) == 16 and [b.stride for b in blocks if b.stride != 1] == [2, 2, 2]
    assert [layer.name for layer in model.layers[:7]] == [
        "input_layer", "conv1_pad", "conv1_conv", "conv1_bn", "conv1_relu", "pool1_pad", "pool1_pool",
    ]
    small = zoo.build("resnet18", input_shape=SMALL)
    basic = [layer for layer in small.layers if isinstance(layer, BasicBlock)]
    assert len(basic) == 8 and [b.shortcut_conv is not None for b in basic] == [False, False] + [True, False] * 3
    assert not small.get_layer("conv1_conv").use_bias and small.get_layer("conv1_bn").epsilon == 1e-5


# Weight compatibility with keras.applications ------------------------------------------------


@pytest.mark.slow
def test_keras_applications_resnet50_weights(randomize, tmp_path):
    check_keras_applications_weights("resnet50", randomize, tmp_path, SMALL)


@pytest.mark.slow
def test_imagenet_file_format_loads(randomize, tmp_path):
    """The published ImageNet files are legacy Keras HDF5 (`layer_names`); the no-top one loads too."""
    reference = randomize(keras.applications.ResNet50(weights=None, include_top=False, input_shape=SMALL), seed=3)
    path = save_legacy_h5(reference, tmp_path / "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5")
    model = zoo.build("resnet50", input_shape=SMALL, include_top=False, weights=path)
    x = random_images(SMALL, seed=4)
    np.testing.assert_allclose(model(x), reference(x), rtol=1e-5, atol=1e-6)
    # With a head: the no-top file leaves only "predictions" unloaded.
    with_head = zoo.build("resnet50", input_shape=SMALL, weights=path)
    assert with_head.zoo_weights_report.missing == ["predictions"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet101", "resnet152"])
def test_keras_applications_weights_deep(randomize, tmp_path, name):
    reference = keras_twin(name, randomize, tmp_path / "ref.weights.h5", SMALL)
    assert_loads_keras_twin(name, reference, tmp_path / "ref.weights.h5", SMALL, random_images(SMALL))


# Sizes, backbones, overrides, save/reload ----------------------------------------------------


@pytest.mark.parametrize("size", [1, 97])
def test_any_size_from_the_minimum(size):
    assert zoo.card("resnet18").min_input_size == 1
    for name in ["resnet18", "resnet50"]:
        assert_runs(name, (size, size, 3))


def test_below_the_minimum_is_rejected():
    assert_below_minimum_rejected("resnet50", (0, 32, 3))
    with pytest.raises(zoo.InvalidArgumentError, match="rank"):
        zoo.build("resnet18", input_shape=(32, 3))


@pytest.mark.parametrize("pooling", [None, "avg", "max"])
def test_backbone_outputs(pooling):
    check_backbone_outputs("resnet18", pooling, SMALL, (2, 2, 512))
    check_backbone_outputs("resnet50", pooling, SMALL, (2, 2, 2048))


def test_logits_and_softmax_heads():
    x = random_images((32, 32, 3))
    probabilities = np.asarray(zoo.build("resnet18", input_shape=(32, 32, 3), num_classes=5)(x))
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, rtol=1e-5)
    logits = zoo.build("resnet18", input_shape=(32, 32, 3), num_classes=5, classifier_activation=None)
    assert logits.get_layer("predictions").activation is keras.activations.linear


def test_overrides():
    model = zoo.build("resnet18", input_shape=(32, 32, 3), blocks=(1, 1, 1, 1), filters=(8, 16, 32, 64), stem_filters=8)
    assert model.output.shape == (None, 1000)
    assert model.get_layer("conv5_block1").filters == 64 and "conv2_block2" not in [layer.name for layer in model.layers]
    bottleneck = zoo.build("resnet18", input_shape=(32, 32, 3), block_type="bottleneck", filters=(4, 8, 8, 8))
    assert isinstance(bottleneck.get_layer("conv2_block1"), BottleneckBlock)
    with pytest.raises(zoo.InvalidArgumentError, match="block_type"):
        zoo.build("resnet18", block_type="wide")
    with pytest.raises(zoo.InvalidArgumentError, match="same length"):
        zoo.build("resnet18", blocks=(2, 2, 2))
    with pytest.raises(zoo.InvalidArgumentError, match="growth_rate"):
        zoo.build("resnet18", growth_rate=12)


def test_save_and_reload(tmp_path, randomize):
    model = randomize(zoo.build("resnet18", input_shape=(32, 32, 3), num_classes=4, blocks=(1, 1, 1, 1)))
    x = random_images((32, 32, 3))
    path = assert_reloads(model, x, tmp_path)
    # The .keras file is also a weight file for zoo.build.
    again = zoo.build("resnet18", input_shape=(32, 32, 3), num_classes=4, blocks=(1, 1, 1, 1), weights=path)
    np.testing.assert_array_equal(again(x, training=False), model(x, training=False))
