"""Data loading: the real data sets the zoo's demos, notebooks and tests train on."""

from zoo.data.digits import load_digits
from zoo.data.text import text_dataset, text_vectorizer, tokenize
from zoo.data.timeseries import TimeSeriesData, TsFormatError, load_ts, pad_sequences, timeseries_dataset

__all__ = [
    "load_digits",
    "load_ts",
    "pad_sequences",
    "text_dataset",
    "text_vectorizer",
    "timeseries_dataset",
    "tokenize",
    "TimeSeriesData",
    "TsFormatError",
]
