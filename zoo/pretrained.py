"""Published weights: where they live, how they are cached, what happens offline.

The zoo resolves `weights="imagenet"` to the very files keras.applications downloads, into the
same cache (`$KERAS_HOME/models`, default `~/.keras/models`), so a file either library fetched is
reused by the other. Set `ZOO_WEIGHTS_MIRROR` to a URL (or folder) that mirrors
`https://storage.googleapis.com/tensorflow/keras-applications/` to fetch from elsewhere.
"""

from __future__ import annotations

import os

import keras

from zoo.cards import ModelCard, PretrainedWeights
from zoo.errors import WeightsUnavailableError

KERAS_APPLICATIONS_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/"
MIRROR_ENV = "ZOO_WEIGHTS_MIRROR"
CACHE_SUBDIR = "models"


def keras_applications_weights(
    relative_path: str, file_hash: str | None, notop_file_hash: str | None, *, preprocessing: str
) -> PretrainedWeights:
    """The ImageNet weights keras.applications publishes at `relative_path` (no-top file beside it).

    Example: `keras_applications_weights("densenet/densenet121_weights_tf_dim_ordering_tf_kernels.h5",
    "9d60…", "30ee…", preprocessing="torch")`.
    """
    stem = relative_path[: -len(".h5")]
    return PretrainedWeights(
        url=KERAS_APPLICATIONS_BASE + relative_path,
        file_hash=file_hash,
        notop_url=KERAS_APPLICATIONS_BASE + stem + ("_no_top.h5" if "mobilenet_v2" in stem else "_notop.h5"),
        notop_file_hash=notop_file_hash,
        preprocessing=preprocessing,
    )


def keras_home() -> str:
    """`$KERAS_HOME` (read now, not at import), else `~/.keras`: where Keras caches downloads."""
    return os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")


def cache_path(url: str) -> str:
    """Where the file at `url` is cached (the keras.applications cache)."""
    return os.path.join(keras_home(), CACHE_SUBDIR, os.path.basename(url))


def fetch(card: ModelCard, tag: str, *, include_top: bool) -> str:
    """Local path of the `tag` weights of `card` (downloaded once, then cached).

    Raises WeightsUnavailableError naming the file, the URL tried and the ways out when the file
    is neither cached nor downloadable (e.g. on an offline machine).
    """
    if tag not in card.pretrained:
        available = ", ".join(sorted(card.pretrained)) or "none"
        raise WeightsUnavailableError(
            f"{card.name} has no {tag!r} weights (available: {available}); pass weights=None or a weight file path"
        )
    spec = card.pretrained[tag]
    url, file_hash = (spec.url, spec.file_hash) if include_top or not spec.notop_url else (spec.notop_url, spec.notop_file_hash)
    origin = _mirrored(url)
    fname = os.path.basename(url)
    try:
        os.makedirs(keras_home(), exist_ok=True)  # get_file falls back to /tmp when it does not exist
        return keras.utils.get_file(fname, origin, file_hash=file_hash, cache_subdir=CACHE_SUBDIR, cache_dir=keras_home())
    except Exception as error:  # get_file raises bare Exception on network errors
        raise WeightsUnavailableError(
            f"could not get the {tag} weights of {card.name} ({fname}) from {origin}: {error}. "
            f"If this machine is offline, copy the file to {cache_path(url)} (the cache keras.applications "
            f"shares), set {MIRROR_ENV} to a mirror, or pass weights='/path/to/{fname}'."
        ) from error


def _mirrored(url: str) -> str:
    mirror = os.environ.get(MIRROR_ENV)
    if not mirror or not url.startswith(KERAS_APPLICATIONS_BASE):
        return url
    relative = url[len(KERAS_APPLICATIONS_BASE) :]
    if "://" not in mirror:  # a local folder
        mirror = "file://" + os.path.abspath(mirror)
    return mirror.rstrip("/") + "/" + relative


def preprocess_input(name: str, images, tag: str = "imagenet"):
    """Normalize `images` the way the `tag` weights of model `name` expect.

    Args:
        name: a registered model with published weights, e.g. "resnet50".
        images: float array or tensor [..., height, width, 3], RGB values in 0..255.

    Returns:
        the normalized images: "caffe" (BGR, ImageNet means subtracted), "torch" (0..1, then
        ImageNet mean/std) or "tf" (-1..1), as keras.applications' `preprocess_input` of the model.
    """
    from keras.applications import imagenet_utils

    from zoo.registry import card

    model_card = card(name)
    if tag not in model_card.pretrained:
        raise WeightsUnavailableError(f"{model_card.name} has no {tag!r} weights, so no preprocessing to match")
    return imagenet_utils.preprocess_input(images, mode=model_card.pretrained[tag].preprocessing)
