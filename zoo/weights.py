"""Weight files read by layer name, so weights move between models that name layers alike.

The zoo names every layer after its place in the architecture (`conv3_block2_1_conv`), exactly as
keras.applications does, but groups them into block layers (`layers.DenseBlock`, ...). Loading by
name therefore works across the two even though their layer trees differ, and across zoo models
whose head differs. Three file formats are read:

- Keras 3 weight files (`model.save_weights("x.weights.h5")`): every layer's `vars` group carries
  the layer's name as an attribute;
- legacy Keras HDF5 weight files, the format of the keras.applications downloads
  (`layer_names` / `weight_names` attributes), and legacy full-model `.h5` files;
- `.keras` model archives (their `model.weights.h5` member).

A layer is identified by the chain of names from the model down to it, e.g.
("conv2", "conv2_block1", "conv2_block1_1_conv"). A model layer takes the entry with the same
chain, or else the entry whose last name is the same when that name is unique on both sides.
"""

from __future__ import annotations

import logging
import os
import tempfile
import zipfile
from dataclasses import dataclass, field

import h5py
import keras
import numpy as np

from zoo.errors import WeightsError

log = logging.getLogger("zoo.weights")

NameChain = tuple  # tuple[str, ...]


def read_weight_file(path: str | os.PathLike) -> dict[NameChain, list[np.ndarray]]:
    """Read a weight file into {layer name chain: [arrays in the layer's variable order]}.

    Only layers that own variables appear. Raises WeightsError when the file is missing or is
    not one of the three formats.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise WeightsError(f"weight file not found: {path!r}")
    if zipfile.is_zipfile(path):
        return _read_keras_archive(path)
    if not h5py.is_hdf5(path):
        raise WeightsError(
            f"{path!r} is not a weight file: expected a Keras '.weights.h5', a legacy '.h5' or a '.keras' archive"
        )
    with h5py.File(path, "r") as f:
        if "model_weights" in f:  # legacy full-model .h5
            return _read_legacy_h5(f["model_weights"])
        if "layer_names" in f.attrs:
            return _read_legacy_h5(f)
        if "layers" in f or "vars" in f:
            return _read_keras3_h5(f)
    raise WeightsError(f"{path!r} is an HDF5 file but holds no Keras weights")


def _read_keras_archive(path: str) -> dict[NameChain, list[np.ndarray]]:
    with zipfile.ZipFile(path) as archive:
        if "model.weights.h5" not in archive.namelist():
            raise WeightsError(f"{path!r} is a zip archive without 'model.weights.h5': not a .keras model file")
        with tempfile.TemporaryDirectory() as tmp:
            archive.extract("model.weights.h5", tmp)
            with h5py.File(os.path.join(tmp, "model.weights.h5"), "r") as f:
                return _read_keras3_h5(f)


def _read_keras3_h5(f: h5py.File) -> dict[NameChain, list[np.ndarray]]:
    """Walk the Keras 3 layout: <path>/vars groups with a `name` attribute, datasets "0".."n"."""
    entries: dict[NameChain, list[np.ndarray]] = {}

    def walk(group: h5py.Group, chain: NameChain, is_root: bool = False) -> None:
        own = group.get("vars")
        if isinstance(own, h5py.Group) and "name" in own.attrs and not is_root:  # the root is the model
            chain = chain + (_as_str(own.attrs["name"]),)
            arrays = [np.asarray(own[k]) for k in sorted(own.keys(), key=int) if isinstance(own[k], h5py.Dataset)]
            if arrays:
                entries[chain] = arrays
        for key in group.keys():
            child = group[key]
            if key != "vars" and isinstance(child, h5py.Group):
                walk(child, chain)

    walk(f, (), is_root=True)
    return entries


def _read_legacy_h5(group: h5py.Group) -> dict[NameChain, list[np.ndarray]]:
    entries: dict[NameChain, list[np.ndarray]] = {}
    for layer_name in map(_as_str, group.attrs["layer_names"]):
        layer_group = group[layer_name]
        names = [_as_str(n) for n in layer_group.attrs.get("weight_names", [])]
        if names:
            entries[(layer_name,)] = [np.asarray(layer_group[n]) for n in names]
    return entries


def _as_str(value) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def model_weight_layers(model: keras.Model) -> dict[NameChain, keras.layers.Layer]:
    """{name chain: layer} for every layer of `model` (at any depth) that owns variables."""
    found: dict[NameChain, keras.layers.Layer] = {}

    def walk(layer, chain: NameChain) -> None:
        for sub in layer._flatten_layers(include_self=False, recursive=False):
            sub_chain = chain + (sub.name,)
            own: dict = {}
            sub.save_own_variables(own)
            if own:
                found[sub_chain] = sub
            walk(sub, sub_chain)

    walk(model, ())
    return found


@dataclass
class LoadReport:
    """What `load_weights_by_name` did, layer by layer (names are the model's layer names)."""

    loaded: list[str] = field(default_factory=list)
    shape_mismatch: dict[str, str] = field(default_factory=dict)  # layer -> "file (…) vs model (…)"
    missing: list[str] = field(default_factory=list)  # model layers with no entry in the file
    unused: list[str] = field(default_factory=list)  # file entries no model layer took

    def summary(self) -> str:
        parts = [f"loaded {len(self.loaded)} layers"]
        if self.shape_mismatch:
            parts.append("skipped (shape differs) " + ", ".join(f"{k}: {v}" for k, v in self.shape_mismatch.items()))
        if self.missing:
            parts.append("not in file: " + ", ".join(self.missing))
        if self.unused:
            parts.append("unused from file: " + ", ".join(self.unused))
        return "; ".join(parts)


def load_weights_by_name(
    model: keras.Model,
    path: str | os.PathLike,
    *,
    skippable: tuple[str, ...] = (),
) -> LoadReport:
    """Load a weight file into `model` by layer name.

    Args:
        model: a built Keras model.
        path: a weight file in any of the formats of `read_weight_file`.
        skippable: layer names allowed to stay unloaded (the classification head, when the number
            of classes or `include_top` differs). Any other layer that is missing from the file or
            whose shapes differ raises WeightsError, and nothing is assigned.

    Returns:
        a LoadReport; it is also logged at INFO level (and at WARNING when layers were skipped).
    """
    entries = read_weight_file(path)
    by_last: dict[str, list[NameChain]] = {}
    for chain in entries:
        by_last.setdefault(chain[-1], []).append(chain)

    report = LoadReport()
    plan: list[tuple[keras.layers.Layer, list[np.ndarray]]] = []
    used: set[NameChain] = set()
    layers = model_weight_layers(model)
    last_counts: dict[str, int] = {}
    for chain in layers:
        last_counts[chain[-1]] = last_counts.get(chain[-1], 0) + 1

    for chain, layer in layers.items():
        source = chain if chain in entries else None
        if source is None and last_counts[chain[-1]] == 1 and len(by_last.get(chain[-1], [])) == 1:
            source = by_last[chain[-1]][0]
        if source is None:
            report.missing.append(layer.name)
            continue
        used.add(source)
        arrays = entries[source]
        own: dict = {}
        layer.save_own_variables(own)
        model_shapes = [tuple(own[str(i)].shape) for i in range(len(own))]
        file_shapes = [tuple(a.shape) for a in arrays]
        if model_shapes != file_shapes:
            report.shape_mismatch[layer.name] = f"file {file_shapes} vs model {model_shapes}"
            continue
        plan.append((layer, arrays))
        report.loaded.append(layer.name)
    report.unused = ["/".join(c) for c in entries if c not in used]

    fatal = [n for n in report.missing + list(report.shape_mismatch) if n not in skippable]
    if fatal:
        raise WeightsError(
            f"weight file {os.fspath(path)!r} does not fit model {model.name!r}: "
            + report.summary()
            + ". Was it saved from a different architecture or input channels?"
        )
    if not report.loaded:
        raise WeightsError(f"weight file {os.fspath(path)!r} has no layer of model {model.name!r}")
    for layer, arrays in plan:
        layer.load_own_variables({str(i): a for i, a in enumerate(arrays)})
    level = logging.WARNING if (report.missing or report.shape_mismatch) else logging.INFO
    log.log(level, "weights %s -> %s: %s", os.fspath(path), model.name, report.summary())
    return report
