"""GunPoint test accuracy of `inception_time` and `resnet1d` trained with their published recipes.

The recipes of the authors' code (see the module docstrings of zoo/models/inception_time.py and
zoo/models/resnet1d.py): Adam at 0.001, ReduceLROnPlateau on the training loss (factor 0.5,
patience 50, min_lr 0.0001), batches of 64 (InceptionTime) or int(min(n_train / 10, 64)) = 5
(ResNet), and the weights of the lowest training loss kept for the test (their ModelCheckpoint).
The papers train 1500 epochs; `--epochs` sets a smaller budget. One network each (the paper's
InceptionTime averages five). Prints accuracy, the epoch kept and the machine's load.

Measured on 2026-12-02 (2 shared cores, load average 4-8, seed 0, 300 epochs, CPU time ~150-190 s each):
resnet1d 0.9867 (published, dl-4-tsc results-ucr-128.csv: 0.9933, 0.9933, 0.98, ...);
inception_time 0.6867 with the code's batch-norm momentum 0.99 and 1.0000 with --bn-momentum 0.9
(published: 1.00 for each of the 5 networks, results-inception-128.csv), both at a training loss of
1.4e-4: batches of 64 give GunPoint's 50 series one optimizer step an epoch, 300 steps, too few for
moving statistics at 0.99 to follow the weights (the authors' 1500 epochs give 1500).

    python benchmarks/gunpoint_tsc_baselines.py [--epochs 300] [--models inception_time resnet1d] [--seed 0]
        [--bn-momentum 0.9]   (a change to the recipe's network: Keras' 0.99 by default, the code's)
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import zoo  # noqa: E402
from zoo.data import load_dataset  # noqa: E402

BATCH = {"inception_time": lambda n: 64, "resnet1d": lambda n: int(min(n / 10, 64))}


class KeepLowestLoss(keras.callbacks.Callback):
    """The weights of the epoch with the lowest training loss (ModelCheckpoint(monitor="loss",
    save_best_only=True) of the authors' code, in memory)."""

    def __init__(self):
        super().__init__()
        self.best, self.epoch, self.weights = np.inf, None, None

    def on_epoch_end(self, epoch, logs=None):
        if logs["loss"] < self.best:
            self.best, self.epoch, self.weights = logs["loss"], epoch + 1, self.model.get_weights()


def run(name: str, epochs: int, seed: int, bn_momentum: float | None = None) -> dict:
    train, test = load_dataset("gunpoint")
    (x_train, mask_train), (x_test, mask_test) = train.padded(), test.padded()
    assert mask_train.all() and mask_test.all()  # GunPoint: one length, no padding
    keras.utils.set_random_seed(seed)
    options = {} if bn_momentum is None else {"bn_momentum": bn_momentum}
    model = zoo.build(name, num_classes=train.num_classes, input_shape=(None, 1), **options)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    keep = KeepLowestLoss()
    reduce_lr = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=50, min_lr=0.0001)
    start, load = time.perf_counter(), os.getloadavg()[0]
    model.fit(x_train, train.labels, batch_size=BATCH[name](len(x_train)), epochs=epochs, verbose=0,
              callbacks=[reduce_lr, keep])
    seconds = time.perf_counter() - start
    last = model.evaluate(x_test, test.labels, verbose=0, return_dict=True)["accuracy"]
    model.set_weights(keep.weights)
    kept = model.evaluate(x_test, test.labels, verbose=0, return_dict=True)["accuracy"]
    return dict(name=name, epochs=epochs, accuracy=kept, last_epoch_accuracy=last, kept_epoch=keep.epoch,
                train_loss=keep.best, seconds=seconds, load=load)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--models", nargs="+", default=list(BATCH))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bn-momentum", type=float, default=None)
    args = parser.parse_args()
    for name in args.models:
        r = run(name, args.epochs, args.seed, args.bn_momentum)
        momentum = "" if args.bn_momentum is None else f" (bn_momentum {args.bn_momentum})"
        print(f"{r['name']}{momentum}: GunPoint test accuracy {r['accuracy']:.4f} "
              f"(weights of epoch {r['kept_epoch']}, "
              f"lowest training loss {r['train_loss']:.2e}; last epoch {r['last_epoch_accuracy']:.4f}), "
              f"{r['epochs']} epochs in {r['seconds']:.0f} s, load average {r['load']:.2f} at the start",
              flush=True)


if __name__ == "__main__":
    main()
