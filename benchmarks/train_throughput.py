"""Training throughput: zoo.build + zoo.fit against keras.applications + Model.fit, side by side.

For each architecture, both models get the same input size, batch, optimizer (SGD) and synthetic
data; each is timed over the same steps after a warm-up (tracing excluded), alternating the two
to share the machine's state fairly. Printed: examples/s of each, their ratio (zoo / keras;
>= 1 means the zoo is not slower), and the achieved FLOP/s (3x the forward FLOPs counted by the
TensorFlow profiler, per example) as a fraction of a matrix-multiply peak measured in the same run.

    python benchmarks/train_throughput.py [--size 64] [--batch 16] [--steps 20] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import zoo  # noqa: E402

MODELS = {"densenet121": "DenseNet121", "resnet50": "ResNet50", "mobilenet_v2": "MobileNetV2"}
WARMUP = 3


class StepTimer(keras.callbacks.Callback):
    """Wall-clock time of the batches after the first WARMUP ones."""

    def __init__(self):
        super().__init__()
        self.times = []

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter())

    def seconds(self):
        return self.times[-1] - self.times[WARMUP - 1]

    def steps(self):
        return len(self.times) - WARMUP


def matmul_peak(n=2048, repeats=10) -> float:
    """FLOP/s of a float32 n x n matrix multiply on this machine (the best of `repeats`)."""
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    matmul = tf.function(lambda: tf.linalg.matmul(a, b))
    matmul().numpy()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        matmul().numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def forward_flops(model, size) -> float:
    """Forward FLOPs for one example, counted by the TensorFlow profiler on the traced graph."""
    from tensorflow.python.profiler import model_analyzer, option_builder

    function = tf.function(lambda x: model(x, training=False))
    graph = function.get_concrete_function(tf.TensorSpec([1, size, size, 3], tf.float32)).graph
    options = option_builder.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return float(model_analyzer.profile(graph, options=options).total_float_ops)


def time_keras(name, data, size, classes, steps):
    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, MODELS[name])(weights=None, input_shape=(size, size, 3), classes=classes)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
    timer = StepTimer()
    model.fit(data, epochs=1, steps_per_epoch=steps + WARMUP, callbacks=[timer], verbose=0)
    return timer, model


def time_zoo(name, data, size, classes, steps):
    keras.utils.set_random_seed(0)
    model = zoo.build(name, input_shape=(size, size, 3), num_classes=classes)
    timer = StepTimer()
    zoo.fit(model, data.take(steps + WARMUP), epochs=1, optimizer="sgd", learning_rate=0.01, callbacks=[timer],
            verbose=0, strategy="one_device")
    return timer, model


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2, help="alternations of keras and zoo per model")
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    args = parser.parse_args()

    peak = matmul_peak()
    print(f"matrix-multiply peak (float32 2048^2, best of 10): {peak / 1e9:.1f} GFLOP/s")
    print(f"input {args.size}x{args.size}x3, batch {args.batch}, {args.steps} timed steps after {WARMUP} warm-up, "
          f"{args.rounds} rounds, SGD, 10 classes\n")
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(args.batch * 8, args.size, args.size, 3)).astype("float32")
    y = rng.integers(0, 10, size=len(x))
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(args.batch, drop_remainder=True).repeat()

    header = f"{'model':14} {'keras ex/s':>11} {'zoo ex/s':>9} {'zoo/keras':>9} {'GFLOP/ex':>9} {'zoo % of peak':>13}"
    print(header)
    print("-" * len(header))
    for name in args.models:
        rates = {"keras": [], "zoo": []}
        for _ in range(args.rounds):
            for kind, run in (("keras", time_keras), ("zoo", time_zoo)):
                timer, model = run(name, data, args.size, 10, args.steps)
                rates[kind].append(timer.steps() * args.batch / timer.seconds())
        keras_rate, zoo_rate = max(rates["keras"]), max(rates["zoo"])
        flops = 3 * forward_flops(model, args.size)
        print(f"{name:14} {keras_rate:11.1f} {zoo_rate:9.1f} {zoo_rate / keras_rate:9.2f} {flops / 1e9:9.3f} "
              f"{100 * zoo_rate * flops / peak:12.1f}%")


if __name__ == "__main__":
    main()
