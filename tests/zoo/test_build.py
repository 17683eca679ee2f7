"""zoo.build: argument checks happen before any layer is built, and say what would be right."""

import keras
import pytest
from keras import layers

import zoo
from zoo import registry

CALLS = []


@pytest.fixture
def probe_model():
    """A registered model whose builder records each call (so a test can see it was never reached)."""

    @zoo.register(name="probe_net", family="probe", task="image", input_shape=(16, 16, 3), num_classes=3,
                  min_input_size=8, overwrite=True)
    def probe_net(*, num_classes, input_shape, include_top=True, pooling=None, classifier_activation="softmax",
                  width=2):
        CALLS.append(dict(num_classes=num_classes, input_shape=input_shape, width=width))
        inputs = keras.Input(input_shape)
        x = layers.Conv2D(width, 3, name="conv")(inputs)
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        return keras.Model(inputs, layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x))

    CALLS.clear()
    yield "probe_net"
    del registry._builders["probe_net"], registry._cards["probe_net"]


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(num_classes=0), ["num_classes", ">= 1", "0"]),
        (dict(num_classes=-3), ["num_classes"]),
        (dict(num_classes=2.5), ["num_classes", "integer"]),
        (dict(num_classes=True), ["num_classes"]),
        (dict(input_shape=(16, 16)), ["rank 3", "(16, 16, 3)"]),
        (dict(input_shape=(16, 16, 3, 1)), ["rank 3"]),
        (dict(input_shape=(7, 16, 3)), ["minimum", ">= 8"]),
        (dict(input_shape=(16, 16, None)), ["channel"]),
        (dict(input_shape=(16, 0, 3)), [">= 1"]),
        (dict(input_shape="big"), ["input_shape"]),
        (dict(pooling="mean"), ["pooling", "avg"]),
        (dict(weights="imagenet"), ["no published weights"]),
        (dict(weights="/no/such/file.h5"), ["neither a file"]),
    ],
)
def test_bad_arguments_fail_before_building(probe_model, kwargs, words):
    with pytest.raises(zoo.InvalidArgumentError) as info:
        zoo.build(probe_model, **kwargs)
    for word in words:
        assert word in str(info.value)
    assert CALLS == [], "the builder must not run on bad arguments"


def test_defaults_come_from_the_card(probe_model):
    model = zoo.build(probe_model)
    assert CALLS == [dict(num_classes=3, input_shape=(16, 16, 3), width=2)]
    assert model.output_shape == (None, 3)
    assert model.zoo_card is zoo.card(probe_model)


def test_overrides_reach_the_builder(probe_model):
    model = zoo.build(probe_model, width=5, input_shape=[9, 11, 1])
    assert CALLS[-1]["width"] == 5 and CALLS[-1]["input_shape"] == (9, 11, 1)
    assert model.get_layer("conv").filters == 5


def test_unknown_override_names_the_valid_options():
    with pytest.raises(zoo.InvalidArgumentError) as info:
        zoo.build("densenet121", input_shape=(32, 32, 3), grwoth_rate=12)
    assert "grwoth_rate" in str(info.value) and "growth_rate" in str(info.value)


def test_logits_head(probe_model):
    model = zoo.build(probe_model, classifier_activation=None)
    assert model.get_layer("predictions").activation.__name__ == "linear"
