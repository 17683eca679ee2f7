"""Transformer encoder for sequence classification: self-attention blocks over tokens or time steps.

Vaswani et al. (2017). Attention Is All You Need. NeurIPS 2017. arXiv:1706.03762. Section 3.1
(the encoder: N blocks of multi-head self-attention and a position-wise feed-forward network,
each with a residual connection and layer normalization), 3.4 (embeddings scaled by sqrt(d_model))
and 3.5 (sinusoidal positional encoding). The blocks are the zoo's `TransformerEncoderBlock`
(shared with the Vision Transformer): pre-norm, GELU, with a final layer norm, the arrangement
that trains without learning-rate warm-up (Xiong et al. 2020, arXiv:2002.04745), where the paper
normalizes after each residual addition.

    padding_mask       True for real steps: token id != mask_value, or a step whose features
                       are not all mask_value; every block and the pooling honour it
    token_embedding    Embedding(vocab_size, dim), scaled by sqrt(dim)  (with `vocab_size`)
    input_projection   Dense(dim)                                      (continuous input)
    pos_embed          sinusoidal positions (any length), or learned (`positions="learned"`,
                       at most `max_length` steps)
    pos_drop           dropout
    encoder_block{i}   depth x TransformerEncoderBlock(num_heads, mlp_dim)
    encoder_norm       LayerNorm
    avg_pool           mean over the real steps
    predictions        Dense num_classes

The default (dim 128, depth 4, 8 heads, MLP 512) is a small encoder for sequence classification;
the paper's base encoder is `zoo.build("transformer", dim=512, depth=6, num_heads=8,
mlp_dim=2048)`. At the default config, input (None, 1) and 2 classes: 793,858 parameters.

Token input: with `vocab_size` set the input is int tokens `[batch, time]` (0 = padding, as
`keras.layers.TextVectorization` pads). `zoo.build` checks the rank of `input_shape` against the
card's `(time, features)`, so a token model is asked for with `input_shape=(time, 1)` (the
default `(None, 1)` works) and takes `[batch, time]`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
from keras import layers

from layers.sequence import MaskedGlobalPooling1D, PaddingMask, SinusoidalPositionEmbedding
from layers.transformer import PositionEmbedding
from zoo.errors import InvalidArgumentError
from zoo.models._common import register_variants, transformer_encoder
from zoo.models.recurrent import check_rate, check_widths, sequence_card, sequence_head, sequence_input
from zoo.recipes import Recipe

POSITIONS = ("sinusoidal", "learned")


@dataclass(frozen=True)
class TransformerConfig:
    """A transformer encoder.

    Attributes:
        dim: model width (d_model).
        depth: number of encoder blocks (N).
        num_heads: attention heads (h), dividing `dim`.
        mlp_dim: hidden width of the feed-forward network (d_ff).
        dropout: after the positions, inside every block, and before the head.
        attention_dropout: on the attention weights.
        vocab_size: None for continuous input [batch, time, features] (a Dense projection), or
            the vocabulary size for int tokens [batch, time] (an Embedding).
        positions: "sinusoidal" (the paper's, any length) or "learned" (`max_length` positions).
        max_length: longest sequence with learned positions.
        mask_value: the padding value (token id, or the value of every feature of a padded step),
            or None for no masking.
        layer_norm_epsilon: of every layer normalization.
    """

    dim: int = 128
    depth: int = 4
    num_heads: int = 8
    mlp_dim: int = 512
    dropout: float = 0.1
    attention_dropout: float = 0.0
    vocab_size: int | None = None
    positions: str = "sinusoidal"
    max_length: int = 512
    mask_value: float | None = 0.0
    layer_norm_epsilon: float = 1e-6


VARIANTS = {"transformer": TransformerConfig()}

# Training recipe (Zerveas et al. 2021 section 4, gzerveas/mvts_transformer src/options.py: lr 1e-3, batch 64,
# 400 epochs, best validation kept), with the Adam betas of Vaswani et al. 2017 section 5.3 in place of RAdam.
RECIPE = Recipe(
    source="Zerveas et al. 2021 §4 (mvts_transformer options.py); Vaswani et al. 2017 §5.3",
    optimizer="adam", optimizer_args={"beta_2": 0.98, "epsilon": 1e-9}, learning_rate=1e-3,
    epochs=400, batch_size=64, batch_fraction=0.1, keep="best_validation", patience=100,
    notes="RAdam is no Keras optimizer (Adam with Vaswani's betas instead); the batch is int(min(n/10, 64)) and "
          "early stopping after 100 epochs without improvement is the zoo's addition",
)

CARDS = {
    "transformer": sequence_card(
        "transformer",
        family="transformer",
        params=793_858,
        reference="Vaswani et al. (2017). Attention Is All You Need. NeurIPS 2017. arXiv:1706.03762",
        recipe=RECIPE,
        description="transformer encoder (self-attention blocks, sinusoidal positions), masked mean pool",
        extra={
            "input": "[batch, time, features] floats, or int tokens [batch, time] with vocab_size "
            "(input_shape=(time, 1)); mask_value=0 marks padding",
        },
    )
}


def _check(config: TransformerConfig, name: str) -> None:
    check_widths((config.dim, config.depth, config.num_heads, config.mlp_dim, config.max_length),
                 "dim, depth, num_heads, mlp_dim and max_length", name)
    if config.dim % config.num_heads:
        raise InvalidArgumentError(f"{name}: dim={config.dim} is not divisible by num_heads={config.num_heads}")
    check_rate(config.dropout, "dropout", name)
    check_rate(config.attention_dropout, "attention_dropout", name)
    if config.positions not in POSITIONS:
        raise InvalidArgumentError(f"{name}: positions must be one of {POSITIONS}, got {config.positions!r}")
    if config.vocab_size is not None:
        check_widths(config.vocab_size, "vocab_size", name)


def _build_transformer(config: TransformerConfig, *, name, num_classes, input_shape, include_top, pooling,
                       classifier_activation):
    """Embed (tokens) or project (features), add positions, encode with masked attention, pool."""
    _check(config, name)
    shape = tuple(input_shape)
    if len(shape) != 2:
        raise InvalidArgumentError(f"{name} takes sequences [time, features], got input_shape={shape}")
    time = shape[0]
    if config.positions == "learned" and time is not None and time > config.max_length:
        raise InvalidArgumentError(
            f"{name}: input_shape={shape} has {time} steps, more than max_length={config.max_length} learned "
            "positions; raise max_length or use positions='sinusoidal'"
        )

    if config.vocab_size is not None:
        if shape[1] not in (1, None):
            raise InvalidArgumentError(
                f"{name} with vocab_size takes int tokens [batch, time]: ask for it with input_shape=(time, 1), "
                f"got input_shape={shape}"
            )
        inputs = keras.Input(shape=(time,), dtype="int32", name="input_layer")
    else:
        inputs = sequence_input(shape, name)
    mask = None if config.mask_value is None else PaddingMask(config.mask_value, name="padding_mask")(inputs)

    if config.vocab_size is not None:
        x = layers.Embedding(config.vocab_size, config.dim, name="token_embedding")(inputs)
        x = layers.Rescaling(math.sqrt(config.dim), name="embedding_scale")(x)
    else:
        x = layers.Dense(config.dim, name="input_projection")(inputs)
    if config.positions == "sinusoidal":
        x = SinusoidalPositionEmbedding(name="pos_embed")(x)
    else:
        x = PositionEmbedding(length=config.max_length, name="pos_embed")(x)
    x = transformer_encoder(x, config, attention_mask=mask)  # pos_drop, encoder_block{i}, encoder_norm

    features = None
    if include_top:
        features = MaskedGlobalPooling1D("avg", name="avg_pool")(x, mask=mask)
        if config.dropout:
            features = layers.Dropout(config.dropout, name="head_dropout")(features)
    outputs = sequence_head(x, mask, num_classes=num_classes, include_top=include_top, pooling=pooling,
                            classifier_activation=classifier_activation, features=features)
    return keras.Model(inputs, outputs, name=name)


register_variants(VARIANTS, CARDS, _build_transformer)
