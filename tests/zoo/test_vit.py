"""ViT family: parameter parity with timm, names, the class-token head, sizes, backbones, weights."""

import numpy as np
import pytest
from family_checks import assert_below_minimum_rejected, assert_family_cards, assert_parameter_parity, assert_reloads
from family_checks import build_backbone, check_new_head, layer_output, random_images

import zoo
from layers.transformer import TransformerEncoderBlock

# timm's vit_*_patch16_224 at 224x224x3 and 1000 classes (PyTorch parameters(); ViT has no
# batch-norm statistics, so total = trainable).
TIMM_PARAMS = {
    "vit_ti16": 5_717_416,
    "vit_s16": 22_050_664,
    "vit_b16": 86_567_656,
    "vit_l16": 304_326_632,
}
SMALL = {"dim": 32, "depth": 2, "num_heads": 2, "mlp_dim": 64}  # overrides that keep tests fast


def vit_formula(dim, depth, mlp_dim, patch=16, size=224, channels=3, classes=1000):
    tokens = (size // patch) ** 2 + 1
    block = 2 * 2 * dim + 4 * (dim * dim + dim) + (dim * mlp_dim + mlp_dim) + (mlp_dim * dim + dim)
    return (patch * patch * channels * dim + dim) + dim + tokens * dim + depth * block + 2 * dim + dim * classes + classes


def images(size=32):
    return random_images((size, size, 3))


def test_registered():
    assert_family_cards("vit_*", ["vit_b16", "vit_l16", "vit_s16", "vit_ti16"], family="vit", reference="2010.11929")
    assert zoo.list_models(family="vit") == zoo.list_models("vit_*")


@pytest.mark.parametrize("name", list(TIMM_PARAMS))
def test_parameter_parity_with_timm(name):
    card = zoo.card(name)
    config = zoo.models.vit.VARIANTS[name]
    assert TIMM_PARAMS[name] == vit_formula(config.dim, config.depth, config.mlp_dim)
    model = assert_parameter_parity(name, TIMM_PARAMS[name], "trainable")
    assert model.count_params() == TIMM_PARAMS[name] and card.input_shape == (224, 224, 3)
    assert card.min_input_size == 16 and card.head_layers == ("predictions",)
    assert len([l for l in model.layers if isinstance(l, TransformerEncoderBlock)]) == config.depth


def test_layer_names_and_table():
    model = zoo.build("vit_ti16", input_shape=(32, 32, 3), num_classes=10)
    names = [layer.name for layer in model.layers if not layer.name.startswith("get_item")]
    assert names == ["input_layer", "patch_embed", "cls_token", "pos_embed"] + [
        f"encoder_block{i}" for i in range(12)
    ] + ["encoder_norm", "predictions"]
    assert model.get_layer("patch_embed").output.shape == (None, 4, 192)
    assert model.get_layer("pos_embed").output.shape == (None, 5, 192)
    block = model.get_layer("encoder_block0")
    assert block.num_heads == 3 and block.mlp_dim == 768 and block.layer_norm_epsilon == 1e-6
    assert model.get_layer("encoder_norm").epsilon == 1e-6
    out = model(images())
    assert out.shape == (2, 10)
    np.testing.assert_allclose(np.sum(out, axis=-1), 1.0, rtol=1e-5)


def test_head_reads_the_class_token(randomize):
    model = randomize(zoo.build("vit_ti16", input_shape=(32, 32, 3), num_classes=5, classifier_activation=None, **SMALL))
    x = images()
    tokens = layer_output(model, "encoder_norm", x)
    kernel, bias = model.get_layer("predictions").get_weights()
    np.testing.assert_allclose(model(x), tokens[:, 0] @ kernel + bias, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("size, patches", [(16, 1), (32, 4), (97, 36)])
def test_input_sizes_at_or_above_the_patch_size(size, patches):
    model = zoo.build("vit_ti16", input_shape=(size, size, 3), num_classes=3, **SMALL)
    assert model.get_layer("pos_embed").embedding.shape == (1, patches + 1, 32)
    assert model(images(size)).shape == (2, 3)


def test_non_square_input_and_patch_size_override():
    model = zoo.build("vit_ti16", input_shape=(32, 48, 3), num_classes=3, **SMALL)
    assert model.get_layer("pos_embed").output.shape == (None, 2 * 3 + 1, 32)
    model = zoo.build("vit_ti16", input_shape=(32, 32, 3), num_classes=3, patch_size=8, **SMALL)
    assert model.get_layer("patch_embed").output.shape == (None, 16, 32)


def test_bad_inputs_and_overrides():
    assert_below_minimum_rejected("vit_ti16", (15, 15, 3))
    assert_below_minimum_rejected("vit_ti16", (32, 15, 3))
    with pytest.raises(zoo.InvalidArgumentError, match="known input size"):
        zoo.build("vit_ti16", input_shape=(None, None, 3))
    with pytest.raises(zoo.InvalidArgumentError, match="divisible by num_heads"):
        zoo.build("vit_ti16", input_shape=(32, 32, 3), num_heads=5)
    with pytest.raises(zoo.InvalidArgumentError, match="patch_size=32"):
        zoo.build("vit_ti16", input_shape=(16, 16, 3), patch_size=32)
    with pytest.raises(zoo.InvalidArgumentError, match="no option 'width'"):
        zoo.build("vit_ti16", width=3)


@pytest.mark.parametrize("pooling, shape", [(None, (2, 5, 32)), ("avg", (2, 32)), ("max", (2, 32))])
def test_backbone_pooling(pooling, shape, randomize):
    model = randomize(build_backbone("vit_ti16", pooling, feature_rank=3, input_shape=(32, 32, 3), **SMALL))
    x = images()
    out = np.asarray(model(x))
    assert out.shape == shape
    if pooling is not None:
        tokens = layer_output(model, "encoder_norm", x)
        np.testing.assert_allclose(out, tokens.mean(1) if pooling == "avg" else tokens.max(1), rtol=1e-5, atol=1e-6)


def test_dropout_override_acts_only_in_training():
    model = zoo.build("vit_ti16", input_shape=(32, 32, 3), num_classes=3, dropout=0.2, attention_dropout=0.1, **SMALL)
    assert model.get_layer("encoder_block1").dropout == 0.2
    assert model.get_layer("encoder_block1").attention_dropout == 0.1
    x = images()
    np.testing.assert_array_equal(model(x, training=False), model(x, training=False))
    assert not np.allclose(model(x, training=True), model(x, training=False))


def test_weights_load_by_name_and_new_head(tmp_path, randomize):
    source, _, path, x = check_new_head(
        "vit_ti16", randomize, tmp_path, features="encoder_norm", input_shape=(32, 32, 3), num_classes=10, **SMALL
    )
    same = zoo.build("vit_ti16", input_shape=(32, 32, 3), num_classes=10, weights=path, **SMALL)
    np.testing.assert_allclose(same(x), source(x), rtol=1e-5, atol=1e-6)

    backbone = zoo.build("vit_ti16", input_shape=(32, 32, 3), include_top=False, weights=path, **SMALL)
    np.testing.assert_allclose(backbone(x), layer_output(source, "encoder_norm", x), rtol=1e-5, atol=1e-6)

    with pytest.raises(zoo.WeightsError, match="pos_embed"):  # another patch grid: positions differ
        zoo.build("vit_ti16", input_shape=(48, 48, 3), num_classes=10, weights=path, **SMALL)


def test_save_and_reload(tmp_path):
    model = zoo.build("vit_ti16", input_shape=(32, 32, 3), num_classes=4, dropout=0.1, **SMALL)
    assert_reloads(model, images(), tmp_path)
