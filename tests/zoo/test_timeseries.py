"""Sequence data: the .ts reader (the bundled files, malformed input), padding + masks (numpy and tf.data),
standardization, and text through TextVectorization."""

import keras
import numpy as np
import pytest

import zoo
from zoo.data import (
    TimeSeriesData,
    TsFormatError,
    dataset_files,
    load_dataset,
    load_ts,
    pad_sequences,
    standardize,
    text_dataset,
    text_vectorizer,
    timeseries_dataset,
    tokenize,
)

HEADER = "@problemName Toy\n@timeStamps false\n@univariate false\n@dimensions 2\n@equalLength false\n"


def write(tmp_path, text, name="toy.ts"):
    path = tmp_path / name
    path.write_text(text)
    return path


# the bundled files (gzipped .ts) -------------------------------------------------------------------


def test_gunpoint():
    files = dataset_files("gunpoint")
    assert files["train"].name == "GunPoint_TRAIN.ts.gz"
    train = load_ts(files["train"])
    test = load_ts(files["test"], class_names=train.class_names)
    assert (len(train), len(test)) == (50, 150)
    assert train.problem_name == "GunPoint" and train.class_names == ("1", "2") and train.num_classes == 2
    assert all(s.shape == (150, 1) and s.dtype == np.float32 for s in train.series + test.series)
    assert set(train.labels) == set(test.labels) == {0, 1} and train.labels.dtype == np.int32
    assert train.series[0][0, 0] == np.float32(-0.6478854) and train.series[0][1, 0] == np.float32(-0.64199155)
    assert train.labels[0] == train.class_names.index("2")  # first series of the file: label "2"
    assert train.header["univariate"] == "true" and train.header["serieslength"] == "150"
    x, mask = train.padded()
    assert x.shape == (50, 150, 1) and mask.all()


def test_japanese_vowels_variable_length():
    train, test = load_dataset("japanese_vowels")
    assert (len(train), len(test)) == (270, 370)
    assert train.num_channels == test.num_channels == 12
    lengths = np.concatenate([train.lengths, test.lengths])
    assert (lengths.min(), lengths.max()) == (7, 29)
    assert len(set(lengths)) > 10
    assert train.class_names == tuple(str(i) for i in range(1, 10))
    assert np.bincount(train.labels).tolist() == [30] * 9  # 30 utterances per speaker
    assert set(test.labels) == set(range(9))
    assert train.series[0][0, 0] == np.float32(1.860936) and train.series[0][0, 1] == np.float32(-0.207383)
    x, mask = pad_sequences(test.series)
    assert x.shape == (370, 29, 12)
    np.testing.assert_array_equal(mask.sum(axis=1), test.lengths)
    assert not x[~mask].any()  # padding is zeros


# malformed files ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, line, message",
    [
        ("@classLabel true a b\n@data\n1,2:3,4:a\n1,x:3,4:b\n", 9, "channel 1 value 'x' is not a number"),
        ("@classLabel true a b\n@data\n1,2:3,4:c\n", 8, "label 'c' is not one of the declared class labels"),
        ("@classLabel true a b\n@data\n1,2:3,4:a\n1,2:a\n", 9, "expected 2 channel"),
        ("@classLabel true a b\n@data\n1,2,3:3,4:a\n", 8, "different lengths"),
        ("@classLabel true a b\n@data\n1,2::a\n", 8, "channel 2 is empty"),
        ("@classLabel true a b\n@data\n1,2\n", 8, "found no ':'"),
        ("@classLabel maybe\n@data\n1:2\n", 6, "@classLabel must be"),
        ("@classLabel true a b\n1,2:3,4:a\n@data\n", 7, "expected a header line"),
        ("@classLabel true a b\n@data\n@seriesLength 3\n", 8, "header line after @data"),
        ("@classLabel true a a\n@data\n", 6, "lists a label twice"),
    ],
)
def test_malformed_lines_are_named(tmp_path, body, line, message):
    path = write(tmp_path, HEADER + body)
    with pytest.raises(TsFormatError, match=f"line {line}: .*{message}") as error:
        load_ts(path)
    assert str(path) in str(error.value)


def test_malformed_headers_and_files(tmp_path):
    with pytest.raises(TsFormatError, match="no @data line"):
        load_ts(write(tmp_path, HEADER + "@classLabel false\n"))
    with pytest.raises(TsFormatError, match="line 2: series with time stamps"):
        load_ts(write(tmp_path, "@problemName T\n@timeStamps true\n@data\n(0,1):a\n"))
    with pytest.raises(TsFormatError, match="line 3: @seriesLength must be an integer"):
        load_ts(write(tmp_path, "@problemName T\n@equalLength true\n@seriesLength ten\n@data\n"))
    text = "@univariate true\n@equalLength true\n@seriesLength 3\n@classLabel true 0 1\n@data\n1,2,3:0\n1,2:1\n"
    with pytest.raises(TsFormatError, match="line 7: series of length 2, but the header says @equalLength true"):
        load_ts(write(tmp_path, text))
    with pytest.raises(TsFormatError, match="no series after @data"):
        load_ts(write(tmp_path, "@classLabel false\n@data\n# nothing\n"))
    with pytest.raises(FileNotFoundError, match="missing.ts"):
        load_ts(tmp_path / "missing.ts")
    with pytest.raises(TsFormatError, match="class_names were given but the file has no class labels"):
        load_ts(write(tmp_path, "@classLabel false\n@data\n1,2\n"), class_names=["a"])


def test_missing_values_unlabelled_and_regression_files(tmp_path):
    data = load_ts(write(tmp_path, "# comment\n@classLabel false\n@data\n1,?,3:4,5,NaN\n\n2:3\n"))
    assert data.labels is None and data.class_names == () and len(data) == 2
    assert data.series[0].shape == (3, 2) and np.isnan(data.series[0][1, 0]) and np.isnan(data.series[0][2, 1])
    np.testing.assert_array_equal(data.lengths, [3, 1])
    targets = load_ts(write(tmp_path, "@targetLabel true\n@data\n1,2:0.5\n3:-2\n"))
    assert targets.labels.dtype == np.float32 and targets.labels.tolist() == [0.5, -2.0]


def test_class_names_map_labels_consistently(tmp_path):
    path = write(tmp_path, "@classLabel true b a\n@data\n1,2:a\n3:b\n")
    assert load_ts(path).labels.tolist() == [1, 0]  # the header's order
    assert load_ts(path, class_names=("a", "b", "c")).labels.tolist() == [0, 1]
    with pytest.raises(TsFormatError, match="label 'b' is not one of"):
        load_ts(path, class_names=("a",))



def aeon_ts(path, series, labels=None, *, problem_name="data", header=None):
    """A `.ts` file as aeon's `save_to_ts_file` writes it (aeon/datasets/_data_writers.py): `header`
    as wrapped "# " lines, `@missing` as Python prints a bool, `@dimension` (singular) for several
    channels, `@targetlabel false` without labels, and every channel followed by ':', also the last
    one of an unlabelled file. `series`: arrays [channels, time], aeon's layout."""
    import textwrap

    lines = ["\n# ".join(textwrap.wrap("# " + header))] if header else []
    channels, lengths = series[0].shape[0], {s.shape[1] for s in series}
    missing, equal = any(np.isnan(s).any() for s in series), len(lengths) == 1
    lines += [f"@problemName {problem_name}", "@timestamps false", f"@missing {missing}",
              f"@univariate {str(channels == 1).lower()}"]
    lines += [f"@dimension {channels}"] if channels > 1 else []
    lines += [f"@equalLength {str(equal).lower()}"] + ([f"@seriesLength {lengths.pop()}"] if equal else [])
    lines += ["@targetlabel false" if labels is None else "@classLabel true " + " ".join(map(str, np.unique(labels)))]
    lines.append("@data")
    for i, s in enumerate(series):
        lines.append("".join(",".join("NaN" if np.isnan(v) else str(v) for v in channel) + ":" for channel in s)
                     + ("" if labels is None else str(labels[i])))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_files_as_aeon_writes_them_with_comment_lines_anywhere_before_the_data(tmp_path):
    rng = np.random.default_rng(0)
    series = [rng.normal(size=(2, 5)).round(3) for _ in range(4)]
    labels = ["walk", "run", "run", "walk"]
    path = aeon_ts(tmp_path / "Moves_TRAIN.ts", series, labels, problem_name="Moves",
                   header="Made up for this test: two channels, five steps, " * 3)
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# Made up") and lines[1].startswith("# ")  # the wrapped header= text
    # "%" comments as in the files aeon ships (UnitTest_TEST.ts begins with "%# This is ..." and "%"):
    # before the header, between header lines, and between @data and the first series.
    at = lines.index("@univariate false")
    lines = ["%# A cut down version", "% of a made-up problem", "%", *lines[:at], "% between header lines",
             *lines[at:lines.index("@data") + 1], "% after @data", "#  and a # one", *lines[lines.index("@data") + 1:]]
    path.write_text("\n".join(lines) + "\n")
    data = load_ts(path)
    assert data.class_names == ("run", "walk") and data.labels.tolist() == [1, 0, 0, 1]
    assert data.problem_name == "Moves" and data.header["dimensions"] == "2" and data.header["missing"] == "False"
    assert len(data) == 4 and data.num_channels == 2
    for read, written in zip(data.series, series):
        np.testing.assert_array_equal(read, written.T.astype("float32"))  # [time, channels]

    unlabelled = [np.array([[1.5, np.nan, 3.0]]), np.array([[4.0, 5.0]])]
    data = load_ts(aeon_ts(tmp_path / "u.ts", unlabelled))  # each line ends with ":"
    assert data.labels is None and data.lengths.tolist() == [3, 2] and data.num_channels == 1
    assert np.isnan(data.series[0][1, 0]) and data.series[1][:, 0].tolist() == [4.0, 5.0]
    with pytest.raises(TsFormatError, match="line 2: expected a header line .* or a comment"):
        load_ts(write(tmp_path, "% fine\n; not a comment\n@data\n"))


# padding, masks, pipelines ------------------------------------------------------------------------------


def test_pad_sequences():
    seqs = [np.arange(3.0), np.arange(5.0), np.arange(1.0)]
    x, mask = pad_sequences(seqs, pad_value=-1.0)
    assert x.shape == (3, 5, 1) and x.dtype == np.float32
    np.testing.assert_array_equal(x[0, :, 0], [0, 1, 2, -1, -1])
    np.testing.assert_array_equal(mask.sum(axis=1), [3, 5, 1])
    x, mask = pad_sequences(seqs, max_length=2)
    np.testing.assert_array_equal(x[1, :, 0], [0, 1])
    x, _ = pad_sequences(seqs, max_length=2, truncating="pre")
    np.testing.assert_array_equal(x[1, :, 0], [3, 4])
    with pytest.raises(zoo.InvalidArgumentError, match="same number of channels"):
        pad_sequences([np.zeros((2, 1)), np.zeros((2, 3))])
    with pytest.raises(zoo.InvalidArgumentError, match="truncating"):
        pad_sequences(seqs, truncating="middle")


def test_standardize():
    rng = np.random.default_rng(0)
    seqs = [rng.normal(3.0, 2.0, size=(n, 2)).astype("float32") for n in (4, 9, 6)]
    out, (mean, std) = standardize(seqs)
    values = np.concatenate(out)
    np.testing.assert_allclose(values.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(values.std(0), 1, atol=1e-5)
    again, _ = standardize(seqs, (mean, std))
    np.testing.assert_allclose(np.concatenate(again), values, rtol=1e-5, atol=1e-6)


def test_timeseries_dataset_pads_each_batch_and_masks():
    train = load_dataset("japanese_vowels", split="train")
    ds = timeseries_dataset(train.series, train.labels, batch_size=64, with_mask=True)
    seen = 0
    for (x, mask), y in ds:
        n = x.shape[0]
        lengths = train.lengths[seen: seen + n]
        assert x.shape == (n, lengths.max(), 12) and x.dtype == "float32"
        np.testing.assert_array_equal(np.asarray(mask).sum(axis=1), lengths)
        np.testing.assert_array_equal(np.asarray(y), train.labels[seen: seen + n])
        expected, _ = pad_sequences(train.series[seen: seen + n])
        np.testing.assert_array_equal(np.asarray(x), expected)
        seen += n
    assert seen == 270
    fixed = next(iter(train.dataset(batch_size=4, max_length=10, pad_value=-9.0)))[0]
    assert fixed.shape == (4, 10, 12) and np.asarray(fixed)[0, :10].min() > -9.0  # cut to 10 steps
    first = [np.asarray(b[1]) for b in timeseries_dataset(train.series, train.labels, shuffle=True, seed=3)]
    again = [np.asarray(b[1]) for b in timeseries_dataset(train.series, train.labels, shuffle=True, seed=3)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert sorted(np.concatenate(first).tolist()) == sorted(train.labels.tolist())
    assert next(iter(timeseries_dataset(train.series[:3]))).shape == (3, train.lengths[:3].max(), 12)


def test_a_masked_model_fits_the_padded_pipeline():
    train = load_dataset("japanese_vowels", split="train")
    model = zoo.build("gru", num_classes=9, input_shape=(None, 12), units=(8,))
    model.compile("adam", "sparse_categorical_crossentropy")
    history = model.fit(train.dataset(batch_size=90, shuffle=True, seed=0), epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"][0])


def test_time_series_data_container():
    data = TimeSeriesData([np.zeros((2, 3), "float32"), np.ones((4, 3), "float32")], np.array([0, 1]), ("x", "y"))
    assert len(data) == 2 and data.num_channels == 3 and data.lengths.tolist() == [2, 4]
    x, mask = data.padded(max_length=5)
    assert x.shape == (2, 5, 3) and mask.sum() == 6


# text ---------------------------------------------------------------------------------------------------

TEXTS = ["the cat sat on the mat", "the dog ate", "a cat and a dog", "The Cat!"]


def test_text_vectorizer_and_tokens():
    vectorizer = text_vectorizer(TEXTS, max_tokens=12)
    vocabulary = vectorizer.get_vocabulary()
    assert vocabulary[:2] == ["", "[UNK]"] and vocabulary[2] == "the" and len(vocabulary) <= 12
    tokens = tokenize(["the cat", "a zebra ate the mat"], vectorizer)
    assert tokens.dtype == np.int32 and tokens.shape == (2, 5)
    assert tokens[0, 2:].tolist() == [0, 0, 0]  # padding at the end
    assert tokens[1, 1] == 1  # "zebra" is out of the vocabulary
    fixed = text_vectorizer(vocabulary=["cat", "dog"], output_sequence_length=4)
    assert tokenize(["dog cat bird"], fixed).tolist() == [[3, 2, 1, 0]]
    with pytest.raises(zoo.InvalidArgumentError, match="either texts"):
        text_vectorizer()
    with pytest.raises(zoo.InvalidArgumentError, match="list of strings"):
        tokenize("one string", vectorizer)


def test_text_dataset_feeds_the_token_transformer(tmp_path):
    vectorizer = text_vectorizer(TEXTS, max_tokens=50)
    ds = text_dataset(TEXTS, [0, 1, 0, 1], vectorizer=vectorizer, batch_size=3)
    tokens, labels = next(iter(ds))
    assert tokens.dtype == "int32" and tokens.shape == (3, 6) and labels.shape == (3,)
    model = zoo.build("transformer", vocab_size=vectorizer.vocabulary_size(), dim=8, depth=1, num_heads=2,
                      mlp_dim=16)
    model.compile("adam", "sparse_categorical_crossentropy", run_eagerly=True)
    history = model.fit(ds, epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"][0])
    unlabelled = next(iter(text_dataset(TEXTS, vectorizer=vectorizer, batch_size=4)))
    assert unlabelled.shape == (4, 6)
    with pytest.raises(zoo.InvalidArgumentError, match="2 labels for 4 texts"):
        text_dataset(TEXTS, [0, 1], vectorizer=vectorizer)
    assert keras.layers.TextVectorization is type(vectorizer)
