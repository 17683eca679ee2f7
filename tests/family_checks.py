"""Checks the image-family tests share (tests/zoo/test_<family>.py).

Parameter parity with the card, weight compatibility with a keras.applications twin, a weight file
loading into a model with another head, input sizes from the minimum, backbones, `.keras` round trips.
Each check asserts; the ones that build models return them for the family's own further checks.
"""

import h5py
import keras
import numpy as np
import pytest
from keras.src.legacy.saving import legacy_h5_format

import zoo


def random_images(shape, batch=2, seed=1):
    """A batch of `batch` random inputs of `shape` (without the batch axis), uniform in [-1, 1)."""
    return np.random.default_rng(seed).uniform(-1, 1, (batch, *shape)).astype("float32")


def trainable_count(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def layer_output(model, layer_name, x):
    """The output of `model`'s layer `layer_name` on `x`."""
    return np.asarray(keras.Model(model.input, model.get_layer(layer_name).output)(x))


# Cards -------------------------------------------------------------------------------------------


def assert_family_cards(pattern, names, *, family, reference, **fields):
    """`zoo.list_models(pattern)` is `names`, image models of `family` whose reference (the paper)
    contains `reference` (e.g. its arXiv number) and whose cards have the given `fields`."""
    assert zoo.list_models(pattern) == names
    for name in names:
        card = zoo.card(name)
        assert (card.family, card.task) == (family, "image") and reference in card.reference
        assert {key: getattr(card, key) for key in fields} == fields, name


def assert_keras_applications_card(name, keras_application, weights_file, preprocessing, notop="_notop.h5"):
    """The card of `name` names its keras.applications twin and its ImageNet weights: the file
    `weights_file` (its path under keras' weight folder), the no-top file beside it (ending in
    `notop`), inputs preprocessed as `preprocessing`."""
    card = zoo.card(name)
    assert card.keras_application == keras_application
    assert card.reference_impl == "keras.applications." + keras_application
    weights = card.pretrained["imagenet"]
    assert weights.preprocessing == preprocessing
    assert weights.url.endswith("/" + weights_file)
    assert weights.notop_url == weights.url[: -len(".h5")] + notop
    return weights


# Parameter parity --------------------------------------------------------------------------------


def assert_parameter_parity(name, count, kind, *, has_reference=True):
    """`name` built at its card's defaults has `count` parameters, its "total" or "trainable" count (`kind`).

    The card's params / trainable_params are the model's counts and, when `has_reference`, its
    reference_params / reference_counts are `count` / `kind`. Returns the model.
    """
    model = zoo.build(name)
    total, trainable = model.count_params(), trainable_count(model)
    assert {"total": total, "trainable": trainable}[kind] == count
    card = zoo.card(name)
    assert (card.params, card.trainable_params) == (total, trainable)
    if has_reference:
        assert (card.reference_params, card.reference_counts) == (count, kind)
    assert model.name == name and model.output.shape == (None, card.num_classes)
    return model


# keras.applications twins ------------------------------------------------------------------------


def keras_twin(name, randomize, path, input_shape):
    """keras.applications' model of `name` (logits head, weights=None), randomized, its weights saved at `path`."""
    application = getattr(keras.applications, zoo.card(name).keras_application)
    reference = randomize(application(weights=None, input_shape=input_shape, classifier_activation=None))
    reference.save_weights(path)
    return reference


def assert_loads_keras_twin(name, reference, path, input_shape, x):
    """The twin's weight file at `path` loads by name into every weighted layer: identical logits on `x`."""
    model = zoo.build(name, input_shape=input_shape, weights=path, classifier_activation=None)
    report = model.zoo_weights_report
    assert not report.missing and not report.unused and not report.shape_mismatch
    assert sorted(report.loaded) == sorted(layer.name for layer in reference.layers if layer.weights)
    np.testing.assert_allclose(model(x, training=False), reference(x, training=False), rtol=1e-5, atol=1e-6)
    return model


def assert_backbone_matches_twin(name, reference, path, input_shape, x):
    """include_top=False, pooling="avg" gives keras.applications' backbone output (with pooling="avg"):
    the global average of the feature map the twin's head reads."""
    pool_or_flatten = (keras.layers.GlobalAveragePooling2D, keras.layers.Flatten)
    head = next(layer for layer in reference.layers if isinstance(layer, pool_or_flatten))
    pooled = keras.layers.GlobalAveragePooling2D()(head.input)
    expected = keras.Model(reference.input, pooled)(x)
    backbone = zoo.build(name, input_shape=input_shape, include_top=False, pooling="avg", weights=path)
    np.testing.assert_allclose(backbone(x), expected, rtol=1e-5, atol=1e-6)
    return backbone


def check_keras_applications_weights(name, randomize, tmp_path, input_shape):
    """Weight compatibility of `name` with its keras.applications twin, at `input_shape`.

    The twin's (randomized) weight file loads by name with identical logits; into a 7-class model
    it loads everything but "predictions"; the average-pooled backbone gives the twin's. Returns
    `(reference, model, seven_class_model, x)` for the family's own checks.
    """
    path = tmp_path / "ref.weights.h5"
    reference = keras_twin(name, randomize, path, input_shape)
    x = random_images(input_shape)
    model = assert_loads_keras_twin(name, reference, path, input_shape, x)
    seven = assert_loads_all_but_the_head(name, path, input_shape=input_shape)
    assert_backbone_matches_twin(name, reference, path, input_shape, x)
    return reference, model, seven, x


def save_legacy_h5(model, path):
    """Save `model`'s weights as a legacy Keras HDF5 file, the format of keras.applications' downloads."""
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    return path


# Weight files and heads --------------------------------------------------------------------------


def assert_loads_all_but_the_head(name, path, *, num_classes=7, **build_kwargs):
    """The weight file at `path` loads into `name` with `num_classes` classes, all but the card's head layers."""
    model = zoo.build(name, num_classes=num_classes, weights=path, **build_kwargs)
    report = model.zoo_weights_report
    assert sorted(report.shape_mismatch) == sorted(zoo.card(name).head_layers) and not report.missing
    assert model.output.shape == (None, num_classes)
    return model


def check_new_head(name, randomize, tmp_path, *, features, **build_kwargs):
    """A model's weight file loads into one with another number of classes, all but its head.

    The layer `features` (before the head) then gives the same output in both. Returns
    `(source, other, path, x)`.
    """
    source = randomize(zoo.build(name, **build_kwargs))
    path = tmp_path / f"{name}.weights.h5"
    source.save_weights(path)
    classes = build_kwargs.pop("num_classes", zoo.card(name).num_classes)
    other = assert_loads_all_but_the_head(name, path, num_classes=classes + 1, **build_kwargs)
    x = random_images(source.input.shape[1:])
    np.testing.assert_allclose(
        layer_output(other, features, x), layer_output(source, features, x), rtol=1e-5, atol=1e-6
    )
    return source, other, path, x


def assert_reloads(model, x, tmp_path):
    """`model` saved as a `.keras` file reloads with identical outputs on `x`; returns the file's path."""
    expected = np.asarray(model(x, training=False))
    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(np.asarray(reloaded(x, training=False)), expected)
    return path


# Input sizes and backbones -----------------------------------------------------------------------


def assert_runs(name, input_shape, *, num_classes=3, **overrides):
    """`name` builds at `input_shape` and gives finite [batch, num_classes] outputs; returns them."""
    model = zoo.build(name, input_shape=input_shape, num_classes=num_classes, **overrides)
    y = np.asarray(model(random_images(input_shape)))
    assert y.shape == (2, num_classes) and np.all(np.isfinite(y))
    return y


def assert_below_minimum_rejected(name, input_shape, *, builder_error=False, **overrides):
    """zoo.build rejects `input_shape` naming the card's minimum size.

    With `builder_error` (True, or a pattern the message matches), the builder itself, which
    zoo.build guards, raises a ValueError there too: the minimum is the architecture's.
    """
    minimum = zoo.card(name).min_input_size
    with pytest.raises(zoo.InvalidArgumentError, match=f">= {minimum}"):
        zoo.build(name, input_shape=input_shape)
    if builder_error:
        with pytest.raises(ValueError, match=builder_error if isinstance(builder_error, str) else None):
            zoo.registry.builder(name)(num_classes=3, input_shape=input_shape, **overrides)


def build_backbone(name, pooling, *, feature_rank=4, **build_kwargs):
    """`name` without its head: no head layer; the feature map (of rank `feature_rank`) or, pooled, a vector."""
    model = zoo.build(name, include_top=False, pooling=pooling, **build_kwargs)
    assert not set(zoo.card(name).head_layers) & {layer.name for layer in model.layers}
    assert len(model.output.shape) == (feature_rank if pooling is None else 2)
    return model


def check_backbone_outputs(name, pooling, input_shape, feature_map, **build_kwargs):
    """Without its head, `name` at `input_shape` gives the `feature_map` (its shape without the batch
    axis) with pooling=None, or its channels with "avg" / "max"; returns the model."""
    model = build_backbone(name, pooling, feature_rank=len(feature_map) + 1, input_shape=input_shape, **build_kwargs)
    assert model.output.shape == (None, *(feature_map if pooling is None else feature_map[-1:]))
    return model
