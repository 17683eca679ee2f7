"""Accuracy of the graph models on real data (the bundled Cora and MUTAG), with fixed seeds.

- gcn on Cora and CiteSeer, gat on Cora, Planetoid split (Cora: 140 training nodes), trained by a
  plain `zoo.fit(model, train, validation_data=val)`: the card's recipe, the same for every data set
  (gcn: Kipf & Welling's Adam 0.01, up to 200 epochs, stopping when the validation loss exceeds its
  mean of the 10 epochs before, last weights; gat: Adam 0.005, patience 100 on the validation loss,
  best weights). Bounds: gcn Cora mean of 3 seeds >= 0.805 (paper 0.815), CiteSeer >= 0.70 (0.703),
  gat Cora >= 0.825 (0.830); the figures over more seeds are in the comment above the tests.
- gin on MUTAG, the 10 folds of the GIN code: mean test accuracy >= 0.85 (GIN reports 89.4 % for
  the best epoch of the averaged curve). Full-batch Adam 0.01 halved every 50 epochs, 200 epochs
  per fold (the paper: batches of 32 graphs, 350 epochs).

Each test prints what it reached and how long it took. One compiled model is reused across
seeds / folds (fresh weights and optimizer state each time), so each traces once.
"""

import time

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.data import load_dataset, merge_graphs

pytestmark = pytest.mark.slow


def _fresh_start(model, build, seed):
    """New random weights (from a model built with `seed`) and a reset optimizer, no new trace."""
    keras.utils.set_random_seed(seed)
    model.set_weights(build().get_weights())
    for variable in model.optimizer.variables:  # the step count and the moments; not the learning rate
        if variable.name != "learning_rate":
            variable.assign(tf.zeros_like(variable))


def _report(capsys, text):
    with capsys.disabled():
        print(f"\n[accuracy] {text}")


def _card_recipe_accuracy(name, data, seeds):
    """Test accuracies of `name` trained by plain `zoo.fit` (its card's recipe: optimizer, budget,
    stopping rule, kept weights) on the Planetoid split, validating on its 500 validation nodes."""
    accuracies, epochs = [], []
    for seed in seeds:
        keras.utils.set_random_seed(seed)
        model = zoo.build(name, num_classes=data.num_classes, input_shape=(data.num_features,))
        history = zoo.fit(model, data.dataset("train"), validation_data=data.dataset("val"), verbose=0)
        accuracies.append(zoo.evaluate(model, data.dataset("test"))["accuracy"])
        epochs.append(len(history.history["loss"]))
    return accuracies, epochs


def _report_planetoid(capsys, name, dataset, seeds, accuracies, epochs, start, paper):
    _report(
        capsys,
        f"{name} on {dataset} (Planetoid split, card recipe): mean test accuracy {np.mean(accuracies):.4f} (seeds "
        f"{', '.join(map(str, seeds))}: {', '.join(f'{a:.4f}' for a in accuracies)}; epochs "
        f"{', '.join(map(str, epochs))}) in {time.perf_counter() - start:.1f} s; paper {paper}",
    )


# Row-normalized features are these data sets' standard preprocessing (Kipf & Welling's and GAT's
# code, PyG's NormalizeFeatures): `normalize_features=True`, as the graphs notebook loads Cora.
# The card recipes reached (2026-12-03, gcn and gat dropping their input through its nonzero entries,
# `layers._graph.project_input`): gcn on Cora 0.8107 +- 0.0051 (seeds 0-9; 0.8110 +- 0.0065 with the
# dense dropout before), on CiteSeer 0.7004 +- 0.0133 (seeds 0-4: 0.703, 0.710, 0.702, 0.712, 0.675);
# gat on Cora 0.8328 +- 0.0022 (seeds 0-3). CI runs fewer seeds: the bounds sit a point under those.


def test_gcn_on_cora(capsys):
    start, seeds = time.perf_counter(), (0, 1, 2)
    accuracies, epochs = _card_recipe_accuracy("gcn", load_dataset("cora", normalize_features=True), seeds)
    _report_planetoid(capsys, "gcn", "Cora", seeds, accuracies, epochs, start, "0.815")
    assert np.mean(accuracies) >= 0.805


def test_gcn_on_citeseer(capsys):
    start, seeds = time.perf_counter(), (1,)
    accuracies, epochs = _card_recipe_accuracy("gcn", load_dataset("citeseer", normalize_features=True), seeds)
    _report_planetoid(capsys, "gcn", "CiteSeer", seeds, accuracies, epochs, start, "0.703")
    assert np.mean(accuracies) >= 0.70


def test_gat_on_cora(capsys):
    start, seeds = time.perf_counter(), (1,)
    accuracies, epochs = _card_recipe_accuracy("gat", load_dataset("cora", normalize_features=True), seeds)
    _report_planetoid(capsys, "gat", "Cora", seeds, accuracies, epochs, start, "0.830")
    assert np.mean(accuracies) >= 0.825


def test_gin_on_mutag_10_fold(capsys):
    start = time.perf_counter()
    data, folds = load_dataset("mutag")
    epochs, decay_every = 200, 50

    def build():
        return zoo.build("gin", task="graph", num_classes=data.num_classes, input_shape=(data.num_features,))

    model = build()
    schedule = keras.optimizers.schedules.ExponentialDecay(0.01, decay_every, 0.5, staircase=True)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    accuracies = []
    for fold, (train, test) in enumerate(folds):
        _fresh_start(model, build, fold)
        subset = data.subset(train)
        # the whole training fold is one batch of graphs: one step per epoch, the epochs as one Keras epoch
        batch = tf.data.Dataset.from_tensors((merge_graphs(subset.graphs), subset.labels))
        model.fit(batch.repeat(epochs), epochs=1, verbose=0)
        accuracies.append(model.evaluate(data.dataset(test, batch_size=64), verbose=0)[1])
    mean, std = float(np.mean(accuracies)), float(np.std(accuracies))
    _report(
        capsys,
        f"gin on MUTAG, 10-fold CV: mean test accuracy {mean:.4f} +- {std:.4f} (folds: "
        f"{', '.join(f'{a:.3f}' for a in accuracies)}) in {time.perf_counter() - start:.1f} s; paper 0.894 +- 0.056",
    )
    assert mean >= 0.85


def _card_recipe_10_fold(capsys, name, paper, **options):
    """The GIN paper's protocol with the card's recipe and nothing set by the test: per fold a plain
    `zoo.fit(model, training graphs)` (Adam 0.01 halved every 50 epochs, batch 32, 350 epochs, the
    weights of the lowest training loss: the folds have no validation split), then the test fold.
    `options` go to `load_dataset`. Returns the mean test accuracy."""
    start = time.perf_counter()
    data, folds = load_dataset(name, **options)
    accuracies = []
    for fold, (train, test) in enumerate(folds):
        keras.utils.set_random_seed(fold)
        model = zoo.build("gin", task="graph", num_classes=data.num_classes, input_shape=(data.num_features,))
        zoo.fit(model, data.subset(train), seed=fold, verbose=0)
        accuracies.append(zoo.evaluate(model, data.dataset(test, batch_size=64))["accuracy"])
    mean = float(np.mean(accuracies))
    _report(capsys, f"gin on {data.name}, 10-fold CV, card recipe: mean test accuracy {mean:.4f} +- "
                    f"{np.std(accuracies):.4f} (folds: {', '.join(f'{a:.3f}' for a in accuracies)}) in "
                    f"{time.perf_counter() - start:.0f} s; paper {paper}")
    return mean


@pytest.mark.acceptance
@pytest.mark.xfail(strict=True, reason="not reached yet: the card recipe gave 0.8667 +- 0.0754 (2026-12-02) and, same "
                   "code and seeds on another machine's CPU, 0.8500 +- 0.0788 (2026-12-03), and with oneDNN's kernels "
                   "0.8611 +- 0.0833 (2026-12-03, 379 s); the paper's 0.894 is the best epoch of the averaged "
                   "test-fold curve")
def test_gin_card_recipe_on_mutag_10_fold(capsys):
    """About 10 minutes on one core, hence `acceptance`. Issue 17's bar, 0.89, is not reached yet."""
    assert _card_recipe_10_fold(capsys, "mutag", "0.894 +- 0.056") >= 0.89


@pytest.mark.acceptance
@pytest.mark.xfail(strict=True, reason="not reached yet: the card recipe gave 0.7135 +- 0.0455 (2026-12-04, 1936 s "
                   "beside other work); the paper's 0.762 is the best epoch of the averaged test-fold curve, and "
                   "Errica et al. (ICLR 2020), selecting on validation folds, report 0.733 +- 0.040 for GIN")
def test_gin_card_recipe_on_proteins_10_fold(capsys):
    """Issue 17's bar on PROTEINS (1,113 graphs, from ../shared/data): 0.75 (paper 0.762 +- 0.028). The
    nodes are their 3 one-hot tags, as the GIN code reads them (it leaves the continuous attribute out).
    About 30 minutes on 2 cores."""
    assert _card_recipe_10_fold(capsys, "proteins", "0.762 +- 0.028", continuous_features=False) >= 0.75
