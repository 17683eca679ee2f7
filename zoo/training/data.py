"""Batched training data, one tf.data pipeline per epoch (what `zoo.training.sources` reads data into)."""

from __future__ import annotations

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


def check_batch_size(batch_size) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidArgumentError(f"batch_size must be an integer >= 1, got {batch_size!r}")


def arrays_training_data(x, y: np.ndarray, *, batch_size: int, shuffle: bool, seed: int) -> TrainingData:
    """Examples `x` (an array [n, ...] or a dict of them) with labels `y` [n, ...], in batches.

    Shuffled per epoch with a fixed seed: the order of epoch e depends only on (seed, e).
    """
    check_batch_size(batch_size)
    n = len(y)

    def make(epoch: int) -> tf.data.Dataset:
        order = np.random.default_rng([seed, epoch]).permutation(n) if shuffle else np.arange(n)
        xs = {k: v[order] for k, v in x.items()} if isinstance(x, dict) else x[order]
        return tf.data.Dataset.from_tensor_slices((xs, y[order])).batch(batch_size).prefetch(tf.data.AUTOTUNE)

    return TrainingData(make=make, num_examples=n, batch_size=batch_size)


def check_labels(labels: np.ndarray, num_classes: int, name: str = "labels") -> None:
    """Raise if integer class labels fall outside 0..num_classes-1."""
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels[(labels < 0) | (labels >= num_classes)]
        raise InvalidArgumentError(
            f"{name} out of range: the model has {num_classes} classes (labels 0..{num_classes - 1}) "
            f"but the data has label(s) {sorted(set(bad.tolist()))[:10]}"
        )
