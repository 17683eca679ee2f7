"""Turning what a user passes to `zoo.fit` into batched tf.data pipelines, one per epoch.

Accepted training data:
- a `tf.data.Dataset` yielding batches `(inputs, labels)` (used as given: batch it yourself);
- a tuple `(x, y)` of numpy arrays (x may be a dict of arrays, e.g. a graph or multi-input batch);
- a path to a `.npz` file with arrays `x` and `y` (or `images` and `labels`);
- an image folder bound to a model (`zoo.training.image_folders`: `zoo.fit` and `zoo.evaluate`
  bind a folder path), streamed from its files.
Arrays and files are shuffled per epoch with a fixed seed, so a resumed run sees the same
order as the original one and can skip the batches already trained on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import numpy as np
import tensorflow as tf

from zoo.errors import InvalidArgumentError


@dataclass
class TrainingData:
    """Batched data for one epoch at a time.

    Attributes:
        make: `make(epoch) -> tf.data.Dataset` of `(inputs, labels)` batches in that epoch's order.
        num_examples: examples per epoch, when known.
        batch_size: the global batch size the data is batched with (None when the user batched it).
    """

    make: Callable[[int], tf.data.Dataset]
    num_examples: int | None
    batch_size: int | None

    @property
    def steps_per_epoch(self) -> int | None:
        if self.num_examples is None or self.batch_size is None:
            return None
        return -(-self.num_examples // self.batch_size)


def as_training_data(data, *, batch_size: int, shuffle: bool = True, seed: int = 0, name: str = "data") -> TrainingData:
    """Wrap `data` (see module docstring) as TrainingData; raises a clear error for bad data."""
    if isinstance(data, tf.data.Dataset):
        return TrainingData(make=lambda epoch: data, num_examples=None, batch_size=None)
    if hasattr(data, "training_data"):  # an image folder bound to a model (zoo.training.image_folders.bind)
        return data.training_data(batch_size=batch_size, shuffle=shuffle, seed=seed)
    if isinstance(data, (str, os.PathLike)):
        return as_training_data(read_arrays(os.fspath(data)), batch_size=batch_size, shuffle=shuffle, seed=seed, name=name)
    if isinstance(data, tuple) and len(data) == 2:
        x, y = data
        return _from_arrays(x, y, batch_size=batch_size, shuffle=shuffle, seed=seed, name=name)
    raise InvalidArgumentError(
        f"{name} must be a tf.data.Dataset of (inputs, labels) batches, a tuple (x, y) of arrays, or a path to an "
        f"image folder or .npz file; got {type(data).__name__}"
    )


def _from_arrays(x, y, *, batch_size, shuffle, seed, name) -> TrainingData:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidArgumentError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    x = {k: np.asarray(v) for k, v in x.items()} if isinstance(x, dict) else np.asarray(x)
    y = np.asarray(y)
    lengths = {k: len(v) for k, v in x.items()} if isinstance(x, dict) else {"x": len(x)}
    if any(n != len(y) for n in lengths.values()):
        raise InvalidArgumentError(f"{name}: inputs and labels differ in length: {lengths} vs {len(y)} labels")
    if len(y) == 0:
        raise InvalidArgumentError(f"{name} is empty")
    n = len(y)

    def make(epoch: int) -> tf.data.Dataset:
        order = np.random.default_rng([seed, epoch]).permutation(n) if shuffle else np.arange(n)
        xs = {k: v[order] for k, v in x.items()} if isinstance(x, dict) else x[order]
        return tf.data.Dataset.from_tensor_slices((xs, y[order])).batch(batch_size).prefetch(tf.data.AUTOTUNE)

    return TrainingData(make=make, num_examples=n, batch_size=batch_size)


def read_arrays(path: str):
    """(x, y) arrays from a `.npz` file (`x`/`y`, `images`/`labels` or `x_train`/`y_train`)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"training data not found: {path!r}")
    if os.path.isdir(path):
        raise InvalidArgumentError(f"{path!r} is a folder: an image folder is streamed at a model's input size, "
                                   "so pass it to zoo.fit or zoo.evaluate rather than reading it into arrays")
    if path.endswith(".npz"):
        with np.load(path) as archive:
            keys = set(archive.files)
            for x_key, y_key in (("x", "y"), ("images", "labels"), ("x_train", "y_train")):
                if {x_key, y_key} <= keys:
                    return archive[x_key], archive[y_key]
        raise InvalidArgumentError(f"{path!r} has arrays {sorted(keys)}; expected 'x' and 'y' (or 'images' and 'labels')")
    raise InvalidArgumentError(f"cannot read training data from {path!r}: expected an image folder or a .npz file")


def check_labels(labels: np.ndarray, num_classes: int, name: str = "labels") -> None:
    """Raise if integer class labels fall outside 0..num_classes-1."""
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels[(labels < 0) | (labels >= num_classes)]
        raise InvalidArgumentError(
            f"{name} out of range: the model has {num_classes} classes (labels 0..{num_classes - 1}) "
            f"but the data has label(s) {sorted(set(bad.tolist()))[:10]}"
        )
