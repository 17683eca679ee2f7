"""Image folders for training: read, checked before training, and `zoo train` on one."""

import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.data import load_digits
from zoo.data.images import list_image_folder, read_image_folder


def write_png(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    tf.io.write_file(str(path), tf.io.encode_png(tf.cast(tf.round(image * 255), tf.uint8)))


@pytest.fixture
def digit_folder(tmp_path):
    """Digits 0, 1, 2 as PNG files in root/<class>/, 16x16 grey."""
    (x, y), _ = load_digits(image_size=16)
    root = tmp_path / "digits"
    for i, (image, label) in enumerate(zip(x, y)):
        if label < 3:
            write_png(root / f"class_{label}" / f"{i:04d}.png", image)
    return root, x[y < 3], y[y < 3]


def test_reads_classes_and_pixels(digit_folder):
    root, x, y = digit_folder
    files, labels, names = list_image_folder(root)
    assert names == ["class_0", "class_1", "class_2"] and len(files) == len(y)
    images, got_labels = read_image_folder(root)
    assert images.shape == (len(y), 16, 16, 1)
    order = np.argsort(y, kind="stable")
    np.testing.assert_array_equal(got_labels, y[order])
    np.testing.assert_allclose(images, x[order], atol=0.5 / 255 + 1e-6)  # PNG is 8-bit


def test_fit_on_a_folder_path(digit_folder):
    root, _, _ = digit_folder
    model = zoo.build("mlp", input_shape=(16, 16, 1), num_classes=3)
    history = zoo.fit(model, str(root), epochs=3, learning_rate=3e-3, verbose=0)
    assert history.history["accuracy"][-1] > 0.8


def test_empty_and_malformed_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(zoo.InvalidArgumentError, match="no class sub-folders"):
        list_image_folder(tmp_path / "empty")
    (tmp_path / "noimages" / "cats").mkdir(parents=True)
    (tmp_path / "noimages" / "cats" / "notes.txt").write_text("x")
    with pytest.raises(zoo.InvalidArgumentError, match="no image files"):
        list_image_folder(tmp_path / "noimages")
    write_png(tmp_path / "partly" / "a" / "1.png", tf.zeros((4, 4, 1)))
    (tmp_path / "partly" / "b").mkdir()
    with pytest.raises(zoo.InvalidArgumentError, match=r"\['b'\] hold no image"):
        list_image_folder(tmp_path / "partly")


def test_mixed_sizes_need_a_size(tmp_path):
    write_png(tmp_path / "mixed" / "a" / "small.png", tf.zeros((4, 4, 1)))
    write_png(tmp_path / "mixed" / "b" / "big.png", tf.zeros((6, 5, 1)))
    with pytest.raises(zoo.InvalidArgumentError, match=r"small.png.*\(4, 4, 1\).*big.png.*\(6, 5, 1\)"):
        read_image_folder(tmp_path / "mixed")
    images, _ = read_image_folder(tmp_path / "mixed", image_size=(8, 8))
    assert images.shape == (2, 8, 8, 1)


def test_a_corrupted_file_is_named(tmp_path):
    write_png(tmp_path / "bad" / "a" / "good.png", tf.zeros((4, 4, 1)))
    (tmp_path / "bad" / "b").mkdir(parents=True)
    (tmp_path / "bad" / "b" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(zoo.InvalidArgumentError, match="broken.png"):
        read_image_folder(tmp_path / "bad")


def test_zoo_train_command_on_a_folder(digit_folder, tmp_path):
    root, _, _ = digit_folder
    out = tmp_path / "trained.keras"
    result = subprocess.run(
        [sys.executable, "-m", "zoo", "train", "mlp", "--data", str(root), "--epochs", "2", "--one-line",
         "--output", str(out)], capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Epoch 2/2" in result.stdout and out.is_file()
    import keras

    model = keras.saving.load_model(out)
    assert model.output_shape == (None, 3)


def test_zoo_train_reports_bad_labels(tmp_path):
    np.savez(tmp_path / "bad.npz", x=np.zeros((4, 8, 8, 1), "float32"), y=np.array([0, 1, 2, 7]))
    result = subprocess.run(
        [sys.executable, "-m", "zoo", "train", "mlp", "--data", str(tmp_path / "bad.npz"), "--num-classes", "3"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 2 and "label(s) [7]" in result.stderr
