"""A graph model's `edge_features` input against the data's edge features, before training.

`zoo train` builds `gin` / `mpnn` (the models whose card lists an `edge_features` input, and so
take the option `edge_feature_size`) with the data's D (`build_options`). A model given to
`zoo.fit` / `zoo.evaluate` is checked against the data instead (`match`):

| model                       | data                 | result                                                  |
| --------------------------- | -------------------- | ------------------------------------------------------- |
| no `edge_features` input    | edge features [E, D] | one warning: they are left out of the batches; build    |
|                             |                      | the model with edge_feature_size=D to use them          |
| `edge_features` [E, D_m]    | none                 | InvalidArgumentError: build with edge_feature_size=0    |
| `edge_features` [E, D_m]    | [E, D], D != D_m     | InvalidArgumentError: build with edge_feature_size=D    |

(Keras itself would pass the extra key to the wrong input, or fail on the missing one, with a
message about shapes.)
"""

from __future__ import annotations

import logging
from dataclasses import replace

from zoo.errors import InvalidArgumentError
from zoo.training.data import TrainingData
from zoo.training.sources import DataSource

log = logging.getLogger("zoo.training")

EDGE_FEATURES = "edge_features"
OPTION = "edge_feature_size"


def takes_edge_features(card) -> bool:
    """Whether the registered model of `card` has the option `edge_feature_size` (its card lists an
    `edge_features` input)."""
    return EDGE_FEATURES in (card.extra or {}).get("inputs", {})


def models_with_edge_features() -> list[str]:
    """The registered graph models that take edge features (from the card index: no model is built)."""
    from zoo import registry

    return [name for name in registry.list_models(task="graph") if takes_edge_features(registry.card(name))]


def build_options(card, source: DataSource) -> dict:
    """`{"edge_feature_size": D}` of the data for a model that takes edge features, else {}."""
    if source.edge_feature_size is None or not takes_edge_features(card):
        return {}
    return {OPTION: source.edge_feature_size}


def graph_model_inputs(model) -> dict | None:
    """The input dict of a functional graph model (with `node_features`), else None."""
    try:
        inputs = model.input  # a functional model's input structure: a dict for the graph models
    except (AttributeError, ValueError):  # a model never called
        return None
    return inputs if isinstance(inputs, dict) and "node_features" in inputs else None


def match(model, source: DataSource, name: str = "data", *, warn: bool = True) -> DataSource:
    """`source`, checked against the model's edge input (see the module doc); when the model has none
    and the data has edge features, a source whose batches leave them out (with one warning, unless
    `warn` is False: the validation data of a fit whose training data has warned). Models that are
    not graph models, and data that does not say (`source.edge_feature_size` None), pass as they are."""
    inputs, given = graph_model_inputs(model), source.edge_feature_size
    if inputs is None or given is None:
        return source
    edges = inputs.get(EDGE_FEATURES)
    wanted = 0 if edges is None else edges.shape[-1]  # None: an edge input of any size
    if wanted == given or (wanted is None and given):
        return source
    model_name = getattr(model, "name", "the model")
    if wanted == 0:
        if warn:
            log.warning("%s has edge_features [E, %d] but the model %r has no edge_features input: they are left "
                        "out. To use them, build it with %s=%d (zoo.build(%r, ..., %s=%d); the models that take "
                        "them: %s)", name, given, model_name, OPTION, given, model_name, OPTION, given,
                        ", ".join(models_with_edge_features()))
        return _without_edge_features(source)
    if given == 0:
        raise InvalidArgumentError(
            f"the model {model_name!r} takes edge_features [E, {wanted or 'D'}] but {name} has none: build it with "
            f"{OPTION}=0 (zoo.build({model_name!r}, ..., {OPTION}=0)), or give graphs with edge_features (e.g. a TU "
            f"data set with DS_edge_labels.txt)")
    raise InvalidArgumentError(
        f"the model {model_name!r} takes edge_features of size {wanted} but {name} has edge features of size "
        f"{given}: build it with {OPTION}={given} (zoo.build({model_name!r}, ..., {OPTION}={given}))")


def _drop(batch, *rest):
    batch = {key: value for key, value in batch.items() if key != EDGE_FEATURES}
    return (batch, *rest)


def _without_edge_features(source: DataSource) -> DataSource:
    def training_data(batch_size, shuffle, seed):
        data = source.training_data(batch_size, shuffle, seed)
        stream = None if data.stream is None else (lambda first, last: data.stream(first, last).map(_drop))
        return TrainingData(lambda epoch: data.make(epoch).map(_drop), data.num_examples, data.batch_size, stream)

    return replace(source, training_data=training_data, edge_feature_size=0,
                   validation=None if source.validation is None else _without_edge_features(source.validation),
                   test=None if source.test is None else _without_edge_features(source.test))
