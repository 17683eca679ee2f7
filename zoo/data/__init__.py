"""Data loading: readers for users' own files, and public data sets by name (`load_dataset`; four ship with the package)."""

from zoo.data.datasets import DatasetInfo, dataset_files, dataset_info, list_datasets, load_dataset
from zoo.data.digits import load_digits
from zoo.data.graphs import (
    GraphClassificationData,
    NodeClassificationData,
    from_edge_list,
    from_networkx,
    graph_dataset,
    load_gin_folds,
    load_gin_text,
    load_planetoid,
    merge_graphs,
    shard_graph_batch,
)
from zoo.data.images import ImageFolder, list_image_folder
from zoo.data.tu import load_tu
from zoo.data.text import text_dataset, text_vectorizer, tokenize
from zoo.data.tfgnn_interop import from_graph_tensor, to_graph_tensor
from zoo.data.timeseries import TimeSeriesData, TsFormatError, load_ts, pad_sequences, standardize, timeseries_dataset

__all__ = [
    "DatasetInfo",
    "dataset_files",
    "dataset_info",
    "list_datasets",
    "load_dataset",
    "from_edge_list",
    "from_graph_tensor",
    "from_networkx",
    "graph_dataset",
    "load_gin_folds",
    "load_gin_text",
    "load_planetoid",
    "load_tu",
    "merge_graphs",
    "shard_graph_batch",
    "to_graph_tensor",
    "GraphClassificationData",
    "ImageFolder",
    "NodeClassificationData",
    "load_digits",
    "list_image_folder",
    "load_ts",
    "pad_sequences",
    "standardize",
    "text_dataset",
    "text_vectorizer",
    "timeseries_dataset",
    "tokenize",
    "TimeSeriesData",
    "TsFormatError",
]
