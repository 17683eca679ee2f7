"""One loaded model version: a SavedModel behind its signatures, with input checks.

Interface:

    DEFAULT_SIGNATURE = "serving_default"
    PREDICT_METHOD / CLASSIFY_METHOD / REGRESS_METHOD   # "tensorflow/serving/predict|classify|regress"

    TensorSpec(name, dtype: tf.DType, shape: tuple | None, tensor_name)   # one signature input/output
    Signature(name, method_name, inputs: dict[str, TensorSpec], outputs: dict[str, TensorSpec])

    servable = Servable(name, version, path)      # loads path/saved_model.pb now (tf.saved_model.load);
                                                  # raises ServingError naming the path when it cannot
    servable.name, .version, .path
    servable.signature_names -> list[str]          # sorted, e.g. ["classify", "serving_bytes", "serving_default"]
    servable.signatures      -> dict[str, Signature]
    servable.signature(name="") -> Signature       # "" means serving_default;
                                                   # unknown: FAILED_PRECONDITION 'Serving signature key "x" not found.'
    servable.signature_def(name) -> meta_graph_pb2.SignatureDef   # as stored in saved_model.pb
    servable.signature_def_map() -> dict[str, SignatureDef]       # all of them (GetModelMetadata)
    servable.run(signature_name, inputs: dict[str, np.ndarray | tf.Tensor | list],
                 output_filter=()) -> dict[str, np.ndarray]
        Checks before running (INVALID_ARGUMENT, naming the input):
          missing / extra inputs  ("input size does not match signature: ... Sent extra: {..}.
                                    Missing but required: {..}." as TF Serving),
          dtype ("input 'x': expects dtype float32 but float64 is provided"; the exact dtype is
                 required for numpy arrays and tensors, while Python lists / scalars are converted
                 to the signature's dtype),
          rank and known sizes ("input 'x': expects shape [-1,8,8,1] (-1: any size) but shape
                 [2,5] is provided");
        output_filter: names of outputs to return (unknown name: INVALID_ARGUMENT); empty = all.
        Errors raised by the graph itself become ServingError with the TF error's code.
        Outputs are numpy arrays; string tensors come back as dtype=object arrays of bytes.
    servable.validate(signature_name, inputs) -> dict[str, tf.Tensor]   # the checks alone
    servable.classify(signature_name, examples, run=None) -> (classes [batch, k] bytes | None, scores [batch, k] | None)
    servable.regress(signature_name, examples, run=None) -> values [batch] float32
        run: what runs the signature, `servable.run` by default (the server passes one that
        goes through its batcher).
        examples: an `input_pb2.Input` (example_list or example_list_with_context), a list of
        tf.train.Example, or already-serialized bytes. The signature must have the classify /
        regress method_name (TF Serving: INVALID_ARGUMENT "Expected classification signature
        method_name to be tensorflow/serving/classify. Was: ..."); unknown name: INVALID_ARGUMENT
        "No signature was found with the name: x".
    servable.assets_extra_dir -> str                 # path/assets.extra (may not exist)
    servable.assets_extra -> dict[str, str]          # {file name: path} of the files in assets.extra
    servable.card -> dict | None                     # assets.extra/model_card.json
    servable.class_names -> list[str] | None         # assets.extra/class_names.txt (one per line)
    servable.warmup_requests() -> list[prediction_log_pb2.PredictionLog]   # assets.extra/tf_serving_warmup_requests
    servable.warmup() -> int                         # replays them (predict / classify / regress /
                                                     # multi_inference logs); returns how many ran; an
                                                     # error fails the load (raised as ServingError)
    servable.unload()                                # drops the loaded object; run() afterwards is UNAVAILABLE

    serialized_examples(input_proto) -> np.ndarray   # input_pb2.Input -> [batch] object array of bytes
                                                     # (context features merged into each example)

Thread-safety: `run` / `classify` / `regress` may be called from many threads at once (TensorFlow
concrete functions are thread-safe); reference counting around a Servable is the manager's job.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

from serving import errors
from serving.errors import ServingError

__all__ = [
    "DEFAULT_SIGNATURE",
    "PREDICT_METHOD",
    "CLASSIFY_METHOD",
    "REGRESS_METHOD",
    "ASSETS_EXTRA",
    "WARMUP_FILE",
    "TensorSpec",
    "Signature",
    "Servable",
    "serialized_examples",
]

log = logging.getLogger(__name__)

DEFAULT_SIGNATURE = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
CLASSIFY_INPUTS = "inputs"
CLASSIFY_CLASSES = "classes"
CLASSIFY_SCORES = "scores"
REGRESS_INPUTS = "inputs"
REGRESS_OUTPUTS = "outputs"
ASSETS_EXTRA = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"
CARD_FILE = "model_card.json"
CLASS_NAMES_FILE = "class_names.txt"
MAX_WARMUP_RECORDS = 1000
SERVE_TAG = "serve"


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a signature.

    Attributes:
        name: the alias clients use (the signature's key), e.g. "input_layer".
        dtype: a `tf.DType`.
        shape: a tuple with None for unknown sizes (the batch axis is usually None), or None for
            an unknown rank.
        tensor_name: the graph tensor behind it (as in the SignatureDef).
    """

    name: str
    dtype: tf.DType
    shape: tuple | None
    tensor_name: str = ""

    def shape_text(self) -> str:
        """The shape as TF Serving prints it, -1 for unknown sizes: "[-1,8,8,1]"."""
        if self.shape is None:
            return "<unknown rank>"
        return "[" + ",".join("-1" if d is None else str(d) for d in self.shape) + "]"


@dataclass(frozen=True)
class Signature:
    """One SignatureDef of a loaded SavedModel, as Python data."""

    name: str
    method_name: str
    inputs: dict = field(default_factory=dict)  # alias -> TensorSpec
    outputs: dict = field(default_factory=dict)  # alias -> TensorSpec


def _spec(alias: str, info: meta_graph_pb2.TensorInfo) -> TensorSpec:
    shape = None
    if not info.tensor_shape.unknown_rank:
        shape = tuple(None if d.size < 0 else int(d.size) for d in info.tensor_shape.dim)
    return TensorSpec(alias, tf.as_dtype(info.dtype), shape, info.name)


def _read_signature_defs(path: Path) -> dict:
    """{name: SignatureDef} of the "serve" meta graph of `path/saved_model.pb`."""
    pb = path / "saved_model.pb"
    if not pb.is_file():
        if (path / "saved_model.pbtxt").is_file():
            from google.protobuf import text_format

            saved_model = text_format.Parse((path / "saved_model.pbtxt").read_text(), saved_model_pb2.SavedModel())
        else:
            raise errors.not_found(f"Could not find SavedModel .pb or .pbtxt at supplied export directory path: {path}")
    else:
        saved_model = saved_model_pb2.SavedModel()
        try:
            saved_model.ParseFromString(pb.read_bytes())
        except Exception as error:  # google.protobuf.message.DecodeError
            raise ServingError(
                grpc.StatusCode.DATA_LOSS, f"Could not parse {pb} as a SavedModel proto: {error}"
            ) from None
    for meta_graph in saved_model.meta_graphs:
        if SERVE_TAG in meta_graph.meta_info_def.tags:
            return dict(meta_graph.signature_def)
    raise errors.not_found(f"Could not find meta graph def matching supplied tags: {{ {SERVE_TAG} }} in {pb}")


def _join(names) -> str:
    return ",".join(sorted(names))


def _as_input(value, spec: TensorSpec):
    """`value` as a tensor of `spec`'s dtype and shape, else INVALID_ARGUMENT naming the input."""
    name, dtype = spec.name, spec.dtype
    if isinstance(value, (tf.Tensor, tf.Variable)):
        if value.dtype != dtype:
            raise errors.invalid_argument(
                f"input '{name}': expects dtype {dtype.name} but {value.dtype.name} is provided"
            )
        tensor = value
        shape = tuple(value.shape)
    else:
        if isinstance(value, np.ndarray) or np.isscalar(value) and isinstance(value, np.generic):
            array = np.asarray(value)
            if dtype == tf.string:
                if array.dtype.kind not in "OSU":
                    raise errors.invalid_argument(
                        f"input '{name}': expects dtype string but {array.dtype.name} is provided"
                    )
                if array.dtype.kind == "U":
                    array = np.vectorize(lambda s: s.encode("utf-8"), otypes=[object])(array)
            elif array.dtype != dtype.as_numpy_dtype:
                provided = "string" if array.dtype.kind in "OSU" else array.dtype.name
                raise errors.invalid_argument(
                    f"input '{name}': expects dtype {dtype.name} but {provided} is provided"
                )
        else:  # Python lists / scalars: converted to the signature's dtype
            try:
                if dtype == tf.string:
                    array = np.asarray(value, dtype=object)
                    array = np.vectorize(lambda s: s.encode("utf-8") if isinstance(s, str) else s,
                                         otypes=[object])(array) if array.size else array
                else:
                    array = np.asarray(value, dtype=dtype.as_numpy_dtype)
            except (TypeError, ValueError) as error:
                raise errors.invalid_argument(f"input '{name}': cannot convert to {dtype.name}: {error}") from None
        shape = array.shape
        tensor = array
    if spec.shape is not None:
        bad = len(shape) != len(spec.shape) or any(
            want is not None and got != want for got, want in zip(shape, spec.shape)
        )
        if bad:
            got = "[" + ",".join(str(d) for d in shape) + "]"
            raise errors.invalid_argument(
                f"input '{name}': expects shape {spec.shape_text()} (-1: any size) but shape {got} is provided"
            )
    try:
        return tf.convert_to_tensor(tensor, dtype=dtype)
    except (TypeError, ValueError) as error:
        raise errors.invalid_argument(f"input '{name}': cannot convert to {dtype.name}: {error}") from None


def _to_numpy(value) -> np.ndarray:
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


def serialized_examples(examples) -> np.ndarray:
    """Serialized tf.Examples as a [batch] object array of bytes.

    Args:
        examples: a `tensorflow_serving.apis.input_pb2.Input` (example_list, or
            example_list_with_context: the context's features are merged into every example, the
            example's own value winning, as TensorFlow Serving does), a list of `tf.train.Example`
            or of serialized bytes, or such an array.

    Raises:
        ServingError INVALID_ARGUMENT: an empty input, or items that are not examples.
    """
    from tensorflow_serving.apis import input_pb2

    if isinstance(examples, input_pb2.Input):
        kind = examples.WhichOneof("kind")
        if kind == "example_list":
            out = [e.SerializeToString() for e in examples.example_list.examples]
        elif kind == "example_list_with_context":
            context = examples.example_list_with_context.context.SerializeToString()
            out = [context + e.SerializeToString() for e in examples.example_list_with_context.examples]
        else:
            out = []
    else:
        out = []
        for item in list(examples):
            if isinstance(item, tf.train.Example):
                out.append(item.SerializeToString())
            elif isinstance(item, (bytes, np.bytes_)):
                out.append(bytes(item))
            else:
                raise errors.invalid_argument(
                    f"examples must be tf.train.Example or serialized bytes, got {type(item).__name__}"
                )
    if not out:
        raise errors.invalid_argument("Input is empty.")
    array = np.empty(len(out), dtype=object)
    array[:] = out
    return array


class Servable:
    """A SavedModel version loaded in this process (see the module docstring for the interface).

    Args:
        name: the model name, e.g. "digits".
        version: the version number (the folder's name).
        path: the version folder holding saved_model.pb.

    Raises:
        ServingError: the folder cannot be loaded (its message names the path and the reason).
    """

    def __init__(self, name: str, version: int, path: str | os.PathLike):
        self.name = str(name)
        self.version = int(version)
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        root = Path(self.path)
        if not root.is_dir():
            raise errors.not_found(f"servable {self.name} version {self.version}: no folder {self.path}")
        self._signature_defs = _read_signature_defs(root)
        try:
            loaded = tf.saved_model.load(self.path, tags=[SERVE_TAG])
        except tf.errors.OpError as error:
            raise ServingError(
                errors.from_tf_error(error).code, f"Failed to load SavedModel at {self.path}: {error.message}"
            ) from None
        except Exception as error:  # noqa: BLE001 - anything the loader raises is a load failure
            raise errors.internal(
                f"Failed to load SavedModel at {self.path}: {type(error).__name__}: {error}"
            ) from None
        self._loaded = loaded
        self._functions = dict(loaded.signatures)
        self.signatures = {
            key: Signature(
                key,
                sig.method_name,
                {alias: _spec(alias, info) for alias, info in sig.inputs.items()},
                {alias: _spec(alias, info) for alias, info in sig.outputs.items()},
            )
            for key, sig in self._signature_defs.items()
            if not key.startswith("__")  # __saved_model_init_op
        }
        missing = sorted(set(self.signatures) - set(self._functions))
        if missing:
            log.warning("%s v%d: signatures %s have no function after loading", self.name, self.version, missing)
        self._card = self._read_card()
        self._class_names = self._read_class_names()

    def __repr__(self) -> str:
        return f"Servable({self.name!r}, {self.version}, {self.path!r})"

    # ---- signatures

    @property
    def signature_names(self) -> list[str]:
        return sorted(self.signatures)

    def signature(self, name: str = "") -> Signature:
        """The signature `name` ("" = serving_default); FAILED_PRECONDITION when there is none."""
        key = name or DEFAULT_SIGNATURE
        if key not in self.signatures:
            raise errors.failed_precondition(f'Serving signature key "{key}" not found.')
        return self.signatures[key]

    def signature_def(self, name: str = "") -> meta_graph_pb2.SignatureDef:
        """The SignatureDef proto of `name`, as stored in saved_model.pb (for GetModelMetadata)."""
        key = self.signature(name).name
        result = meta_graph_pb2.SignatureDef()
        result.CopyFrom(self._signature_defs[key])
        return result

    def signature_def_map(self) -> dict:
        """{name: SignatureDef} of every signature (GetModelMetadata's SignatureDefMap)."""
        return {key: self.signature_def(key) for key in self.signature_names}

    # ---- running

    def _function(self, key: str):
        functions = self._functions
        if functions is None:
            raise errors.unavailable(f"servable {self.name} version {self.version} has been unloaded")
        if key not in functions:
            raise errors.failed_precondition(f'Serving signature key "{key}" not found.')
        return functions[key]

    def validate(self, signature_name: str, inputs: dict) -> dict:
        """Check `inputs` against the signature; returns them as tensors (see the module doc)."""
        signature = self.signature(signature_name)
        if not isinstance(inputs, dict):
            raise errors.invalid_argument(f"inputs must be a dict of named tensors, got {type(inputs).__name__}")
        wanted, sent = set(signature.inputs), set(inputs)
        if len(wanted) != len(sent):
            raise errors.invalid_argument(
                f"input size does not match signature: {len(sent)}!={len(wanted)} len({{{_join(sent)}}}) != "
                f"len({{{_join(wanted)}}}). Sent extra: {{{_join(sent - wanted)}}}. "
                f"Missing but required: {{{_join(wanted - sent)}}}."
            )
        for alias in sorted(sent):
            if alias not in wanted:
                raise errors.invalid_argument(
                    f"input tensor alias not found in signature: {alias}. Inputs expected to be in the set "
                    f"{{{_join(wanted)}}}."
                )
        return {alias: _as_input(inputs[alias], signature.inputs[alias]) for alias in sorted(sent)}

    def run(self, signature_name: str, inputs: dict, output_filter=()) -> dict:
        """Run a signature on checked inputs: {output alias: numpy array} (see the module doc)."""
        signature = self.signature(signature_name)
        filter_ = list(output_filter or ())
        seen = set()
        for alias in filter_:
            if alias not in signature.outputs:
                raise errors.invalid_argument(
                    f"output tensor alias not found in signature: {alias} Outputs expected to be in the set "
                    f"{{{_join(signature.outputs)}}}."
                )
            if alias in seen:
                raise errors.invalid_argument(f"duplicate output tensor alias: {alias}")
            seen.add(alias)
        tensors = self.validate(signature.name, inputs)
        function = self._function(signature.name)
        try:
            outputs = function(**tensors)
        except tf.errors.OpError as error:
            raise errors.from_tf_error(error) from None
        except (TypeError, ValueError) as error:
            raise errors.invalid_argument(f"signature {signature.name}: {error}") from None
        wanted = filter_ or list(outputs)
        return {alias: _to_numpy(outputs[alias]) for alias in wanted}

    def _method_signature(self, signature_name: str, method: str, what: str) -> Signature:
        key = signature_name or DEFAULT_SIGNATURE
        if key not in self.signatures:
            raise errors.invalid_argument(f"No signature was found with the name: {key}")
        signature = self.signatures[key]
        if signature.method_name != method:
            raise errors.invalid_argument(
                f"Expected {what} signature method_name to be {method}. Was: {signature.method_name}"
            )
        return signature

    def classify(self, signature_name: str, examples, run=None):
        """TF Serving's Classify on `examples`: (classes [batch, k] bytes or None, scores [batch, k] or None).

        `run`: what runs the signature, `self.run` by default (the server passes its batcher's)."""
        signature = self._method_signature(signature_name, CLASSIFY_METHOD, "classification")
        if CLASSIFY_INPUTS not in signature.inputs or len(signature.inputs) != 1:
            raise errors.invalid_argument("No classification inputs found in SignatureDef: " + signature.name)
        outputs = [o for o in (CLASSIFY_CLASSES, CLASSIFY_SCORES) if o in signature.outputs]
        if not outputs:
            raise errors.invalid_argument(
                f"Expected classification signature outputs {CLASSIFY_CLASSES} and/or {CLASSIFY_SCORES}, "
                f"found {_join(signature.outputs)}"
            )
        result = (run or self.run)(signature.name, {CLASSIFY_INPUTS: serialized_examples(examples)}, outputs)
        classes, scores = result.get(CLASSIFY_CLASSES), result.get(CLASSIFY_SCORES)
        if classes is not None and classes.ndim == 1:
            classes = classes[:, None]
        if scores is not None and scores.ndim == 1:
            scores = scores[:, None]
        if classes is not None and scores is not None and classes.shape != scores.shape:
            raise errors.invalid_argument(
                f"Tensors class and score should match in shape, got {list(classes.shape)} and {list(scores.shape)}"
            )
        return classes, scores

    def regress(self, signature_name: str, examples, run=None) -> np.ndarray:
        """TF Serving's Regress on `examples`: float32 [batch]. `run`: as for `classify`."""
        signature = self._method_signature(signature_name, REGRESS_METHOD, "regression")
        if REGRESS_INPUTS not in signature.inputs or len(signature.inputs) != 1:
            raise errors.invalid_argument("No regression inputs found in SignatureDef: " + signature.name)
        if REGRESS_OUTPUTS not in signature.outputs:
            raise errors.invalid_argument("No regression outputs found in SignatureDef: " + signature.name)
        values = (run or self.run)(signature.name, {REGRESS_INPUTS: serialized_examples(examples)}, (REGRESS_OUTPUTS,))
        values = values[REGRESS_OUTPUTS]
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim != 1:
            raise errors.invalid_argument(
                f"Expected output Tensor shape to be [batch_size] or [batch_size, 1], got {list(values.shape)}"
            )
        return values.astype(np.float32, copy=False)

    # ---- assets.extra

    @property
    def assets_extra_dir(self) -> str:
        return os.path.join(self.path, ASSETS_EXTRA)

    @property
    def assets_extra(self) -> dict:
        """{file name: path} of the files in assets.extra (empty when there is none)."""
        folder = self.assets_extra_dir
        if not os.path.isdir(folder):
            return {}
        return {name: os.path.join(folder, name) for name in sorted(os.listdir(folder))
                if os.path.isfile(os.path.join(folder, name))}

    def _read_card(self):
        path = Path(self.assets_extra_dir) / CARD_FILE
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            log.warning("%s v%d: cannot read %s: %s", self.name, self.version, path, error)
            return None

    def _read_class_names(self):
        path = Path(self.assets_extra_dir) / CLASS_NAMES_FILE
        if not path.is_file():
            return None
        return [line for line in path.read_text(encoding="utf-8").splitlines() if line]

    @property
    def card(self) -> dict | None:
        return self._card

    @property
    def class_names(self) -> list[str] | None:
        return list(self._class_names) if self._class_names is not None else None

    def warmup_requests(self) -> list:
        """The PredictionLogs of assets.extra/tf_serving_warmup_requests (empty when absent)."""
        from tensorflow_serving.apis import prediction_log_pb2

        path = os.path.join(self.assets_extra_dir, WARMUP_FILE)
        if not os.path.isfile(path):
            return []
        logs = []
        try:
            for record in tf.data.TFRecordDataset(path):
                entry = prediction_log_pb2.PredictionLog()
                entry.ParseFromString(record.numpy())
                logs.append(entry)
                if len(logs) > MAX_WARMUP_RECORDS:
                    raise errors.invalid_argument(
                        f"Number of warmup records exceeds the maximum ({MAX_WARMUP_RECORDS}) at {path}"
                    )
        except tf.errors.OpError as error:
            raise errors.invalid_argument(f"cannot read warmup file {path}: {error.message}") from None
        except ServingError:
            raise
        except Exception as error:  # noqa: BLE001 - a record that is not a PredictionLog
            raise errors.invalid_argument(f"cannot parse warmup file {path}: {error}") from None
        return logs

    def warmup(self) -> int:
        """Replay the warmup requests; returns how many ran. Any failure raises ServingError."""
        count = 0
        for entry in self.warmup_requests():
            kind = entry.WhichOneof("log_type")
            try:
                if kind == "predict_log":
                    request = entry.predict_log.request
                    inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
                    self.run(request.model_spec.signature_name, inputs, list(request.output_filter))
                elif kind == "classify_log":
                    request = entry.classify_log.request
                    self.classify(request.model_spec.signature_name, request.input)
                elif kind == "regress_log":
                    request = entry.regress_log.request
                    self.regress(request.model_spec.signature_name, request.input)
                elif kind == "multi_inference_log":
                    request = entry.multi_inference_log.request
                    for task in request.tasks:
                        if task.method_name == CLASSIFY_METHOD:
                            self.classify(task.model_spec.signature_name, request.input)
                        elif task.method_name == REGRESS_METHOD:
                            self.regress(task.model_spec.signature_name, request.input)
                        else:
                            raise errors.unimplemented(f"Unsupported signature method_name: {task.method_name}")
                else:
                    raise errors.unimplemented(f"warmup: unsupported PredictionLog type {kind!r}")
            except ServingError as error:
                what = f"warmup request {count + 1} of {self.name} version {self.version}"
                raise ServingError(error.code, f"{what} failed: {error.message}") from None
            count += 1
        return count

    # ---- lifetime

    @property
    def loaded(self) -> bool:
        return self._functions is not None

    def unload(self) -> None:
        """Drop the loaded SavedModel (its memory is freed when the last reference goes)."""
        with self._lock:
            self._functions = None
            self._loaded = None
