"""Model cards: what a registered model is, as data.

A card travels with every registered name. It says what the model is for and what it expects,
and carries the reference numbers the test suite checks the implementation against.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from zoo.recipes import Recipe

TASKS = ("image", "sequence", "graph")


@dataclass(frozen=True)
class PretrainedWeights:
    """One set of published weights, with the metadata needed to use it.

    Attributes:
        url: where the full model's weight file is downloaded from.
        file_hash: its md5 or sha256 (checked by `keras.utils.get_file`).
        notop_url / notop_file_hash: the same without the classification head.
        num_classes: classes of the head the weights were trained with (1000 for ImageNet).
        preprocessing: how inputs are normalized for these weights: one of "caffe", "torch", "tf"
            (the modes of `keras.applications.imagenet_utils.preprocess_input`).
        source: who published them.
    """

    url: str
    file_hash: str
    notop_url: str | None = None
    notop_file_hash: str | None = None
    num_classes: int = 1000
    preprocessing: str = "caffe"
    source: str = "keras.applications"


@dataclass(frozen=True)
class ModelCard:
    """What a registered model is.

    Attributes:
        name: the registered name, e.g. "densenet121".
        family: the architecture family, e.g. "densenet".
        task: "image", "sequence" or "graph".
        input_shape: default input shape, without the batch axis, e.g. (224, 224, 3).
        min_input_size: smallest spatial size (per spatial axis) the architecture accepts.
        num_classes: default number of classes of the head.
        params: total parameter count of the zoo model at its default input shape and num_classes
            (asserted by the test suite).
        trainable_params: the trainable part of `params` (batch-norm moving statistics are not).
        reference: the paper, as "Authors (year). Title." with a link.
        reference_impl: the implementation whose parameter count is quoted, if any.
        reference_params: that implementation's parameter count at the same configuration.
        reference_counts: what `reference_params` counts: "total" (Keras' count_params) or
            "trainable" (PyTorch's `parameters()`, which leaves out batch-norm running statistics).
        keras_application: name of the weight-compatible `keras.applications` model, if any.
        head_layers: names of the layers that make the classification head (not loaded from a
            weight file when the number of classes differs).
        pretrained: published weights by tag, e.g. {"imagenet": PretrainedWeights(...)}.
        description: one line for `zoo list`.
        extra: family-specific facts (e.g. a receptive field), shown by `zoo info`.
        recipe: the default training recipe (`zoo.recipes.Recipe`): what `zoo.fit` and `zoo train`
            use for every argument the user does not pass. Every registered family has one.
    """

    name: str
    family: str
    task: str
    input_shape: tuple
    params: int | None = None
    trainable_params: int | None = None
    min_input_size: int | None = None
    num_classes: int = 1000
    reference: str = ""
    reference_impl: str | None = None
    reference_params: int | None = None
    reference_counts: str = "total"
    keras_application: str | None = None
    head_layers: tuple[str, ...] = ("predictions",)
    pretrained: dict[str, PretrainedWeights] = field(default_factory=dict)
    description: str = ""
    extra: dict = field(default_factory=dict)
    recipe: Recipe | None = None

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"ModelCard {self.name!r}: task must be one of {TASKS}, got {self.task!r}")

    def replace(self, **changes) -> "ModelCard":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """The card as plain JSON-able data (for `zoo info --json` and export)."""
        data = dataclasses.asdict(self)
        data["input_shape"] = list(self.input_shape)
        data["head_layers"] = list(self.head_layers)
        data["recipe"] = None if self.recipe is None else self.recipe.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "ModelCard":
        """The card `to_dict` gave (e.g. read back from a saved model's JSON config, where tuples
        became lists: sequences in a card are tuples, so lists become tuples again). Unknown keys
        are left out, so cards saved by a later version with more fields still load."""
        known = {f.name for f in dataclasses.fields(cls)}
        fields = {k: v for k, v in data.items() if k in known}
        fields["extra"] = _tuples(fields.get("extra") or {})
        fields["input_shape"] = tuple(fields["input_shape"])
        if "head_layers" in fields:
            fields["head_layers"] = tuple(fields["head_layers"])
        weights_fields = {f.name for f in dataclasses.fields(PretrainedWeights)}
        fields["pretrained"] = {
            tag: w if isinstance(w, PretrainedWeights) else PretrainedWeights(**{k: v for k, v in w.items()
                                                                                  if k in weights_fields})
            for tag, w in (fields.get("pretrained") or {}).items()
        }
        if isinstance(fields.get("recipe"), dict):
            fields["recipe"] = Recipe.from_dict(fields["recipe"])
        return cls(**fields)


def _tuples(value):
    """`value` with every list (at any depth) turned into a tuple."""
    if isinstance(value, (list, tuple)):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value
