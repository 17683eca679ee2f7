"""Image folders (one sub-folder per class), checked before any training starts.

    root/
      daisy/    001.jpg 002.png ...
      tulip/    ...

Every file is decoded up front, so a corrupted file, an empty folder or images of different
sizes (with no `image_size` to resize to) are reported with the file's name before training.
"""

from __future__ import annotations

import os

import numpy as np

from zoo.errors import InvalidArgumentError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


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
        found = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS))
        files += [os.path.join(folder, f) for f in found]
        labels += [label] * len(found)
    if not files:
        raise InvalidArgumentError(f"image folder {root!r} has class folders {class_names} but no image files {IMAGE_EXTENSIONS}")
    empty = [n for i, n in enumerate(class_names) if i not in set(labels)]
    if empty:
        raise InvalidArgumentError(f"image folder {root!r}: class folder(s) {empty} hold no image files")
    return files, labels, class_names


def read_image_folder(root, *, image_size: tuple[int, int] | None = None, channels: int | None = None):
    """Decode an image folder into arrays.

    Args:
        root: the folder.
        image_size: (height, width) to resize every image to; None requires all images to have
            the same size (else an error names two files of different sizes).
        channels: 1 or 3 to convert; None keeps the first image's channel count.

    Returns:
        (x, y): x float32 [n, h, w, c] with values in 0..1, y int32 [n] indexing the class names
        of `list_image_folder(root)`.
    """
    import tensorflow as tf

    files, labels, _ = list_image_folder(root)
    images, first = [], None
    for path in files:
        try:
            image = tf.io.decode_image(tf.io.read_file(path), channels=channels or 0, expand_animations=False)
        except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as error:
            raise InvalidArgumentError(f"cannot decode image {path!r}: {error.message.splitlines()[0]}") from None
        if channels is None:
            channels = int(image.shape[-1])  # the first image decides; later ones are converted
        if image_size is not None:
            image = tf.image.resize(image, image_size)
        elif first is None:
            first = (path, tuple(image.shape))
        elif tuple(image.shape) != first[1]:
            raise InvalidArgumentError(
                f"images differ in size: {first[0]!r} is {first[1]} but {path!r} is {tuple(image.shape)}; "
                "pass an image size to resize them (zoo train --image-size H W)"
            )
        images.append(np.asarray(image, dtype="float32") / 255.0)
    return np.stack(images), np.asarray(labels, dtype="int32")
