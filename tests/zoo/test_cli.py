"""The `zoo` command line."""

import json
import subprocess
import sys

import pytest

from zoo.cli import main


def test_list_with_pattern(capsys):
    assert main(["list", "densenet*"]) == 0
    out = capsys.readouterr().out
    lines = [line.split()[0] for line in out.strip().splitlines()[1:]]
    assert lines == ["densenet121", "densenet169", "densenet201", "densenet264"]
    assert "8,062,504" in out


def test_list_without_match(capsys):
    assert main(["list", "nothing*"]) == 1
    assert "no registered model" in capsys.readouterr().err


def test_info_json(capsys):
    assert main(["info", "resnet50", "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["family"] == "resnet" and card["params"] == 25_636_712 and card["input_shape"] == [224, 224, 3]


def test_info_text_and_unknown(capsys):
    assert main(["info", "lenet5"]) == 0
    assert "61,706" in capsys.readouterr().out
    assert main(["info", "lenet"]) == 2
    assert "lenet5" in capsys.readouterr().err


def test_module_entry_point():
    result = subprocess.run([sys.executable, "-m", "zoo", "list", "vgg1?"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert [line.split()[0] for line in result.stdout.strip().splitlines()[1:]] == ["vgg11", "vgg13", "vgg16", "vgg19"]


def test_train_with_missing_data_is_a_message_not_a_traceback(capsys, tmp_path):
    missing = tmp_path / "nowhere.npz"
    assert main(["train", "mlp", "--data", str(missing), "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("zoo: error: training data not found") and str(missing) in err
    assert "Traceback" not in err


def test_train_saves_through_a_rename_and_refuses_unknown_suffixes(capsys, tmp_path):
    import keras
    import numpy as np

    from zoo.data import load_digits

    (x, y), _ = load_digits()
    np.savez(tmp_path / "digits.npz", x=x[:64], y=y[:64])
    out = tmp_path / "out" / "model.keras"
    assert main(["train", "mlp", "--data", str(tmp_path / "digits.npz"), "--epochs", "1", "--output", str(out)]) == 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["model.keras"]  # no temporary file left
    assert keras.saving.load_model(out).output_shape == (None, 10)
    assert main(["train", "mlp", "--data", str(tmp_path / "digits.npz"), "--epochs", "1",
                 "--output", str(tmp_path / "model.h5")]) == 2
    assert "--output must end in .keras or .weights.h5" in capsys.readouterr().err


NOISE = ("absl::InitializeLog", "port.cc:", "cudart_stub.cc:", "cuInit")


def test_train_starts_tensorflow_quietly_and_still_says_what_is_wrong(tmp_path):
    """The only line on stderr is the error: none of TensorFlow's C++ start-up lines."""
    missing = tmp_path / "nowhere.npz"
    result = subprocess.run([sys.executable, "-m", "zoo", "train", "mlp", "--data", str(missing)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()  # exactly one line
    assert line.startswith("zoo: error: training data not found") and str(missing) in line
    assert not any(marker in result.stderr for marker in NOISE)


def test_export_writes_a_saved_model_that_answers_as_the_keras_file(capsys, tmp_path):
    import numpy as np
    import tensorflow as tf

    import zoo

    model = zoo.build("mlp", input_shape=(6, 6, 1), num_classes=3, hidden=(5,), class_names=["cat", "dog", "owl"])
    model.save(tmp_path / "m.keras")
    x = np.random.default_rng(0).random((4, 6, 6, 1), dtype=np.float32)

    assert main(["export", str(tmp_path / "m.keras"), str(tmp_path / "models" / "pets"), "--version", "7"]) == 0
    version = tmp_path / "models" / "pets" / "7"
    assert capsys.readouterr().out.strip() == str(version)
    serving_default = tf.saved_model.load(str(version)).signatures["serving_default"]
    scores = serving_default(input_layer=tf.constant(x))["scores"].numpy()
    np.testing.assert_allclose(scores, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert (version / "assets.extra" / "class_names.txt").read_text().split() == ["cat", "dog", "owl"]  # the model's own

    assert main(["export", str(tmp_path / "m.keras"), str(tmp_path / "models" / "pets"), "--class-names", "a", "b", "c"]) == 0
    assert (tmp_path / "models" / "pets" / "8" / "assets.extra" / "class_names.txt").read_text().split() == ["a", "b", "c"]
    assert main(["export", str(tmp_path / "m.keras"), str(tmp_path / "models" / "pets"), "--class-names", "a", "b"]) == 2
    assert "class_names" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "missing.keras"), str(tmp_path / "models" / "pets")]) == 2
    assert "no model file at" in capsys.readouterr().err


def write_gin(path, graphs):
    """A GIN text file: per graph (label, node tags), the nodes joined in a ring."""
    lines = [str(len(graphs))]
    for label, tags in graphs:
        n = len(tags)
        lines.append(f"{n} {label}")
        lines += [f"{tag} 2 {(v - 1) % n} {(v + 1) % n}" for v, tag in enumerate(tags)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_train_gin_validates_on_validation_data_encoded_with_the_training_vocabulary(capsys, caplog, tmp_path):
    import re

    import zoo
    from zoo.data import load_gin_text

    # Training: tags 3 and 7, labels 0 and 1. Validation: tags 3, 7 and 9 (unknown), label 1 only; read on
    # its own it would have 3 one-hot columns (a model of 2 cannot take them) and label 1 as class 0.
    train = write_gin(tmp_path / "train.txt", [(i % 2, [3, 7, 3, 7][: 3 + i % 2] * (1 + i % 3)) for i in range(8)])
    val = write_gin(tmp_path / "val.txt", [(1, [7, 9, 3, 7]), (1, [3, 7, 3, 9, 9]), (1, [7, 7, 3])])
    out = tmp_path / "gin.keras"
    assert main(["train", "gin", "--data", str(train), "--validation-data", str(val), "--epochs", "2",
                 "--batch-size", "4", "--one-line", "--output", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == ("recipe gin (Xu et al. 2019 §7): adam lr 0.01 halved every 50 epochs, 2 epochs, batch 4, "
                      "keep best validation")  # the card's recipe, with the arguments given
    epochs = [line for line in printed if line.startswith("Epoch ")]
    assert [line.split(" - ")[0] for line in epochs] == ["Epoch 1/2", "Epoch 2/2"]
    logs = [dict(re.findall(r"(val_\w+): ([\d.]+)", line)) for line in epochs]
    assert all(set(log) == {"val_loss", "val_accuracy"} for log in logs)
    last = min(logs, key=lambda log: float(log["val_loss"]))  # gin's recipe keeps the best validation epoch
    assert any("3 of the 12 nodes" in r.getMessage() and "[9]" in r.getMessage() for r in caplog.records)
    vocabulary = load_gin_text(train)
    expected = zoo.evaluate(zoo.load_model(out), load_gin_text(val, node_tags=vocabulary.tag_values,
                                                               label_values=vocabulary.label_values))
    assert float(last["val_accuracy"]) == pytest.approx(expected["accuracy"], abs=1e-4)
    assert float(last["val_loss"]) == pytest.approx(expected["loss"], abs=2e-4)
