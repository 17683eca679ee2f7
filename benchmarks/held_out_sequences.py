"""Card recipes on time-series sets the project never trained on: accuracy against published figures.

The data are the UCR / UEA sets that the `aeon` package ships as `.ts` files inside its wheel
(`aeon/datasets/data/NAME/NAME_{TRAIN,TEST}.ts`). Only the files are read, aeon itself is never
imported, so it can be installed without its dependencies (a developer's machine, not CI):

    pip install --no-deps aeon        # ~30 MB of files; or --data-dir a folder of NAME/NAME_TRAIN.ts
    python benchmarks/held_out_sequences.py [--models conv1d gru] [--sets ArrowHead BasicMotions]
        [--seeds 0 1] [--threads 1] [--time-limit SECONDS] [--padding card|batch|longest]

Each run is what a user does, with nothing tuned: `zoo.build(name, num_classes=k,
input_shape=(None, channels))`, `zoo.fit(model, train)` (the card's recipe: its batch-size rule,
its epochs and minimum steps, its schedule, early stopping and kept weights), then
`zoo.evaluate(model, test)` on the official test split. It prints one line per run (accuracy,
epochs, optimizer steps, seconds, the weights kept) and the published figure beside it, and the
machine's load average, since the seconds depend on it (accuracy does not: two runs with
`--threads 1` may run side by side).

Published figures (test accuracy):
- FCN and ResNet: mean (std) of 10 runs, Ismail Fawaz et al. 2019, "Deep learning for time series
  classification: a review", dl-4-tsc `results/results-uea-avg-std.csv` (UCR 2015 archive) and
  `results-mts-avg-std.csv` (Baydogan's MTS archive, JapaneseVowels).
- InceptionTime: the ensemble of 5, Ismail Fawaz et al. 2020, InceptionTime
  `results-InceptionTime-128.csv` (UCR 2018 archive).
- BasicMotions (UEA 2018): 1.00 for ResNet, InceptionTime and MLSTM-FCN in Ruiz et al. 2021, "The
  great multivariate time series classification bake off".
The recurrent cards (rnn, lstm, gru) are compared with the best of these: no paper publishes a
plain GRU on every set, and the issue's bar is the deep baselines'.

Measured on 2026-12-02 (seed 0, one TensorFlow thread per run, two runs side by side on 2 cores):

| model  | set                   | accuracy | published          | notes                                         |
| ------ | --------------------- | -------- | ------------------ | --------------------------------------------- |
| conv1d | ArrowHead             | 0.8514   | FCN 0.843 (1.5)    | 1381 epochs (early stop), 16,572 steps, 338 s |
| gru    | BasicMotions          | 1.0000   | 1.00               | 0.9500 before the gru standardized its inputs |
| gru    | JapaneseVowels        | 0.9730   | FCN 0.993          | seed 1: 0.9703; 0.9568 before standardizing   |
| gru    | PickupGestureWiimoteZ | 0.5000   | InceptionTime 0.76 | unmasked (mask_value=None): 0.3000            |
| conv1d | PickupGestureWiimoteZ | 0.6600   | InceptionTime 0.76 | unmasked (mask_value=None): 0.7600            |

Measured on 2026-12-04 (seed 0, one thread per run, masked and `--padding batch` side by side on 2 cores):

| model          | set                   | masked | batch  | published          | notes                        |
| -------------- | --------------------- | ------ | -------- | ------------------ | ---------------------------- |
| inception_time | PickupGestureWiimoteZ | 0.8000 | 0.8000   | InceptionTime 0.76 | 1500 epochs, 1413 s / 1282 s |
| resnet1d       | PickupGestureWiimoteZ | 0.7600 | 0.7800   | InceptionTime 0.76 | 1500 / 1331 epochs, 1168 / 941 s |

Measured on 2026-12-04 on an Intel Xeon (2 cores, one thread per run, 2-4 runs side by side), `--padding
longest` (no mask, every series padded to the training set's longest by `PadToLength`) against the
masked card default:

| model          | set                   | masked           | longest                   | published          |
| -------------- | --------------------- | ---------------- | ------------------------- | ------------------ |
| conv1d         | PickupGestureWiimoteZ | 0.6600 (above)   | 0.7800 (seed 0), 0.7800 (seed 1) | InceptionTime 0.76 |
| resnet1d       | PickupGestureWiimoteZ | 0.7600 (above)   | 0.8000                    | InceptionTime 0.76 |
| inception_time | PickupGestureWiimoteZ | 0.8000 (above)   | 0.8000 (1500 epochs, 1357 s)  | InceptionTime 0.76 |
| conv1d         | JapaneseVowels        | 0.9919           | 0.9919                    | FCN 0.993          |

(conv1d longest: 2000 / 1956 epochs, 559 / 922 s; resnet1d 1450 epochs, 806 s; JapaneseVowels masked
1381 epochs, 442 s, longest 2000 epochs, 583 s.) The default is still the mask: see issue 17's note of
2026-12-04 for what switching needs.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# name: (what it is, {model: published accuracy})
SETS = {
    "ArrowHead": ("univariate, length 251, 3 classes, 36 train / 175 test",
                  {"conv1d": 0.843, "resnet1d": 0.845, "inception_time": 0.846}),
    "ItalyPowerDemand": ("univariate, length 24, 2 classes, 67 / 1029",
                         {"conv1d": 0.961, "resnet1d": 0.963, "inception_time": 0.965}),
    "BasicMotions": ("6 channels, length 100, 4 classes, 40 / 40",
                     {"resnet1d": 1.0, "inception_time": 1.0}),
    "PickupGestureWiimoteZ": ("univariate, variable length 29..361, 10 classes, 50 / 50",
                              {"inception_time": 0.76}),
    "OSULeaf": ("univariate, length 427, 6 classes, 200 / 242", {"conv1d": 0.977, "resnet1d": 0.979}),
    "JapaneseVowels": ("12 channels, variable length 7..29, 9 classes, 270 / 370",
                       {"conv1d": 0.993, "resnet1d": 0.992}),
}
DEFAULT_SETS = ["ArrowHead", "ItalyPowerDemand", "BasicMotions", "PickupGestureWiimoteZ"]

# --padding: (what it is, the build options)
PADDINGS = {
    "card": ("the card's default", {}),
    "mask": ("a padding mask (mask_value=0.0): the padded steps are skipped", {"mask_value": 0.0}),
    "batch": ("no mask, padded to the batch's longest series (mask_value=None)", {"mask_value": None}),
    "longest": ("no mask, padded to the training set's longest (mask_value=None, pad_to_longest=True)",
                {"mask_value": None, "pad_to_longest": True}),
}


def aeon_data_dir() -> Path | None:
    """The `datasets/data` folder of an installed aeon, found without importing aeon."""
    spec = importlib.util.find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"


def published(set_name: str, model: str) -> tuple[float | None, str]:
    """(the figure to compare with, whose it is): the model's own, else the best deep baseline's."""
    figures = SETS[set_name][1]
    if model in figures:
        return figures[model], model
    if not figures:
        return None, ""
    best = max(figures, key=figures.get)
    return figures[best], best


def run(model_name: str, set_name: str, data_dir: Path, seed: int, time_limit: float | None, padding="card") -> dict:
    import keras

    import zoo
    from zoo.data.timeseries import load_ts

    folder = data_dir / set_name
    train = load_ts(folder / f"{set_name}_TRAIN.ts")
    test = load_ts(folder / f"{set_name}_TEST.ts", class_names=train.class_names)
    keras.utils.set_random_seed(seed)
    options = PADDINGS[padding][1]
    model = zoo.build(model_name, num_classes=train.num_classes, input_shape=(None, train.num_channels), **options)
    start = time.perf_counter()
    history = zoo.fit(model, train, seed=seed, verbose=0, time_limit=time_limit)
    seconds = time.perf_counter() - start
    result = zoo.evaluate(model, test)
    return {"accuracy": result["accuracy"], "epochs": len(history.history["loss"]), "steps": history.step,
            "seconds": seconds, "kept_epoch": history.kept_epoch, "final_loss": history.history["loss"][-1]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["conv1d", "inception_time", "gru"])
    parser.add_argument("--sets", nargs="+", default=DEFAULT_SETS, choices=sorted(SETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="a folder of NAME/NAME_{TRAIN,TEST}.ts (default: the files of an installed aeon)")
    parser.add_argument("--threads", type=int, default=None, help="TensorFlow intra-op threads (default: all cores)")
    parser.add_argument("--time-limit", type=float, default=None, help="seconds per fit (default: the recipe's)")
    parser.add_argument("--padding", default="card", choices=sorted(PADDINGS),
                        help="; ".join(f"{k}: {v[0]}" for k, v in PADDINGS.items()))
    args = parser.parse_args(argv)
    data_dir = args.data_dir or aeon_data_dir()
    if data_dir is None or not data_dir.is_dir():
        parser.error("no data: `pip install --no-deps aeon` (its wheel ships the .ts files) or pass --data-dir")
    if args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    print(f"data: {data_dir}; load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    for set_name in args.sets:
        print(f"{set_name}: {SETS[set_name][0]}", flush=True)
        for model_name in args.models:
            for seed in args.seeds:
                r = run(model_name, set_name, data_dir, seed, args.time_limit, args.padding)
                figure, whose = published(set_name, model_name)
                versus = "" if figure is None else f" | published {figure:.3f} ({whose}), ratio {r['accuracy'] / figure:.3f}"
                kept = "last" if r["kept_epoch"] is None else f"epoch {r['kept_epoch'] + 1}"
                label = model_name + ("" if args.padding == "card" else f" padding={args.padding}")
                print(f"  {label:24s} seed {seed}: accuracy {r['accuracy']:.4f}{versus} | {r['epochs']} epochs, "
                      f"{r['steps']} steps, kept {kept}, final loss {r['final_loss']:.3g}, {r['seconds']:.0f} s, "
                      f"load {os.getloadavg()[0]:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
