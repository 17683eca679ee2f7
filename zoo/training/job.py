"""A whole training job from names and paths: what `zoo train` runs (one worker of it, in a cluster)."""

from __future__ import annotations

import ast
import os

from zoo.errors import InvalidArgumentError
from zoo.training.edge_features import build_options as edge_feature_options
from zoo.training.sources import read_source


def parse_overrides(pairs: list[str] | None) -> dict:
    """["dropout=0", "hidden=(64,)", "task=graph"] -> {"dropout": 0, "hidden": (64,), "task": "graph"}."""
    overrides = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise InvalidArgumentError(f"--set takes KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        try:
            overrides[key.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            overrides[key.strip()] = value  # a plain string
    return overrides


def train_job(
    model_name: str,
    data: str,
    *,
    validation_data: str | None = None,
    num_classes: int | None = None,
    image_size: tuple[int, int] | None = None,
    weights: str | None = None,
    overrides: dict | None = None,
    output: str | None = None,
    **fit_kwargs,
):
    """Build `model_name` for the data at `data`, train it with `zoo.fit`, save it to `output`.

    `data` and `validation_data` are paths of any kind `zoo.training.sources` reads (image folder,
    `.npz`, `.ts`, Planetoid `.npz`, GIN text file or folder, TU data set folder); `validation_data`
    is evaluated after every epoch (the history's `val_` entries), a `.ts`, GIN text or TU file
    encoded with `data`'s vocabulary (class names; node tags, edge tags and labels). The number of
    classes, the input shape, the task (graphs: node or graph) and, for models that take edge
    features (gin, mpnn: option `edge_feature_size`), the size of the edge features (0 when the
    data has none) default to the data's (`overrides` win: `edge_feature_size=0` trains without
    them); class names the data has (image sub-folders, `.ts` labels) go with the model, into a `.keras` output and its export. An image
    folder is streamed by `zoo.fit` at the model's input size: `image_size` (with the card's
    channels), or the card's default input shape.
    Returns (model, history).
    """
    import zoo
    from zoo.training import fit, is_chief, resolve_strategy

    import keras

    if output:
        check_output(output)  # before training, not after
    # The strategy first: MultiWorkerMirroredStrategy must configure collective ops before any
    # TensorFlow op runs, and reading graph data (tf.data pipelines) runs some.
    strategy = resolve_strategy(fit_kwargs.pop("strategy", "auto"))
    keras.utils.set_random_seed(fit_kwargs.get("seed", 0))  # every worker builds the same initial weights
    source = read_source(data)
    validation = source.validation
    if validation_data:
        validation = read_source(validation_data, name="validation_data", training=source)
    classes = num_classes or source.num_classes
    names = source.class_names if source.class_names and len(source.class_names) == classes else None
    input_shape = source.input_shape
    if source.kind == "images" and image_size:  # a folder is resized to the model: --image-size, the card's channels
        input_shape = (*image_size, zoo.card(model_name).input_shape[-1])
    implied = {**source.overrides, **edge_feature_options(zoo.card(model_name), source)}
    model = zoo.build(model_name, num_classes=classes, input_shape=input_shape, weights=weights,
                      class_names=names, **{**implied, **(overrides or {})})
    history = fit(model, source, validation_data=validation, strategy=strategy, **fit_kwargs)
    if output:
        save_model(model, output, chief=is_chief(strategy))
    return model, history


def check_output(output: str) -> None:
    if not output.endswith((".weights.h5", ".keras")):
        raise InvalidArgumentError(f"--output must end in .keras or .weights.h5, got {output!r}")


def save_model(model, output: str, *, chief: bool = True) -> None:
    """Save to `output`: a `.keras` archive, or weights only for `.weights.h5`.

    The file is written beside `output` under a temporary name and renamed, so workers of one job
    saving to the same path on shared storage (their weights are identical) never leave a torn file.
    """
    check_output(output)
    folder, name = os.path.split(os.path.abspath(output))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".tmp-{os.getpid()}-{name}")  # keeps the suffix Keras checks
    try:
        model.save_weights(tmp) if name.endswith(".weights.h5") else model.save(tmp)
        os.replace(tmp, output)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    print(f"saved {'(worker copy) ' if not chief else ''}{output}", flush=True)
