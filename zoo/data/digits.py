"""The UCI optical digits (1,797 grey 8x8 images, 10 classes), as images for the image models.

Reads scikit-learn's bundled copy (no network), or a `digits.csv.gz` file in the same format
(64 comma-separated pixel values 0..16 per line, row-major, then the label).

`python -m zoo.data.digits data/digits.npz` writes them as a `.npz` that `zoo train --data` reads
(`x`/`y`: the training half, `x_test`/`y_test`: the other, 32x32 for LeNet-5 by default): what
docker-compose.yml's training service reads from `./data`.
"""

from __future__ import annotations

import gzip
import os

import numpy as np

from zoo.errors import InvalidArgumentError


def load_digits(path: str | os.PathLike | None = None, *, image_size: int | None = None, split: float = 0.5):
    """Load digits as ((x_train, y_train), (x_test, y_test)).

    The split is the classic one: the first `split` of the file trains, the rest tests (an SVC
    with gamma=0.001 reaches 0.969 on the second half).

    Args:
        path: a `digits.csv.gz` / `.csv` file; None reads scikit-learn's bundled copy.
        image_size: resize the 8x8 images to image_size x image_size (bilinear), e.g. 32 for LeNet-5.
        split: fraction of the images used for training, in (0, 1).

    Returns:
        x: float32 [n, s, s, 1] with values in [0, 1]; y: int32 [n] with labels 0..9.
    """
    if not 0.0 < split < 1.0:
        raise InvalidArgumentError(f"split must be in (0, 1), got {split}")
    pixels, labels = _read_csv(path) if path is not None else _read_sklearn()
    x = (pixels.reshape(-1, 8, 8, 1) / 16.0).astype("float32")
    if image_size is not None and image_size != 8:
        import tensorflow as tf

        x = tf.image.resize(x, (image_size, image_size), method="bilinear").numpy()
    y = labels.astype("int32")
    n_train = int(round(len(x) * split))
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])


def _read_sklearn():
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError as error:
        raise ImportError(
            "load_digits() without a path reads scikit-learn's bundled copy: pip install scikit-learn "
            "(or pip install 'zoo[demo]'), or pass the path of digits.csv.gz"
        ) from error
    bunch = sklearn_digits()
    return bunch.data, bunch.target


def _read_csv(path):
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"digits file not found: {path!r}")
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        rows = [line.strip() for line in f if line.strip()]
    table = np.array([row.split(",") for row in rows], dtype="float64")
    if table.ndim != 2 or table.shape[1] != 65:
        raise InvalidArgumentError(
            f"{path!r}: expected 65 comma-separated values per line (64 pixels, then the label), "
            f"got {table.shape[1] if table.ndim == 2 else 'ragged'}"
        )
    return table[:, :64], table[:, 64]


def write_npz(path: str | os.PathLike, *, image_size: int = 32, source: str | os.PathLike | None = None) -> str:
    """Write digits as a `.npz`: `x` float32 [898, s, s, 1] in [0, 1] and `y` int32 [898] (the training
    half), `x_test` / `y_test` (the other half). Returns the path written."""
    (x, y), (x_test, y_test) = load_digits(source, image_size=image_size)
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    np.savez_compressed(path, x=x, y=y, x_test=x_test, y_test=y_test)
    return path


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m zoo.data.digits",
                                     description="write the digits data set as a .npz for zoo train --data")
    parser.add_argument("output", help="e.g. data/digits.npz")
    parser.add_argument("--image-size", type=int, default=32, help="side of the square images (default 32, LeNet-5's)")
    parser.add_argument("--source", help="a digits.csv.gz file (default: scikit-learn's bundled copy)")
    args = parser.parse_args(argv)
    print(f"wrote {write_npz(args.output, image_size=args.image_size, source=args.source)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
