"""Preprocessing inside a model, set from the training data before `zoo.fit` trains it.

A model may carry its input preprocessing as layers with statistics of the training set (the
recurrent models' `SeriesStandardization`; `PadToLength`, the training set's longest length), so
that the exported model takes the raw inputs a client has. `adapt(model, train)` sets the
statistics of every such layer that has never been adapted, from one pass over the training
batches; a layer already adapted (a model trained before, restored or loaded) is left as it is, so
training again never changes what its weights were trained on.
"""

from __future__ import annotations

import keras

from layers.sequence import PadToLength, SeriesStandardization
from zoo.errors import InvalidArgumentError
from zoo.training.data import TrainingData


ADAPTED_LAYERS = (SeriesStandardization, PadToLength)


def _unadapted(model: keras.Model) -> list:
    return [layer for layer in model._flatten_layers(include_self=False)
            if isinstance(layer, ADAPTED_LAYERS) and not layer.adapted]


def _what_was_set(layer) -> str:
    if isinstance(layer, PadToLength):
        return f"every series padded to {int(keras.ops.convert_to_numpy(layer.length))} steps, the training set's longest"
    return (f"standardized {layer.mean.shape[0]} channel(s) with the mean and std of "
            f"{int(keras.ops.convert_to_numpy(layer.count))} training steps")


def _reads_the_input(layer, model: keras.Model) -> bool:
    inputs = layer.input  # [inputs, mask] when the layer is called with its mask
    first = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
    return len(model.inputs) == 1 and first is model.inputs[0]


def adapt(model: keras.Model, train: TrainingData, *, verbose: int = 0) -> list[str]:
    """Adapt the model's never-adapted preprocessing layers to `train`; returns their names.

    The layers must read the model's (only) input: their statistics come from the input batches
    as they are fed to the model.
    """
    layers = _unadapted(model)
    if not layers:
        return []
    if not all(_reads_the_input(layer, model) for layer in layers):
        names = ", ".join(layer.name for layer in layers)
        raise InvalidArgumentError(
            f"cannot set the statistics of {names}: zoo.fit adapts a {type(layers[0]).__name__} only on a "
            "single-input model's input; call its adapt(batches) yourself before training")
    for layer in layers:  # one streamed pass over the batches per layer: the data is never held whole
        try:
            layer.adapt(x for x, *_ in train.make(0).as_numpy_iterator())
        except ValueError as error:  # e.g. dict inputs, or no real step
            raise InvalidArgumentError(f"cannot set the statistics of {layer.name}: {error}") from None
        if verbose:
            print(f"{layer.name}: {_what_was_set(layer)}", flush=True)
    return [layer.name for layer in layers]
