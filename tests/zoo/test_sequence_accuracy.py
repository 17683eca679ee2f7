"""Sequence models trained on real data (the bundled sets of `zoo.data.load_dataset`), fixed seeds, with keras fit.

- GunPoint (univariate, length 150, 50 train / 150 test): the `conv1d` FCN, test accuracy >= 0.95
  (InceptionTime reaches 1.00; the FCN paper reports 1.00 after 2000 epochs).
- JapaneseVowels (12 channels, variable length 7..29, 270 / 370): a masked bidirectional `gru` on
  the post-padded series, test accuracy >= 0.95 (published deep models: about 0.98).

Each test prints what it reached and how long it took (run with `-s` to see it).
"""

import time

import keras
import numpy as np
import pytest

import zoo
from zoo.data import load_dataset, pad_sequences, standardize


def train_and_evaluate(model, x_train, y_train, x_test, y_test, *, epochs, batch_size, learning_rate):
    steps = epochs * int(np.ceil(len(x_train) / batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    model.compile(keras.optimizers.Adam(schedule), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=True)
    return model.evaluate(x_test, y_test, verbose=0, return_dict=True)


@pytest.mark.slow
def test_conv1d_on_gunpoint():
    start = time.perf_counter()
    keras.utils.set_random_seed(0)
    train, test = load_dataset("gunpoint")
    (x_train, _), (x_test, _) = train.padded(), test.padded()
    model = zoo.build("conv1d", num_classes=train.num_classes, input_shape=(None, 1))
    result = train_and_evaluate(model, x_train, train.labels, x_test, test.labels,
                                epochs=60, batch_size=16, learning_rate=1e-3)
    elapsed = time.perf_counter() - start
    print(f"\nconv1d (FCN) on GunPoint: test accuracy {result['accuracy']:.4f} "
          f"(loss {result['loss']:.4f}), 60 epochs, {elapsed:.1f} s")
    assert result["accuracy"] >= 0.95


@pytest.mark.slow
def test_masked_gru_on_japanese_vowels():
    start = time.perf_counter()
    keras.utils.set_random_seed(0)
    train, test = load_dataset("japanese_vowels")
    series_train, stats = standardize(train.series)
    series_test, _ = standardize(test.series, stats)
    x_train, mask_train = pad_sequences(series_train)
    x_test, mask_test = pad_sequences(series_test)
    assert not mask_train.all() and not mask_test.all()  # really variable length
    # the model's mask (steps that are all 0.0) is exactly the padding
    np.testing.assert_array_equal(np.any(x_test != 0.0, axis=-1), mask_test)
    model = zoo.build("gru", num_classes=train.num_classes, input_shape=(None, 12), units=(64,), bidirectional=True)
    result = train_and_evaluate(model, x_train, train.labels, x_test, test.labels,
                                epochs=25, batch_size=32, learning_rate=3e-3)
    elapsed = time.perf_counter() - start
    print(f"\nmasked bidirectional gru on JapaneseVowels: test accuracy {result['accuracy']:.4f} "
          f"(loss {result['loss']:.4f}), 25 epochs, {elapsed:.1f} s")
    assert result["accuracy"] >= 0.95
