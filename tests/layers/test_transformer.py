"""Transformer layers: numpy references of each formula, masks, shapes, errors, save/reload."""

import math

import keras
import numpy as np
import pytest

from layers.transformer import ClassToken, PatchEmbedding, PositionEmbedding, TransformerEncoderBlock

_erf = np.vectorize(math.erf)


def random_weights(layer, seed=0):
    """Give every variable of a built layer random values (LayerNorm scales around 1)."""
    rng = np.random.default_rng(seed)
    for variable in layer.weights:
        shape = tuple(variable.shape)
        if variable.path.endswith("gamma"):
            value = rng.uniform(0.5, 1.5, shape)
        else:
            value = rng.normal(0.0, 0.3, shape)
        variable.assign(value.astype("float32"))
    return layer


# PatchEmbedding ------------------------------------------------------------------------------


def test_patch_embedding_is_a_linear_map_of_each_flattened_patch():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 12, 8, 3)).astype("float32")
    layer = PatchEmbedding(5, patch_size=4, name="patch_embed")
    out = np.asarray(layer(x))
    assert out.shape == (2, 3 * 2, 5)
    kernel, bias = (np.asarray(w, "float64") for w in layer.proj.get_weights())  # [4, 4, 3, 5], [5]
    expected = []
    for i in range(3):  # row-major patch order
        for j in range(2):
            patch = x[:, 4 * i : 4 * i + 4, 4 * j : 4 * j + 4, :]
            expected.append(np.einsum("bhwc,hwcd->bd", patch, kernel) + bias)
    np.testing.assert_allclose(out, np.stack(expected, axis=1), rtol=1e-5, atol=1e-5)


def test_patch_embedding_shapes_and_remainder():
    layer = PatchEmbedding(7, patch_size=16)
    assert layer(keras.Input((224, 224, 3))).shape == (None, 196, 7)
    # 97 = 6 * 16 + 1: the incomplete last row / column of patches is dropped
    assert PatchEmbedding(7, patch_size=16)(np.zeros((1, 97, 40, 3), "float32")).shape == (1, 12, 7)
    assert PatchEmbedding(7, patch_size=16).compute_output_shape((None, None, 32, 3)) == (None, None, 7)
    assert layer.proj.name == f"{layer.name}_proj"


def test_patch_embedding_errors():
    with pytest.raises(ValueError, match="smaller than patch_size"):
        PatchEmbedding(8, patch_size=16)(keras.Input((15, 32, 3)))
    with pytest.raises(ValueError, match="patch_size"):
        PatchEmbedding(8, patch_size=0)
    with pytest.raises(ValueError, match="dim"):
        PatchEmbedding(0)


def test_patch_embedding_roundtrip(roundtrip):
    layer = PatchEmbedding(6, patch_size=4, kernel_initializer="he_normal", name="patch_embed")
    roundtrip(layer, np.random.default_rng(0).normal(size=(2, 8, 12, 3)).astype("float32"))


# ClassToken / PositionEmbedding --------------------------------------------------------------


def test_class_token_prepends_the_same_learned_token():
    x = np.random.default_rng(0).normal(size=(3, 4, 6)).astype("float32")
    layer = ClassToken(name="cls_token")
    layer.build(x.shape)
    token = np.arange(6, dtype="float32").reshape(1, 1, 6)
    layer.token.assign(token)
    out = np.asarray(layer(x))
    assert out.shape == (3, 5, 6)
    np.testing.assert_array_equal(out[:, 1:], x)
    np.testing.assert_array_equal(out[:, :1], np.broadcast_to(token, (3, 1, 6)))
    assert layer.compute_output_shape((None, 4, 6)) == (None, 5, 6)
    assert ClassToken()(keras.Input((None, 6))).shape == (None, None, 6)
    np.testing.assert_array_equal(ClassToken()(x)[:, 0], np.zeros((3, 6)))  # zeros by default, as ViT


def test_position_embedding_adds_one_vector_per_position():
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    layer = PositionEmbedding(name="pos_embed")
    out = np.asarray(layer(x))
    embedding = np.asarray(layer.embedding)
    assert embedding.shape == (1, 5, 3) and np.abs(embedding).max() > 0  # truncated normal, not zeros
    np.testing.assert_allclose(out, x + embedding, rtol=1e-6)
    with pytest.raises(ValueError):
        layer(np.zeros((2, 6, 3), "float32"))  # length fixed at build
    with pytest.raises(ValueError, match="must be known"):
        PositionEmbedding()(keras.Input((None, 3)))


def test_position_embedding_with_length_takes_the_first_positions():
    layer = PositionEmbedding(length=10)
    model = keras.Model(inp := keras.Input((None, 3)), layer(inp))
    embedding = np.asarray(layer.embedding)
    assert embedding.shape == (1, 10, 3)
    for n in (1, 4, 10):
        x = np.ones((2, n, 3), "float32")
        np.testing.assert_allclose(model(x), x + embedding[:, :n], rtol=1e-6)
    with pytest.raises(ValueError, match="more than length"):
        PositionEmbedding(length=4)(keras.Input((5, 3)))


def test_token_layers_roundtrip(roundtrip):
    x = np.random.default_rng(0).normal(size=(2, 4, 6)).astype("float32")
    roundtrip(ClassToken(initializer="random_normal", name="cls_token"), x)
    roundtrip(PositionEmbedding(name="pos_embed"), x)
    roundtrip(PositionEmbedding(length=9, initializer="random_uniform", name="pos_embed_9"), x)


# TransformerEncoderBlock ---------------------------------------------------------------------


def layer_norm(x, gamma, beta, eps):
    mean = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def reference_block(block, x, allowed=None):
    """The block's formula in float64 numpy from its weights. `allowed`: [b, n, n] bool or None."""
    w = {v.path.split("/", 1)[1]: np.asarray(v, "float64") for v in block.weights}
    n = block.name
    eps = block.layer_norm_epsilon
    x = x.astype("float64")
    h = layer_norm(x, w[f"{n}_ln1/gamma"], w[f"{n}_ln1/beta"], eps)
    q = np.einsum("bnd,dhk->bnhk", h, w[f"{n}_attn/query/kernel"]) + w[f"{n}_attn/query/bias"]
    k = np.einsum("bnd,dhk->bnhk", h, w[f"{n}_attn/key/kernel"]) + w[f"{n}_attn/key/bias"]
    v = np.einsum("bnd,dhk->bnhk", h, w[f"{n}_attn/value/kernel"]) + w[f"{n}_attn/value/bias"]
    scores = np.einsum("bqhk,bshk->bhqs", q, k) / np.sqrt(q.shape[-1])
    if allowed is not None:
        scores = np.where(allowed[:, None], scores, -np.inf)
    scores = np.exp(scores - scores.max(-1, keepdims=True))
    probs = scores / scores.sum(-1, keepdims=True)
    heads = np.einsum("bhqs,bshk->bqhk", probs, v)
    attn = np.einsum("bqhk,hkd->bqd", heads, w[f"{n}_attn/attention_output/kernel"])
    x = x + attn + w[f"{n}_attn/attention_output/bias"]
    h = layer_norm(x, w[f"{n}_ln2/gamma"], w[f"{n}_ln2/beta"], eps)
    h = h @ w[f"{n}_mlp_fc1/kernel"] + w[f"{n}_mlp_fc1/bias"]
    h = 0.5 * h * (1.0 + _erf(h / np.sqrt(2.0)))  # exact GELU
    h = h @ w[f"{n}_mlp_fc2/kernel"] + w[f"{n}_mlp_fc2/bias"]
    return x + h


def make_block(dim=8, num_heads=2, mlp_dim=12, seed=0, **kwargs):
    block = TransformerEncoderBlock(num_heads=num_heads, mlp_dim=mlp_dim, name="encoder_block0", **kwargs)
    block.build((None, None, dim))
    return random_weights(block, seed)


def tokens(batch=2, n=5, dim=8, seed=1):
    return np.random.default_rng(seed).normal(size=(batch, n, dim)).astype("float32")


def test_block_sub_layer_names_and_weights_exist_after_build():
    block = make_block()
    names = {sub.name for sub in block._flatten_layers(include_self=False, recursive=False)}
    expected = {"ln1", "attn", "attn_drop", "ln2", "mlp_fc1", "mlp_drop1", "mlp_fc2", "mlp_drop2"}
    assert names == {f"encoder_block0_{s}" for s in expected}
    assert len(block.weights) == 16
    # parameters: 2 LayerNorms, q/k/v/output projections, the MLP
    d, m = 8, 12
    assert block.count_params() == 2 * 2 * d + 4 * (d * d + d) + (d * m + m) + (m * d + d)


def test_block_matches_the_formula():
    block = make_block()
    x = tokens()
    np.testing.assert_allclose(block(x), reference_block(block, x), rtol=1e-5, atol=1e-5)


def test_block_uses_exact_gelu_and_epsilon():
    block = make_block(layer_norm_epsilon=0.5)
    assert block.ln1.epsilon == 0.5 and block.ln2.epsilon == 0.5
    assert TransformerEncoderBlock(2, 4).layer_norm_epsilon == 1e-6
    x = 3.0 * tokens()
    np.testing.assert_allclose(block(x), reference_block(block, x), rtol=1e-5, atol=1e-5)


def test_full_attention_mask_matches_the_formula():
    block = make_block()
    x = tokens()
    allowed = np.random.default_rng(2).uniform(size=(2, 5, 5)) > 0.4
    allowed[:, np.arange(5), np.arange(5)] = True  # every query keeps at least itself
    np.testing.assert_allclose(
        block(x, attention_mask=allowed), reference_block(block, x, allowed), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(  # 0/1 masks work too
        block(x, attention_mask=allowed.astype("int32")), reference_block(block, x, allowed), rtol=1e-5, atol=1e-5
    )


def test_causal_mask_matches_the_formula():
    block = make_block()
    x = tokens()
    causal = np.broadcast_to(np.tril(np.ones((5, 5), bool)), (2, 5, 5))
    np.testing.assert_allclose(
        block(x, use_causal_mask=True), reference_block(block, x, causal), rtol=1e-5, atol=1e-5
    )


def test_padding_mask_masked_keys_change_nothing():
    block = make_block()
    x = tokens()
    padding = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 0]], bool)
    out = np.asarray(block(x, attention_mask=padding))
    # same as the full mask that forbids the padded keys, and as the formula
    allowed = np.broadcast_to(padding[:, None, :], (2, 5, 5))
    np.testing.assert_allclose(out, np.asarray(block(x, attention_mask=allowed)), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out, reference_block(block, x, allowed), rtol=1e-5, atol=1e-5)
    # changing the padded tokens changes nothing at the valid positions
    changed = x.copy()
    changed[~padding] = 100.0 * np.random.default_rng(3).normal(size=changed[~padding].shape)
    out_changed = np.asarray(block(changed, attention_mask=padding))
    np.testing.assert_allclose(out_changed[padding], out[padding], rtol=1e-5, atol=1e-5)
    # whereas without the mask they do
    assert not np.allclose(np.asarray(block(changed))[padding], out[padding], atol=1e-3)


def test_keras_mask_is_a_padding_mask_and_passes_through():
    block = make_block()
    x = tokens()
    x[0, 3:] = 0.0
    x[1, 4:] = 0.0
    padding = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 0]], bool)
    inputs = keras.Input((5, 8))
    masked = keras.layers.Masking(0.0)(inputs)
    outputs = block(masked)
    model = keras.Model(inputs, outputs)
    expected = np.asarray(block(x, attention_mask=padding))
    np.testing.assert_allclose(np.asarray(model(x))[padding], expected[padding], rtol=1e-5, atol=1e-5)
    assert block.compute_mask(x, padding) is padding


def test_block_dropout_only_in_training():
    block = make_block(dropout=0.3, attention_dropout=0.3)
    x = tokens()
    inference = np.asarray(block(x, training=False))
    np.testing.assert_array_equal(inference, np.asarray(block(x)))
    assert not np.allclose(np.asarray(block(x, training=True)), inference)


def test_block_errors():
    with pytest.raises(ValueError, match="divisible"):
        TransformerEncoderBlock(num_heads=3, mlp_dim=4)(keras.Input((5, 8)))
    with pytest.raises(ValueError, match="num_heads"):
        TransformerEncoderBlock(num_heads=0, mlp_dim=4)
    with pytest.raises(ValueError, match="dropout"):
        TransformerEncoderBlock(num_heads=2, mlp_dim=4, dropout=1.0)
    with pytest.raises(ValueError, match="attention_mask must be"):
        make_block()(tokens(), attention_mask=np.ones((2, 1, 5, 5), bool))


def test_block_get_config_is_complete():
    block = TransformerEncoderBlock(
        num_heads=4,
        mlp_dim=16,
        dropout=0.1,
        attention_dropout=0.2,
        layer_norm_epsilon=1e-5,
        kernel_initializer="he_normal",
        bias_initializer="ones",
        name="encoder_block3",
    )
    config = block.get_config()
    for key in ("num_heads", "mlp_dim", "dropout", "attention_dropout", "layer_norm_epsilon",
                "kernel_initializer", "bias_initializer"):
        assert key in config
    clone = TransformerEncoderBlock.from_config(config)
    assert clone.get_config() == config and clone.name == "encoder_block3"


def test_block_roundtrip(roundtrip):
    block = make_block(dropout=0.1)
    roundtrip(block, tokens())


def test_block_with_mask_input_saves_and_reloads(tmp_path):
    x_in = keras.Input((5, 8))
    mask_in = keras.Input((5,), dtype="bool")
    block = TransformerEncoderBlock(num_heads=2, mlp_dim=12, name="encoder_block0")
    model = keras.Model([x_in, mask_in], block(x_in, attention_mask=mask_in))
    random_weights(block)
    x = tokens()
    padding = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 0]], bool)
    expected = np.asarray(model([x, padding]))
    model.save(tmp_path / "block.keras")
    reloaded = keras.saving.load_model(tmp_path / "block.keras")
    np.testing.assert_array_equal(np.asarray(reloaded([x, padding])), expected)
