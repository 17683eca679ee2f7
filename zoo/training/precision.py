"""Mixed precision for an existing functional model: rebuild it under a dtype policy.

Layers compute in float16/bfloat16 and keep float32 variables; the head ("predictions" or the
model's last layer) stays float32 so logits, softmax and the loss are computed in float32.
"""

from __future__ import annotations

import keras

from zoo.errors import InvalidArgumentError

POLICIES = ("mixed_float16", "mixed_bfloat16")


def rebuild_with_policy(model: keras.Model, policy: str | None) -> keras.Model:
    """A copy of `model` whose layers use `policy` (None: a plain float32 copy), same weights."""
    if policy is not None and policy not in POLICIES:
        raise InvalidArgumentError(f"mixed_precision must be one of {POLICIES} or None, got {policy!r}")
    config = _layers_config(model)
    if config is None:
        if policy is None:
            return keras.models.clone_model(model)
        raise InvalidArgumentError(
            "mixed precision needs a functional or Sequential model to rebuild; for a subclassed model call "
            f"keras.config.set_dtype_policy({policy!r}) before building it"
        )
    head = model.layers[-1].name
    if policy is not None:
        for layer_config in config["layers"]:
            if layer_config["config"].get("name") != head and layer_config["class_name"] != "InputLayer":
                layer_config["config"]["dtype"] = policy
    previous = keras.config.dtype_policy()
    try:
        if policy is not None:
            keras.config.set_dtype_policy(policy)  # sub-layers created inside blocks inherit it
        copy = model.__class__.from_config(config)
    finally:
        keras.config.set_dtype_policy(previous)
    copy.set_weights(model.get_weights())
    return copy


def _layers_config(model) -> dict | None:
    """The config of a model made of a list of layer configs (functional, Sequential, `zoo.ZooModel`,
    whose card the copy keeps), else None (a subclassed model)."""
    if not isinstance(model, keras.Model):
        return None
    try:
        config = model.get_config()
    except NotImplementedError:
        return None
    return config if isinstance(config, dict) and isinstance(config.get("layers"), list) else None
