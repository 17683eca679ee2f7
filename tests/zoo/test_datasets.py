"""zoo.data.load_dataset: the bundled sets (sizes, the same bytes as ../shared/data, package data), a
local copy named by $ZOO_DATA_DIR, and downloads from a real HTTP server on 127.0.0.1 (checksums,
the cache, the errors when the URL is unreachable or serves another file). Nothing here downloads
from the internet: downloads go to a server the test starts, or to a closed port."""

import contextlib
import fnmatch
import functools
import gzip
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest

from tests_paths import free_ports
from zoo.data import dataset_files, dataset_info, datasets, list_datasets, load_dataset
from zoo.data.downloads import Checksum, git_blob_sha1
from zoo.errors import DatasetUnavailableError, InvalidArgumentError

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ["cora", "gunpoint", "japanese_vowels", "mutag"]


# --- the bundled sets -------------------------------------------------------------------------------


def test_bundled_sets_have_their_published_sizes():
    assert list_datasets(bundled=True) == BUNDLED
    train, test = load_dataset("gunpoint")
    assert (len(train), len(test)) == (50, 150) and set(train.lengths) == set(test.lengths) == {150}
    assert train.num_channels == 1 and train.num_classes == 2 and test.class_names == train.class_names
    train, test = load_dataset("JapaneseVowels")
    assert (len(train), len(test), train.num_channels, train.num_classes) == (270, 370, 12, 9)
    lengths = np.concatenate([train.lengths, test.lengths])
    assert (lengths.min(), lengths.max()) == (7, 29)
    cora = load_dataset("cora")
    assert (cora.num_nodes, cora.num_features, cora.num_classes) == (2708, 1433, 7)
    assert cora.graph["edge_index"].shape == (2, 10858)  # the Planetoid list as written
    assert len(set(map(tuple, cora.graph["edge_index"].T))) == 10556  # distinct directed edges
    assert (len(cora.train_index), len(cora.val_index), len(cora.test_index)) == (140, 500, 1000)
    mutag, folds = load_dataset("mutag")
    assert len(mutag) == 188 and np.bincount(mutag.labels).tolist() == [63, 125] and mutag.num_features == 9
    assert len(folds) == 10 and all(len(train) + len(test) == 188 for train, test in folds)
    train_1, test_1 = load_dataset("mutag", split=1)
    np.testing.assert_array_equal(test_1.labels, mutag.labels[folds[0][1]])
    assert len(train_1) == len(folds[0][0])


def test_bundled_files_are_the_shared_copies(shared_data):
    for name in BUNDLED:
        for role, path in dataset_files(name).items():
            shared = shared_data / dataset_info(name).files[role]
            if path.is_dir():
                assert sorted(p.name for p in path.iterdir()) == sorted(p.name for p in shared.iterdir())
                pairs = [(p, shared / p.name) for p in path.iterdir()]
            else:
                pairs = [(path, shared)]
            for ours, theirs in pairs:
                data = gzip.decompress(ours.read_bytes()) if ours.suffix == ".gz" else ours.read_bytes()
                assert data == theirs.read_bytes(), ours


def test_every_bundled_file_is_package_data():
    """A non-editable install has exactly what is in zoo/data/bundled (the globs of pyproject.toml)."""
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["zoo"]
    files = [p.relative_to(ROOT / "zoo").as_posix() for p in (ROOT / "zoo" / "data" / "bundled").rglob("*")
             if p.is_file()]
    assert len(files) > 20
    unpackaged = [f for f in files if not any(fnmatch.fnmatchcase(f, pattern) for pattern in patterns)]
    assert not unpackaged, f"add these to [tool.setuptools.package-data] in pyproject.toml: {unpackaged}"
    assert any(fnmatch.fnmatchcase("data/remote_files.json", pattern) for pattern in patterns)


def test_names_splits_and_options_are_checked():
    assert list_datasets("imdb*") == ["imdb_binary", "imdb_multi"]
    assert set(list_datasets(bundled=False)) == set(list_datasets()) - set(BUNDLED)
    assert dataset_info("IMDB-BINARY").name == "imdb_binary"
    with pytest.raises(InvalidArgumentError, match="unknown data set 'gunpiont'; did you mean 'gunpoint'"):
        load_dataset("gunpiont")
    with pytest.raises(InvalidArgumentError, match="'train' and 'test'"):
        load_dataset("gunpoint", split="validation")
    with pytest.raises(InvalidArgumentError, match="fold number 1..10"):
        load_dataset("mutag", split=11)
    with pytest.raises(InvalidArgumentError, match="one graph"):
        load_dataset("cora", split="train")
    with pytest.raises(InvalidArgumentError, match="no option normalize_features.*dtype"):
        load_dataset("gunpoint", normalize_features=True)
    info = str(dataset_info("proteins"))
    assert "PROTEINS" in info and "licence: " in info and "GIN 76.2" in info and "ZOO_DATA_DIR" in info


def test_git_blob_checksum_is_what_git_lists():
    """aeon's tree lists GunPoint_TRAIN.ts (our bundled file, unzipped) as blob 60ac1f3b..."""
    data = gzip.decompress(dataset_files("gunpoint")["train"].read_bytes())
    assert git_blob_sha1(data) == "60ac1f3be7edcac7d2e1db21cfb0690eb755ee6b"
    assert Checksum(git_blob_sha1="60ac1f3be7edcac7d2e1db21cfb0690eb755ee6b").kind == "git blob sha1"
    assert git_blob_sha1(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"  # git's empty blob


# --- a local copy ($ZOO_DATA_DIR) -------------------------------------------------------------------


def _write_gin_set(folder: Path, name: str, graphs: int = 4) -> Path:
    """A tiny set in the GIN text format with 10 folds, laid out as graphs/NAME/."""
    home = folder / "graphs" / name
    (home / "10fold_idx").mkdir(parents=True)
    lines = [str(graphs)] + [line for g in range(graphs) for line in (f"2 {g % 2}", "0 1 1", "1 1 0")]
    (home / f"{name}.txt").write_text("\n".join(lines) + "\n")
    for i in range(1, 11):
        (home / "10fold_idx" / f"train_idx-{i}.txt").write_text("0\n1\n")
        (home / "10fold_idx" / f"test_idx-{i}.txt").write_text("2\n3\n")
    return home


def test_a_set_is_read_from_the_folder_zoo_data_dir_names(tmp_path, monkeypatch):
    _write_gin_set(tmp_path / "mine", "PROTEINS")
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "mine"))
    data, folds = load_dataset("proteins", cache_dir=tmp_path / "cache", download=False)
    assert len(data) == 4 and data.name == "PROTEINS" and len(folds) == 10
    assert dataset_files("proteins")["graphs"] == tmp_path / "mine" / "graphs" / "PROTEINS" / "PROTEINS.txt"
    assert not (tmp_path / "cache").exists()  # nothing fetched, nothing cached
    _write_gin_set(tmp_path / "other", "PROTEINS", graphs=6)
    assert len(load_dataset("proteins", data_dir=tmp_path / "other")[0]) == 6  # data_dir= wins over the variable
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "missing"))
    with pytest.raises(InvalidArgumentError, match=r"\$ZOO_DATA_DIR is .*missing.*not a folder"):
        load_dataset("proteins")


def test_bundled_sets_do_not_depend_on_zoo_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path))  # an empty folder
    assert dataset_files("cora")["graph"].is_relative_to(datasets.BUNDLED_DIR)
    assert len(load_dataset("gunpoint", split="test")) == 150


def test_the_shared_copies_through_zoo_data_dir(shared_data):
    """conftest points $ZOO_DATA_DIR at ../shared/data: the sets that are not bundled come from it."""
    citeseer = load_dataset("citeseer", download=False)
    assert dataset_files("citeseer")["graph"] == shared_data / "graphs" / "citeseer" / "citeseer.npz"
    assert citeseer.num_nodes == 3327 and int((citeseer.labels < 0).sum()) == 15
    proteins, folds = load_dataset("proteins", download=False)
    assert len(proteins) == 1113 and proteins.num_classes == 2 and len(folds) == 10


# --- downloads, from a server on 127.0.0.1 -----------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def _http_server(folder: Path):
    """A real HTTP server for the files of `folder`, on a free port of 127.0.0.1: yields its URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def no_local_copy(monkeypatch):
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)


def test_download_checks_every_file_then_reads_it_from_the_cache(shared_data, tmp_path, monkeypatch, no_local_copy):
    """PROTEINS served from ../shared/data (byte for byte DGCNN's files, so the published checksums hold)."""
    cache = tmp_path / "cache"
    with _http_server(shared_data / "graphs") as url:
        monkeypatch.setitem(datasets._remote_files()["proteins"], "base_url", url)
        data, folds = load_dataset("proteins", cache_dir=cache)
    assert len(data) == 1113 and len(folds) == 10
    cached = cache / "datasets" / "zoo" / "graphs" / "PROTEINS"
    assert (cached / "PROTEINS.txt").read_bytes() == (shared_data / "graphs" / "PROTEINS" / "PROTEINS.txt").read_bytes()
    assert len(list((cached / "10fold_idx").iterdir())) == 20
    # the server is gone: the cache answers, without a download
    again, _ = load_dataset("proteins", cache_dir=cache, download=False)
    assert len(again) == 1113
    # a cached file that no longer has its checksum is not used
    (cached / "10fold_idx" / "test_idx-3.txt").write_text("0\n")
    with pytest.raises(DatasetUnavailableError, match="test_idx-3.txt is missing or not the published file.*download=False"):
        load_dataset("proteins", cache_dir=cache, download=False)


def test_an_unreachable_url_says_what_to_do_instead(tmp_path, monkeypatch, no_local_copy):
    url = f"http://127.0.0.1:{free_ports(1)[0]}/data/"  # nothing listens there
    monkeypatch.setitem(datasets._remote_files()["citeseer"], "base_url", url)
    with pytest.raises(DatasetUnavailableError) as error:
        load_dataset("citeseer", cache_dir=tmp_path)
    message = str(error.value)
    assert f"could not download {url}ind.citeseer." in message and "Connection refused" in message
    assert "set ZOO_DATA_DIR to a folder holding graphs/citeseer/citeseer.npz" in message
    assert "kimiyoung/planetoid at commit af6abf4" in message
    assert not any(p.is_file() for p in tmp_path.rglob("*"))  # no partial file left


def test_a_file_with_another_checksum_is_refused_and_not_kept(tmp_path, monkeypatch, no_local_copy):
    _write_gin_set(tmp_path / "served", "PTC")  # the right names, other contents
    with _http_server(tmp_path / "served" / "graphs") as url:
        monkeypatch.setitem(datasets._remote_files()["ptc"], "base_url", url)
        with pytest.raises(DatasetUnavailableError) as error:
            load_dataset("ptc", cache_dir=tmp_path / "cache")
    message = str(error.value)
    assert f"the file downloaded from {url}PTC/10fold_idx/test_idx-1.txt has sha256" in message
    assert "was not kept" in message and "ZOO_DATA_DIR" in message
    assert not (tmp_path / "cache" / "datasets" / "zoo" / "graphs" / "PTC" / "10fold_idx" / "test_idx-1.txt").exists()


def test_without_download_a_missing_set_names_the_paths_to_fill(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetUnavailableError) as error:
        load_dataset("nci1", cache_dir=tmp_path / "cache", download=False)
    message = str(error.value)
    assert "download=False" in message and f"put them in {tmp_path}" in message
    assert "graphs/NCI1/NCI1.txt and graphs/NCI1/10fold_idx" in message


def test_the_published_checksums_cover_every_download():
    remote = datasets._remote_files()
    assert sorted(remote) == list_datasets(bundled=False)
    for name, source in remote.items():
        assert source["base_url"].startswith("https://raw.githubusercontent.com/") and source["commit"] in source["base_url"]
        for file, sums in source["files"].items():
            assert Checksum(sums.get("sha256"), sums.get("git_blob_sha1")).expected, (name, file)
    assert [f for s in remote.values() for f, sums in s["files"].items() if "sha256" not in sums] == ["ind.pubmed.allx"]
