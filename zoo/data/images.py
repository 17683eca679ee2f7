"""Image folders (one sub-folder per class), listed and checked without decoding, streamed in batches.

    root/
      daisy/    001.jpg 002.png ...
      tulip/    ...

`ImageFolder(root)` lists the files (sorted) and their classes (the sorted sub-folder names), and
reads every file's header once: a file that is empty, unreadable, not an image or whose header is
cut short is known before any training, by name (`folder.bad`). `image_dataset` streams files in
a given order through `tf.data`: read and decode in a parallel map, converted to the channels and
resized to the size asked for, batched, prefetched; nothing holds more than a few batches.

`keras.utils.image_dataset_from_directory` and tfds' `ImageFolder` do the listing and decoding
too; they are not used because training needs what they lack: the order of each epoch as a
function of (seed, epoch) (resumed runs see the same batches), files that cannot be read named
(or skipped and counted) instead of a TensorFlow error, and the same decoder as `zoo.export`'s
`serving_bytes` (`zoo.data.image_files`), so served pixels are the trained pixels.
"""

from __future__ import annotations

import os

import numpy as np

from zoo.errors import InvalidArgumentError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")


def list_image_folder(root: str | os.PathLike) -> tuple[list[str], list[int], list[str]]:
    """(files, labels, class_names) of an image folder; class names are the sorted sub-folder names."""
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"image folder not found: {root!r}")
    class_names = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)) and not d.startswith("."))
    if not class_names:
        raise InvalidArgumentError(f"image folder {root!r} has no class sub-folders (expected root/<class>/<image files>)")
    files, labels = [], []
    for label, name in enumerate(class_names):
        folder = os.path.join(root, name)
        found = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith("."))
        files += [os.path.join(folder, f) for f in found]
        labels += [label] * len(found)
    if not files:
        raise InvalidArgumentError(f"image folder {root!r} has class folders {class_names} but no image files {IMAGE_EXTENSIONS}")
    empty = [n for i, n in enumerate(class_names) if i not in set(labels)]
    if empty:
        raise InvalidArgumentError(f"image folder {root!r}: class folder(s) {empty} hold no image files")
    return files, labels, class_names


class ImageFolder:
    """The files of an image folder, their labels, and the files that cannot be read.

    Args:
        root: the folder (one sub-folder per class).
        check: read every file's header now (`zoo.data.image_files.header_problems`).

    Attributes:
        root: the folder, as given.
        files: the image files, sorted by class then name (paths under `root`).
        labels: int32 [len(files)], each file's index into `class_names`.
        class_names: the sorted sub-folder names.
        bad: {index into files: what is wrong with it}: files found unreadable so far (by the
            header check, or later by `mark_bad` when decoding fails).

    Example:
        >>> folder = ImageFolder("flowers/")
        >>> folder.class_names, len(folder.files), folder.describe(folder.bad)
        (['daisy', 'tulip'], 40, 'tulip/7.png (an empty file)')
    """

    def __init__(self, root: str | os.PathLike, *, check: bool = True):
        from zoo.data.image_files import header_problems

        self.root = os.fspath(root)
        files, labels, self.class_names = list_image_folder(self.root)
        self.files = files
        self.labels = np.asarray(labels, dtype=np.int32)
        self.bad: dict[int, str] = header_problems(files) if check else {}

    def __len__(self) -> int:
        return len(self.files)

    def good(self, indices) -> np.ndarray:
        """`indices` (in their order) without the bad files."""
        indices = np.asarray(indices, dtype=np.int64)
        if not self.bad:
            return indices
        return indices[~np.isin(indices, list(self.bad))]

    def mark_bad(self, problems: dict[int, str]) -> None:
        self.bad.update(problems)

    def relative(self, index: int) -> str:
        """The file's path under `root`, e.g. "tulip/7.png"."""
        return os.path.relpath(self.files[index], self.root)

    def describe(self, problems: dict[int, str], most: int = 5) -> str:
        """ "tulip/7.png (an empty file), daisy/x.jpg (...) and 3 more" for {index: reason}."""
        items = [f"{self.relative(i)} ({reason})" for i, reason in sorted(problems.items())]
        shown = ", ".join(items[:most])
        return shown + (f" and {len(items) - most} more" if len(items) > most else "")

    def split(self, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """(training indices, validation indices): `fraction` of each class's files, chosen with
        `seed`, for validation (a split of the files: both come from this folder, never the same
        file in both). Stratified by class, so every class with enough files is in both parts.
        """
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
            raise InvalidArgumentError(f"validation_split must be a fraction between 0 and 1, got {fraction!r}")
        rng = np.random.default_rng([seed, len(self.files)])
        validation = []
        for label in range(len(self.class_names)):
            members = np.flatnonzero(self.labels == label)
            take = int(round(fraction * len(members)))
            validation += rng.permutation(members)[:take].tolist()
        validation = np.sort(np.asarray(validation, dtype=np.int64))
        training = np.setdiff1d(np.arange(len(self.files)), validation)
        if len(validation) == 0 or len(training) == 0:
            raise InvalidArgumentError(
                f"validation_split={fraction} of the {len(self.files)} files of {self.root!r} leaves "
                f"{len(training)} for training and {len(validation)} for validation; choose a fraction that leaves both some"
            )
        return training, validation


def image_dataset(files, labels, *, image_size: tuple[int, int], channels: int, batch_size: int):
    """Batches (images float32 [b, height, width, channels] in 0..1, labels int32 [b]) of `files`
    in the order given, streamed: each file is read, decoded (`zoo.data.image_files.decode_image`),
    resized (bilinear) and scaled by 1/255 in a parallel map; results keep the order of `files`.

    A file that cannot be decoded makes the iterator raise `tf.errors.InvalidArgumentError` when
    its batch is reached (`zoo.data.image_files.decode_problems` says which and why).
    """
    import tensorflow as tf

    from zoo.data.image_files import decode_image, resize_image

    def load(path, label):
        pixels = resize_image(decode_image(tf.io.read_file(path), channels), image_size)
        return pixels / 255.0, label

    dataset = tf.data.Dataset.from_tensor_slices((tf.constant(list(files), tf.string), np.asarray(labels, np.int32)))
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
