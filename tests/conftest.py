"""Shared fixtures: quiet TensorFlow, fixed seeds, the `.keras` round-trip check, the data folder (also `$ZOO_DATA_DIR`);
tests marked `acceptance` (a full card recipe, minutes each) run only with `ZOO_ACCEPTANCE=1`."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path

import zoo  # noqa: F401  first, as a user's script: it sets what TensorFlow reads at start-up (zoo._tf_settings)

import keras
import numpy as np
import pytest
import tensorflow as tf

# Two logical CPU devices, so MirroredStrategy runs for real on a CPU-only machine. Must happen
# before TensorFlow initializes its devices, i.e. here, at collection time.
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2
)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if SHARED_DATA.is_dir():  # the data sets that are not bundled (CiteSeer, PROTEINS) come from there, never a download
    os.environ.setdefault("ZOO_DATA_DIR", str(SHARED_DATA))


def pytest_collection_modifyitems(config, items):
    """Skip the `acceptance` tests unless ZOO_ACCEPTANCE is set: together they train for about an
    hour, past the suite's 25-minute budget (their figures are in the README)."""
    if os.environ.get("ZOO_ACCEPTANCE"):
        return
    skip = pytest.mark.skip(reason="a full card recipe (minutes of training); ZOO_ACCEPTANCE=1 runs it")
    for item in items:
        if "acceptance" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)
    yield
    keras.backend.clear_session()


@pytest.fixture
def shared_data():
    """`../shared/data` (developers and CI only); skips when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def roundtrip(tmp_path):
    """Check that a layer saves to a `.keras` file and reloads with identical outputs.

    Usage: `roundtrip(layer, inputs)` where `inputs` is a numpy array (or a list / dict of them,
    passed to the layer as is). The layer is wrapped in a functional model, called once, saved,
    reloaded with no `custom_objects` (so the layer must be registered), and both outputs are
    compared exactly. Also checks `from_config(get_config())` gives the same config. Returns the
    reloaded model's outputs.
    """

    def check(layer, inputs, **call_kwargs):
        config = layer.get_config()
        assert type(layer).from_config(config).get_config() == config
        spec = keras.tree.map_structure(
            lambda a: keras.Input(shape=np.shape(a)[1:], dtype=str(np.asarray(a).dtype)), inputs
        )
        model = keras.Model(spec, layer(spec, **call_kwargs))
        expected = model(inputs, training=False)
        path = tmp_path / f"{layer.name}.keras"
        model.save(path)
        reloaded = keras.saving.load_model(path)
        got = reloaded(inputs, training=False)
        keras.tree.map_structure(
            lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)), expected, got
        )
        return got

    return check


@pytest.fixture
def randomize():
    """`randomize(model, seed=0)`: give every variable random values (variances stay positive).

    Fresh models have all-zero biases and batch-norm statistics 0/1, which would hide a weight
    loaded into the wrong layer; comparisons between models use randomized weights instead.
    """

    def apply(model, seed=0):
        rng = np.random.default_rng(seed)
        for variable in model.weights:
            shape = tuple(variable.shape)
            if "variance" in variable.path:
                value = rng.uniform(0.5, 1.5, shape)
            else:
                value = rng.normal(0.0, 0.05, shape)
            variable.assign(value.astype(variable.dtype))
        return model

    return apply
