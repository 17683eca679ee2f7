"""A whole training job from names and paths: what `zoo train` runs (one worker of it, in a cluster)."""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field

import numpy as np

from zoo.errors import InvalidArgumentError
from zoo.training.data import read_arrays


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


@dataclass
class JobData:
    """What a path holds, ready for `zoo.build` and `zoo.fit`.

    Attributes:
        train / validation: `zoo.fit` data (arrays tuple, tf.data.Dataset or an image folder's path,
            which `zoo.fit` streams) and optional validation.
        num_classes: from the labels (image folders: the number of class sub-folders).
        input_shape: for `zoo.build` (arrays of images (h, w, c), series (None, channels), graphs
            (features,)); None for image folders: the card's default, or `zoo train --image-size`.
        overrides: architecture options the data implies (graphs: task "node" or "graph").
        class_names: the name of each class index, when the data names them (image folders:
            the sub-folder names; `.ts` files: the class labels), else None.
    """

    train: object
    validation: object = None
    num_classes: int | None = None
    input_shape: tuple | None = None
    overrides: dict = field(default_factory=dict)
    class_names: tuple | None = None


def is_planetoid(path: str) -> bool:
    if not path.endswith(".npz") or not os.path.isfile(path):
        return False
    with np.load(path) as archive:
        return {"features", "edge_index", "train_index"} <= set(archive.files)


def load_job_data(path: str, *, validation: str | None = None, image_size=None, batch_size: int = 32,
                  seed: int = 0) -> JobData:
    """Read `path`: an image folder, a `.npz` of arrays (x, y), a `.ts` time-series file, a Planetoid
    `.npz` graph (node classification on its train split, validated on its val split), or a GIN
    text file or folder (graph classification)."""
    from zoo import data as zoo_data

    if not os.path.exists(path):
        raise FileNotFoundError(f"training data not found: {path!r}")
    if path.endswith(".ts"):
        series = zoo_data.load_ts(path)
        x, _ = zoo_data.pad_sequences(series.series)
        job = JobData((x, series.labels), num_classes=len(series.class_names), input_shape=(None, x.shape[-1]),
                      class_names=tuple(series.class_names) or None)
        if validation:
            test = zoo_data.load_ts(validation, class_names=series.class_names)
            job.validation = (zoo_data.pad_sequences(test.series)[0], test.labels)
        return job
    if is_planetoid(path):
        graph = zoo_data.load_planetoid(path)
        return JobData(graph.dataset("train"), graph.dataset("val"), graph.num_classes, (graph.num_features,),
                       {"task": "node"})
    if path.endswith(".txt") or (os.path.isdir(path) and _gin_folder(path)):
        graphs = zoo_data.load_gin_text(path)
        return JobData(graphs.dataset(batch_size=batch_size, shuffle=True, seed=seed), None, graphs.num_classes,
                       (graphs.num_features,), {"task": "graph"})
    if os.path.isdir(path):  # streamed by zoo.fit at the model's input size (zoo.training.image_folders)
        from zoo.data.images import list_image_folder

        class_names = tuple(list_image_folder(path)[2])
        return JobData(path, validation, num_classes=len(class_names), class_names=class_names)
    x, y = read_arrays(path)
    job = JobData((x, y), num_classes=int(np.max(y)) + 1, input_shape=tuple(np.shape(x)[1:]))
    if validation:
        job.validation = load_job_data(validation, image_size=image_size).train
    return job


def _gin_folder(path: str) -> bool:
    name = os.path.basename(os.path.normpath(path))
    return os.path.isfile(os.path.join(path, f"{name}.txt"))


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

    The number of classes and the input shape default to the data's; class names the data has
    (image sub-folders, `.ts` labels) go with the model, into a `.keras` output and its export.
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
    job = load_job_data(data, validation=validation_data, image_size=image_size,
                        batch_size=fit_kwargs.get("batch_size", 32), seed=fit_kwargs.get("seed", 0))
    classes = num_classes or job.num_classes
    names = job.class_names if job.class_names and len(job.class_names) == classes else None
    input_shape = job.input_shape
    if image_size and os.path.isdir(data):  # a folder is resized to the model's input: --image-size, the card's channels
        input_shape = (*image_size, zoo.card(model_name).input_shape[-1])
    model = zoo.build(model_name, num_classes=classes, input_shape=input_shape, weights=weights,
                      class_names=names, **{**job.overrides, **(overrides or {})})
    history = fit(model, job.train, validation_data=job.validation, strategy=strategy, **fit_kwargs)
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
