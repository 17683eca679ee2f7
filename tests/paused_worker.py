"""One worker of test_distributed's pause test (run as a script, $TF_CONFIG set by the test).

Prints the coordination service's heartbeat timeout once the strategy is made, trains one epoch (the
cluster is up), prints "ready", then trains on while the test pauses worker 0 (SIGSTOP, as a virtual
machine is paused for a snapshot), and prints "done".
"""

import sys

import keras
from tensorflow.python.eager import context

import zoo


def main(epochs: int) -> None:
    strategy = zoo.training.resolve_strategy("multiworker")
    print("heartbeat_timeout_in_ms", context.context().coordination_service.heartbeat_timeout_in_ms, flush=True)
    (x, y), _ = zoo.data.load_digits()
    keras.utils.set_random_seed(0)
    model = zoo.build("mlp", input_shape=(8, 8, 1), num_classes=10, hidden=(32,), dropout=0.0)
    options = {"batch_size": 32, "optimizer": "sgd", "learning_rate": 0.1, "strategy": strategy, "verbose": 0}
    zoo.fit(model, (x[:512], y[:512]), epochs=1, **options)
    print("ready", flush=True)
    zoo.fit(model, (x[:512], y[:512]), epochs=epochs, **options)
    print("done", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))
