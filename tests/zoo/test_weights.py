"""Weight files read by layer name: the three formats, nested blocks, heads, and bad files."""

import h5py
import keras
import numpy as np
import pytest
from keras import layers

from zoo.errors import WeightsError
from zoo.weights import load_weights_by_name, model_weight_layers, read_weight_file


@keras.saving.register_keras_serializable(package="zoo_tests")
class TwoDense(keras.layers.Layer):
    """A block whose sub-layers have the same names in every instance ("fc", "bn")."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.fc = layers.Dense(units, name="fc")
        self.bn = layers.BatchNormalization(name="bn")

    def call(self, x, training=None):
        return self.bn(self.fc(x), training=training)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def nested_model(num_classes=3, width=4):
    inputs = keras.Input((5,))
    x = TwoDense(width, name="block1")(inputs)
    x = TwoDense(width, name="block2")(x)
    outputs = layers.Dense(num_classes, name="predictions")(x)
    return keras.Model(inputs, outputs)


def flat_model(num_classes=3):
    """Same leaf names as a keras.applications model would have: unique, no nesting."""
    inputs = keras.Input((5,))
    x = layers.Dense(4, name="stem")(inputs)
    x = layers.BatchNormalization(name="stem_bn")(x)
    return keras.Model(inputs, layers.Dense(num_classes, name="predictions")(x))


def outputs(model, seed=1):
    x = np.random.default_rng(seed).normal(size=(6, 5)).astype("float32")
    return np.asarray(model(x, training=False))


def test_keras3_file_with_repeated_leaf_names_loads_by_chain(tmp_path, randomize):
    source = randomize(nested_model())
    source.save_weights(tmp_path / "w.weights.h5")
    entries = read_weight_file(tmp_path / "w.weights.h5")
    assert ("block1", "fc") in entries and ("block2", "fc") in entries
    target = nested_model()
    report = load_weights_by_name(target, tmp_path / "w.weights.h5")
    assert sorted(report.loaded) == ["bn", "bn", "fc", "fc", "predictions"]
    np.testing.assert_array_equal(outputs(source), outputs(target))


def test_keras_archive(tmp_path, randomize):
    source = randomize(nested_model())
    source.save(tmp_path / "m.keras")
    target = nested_model()
    load_weights_by_name(target, tmp_path / "m.keras")
    np.testing.assert_array_equal(outputs(source), outputs(target))


def test_legacy_h5_as_keras_applications_downloads(tmp_path, randomize):
    from keras.src.legacy.saving import legacy_h5_format

    source = randomize(flat_model())
    with h5py.File(tmp_path / "legacy.h5", "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, source)
    entries = read_weight_file(tmp_path / "legacy.h5")
    assert set(entries) == {("stem",), ("stem_bn",), ("predictions",)}
    assert len(entries[("stem_bn",)]) == 4  # gamma, beta, moving mean, moving variance
    target = flat_model()
    load_weights_by_name(target, tmp_path / "legacy.h5")
    np.testing.assert_array_equal(outputs(source), outputs(target))


def test_other_head_is_skipped_only_when_allowed(tmp_path, randomize):
    source = randomize(nested_model(num_classes=3))
    source.save_weights(tmp_path / "w.weights.h5")
    target = nested_model(num_classes=7)
    before = [np.asarray(v) for v in target.weights]
    with pytest.raises(WeightsError, match="predictions"):
        load_weights_by_name(target, tmp_path / "w.weights.h5")
    for old, new in zip(before, target.weights):  # nothing was assigned
        np.testing.assert_array_equal(old, np.asarray(new))
    report = load_weights_by_name(target, tmp_path / "w.weights.h5", skippable=("predictions",))
    assert list(report.shape_mismatch) == ["predictions"]
    assert "(4, 3)" in report.shape_mismatch["predictions"] and "(4, 7)" in report.shape_mismatch["predictions"]
    np.testing.assert_array_equal(np.asarray(target.get_layer("block1").fc.kernel),
                                  np.asarray(source.get_layer("block1").fc.kernel))


def test_a_file_of_another_architecture_is_refused(tmp_path):
    flat_model().save_weights(tmp_path / "flat.weights.h5")
    with pytest.raises(WeightsError, match="does not fit"):
        load_weights_by_name(nested_model(), tmp_path / "flat.weights.h5", skippable=("predictions",))


def test_files_that_are_not_weights(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(WeightsError, match="not a weight file"):
        read_weight_file(tmp_path / "notes.txt")
    with pytest.raises(WeightsError, match="not found"):
        read_weight_file(tmp_path / "missing.h5")
    with h5py.File(tmp_path / "empty.h5", "w") as f:
        f.create_dataset("x", data=[1, 2])
    with pytest.raises(WeightsError, match="no Keras weights"):
        read_weight_file(tmp_path / "empty.h5")


def test_model_weight_layers_lists_owners_only():
    chains = model_weight_layers(nested_model())
    assert set(chains) == {("block1", "fc"), ("block1", "bn"), ("block2", "fc"), ("block2", "bn"), ("predictions",)}
