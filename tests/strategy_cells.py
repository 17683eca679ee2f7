"""The cells of the strategy matrix (tests/zoo/test_strategy_matrix.py): data kind x user objects.

`run_cell(kind, objects, strategy)` trains one cell under one strategy and returns its weights and
history. The one-device and mirrored runs call it in the test process; the multi-worker run is
two processes of `python strategy_cells.py OUT_DIR KIND...` (TF_CONFIG set), each running
every cell in turn under one MultiWorkerMirroredStrategy, then a resume from checkpoints that one
worker finds corrupted (`resume_after_one_worker_lost_its_newest_checkpoint`).

Everything is tiny (a few steps per cell) and deterministic: seeded initial weights, no dropout
or batch normalization, data in a fixed order.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import zoo  # noqa: E402
from zoo import data as zoo_data  # noqa: E402

KINDS = ("image", "sequence", "graph")
OBJECTS = ("optimizer-name", "optimizer-object", "loss-and-metrics", "callbacks")
EPOCHS = 2  # 3 for the "callbacks" cell, whose EarlyStopping stops after the second
METRIC_NAMES = ("acc_metric", "xent")  # the metrics of the "loss-and-metrics" cell
STEPS_PER_EPOCH = 4  # every kind: 64 examples in batches of 16, or 40 graphs in batches of 10
CALLBACKS_RATE = 0.02  # the "callbacks" cell's SGD rate in its first epoch (halved in the second)


@functools.lru_cache(maxsize=None)
def load_kind(kind: str):
    """(build the model, training data, validation data, batch size) of one data kind (bundled data sets)."""
    if kind == "image":
        (x, y), (xt, yt) = zoo_data.load_digits()

        def build():
            keras.utils.set_random_seed(0)
            return zoo.build("mlp", input_shape=(8, 8, 1), num_classes=10, hidden=(16,), dropout=0.0)

        return build, (x[:64], y[:64]), (xt[:32], yt[:32]), 16
    if kind == "sequence":
        series = zoo_data.load_dataset("japanese_vowels", split="train")
        x, _ = zoo_data.pad_sequences(zoo_data.standardize(series.series)[0])

        def build():
            keras.utils.set_random_seed(0)
            return zoo.build("gru", num_classes=9, input_shape=(None, 12), units=(8,))

        order = np.random.default_rng(0).permutation(len(x))  # the file is sorted by class
        train, validation = order[:64], order[64:96]
        return build, (x[train], series.labels[train]), (x[validation], series.labels[validation]), 16
    if kind == "graph":
        mutag, _ = zoo_data.load_dataset("mutag")

        def build():
            keras.utils.set_random_seed(0)
            return zoo.build("gin", task="graph", num_classes=2, input_shape=(mutag.num_features,), hidden=(8, 8),
                             batch_norm=False, dropout=0.0, head_dropout=0.0)

        order = np.random.default_rng(0).permutation(len(mutag))  # both classes in every batch
        return build, mutag.dataset(order[:40], batch_size=10), mutag.dataset(order[40:60], batch_size=10), 10
    raise ValueError(kind)


class RecordEpochs(keras.callbacks.Callback):
    """A user's callback: what it saw at each epoch end (the learning rate on `model.optimizer`, the logs)."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_end(self, epoch, logs=None):
        rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        self.seen.append({"epoch": epoch, "learning_rate": rate, "loss": float(logs["loss"])})


def user_objects(objects: str, steps_per_epoch: int) -> dict:
    """`zoo.fit` arguments of one column, created here, before and outside any strategy scope."""
    if objects == "optimizer-name":
        return dict(optimizer="adam", learning_rate=1e-2)
    if objects == "optimizer-object":  # the README recipe: AdamW with a cosine schedule
        schedule = keras.optimizers.schedules.CosineDecay(1e-2, decay_steps=epochs(objects) * steps_per_epoch)
        return dict(optimizer=keras.optimizers.AdamW(schedule, weight_decay=0.05))
    if objects == "loss-and-metrics":
        return dict(optimizer="adam", learning_rate=1e-2, loss=keras.losses.SparseCategoricalCrossentropy(),
                    metrics=[keras.metrics.SparseCategoricalAccuracy(name=METRIC_NAMES[0]),
                             keras.metrics.SparseCategoricalCrossentropy(name=METRIC_NAMES[1])])
    if objects == "callbacks":  # halve the rate each epoch; stop after the second (no epoch improves by 10)
        return dict(optimizer="sgd", learning_rate=CALLBACKS_RATE, callbacks=[
            keras.callbacks.LearningRateScheduler(lambda epoch, rate: CALLBACKS_RATE * 0.5 ** epoch),
            RecordEpochs(),
            keras.callbacks.EarlyStopping(monitor="loss", min_delta=10.0, patience=0),
        ])
    raise ValueError(objects)


def epochs(objects: str) -> int:
    return 3 if objects == "callbacks" else EPOCHS


def run_cell(kind: str, objects: str, strategy) -> dict:
    """Train one cell under `strategy`: {"weights": [arrays], "history": {...}, "seen": [...], "step": int}.

    Only the "loss-and-metrics" cell validates (its metrics have "val_" twins), which keeps the
    others to one traced step each."""
    build, train, validation, batch_size = load_kind(kind)
    kwargs = user_objects(objects, STEPS_PER_EPOCH)
    if objects == "loss-and-metrics":
        kwargs["validation_data"] = validation
    model = build()
    history = zoo.fit(model, train, epochs=epochs(objects), batch_size=batch_size, strategy=strategy, verbose=0,
                      **kwargs)
    seen = [c.seen for c in kwargs.get("callbacks", []) if hasattr(c, "seen")]
    return {"weights": model.get_weights(), "history": history.history, "seen": seen[0] if seen else [],
            "step": history.step}


def resume_after_one_worker_lost_its_newest_checkpoint(strategy, checkpoint_dir: Path) -> dict:
    """Two epochs with checkpoints; then worker 1 truncates its own newest checkpoint (worker 0's
    files stay intact); then a run to three epochs resumes. Every worker must resume from the same
    step, the newest one all of them restore, or the collectives would hang or diverge."""
    build, train, _, batch_size = load_kind("image")
    kwargs = dict(batch_size=batch_size, optimizer="sgd", learning_rate=0.1, strategy=strategy, verbose=0,
                  checkpoint_dir=checkpoint_dir)
    zoo.fit(build(), train, epochs=2, **kwargs)
    if not zoo.training.is_chief(strategy):
        own = Path(checkpoint_dir) / ".worker_worker_1"
        index = own / "ckpt-8.index"
        index.write_bytes(index.read_bytes()[: index.stat().st_size // 2])
    model = build()
    history = zoo.fit(model, train, epochs=3, **kwargs)
    return {"weights": model.get_weights(), "history": history.history, "seen": [], "step": history.step}


def save_result(result: dict, path: Path) -> None:
    np.savez(path.with_suffix(".npz"), *result["weights"])
    path.with_suffix(".json").write_text(json.dumps({k: v for k, v in result.items() if k != "weights"}))


def load_result(path: Path) -> dict:
    with np.load(path.with_suffix(".npz")) as archive:
        weights = [archive[f"arr_{i}"] for i in range(len(archive.files))]
    return {"weights": weights, **json.loads(path.with_suffix(".json").read_text())}


def main(argv: list[str]) -> None:
    """One worker of the multi-worker run: every cell of `kinds`, then the checkpoint resume."""
    out_dir, kinds = Path(argv[0]), argv[1:]
    strategy = zoo.training.resolve_strategy("multiworker")  # before any TensorFlow op
    index = strategy.cluster_resolver.task_id
    mine = out_dir / f"worker{index}"
    mine.mkdir(parents=True, exist_ok=True)
    for kind in kinds:
        for objects in OBJECTS:
            save_result(run_cell(kind, objects, strategy), mine / f"{kind}-{objects}")
            print("done", kind, objects, flush=True)
    result = resume_after_one_worker_lost_its_newest_checkpoint(strategy, out_dir / "checkpoints")
    save_result(result, mine / "resume")
    print("done resume", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
