"""The `zoo` command line."""

import json
import subprocess
import sys

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
