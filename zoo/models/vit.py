"""Vision Transformer (ViT).

Dosovitskiy et al. (2021). An Image is Worth 16x16 Words: Transformers for Image Recognition at
Scale. ICLR 2021. arXiv:2010.11929. Table 1 gives ViT-Base and ViT-Large (the "/16" models cut
16x16 patches); the Tiny and Small sizes are those of DeiT (Touvron et al. 2021, Table 1), with
the same architecture. As timm's `vit_*_patch16_224` (class-token head, no pre-logits layer):

    patch_embed     16x16 conv, stride 16, to D                 -> [b, (h/16)(w/16), D]
    cls_token       prepend the learned class token             -> [b, N + 1, D]
    pos_embed       add learned positions (sized at build)
    encoder_block{i}  depth x pre-norm blocks (MHSA, MLP with GELU)
    encoder_norm    LayerNorm (epsilon 1e-6)
    predictions     Dense on the class token

| model     | D (dim) | depth | heads | MLP size | params (224, 1000 classes) |
| --------- | ------- | ----- | ----- | -------- | -------------------------- |
| vit_ti16  |   192   |  12   |   3   |    768   |   5,717,416                |
| vit_s16   |   384   |  12   |   6   |   1536   |  22,050,664                |
| vit_b16   |   768   |  12   |  12   |   3072   |  86,567,656                |
| vit_l16   |  1024   |  24   |  16   |   4096   | 304,326,632                |

Any input size >= the patch size builds: the positions are sized at build for that many patches
(a weight file saved at one input size therefore loads only into models of the same patch grid).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from layers.transformer import ClassToken, PatchEmbedding, PositionEmbedding
from zoo.errors import InvalidArgumentError
from zoo.models._common import Counts, global_pool, image_card, image_input, predictions, register_variants
from zoo.models._common import transformer_encoder
from zoo.recipes import Recipe


@dataclass(frozen=True)
class ViTConfig:
    """One ViT size. `dropout` is applied after the position embedding and inside every block."""

    dim: int
    depth: int
    num_heads: int
    mlp_dim: int
    patch_size: int = 16
    dropout: float = 0.0
    attention_dropout: float = 0.0
    layer_norm_epsilon: float = 1e-6


VARIANTS = {
    "vit_ti16": ViTConfig(dim=192, depth=12, num_heads=3, mlp_dim=768),
    "vit_s16": ViTConfig(dim=384, depth=12, num_heads=6, mlp_dim=1536),
    "vit_b16": ViTConfig(dim=768, depth=12, num_heads=12, mlp_dim=3072),
    "vit_l16": ViTConfig(dim=1024, depth=24, num_heads=16, mlp_dim=4096),
}

_VIT = (
    "Dosovitskiy et al. (2021). An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale. "
    "ICLR 2021. arXiv:2010.11929"
)
_DEIT = (
    "Touvron et al. (2021). Training data-efficient image transformers & distillation through attention. "
    "ICML 2021. arXiv:2012.12877 (the Ti/S sizes; architecture: " + _VIT + ")"
)

# name: (params at 224x224x3 and 1000 classes, reference, timm model, size name)
_CARD_TABLE = {
    "vit_ti16": (5_717_416, _DEIT, "vit_tiny_patch16_224", "ViT-Ti/16"),
    "vit_s16": (22_050_664, _DEIT, "vit_small_patch16_224", "ViT-S/16"),
    "vit_b16": (86_567_656, _VIT, "vit_base_patch16_224", "ViT-B/16"),
    "vit_l16": (304_326_632, _VIT, "vit_large_patch16_224", "ViT-L/16"),
}

# Training recipe (Dosovitskiy et al. 2021 section 4.1 and table 3, ImageNet from scratch): Adam (beta 0.9,
# 0.999) with weight decay 0.3, batch 4096, lr 3e-3 with linear decay, 300 epochs.
RECIPE = Recipe(
    source="Dosovitskiy et al. 2021 §4.1, table 3",
    optimizer="adamw", learning_rate=3e-3, schedule="linear",
    epochs=300, batch_size=4096, weight_decay=0.3, augment=("random_crop", "horizontal_flip"), keep="best_validation",
    notes="the 10k-step linear warm-up is left out",
)

CARDS = {
    name: image_card(
        name,
        Counts(params, params, f"timm.models.{timm_name}", params, "trainable"),
        family="vit",
        reference=reference,
        min_input_size=VARIANTS[name].patch_size,
        recipe=RECIPE,
        description=(
            f"{size} vision transformer (D={VARIANTS[name].dim}, depth {VARIANTS[name].depth}, "
            f"{VARIANTS[name].num_heads} heads), class-token head"
        ),
        extra={"patch_size": VARIANTS[name].patch_size, "tokens_at_224": (224 // VARIANTS[name].patch_size) ** 2 + 1},
    )
    for name, (params, reference, timm_name, size) in _CARD_TABLE.items()
}


def _build_vit(config: ViTConfig, *, name, num_classes, input_shape, include_top, pooling, classifier_activation):
    """ViT as a functional model.

    Output: with the head, [batch, num_classes] from the class token; without it, the normalized
    tokens [batch, 1 + patches, dim] (pooling=None), or their mean / max over tokens ("avg"/"max").
    """
    if any(d is None for d in input_shape[:-1]):
        raise InvalidArgumentError(
            f"{name} needs a known input size (its position embedding has one entry per patch), "
            f"got input_shape={tuple(input_shape)}; pass e.g. (224, 224, 3)"
        )
    small = [d for d in input_shape[:-1] if d < config.patch_size]
    if small:
        raise InvalidArgumentError(
            f"{name} with patch_size={config.patch_size} needs spatial sizes >= {config.patch_size}, "
            f"got input_shape={tuple(input_shape)}"
        )
    if config.dim % config.num_heads:
        raise InvalidArgumentError(
            f"{name}: dim={config.dim} must be divisible by num_heads={config.num_heads} (each head has dim // num_heads)"
        )
    inputs = image_input(input_shape)
    x = PatchEmbedding(config.dim, config.patch_size, name="patch_embed")(inputs)
    x = ClassToken(name="cls_token")(x)
    x = PositionEmbedding(name="pos_embed")(x)
    x = transformer_encoder(x, config)  # pos_drop, encoder_block0 ... encoder_block{depth - 1}, encoder_norm
    if include_top:
        x = x[:, 0]  # the class token
        x = predictions(x, num_classes, classifier_activation)
    else:
        x = global_pool(x, pooling, rank=1)
    return keras.Model(inputs, x, name=name)


register_variants(VARIANTS, CARDS, _build_vit)
