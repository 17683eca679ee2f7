"""The digits loader and the demo (the README's main job)."""

import numpy as np
import pytest

from zoo.data import load_digits


def test_bundled_copy_equals_the_shared_file(shared_data):
    (x1, y1), (t1, u1) = load_digits()
    (x2, y2), (t2, u2) = load_digits(shared_data / "images" / "digits.csv.gz")
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(u1, u2)
    assert x1.shape == (898, 8, 8, 1) and t1.shape == (899, 8, 8, 1)
    assert x1.min() == 0.0 and x1.max() == 1.0 and set(np.unique(y1)) == set(range(10))


def test_resize():
    (x, _), _ = load_digits(image_size=32)
    assert x.shape[1:] == (32, 32, 1) and x.dtype == np.float32


def test_bad_file(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,3\n4,5,6\n")
    with pytest.raises(ValueError, match="65 comma-separated"):
        load_digits(bad)
    with pytest.raises(FileNotFoundError):
        load_digits(tmp_path / "missing.csv.gz")


@pytest.mark.slow
def test_demo_end_to_end(capsys, tmp_path):
    """The README's main job (build, fit, export, serve, query over gRPC), and the training bar:
    LeNet-5 trained by zoo.fit on the first half of digits reaches >= 0.97 on the second half
    (see zoo.demo.lenet_recipe for the measured seeds); the served model answers the same."""
    from zoo.demo import run_demo

    result = run_demo("lenet5", verbose=0, models_dir=str(tmp_path / "models"))
    out = capsys.readouterr().out
    print(out)
    assert result["accuracy"] >= 0.97
    assert result["served_accuracy"] == result["accuracy"]
    assert result["version"] == 1 and (tmp_path / "models" / "digits" / "1" / "saved_model.pb").is_file()
    assert result["png_class"] == 8  # the first held-out image, sent as a PNG file
    assert "server stopped" in out
