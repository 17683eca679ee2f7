"""`zoo.export`: a trained model as a SavedModel in TensorFlow Serving's layout.

    zoo.export(model, "models/digits")            # -> "models/digits/1"  (then 2, 3, ...)

writes `base_path/<version>/` with `saved_model.pb`, `variables/` and `assets.extra/`. The version
is written into a temporary folder inside `base_path` whose name starts with a dot (TensorFlow
Serving and `serving.source` only look at integer-named folders) and renamed when complete, so a
half-written version is never visible; an existing version is never overwritten.

Signatures (all inputs and outputs are plain tensors; `batch` is the first axis):

| signature         | inputs                                          | outputs                               |
| ----------------- | ----------------------------------------------- | ------------------------------------- |
| `serving_default` | the model's own named inputs, e.g. `input_layer`| `scores` [batch, k] (the model's      |
|                   | float32 [batch, H, W, C]; graph models: the     | output), `probabilities` [batch, k],  |
|                   | plain-tensor graph batch `node_features` [N, F],| `classes` int64 [batch] (argmax)      |
|                   | `edge_index` int32 [2, E], ...                  |                                       |
| `serving_bytes`   | `image_bytes` string [batch]: encoded JPEG /    | as `serving_default`                  |
| (image models)    | PNG / GIF / BMP / WebP files, decoded and       |                                       |
|                   | converted to the input's channels, resized to   |                                       |
|                   | its size (bilinear) and normalized in-graph, as |                                       |
|                   | image folders train (`zoo.data.image_files`)    |                                       |
| `serving_lengths` | the padded input + `lengths` int32 [batch]:     | as `serving_default`                  |
| (sequence models) | steps at and after `lengths[i]` are set to the  |                                       |
|                   | model's padding value, so any padding works     |                                       |
| `classify`        | `inputs` string [batch]: serialized tf.Example  | `classes` string [batch, k] (class    |
| (method_name      | with one feature per model input, named like    | names), `scores` float32 [batch, k]   |
| tensorflow/       | it, flattened (float_list; int64_list for int   | (probabilities)                       |
| serving/classify) | inputs); variable-length sequences: any length  |                                       |
| `regress`         | `inputs` as for `classify`                      | `outputs` float32 [batch]             |
| (one-unit heads)  |                                                 |                                       |

`probabilities` is the output itself for a softmax / sigmoid head, the softmax of the logits for
a linear head with k >= 2; a one-unit sigmoid head gives `classes` = probability > 0.5. A one-unit
linear head is a regressor: it gets `scores` only (no probabilities or classes) and the `regress`
signature instead of `classify`. `regress` is not exported for classifiers: TF Serving's
regression contract returns one number per example, and a k-class distribution is not one.
Graph models get `serving_default` only: a graph batch is one set of tensors (nodes of every
graph concatenated), not a list of independent rows, so it does not fit the per-example
tf.Example contract of `classify` / `regress`.

Normalization of `serving_bytes` (`preprocessing=`): the pixels are decoded as 0..255 and mapped
the way training fed the model:

- "unit" (default): x / 255, as `zoo.data.load_digits` and image folders train (values in [0, 1]);
- "raw": x unchanged (0..255);
- "caffe" / "tf" / "torch": `keras.applications.imagenet_utils.preprocess_input` modes (BGR minus
  ImageNet means / [-1, 1] / ImageNet mean and std), also written "imagenet-caffe", ...;
- a tag of the model card's published weights, e.g. "imagenet": that weights' own mode;
- a callable taking float32 [batch, H, W, C] in 0..255 and returning the model input (traced
  into the graph: TensorFlow / keras.ops only).

`assets.extra/` holds `model_card.json` (the card, plus the export's signatures, preprocessing,
class names and library versions), `class_names.txt` (one name per line) and, when `warmup=` is
given, `tf_serving_warmup_requests` (a TFRecord of `tensorflow.serving.PredictionLog`, replayed by
TensorFlow Serving and by `serving` before a version is made available).

Variables are saved once: the SavedModel's root tracks exactly the variables the signatures
capture (not Keras' variable wrappers as well, which `keras.export.ExportArchive` adds).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from zoo.data.image_files import IMAGE_CHANNELS, MAX_IMAGE_PIXELS, decode_image, header_size, resize_image
from zoo.errors import InvalidArgumentError, ZooError

__all__ = ["export", "next_version", "list_versions", "VersionExistsError", "ASSETS_EXTRA", "WARMUP_FILE"]

ASSETS_EXTRA = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"
CARD_FILE = "model_card.json"
CLASS_NAMES_FILE = "class_names.txt"
TMP_PREFIX = ".tmp-export-"
MAX_WARMUP_RECORDS = 1000  # TensorFlow Serving reads at most this many warmup records

PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"

PREPROCESSING_MODES = ("unit", "raw", "caffe", "tf", "torch")


class VersionExistsError(ZooError, FileExistsError):
    """The version folder asked for already exists (export never overwrites)."""


# --------------------------------------------------------------------------------------------
# versions


def list_versions(base_path: str | os.PathLike) -> list[int]:
    """The integer-named version folders of `base_path`, sorted (empty when it does not exist)."""
    base = Path(base_path)
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir() if p.is_dir() and re.fullmatch(r"\d+", p.name))


def next_version(base_path: str | os.PathLike) -> int:
    """One more than the largest version in `base_path`, or 1 when it has none."""
    versions = list_versions(base_path)
    return versions[-1] + 1 if versions else 1


def _check_version(version) -> int:
    if isinstance(version, bool) or not isinstance(version, (int, np.integer)) or version < 0:
        raise InvalidArgumentError(f"version must be an integer >= 0 (TensorFlow Serving's layout), got {version!r}")
    return int(version)


# --------------------------------------------------------------------------------------------
# what the model is


@dataclass
class _ModelFacts:
    """What export needs to know about a model, read from the model and its card."""

    task: str  # "image", "sequence", "graph" or "other"
    input_specs: dict  # name -> tf.TensorSpec, with the batch axis
    dict_inputs: bool  # the model is called with a dict (else with the single tensor)
    num_outputs: int  # k, the last axis of the output
    head: str  # "softmax", "sigmoid", "logits" or "linear" (one unit)
    mask_value: object  # the padding value of a sequence model's padding mask, or None
    card: dict


def _activation_name(model) -> str:
    """The activation of the layer producing the model's output ("" when unknown)."""
    try:
        layer = model.get_layer("predictions")
    except ValueError:
        layer = model.layers[-1] if model.layers else None
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "") if activation is not None else ""


def _facts(model) -> _ModelFacts:
    if not isinstance(model, keras.Model):
        raise InvalidArgumentError(f"export takes a keras.Model, got {type(model).__name__}")
    try:
        structure = model.input
    except (AttributeError, ValueError):
        structure = None
    if structure is None:
        raise InvalidArgumentError(
            f"model {model.name!r} has no defined inputs; export functional models (zoo.build) or call the "
            "model once on data before exporting"
        )
    if isinstance(structure, dict):
        named = dict(structure)
        dict_inputs = True
    else:
        flat = keras.tree.flatten(structure)
        if len(flat) != 1:
            raise InvalidArgumentError(
                f"model {model.name!r} takes {len(flat)} positional inputs; export supports one input or a "
                "dict of named inputs (build the model with a dict of keras.Input)"
            )
        named = {flat[0].name: flat[0]}
        dict_inputs = False
    specs = {}
    for name, tensor in named.items():
        if not re.fullmatch(r"[A-Za-z0-9_.\-/]+", name):
            raise InvalidArgumentError(f"input name {name!r} cannot be a signature key; name the keras.Input plainly")
        specs[name] = tf.TensorSpec(tuple(tensor.shape), tf.as_dtype(tensor.dtype), name=name)

    outputs = keras.tree.flatten(model.output)
    if len(outputs) != 1 or len(outputs[0].shape) < 2 or outputs[0].shape[-1] is None:
        raise InvalidArgumentError(
            f"model {model.name!r} must have one output [batch, k] to be exported for serving, got "
            f"{[tuple(o.shape) for o in outputs]}"
        )
    k = int(outputs[0].shape[-1])
    activation = _activation_name(model)
    if activation in ("softmax", "sigmoid"):
        head = activation
    elif k == 1:
        head = "linear"
    else:
        head = "logits"

    card_obj = getattr(model, "zoo_card", None)
    card = card_obj.to_dict() if card_obj is not None else {"name": model.name}
    task = card.get("task") or _guess_task(specs)
    mask_value = None
    for layer in model.layers:
        if type(layer).__name__ == "PaddingMask" and hasattr(layer, "mask_value"):
            mask_value = layer.mask_value
            break
    return _ModelFacts(task, specs, dict_inputs, k, head, mask_value, card)


def _guess_task(specs: dict) -> str:
    if len(specs) == 1:
        (spec,) = specs.values()
        if spec.shape.rank == 4 and spec.shape[-1] in IMAGE_CHANNELS:
            return "image"
    if {"node_features", "edge_index"} <= set(specs):
        return "graph"
    return "other"


def _is_image_input(facts: _ModelFacts) -> bool:
    if facts.task != "image" or len(facts.input_specs) != 1:
        return False
    (spec,) = facts.input_specs.values()
    return spec.shape.rank == 4 and spec.shape[-1] in IMAGE_CHANNELS and spec.dtype.is_floating


def _is_sequence_input(facts: _ModelFacts) -> bool:
    if facts.task != "sequence" or len(facts.input_specs) != 1:
        return False
    (spec,) = facts.input_specs.values()
    return spec.shape.rank in (2, 3)


# --------------------------------------------------------------------------------------------
# preprocessing of image bytes


def _preprocessing_fn(preprocessing, card: dict, channels: int | None = None):
    """(description, fn) where fn maps float32 [batch, H, W, C] in 0..255 to the model input."""
    if callable(preprocessing):
        return getattr(preprocessing, "__name__", "callable"), preprocessing
    mode = "unit" if preprocessing is None else preprocessing
    if not isinstance(mode, str):
        raise InvalidArgumentError(f"preprocessing must be a string or a callable, got {preprocessing!r}")
    if mode.startswith("imagenet-"):
        mode = mode[len("imagenet-"):]
    pretrained = card.get("pretrained") or {}
    if mode not in PREPROCESSING_MODES and mode in pretrained:
        mode = pretrained[mode]["preprocessing"]
    if mode not in PREPROCESSING_MODES:
        tags = f"; or a weights tag of this model: {sorted(pretrained)}" if pretrained else ""
        raise InvalidArgumentError(
            f"preprocessing {preprocessing!r} is not known: use one of {PREPROCESSING_MODES} "
            f"(e.g. 'imagenet-caffe'){tags}, or a callable"
        )
    if mode == "unit":
        return mode, lambda x: x / 255.0
    if mode == "raw":
        return mode, lambda x: x
    if mode in ("caffe", "torch") and channels not in (None, 3):
        raise InvalidArgumentError(
            f"preprocessing {preprocessing!r} ({mode}: ImageNet channel means) needs RGB inputs, the model takes "
            f"{channels} channel(s); use 'unit', 'tf', 'raw' or a callable"
        )

    def imagenet(x, mode=mode):
        from keras.applications import imagenet_utils

        return imagenet_utils.preprocess_input(x, data_format="channels_last", mode=mode)

    return mode, imagenet


def _decode_images(image_bytes, spec: tf.TensorSpec):
    """Encoded images [batch] -> float32 [batch, H, W, C] in 0..255, resized (bilinear) to H x W.

    Each image's size is read from its header first: more than MAX_IMAGE_PIXELS is INVALID_ARGUMENT
    before anything is decoded (a 389 KB PNG can declare 20000 x 20000 pixels, 1.2 GB decoded)."""
    height, width, channels = spec.shape[1], spec.shape[2], int(spec.shape[3])

    def decode(data):
        size = header_size(data)
        known = tf.debugging.assert_non_negative(
            size, message="image_bytes: not a JPEG, PNG, GIF, BMP or WebP image (or its header is cut short)")
        small = tf.debugging.assert_less_equal(
            size[0] * size[1], tf.constant(MAX_IMAGE_PIXELS, tf.int64), summarize=2,
            message=f"image_bytes: an image of more than {MAX_IMAGE_PIXELS} pixels (height x width) is refused; "
                    "its height x width")
        with tf.control_dependencies([known, small]):
            data = tf.identity(data)
        image = decode_image(data, channels)  # the decoder image folders train with
        if height is not None and width is not None:
            return resize_image(image, (height, width))
        return tf.ensure_shape(tf.cast(image, tf.float32), (height, width, channels))

    return tf.map_fn(
        decode, image_bytes, fn_output_signature=tf.TensorSpec((height, width, channels), tf.float32)
    )


# --------------------------------------------------------------------------------------------
# the signatures


def _scores(model, facts: _ModelFacts, inputs: dict):
    x = inputs if facts.dict_inputs else next(iter(inputs.values()))
    y = model(x, training=False)
    return tf.cast(y, tf.float32)


def _prediction_outputs(facts: _ModelFacts, scores) -> dict:
    out = {"scores": scores}
    if facts.head == "linear":
        return out
    if facts.head == "logits":
        probabilities = tf.nn.softmax(scores, axis=-1)
    else:
        probabilities = scores
    out["probabilities"] = tf.identity(probabilities)
    if facts.num_outputs == 1:
        out["classes"] = tf.cast(probabilities[..., 0] > 0.5, tf.int64)
    else:
        out["classes"] = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
    return out


def _example_features(facts: _ModelFacts) -> dict:
    """The tf.io.parse_example spec of `classify` / `regress`: one feature per model input."""
    features = {}
    for name, spec in facts.input_specs.items():
        dtype = tf.float32 if spec.dtype.is_floating else tf.int64
        item_shape = spec.shape[1:]
        if item_shape.is_fully_defined():
            features[name] = tf.io.FixedLenFeature(item_shape.as_list(), dtype)
        else:
            features[name] = tf.io.VarLenFeature(dtype)
    return features


def _parse_examples(facts: _ModelFacts, serialized) -> dict:
    parsed = tf.io.parse_example(serialized, _example_features(facts))
    inputs = {}
    for name, spec in facts.input_specs.items():
        value = parsed[name]
        if isinstance(value, tf.sparse.SparseTensor):
            pad = facts.mask_value if facts.mask_value is not None else 0
            value = tf.sparse.to_dense(value, default_value=tf.cast(pad, value.dtype))
            inner = [d if d is not None else -1 for d in spec.shape[1:].as_list()]
            if inner.count(-1) > 1:
                raise InvalidArgumentError(
                    f"input {name!r} has shape {spec.shape}: tf.Example features can fill one unknown axis, not more"
                )
            value = tf.reshape(value, [tf.shape(value)[0]] + inner)
        inputs[name] = tf.cast(value, spec.dtype)
    return inputs


def _class_name_table(facts: _ModelFacts, class_names: list[str]):
    names = list(class_names) if facts.num_outputs > 1 else list(class_names[:2])
    return tf.constant(names, dtype=tf.string)


def _checked(inputs: dict, specs: dict) -> dict:
    """`inputs` with their shapes checked against `specs` inside the graph: a server that feeds what a
    client sent (TF Serving does not check shapes itself) answers INVALID_ARGUMENT "Shape of tensor
    edge_index [3,2] is not compatible with expected shape [2,?]" instead of computing on it.

    Graph batches also have their node ids checked before any gather or segment op: `edge_index` and
    `node_graph_ids` in [0, number of nodes) (the number of graphs is max(node_graph_ids) + 1, so one
    id of 3,000,000 would otherwise allocate 3,000,000 graphs' readouts)."""
    inputs = {name: tf.ensure_shape(value, specs[name].shape) for name, value in inputs.items()}
    if "node_features" not in inputs:
        return inputs
    nodes = tf.shape(inputs["node_features"], out_type=tf.int64)[0]
    checks = []
    for key in ("edge_index", "node_graph_ids"):
        if key in inputs:
            ids = tf.cast(inputs[key], tf.int64)
            checks.append(tf.debugging.assert_non_negative(ids, message=f"{key}: node ids must be >= 0", summarize=3))
            checks.append(tf.debugging.assert_less(
                ids, nodes, summarize=3,
                message=f"{key}: node ids must be less than the number of nodes (rows of node_features)"))
    with tf.control_dependencies(checks):
        return {name: tf.identity(value) for name, value in inputs.items()}


def _build_functions(model, facts: _ModelFacts, class_names, preprocess):
    """{signature name: (tf.function, method_name)}."""
    functions = {}

    def serving_default(inputs):
        return _prediction_outputs(facts, _scores(model, facts, _checked(inputs, facts.input_specs)))

    functions["serving_default"] = (
        tf.function(serving_default, input_signature=[dict(facts.input_specs)], autograph=False),
        PREDICT_METHOD,
    )

    if _is_image_input(facts):
        ((name, spec),) = facts.input_specs.items()

        def serving_bytes(image_bytes):
            pixels = _decode_images(image_bytes, spec)
            x = tf.cast(preprocess(pixels), spec.dtype)
            return _prediction_outputs(facts, _scores(model, facts, {name: x}))

        functions["serving_bytes"] = (
            tf.function(serving_bytes, input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")],
                        autograph=False),
            PREDICT_METHOD,
        )

    if _is_sequence_input(facts) and facts.mask_value is not None:
        ((name, spec),) = facts.input_specs.items()

        def serving_lengths(inputs):
            inputs = _checked(inputs, {name: spec, "lengths": tf.TensorSpec([None], tf.int32)})
            x, lengths = inputs[name], tf.cast(inputs["lengths"], tf.int32)
            steps = tf.range(tf.shape(x)[1])
            keep = steps[None, :] < lengths[:, None]  # [batch, time]
            if spec.shape.rank == 3:
                keep = keep[:, :, None]
            x = tf.where(keep, x, tf.cast(facts.mask_value, x.dtype))
            return _prediction_outputs(facts, _scores(model, facts, {name: x}))

        functions["serving_lengths"] = (
            tf.function(
                serving_lengths,
                input_signature=[{name: spec, "lengths": tf.TensorSpec([None], tf.int32, name="lengths")}],
                autograph=False,
            ),
            PREDICT_METHOD,
        )

    if facts.task != "graph":
        examples = tf.TensorSpec([None], tf.string, name="inputs")
        if facts.head == "linear":

            def regress(inputs):
                scores = _scores(model, facts, _parse_examples(facts, inputs))
                return {"outputs": scores[..., 0]}

            functions["regress"] = (tf.function(regress, input_signature=[examples], autograph=False), REGRESS_METHOD)
        else:
            table = _class_name_table(facts, class_names)

            def classify(inputs):
                outputs = _prediction_outputs(facts, _scores(model, facts, _parse_examples(facts, inputs)))
                scores = outputs["probabilities"]
                if facts.num_outputs == 1:
                    scores = tf.concat([1.0 - scores, scores], axis=-1)
                classes = tf.tile(table[None, :], [tf.shape(scores)[0], 1])
                return {"classes": classes, "scores": scores}

            functions["classify"] = (
                tf.function(classify, input_signature=[examples], autograph=False),
                CLASSIFY_METHOD,
            )
    return functions


# --------------------------------------------------------------------------------------------
# warmup


def _tensor_proto(value, dtype: tf.DType):
    array = np.asarray(value)
    if dtype == tf.string:
        array = np.asarray(value, dtype=object)
    else:
        array = array.astype(dtype.as_numpy_dtype)
    return tf.make_tensor_proto(array)


def _default_example(spec: tf.TensorSpec) -> np.ndarray:
    """A batch of one zero input for `spec` (unknown sizes become 1; graph indices stay valid)."""
    shape = [1 if d is None else d for d in spec.shape.as_list()]
    if spec.name == "edge_index":
        shape = [2, 0]
    return np.zeros(shape, dtype=spec.dtype.as_numpy_dtype)


def _warmup_logs(warmup, facts: _ModelFacts, model_name: str) -> list:
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    if warmup is None or warmup is False:
        return []
    if warmup is True:
        items = [{name: _default_example(spec) for name, spec in facts.input_specs.items()}]
    elif isinstance(warmup, (dict, prediction_log_pb2.PredictionLog)):
        items = [warmup]
    elif isinstance(warmup, (list, tuple)):
        items = list(warmup)
    else:
        raise InvalidArgumentError(
            "warmup must be True (one zero request), a dict of inputs of serving_default, a PredictionLog, "
            f"or a list of them; got {type(warmup).__name__}"
        )
    if len(items) > MAX_WARMUP_RECORDS:
        raise InvalidArgumentError(
            f"at most {MAX_WARMUP_RECORDS} warmup requests (TF Serving's limit), got {len(items)}"
        )
    logs = []
    for item in items:
        if isinstance(item, prediction_log_pb2.PredictionLog):
            logs.append(item)
            continue
        if not isinstance(item, dict):
            raise InvalidArgumentError(
                f"a warmup request must be a dict of inputs or a PredictionLog, got {type(item).__name__}"
            )
        unknown = sorted(set(item) - set(facts.input_specs))
        missing = sorted(set(facts.input_specs) - set(item))
        if unknown or missing:
            raise InvalidArgumentError(
                f"warmup request inputs must be exactly {sorted(facts.input_specs)}: "
                f"unknown {unknown}, missing {missing}"
            )
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model_name
        request.model_spec.signature_name = "serving_default"
        for name, value in item.items():
            request.inputs[name].CopyFrom(_tensor_proto(value, facts.input_specs[name].dtype))
        logs.append(prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request)))
    return logs


# --------------------------------------------------------------------------------------------
# writing


def _set_method_names(export_dir: Path, methods: dict) -> None:
    """Give `classify` / `regress` TF Serving's method names (tf.saved_model.save writes predict)."""
    from tensorflow.core.protobuf import saved_model_pb2

    path = export_dir / "saved_model.pb"
    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString(path.read_bytes())
    changed = False
    for meta_graph in saved_model.meta_graphs:
        for name, method in methods.items():
            if name in meta_graph.signature_def and meta_graph.signature_def[name].method_name != method:
                meta_graph.signature_def[name].method_name = method
                changed = True
    if changed:
        path.write_bytes(saved_model.SerializeToString())


def _check_class_names(class_names, facts: _ModelFacts) -> list[str]:
    k = facts.num_outputs if facts.num_outputs > 1 else 2
    if class_names is None:
        return [str(i) for i in range(k)]
    names = [str(n) for n in class_names]
    if len(names) != k:
        raise InvalidArgumentError(f"class_names has {len(names)} names but the model has {k} classes")
    bad = [n for n in names if not n or "\n" in n or "\r" in n]
    if bad:
        raise InvalidArgumentError(f"class names must be non-empty single lines, got {bad!r}")
    return names


def export(
    model,
    base_path: str | os.PathLike,
    version: int | None = None,
    *,
    class_names=None,
    warmup=None,
    preprocessing=None,
) -> str:
    """Export `model` as `base_path/<version>/`, a SavedModel TensorFlow Serving loads.

    Args:
        model: a built Keras model (e.g. from `zoo.build`, trained with `zoo.fit`) with one output
            [batch, k]; its card (`model.zoo_card`) says whether it is an image, sequence or graph
            model and is written beside it.
        base_path: the model's folder (created if needed), e.g. "models/digits".
        version: integer >= 0; default: one more than the largest version present (1 for none).
            An existing version raises VersionExistsError.
        class_names: k names (2 for a one-unit sigmoid head), the `classes` of `classify`;
            default: the model's own `zoo_class_names` (`zoo.build(..., class_names=...)`, kept in
            its `.keras` file), else "0" .. "k-1".
        warmup: requests replayed before the version serves: True (one batch of one zero
            input), a dict {input name: array} for `serving_default`, a
            `tensorflow_serving.apis.prediction_log_pb2.PredictionLog`, or a list of these.
        preprocessing: how `serving_bytes` normalizes decoded pixels (see the module docstring);
            default "unit" (x / 255).

    Returns:
        the version folder's path, e.g. "models/digits/3".

    Raises:
        InvalidArgumentError: a model export cannot take, bad class names, warmup or preprocessing.
        VersionExistsError: `base_path/<version>` already exists.
    """
    facts = _facts(model)
    if class_names is None:
        class_names = getattr(model, "zoo_class_names", None)
    names = _check_class_names(class_names, facts)
    base = Path(base_path)
    if base.exists() and not base.is_dir():
        raise InvalidArgumentError(f"base_path {os.fspath(base)!r} exists and is not a folder")
    version = next_version(base) if version is None else _check_version(version)
    final = base / str(version)
    if final.exists():
        raise VersionExistsError(
            f"version {version} of {os.fspath(base)!r} already exists ({os.fspath(final)}); export never overwrites: "
            f"pass another version or leave it out for the next one ({next_version(base)})"
        )
    preprocessing_name, preprocess = (None, None)
    if _is_image_input(facts):
        channels = next(iter(facts.input_specs.values())).shape[-1]
        preprocessing_name, preprocess = _preprocessing_fn(preprocessing, facts.card, channels)
    elif preprocessing is not None:
        raise InvalidArgumentError(
            f"preprocessing applies to image models (the serving_bytes signature); {model.name!r} is a "
            f"{facts.task} model"
        )
    logs = _warmup_logs(warmup, facts, base.name or "model")

    base.mkdir(parents=True, exist_ok=True)
    tmp = base / f"{TMP_PREFIX}{version}-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()
        _write(model, facts, tmp, names, preprocess, preprocessing_name, logs, version)
        if final.exists():  # appeared while we were writing
            raise VersionExistsError(
                f"version {version} of {os.fspath(base)!r} appeared during the export; not overwritten"
            )
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return os.fspath(final)


def _write(model, facts, tmp: Path, class_names, preprocess, preprocessing_name, logs, version) -> None:
    """Write the version into the (existing, empty) folder `tmp`: assets.extra first, then the SavedModel."""
    functions = _build_functions(model, facts, class_names, preprocess)  # not traced yet

    extra = tmp / ASSETS_EXTRA
    extra.mkdir()
    (extra / CLASS_NAMES_FILE).write_text("".join(f"{n}\n" for n in class_names), encoding="utf-8")
    card = dict(facts.card)
    card["export"] = {
        "version": version,
        "task": facts.task,
        "head": facts.head,
        "num_outputs": facts.num_outputs,
        "class_names": list(class_names),
        "preprocessing": preprocessing_name,
        "mask_value": facts.mask_value,
        "inputs": {
            name: {"dtype": spec.dtype.name, "shape": [-1 if d is None else d for d in spec.shape.as_list()]}
            for name, spec in facts.input_specs.items()
        },
        "signatures": {name: method for name, (_, method) in functions.items()},
        "warmup_requests": len(logs),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }
    (extra / CARD_FILE).write_text(json.dumps(card, indent=2, default=_json_default) + "\n", encoding="utf-8")
    if logs:
        with tf.io.TFRecordWriter(os.fspath(extra / WARMUP_FILE)) as writer:
            for log in logs:
                writer.write(log.SerializeToString())

    concrete = {name: fn.get_concrete_function() for name, (fn, _) in functions.items()}
    # The root tracks the captured tf.Variables themselves, once each, and the functions.
    root = tf.Module()
    seen, variables = set(), []
    for fn in concrete.values():
        for variable in fn.variables:
            if id(variable) not in seen:
                seen.add(id(variable))
                variables.append(variable)
    root.model_variables = variables
    for name, (fn, _) in functions.items():
        setattr(root, name, fn)
    logger, level = tf.get_logger(), tf.get_logger().level
    logger.setLevel("WARNING")  # its INFO line names the temporary folder; zoo.export returns the real one
    try:
        tf.saved_model.save(root, os.fspath(tmp), signatures=concrete)
    finally:
        logger.setLevel(level)
    _set_method_names(tmp, {name: method for name, (_, method) in functions.items()})


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (tuple, set)):
        return list(value)
    return str(value)
