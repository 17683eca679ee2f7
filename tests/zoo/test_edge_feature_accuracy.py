"""Edge features are used: a graph classification task that only bond types decide.

Molecule-like graphs (random trees of 6..12 atoms plus a ring bond, generated here with a seed)
whose atoms (C, N, O) are drawn independently of the class, and whose bonds are single (TU edge
label 1) or double (2): class 1 when a graph has at least 2 more double bonds than single ones,
class 0 when it has at least 2 more single ones. The structure is drawn before the class, so
nothing but the bond types tells the classes apart. The set is written in the TU Dortmund format
and read back with `zoo.data.load_tu` (edge features: the one-hot bond type), then

- gin with edge features (GINE layers, edge_feature_size=2) reaches >= 0.9 test accuracy;
- gin without them (edge_feature_size=0: `zoo.fit` leaves them out) stays near chance (<= 0.7);
- the same for mpnn (edge-conditioned messages) with and without them.

Each run prints its accuracy and time.
"""

import time

import keras
import numpy as np
import pytest

import zoo
from zoo.data import load_tu

pytestmark = pytest.mark.slow

SINGLE, DOUBLE = 1, 2
ATOMS = (6, 7, 8)


def molecule(rng, label):
    """(n, undirected bonds [(u, v)], bond types, atom types) of one graph of class `label`."""
    n = int(rng.integers(6, 13))
    bonds = [(int(rng.integers(0, v)), v) for v in range(1, n)]  # a random tree
    ring = (0, n - 1) if (0, n - 1) not in bonds else (1, n - 1)
    bonds.append(ring)
    while True:  # the bond types, redrawn until the class holds (the structure is already fixed)
        types = rng.choice([SINGLE, DOUBLE], size=len(bonds))
        margin = int((types == DOUBLE).sum() - (types == SINGLE).sum())
        if (margin >= 2) if label else (margin <= -2):
            break
    return n, bonds, types, rng.choice(ATOMS, size=n)


def write_molecules(folder, name, count, seed):
    """`count` graphs in the TU format (1-based ids, both directions of every bond); returns the labels."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(count) % 2)
    lines = {"A": [], "graph_indicator": [], "graph_labels": [], "node_labels": [], "edge_labels": []}
    offset = 0
    for g, label in enumerate(labels, start=1):
        n, bonds, types, atoms = molecule(rng, label)
        for (u, v), t in zip(bonds, types):
            lines["A"] += [f"{u + offset + 1}, {v + offset + 1}", f"{v + offset + 1}, {u + offset + 1}"]
            lines["edge_labels"] += [str(t), str(t)]
        lines["graph_indicator"] += [str(g)] * n
        lines["node_labels"] += [str(a) for a in atoms]
        lines["graph_labels"].append(str(label))
        offset += n
    folder.mkdir(parents=True, exist_ok=True)
    for part, rows in lines.items():
        (folder / f"{name}_{part}.txt").write_text("\n".join(rows) + "\n")
    return labels


@pytest.fixture(scope="module")
def molecules(tmp_path_factory):
    root = tmp_path_factory.mktemp("bonds")
    write_molecules(root / "BONDS_train", "BONDS_train", 240, seed=0)
    write_molecules(root / "BONDS_test", "BONDS_test", 120, seed=1)
    train = load_tu(root / "BONDS_train")
    test = load_tu(root / "BONDS_test", node_tags=train.tag_values, edge_tags=train.edge_tag_values,
                   label_values=train.label_values)
    return train, test


def _accuracy(name, train, test, *, edge_feature_size, epochs, learning_rate, **options):
    keras.utils.set_random_seed(0)
    model = zoo.build(name, num_classes=2, input_shape=(train.num_features,), edge_feature_size=edge_feature_size,
                      **options)
    start = time.process_time()
    zoo.fit(model, train, epochs=epochs, batch_size=32, learning_rate=learning_rate, seed=0, verbose=0)
    accuracy = zoo.evaluate(model, test)["accuracy"]
    return accuracy, time.process_time() - start


@pytest.mark.parametrize("name, options, learning_rate, epochs", [
    ("gin", dict(hidden=(32, 32)), 0.01, 12),
    ("mpnn", dict(hidden=(32, 32)), 0.005, 12),
])
def test_bond_types_decide_and_only_models_with_edge_features_learn_them(molecules, name, options, learning_rate,
                                                                          epochs, capsys):
    train, test = molecules
    assert train.edge_tag_values == [SINGLE, DOUBLE] and train.edge_feature_size == 2
    assert train.tag_values == list(ATOMS) and np.bincount(test.labels).tolist() == [60, 60]
    with_edges, seconds_with = _accuracy(name, train, test, edge_feature_size=2, epochs=epochs,
                                         learning_rate=learning_rate, **options)
    without, seconds_without = _accuracy(name, train, test, edge_feature_size=0, epochs=epochs,
                                         learning_rate=learning_rate, **options)
    with capsys.disabled():
        print(f"\n[accuracy] {name} on bond-type classes: with edge features {with_edges:.3f} ({seconds_with:.1f} s "
              f"CPU), without {without:.3f} ({seconds_without:.1f} s CPU)")
    assert with_edges >= 0.9
    assert without <= 0.7
