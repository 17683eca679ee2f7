"""`import zoo` without TensorFlow: the command line's first answers, the card index, Keras hooks."""

import json
import subprocess
import sys

import pytest

import zoo
from zoo import card_index, registry

HEAVY = "sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras', 'layers'))"


def run_python(script, *args, timeout=300):
    result = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_list_info_help_and_the_registry_import_neither_tensorflow_nor_keras():
    script = f"""
import sys
from zoo.cli import main
assert main(["list"]) == 0
assert main(["info", "lenet5"]) == 0
assert main(["info", "gcn", "--json"]) == 0
try:
    main(["--help"])
except SystemExit as exit:
    assert exit.code == 0
import zoo
assert zoo.list_models("resnet*") == ["resnet1d", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]
assert zoo.card("densenet121").params == 8_062_504 and zoo.is_model("gat") and not zoo.is_model("gatt")
try:  # a family's name counts as registered before its module is imported
    zoo.register(name="lenet5", family="mine", task="image", input_shape=(8, 8, 1))(print)
except ValueError as error:
    assert "already registered (family 'lenet')" in str(error), error
else:
    raise AssertionError("lenet5 registered twice")
print("HEAVY", {HEAVY})
"""
    result = run_python(script)
    assert "HEAVY []" in result.stdout, result.stdout[-500:]
    assert "lenet5" in result.stdout and "61,706" in result.stdout and "usage: zoo" in result.stdout


def test_the_card_index_is_the_registry_of_the_families():
    """zoo/card_index.json equals what the families register (regenerate: python -m zoo.models)."""
    generated = card_index.generate()
    assert json.loads(card_index.INDEX_FILE.read_text()) == generated, \
        f"zoo/card_index.json is stale: run {card_index.REGENERATE}"
    indexed = card_index.read()
    assert sorted(indexed) == sorted(generated["models"]) and len(indexed) >= 35
    for name, entry in indexed.items():  # the cards read back from JSON equal the families' own
        assert entry.card == registry._cards[name], name
        assert entry.module == registry._builders[name].__module__, name


def test_user_models_are_listed_beside_the_families():
    @zoo.register(name="lazy_test_net", family="mine", task="sequence", input_shape=(None, 2), num_classes=3)
    def net(**kwargs):
        raise AssertionError("not built here")

    try:
        assert zoo.list_models("lazy_test_*") == ["lazy_test_net"]
        assert "lazy_test_net" in zoo.list_models(task="sequence") and "lstm" in zoo.list_models(task="sequence")
        assert zoo.is_model("lazy_test_net") and zoo.card("lazy_test_net").family == "mine"
    finally:
        del registry._builders["lazy_test_net"], registry._cards["lazy_test_net"]


LOAD_AFTER_IMPORT_ZOO = f"""
import sys
import zoo
assert {HEAVY} == [], {HEAVY}
import keras                                    # after zoo: ZooModel and layers register now
model = keras.models.load_model(sys.argv[1])
assert type(model).__name__ == "ZooModel" and model.zoo_card.name == "resnet18", type(model)
assert model.zoo_class_names == ("a", "b", "c")
from zoo.export import export                   # the module zoo.export ...
import zoo.build
assert zoo.export is export and callable(zoo.build) and zoo.build.__module__ == "zoo.build"  # ... not the function's name
assert zoo.build("lenet5").count_params() == 61_706
print("LOADED")
"""


@pytest.mark.slow
def test_keras_load_model_after_import_zoo_then_keras(tmp_path):
    """`import zoo` imports no Keras, yet `keras.models.load_model` of a zoo model works after it
    (resnet18: ZooModel and the `layers` blocks must both be registered)."""
    path = tmp_path / "r18.keras"
    zoo.build("resnet18", num_classes=3, input_shape=(32, 32, 3), class_names=["a", "b", "c"]).save(path)
    assert "LOADED" in run_python(LOAD_AFTER_IMPORT_ZOO, str(path)).stdout
