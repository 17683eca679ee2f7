"""Time series in the `.ts` text format (sktime / aeon / timeseriesclassification.com), and batching.

The format: lines starting with `#` or `%` are comments, anywhere in the file (aeon's
`save_to_ts_file` writes its `header=` text as `# ` lines, the files aeon ships carry `%` ones);
`@` lines make the header (`@problemName`, `@timeStamps`, `@missing`, `@univariate`,
`@dimensions` (or `@dimension`, as aeon writes it), `@equalLength`, `@seriesLength`, `@classLabel
true <labels>` or `false`, `@targetLabel true|false`, then `@data`; the booleans in any case).
After `@data`, one series per line: each channel (dimension) is a comma-separated list of values
(`?` or `NaN` for a missing value), channels are separated by `:`, and with class (or target)
labels the last `:`-separated field is the label (without labels, a `:` ending the line, as aeon
writes it, is ignored). Lengths may differ between series when `@equalLength false`.

    >>> train = load_ts("GunPoint_TRAIN.ts")
    >>> train.series[0].shape, train.labels[:3], train.class_names
    ((150, 1), array([0, 1, 1], dtype=int32), ('1', '2'))
    >>> x, mask = pad_sequences(train.series)                  # numpy, padded at the end
    >>> ds = timeseries_dataset(train.series, train.labels, batch_size=32, shuffle=True, seed=0)

Series are float32 `[length, channels]`. Padding goes at the END of the time axis (post-padding),
with `pad_value` (default 0.0, the `mask_value` of the zoo's sequence models) and a boolean mask
`[batch, time]` (True = a real step) made from the lengths, not from the values.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass, field

import numpy as np

from zoo.errors import InvalidArgumentError, ZooError


class TsFormatError(ZooError, ValueError):
    """A `.ts` file that does not follow the format; the message names the file and line."""


@dataclass
class TimeSeriesData:
    """The contents of a `.ts` file.

    Attributes:
        series: one float32 array `[length, channels]` per series, in file order.
        labels: int32 `[n]` class indices into `class_names` (classification), float32 `[n]`
            targets (regression, `@targetLabel true`), or None (no labels).
        class_names: the class labels as written in the file, in the header's order (index i is
            label i), or () without class labels.
        problem_name: the `@problemName`, or None.
        header: every header field read, lower-case names (e.g. {"univariate": "true", ...}).
    """

    series: list
    labels: np.ndarray | None
    class_names: tuple = ()
    problem_name: str | None = None
    header: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.series)

    @property
    def lengths(self) -> np.ndarray:
        """Length of every series, int32 `[n]`."""
        return np.array([len(s) for s in self.series], dtype="int32")

    @property
    def num_channels(self) -> int:
        return int(self.series[0].shape[1]) if self.series else 0

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def padded(self, *, max_length: int | None = None, pad_value: float = 0.0):
        """`(x, mask)`: the series padded to one length (see `pad_sequences`)."""
        return pad_sequences(self.series, max_length=max_length, pad_value=pad_value)

    def dataset(self, **kwargs):
        """A `tf.data.Dataset` of padded batches (see `timeseries_dataset`) with these labels."""
        return timeseries_dataset(self.series, self.labels, **kwargs)


_BOOLEAN_FIELDS = ("timestamps", "missing", "univariate", "equallength")
_ALIASES = {"dimension": "dimensions"}  # aeon's save_to_ts_file writes @dimension
COMMENT_PREFIXES = ("#", "%")  # comment lines: "#" (aeon's writer, sktime), "%" (aeon's and ARFF-derived files)


def load_ts(path: str | os.PathLike, *, class_names=None, dtype: str = "float32") -> TimeSeriesData:
    """Read a `.ts` file (univariate or multivariate, equal or variable length).

    Args:
        path: the file; a name ending in `.gz` is read through gzip (`GunPoint_TRAIN.ts.gz`).
        class_names: the label of each class index, to map labels the same way across files
            (e.g. `load_ts(test_path, class_names=train.class_names)`). Default: the header's
            `@classLabel` list, in its order.
        dtype: of the series values.

    Returns:
        a `TimeSeriesData`.

    Raises:
        FileNotFoundError: no such file.
        TsFormatError: the file breaks the format; the message gives the line number and what was
            expected there (e.g. a label not declared in `@classLabel`, a series with a different
            number of channels, a value that is not a number, no `@data`).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f".ts file not found: {path!r}")
    with (gzip.open if path.endswith(".gz") else open)(path, "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    return _parse(lines, path, class_names=class_names, dtype=dtype)


def _parse(lines, path, *, class_names, dtype) -> TimeSeriesData:
    header: dict = {}
    declared_labels: tuple | None = None
    has_class_labels = has_target = False
    data_start = None

    def fail(number, message):
        raise TsFormatError(f"{path}, line {number}: {message}")

    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith(COMMENT_PREFIXES):
            continue
        if not line.startswith("@"):
            fail(number, f"expected a header line (@...) or a comment (# or %) before @data, got {line[:60]!r}")
        written, _, rest = line[1:].partition(" ")
        tag, rest = written.lower(), rest.strip()
        tag = _ALIASES.get(tag, tag)
        if tag == "data":
            data_start = number
            break
        if tag in _BOOLEAN_FIELDS or tag == "targetlabel":
            if rest.lower() not in ("true", "false"):
                fail(number, f"@{written} must be true or false, got {rest!r}")
        if tag == "timestamps" and rest.lower() == "true":
            fail(number, "series with time stamps (@timeStamps true) are not supported")
        if tag in ("serieslength", "dimensions"):
            if not rest.isdigit() or int(rest) < 1:
                fail(number, f"@{written} must be an integer >= 1, got {rest!r}")
        if tag == "classlabel":
            flag, _, labels = rest.partition(" ")
            if flag.lower() == "true":
                declared_labels = tuple(labels.split())
                if not declared_labels:
                    fail(number, "@classLabel true must be followed by the class labels")
                if len(set(declared_labels)) != len(declared_labels):
                    fail(number, f"@classLabel lists a label twice: {' '.join(declared_labels)}")
                has_class_labels = True
            elif flag.lower() != "false":
                fail(number, f"@classLabel must be 'true <labels>' or 'false', got {rest!r}")
        if tag == "targetlabel":
            has_target = rest.lower() == "true"
        header[tag] = rest
    if data_start is None:
        raise TsFormatError(f"{path}: no @data line (the series follow a line '@data')")
    if has_class_labels and has_target:
        raise TsFormatError(f"{path}: both @classLabel true and @targetLabel true")

    if class_names is not None:
        names = tuple(str(c) for c in class_names)
        if not has_class_labels:
            raise TsFormatError(f"{path}: class_names were given but the file has no class labels (@classLabel)")
    else:
        names = declared_labels or ()
    index = {name: i for i, name in enumerate(names)}

    channels = None
    if header.get("univariate", "").lower() == "true":
        channels = 1
    if "dimensions" in header:
        channels = int(header["dimensions"])
    equal_length = header.get("equallength", "").lower() == "true"
    series_length = int(header["serieslength"]) if "serieslength" in header and equal_length else None

    series, labels = [], []
    labelled = has_class_labels or has_target
    for number in range(data_start + 1, len(lines) + 1):
        line = lines[number - 1].strip()
        if not line or line.startswith(COMMENT_PREFIXES):
            continue
        if line.startswith("@"):
            fail(number, f"header line after @data: {line[:60]!r}")
        fields = line.split(":")
        if not labelled and len(fields) > 1 and not fields[-1].strip():
            fields.pop()  # aeon ends every channel with ":", also the last one of an unlabelled file
        if labelled:
            if len(fields) < 2:
                fail(number, "expected channels separated by ':' and then the label, found no ':'")
            label = fields.pop().strip()
            if has_class_labels:
                if label not in index:
                    fail(number, f"label {label!r} is not one of the declared class labels {list(names)}")
                labels.append(index[label])
            else:
                labels.append(_number(label, number, fail, "target"))
        if channels is None:
            channels = len(fields)
        if len(fields) != channels:
            fail(number, f"expected {channels} channel(s) separated by ':', got {len(fields)}")
        values = []
        for c, text in enumerate(fields, start=1):
            items = [v.strip() for v in text.split(",")]
            if items == [""]:
                fail(number, f"channel {c} is empty")
            values.append([_number(v, number, fail, f"channel {c} value") for v in items])
        length = len(values[0])
        if any(len(v) != length for v in values):
            fail(number, f"the channels have different lengths {[len(v) for v in values]}")
        if series_length is not None and length != series_length:
            fail(number, f"series of length {length}, but the header says @equalLength true, "
                         f"@seriesLength {series_length}")
        series.append(np.asarray(values, dtype=dtype).T.copy())
    if not series:
        raise TsFormatError(f"{path}: no series after @data (line {data_start})")

    if labelled:
        y = np.asarray(labels, dtype="int32" if has_class_labels else "float32")
    else:
        y = None
    return TimeSeriesData(series, y, names, header.get("problemname"), header)


def _number(text, number, fail, what):
    if text in ("?", "NaN", "nan"):
        return float("nan")
    try:
        return float(text)
    except ValueError:
        fail(number, f"{what} {text[:40]!r} is not a number")


def _as_series_list(series) -> list:
    """A list of float arrays [length, channels] (1-D arrays are univariate series)."""
    if isinstance(series, np.ndarray) and series.ndim in (2, 3) and series.dtype != object:
        series = list(series)
    out = []
    for i, s in enumerate(series):
        a = np.asarray(s)
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2:
            raise InvalidArgumentError(f"series {i} must be [length] or [length, channels], got shape {a.shape}")
        out.append(a)
    if not out:
        raise InvalidArgumentError("no series to batch")
    channels = {a.shape[1] for a in out}
    if len(channels) != 1:
        raise InvalidArgumentError(f"all series must have the same number of channels, got {sorted(channels)}")
    return out


def pad_sequences(series, *, max_length: int | None = None, pad_value: float = 0.0, dtype: str = "float32",
                  truncating: str = "post"):
    """Pad variable-length series at the end into one array, with the mask of the real steps.

    Args:
        series: a list of arrays `[length, channels]` (or `[length]` for one channel).
        max_length: length of the output; default the longest series. Longer series are cut.
        pad_value: the value of the padded steps (0.0: the zoo's models' default `mask_value`).
        dtype: of `x`.
        truncating: for series longer than `max_length`: "post" keeps the first steps, "pre" the last.

    Returns:
        `x` `[n, max_length, channels]` and `mask` bool `[n, max_length]` (True = a real step).

    Example:

    >>> x, mask = pad_sequences([np.ones((2, 1)), np.ones((3, 1))])
    >>> x.shape, mask.tolist()
    ((2, 3, 1), [[True, True, False], [True, True, True]])
    """
    arrays = _as_series_list(series)
    if truncating not in ("post", "pre"):
        raise InvalidArgumentError(f"truncating must be 'post' or 'pre', got {truncating!r}")
    longest = max(len(a) for a in arrays)
    length = longest if max_length is None else int(max_length)
    if length < 1:
        raise InvalidArgumentError(f"max_length must be >= 1, got {max_length!r}")
    x = np.full((len(arrays), length, arrays[0].shape[1]), pad_value, dtype=dtype)
    mask = np.zeros((len(arrays), length), dtype=bool)
    for i, a in enumerate(arrays):
        a = a[:length] if truncating == "post" else a[-length:]
        x[i, : len(a)] = a
        mask[i, : len(a)] = True
    return x, mask


def standardize(series, stats=None):
    """Scale every channel to zero mean and unit variance, with statistics over all steps.

    Args:
        series: a list of arrays `[length, channels]` (or `[length]`).
        stats: `(mean, std)` per channel to apply (e.g. the training set's on the test set);
            default: computed from `series` (missing values ignored).

    Returns:
        `(standardized series, (mean, std))`; channels with std 0 are only centred.
    """
    arrays = _as_series_list(series)
    if stats is None:
        values = np.concatenate(arrays, axis=0).astype("float64")
        mean, std = np.nanmean(values, axis=0), np.nanstd(values, axis=0)
        std = np.where(std > 0, std, 1.0)
    else:
        mean, std = (np.asarray(s, "float64") for s in stats)
    out = [((a - mean) / std).astype(a.dtype if a.dtype.kind == "f" else "float32") for a in arrays]
    return out, (mean.astype("float32"), std.astype("float32"))


def timeseries_dataset(series, labels=None, *, batch_size: int = 32, shuffle: bool = False, seed: int | None = None,
                       pad_value: float = 0.0, max_length: int | None = None, with_mask: bool = False,
                       drop_remainder: bool = False):
    """Variable-length series as a `tf.data.Dataset` of padded batches.

    Each batch is padded at the end to its own longest series (or to `max_length`, which also
    cuts longer series), so batches of short series stay short.

    Args:
        series: a list of arrays `[length, channels]` (or `[length]`).
        labels: `[n]` labels, or None.
        batch_size: series per batch.
        shuffle: shuffle the series (again every epoch), with `seed`.
        seed: of the shuffle.
        pad_value: the value of padded steps.
        max_length: a fixed time length for every batch, or None.
        with_mask: also give the boolean mask `[batch, time]` of the real steps.
        drop_remainder: drop the last, smaller batch.

    Returns:
        a dataset of `x` / `(x, y)`; with `with_mask`, `(x, mask)` / `((x, mask), y)`. `x` is
        float32 `[batch, time, channels]`; `y` keeps the labels' dtype.
    """
    import tensorflow as tf

    arrays = _as_series_list(series)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidArgumentError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    channels = arrays[0].shape[1]
    lengths = np.array([len(a) for a in arrays], dtype="int64")
    values = np.concatenate([a.astype("float32") for a in arrays], axis=0)
    ragged = tf.RaggedTensor.from_row_lengths(values, lengths)
    elements = (ragged,)
    if labels is not None:
        y = np.asarray(labels)
        if len(y) != len(arrays):
            raise InvalidArgumentError(f"got {len(y)} labels for {len(arrays)} series")
        elements += (y,)
    ds = tf.data.Dataset.from_tensor_slices(elements)
    if shuffle:
        ds = ds.shuffle(len(arrays), seed=seed, reshuffle_each_iteration=True)

    def dense(x, *rest):
        x = x.to_tensor() if isinstance(x, tf.RaggedTensor) else x
        if max_length is not None:
            x = x[:max_length]
        return (x, tf.shape(x)[0]) + rest

    ds = ds.map(dense)
    time = None if max_length is None else int(max_length)
    shapes = ([time, channels], []) + (([],) if labels is not None else ())
    pads = (tf.constant(pad_value, "float32"), tf.constant(0, "int32"))
    if labels is not None:
        pads += (tf.zeros((), dtype=tf.as_dtype(np.asarray(labels).dtype)),)
    ds = ds.padded_batch(batch_size, padded_shapes=shapes, padding_values=pads, drop_remainder=drop_remainder)

    def finish(x, length, *rest):
        inputs = (x, tf.sequence_mask(length, tf.shape(x)[1])) if with_mask else x
        return (inputs,) + rest if rest else inputs

    return ds.map(finish).prefetch(tf.data.AUTOTUNE)


__all__ = ["TimeSeriesData", "TsFormatError", "load_ts", "pad_sequences", "standardize", "timeseries_dataset"]
