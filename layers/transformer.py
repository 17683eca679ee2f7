"""Transformer layers over a token axis: patch embedding, class token, positions, encoder block.

These follow the Vision Transformer (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words",
arXiv:2010.11929, section 3.1 and equations 1-4) and are written over a generic token axis
`[batch, tokens, dim]`, so the same blocks serve image and sequence transformers:

    z0 = [x_class; x_p^1 E; ...; x_p^N E] + E_pos        (PatchEmbedding, ClassToken, PositionEmbedding)
    z'_l = MSA(LN(z_{l-1})) + z_{l-1}                   (TransformerEncoderBlock, first half)
    z_l = MLP(LN(z'_l)) + z'_l                          (TransformerEncoderBlock, second half)
"""

from __future__ import annotations

import keras
from keras import layers, ops

from layers._blocks import Block


def _positive_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be an integer >= 1, got {value!r}")
    return int(value)


def _rate(value, what: str) -> float:
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{what} must be a rate in [0, 1), got {value!r}")
    return value


def _known_dim(layer, input_shape) -> int:
    dim = input_shape[-1]
    if dim is None:
        raise ValueError(f"{layer.name}: the last axis (dim) of the input must be known, got {tuple(input_shape)}")
    return dim


@keras.saving.register_keras_serializable(package="zoo")
class PatchEmbedding(Block):
    """Cut an image into non-overlapping patches and project each to a `dim`-vector token.

    A `patch_size` x `patch_size` convolution with stride `patch_size` (the linear projection E of
    ViT applied to every flattened patch), whose [batch, h, w, dim] output is flattened row by row
    into [batch, h * w, dim] tokens. Sizes that are not multiples of `patch_size` drop the last
    incomplete row / column of patches ("valid" convolution), so larger images give proportionally
    more patches.

    Args:
        dim: size of each token (the model width D), an int >= 1.
        patch_size: side of the square patches (and the stride), an int >= 1. Default 16.
        kernel_initializer, bias_initializer: of the projection. Defaults "glorot_uniform", "zeros".
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Sub-layers: `{name}_proj` (the Conv2D).

    Input shape:
        `(batch, height, width, channels)`, channels last, height and width >= `patch_size`.

    Output shape:
        `(batch, (height // patch_size) * (width // patch_size), dim)`.

    Example:

    >>> x = keras.Input((224, 224, 3))
    >>> PatchEmbedding(768, patch_size=16, name="patch_embed")(x).shape
    (None, 196, 768)
    """

    config_keys = ("dim", "patch_size", "kernel_initializer", "bias_initializer")

    def __init__(self, dim, patch_size=16, kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.dim = _positive_int(dim, "dim")
        self.patch_size = _positive_int(patch_size, "patch_size")
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.proj = layers.Conv2D(
            self.dim,
            self.patch_size,
            strides=self.patch_size,
            padding="valid",
            kernel_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer,
            name=f"{self.name}_proj",
        )
        self.input_spec = keras.InputSpec(ndim=4)

    def build(self, input_shape):
        for size in input_shape[1:3]:
            if size is not None and size < self.patch_size:
                raise ValueError(
                    f"{self.name}: input spatial size {size} is smaller than patch_size={self.patch_size} "
                    f"(input shape {tuple(input_shape)})"
                )
        self.proj.build(input_shape)

    def call(self, inputs):
        x = self.proj(inputs)
        return ops.reshape(x, (ops.shape(x)[0], -1, self.dim))

    def compute_output_shape(self, input_shape):
        h, w = input_shape[1:3]
        n = None if h is None or w is None else (h // self.patch_size) * (w // self.patch_size)
        return (input_shape[0], n, self.dim)


@keras.saving.register_keras_serializable(package="zoo")
class ClassToken(Block):
    """Prepend one learned token (ViT's x_class, BERT's [CLS]) to every sequence of the batch.

    Args:
        initializer: of the [1, 1, dim] token. Default "zeros" (as ViT).
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Input shape:
        `(batch, tokens, dim)`, `dim` known.

    Output shape:
        `(batch, tokens + 1, dim)`; position 0 is the class token.

    Example:

    >>> x = keras.Input((196, 768))
    >>> ClassToken(name="cls_token")(x).shape
    (None, 197, 768)
    """

    config_keys = ("initializer",)

    def __init__(self, initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.initializer = keras.initializers.get(initializer)
        self.input_spec = keras.InputSpec(ndim=3)

    def build(self, input_shape):
        dim = _known_dim(self, input_shape)
        self.token = self.add_weight(shape=(1, 1, dim), initializer=self.initializer, name="token")

    def call(self, inputs):
        batch = ops.shape(inputs)[0]
        token = ops.broadcast_to(ops.cast(self.token, inputs.dtype), (batch, 1, ops.shape(self.token)[-1]))
        return ops.concatenate([token, inputs], axis=1)

    def compute_output_shape(self, input_shape):
        n = input_shape[1]
        return (input_shape[0], None if n is None else n + 1, input_shape[2])


@keras.saving.register_keras_serializable(package="zoo")
class PositionEmbedding(Block):
    """Add a learned position embedding (ViT's E_pos) to a sequence of tokens.

    The embedding is one [1, length, dim] weight. By default `length` is the number of tokens of
    the input the layer is built on, and inputs must keep that length. With `length` given, any
    input of at most `length` tokens works and uses the first positions (for variable-length
    sequences).

    Args:
        length: number of positions, or None (default) to take the input's token count at build.
        initializer: of the embedding. Default `TruncatedNormal(stddev=0.02)` (as timm's ViT).
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Input shape:
        `(batch, tokens, dim)`; `tokens` must be known at build when `length` is None.

    Output shape:
        Same as the input.

    Example:

    >>> x = keras.Input((197, 768))
    >>> PositionEmbedding(name="pos_embed")(x).shape
    (None, 197, 768)
    """

    config_keys = ("length", "initializer")

    def __init__(self, length=None, initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.length = None if length is None else _positive_int(length, "length")
        self.initializer = keras.initializers.get(
            initializer if initializer is not None else keras.initializers.TruncatedNormal(stddev=0.02)
        )
        self.input_spec = keras.InputSpec(ndim=3)

    def build(self, input_shape):
        tokens, dim = input_shape[1], _known_dim(self, input_shape)
        length = self.length
        if length is None:
            if tokens is None:
                raise ValueError(
                    f"{self.name}: the number of tokens must be known at build when length is None "
                    f"(input shape {tuple(input_shape)}); pass length= for variable-length inputs"
                )
            length = tokens
        elif tokens is not None and tokens > length:
            raise ValueError(f"{self.name}: inputs have {tokens} tokens, more than length={length}")
        self.built_length = int(length)
        self.embedding = self.add_weight(shape=(1, self.built_length, dim), initializer=self.initializer, name="embedding")
        axes = {-1: dim} if self.length is not None else {1: self.built_length, -1: dim}
        self.input_spec = keras.InputSpec(ndim=3, axes=axes)

    def call(self, inputs):
        embedding = ops.cast(self.embedding, inputs.dtype)
        if self.length is not None:
            embedding = embedding[:, : ops.shape(inputs)[1], :]
        return inputs + embedding

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


@keras.saving.register_keras_serializable(package="zoo")
class TransformerEncoderBlock(Block):
    """One pre-norm transformer encoder block (ViT, Dosovitskiy et al. 2021, equations 2-3).

        x = x + Dropout(MHSA(LN1(x)))
        x = x + Dropout(FC2(Dropout(GELU(FC1(LN2(x))))))

    MHSA is `keras.layers.MultiHeadAttention` with `key_dim = dim // num_heads` (dropout
    `attention_dropout` on the attention weights); GELU is the exact (erf) form, as ViT.

    Args:
        num_heads: attention heads, an int >= 1 dividing the input's `dim`.
        mlp_dim: hidden size of the MLP (ViT's "MLP size", e.g. 3072 = 4 * 768 for ViT-B).
        dropout: rate of the dropouts after the attention output, after GELU and after FC2.
            Default 0.
        attention_dropout: rate of the dropout on the attention weights. Default 0.
        layer_norm_epsilon: epsilon of both LayerNormalizations. Default 1e-6 (as ViT).
        kernel_initializer, bias_initializer: of the MLP's Dense layers and the attention
            projections. Defaults "glorot_uniform", "zeros".
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Sub-layers: `{name}_ln1`, `{name}_attn`, `{name}_attn_drop`, `{name}_ln2`, `{name}_mlp_fc1`,
    `{name}_mlp_drop1`, `{name}_mlp_fc2`, `{name}_mlp_drop2`.

    Call arguments:
        inputs: `(batch, tokens, dim)`.
        attention_mask: optional boolean (or 0/1) mask; True means "may attend". Either
            `(batch, tokens, tokens)` (query x key) or a padding mask `(batch, tokens)` (False for
            padded keys, which no token attends to).
        use_causal_mask: if True, each token attends only to itself and earlier tokens.
        training: passed to the dropouts.
        A Keras mask carried by `inputs` (e.g. from `Embedding(mask_zero=True)`) is used as a
        padding mask too, and passed through to the output.

    Input shape:
        `(batch, tokens, dim)`.

    Output shape:
        Same as the input.

    Example:

    >>> x = keras.Input((197, 768))
    >>> block = TransformerEncoderBlock(num_heads=12, mlp_dim=3072, name="encoder_block0")
    >>> block(x).shape
    (None, 197, 768)
    """

    config_keys = (
        "num_heads",
        "mlp_dim",
        "dropout",
        "attention_dropout",
        "layer_norm_epsilon",
        "kernel_initializer",
        "bias_initializer",
    )

    def __init__(
        self,
        num_heads,
        mlp_dim,
        dropout=0.0,
        attention_dropout=0.0,
        layer_norm_epsilon=1e-6,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = _positive_int(num_heads, "num_heads")
        self.mlp_dim = _positive_int(mlp_dim, "mlp_dim")
        self.dropout = _rate(dropout, "dropout")
        self.attention_dropout = _rate(attention_dropout, "attention_dropout")
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = True
        self.input_spec = keras.InputSpec(ndim=3)

        name, init = self.name, self._initializers()
        self.ln1 = layers.LayerNormalization(epsilon=self.layer_norm_epsilon, name=f"{name}_ln1")
        # MultiHeadAttention needs key_dim (dim // num_heads): created in build, once dim is known.
        self.attn = None
        self.attn_drop = layers.Dropout(self.dropout, name=f"{name}_attn_drop")
        self.ln2 = layers.LayerNormalization(epsilon=self.layer_norm_epsilon, name=f"{name}_ln2")
        self.mlp_fc1 = layers.Dense(self.mlp_dim, activation="gelu", name=f"{name}_mlp_fc1", **init)  # exact GELU
        self.mlp_drop1 = layers.Dropout(self.dropout, name=f"{name}_mlp_drop1")
        self.mlp_fc2 = None  # projects back to dim: created in build
        self.mlp_drop2 = layers.Dropout(self.dropout, name=f"{name}_mlp_drop2")

    def build(self, input_shape):
        dim = _known_dim(self, input_shape)
        if dim % self.num_heads:
            raise ValueError(f"{self.name}: dim={dim} is not divisible by num_heads={self.num_heads}")
        init = self._initializers()
        self.attn = layers.MultiHeadAttention(
            num_heads=self.num_heads,
            key_dim=dim // self.num_heads,
            dropout=self.attention_dropout,
            name=f"{self.name}_attn",
            **init,
        )
        self.mlp_fc2 = layers.Dense(dim, name=f"{self.name}_mlp_fc2", **init)
        shape = tuple(input_shape)
        self.ln1.build(shape)
        self.attn.build(shape, shape)
        self.ln2.build(shape)
        self.mlp_fc1.build(shape)
        self.mlp_fc2.build(shape[:-1] + (self.mlp_dim,))

    def _initializers(self):
        return {"kernel_initializer": self.kernel_initializer, "bias_initializer": self.bias_initializer}

    def _masks(self, attention_mask, mask):
        """(value_mask [b, n] or None, attention_mask [b, n, n] or None) for MultiHeadAttention."""
        padding = None if mask is None else ops.cast(mask, "bool")
        full = None
        if attention_mask is not None:
            attention_mask = ops.cast(attention_mask, "bool")
            rank = len(attention_mask.shape)
            if rank == 2:
                padding = attention_mask if padding is None else ops.logical_and(padding, attention_mask)
            elif rank == 3:
                full = attention_mask
            else:
                raise ValueError(
                    f"{self.name}: attention_mask must be [batch, tokens, tokens] or a padding mask "
                    f"[batch, tokens], got shape {tuple(attention_mask.shape)}"
                )
        return padding, full

    def call(self, inputs, attention_mask=None, use_causal_mask=False, training=None, mask=None):
        value_mask, full_mask = self._masks(attention_mask, mask)
        h = self.ln1(inputs)
        h = self.attn(
            h,
            h,
            value_mask=value_mask,
            attention_mask=full_mask,
            use_causal_mask=use_causal_mask,
            training=training,
        )
        x = inputs + self.attn_drop(h, training=training)
        h = self.ln2(x)
        h = self.mlp_fc1(h)
        h = self.mlp_drop1(h, training=training)
        h = self.mlp_fc2(h)
        return x + self.mlp_drop2(h, training=training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_mask(self, inputs, mask=None):
        return mask
