"""Files fetched once from a pinned URL, checked against a checksum, and kept in a cache.

`fetch_checked(url, destination, checksum)` returns `destination` when it already holds the right
bytes, else downloads `url` there with `keras.utils.get_file` and checks it. A file whose checksum
does not match is deleted, never used. Every failure (no network, a refused connection, an HTTP
error, a wrong checksum) raises `DatasetUnavailableError` naming the URL, the reason and what to
do instead (the caller's `instead`, e.g. where to put a local copy).

A checksum is the file's SHA-256, or, where only that is known, its git blob SHA-1 (what
`git hash-object FILE` prints, and what a GitHub tree lists for the file at a commit).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from zoo.errors import DatasetUnavailableError


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a file with contents `data` (`git hash-object`)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass(frozen=True)
class Checksum:
    """What a file must hash to: `sha256`, else `git_blob_sha1` (hex digests)."""

    sha256: str | None = None
    git_blob_sha1: str | None = None

    def __post_init__(self):
        if not (self.sha256 or self.git_blob_sha1):
            raise ValueError("a Checksum needs sha256 or git_blob_sha1")

    @property
    def kind(self) -> str:
        return "sha256" if self.sha256 else "git blob sha1"

    @property
    def expected(self) -> str:
        return self.sha256 or self.git_blob_sha1

    def of(self, path: str | os.PathLike) -> str:
        data = Path(path).read_bytes()
        return hashlib.sha256(data).hexdigest() if self.sha256 else git_blob_sha1(data)

    def matches(self, path: str | os.PathLike) -> bool:
        return self.of(path) == self.expected


def fetch_checked(url: str, destination: str | os.PathLike, checksum: Checksum, *, instead: str) -> Path:
    """`destination`, downloaded from `url` unless it is already there with the right checksum.

    Args:
        url: where the file is published.
        destination: the cache path to keep it at (its folder is created).
        checksum: what the file must hash to.
        instead: a sentence for the error message: what the user can do when downloading fails.

    Raises:
        DatasetUnavailableError: the download failed, or gave a file with another checksum.
    """
    import keras

    destination = Path(destination)
    if destination.is_file() and checksum.matches(destination):
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:  # get_file removes a partial file when the transfer fails
        keras.utils.get_file(destination.name, url, cache_dir=str(destination.parent),
                             cache_subdir=str(destination.parent), force_download=True)
    except Exception as error:  # get_file raises a bare Exception for URL and HTTP errors
        raise DatasetUnavailableError(f"could not download {url}: {error}. {instead}") from error
    got = checksum.of(destination)
    if got != checksum.expected:
        destination.unlink()
        raise DatasetUnavailableError(
            f"the file downloaded from {url} has {checksum.kind} {got}, not the published file's "
            f"{checksum.expected}: it was changed or corrupted on the way, and was not kept. {instead}"
        )
    return destination


__all__ = ["Checksum", "fetch_checked", "git_blob_sha1"]
