"""Image folders through zoo.fit / zoo.evaluate / zoo train: streamed, resized, checked, named."""

import logging
import os
import threading

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import zoo
from zoo.data.image_files import header_problems
from zoo.data.images import ImageFolder, list_image_folder
from zoo.training.image_folders import bind
from zoo.training.sources import as_training_data, read_source

COLOURS = {"blue": (40, 60, 200), "green": (40, 190, 60), "red": (210, 40, 40)}


def save(path, pixels, **options):
    """Write uint8 `pixels` [h, w, c] as an image file (its format from the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(path, **options)
    return path


def colour_folder(root, per_class=8, seed=0):
    """One class per colour: noisy JPEG and PNG photos of different sizes."""
    rng = np.random.default_rng(seed)
    for name, colour in COLOURS.items():
        for i in range(per_class):
            height, width = rng.integers(9, 30, size=2)
            pixels = np.clip(rng.normal(colour, 25, size=(height, width, 3)), 0, 255).astype(np.uint8)
            save(root / name / f"{i:02d}.{'jpg' if i % 2 else 'png'}", pixels)
    return root


def unit(pixels):
    """0..255 pixels as the pipeline scales them: float32 / 255."""
    return np.asarray(pixels, np.float32) / np.float32(255)


def damage(path):
    """Cut a file in half, after its header (the header check passes; decoding fails)."""
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def flat_model(input_shape, classes, **kwargs):
    return zoo.build("mlp", input_shape=input_shape, num_classes=classes, hidden=(16,), dropout=0.0, **kwargs)


def part(model, root, **kwargs):
    """The `BoundFolder` of `root` bound to `model` (its files, indices, cache)."""
    return as_training_data(bind(model, str(root), **kwargs)[0], batch_size=64, shuffle=False).part


def one_epoch(model, root, **kwargs):
    """(images, labels, BoundFolder) of epoch 0 of `root` bound to `model`, unshuffled."""
    data = as_training_data(bind(model, str(root), **kwargs)[0], batch_size=64, shuffle=False)
    xs, ys = zip(*data.make(0).as_numpy_iterator())
    return np.concatenate(xs), np.concatenate(ys), data.part


def test_files_of_every_kind_are_converted_and_resized(tmp_path):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 255, size=(12, 12, 3), dtype=np.uint8)
    rgba = np.concatenate([rgb, rng.integers(0, 255, size=(12, 12, 1), dtype=np.uint8)], axis=-1)
    grey = rng.integers(0, 255, size=(12, 12, 1), dtype=np.uint8)
    root = tmp_path / "kinds"
    save(root / "a" / "1_rgb.png", rgb)
    save(root / "a" / "2_rgba.png", rgba)
    save(root / "a" / "3_grey.png", grey)
    save(root / "b" / "4_grey.gif", grey)
    save(root / "b" / "5_rgb.bmp", rgb)
    save(root / "b" / "6_rgb.webp", rgb, lossless=True)
    save(root / "b" / "7_big.png", np.repeat(np.repeat(rgb, 3, axis=0), 2, axis=1))  # 36 x 24

    x, y, _ = one_epoch(flat_model((12, 12, 3), 2), root)
    assert x.shape == (7, 12, 12, 3) and x.dtype == np.float32 and list(y) == [0, 0, 0, 1, 1, 1, 1]
    np.testing.assert_array_equal(x[0], unit(rgb))  # same size, lossless: the file's own pixels, in 0..1
    np.testing.assert_array_equal(x[1], unit(rgb))  # alpha dropped
    np.testing.assert_array_equal(x[2], unit(np.repeat(grey, 3, axis=-1)))  # grey repeated into RGB
    np.testing.assert_array_equal(x[3], unit(np.repeat(grey, 3, axis=-1)))  # a GIF
    np.testing.assert_array_equal(x[4], unit(rgb))  # a BMP
    np.testing.assert_array_equal(x[5], unit(rgb))  # a lossless WebP
    expected = tf.image.resize(np.repeat(np.repeat(rgb, 3, axis=0), 2, axis=1), (12, 12)).numpy() / 255.0
    np.testing.assert_allclose(x[6], expected, atol=1e-6)  # resized, bilinear

    x, _, _ = one_epoch(flat_model((12, 12, 1), 2), root)  # a grey model: colour by BT.601 luma
    luma = np.asarray(Image.fromarray(rgb).convert("L"), np.float32)[..., None] / 255.0
    assert x.shape == (7, 12, 12, 1)
    np.testing.assert_allclose(x[0], luma, atol=1.01 / 255)
    np.testing.assert_array_equal(x[3], unit(grey))  # a GIF into one channel (tf.io.decode_image refuses it)


def test_fit_a_folder_of_photos_export_classify_and_the_same_pixels_served(tmp_path):
    root = colour_folder(tmp_path / "photos")
    model = flat_model((16, 16, 3), 3)
    history = zoo.fit(model, str(root), epochs=8, batch_size=8, learning_rate=1e-2, verbose=0)
    assert history.history["accuracy"][-1] > 0.9
    assert model.zoo_class_names == ("blue", "green", "red")  # from the folder names

    version = zoo.export(model, tmp_path / "models" / "colours")
    assert (tmp_path / "models" / "colours" / "1" / "assets.extra" / "class_names.txt").read_text() == "blue\ngreen\nred\n"
    loaded = tf.saved_model.load(version)
    x, y, data = one_epoch(model, root)
    example = tf.train.Example(features=tf.train.Features(feature={
        "input_layer": tf.train.Feature(float_list=tf.train.FloatList(value=x[-1].ravel()))}))
    answer = loaded.signatures["classify"](inputs=tf.constant([example.SerializeToString()]))
    classes = [c.decode() for c in answer["classes"].numpy()[0]]
    assert classes == ["blue", "green", "red"] and classes[int(np.argmax(answer["scores"][0]))] == "red"

    # serving_bytes decodes a file's bytes into the pixels training read from it
    files = data.folder.files
    served = loaded.signatures["serving_bytes"](image_bytes=tf.constant([open(f, "rb").read() for f in files]))
    np.testing.assert_allclose(served["scores"].numpy(), model(x, training=False).numpy(), atol=1e-5)


def test_class_names_and_head_size_must_fit_the_folder(tmp_path):
    root = colour_folder(tmp_path / "photos", per_class=2)
    with pytest.raises(zoo.InvalidArgumentError, match=r"3 classes \(blue, green, red\).*5 outputs.*num_classes=3"):
        zoo.fit(flat_model((8, 8, 3), 5), str(root), verbose=0)
    named = flat_model((8, 8, 3), 3, class_names=["blue", "green", "violet"])
    with pytest.raises(zoo.InvalidArgumentError, match=r"\['red'\] that are not classes of the model"):
        zoo.fit(named, str(root), verbose=0)
    # a model naming its classes in another order: labels follow its names
    _, y, _ = one_epoch(flat_model((8, 8, 3), 3, class_names=["red", "blue", "green"]), root)
    assert list(y) == [1, 1, 2, 2, 0, 0]


def test_unreadable_files_are_named_before_training_or_skipped_in_one_line(tmp_path, caplog):
    root = colour_folder(tmp_path / "photos", per_class=4)
    (root / "red" / "empty.png").write_bytes(b"")
    (root / "green" / "notes.jpg").write_text("not a photo")
    (root / "blue" / "short.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0")
    assert sorted(header_problems(ImageFolder(root, check=False).files).values()) == [
        "an empty file", "its header is cut short or damaged", "not a JPEG, PNG, GIF, BMP or WebP image"]

    model = flat_model((8, 8, 3), 3)
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(zoo.InvalidArgumentError) as raised:
        zoo.fit(model, str(root), verbose=0)
    message = str(raised.value)
    assert "3 of the 15 image files" in message and "on_bad_file='skip'" in message
    assert "blue/short.png (its header is cut short" in message and "red/empty.png (an empty file)" in message
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # nothing was trained

    with caplog.at_level(logging.WARNING, logger="zoo.training"):
        data, _ = bind(model, str(root), on_bad_file="skip")
    lines = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert len(lines) == 1 and "skipping 3 of the 15 image files" in lines[0] and "green/notes.jpg" in lines[0]
    assert as_training_data(data, batch_size=5, shuffle=True).num_examples == 12


class StopAt(keras.callbacks.Callback):
    """Count the batches trained; raise at global step `step` (a crash after the checkpoint of
    `checkpoint_every`)."""

    def __init__(self, step=None):
        super().__init__()
        self.step, self.seen = step, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.step:
            raise KeyboardInterrupt("crash")


def test_a_file_damaged_past_its_header_is_named_when_read_or_skipped_and_resume_is_exact(tmp_path, caplog):
    root = colour_folder(tmp_path / "photos", per_class=8)
    # The file damaged is a PNG of batch 0 of epoch 2 (of 6 batches of 4, seed 0).
    order = as_training_data(bind(flat_model((8, 8, 3), 3), str(root))[0], batch_size=4, shuffle=True).order(1)
    files = ImageFolder(root, check=False).files
    name = next(os.path.relpath(files[i], root) for i in order[:4] if files[i].endswith(".png"))
    damage(tmp_path / "photos" / name)
    with pytest.raises(zoo.InvalidArgumentError) as raised:
        zoo.fit(flat_model((8, 8, 3), 3), str(root), batch_size=4, verbose=0)
    assert f"{name} (does not decode: " in str(raised.value) and "function_node" not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__  # no TensorFlow text either

    def run(checkpoint_dir, stop=None):
        keras.utils.set_random_seed(0)
        model = flat_model((8, 8, 3), 3)
        kwargs = dict(epochs=2, batch_size=4, on_bad_file="skip", checkpoint_dir=str(checkpoint_dir),
                      checkpoint_every=2, verbose=0, strategy="mirrored")
        if stop:
            with pytest.raises(KeyboardInterrupt):
                zoo.fit(model, str(root), callbacks=[StopAt(stop)], **kwargs)
            keras.utils.set_random_seed(0)
            model = flat_model((8, 8, 3), 3)
        counter = StopAt()
        history = zoo.fit(model, str(root), callbacks=[counter], **kwargs)
        return history, model.get_weights(), counter.seen

    with caplog.at_level(logging.WARNING, logger="zoo.training"):
        history, straight, trained = run(tmp_path / "straight")
    assert history.step == trained == 2 * 6  # 23 readable files, batches of 4
    assert any("skipping 1 of the 24 image files" in r.getMessage() and name in r.getMessage() for r in caplog.records)
    # Stopped after batch 4 of epoch 2 (checkpointed there): the resumed process, which does not
    # know the damaged file yet, finds it while skipping the 4 batches already trained on, leaves
    # it out, and goes on with the batches the uninterrupted run had.
    history, resumed, trained = run(tmp_path / "resumed", stop=6 + 4)
    assert history.step == 12 and trained == 2  # resumed at step 10
    for a, b in zip(straight, resumed):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_validation_split_is_a_fixed_split_of_the_files(tmp_path):
    root = colour_folder(tmp_path / "photos", per_class=10)
    model = flat_model((8, 8, 3), 3)
    train, validation = (as_training_data(d, batch_size=8).part for d in bind(model, str(root), validation_split=0.2, seed=3))
    again, other = part(model, root, validation_split=0.2, seed=3), part(model, root, validation_split=0.2, seed=4)
    assert not set(train.indices) & set(validation.indices) and len(train.indices) + len(validation.indices) == 30
    assert np.bincount(train.folder.labels[validation.indices]).tolist() == [2, 2, 2]  # per class
    assert np.array_equal(train.indices, again.indices) and not np.array_equal(train.indices, other.indices)

    flip = keras.layers.RandomFlip("horizontal", seed=1)  # the augmentation hook works on folders as on arrays
    history = zoo.fit(model, str(root), validation_split=0.2, epochs=2, batch_size=8, augment=flip, verbose=0)
    assert len(history.history["val_accuracy"]) == 2 and "val_loss" in history.history
    with pytest.raises(zoo.InvalidArgumentError, match="not both"):
        zoo.fit(model, str(root), validation_split=0.2, validation_data=str(root), verbose=0)
    with pytest.raises(zoo.InvalidArgumentError, match="validation_split splits an image folder"):
        zoo.fit(model, (np.zeros((4, 8, 8, 3)), np.zeros(4, int)), validation_split=0.5, verbose=0)


def test_cache_in_memory_and_on_disk(tmp_path):
    root = colour_folder(tmp_path / "photos", per_class=3)
    model = flat_model((8, 8, 3), 3)
    streamed, labels, _ = one_epoch(model, root)
    in_memory, memory_labels, _ = one_epoch(model, root, cache=True)
    np.testing.assert_allclose(in_memory, streamed, atol=0.5 / 255 + 1e-6)  # stored as 8-bit pixels
    assert np.array_equal(labels, memory_labels)

    on_disk, _, data = one_epoch(model, root, cache=str(tmp_path / "cache"))
    np.testing.assert_array_equal(on_disk, in_memory)
    assert not data.cache.reused and len(os.listdir(data.cache.directory)) == 9 + 1  # raw files + manifest
    _, _, data = one_epoch(model, root, cache=str(tmp_path / "cache"))
    assert data.cache.reused  # a later run decodes nothing
    save(root / "red" / "new.png", np.zeros((5, 5, 3), np.uint8))
    again, _, data = one_epoch(model, root, cache=str(tmp_path / "cache"))
    assert not data.cache.reused and len(again) == 10  # the folder changed: made again

    os.remove(os.path.join(data.cache.directory, "0000004.raw"))
    with pytest.raises(zoo.InvalidArgumentError, match="image cache .* is damaged"):
        zoo.fit(model, str(root), cache=str(tmp_path / "cache"), verbose=0)
    with pytest.raises(zoo.InvalidArgumentError, match="cache applies to an image folder"):
        zoo.fit(model, (np.zeros((4, 8, 8, 3)), np.zeros(4, int)), cache=True, verbose=0)


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_a_large_folder_streams_in_bounded_memory(tmp_path):
    """1,200 small files that decode to 128 x 128 x 3: 236 MB as a float32 array, more than the
    process may grow by while one epoch trains (RSS sampled every 5 ms)."""
    for i in range(1200):
        save(tmp_path / "big" / ("a", "b")[i % 2] / f"{i:04d}.png", np.full((4, 4, 3), i % 251, np.uint8))
    whole = 1200 * 128 * 128 * 3 * 4
    inputs = keras.Input((128, 128, 3))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(inputs)))
    zoo.fit(model, str(tmp_path / "big"), epochs=1, batch_size=8, verbose=0)  # traced once before measuring

    peak, done = [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _rss())
            done.wait(0.005)

    start = _rss()
    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        history = zoo.fit(model, str(tmp_path / "big"), epochs=1, batch_size=8, verbose=0)
    finally:
        done.set()
        sampler.join()
    assert history.step == 150
    assert peak[0] - start < whole / 4, f"grew by {(peak[0] - start) / 2**20:.0f} MB; the folder decoded is {whole / 2**20:.0f} MB"


def test_evaluate_a_folder_against_the_models_own_answers(tmp_path):
    root = colour_folder(tmp_path / "photos", per_class=4)
    model = flat_model((8, 8, 3), 3, class_names=["green", "red", "blue"])
    x, y, _ = one_epoch(model, root)
    expected = float(np.mean(np.argmax(model.predict(x, verbose=0), axis=-1) == y))
    result = zoo.evaluate(model, str(root), batch_size=5)
    assert result["accuracy"] == pytest.approx(expected)
    assert model.zoo_class_names == ("green", "red", "blue")  # evaluate changes nothing


def test_zoo_train_on_a_folder_through_the_command_line(tmp_path, capsys):
    from zoo.cli import main

    root = colour_folder(tmp_path / "photos", per_class=3)
    source = read_source(str(root))  # what zoo train builds the model for: listed, not decoded
    assert (source.kind, source.num_classes, source.class_names) == ("images", 3, ("blue", "green", "red"))
    with pytest.raises(zoo.InvalidArgumentError, match="read at a model's input size"):
        source.training_data(8, True, 0)
    out = tmp_path / "colours.keras"
    assert main(["train", "mlp", "--data", str(root), "--image-size", "12", "10", "--epochs", "1", "--quiet",
                 "--set", "hidden=(8,)", "--output", str(out)]) == 0
    trained = zoo.load_model(out)
    assert trained.input_shape == (None, 12, 10, 1)  # --image-size, with the card's channels (mlp: grey)
    assert trained.zoo_class_names == ("blue", "green", "red")

    damage(root / "red" / "01.jpg")  # a small JPEG cut in half: its header is damaged
    assert main(["train", "mlp", "--data", str(root), "--epochs", "1", "--quiet", "--set", "hidden=(8,)"]) == 2
    error = capsys.readouterr().err
    assert "red/01.jpg (its JPEG header is damaged" in error and "Traceback" not in error
    assert main(["train", "mlp", "--data", str(root), "--epochs", "1", "--one-line", "--set", "hidden=(8,)",
                 "--on-bad-file", "skip", "--validation-split", "0.34", "--cache", "memory"]) == 0
    out = capsys.readouterr().out
    assert "val_accuracy" in out or "val_acc" in out  # validated on a third of each class's files


def test_empty_and_malformed_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(zoo.InvalidArgumentError, match="no class sub-folders"):
        list_image_folder(tmp_path / "empty")
    (tmp_path / "noimages" / "cats").mkdir(parents=True)
    (tmp_path / "noimages" / "cats" / "notes.txt").write_text("x")
    with pytest.raises(zoo.InvalidArgumentError, match="no image files"):
        list_image_folder(tmp_path / "noimages")
    save(tmp_path / "partly" / "a" / "1.png", np.zeros((4, 4, 1), np.uint8))
    (tmp_path / "partly" / "b").mkdir()
    with pytest.raises(zoo.InvalidArgumentError, match=r"\['b'\] hold no image"):
        list_image_folder(tmp_path / "partly")
    with pytest.raises(zoo.InvalidArgumentError, match="on_bad_file must be one of"):
        zoo.fit(flat_model((8, 8, 1), 2), str(tmp_path / "partly"), on_bad_file="ignore")


def test_zoo_train_reports_bad_labels(tmp_path, capsys):
    from zoo.cli import main

    np.savez(tmp_path / "bad.npz", x=np.zeros((4, 8, 8, 1), "float32"), y=np.array([0, 1, 2, 7]))
    assert main(["train", "mlp", "--data", str(tmp_path / "bad.npz"), "--num-classes", "3"]) == 2
    assert "label(s) [7]" in capsys.readouterr().err
