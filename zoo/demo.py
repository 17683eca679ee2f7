"""The main job, end to end on real data: build, fit, export, serve, query.

`zoo demo` builds LeNet-5 from the registry, trains it with `zoo.fit` on the first half of the
digits data set, exports it in TensorFlow Serving's layout (`models/digits/<version>/`), starts
the model server (`python -m serving models/`, a real process speaking TF Serving's gRPC API),
queries it with `serving.Client` (the held-out half as arrays, and one image as raw PNG bytes),
prints accuracy and latency, and stops the server.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import numpy as np

import zoo
from zoo.data import load_digits


def lenet_recipe(epochs: int, batch_size: int, num_examples: int) -> dict:
    """The training recipe that takes LeNet-5 to >= 0.97 on the second half of digits: small random
    shifts and rotations, label smoothing 0.1 (labels one-hot), AdamW with weight decay and a cosine
    learning-rate schedule. Seeds 0 and 1 reach 0.974 and 0.976 (without label smoothing 0.968, 0.977)."""
    import keras

    steps = epochs * -(-num_examples // batch_size)
    return dict(
        augment=keras.Sequential([
            keras.layers.RandomTranslation(0.08, 0.08, fill_mode="constant", seed=1),
            keras.layers.RandomRotation(0.03, fill_mode="constant", seed=2),
        ]),
        optimizer=keras.optimizers.AdamW(keras.optimizers.schedules.CosineDecay(3e-3, steps), weight_decay=0.05),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1),
    )


def train_digits(model_name: str = "lenet5", *, epochs: int = 40, data: str | None = None, batch_size: int = 16,
                 strategy: str = "auto", verbose: int = 2, seed: int = 1):
    """Steps 1-3: data, model, training. Returns (model, (x_test, y_test), held-out accuracy)."""
    import keras

    card = zoo.card(model_name)
    size = card.input_shape[0] if card.task == "image" else 8
    print(f"[1/5] data: digits ({'scikit-learn bundled copy' if data is None else data}), images resized to {size}x{size}")
    (x_train, y_train), (x_test, y_test) = load_digits(data, image_size=size)
    print(f"      {len(x_train)} training images, {len(x_test)} held-out images, 10 classes")

    print(f"[2/5] model: zoo.build({model_name!r}, num_classes=10, input_shape={(size, size, 1)})")
    keras.utils.set_random_seed(seed)
    recipe = lenet_recipe(epochs, batch_size, len(x_train))
    model = zoo.build(model_name, num_classes=10, input_shape=(size, size, 1))
    print(f"      {card.family}: {card.reference.split('.')[0] if card.reference else 'custom'}; "
          f"{model.count_params():,} parameters")

    print(f"[3/5] zoo.fit: {epochs} epochs, batch {batch_size}, strategy {strategy!r}")
    start = time.perf_counter()
    zoo.fit(model, (x_train, keras.utils.to_categorical(y_train, 10)), epochs=epochs, batch_size=batch_size,
            strategy=strategy, seed=seed, verbose=verbose, **recipe)
    accuracy = zoo.evaluate(model, (x_test, y_test))["accuracy"]
    print(f"      held-out accuracy in process: {accuracy:.4f} (reference: SVC gamma=0.001 reaches 0.969); "
          f"training took {time.perf_counter() - start:.1f} s")
    return model, (x_test, y_test), accuracy


def run_demo(model_name: str = "lenet5", *, epochs: int = 40, data: str | None = None, batch_size: int = 16,
             strategy: str = "auto", verbose: int = 2, seed: int = 1, models_dir: str = "models",
             port: int | None = None) -> dict:
    """The whole story. Returns {"accuracy": in-process, "served_accuracy": over gRPC, "p50_ms", "p99_ms", "version"}."""
    model, (x_test, y_test), accuracy = train_digits(
        model_name, epochs=epochs, data=data, batch_size=batch_size, strategy=strategy, verbose=verbose, seed=seed)

    base_path = os.path.join(models_dir, "digits")
    version_path = zoo.export(model, base_path, class_names=[str(d) for d in range(10)])
    version = int(os.path.basename(version_path))
    print(f"[4/5] zoo.export -> {version_path} (signatures serving_default, serving_bytes, classify)")

    port = port or _free_port()
    print(f"[5/5] serving: python -m serving {models_dir} --port={port}; querying over gRPC")
    server = subprocess.Popen([sys.executable, "-m", "serving", models_dir, f"--port={port}", "--host=127.0.0.1",
                               "--log_level=WARNING"])
    try:
        result = _query(f"127.0.0.1:{port}", version, x_test, y_test)
    finally:
        server.terminate()  # graceful: drain, then stop
        server.wait(timeout=60)
    result.update(accuracy=accuracy, version=version)
    print(f"served accuracy: {result['served_accuracy']:.4f} on {len(y_test)} images (in process {accuracy:.4f}); "
          f"latency of one-image requests p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms; "
          f"raw PNG bytes -> class {result['png_class']!r} (label {y_test[0]}); server stopped")
    return result


def _query(target: str, version: int, x_test, y_test) -> dict:
    import tensorflow as tf

    import serving

    client = serving.Client(target, timeout=30)
    try:
        _wait_until_served(client, "digits", version)
        predicted = np.concatenate([
            np.argmax(client.predict("digits", x_test[i:i + 128])["scores"], axis=-1) for i in range(0, len(x_test), 128)
        ])
        latencies = []
        for image in x_test[:200]:
            start = time.perf_counter()
            client.predict("digits", image[None])
            latencies.append((time.perf_counter() - start) * 1000)
        png = tf.io.encode_png(tf.cast(tf.round(x_test[0] * 255), tf.uint8)).numpy()
        png_class = int(np.argmax(client.predict("digits", [png])["scores"][0]))  # raw file -> serving_bytes
    finally:
        client.close()
    return {
        "served_accuracy": float(np.mean(predicted == y_test)),
        "p50_ms": float(np.percentile(latencies, 50)),
        "p99_ms": float(np.percentile(latencies, 99)),
        "png_class": png_class,
    }


def _wait_until_served(client, model: str, version: int, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while True:
        try:
            states = {s["version"]: s["state"] for s in client.status(model)}
            if states.get(version) == "AVAILABLE":
                return
        except Exception:  # the server is still starting
            pass
        if time.time() > deadline:
            raise TimeoutError(f"the server did not serve {model} version {version} within {timeout:.0f} s")
        time.sleep(0.25)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
