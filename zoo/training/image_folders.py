"""Image folders in `zoo.fit` and `zoo.evaluate`: bound to a model, streamed one epoch at a time.

    zoo.fit(model, "photos/", validation_split=0.2, cache=False, on_bad_file="error")

`zoo.training.sources.read_source` reads a folder path as a `FolderSource` (listed, not decoded:
what `zoo train` builds a model for). `bind` turns a folder (path or FolderSource) into a
`DataSource` bound to a model: the folder's files (listed, their headers checked:
`zoo.data.images.ImageFolder`), resized to the model's input size and converted to its channels
(the model's input shape, else its card's), with labels that follow the model's class names. The folder's class names (its sorted sub-folder names) become the model's
(`model.zoo_class_names`, which `zoo.export` writes) when it has none; a folder with a class the
model does not have, or a model without class names whose head has another number of classes,
is an error before training.

Its `training_data` is a `FolderData`: epoch `e`'s order is a permutation of the files
drawn from (seed, e), so a resumed run sees the same batches; files are decoded as they are
read (`zoo.data.images.image_dataset`), or once into a cache (`zoo.data.image_cache`).

Files that cannot be read: the header check finds empty, unreadable and non-image files and
damaged headers before training; a file that fails to decode later is found when its batch is
read (`FolderData.read_error`, called by the training loop). With `on_bad_file="error"` either is
an `InvalidArgumentError` naming the file; with "skip" it is left out (the epoch goes on from the
same batch) and one warning line says how many and which.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np

from zoo.data.image_cache import ImageCache
from zoo.data.image_files import IMAGE_CHANNELS, decode_problems
from zoo.data.images import ImageFolder, image_dataset, list_image_folder
from zoo.errors import InvalidArgumentError
from zoo.training.data import TrainingData, check_batch_size, epoch_order
from zoo.training.sources import DataSource, is_gin_folder

log = logging.getLogger("zoo.training")

ON_BAD_FILE = ("error", "skip")
LISTED = 10  # bad files named in one message


@dataclass
class FolderSource(DataSource):
    """An image folder as `read_source` reads it: its class names, not bound to a model yet
    (`zoo.fit` and `zoo.evaluate` bind it). `root` is the folder."""

    root: str = ""


def folder_source(path: str) -> FolderSource:
    """The folder at `path` listed (not decoded): its number of classes and class names."""
    files, _, names = list_image_folder(path)

    def unbound(batch_size, shuffle, seed):
        raise InvalidArgumentError(f"the image folder {path!r} is read at a model's input size: pass it to zoo.fit or "
                                   "zoo.evaluate (zoo.training.image_folders.bind binds it to a model)")

    return FolderSource(unbound, "images", num_classes=len(names), class_names=tuple(names), root=path,
                        description=f"image folder {os.path.basename(os.path.normpath(path))}: {len(files)} images, "
                                    f"{len(names)} classes")


def is_image_folder(data) -> bool:
    """A `FolderSource`, or the path of a folder that is not a GIN graph folder."""
    if isinstance(data, FolderSource):
        return True
    return isinstance(data, (str, os.PathLike)) and os.path.isdir(data) and not is_gin_folder(os.fspath(data))


@dataclass
class BoundFolder:
    """Part of an image folder (`indices` into `folder.files`), read for one model.

    Attributes:
        folder: the `ImageFolder` (shared by the parts of a `validation_split`).
        indices: int64 [n], the files of this part.
        label_map: int32 [folder classes]: the model's class index of each folder class.
        image_size: (height, width) of the model's input; channels: its channels.
        cache: an `ImageCache` already filled, or None (streamed from the files each epoch).
        on_bad_file: "error" or "skip".
        caller: "zoo.fit" or "zoo.evaluate", for messages.
    """

    folder: ImageFolder
    indices: np.ndarray
    label_map: np.ndarray
    image_size: tuple
    channels: int
    cache: ImageCache | None
    on_bad_file: str
    caller: str

    def training_data(self, batch_size: int, shuffle: bool, seed: int) -> "FolderData":
        check_batch_size(batch_size)
        return FolderData(self, batch_size=batch_size, shuffle=shuffle, seed=seed)

    def source(self, class_names) -> DataSource:
        """This part as a `DataSource` whose labels are the model's class indices (`class_names`:
        the model's names, or None)."""
        folder = self.folder
        return DataSource(self.training_data, "images", num_classes=len(class_names or folder.class_names),
                          input_shape=(*self.image_size, self.channels), class_names=class_names,
                          description=f"image folder {folder.root}: {len(self.indices)} files, "
                                      f"{len(folder.class_names)} classes, read at {self.image_size}")

    def report(self, problems: dict[int, str]) -> None:
        """Raise for `problems` ({index: reason}) with on_bad_file="error"; with "skip", leave them out
        and say so in one warning line."""
        folder = self.folder
        if not problems:
            return
        listed = folder.describe(problems, most=LISTED)
        if self.on_bad_file == "error":
            raise InvalidArgumentError(
                f"{self.caller}: {len(problems)} of the {len(folder)} image files of {folder.root!r} cannot be read: "
                f"{listed}. Fix or remove them, or pass on_bad_file='skip' to leave them out"
            )
        folder.mark_bad(problems)
        total = f" ({len(folder.bad)} skipped in all)" if len(folder.bad) > len(problems) else ""
        log.warning("%s: skipping %d of the %d image files of %r, which cannot be read: %s%s", self.caller,
                    len(problems), len(folder), folder.root, listed, total)
        if not len(folder.good(self.indices)):
            raise InvalidArgumentError(f"{self.caller}: no image file of {folder.root!r} can be read")


class FolderData(TrainingData):
    """`TrainingData` of a `BoundFolder`: `make(epoch)` streams that epoch's batches
    (float32 [b, height, width, channels] in 0..1, int32 labels [b]); `read_error` explains a
    failure to read them."""

    def __init__(self, part: BoundFolder, *, batch_size: int, shuffle: bool, seed: int):
        super().__init__(make=self._make, num_examples=len(part.folder.good(part.indices)), batch_size=batch_size)
        self.part, self.shuffle, self.seed = part, shuffle, seed

    def order(self, epoch: int) -> np.ndarray:
        """The files of `epoch` (indices into `part.folder.files`), in order: a permutation drawn
        from (seed, epoch) of every file of the part, without the bad ones (so the same files are
        in the same places whether a bad file is known yet or not)."""
        indices = self.part.indices
        indices = indices[epoch_order(len(indices), shuffle=self.shuffle, seed=self.seed, epoch=epoch)]
        return self.part.folder.good(indices)

    def _make(self, epoch: int):
        part, order = self.part, self.order(epoch)
        labels = part.label_map[part.folder.labels[order]]
        if part.cache is not None:
            return part.cache.dataset(order, labels, batch_size=self.batch_size)
        return image_dataset([part.folder.files[i] for i in order], labels, image_size=part.image_size,
                             channels=part.channels, batch_size=self.batch_size)

    def read_error(self, error, epoch: int, first: int, batch: int) -> bool:
        """What to do after `error` reading batch `batch` of `epoch` from an iterator that started at
        batch `first` (it read and dropped batches 0..first-1 to get there).

        Returns True when a file that does not decode was found and left out (on_bad_file="skip"):
        the epoch can go on from batch `batch` of `make(epoch)`; False when no file explains the error.

        Raises:
            InvalidArgumentError: naming the file (on_bad_file="error"), or a damaged disk cache.
        """
        part, size = self.part, self.batch_size
        start = 0 if batch == first else batch - 1  # errors come in order: the batch read (or, to be sure, the one before)
        candidates = self.order(epoch)[start * size:(batch + 1) * size]
        if part.cache is not None:
            damaged = part.cache.damaged(candidates)
            if damaged is not None:
                raise InvalidArgumentError(
                    f"{part.caller}: the image cache {part.cache.directory!r} is damaged ({damaged} is missing or "
                    "cut short); delete that folder and it is made again")
            return False
        found = decode_problems([part.folder.files[i] for i in candidates], part.channels)
        if not found:
            return False
        part.report({int(candidates[i]): reason for i, reason in found.items()})
        self.num_examples = len(part.folder.good(part.indices))
        return True


def bind(model, data, validation_data=None, *, validation_split=None, cache=False, on_bad_file="error", seed=0,
         caller="zoo.fit", adopt_class_names=True, verbose=0):
    """(data, validation_data) with image folders (paths or `FolderSource`s) replaced by DataSources
    bound to `model` (`BoundFolder.source`).

    Args:
        model: the Keras model the folders feed (one image input [batch, height, width, channels]).
        data, validation_data: what `zoo.fit` was given; anything but an image folder is returned as is.
        validation_split: a fraction of `data`'s files (a folder) to validate on instead of `validation_data`.
        cache: False (decode every epoch), True (decoded once, in memory) or a folder path (decoded
            once, on disk, kept between runs: `zoo.data.image_cache`).
        on_bad_file: "error" or "skip" (see the module docstring).
        seed: chooses the `validation_split` files.
        caller: for messages. adopt_class_names: give the model `data`'s class names if it has none.
        verbose: say when a cache is filled.

    Raises:
        InvalidArgumentError: bad arguments, a model that cannot take images, class names or
            numbers of classes that disagree, or files that cannot be read (with on_bad_file="error").
    """
    if on_bad_file not in ON_BAD_FILE:
        raise InvalidArgumentError(f"on_bad_file must be one of {ON_BAD_FILE}, got {on_bad_file!r}")
    if not (cache is None or isinstance(cache, (bool, str, os.PathLike))):
        raise InvalidArgumentError(f"cache must be False, True (in memory) or a folder path, got {cache!r}")
    folder_data = is_image_folder(data)
    if validation_split is not None:
        if not folder_data:
            raise InvalidArgumentError("validation_split splits an image folder given as data; "
                                       "for other data pass validation_data")
        if validation_data is not None:
            raise InvalidArgumentError("pass validation_data or validation_split, not both")
    if cache and not folder_data:
        raise InvalidArgumentError("cache applies to an image folder given as data (a tf.data.Dataset has .cache())")
    if not folder_data and not is_image_folder(validation_data):
        return data, validation_data

    image_size, channels = _image_input(model)
    names = getattr(model, "zoo_class_names", None)
    adopted, bound = None, {}
    for key, value in (("data", data), ("validation_data", validation_data)):
        if not is_image_folder(value):
            continue
        folder = ImageFolder(value.root if isinstance(value, FolderSource) else value)
        if names is None:  # the head's size decides; the training folder's names become the model's
            _check_classes(model, folder, key)
            if key == "data":
                names = adopted = tuple(folder.class_names)
        label_map = _label_map(names, folder, key) if names else np.arange(len(folder.class_names), dtype=np.int32)
        part = BoundFolder(folder, np.arange(len(folder), dtype=np.int64), label_map, image_size, channels, None,
                           on_bad_file, caller)
        part.report(folder.bad)
        if cache and key == "data":
            path = None if cache is True else os.fspath(cache)
            if verbose:
                print(f"caching {len(folder.good(part.indices)):,} images of {folder.root!r} at "
                      f"{image_size[0]}x{image_size[1]}x{channels} {'in memory' if path is None else 'in ' + path}",
                      flush=True)
            part.cache = ImageCache(folder, image_size, channels, path)
            part.report(part.cache.fill())
        bound[key] = part
    if validation_split is not None:
        part = bound["data"]
        training, validation = part.folder.split(validation_split, seed)
        bound["data"] = BoundFolder(**{**vars(part), "indices": training})
        bound["validation_data"] = BoundFolder(**{**vars(part), "indices": validation})
    if adopted is not None and adopt_class_names:
        model.zoo_class_names = adopted
    names = names if (adopted is None or adopt_class_names) else None
    bound = {key: part.source(names) for key, part in bound.items()}
    return bound.get("data", data), bound.get("validation_data", validation_data)


def _image_input(model) -> tuple[tuple[int, int], int]:
    """((height, width), channels) of the model's one image input (its card fills unknown sizes)."""
    inputs = getattr(model, "inputs", None) or []
    shapes = [tuple(t.shape) for t in inputs]
    if len(shapes) != 1 or len(shapes[0]) != 4 or shapes[0][-1] not in IMAGE_CHANNELS:
        raise InvalidArgumentError(
            f"an image folder feeds a model with one image input [batch, height, width, {'|'.join(map(str, IMAGE_CHANNELS))}]"
            f"; model {getattr(model, 'name', '?')!r} takes {shapes or 'no defined input (build it first)'}"
        )
    _, height, width, channels = shapes[0]
    card = getattr(model, "zoo_card", None)
    if (height is None or width is None) and card is not None and len(card.input_shape) == 3:
        height, width = height or card.input_shape[0], width or card.input_shape[1]
    if height is None or width is None:
        raise InvalidArgumentError(
            f"model {model.name!r} takes images of any size ({shapes[0]}); an image folder is resized to one size: "
            "build the model with a fixed input_shape, e.g. input_shape=(96, 96, 3)"
        )
    return (int(height), int(width)), int(channels)


def _label_map(names, folder: ImageFolder, key: str) -> np.ndarray:
    """The index in `names` (the model's class names) of each class of `folder`."""
    unknown = [c for c in folder.class_names if c not in names]
    if unknown:
        raise InvalidArgumentError(
            f"{key}: the image folder {folder.root!r} has class folder(s) {unknown} that are not classes of the model "
            f"(its class names: {list(names)}); rename the folders, or build the model with the folder's classes"
        )
    return np.asarray([list(names).index(c) for c in folder.class_names], np.int32)


def _check_classes(model, folder: ImageFolder, key: str) -> None:
    """A model without class names: the folder must have as many classes as its head."""
    outputs = model.outputs[0].shape[-1] if getattr(model, "outputs", None) else None
    expected = outputs if outputs not in (None, 1) else 2  # a one-unit head: two classes
    classes = folder.class_names
    if len(classes) != expected:
        raise InvalidArgumentError(
            f"{key}: the image folder {folder.root!r} has {len(classes)} classes ({', '.join(classes[:12])}) but the "
            f"model's head has {outputs} outputs; build it with num_classes={len(classes)}"
        )
