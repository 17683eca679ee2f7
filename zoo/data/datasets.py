"""Public data sets by name: small ones that ship inside the package, larger ones fetched once.

    >>> zoo.data.list_datasets(bundled=True)
    ['cora', 'gunpoint', 'japanese_vowels', 'mutag']
    >>> train, test = zoo.data.load_dataset("gunpoint")            # in the package: no network, no files
    >>> cora = zoo.data.load_dataset("cora", normalize_features=True)
    >>> mutag, folds = zoo.data.load_dataset("mutag")
    >>> proteins, folds = zoo.data.load_dataset("proteins")        # $ZOO_DATA_DIR, the cache, or a download
    >>> print(zoo.data.dataset_info("proteins"))                   # size, source, licence, published result

What `load_dataset(name)` returns (the formats of the readers `load_ts`, `load_planetoid`,
`load_gin_text` / `load_gin_folds`):

| data sets | returns | `split=` |
| --- | --- | --- |
| `gunpoint`, `japanese_vowels` | `(train, test)`: two `TimeSeriesData` (the test set read with the training set's class names) | `"train"` or `"test"`: that one |
| `cora`, `citeseer`, `pubmed` | one `NodeClassificationData` (one graph, its Planetoid split in `train_index` / `val_index` / `test_index` and `dataset("train")`) | not taken |
| `mutag`, `proteins`, `nci1`, `nci109`, `ptc`, `imdb_binary`, `imdb_multi`, `enzymes` | `(data, folds)`: a `GraphClassificationData` and the 10 cross-validation folds `[(train_indices, test_indices), ...]` | `k` in 1..10: `(train, test)` subsets of fold k |

Keyword options go to the reader: `dtype` (series), `normalize_features` (Planetoid graphs),
`continuous_features` and `undirected` (GIN text). Names are case-insensitive and ignore `-` and
`_` (`"IMDB-BINARY"`, `"JapaneseVowels"`).

Where the files come from:

1. Bundled sets (GunPoint, JapaneseVowels, Cora, MUTAG; 0.9 MB) always come from the package
   (`zoo/data/bundled/`, the `.ts` files gzipped).
2. Other sets are read from a local copy when `data_dir=` or the environment variable
   `ZOO_DATA_DIR` names a folder laid out like `zoo/data/bundled/`: `graphs/citeseer/citeseer.npz`,
   `graphs/PROTEINS/PROTEINS.txt` and `graphs/PROTEINS/10fold_idx/`, `sequences/X_TRAIN.ts`
   (`.ts.gz` too).
3. Else from the cache, `$KERAS_HOME/datasets/zoo` (default `~/.keras/datasets/zoo`, or
   `cache_dir=`), in the same layout.
4. Else (with `download=True`, the default) they are downloaded into the cache from the pinned
   commit of their canonical repository (`zoo/data/remote_files.json` lists every URL with its
   SHA-256, or its git blob SHA-1 where the file could not be hashed), and checked. The Planetoid
   pickles are converted to `.npz` once (`zoo.data.planetoid`). With no network the error names
   the URL and the paths where a copy would be read instead.

Sources and licences (details in `zoo/data/bundled/README.md`, licence texts in its `licences/`):
GunPoint, UCR archive (Dau et al. 2019; no licence stated); JapaneseVowels, UCI repository (Kudo
et al. 1999), both in the `.ts` files of aeon (BSD-3-Clause); Cora, CiteSeer, PubMed, the Planetoid
files (Yang et al. 2016, MIT), also in Kipf & Welling's GCN code (MIT); MUTAG, the GIN paper's code
(Xu et al. 2019, MIT); PROTEINS, NCI1, NCI109, PTC, IMDB-BINARY, IMDB-MULTI, ENZYMES, DGCNN's
repository (Zhang et al. 2018, MIT), from the TU Dortmund collection (Morris et al. 2020).
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from zoo.errors import DatasetUnavailableError, InvalidArgumentError

DATA_DIR_ENV = "ZOO_DATA_DIR"
BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"
REMOTE_FILES = Path(__file__).resolve().parent / "remote_files.json"
CACHE_SUBDIR = os.path.join("datasets", "zoo")

SEQUENCE, NODE, GRAPH = "sequence classification", "node classification", "graph classification"
_OPTIONS = {SEQUENCE: ("dtype",), NODE: ("normalize_features",), GRAPH: ("continuous_features", "undirected")}


@dataclass(frozen=True)
class DatasetInfo:
    """What the zoo knows of one data set.

    Attributes:
        name: the name `load_dataset` takes ("gunpoint").
        title: the data set's usual name ("GunPoint").
        task: "sequence classification", "node classification" or "graph classification".
        summary: its size, in one line.
        bundled: whether it ships inside the package.
        files: role -> path inside a data folder (the bundled one, `$ZOO_DATA_DIR`, the cache),
            e.g. {"train": "sequences/GunPoint_TRAIN.ts", "test": ...}, {"graph": "graphs/cora/cora.npz"},
            {"graphs": "graphs/MUTAG/MUTAG.txt", "folds": "graphs/MUTAG/10fold_idx"}.
        source: where the files come from.
        licence: the terms they come with.
        citation: whom to cite.
        published: a published result to compare with ("" when none is recorded).
    """

    name: str
    title: str
    task: str
    summary: str
    bundled: bool
    files: dict = field(default_factory=dict)
    source: str = ""
    licence: str = ""
    citation: str = ""
    published: str = ""

    def __str__(self) -> str:
        where = "bundled with the zoo" if self.bundled else (
            f"${DATA_DIR_ENV}/{_folder(self)} if there, else downloaded once into the cache")
        lines = [f"{self.name} ({self.title}): {self.task}", f"  {self.summary}", f"  files: {where}",
                 f"  source: {self.source}", f"  licence: {self.licence}", f"  cite: {self.citation}"]
        if self.published:
            lines.append(f"  published: {self.published}")
        return "\n".join(lines)


def _folder(info: DatasetInfo) -> str:
    return os.path.dirname(next(iter(info.files.values())))


_AEON = "the .ts files aeon bundles (aeon-toolkit/aeon, aeon/datasets/data/, BSD-3-Clause), byte for byte"
_PLANETOID = ("the Planetoid files ind.{0}.* (kimiyoung/planetoid@af6abf4, data/; the same files are in "
              "tkipf/gcn, gcn/data/), converted by zoo.data.planetoid")
_PLANETOID_LICENCE = ("Planetoid code and files: MIT (Zhilin Yang, licences/planetoid-MIT.txt), as are Kipf & "
                      "Welling's (licences/gcn-MIT.txt); the citation data (LINQS) states no licence")
_DGCNN = ("DGCNN's repository (muhanzhang/pytorch_DGCNN@50f5041, data/{0}/: the text file and its 10 folds), "
          "in the text format the GIN paper's code reads")
_DGCNN_LICENCE = ("DGCNN code and files: MIT (Muhan Zhang, licences/pytorch_DGCNN-MIT.txt); the graphs come "
                  "from the TU Dortmund collection, which states no licence and asks to cite their authors")
_TU = "Morris et al. 2020 (TUDataset); Zhang et al. 2018 (DGCNN)"


def _sequence(name, title, summary, citation, published, licence) -> DatasetInfo:
    files = {split: f"sequences/{title}_{split.upper()}.ts" for split in ("train", "test")}
    return DatasetInfo(name, title, SEQUENCE, summary, True, files, _AEON, licence, citation, published)


def _planetoid(name, title, summary, bundled, citation, published) -> DatasetInfo:
    return DatasetInfo(name, title, NODE, summary, bundled, {"graph": f"graphs/{name}/{name}.npz"},
                       _PLANETOID.format(name), _PLANETOID_LICENCE,
                       f"Yang, Cohen & Salakhutdinov 2016 (Planetoid); {citation}", published)


def _gin(name, folder, summary, citation, published="", *, bundled=False, source=None, licence=None) -> DatasetInfo:
    files = {"graphs": f"graphs/{folder}/{folder}.txt", "folds": f"graphs/{folder}/10fold_idx"}
    return DatasetInfo(name, folder, GRAPH, summary, bundled, files, source or _DGCNN.format(folder),
                       licence or _DGCNN_LICENCE, f"{citation}; {_TU}", published)


_CATALOG = [
    _sequence("gunpoint", "GunPoint",
              "univariate, 2 classes (gun drawn / pointed), 50 train / 150 test series of length 150",
              "Ratanamahatana & Keogh 2005; Dau et al. 2019 (the UCR time series archive)",
              "InceptionTime 1.00 test accuracy",
              "the UCR archive states no licence; it asks users to cite it and the data's donors"),
    _sequence("japanese_vowels", "JapaneseVowels",
              "12 channels, 9 speakers, 270 train / 370 test series of length 7..29",
              "Kudo, Toyama & Shimbo 1999; the UCI repository (doi:10.24432/C5NS47); Bagnall et al. 2018 (UEA archive)",
              "about 0.98 test accuracy for published deep models",
              "a UCI Machine Learning Repository data set, under the terms UCI states for it"),
    _planetoid("cora", "Cora",
               "2,708 papers, 7 classes, 1,433 binary word features, 10,858 directed edges as listed "
               "(10,556 distinct); split 140 / 500 / 1,000", True,
               "Sen et al. 2008; Kipf & Welling 2017", "GCN 81.5 %, GAT 83.0 % test accuracy"),
    _planetoid("citeseer", "CiteSeer",
               "3,327 papers (15 isolated, unlabelled: label -1), 6 classes, 3,703 binary word features, "
               "9,464 directed edges as listed (9,228 distinct, 124 self-loops); split 120 / 500 / 1,000", False,
               "Sen et al. 2008; Kipf & Welling 2017", "GCN 70.3 %, GAT 72.5 % test accuracy"),
    _planetoid("pubmed", "PubMed",
               "19,717 papers, 3 classes, 500 TF-IDF features, 88,676 directed edges as listed (88,651 "
               "distinct); split 60 / 500 / 1,000", False,
               "Namata et al. 2012; Kipf & Welling 2017", "GCN 79.0 %, GAT 79.0 % test accuracy"),
    _gin("mutag", "MUTAG",
         "188 molecules, 2 classes (63 / 125), 9 node tags (graph 0 of the GIN copy has tags 0..8 on "
         "its first nine atoms; 7 elsewhere), 10 folds of 18 or 19 test graphs",
         "Debnath et al. 1991; Xu et al. 2019 (GIN)", "GIN 89.4 ± 5.6 % (10-fold CV)", bundled=True,
         source="the GIN paper's dataset.zip (weihua916/powerful-gnns), as unzipped; its folds are DGCNN's",
         licence="GIN code and files: MIT (Weihua Hu, licences/powerful-gnns-MIT.txt); the molecules "
                 "(TU Dortmund collection) come with no licence stated"),
    _gin("proteins", "PROTEINS", "1,113 proteins, 2 classes (663 / 450), 3 node tags",
         "Borgwardt et al. 2005", "GIN 76.2 ± 2.8 % (10-fold CV)"),
    _gin("nci1", "NCI1", "4,110 molecules, 2 classes, 37 node tags", "Wale et al. 2008",
         "GIN 82.7 ± 1.7 % (10-fold CV)"),
    _gin("nci109", "NCI109", "4,127 molecules, 2 classes, 38 node tags", "Wale et al. 2008"),
    _gin("ptc", "PTC", "344 molecules (PTC_MR), 2 classes, 19 node tags", "Helma et al. 2001",
         "GIN 64.6 ± 7.0 % (10-fold CV)"),
    _gin("imdb_binary", "IMDBBINARY",
         "1,000 ego networks of actors, 2 genres, no node features (one tag: use degrees)",
         "Yanardag & Vishwanathan 2015", "GIN 75.1 ± 5.1 % (10-fold CV, degrees as tags)"),
    _gin("imdb_multi", "IMDBMULTI",
         "1,500 ego networks of actors, 3 genres, no node features (one tag: use degrees)",
         "Yanardag & Vishwanathan 2015", "GIN 52.3 ± 2.8 % (10-fold CV, degrees as tags)"),
    _gin("enzymes", "ENZYMES", "600 enzymes, 6 classes, 3 node tags (no continuous attributes in this copy)",
         "Schomburg et al. 2004; Borgwardt et al. 2005"),
]


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


_BY_KEY = {}
for _info in _CATALOG:
    _BY_KEY[_key(_info.name)] = _BY_KEY[_key(_info.title)] = _info


def list_datasets(pattern: str | None = None, *, bundled: bool | None = None) -> list[str]:
    """Names of the known data sets, sorted.

    Args:
        pattern: a shell-style wildcard on the name ("imdb*").
        bundled: True for the sets in the package, False for those read from `$ZOO_DATA_DIR` or
            downloaded, None for all.
    """
    names = [i.name for i in _CATALOG if bundled is None or i.bundled == bundled]
    return sorted(n for n in names if pattern is None or fnmatch.fnmatch(n, pattern.lower()))


def dataset_info(name: str) -> DatasetInfo:
    """The `DatasetInfo` of `name`; InvalidArgumentError (with the closest names) when unknown."""
    info = _BY_KEY.get(_key(name))
    if info is None:
        close = difflib.get_close_matches(str(name).lower(), list_datasets(), n=3)
        hint = f"; did you mean {', '.join(map(repr, close))}" if close else ""
        raise InvalidArgumentError(f"unknown data set {name!r}{hint}. Known: {', '.join(list_datasets())}")
    return info


@lru_cache(maxsize=1)
def _remote_files() -> dict:
    with open(REMOTE_FILES, encoding="utf-8") as f:
        return json.load(f)


def _cache_root(cache_dir) -> Path:
    from zoo.pretrained import keras_home

    return Path(cache_dir if cache_dir is not None else keras_home()).expanduser() / CACHE_SUBDIR


def _local_root(data_dir) -> Path | None:
    """`data_dir`, else `$ZOO_DATA_DIR`, else None; an error when the folder named does not exist."""
    named, what = (data_dir, "data_dir") if data_dir is not None else (os.environ.get(DATA_DIR_ENV), f"${DATA_DIR_ENV}")
    if not named:
        return None
    root = Path(named).expanduser()
    if not root.is_dir():
        raise InvalidArgumentError(f"{what} is {str(named)!r}, which is not a folder; name a folder laid out "
                                   f"like zoo/data/bundled (graphs/..., sequences/...) or unset it")
    return root


def _find(info: DatasetInfo, root: Path) -> dict | None:
    """role -> path of every file of `info` under `root` (a `.gz` twin counts), or None if one is missing."""
    found = {}
    for role, relative in info.files.items():
        path = root / relative
        if not path.exists() and Path(str(path) + ".gz").is_file():
            path = Path(str(path) + ".gz")
        if not path.exists():
            return None
        found[role] = path
    return found


def dataset_files(name: str, *, data_dir=None, cache_dir=None, download: bool = True) -> dict:
    """Where the files of data set `name` are: role -> Path (see `DatasetInfo.files`), fetched first if needed.

    Args:
        name: a data set name (`list_datasets()`).
        data_dir: a local folder laid out like `zoo/data/bundled` to read sets that are not bundled
            from; default `$ZOO_DATA_DIR`.
        cache_dir: where downloads are kept (under `datasets/zoo/`); default `$KERAS_HOME` or `~/.keras`.
        download: download a set that is neither bundled, local nor cached. With False, such a
            set raises DatasetUnavailableError.

    Raises:
        DatasetUnavailableError: not found locally, and the download failed, was refused
            (`download=False`) or gave files with the wrong checksum.
    """
    info = dataset_info(name)
    if info.bundled:
        found = _find(info, BUNDLED_DIR)
        if found is None:
            raise DatasetUnavailableError(f"the bundled files of {info.title} are missing from {BUNDLED_DIR}: "
                                          f"reinstall the zoo package")
        return found
    local = _local_root(data_dir)
    if local is not None and (found := _find(info, local)) is not None:
        return found
    cache = _cache_root(cache_dir)
    return _fetch(info, cache, download=download, local=local)


def _fetch(info: DatasetInfo, cache: Path, *, download: bool, local: Path | None) -> dict:
    """The files of `info` in the cache, downloading (and converting) what is missing."""
    from zoo.data.downloads import Checksum, fetch_checked
    from zoo.data.planetoid import convert_planetoid

    remote = _remote_files()[info.name]
    wanted = " and ".join(info.files.values())
    where = f"put them in {local} (found no {wanted} there)" if local is not None else (
        f"set {DATA_DIR_ENV} to a folder holding {wanted}")
    instead = (f"Without network, {where}, or copy the files of {remote['repository']} at commit "
               f"{remote['commit'][:7]} ({remote['base_url']}) into {cache / remote['into']}.")
    converted = remote.get("convert") == "planetoid" and (cache / info.files["graph"]).is_file()
    if not converted:
        for file, sums in sorted(remote["files"].items()):
            destination = cache / remote["into"] / file
            checksum = Checksum(sums.get("sha256"), sums.get("git_blob_sha1"))
            if not download and not (destination.is_file() and checksum.matches(destination)):
                raise DatasetUnavailableError(
                    f"{info.title} is not bundled, not local and not in the cache ({destination} is missing or "
                    f"not the published file), "
                    f"and download=False. {instead}")
            fetch_checked(remote["base_url"] + file, destination, checksum, instead=instead)
    if remote.get("convert") == "planetoid" and not converted:
        convert_planetoid(cache / remote["into"], info.name, cache / info.files["graph"])
    found = _find(info, cache)
    if found is None:  # the manifest and the catalog disagree: a bug, not a user error
        raise DatasetUnavailableError(f"{info.title}: downloaded into {cache}, but {info.files} are not all there")
    return found


def load_dataset(name: str, *, split=None, data_dir=None, cache_dir=None, download: bool = True, **options):
    """Load a data set by name, in the format of its reader (see the module docstring's table).

    Args:
        name: one of `list_datasets()` (case and `-` / `_` ignored).
        split: for series, "train" or "test" (default: both, as `(train, test)`); for graph
            classification, a fold number k in 1..10 (default: all graphs and the folds). Node
            classification sets take none: their split is inside (`data.train_index`,
            `data.dataset("train")`).
        data_dir, cache_dir, download: where to look and whether to download (`dataset_files`).
        **options: for the reader: `dtype` (series), `normalize_features` (Planetoid graphs),
            `continuous_features`, `undirected` (GIN text).

    Returns:
        series: `(train, test)` `TimeSeriesData`, or one of them; node classification: a
        `NodeClassificationData`; graph classification: `(GraphClassificationData, folds)` with
        `folds = [(train_indices int64 [n_train], test_indices int64 [n_test]), ...]` (10 folds),
        or for `split=k` the `(train, test)` `GraphClassificationData` subsets of fold k.

    Raises:
        InvalidArgumentError: an unknown name, split or option.
        DatasetUnavailableError: a set not bundled, not local, and not downloadable now.
    """
    info = dataset_info(name)
    unknown = sorted(set(options) - set(_OPTIONS[info.task]))
    if unknown:
        raise InvalidArgumentError(f"load_dataset({info.name!r}) takes no option {', '.join(unknown)}; the options "
                                   f"for {info.task} sets are {', '.join(_OPTIONS[info.task])}")
    files = dataset_files(info.name, data_dir=data_dir, cache_dir=cache_dir, download=download)
    return _READERS[info.task](info, files, split, options)


def _read_series(info, files, split, options):
    from zoo.data.timeseries import load_ts

    if split not in (None, "train", "test"):
        raise InvalidArgumentError(f"{info.title} has the splits 'train' and 'test' (or None for both), got {split!r}")
    train = load_ts(files["train"], **options)
    if split == "train":
        return train
    test = load_ts(files["test"], class_names=train.class_names, **options)
    return test if split == "test" else (train, test)


def _read_planetoid(info, files, split, options):
    from zoo.data.graphs import load_planetoid

    if split is not None:
        raise InvalidArgumentError(f"{info.title} is one graph: load it whole (split=None) and use its split, "
                                   f"data.train_index / val_index / test_index or data.dataset('train'), got split={split!r}")
    return load_planetoid(files["graph"], **options)


def _read_gin(info, files, split, options):
    from zoo.data.graphs import load_gin_folds, load_gin_text

    data, folds = load_gin_text(files["graphs"], **options), load_gin_folds(files["folds"])
    if split is None:
        return data, folds
    if isinstance(split, bool) or not isinstance(split, int) or not 1 <= split <= len(folds):
        raise InvalidArgumentError(f"{info.title}'s split is a fold number 1..{len(folds)} (or None for all "
                                   f"graphs and the folds), got {split!r}")
    train, test = folds[split - 1]
    return data.subset(train), data.subset(test)


_READERS = {SEQUENCE: _read_series, NODE: _read_planetoid, GRAPH: _read_gin}

__all__ = ["DATA_DIR_ENV", "DatasetInfo", "dataset_files", "dataset_info", "list_datasets", "load_dataset"]
