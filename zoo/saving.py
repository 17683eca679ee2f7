"""Zoo models that keep their card and class names through `.keras` save and load.

`zoo.build` returns a `ZooModel`: a functional `keras.Model` (the same layers, names and weights
as the family's builder made) whose config also holds its `zoo_card` (a `zoo.ModelCard`) and its
`zoo_class_names`. The class is registered with Keras, so after `import zoo`

    model.save("digits.keras")
    again = keras.models.load_model("digits.keras")      # or zoo.load_model("digits.keras")
    again.zoo_card == model.zoo_card                      # True: zoo.export knows the task again

and `zoo.export(again, ...)` writes the same signatures as exporting `model`. Without `import zoo`,
Keras cannot find the class, and its error message shows the config, whose first entry says to
`import zoo` first.
"""

from __future__ import annotations

import json
import os

import keras

from zoo.cards import ModelCard
from zoo.errors import InvalidArgumentError

LOAD_NOTE_KEY = "zoo"
LOAD_NOTE = "a zoo model: import zoo before keras.models.load_model, or use zoo.load_model"


@keras.saving.register_keras_serializable(package="zoo")
class ZooModel(keras.Model):
    """A functional model carrying its model card and class names in its config.

    Args:
        inputs, outputs, name: as for `keras.Model(inputs, outputs, name=...)`.
        zoo_card: a `zoo.ModelCard` (or its `to_dict()`), or None.
        zoo_class_names: the names of the k output classes (what `zoo.export` writes as the
            classes of `classify` when it is given none), or None.

    Input and output shapes are those of the graph from `inputs` to `outputs`.

    Example:
        >>> model = zoo.build("mlp", num_classes=3, input_shape=(8, 8, 1), class_names=["a", "b", "c"])
        >>> isinstance(model, zoo.ZooModel), model.zoo_card.task, model.zoo_class_names
        (True, 'image', ('a', 'b', 'c'))
    """

    def __init__(self, inputs, outputs, name=None, **kwargs):
        card = kwargs.pop("zoo_card", None)
        class_names = kwargs.pop("zoo_class_names", None)
        kwargs.pop(LOAD_NOTE_KEY, None)
        super().__init__(inputs, outputs, name=name, **kwargs)
        if isinstance(card, dict):
            card = ModelCard.from_dict(card)
        self.zoo_card = card
        self.zoo_class_names = None if class_names is None else tuple(str(c) for c in class_names)

    def get_config(self) -> dict:
        # JSON-able whatever a user's card holds (tuples become lists: ModelCard.from_dict restores them)
        card = None if self.zoo_card is None else json.loads(json.dumps(self.zoo_card.to_dict(), default=_plain))
        names = None if self.zoo_class_names is None else list(self.zoo_class_names)
        return {LOAD_NOTE_KEY: LOAD_NOTE, **super().get_config(), "zoo_card": card, "zoo_class_names": names}


def _plain(value):
    """A JSON value for what `json` cannot write (numpy scalars and arrays, anything else as text)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def as_zoo_model(model: keras.Model, card: ModelCard | None, class_names=None) -> keras.Model:
    """`model` as a `ZooModel` with `card` and `class_names` (same layers and weights, not copied).

    A functional model (`keras.Model(inputs, outputs)`, what the zoo's families build) becomes a
    ZooModel; a Sequential or subclassed model (a user's registered builder may return one) keeps
    its class and gets `zoo_card` / `zoo_class_names` as plain attributes, which a `.keras` file
    does not keep.
    """
    names = check_class_names(class_names, model)
    if isinstance(model, ZooModel) or type(model).__name__ != "Functional":
        model.zoo_card, model.zoo_class_names = card, names
        return model
    return ZooModel(model.input, model.output, name=model.name, trainable=model.trainable, zoo_card=card,
                    zoo_class_names=names)


def check_class_names(class_names, model) -> tuple | None:
    if class_names is None:
        return None
    names = tuple(str(c) for c in class_names)
    outputs = keras.tree.flatten(model.output)[0].shape[-1] if getattr(model, "outputs", None) else None
    expected = outputs if outputs not in (None, 1) else 2
    if len(names) != expected or len(set(names)) != len(names):
        raise InvalidArgumentError(
            f"class_names must be {expected} distinct names, one per class of the model's output "
            f"(2 for a one-unit sigmoid head); got {len(names)}: {list(names)[:12]}"
        )
    return names


def load_model(path: str | os.PathLike) -> keras.Model:
    """Load a model saved with `model.save("name.keras")`: a zoo model comes back with its card and
    class names (any other Keras model loads as `keras.models.load_model` loads it).

    Raises:
        FileNotFoundError: no file at `path`.
        InvalidArgumentError: `path` is not a `.keras` archive (e.g. a `.weights.h5` file, which
            holds weights only: build the model, then `model.load_weights(path)`).
    """
    import zoo.models  # noqa: F401  (registers the families; `layers` registers the building blocks)

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no model file at {path!r}")
    if not path.endswith(".keras"):
        raise InvalidArgumentError(
            f"zoo.load_model reads .keras archives (model.save('name.keras')); {path!r} is not one. A .weights.h5 "
            "file holds weights only: zoo.build the same model, then model.load_weights(path)"
        )
    return keras.saving.load_model(path)
