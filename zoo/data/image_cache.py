"""Decoded, resized images of an image folder, kept so later epochs (and runs) do not decode again.

    cache = ImageCache(folder, (96, 96), 3)                 # in memory: uint8 [files, 96, 96, 3]
    cache = ImageCache(folder, (96, 96), 3, "cache/")       # on disk, kept between runs
    problems = cache.fill()                                 # {index: why it does not decode}
    dataset = cache.dataset(indices, labels, batch_size=32)  # float32 0..1 batches in that order

Pixels are stored as uint8 after resizing (rounded: at most 0.5/255 from the streamed value).
On disk, `<path>/<key>/` holds one `<index>.raw` file of height x width x channels bytes per
image, and `manifest.json`, written once every image is there, naming what they were made from:
the folder, its files with their sizes and modification times, the size and channels. A folder
whose manifest does not match (files added, changed or removed; another size) is made again;
`<key>` depends on the folder's path, the size and channels, so several folders and sizes share
one cache path.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import numpy as np
import tensorflow as tf

from zoo.data.image_files import decode_image, decode_problem, resize_image
from zoo.data.images import ImageFolder

MANIFEST = "manifest.json"
FORMAT = 1


class ImageCache:
    """The images of `folder` at `image_size` x `channels`, decoded once, in memory or under `path`.

    Args:
        folder: the `ImageFolder`.
        image_size: (height, width).
        channels: 1, 3 or 4.
        path: None for memory, else a folder to keep the cache in (created).
    """

    def __init__(self, folder: ImageFolder, image_size, channels: int, path: str | os.PathLike | None = None):
        self.folder, self.image_size, self.channels = folder, tuple(int(d) for d in image_size), int(channels)
        self.shape = (*self.image_size, self.channels)
        self.directory = None if path is None else os.path.join(os.fspath(path), self._key())
        self._store = None  # memory: uint8 [files, height, width, channels] tensor
        self.reused = False  # the disk cache was there from an earlier run

    def fill(self) -> dict[int, str]:
        """Decode and store every good file of the folder (none again when a matching disk cache
        exists). Returns {index: reason} for the files that do not decode (left out of the cache)."""
        if self.directory is not None:
            manifest = self._read_manifest()
            if manifest is not None:
                self.reused = True
                return {int(i): reason for i, reason in manifest["problems"].items()}
            shutil.rmtree(self.directory, ignore_errors=True)
            os.makedirs(self.directory)
        indices = self.folder.good(np.arange(len(self.folder)))
        store = np.zeros((len(self.folder), *self.shape), np.uint8) if self.directory is None else None
        done = set()
        for batch_indices, pixels in self._decoded(indices):
            for index, image in zip(batch_indices.tolist(), pixels):
                done.add(index)
                if store is not None:
                    store[index] = image
                else:
                    _write(self._file(index), image.tobytes())
        problems = {i: decode_problem(self.folder.files[i], self.channels) for i in indices.tolist() if i not in done}
        if store is not None:
            self._store = tf.constant(store)
        else:
            self._write_manifest(problems)
        return problems

    def dataset(self, indices, labels, *, batch_size: int):
        """Batches (float32 [b, height, width, channels] in 0..1, int32 labels [b]) of the cached
        images `indices`, in that order (call `fill` first)."""
        indices = np.asarray(indices, np.int64)
        labels = np.asarray(labels, np.int32)
        if self.directory is None:
            store = self._store

            def gather(index, label):
                return tf.cast(tf.gather(store, index), tf.float32) / 255.0, label

            dataset = tf.data.Dataset.from_tensor_slices((indices, labels)).batch(batch_size).map(gather)
            return dataset.prefetch(tf.data.AUTOTUNE)
        shape = self.shape

        def read(path, label):
            return tf.reshape(tf.io.decode_raw(tf.io.read_file(path), tf.uint8), shape), label

        paths = tf.constant([self._file(i) for i in indices.tolist()], tf.string)
        dataset = tf.data.Dataset.from_tensor_slices((paths, labels))
        dataset = dataset.map(read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).batch(batch_size)
        return dataset.map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, y)).prefetch(tf.data.AUTOTUNE)

    def damaged(self, indices) -> str | None:
        """The first cached file of `indices` that is missing or of the wrong size (disk caches), or None."""
        if self.directory is None:
            return None
        size = int(np.prod(self.shape))
        for index in np.asarray(indices).tolist():
            path = self._file(index)
            if not os.path.isfile(path) or os.path.getsize(path) != size:
                return path
        return None

    # ----------------------------------------------------------------------------------------

    def _decoded(self, indices):
        """(indices, uint8 pixels) batches of the files `indices`; files that do not decode are left out."""
        files = tf.constant([self.folder.files[i] for i in indices.tolist()], tf.string)
        channels, size = self.channels, self.image_size

        def load(index, path):
            pixels = resize_image(decode_image(tf.io.read_file(path), channels), size)
            return index, tf.cast(tf.clip_by_value(tf.round(pixels), 0, 255), tf.uint8)

        dataset = tf.data.Dataset.from_tensor_slices((indices, files))
        dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE).ignore_errors().batch(64)
        return dataset.as_numpy_iterator()

    def _file(self, index: int) -> str:
        return os.path.join(self.directory, f"{index:07d}.raw")

    def _key(self) -> str:
        text = json.dumps([os.path.abspath(self.folder.root), list(self.shape)])
        return hashlib.sha1(text.encode()).hexdigest()[:16]

    def _fingerprint(self) -> str:
        digest = hashlib.sha256(json.dumps([FORMAT, list(self.shape)]).encode())
        for path in self.folder.files:
            stat = os.stat(path)
            digest.update(f"{os.path.relpath(path, self.folder.root)}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
        return digest.hexdigest()

    def _read_manifest(self) -> dict | None:
        try:
            with open(os.path.join(self.directory, MANIFEST), encoding="utf-8") as f:
                manifest = json.load(f)
        except (OSError, ValueError):
            return None
        if not isinstance(manifest, dict) or manifest.get("fingerprint") != self._fingerprint():
            return None
        return manifest

    def _write_manifest(self, problems: dict[int, str]) -> None:
        manifest = {"format": FORMAT, "folder": os.path.abspath(self.folder.root), "shape": list(self.shape),
                    "files": len(self.folder), "fingerprint": self._fingerprint(),
                    "problems": {str(i): reason for i, reason in problems.items()}}
        _write(os.path.join(self.directory, MANIFEST), json.dumps(manifest, indent=1).encode())


def _write(path: str, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename (never half-written)."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
