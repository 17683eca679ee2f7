"""Fine-tuning: freezing, batch norm while frozen, staged unfreezing, head-only learning rates, transfer."""

import keras
import numpy as np
import pytest
from keras import layers

import zoo
from zoo.data import load_digits


def bn_model(num_classes=3):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 1))
    x = layers.Conv2D(4, 3, name="conv")(inputs)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.ReLU(name="relu")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dense(8, activation="relu", name="fc")(x)
    return keras.Model(inputs, layers.Dense(num_classes, name="predictions")(x))


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(2.0, 3.0, size=(n, 6, 6, 1)).astype("float32")  # far from BN's initial statistics
    return x, rng.integers(0, 3, size=n)


def test_freeze_until_head_trains_only_the_head_and_keeps_bn_in_inference():
    model = bn_model()
    frozen = zoo.freeze(model, until="head")
    assert frozen == ["conv", "bn", "fc"]
    assert [v.path for v in model.trainable_variables] == ["predictions/kernel", "predictions/bias"]
    before = {v.path: np.asarray(v).copy() for v in model.weights}
    zoo.fit(model, data(), epochs=2, batch_size=16, learning_rate=0.05, verbose=0)
    after = {v.path: np.asarray(v) for v in model.weights}
    for path in before:
        changed = not np.allclose(before[path], after[path])
        assert changed == path.startswith("predictions"), path  # moving mean/variance of "bn" too


def test_staged_unfreezing():
    model = bn_model()
    assert zoo.freeze(model, until=0.5) == ["conv", "bn"]
    assert zoo.freeze(model, until="fc") == ["conv", "bn", "fc"]
    assert zoo.freeze(model, until="bn") == ["conv", "bn"]
    bn_moving_mean = np.asarray(model.get_layer("bn").moving_mean).copy()
    zoo.fit(model, data(), epochs=1, batch_size=16, verbose=0)
    np.testing.assert_array_equal(bn_moving_mean, model.get_layer("bn").moving_mean)
    zoo.unfreeze(model)
    zoo.fit(model, data(), epochs=1, batch_size=16, verbose=0)
    assert not np.allclose(bn_moving_mean, model.get_layer("bn").moving_mean)  # batch statistics again


def test_bad_freeze_points():
    model = bn_model()
    with pytest.raises(zoo.InvalidArgumentError, match="no layer 'fc9'"):
        zoo.freeze(model, until="fc9")
    with pytest.raises(zoo.InvalidArgumentError, match="fraction"):
        zoo.freeze(model, until=1.5)


def test_freeze_a_layer_inside_a_block():
    model = zoo.build("densenet121", input_shape=(32, 32, 3), num_classes=3)
    frozen = zoo.freeze(model, until="conv3_block2_1_conv")  # inside the dense block "conv3"
    assert frozen[-1] == "conv3" and "pool3" not in frozen
    assert zoo.freeze(model, until="head")[-1] == "bn"  # everything before "predictions"


def test_reset_head_reinitializes_only_the_head():
    model = bn_model()
    before = {v.path: np.asarray(v).copy() for v in model.weights}
    assert zoo.reset_head(model) == ["predictions"]
    for v in model.weights:
        assert np.allclose(before[v.path], np.asarray(v)) == (not v.path.startswith("predictions/kernel")), v.path


def test_backbone_and_head_learning_rates():
    model = bn_model()
    before = {v.path: np.asarray(v).copy() for v in model.trainable_variables}
    zoo.fit(model, data(), epochs=1, batch_size=16, optimizer="sgd", learning_rate=0.1, backbone_learning_rate=0.0,
            verbose=0)
    for v in model.trainable_variables:
        same = np.allclose(before[v.path], np.asarray(v))
        assert same == (not v.path.startswith("predictions")), v.path


@pytest.mark.slow
def test_transfer_from_digits_0_4_beats_random_weights_on_5_9(tmp_path):
    (x, y), (xt, yt) = load_digits(image_size=32)
    low, high, high_t = y < 5, y >= 5, yt >= 5
    keras.utils.set_random_seed(0)
    source = zoo.build("lenet5", num_classes=5)
    zoo.fit(source, (x[low], y[low]), epochs=15, learning_rate=3e-3, verbose=0)
    source.save_weights(tmp_path / "digits_0_4.weights.h5")

    def fine_tune(weights):
        keras.utils.set_random_seed(1)
        model = zoo.build("lenet5", num_classes=5, weights=weights)
        if weights is not None:
            assert list(model.zoo_weights_report.shape_mismatch) == [] and model.zoo_weights_report.loaded
            assert zoo.reset_head(model) == ["predictions"]  # a new head for the new classes
            zoo.freeze(model, until="conv2")  # the convolutional backbone; the classifier fc3-fc4-head learns
        budget = dict(epochs=1, batch_size=32, learning_rate=1e-2, verbose=0)  # a fixed, small budget
        zoo.fit(model, (x[high], y[high] - 5), **budget)
        return zoo.evaluate(model, (xt[high_t], yt[high_t] - 5))["accuracy"]

    transferred, scratch = fine_tune(tmp_path / "digits_0_4.weights.h5"), fine_tune(None)
    print(f"digits 5-9 after 1 epoch: frozen backbone from 0-4 {transferred:.3f}, random weights {scratch:.3f}")
    assert transferred > scratch + 0.03

