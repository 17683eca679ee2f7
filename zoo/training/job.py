"""A whole training job from names and paths: what `zoo train` runs (one worker of it, in a cluster)."""

from __future__ import annotations

import ast
import os

import numpy as np

from zoo.errors import InvalidArgumentError


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


def load_arrays(path: str, image_size: tuple[int, int] | None = None):
    """(x, y) from an image folder or a .npz file."""
    from zoo.training.data import _read_path

    if os.path.isdir(path) and image_size is not None:
        from zoo.data.images import read_image_folder

        return read_image_folder(path, image_size=image_size)
    return _read_path(path)


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

    The number of classes and the input shape default to the data's. Returns (model, history).
    """
    import zoo
    from zoo.training import fit, is_chief, resolve_strategy

    import keras

    keras.utils.set_random_seed(fit_kwargs.get("seed", 0))  # every worker builds the same initial weights
    x, y = load_arrays(data, image_size)
    num_classes = num_classes or int(np.max(y)) + 1
    input_shape = tuple(np.shape(x)[1:]) if not isinstance(x, dict) else None
    strategy = resolve_strategy(fit_kwargs.pop("strategy", "auto"))
    model = zoo.build(model_name, num_classes=num_classes, input_shape=input_shape, weights=weights, **(overrides or {}))
    validation = load_arrays(validation_data, image_size) if validation_data else None
    history = fit(model, (x, y), validation_data=validation, strategy=strategy, **fit_kwargs)
    if output:
        save_model(model, output, chief=is_chief(strategy))
    return model, history


def save_model(model, output: str, *, chief: bool = True) -> None:
    """Save to `output`: a `.keras` archive, or weights only for `.weights.h5`."""
    folder = os.path.dirname(os.path.abspath(output))
    os.makedirs(folder, exist_ok=True)
    if output.endswith(".weights.h5"):
        model.save_weights(output)
    elif output.endswith(".keras"):
        model.save(output)
    else:
        raise InvalidArgumentError(f"--output must end in .keras or .weights.h5, got {output!r}")
    print(f"saved {'(worker copy) ' if not chief else ''}{output}", flush=True)
