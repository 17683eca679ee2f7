"""zoo.data.planetoid: the raw Planetoid pickles -> the arrays of a Planetoid .npz.

The raw files of the Planetoid repository are not in this repository. The round trip writes them
from the bundled cora.npz the way the Planetoid code lays them out (scipy CSR rows, one-hot labels,
the graph dict, the test ids in a shuffled order; for the CiteSeer case, test ids without a row)
and converts them back. With the real files in $ZOO_DATA_DIR/graphs/<name>/planetoid/ (the cache
layout), the last test converts them and compares with the developers' .npz."""

import collections
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from zoo.data import dataset_files
from zoo.data.planetoid import convert_planetoid, read_planetoid_raw
from zoo.errors import InvalidArgumentError


def _cora():
    with np.load(dataset_files("cora")["graph"]) as f:
        return {k: f[k] for k in f.files}


def _write_raw(folder: Path, name: str, arrays: dict, *, without_rows=(), seed=0):
    """The eight files ind.<name>.* for `arrays`; the test ids in `without_rows` get no tx row."""
    sparse = pytest.importorskip("scipy.sparse")
    features, labels, edges = arrays["features"], arrays["labels"], arrays["edge_index"]
    one_hot = np.eye(labels.max() + 1, dtype="int32")[labels]
    n_train, first_test = len(arrays["train_index"]), int(arrays["test_index"][0])
    test_ids = np.random.default_rng(seed).permutation([i for i in arrays["test_index"] if i not in without_rows])
    graph = collections.defaultdict(list)
    for sender, receiver in edges.T.tolist():
        graph[sender].append(receiver)
    parts = {
        "x": sparse.csr_matrix(features[:n_train]), "y": one_hot[:n_train],
        "allx": sparse.csr_matrix(features[:first_test]), "ally": one_hot[:first_test],
        "tx": sparse.csr_matrix(features[test_ids]), "ty": one_hot[test_ids], "graph": graph,
    }
    folder.mkdir(parents=True, exist_ok=True)
    for part, value in parts.items():
        with open(folder / f"ind.{name}.{part}", "wb") as f:
            pickle.dump(value, f, protocol=2)  # the Python 2 protocol of the original files
    (folder / f"ind.{name}.test.index").write_text("\n".join(map(str, test_ids)) + "\n")


def _assert_same(got: dict, expected: dict):
    assert sorted(got) == sorted(expected)
    for key in expected:
        assert got[key].dtype == expected[key].dtype, key
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)


def test_raw_files_written_from_cora_convert_back_to_it(tmp_path):
    cora = _cora()
    _write_raw(tmp_path, "cora", cora)
    _assert_same(read_planetoid_raw(tmp_path, "cora"), cora)
    path = convert_planetoid(tmp_path, "cora", tmp_path / "out" / "cora.npz")
    with np.load(path) as f:
        _assert_same({k: f[k] for k in f.files}, cora)
    assert not list((tmp_path / "out").glob("*.partial*"))


def test_test_ids_without_a_row_become_unlabelled_zero_rows(tmp_path):
    """CiteSeer's case: 15 nodes inside the test range have no tx row (isolated, unlabelled)."""
    cora = _cora()
    missing = [int(i) for i in cora["test_index"][[3, 500, 998]]]  # inside the range, not its ends
    _write_raw(tmp_path, "toy", cora, without_rows=missing)
    got = read_planetoid_raw(tmp_path, "toy")
    expected = dict(cora, test_index=np.setdiff1d(cora["test_index"], missing))
    expected["features"] = cora["features"].copy()
    expected["features"][missing] = 0.0
    expected["labels"] = cora["labels"].copy()
    expected["labels"][missing] = -1
    _assert_same(got, expected)


def test_a_pickle_naming_anything_else_is_refused(tmp_path):
    cora = _cora()
    _write_raw(tmp_path, "cora", cora)
    with open(tmp_path / "ind.cora.graph", "wb") as f:
        pickle.dump(os.system, f, protocol=2)  # loading it would hand back os.system
    with pytest.raises(InvalidArgumentError, match=r"ind\.cora\.graph.*names (posix|nt)\.system"):
        read_planetoid_raw(tmp_path, "cora")
    (tmp_path / "ind.cora.ty").unlink()
    with pytest.raises(FileNotFoundError, match=r"ind\.cora\.ty"):
        read_planetoid_raw(tmp_path, "cora")


@pytest.mark.parametrize("name", ["cora", "citeseer"])
def test_the_planetoid_repository_files_give_the_developers_npz(shared_data, name):
    raw = shared_data / "graphs" / name / "planetoid"
    if not raw.is_dir():
        pytest.skip(f"the raw Planetoid files are not in {raw} (kimiyoung/planetoid, data/ind.{name}.*)")
    with np.load(shared_data / "graphs" / name / f"{name}.npz") as f:
        _assert_same(read_planetoid_raw(raw, name), {k: f[k] for k in f.files})
