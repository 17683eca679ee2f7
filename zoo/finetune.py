"""Fine-tuning helpers: freeze a backbone, unfreeze it in stages, find the head.

In Keras 3 a BatchNormalization layer with `trainable=False` runs in inference mode (it uses
and keeps its moving statistics), so a frozen backbone's batch norm stays in inference mode
while frozen and goes back to batch statistics when unfrozen.
"""

from __future__ import annotations

import keras

from zoo.errors import InvalidArgumentError


def head_layer_names(model: keras.Model) -> tuple[str, ...]:
    """Names of the head's layers: from the model's zoo card, else the model's last layer."""
    card = getattr(model, "zoo_card", None)
    names = tuple(n for n in (card.head_layers if card else ()) if _has_layer(model, n))
    return names or (model.layers[-1].name,)


def _has_layer(model, name) -> bool:
    return any(layer.name == name for layer in model.layers)


def _weighted_layers(model: keras.Model) -> list:
    return [layer for layer in model.layers if layer.weights]


def freeze(model: keras.Model, until: str | float = "head") -> list[str]:
    """Freeze the first layers of `model`; return the names of the top-level layers frozen.

    Args:
        until: "head" freezes everything but the head; a layer name freezes every top-level
            layer up to and including it (a name inside a block freezes up to that block); a
            float in (0, 1] freezes that fraction of the layers that have weights.

    Layers after the frozen ones are made trainable, so calling `freeze` again with a later or
    earlier point re-stages the fine-tuning.
    """
    layers = _weighted_layers(model)
    if until == "head":
        head = set(head_layer_names(model))
        cut = next((i for i, layer in enumerate(layers) if layer.name in head), len(layers))
    elif isinstance(until, float) and not isinstance(until, bool):
        if not 0.0 < until <= 1.0:
            raise InvalidArgumentError(f"a fraction to freeze must be in (0, 1], got {until}")
        cut = round(until * len(layers))
    elif isinstance(until, str):
        cut = _index_of(model, layers, until) + 1
    else:
        raise InvalidArgumentError(f"until must be 'head', a layer name or a fraction, got {until!r}")
    for i, layer in enumerate(layers):
        layer.trainable = i >= cut
    return [layer.name for layer in layers[:cut]]


def unfreeze(model: keras.Model) -> None:
    """Make every layer trainable again."""
    for layer in model.layers:
        layer.trainable = True


def _index_of(model, layers, name: str) -> int:
    for i, layer in enumerate(layers):
        if layer.name == name or any(sub.name == name for sub in layer._flatten_layers(include_self=False)):
            return i
    names = [layer.name for layer in layers]
    raise InvalidArgumentError(
        f"model {model.name!r} has no layer {name!r} with weights; its layers are: {', '.join(names[:12])}"
        + (" ..." if len(names) > 12 else "")
    )


def reset_head(model: keras.Model) -> list[str]:
    """Give the head's layers fresh initial weights (for a new task with the same number of classes).

    Returns the names of the layers reset. Their initializers come from each layer's config, so
    the new weights are distributed as a freshly built head's are.
    """
    reset = []
    for name in head_layer_names(model):
        layer = model.get_layer(name)
        if not layer.weights:
            continue
        fresh = layer.__class__.from_config(layer.get_config())
        fresh.build(layer.input.shape)
        layer.set_weights(fresh.get_weights())
        reset.append(name)
    return reset
