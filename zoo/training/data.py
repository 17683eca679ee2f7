"""Batched training data (what `zoo.training.sources` reads data into): one tf.data pipeline per
epoch (`TrainingData.make`), and, for data held in memory, one pipeline over many epochs
(`TrainingData.stream`), which `fit` reads with a single iterator."""

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
        stream: None, or `stream(first, last) -> tf.data.Dataset`: the batches of epochs first ..
            last - 1 one after the other, the same as make(first), make(first + 1), ..., in one
            pipeline. `fit` reads it with one iterator for all its epochs: making a dataset and its
            iterator costs 0.1-0.5 s here (tracing the batching map, tf.data's graph rewrites),
            more than an epoch of a small data set takes to train.
        num_batches: batches per epoch of data whose examples are not counted (a user's
            tf.data dataset of known length), else None; `stream` reads that many per epoch.
    """

    make: Callable[[int], tf.data.Dataset]
    num_examples: int | None
    batch_size: int | None
    stream: Callable[[int, int], tf.data.Dataset] | None = None
    num_batches: int | None = None

    @property
    def steps_per_epoch(self) -> int | None:
        """Batches per epoch from the counted examples (None for a user's dataset: the recipe's
        step budget and the progress line do not count its batches)."""
        if self.num_examples is None or self.batch_size is None:
            return None
        return -(-self.num_examples // self.batch_size)

    @property
    def batches_per_epoch(self) -> int | None:
        """The batches an epoch of `stream` has: `steps_per_epoch`, else `num_batches`."""
        return self.steps_per_epoch if self.steps_per_epoch is not None else self.num_batches


def check_batch_size(batch_size) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidArgumentError(f"batch_size must be an integer >= 1, got {batch_size!r}")


def epoch_order(n: int, *, shuffle: bool, seed: int, epoch: int) -> np.ndarray:
    """The order of examples 0..n-1 in `epoch`: a permutation drawn from (seed, epoch) alone (so a
    resumed run sees the same orders), or 0..n-1 without `shuffle`. int64 [n]."""
    if not shuffle:
        return np.arange(n, dtype="int64")
    return np.random.default_rng([seed, epoch]).permutation(n).astype("int64")


def index_batches(n: int, take: Callable, *, batch_size: int, shuffle: bool, seed: int) -> TrainingData:
    """`TrainingData` of n examples held in memory: each epoch visits 0..n-1 in `epoch_order`, in
    batches of `batch_size` indices, and `take(indices [b] int64)` makes a batch of them (a tf.data
    map, traced once per pipeline). `make(epoch)` is `stream(epoch, epoch + 1)`."""
    check_batch_size(batch_size)

    def order(epoch):
        return epoch_order(n, shuffle=shuffle, seed=seed, epoch=int(epoch))

    def stream(first: int, last: int) -> tf.data.Dataset:
        def indices(epoch):
            permutation = tf.numpy_function(order, [epoch], tf.int64, stateful=False)
            return tf.data.Dataset.from_tensor_slices(tf.ensure_shape(permutation, [n])).batch(batch_size)

        batches = tf.data.Dataset.range(first, last).flat_map(indices)
        return batches.map(take, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)

    return TrainingData(make=lambda epoch: stream(epoch, epoch + 1), num_examples=n, batch_size=batch_size,
                        stream=stream)


def arrays_training_data(x, y: np.ndarray, *, batch_size: int, shuffle: bool, seed: int) -> TrainingData:
    """Examples `x` (an array [n, ...] or a dict of them) with labels `y` [n, ...], in batches.

    Shuffled per epoch with a fixed seed: the order of epoch e depends only on (seed, e). The
    arrays become tensors once (not a copy per epoch); each batch gathers its rows.
    """
    check_batch_size(batch_size)
    xs = {k: tf.constant(v) for k, v in x.items()} if isinstance(x, dict) else tf.constant(x)
    ys = tf.constant(y)

    def take(indices):
        return tf.nest.map_structure(lambda t: tf.gather(t, indices), xs), tf.gather(ys, indices)

    return index_batches(len(y), take, batch_size=batch_size, shuffle=shuffle, seed=seed)


def user_dataset(dataset: tf.data.Dataset) -> TrainingData:
    """`TrainingData` of a user's tf.data dataset, used as given every epoch; with a stream (the
    dataset repeated: each repetition iterates it anew, reshuffling as it would) when its length
    is known, so `fit` does not make an iterator per epoch (an epoch of GCN on Cora with its validation:
    62-72 ms with an iterator each, 43-54 ms without)."""
    length = int(dataset.cardinality())
    if length <= 0:  # unknown, infinite or empty: an iterator per epoch, as Keras reads it
        return TrainingData(lambda epoch: dataset, None, None)
    return TrainingData(lambda epoch: dataset, None, None, stream=lambda first, last: dataset.repeat(last - first),
                        num_batches=length)


def single_batch(dataset: tf.data.Dataset) -> TrainingData:
    """`TrainingData` of a dataset of one batch, the same every epoch (a graph for node classification)."""
    return TrainingData(lambda epoch: dataset, 1, 1, stream=lambda first, last: dataset.repeat(last - first))


def check_labels(labels: np.ndarray, num_classes: int, name: str = "labels") -> None:
    """Raise if integer class labels fall outside 0..num_classes-1."""
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels[(labels < 0) | (labels >= num_classes)]
        raise InvalidArgumentError(
            f"{name} out of range: the model has {num_classes} classes (labels 0..{num_classes - 1}) "
            f"but the data has label(s) {sorted(set(bad.tolist()))[:10]}"
        )
