"""One encoded image file: its size from the header, decoding to a model's channels, resizing, and
what is wrong with a file that cannot be read, in plain words.

These functions are the one place the zoo turns image bytes into pixels: training on image
folders (`zoo.data.images`) and the `serving_bytes` signature of `zoo.export` both use them, so a
model sees the same pixels when it is served as when it was trained.

    data = tf.io.read_file("cats/001.jpg")
    header_size(data)                                   # [2] int64 (height, width), from the header alone
    pixels = resize_image(decode_image(data, 3), (96, 96))   # float32 [96, 96, 3], values 0..255

Formats: JPEG, PNG, GIF (first frame), BMP and WebP.
"""

from __future__ import annotations

import re

import numpy as np
import tensorflow as tf

IMAGE_CHANNELS = (1, 3, 4)
MAX_IMAGE_PIXELS = 1 << 26  # 67 Mpixels (8192 x 8192): a larger image in a request is refused undecoded
FORMATS = "a JPEG, PNG, GIF, BMP or WebP image"
_GREY_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601, as libjpeg and PIL convert colour to grey


def header_size(data):
    """(height, width) int64 of an encoded JPEG / PNG / GIF / BMP / WebP image from its header alone;
    (-1, -1) for any other format (its decoded size cannot be known before decoding).

    Args:
        data: a scalar string tensor, the file's bytes.

    Returns:
        int64 [2]. A header cut short reads as zeros (a size of 0); a JPEG whose header cannot be
        parsed raises `tf.errors.InvalidArgumentError` (from `tf.io.extract_jpeg_shape`).
    """
    padded = data + tf.constant(b"\0" * 32)  # a short file reads zeros instead of failing
    head = tf.cast(tf.io.decode_raw(tf.strings.substr(padded, 0, 30), tf.uint8), tf.int64)

    def big_endian(i, n):
        return tf.add_n([head[i + k] * (256 ** (n - 1 - k)) for k in range(n)])

    def little_endian(i, n):
        return tf.add_n([head[i + k] * (256 ** k) for k in range(n)])

    def starts(prefix, at=0):
        return tf.equal(tf.strings.substr(padded, at, len(prefix)), prefix)

    def bmp():
        rows = little_endian(22, 4)
        return tf.stack([tf.where(rows >= 2 ** 31, 2 ** 32 - rows, rows), little_endian(18, 4)])  # top-down: < 0

    def vp8l():  # 14-bit width - 1 and height - 1, packed from byte 21
        return tf.stack([1 + (head[22] // 64 + head[23] * 4 + (head[24] % 16) * 1024),
                         1 + (head[21] + (head[22] % 64) * 256)])

    webp = tf.logical_and(starts(b"RIFF"), starts(b"WEBP", 8))
    return tf.case([
        (starts(b"\x89PNG"), lambda: tf.stack([big_endian(20, 4), big_endian(16, 4)])),
        (starts(b"GIF"), lambda: tf.stack([little_endian(8, 2), little_endian(6, 2)])),
        (starts(b"BM"), bmp),
        (starts(b"\xff\xd8"), lambda: tf.cast(tf.io.extract_jpeg_shape(data)[:2], tf.int64)),
        (tf.logical_and(webp, starts(b"VP8X", 12)), lambda: tf.stack([1 + little_endian(27, 3), 1 + little_endian(24, 3)])),
        (tf.logical_and(webp, starts(b"VP8 ", 12)), lambda: tf.stack([little_endian(28, 2) % 16384,
                                                                      little_endian(26, 2) % 16384])),
        (tf.logical_and(webp, starts(b"VP8L", 12)), vp8l),
    ], default=lambda: tf.constant([-1, -1], tf.int64), exclusive=False)


def decode_image(data, channels: int):
    """An encoded image -> uint8 [height, width, channels], whatever the file's own channels.

    Grey files are repeated into RGB; colour files become grey by ITU-R BT.601 luma; an alpha
    channel is dropped (or, for `channels=4`, kept, and 255 where the file has none). GIF gives its
    first frame. (`tf.io.decode_image(..., channels=1)` refuses GIF, BMP and WebP files: this does not.)

    Args:
        data: a scalar string tensor, the file's bytes.
        channels: 1, 3 or 4.

    Raises:
        tf.errors.InvalidArgumentError: the bytes are not an image it can decode.
    """
    if channels not in IMAGE_CHANNELS:
        raise ValueError(f"channels must be one of {IMAGE_CHANNELS}, got {channels!r}")
    image = tf.io.decode_image(data, channels=0, dtype=tf.uint8, expand_animations=False)
    own = tf.shape(image)[-1]
    colour = own >= 3
    grey = image[..., :1]
    if channels == 1:
        out = tf.cond(colour, lambda: _luma(image[..., :3]), lambda: grey)
    else:
        out = tf.cond(colour, lambda: image[..., :3], lambda: tf.tile(grey, [1, 1, 3]))
        if channels == 4:
            alpha = tf.cond(tf.equal(own % 2, 0), lambda: image[..., -1:], lambda: tf.fill(tf.shape(grey), tf.uint8.max))
            out = tf.concat([out, alpha], axis=-1)
    return tf.ensure_shape(out, [None, None, channels])


def _luma(rgb):
    weights = tf.constant(_GREY_WEIGHTS, tf.float32)
    value = tf.tensordot(tf.cast(rgb, tf.float32), weights, axes=1)[..., None]
    return tf.cast(tf.clip_by_value(tf.round(value), 0.0, 255.0), tf.uint8)


def resize_image(image, size):
    """uint8 or float [h, w, c] -> float32 [height, width, c] (bilinear; unchanged values when it
    already has that size), values in the input's range (0..255 for uint8 pixels).

    Args:
        image: [h, w, c] pixels.
        size: (height, width) ints.
    """
    height, width = int(size[0]), int(size[1])
    image = tf.convert_to_tensor(image)
    current = tf.shape(image)[:2]
    same = tf.logical_and(tf.equal(current[0], height), tf.equal(current[1], width))
    resized = tf.cond(same, lambda: tf.cast(image, tf.float32),
                      lambda: tf.image.resize(image, (height, width), method="bilinear"))
    return tf.ensure_shape(resized, (height, width, image.shape[-1]))


# --------------------------------------------------------------------------------------------
# checking files: cheap header checks of many files, then full decoding where needed


def header_problems(paths: list[str]) -> dict[int, str]:
    """{index in `paths`: what is wrong} for the files whose header shows they cannot be images:
    unreadable, empty, not one of the formats, a header cut short or damaged. Reads each file once
    (in parallel); decodes nothing, so a file damaged after its header passes (`decode_problems`
    finds those).
    """
    def examine(index, path):
        data = tf.io.read_file(path)
        size = header_size(data)
        return index, tf.strings.length(data), size

    found = set()
    problems = {}
    for indices, lengths, sizes in _parallel(paths, examine):
        for index, length, (height, width) in zip(indices.tolist(), lengths.tolist(), sizes.tolist()):
            found.add(index)
            if length == 0:
                problems[index] = "an empty file"
            elif height == -1:
                problems[index] = f"not {FORMATS}"
            elif height <= 0 or width <= 0:
                problems[index] = "its header is cut short or damaged"
    for index in sorted(set(range(len(paths))) - found):  # reading or the JPEG header parser failed
        problems[index] = _why_header_fails(paths[index])
    return dict(sorted(problems.items()))


def decode_problems(paths: list[str], channels: int = 3) -> dict[int, str]:
    """{index in `paths`: why it does not decode} for the files `decode_image` fails on (decodes
    them all, in parallel)."""
    def decode(index, path):
        return index, tf.shape(decode_image(tf.io.read_file(path), channels))[0]  # the pixels are dropped

    found = {int(i) for indices, _ in _parallel(paths, decode) for i in indices.tolist()}
    return {i: decode_problem(paths[i], channels) for i in range(len(paths)) if i not in found}


def decode_problem(path: str, channels: int = 3) -> str:
    """Why `path` does not decode, in plain words ("" when it does)."""
    return _failure(path, lambda data: decode_image(data, channels), "does not decode: {}; damaged or cut short?")


def _why_header_fails(path: str) -> str:
    return _failure(path, header_size, "its JPEG header is damaged: {}") or "it cannot be read"


def _failure(path: str, parse, wording: str) -> str:
    """Why `parse(the bytes of path)` fails, in plain words ("" when it does not); `wording` has a
    {} for TensorFlow's own first line."""
    try:
        parse(tf.io.read_file(path))
    except tf.errors.NotFoundError:
        return "the file is gone"
    except tf.errors.PermissionDeniedError:
        return "it cannot be opened (permission denied)"
    except tf.errors.OpError as error:
        return wording.format(plain_message(error))
    return ""


def plain_message(error: Exception) -> str:
    """The first line of a TensorFlow error without its `{{function_node ...}}` and `[[{{node ...}}]]` parts."""
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", getattr(error, "message", None) or str(error))
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("[[")]
    first = re.sub(r"\s*\[Op:[^\]]*\].*$", "", lines[0]) if lines else type(error).__name__
    return first.rstrip(". ")[:200]


def _parallel(paths: list[str], fn, batch: int = 256):
    """Batches of `fn(index, path)` over `paths`, read in parallel; a file `fn` fails on is left out."""
    if not paths:
        return iter(())
    dataset = tf.data.Dataset.from_tensor_slices((np.arange(len(paths), dtype=np.int64), list(paths)))
    dataset = dataset.map(fn, num_parallel_calls=tf.data.AUTOTUNE).ignore_errors().batch(batch)
    return (tuple(np.asarray(t) for t in element) for element in dataset.as_numpy_iterator())
