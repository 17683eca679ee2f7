"""The registry: names, wildcards, cards, the decorator, unknown names."""

import keras
import pytest
from keras import layers

import zoo
from zoo import registry

REQUIRED_IMAGE_MODELS = [
    "mlp", "lenet5", "alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "resnet18", "resnet34", "resnet50",
    "resnet101", "resnet152", "densenet121", "densenet169", "densenet201", "densenet264", "squeezenet1_0",
    "squeezenet1_1", "mobilenet_v2", "vit_b16",
]


@pytest.fixture
def scratch_registry():
    """Names registered during a test are removed afterwards."""
    import zoo.models  # noqa: F401  (the families first: only the test's own names are removed)

    before = set(registry._builders)
    yield
    for name in set(registry._builders) - before:
        del registry._builders[name]
        del registry._cards[name]


def test_every_required_image_model_is_registered():
    names = zoo.list_models(task="image")
    missing = [n for n in REQUIRED_IMAGE_MODELS if n not in names]
    assert not missing, f"not registered: {missing}"
    assert any(n.startswith("vit_") and n != "vit_b16" for n in names), "a smaller ViT for tests"


def test_wildcards_and_natural_order():
    assert zoo.list_models("resnet*") == ["resnet1d", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]
    assert zoo.list_models("vgg1?") == ["vgg11", "vgg13", "vgg16", "vgg19"]
    assert zoo.list_models(["densenet12*", "squeezenet*"]) == ["densenet121", "squeezenet1_0", "squeezenet1_1"]
    assert zoo.list_models("nothing*") == []
    assert zoo.list_models("*", family="densenet") == zoo.list_models("densenet*")


def test_every_card_is_complete():
    for name in zoo.list_models():
        card = zoo.card(name)
        assert card.name == name
        assert card.family and card.task in ("image", "sequence", "graph")
        assert card.input_shape and card.reference, name
        if card.task == "image":
            assert card.params and card.trainable_params and card.min_input_size, name
            assert card.head_layers, name


def test_unknown_name_lists_close_names():
    with pytest.raises(zoo.UnknownModelError) as info:
        zoo.build("densnet121")
    message = str(info.value)
    assert "densnet121" in message and "densenet121" in message
    with pytest.raises(KeyError):  # also a KeyError, for callers that catch lookups
        zoo.card("no_such_model")


def test_lookup_ignores_case_and_spaces():
    assert zoo.card(" ResNet50 ").name == "resnet50"


def test_user_models_register_with_the_decorator(scratch_registry):
    @zoo.register(family="tiny", task="image", input_shape=(12, 12, 3), num_classes=4, min_input_size=4,
                  reference="none (a test model)")
    def tiny_test_net(*, num_classes, input_shape, include_top=True, pooling=None, classifier_activation="softmax"):
        inputs = keras.Input(input_shape)
        x = layers.Conv2D(2, 3, name="conv")(inputs)
        x = layers.GlobalAveragePooling2D()(x)
        return keras.Model(inputs, layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x))

    assert "tiny_test_net" in zoo.list_models("tiny*")
    model = zoo.build("tiny_test_net")
    assert model.output_shape == (None, 4)
    assert zoo.card("tiny_test_net").family == "tiny"
    with pytest.raises(ValueError, match="already registered"):
        zoo.register(family="tiny", task="image", input_shape=(12, 12, 3))(tiny_test_net)
    zoo.register(name="tiny_test_net", family="tiny2", task="image", input_shape=(12, 12, 3), overwrite=True)(
        tiny_test_net
    )
    assert zoo.card("tiny_test_net").family == "tiny2"


def test_card_rejects_unknown_task():
    with pytest.raises(ValueError, match="task"):
        zoo.ModelCard(name="x", family="x", task="audio", input_shape=(1,))
