"""An image folder through `zoo.fit`: memory, and whether the input pipeline or the training step limits.

    python benchmarks/input_pipeline.py [--files 2500] [--model lenet5] [--image-size 96 128]
                                        [--batch-size 32] [--folder DIR]

Writes a folder of JPEG photos of 320 x 240 pixels (smooth random colour fields with noise, 5
classes; or reads `--folder`), then measures in this one process, side by side:

1. the header check of every file before training (`zoo.data.images.ImageFolder`), files/s;
2. `zoo.fit` on the folder, images/s, and the process's resident memory: its growth during the
   fit (sampled every 5 ms) and its peak, against the folder decoded whole (float32 at
   320 x 240 x 3: what `read_image_folder` used to hold);
3. the input pipeline alone: epochs of decoded, resized batches, images/s;
4. the training step alone: `zoo.fit` on one batch repeated from memory, images/s;
5. `zoo.fit` with `cache=True` (decoded once into memory as uint8), images/s.

Each rate is the best of `--repeats` epochs after a first one (which traces), since the machine
may be shared; all are printed, with each rate as a ratio to the training step's and the load
average (os.getloadavg) before and after.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import threading
import time

import numpy as np

WIDTH, HEIGHT = 320, 240
CLASSES = ("amber", "cobalt", "jade", "rose", "slate")


def write_folder(root: str, files: int, seed: int = 0) -> None:
    """`files` JPEGs at 320 x 240 in len(CLASSES) sub-folders."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for i in range(files):
        label = i % len(CLASSES)
        folder = os.path.join(root, CLASSES[label])
        os.makedirs(folder, exist_ok=True)
        coarse = rng.uniform(0, 255, size=(6, 8, 3)) * 0.6 + 100 * np.eye(3)[label % 3]
        field = np.asarray(Image.fromarray(np.clip(coarse, 0, 255).astype(np.uint8)).resize((WIDTH, HEIGHT),
                                                                                             Image.BILINEAR))
        pixels = np.clip(field + rng.normal(0, 12, size=field.shape), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(os.path.join(folder, f"{i:05d}.jpg"), quality=90)


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """The largest resident set size seen while the block runs (sampled every 5 ms)."""

    def __enter__(self):
        self.start, self.peak, self._done = rss(), rss(), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._done.is_set():
            self.peak = max(self.peak, rss())
            self._done.wait(0.005)

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()


def epoch_seconds():
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.t0)

    return EpochTimer()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2500)
    parser.add_argument("--model", default="lenet5")
    parser.add_argument("--image-size", type=int, nargs=2, default=(96, 128), metavar=("H", "W"))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="epochs measured after the first")
    parser.add_argument("--folder", help="an existing image folder to read instead of writing one")
    args = parser.parse_args(argv)

    load_before = os.getloadavg()
    import keras
    import tensorflow as tf

    import zoo
    from zoo.data.images import ImageFolder
    from zoo.training.image_folders import bind
    from zoo.training.sources import as_training_data

    MB = 2 ** 20
    scratch = None
    root = args.folder
    if root is None:
        scratch = tempfile.mkdtemp(prefix="zoo-input-pipeline-")
        root = os.path.join(scratch, "photos")
        t0 = time.perf_counter()
        write_folder(root, args.files)
        on_disk = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs)
        print(f"wrote {args.files:,} JPEGs of {WIDTH}x{HEIGHT} ({on_disk / MB:.0f} MB) in {time.perf_counter() - t0:.1f} s")
    try:
        t0 = time.perf_counter()
        folder = ImageFolder(root)
        check = time.perf_counter() - t0
        n, classes = len(folder), len(folder.class_names)
        whole = n * WIDTH * HEIGHT * 3 * 4
        print(f"header check: {n:,} files in {check:.2f} s ({n / check:,.0f} files/s), {len(folder.bad)} bad")

        shape = (*args.image_size, 3)

        def build():
            keras.utils.set_random_seed(0)
            return zoo.build(args.model, num_classes=classes, input_shape=shape)

        epochs = 1 + args.repeats

        def best(images, seconds):
            rates = [images / s for s in seconds]
            return max(rates), "best of " + ", ".join(f"{r:,.0f}" for r in rates)

        model = build()
        timer = epoch_seconds()
        before = rss()
        with PeakRSS() as memory:
            zoo.fit(model, root, epochs=epochs, batch_size=args.batch_size, callbacks=[timer], verbose=0)
        fit_rate, fit_rates = best(n, timer.seconds[1:])
        print(f"zoo.fit on the folder ({args.model} at {shape}, batch {args.batch_size}): epoch 1 {timer.seconds[0]:.1f} s "
              f"(traces), then {fit_rate:,.0f} images/s ({fit_rates})")
        print(f"memory: RSS {before / MB:,.0f} MB before the fit, {memory.peak / MB:,.0f} MB at most during it "
              f"(+{(memory.peak - before) / MB:,.0f} MB); ru_maxrss of the process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB; "
              f"the folder decoded whole would be {whole / MB:,.0f} MB (float32 {HEIGHT}x{WIDTH}x3)")

        data = as_training_data(bind(model, root)[0], batch_size=args.batch_size, shuffle=True, seed=0)
        seconds = []
        for epoch in range(args.repeats):
            t0 = time.perf_counter()
            for _ in data.make(epoch):
                pass
            seconds.append(time.perf_counter() - t0)
        pipeline_rate, pipeline_rates = best(n, seconds)
        print(f"input pipeline alone (read, decode, resize, batch): {pipeline_rate:,.0f} images/s ({pipeline_rates})")

        batch = next(iter(data.make(0)))
        steps = data.steps_per_epoch
        repeated = tf.data.Dataset.from_tensors(batch).repeat(steps)
        timer = epoch_seconds()
        zoo.fit(build(), repeated, epochs=epochs, callbacks=[timer], verbose=0)
        step_rate, step_rates = best(steps * args.batch_size, timer.seconds[1:])
        print(f"training step alone (one batch repeated from memory): {step_rate:,.0f} images/s ({step_rates})")

        timer = epoch_seconds()
        with PeakRSS() as cached_memory:
            zoo.fit(build(), root, epochs=epochs, batch_size=args.batch_size, cache=True, callbacks=[timer], verbose=0)
        cached_rate, cached_rates = best(n, timer.seconds[1:])
        print(f"zoo.fit with cache=True: {cached_rate:,.0f} images/s ({cached_rates}; "
              f"RSS +{(cached_memory.peak - cached_memory.start) / MB:,.0f} MB at most)")

        print()
        print(f"ratios to the training step ({step_rate:,.0f} images/s = 1.00):")
        print(f"  input pipeline alone     {pipeline_rate / step_rate:5.2f}")
        print(f"  zoo.fit, streamed        {fit_rate / step_rate:5.2f}")
        print(f"  zoo.fit, cache=True      {cached_rate / step_rate:5.2f}")
        alone = "keeps up with" if pipeline_rate >= step_rate else "cannot keep up with"
        print(f"  -> the input pipeline on its own {alone} the training step (so with a step on a GPU, which leaves it "
              f"the CPUs, {'the step' if pipeline_rate >= step_rate else 'the input pipeline'} limits)")
        shared = 1 / (1 / pipeline_rate + 1 / step_rate)
        print(f"  -> on these {os.cpu_count()} CPUs the two share the cores: one after the other they would give "
              f"{shared:,.0f} images/s; zoo.fit streamed gives {fit_rate / shared:.2f} of that, decoding takes "
              f"{step_rate / (pipeline_rate + step_rate):.0%} of the CPU time, and cache=True saves it")
        print(f"  memory growth of the streamed fit / folder decoded whole: {(memory.peak - before) / whole:.3f}")
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    print(f"load average before {tuple(round(v, 2) for v in load_before)}, after "
          f"{tuple(round(v, 2) for v in os.getloadavg())}; {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
