"""The raw Planetoid files (Yang et al. 2016) as the arrays of a Planetoid `.npz` (`load_planetoid`'s format).

The Planetoid code (github.com/kimiyoung/planetoid, `data/`; the same files are in Kipf & Welling's
GCN code) ships each citation graph as eight files `ind.<name>.<part>`: Python 2 pickles of
`x`, `tx`, `allx` (scipy CSR feature rows of the labelled training nodes, the test nodes, and all
training nodes), `y`, `ty`, `ally` (their one-hot labels, numpy arrays), `graph` (a
`defaultdict(list)`: node id -> neighbour ids) and a text file `test.index` (the node id of each
`tx` row, one per line, in an arbitrary order).

`read_planetoid_raw` turns them into what `load_planetoid` reads, as Kipf & Welling's `load_data`
does: the feature rows `allx` then `tx`, the test rows moved to the ids `test.index` gives; for
CiteSeer, whose graph has test-range nodes without a `tx` row (15 isolated nodes), those rows stay
zero and their label is -1; `edge_index` lists every (node, neighbour) pair of `graph` as written
(duplicates included, so Cora has 10,858 entries for its 10,556 distinct directed edges); the split
is the standard one: `train_index` the `len(y)` first nodes, `val_index` the next 500, `test_index`
the sorted `test.index`. Fed the files of the Planetoid repository, it reproduces the developers'
`cora.npz` and `citeseer.npz` array for array.

The pickles are read by an unpickler that builds only numpy arrays, dtypes, lists, a defaultdict,
bytes and a stand-in for scipy's CSR matrix (scipy is not needed); any other object a file names
is refused, so a tampered file cannot run code.
"""

from __future__ import annotations

import codecs
import collections
import importlib
import os
import pickle
from pathlib import Path

import numpy as np

from zoo.errors import InvalidArgumentError

PARTS = ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")
VALIDATION_SIZE = 500


class _CsrRows:
    """What a pickled scipy CSR matrix holds (`indptr`, `indices`, `data`, `_shape`), as dense rows."""

    def __setstate__(self, state):
        self.state = state

    def dense(self, what: str) -> np.ndarray:
        try:
            rows, cols = self.state["_shape"]
            indptr, indices, data = (np.asarray(self.state[k]) for k in ("indptr", "indices", "data"))
        except (AttributeError, KeyError, TypeError, ValueError):
            raise InvalidArgumentError(f"{what}: not a CSR matrix (expected indptr, indices, data, _shape)") from None
        out = np.zeros((rows, cols), dtype="float32")
        row_of = np.repeat(np.arange(rows), np.diff(indptr))
        out[row_of, indices] = data
        return out


def _multiarray():
    try:
        return importlib.import_module("numpy._core.multiarray")
    except ImportError:  # numpy < 1.26
        return importlib.import_module("numpy.core.multiarray")


_ALLOWED = {
    ("scipy.sparse.csr", "csr_matrix"): _CsrRows,
    ("scipy.sparse._csr", "csr_matrix"): _CsrRows,
    ("numpy.core.multiarray", "_reconstruct"): "_reconstruct",
    ("numpy._core.multiarray", "_reconstruct"): "_reconstruct",
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("collections", "defaultdict"): collections.defaultdict,
    ("__builtin__", "list"): list,
    ("builtins", "list"): list,
    ("_codecs", "encode"): codecs.encode,  # how Python 3 writes bytes into a protocol-2 pickle
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        found = _ALLOWED.get((module, name))
        if found is None:
            raise InvalidArgumentError(
                f"a Planetoid file may hold only arrays, CSR matrices and the graph dict; this one names {module}.{name}"
            )
        return _multiarray()._reconstruct if found == "_reconstruct" else found


def _load(path: Path):
    try:
        with open(path, "rb") as f:
            return _Unpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as error:
        if isinstance(error, InvalidArgumentError):
            raise InvalidArgumentError(f"{str(path)!r}: {error}") from None
        raise InvalidArgumentError(f"{str(path)!r} is not a Planetoid pickle: {error}") from None


def raw_files(folder: str | os.PathLike, name: str) -> dict[str, Path]:
    """`{part: folder/ind.<name>.<part>}` for the eight parts; FileNotFoundError naming the missing ones."""
    folder = Path(folder)
    files = {part: folder / f"ind.{name}.{part}" for part in PARTS}
    missing = [p.name for p in files.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"Planetoid files not found in {str(folder)!r}: {', '.join(missing)}")
    return files


def read_planetoid_raw(folder: str | os.PathLike, name: str) -> dict[str, np.ndarray]:
    """The arrays of `<name>.npz` from the raw files `folder/ind.<name>.*`.

    Returns:
        `features` float32 [N, F], `labels` int64 [N] (-1: no label), `edge_index` int64 [2, E],
        `train_index`, `val_index`, `test_index` int64 node ids (see the module docstring).
    """
    files = raw_files(folder, name)
    parts = {part: _load(path) for part, path in files.items() if part != "test.index"}
    for part in ("x", "tx", "allx"):
        if not isinstance(parts[part], _CsrRows):
            raise InvalidArgumentError(f"{str(files[part])!r}: expected a CSR matrix of feature rows")
    labels_of = {part: np.asarray(parts[part]) for part in ("y", "ty", "ally")}
    graph = parts["graph"]
    if not isinstance(graph, dict):
        raise InvalidArgumentError(f"{str(files['graph'])!r}: expected a dict node -> neighbours")
    test_index = np.loadtxt(files["test.index"], dtype="int64", ndmin=1)
    test_sorted = np.sort(test_index)

    allx = parts["allx"].dense(str(files["allx"]))
    tx = parts["tx"].dense(str(files["tx"]))
    if len(tx) != len(test_index) or len(labels_of["ty"]) != len(test_index):
        raise InvalidArgumentError(f"{name}: {len(test_index)} test ids for {len(tx)} tx rows")
    # test ids span a range; ids without a tx row (CiteSeer's isolated nodes) keep zero rows
    first, span = int(test_sorted[0]), int(test_sorted[-1] - test_sorted[0] + 1)
    test_x = np.zeros((span, tx.shape[1]), dtype="float32")
    test_y = np.zeros((span, labels_of["ty"].shape[1]), dtype=labels_of["ty"].dtype)
    test_x[test_sorted - first] = tx
    test_y[test_sorted - first] = labels_of["ty"]
    features = np.concatenate([allx, test_x])
    one_hot = np.concatenate([labels_of["ally"], test_y])
    features[test_index] = features[test_sorted]
    one_hot[test_index] = one_hot[test_sorted]
    labels = np.where(one_hot.sum(axis=1) > 0, one_hot.argmax(axis=1), -1).astype("int64")

    pairs = [(node, neighbour) for node, neighbours in graph.items() for neighbour in neighbours]
    edge_index = np.asarray(pairs, dtype="int64").reshape(-1, 2).T
    if edge_index.size and edge_index.max() >= len(features):
        raise InvalidArgumentError(f"{name}: the graph names node {edge_index.max()} of {len(features)}")
    n_train = len(labels_of["y"])
    return {
        "features": features,
        "labels": labels,
        "edge_index": edge_index,
        "train_index": np.arange(n_train, dtype="int64"),
        "val_index": np.arange(n_train, n_train + VALIDATION_SIZE, dtype="int64"),
        "test_index": test_sorted,
    }


def convert_planetoid(folder: str | os.PathLike, name: str, path: str | os.PathLike) -> Path:
    """Write `read_planetoid_raw(folder, name)` to the `.npz` file `path` (compressed; written whole or not at all)."""
    arrays = read_planetoid_raw(folder, name)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial.npz")
    np.savez_compressed(partial, **arrays)
    os.replace(partial, path)
    return path


__all__ = ["convert_planetoid", "raw_files", "read_planetoid_raw"]
