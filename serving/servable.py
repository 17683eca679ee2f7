"""One loaded model version: a SavedModel run as TensorFlow Serving runs it, behind its signatures.

Interface:

    servable = load_servable(name, version, path, prefer_tflite_model=False, method_name_check=False)
        # path/saved_model.pb (or .pbtxt) -> SavedModelServable; path/model.tflite with
        # prefer_tflite_model (or when there is no SavedModel) -> serving.tflite.TfLiteServable.
        # Raises ServingError naming the path when it cannot be loaded.
    servable.name, .version, .path
    servable.signature_names -> list[str]          # sorted, e.g. ["classify", "serving_bytes", "serving_default"]
    servable.signatures      -> dict[str, Signature]   # serving.signature.Signature
    servable.signature(name="") -> Signature       # "" means serving_default;
                                                   # unknown: FAILED_PRECONDITION 'Serving signature key "x" not found.'
    servable.signature_def(name) -> meta_graph_pb2.SignatureDef   # as stored in the model
    servable.signature_def_map() -> dict[str, SignatureDef]       # all of them (GetModelMetadata)
    servable.run(signature_name, inputs: dict[str, np.ndarray | tf.Tensor | list], output_filter=(),
                 deadline=None) -> dict[str, np.ndarray]
        Checks before running (INVALID_ARGUMENT, naming the input):
          missing / extra inputs  ("input size does not match signature: ... Sent extra: {..}.
                                    Missing but required: {..}." as TF Serving),
          dtype ("input 'x': expects dtype float32 but float64 is provided"; the exact dtype is
                 required for numpy arrays and tensors, while Python lists / scalars are converted
                 to the signature's dtype).
        Shapes are not checked against the signature: as TF Serving's Session::Run, the graph's own
        ops decide (half_plus_two's [-1, 1] input takes a [3] tensor). When the graph refuses a
        shape, the error says which inputs differ from the signature's shapes.
        output_filter: names of outputs to return (unknown name: INVALID_ARGUMENT); empty = all.
        deadline: a time.monotonic() time; the run is stopped there (DEADLINE_EXCEEDED).
        Errors raised by the graph itself become ServingError with the TF error's code.
        Outputs are numpy arrays; string tensors come back as dtype=object arrays of bytes.
    servable.validate(signature_name, inputs) -> dict[str, np.ndarray]   # the checks alone
    servable.classify(signature_name, examples, run=None) -> (classes [batch, k] bytes | None, scores [batch, k] | None)
    servable.regress(signature_name, examples, run=None) -> values [batch] float32
        run: what runs the signature, `servable.run` by default (the server passes one that
        goes through its batcher).
        examples: an `input_pb2.Input` (example_list or example_list_with_context), a list of
        tf.train.Example, or already-serialized bytes. As TF Serving, the signature needs an
        `inputs` string input and `classes` / `scores` (Classify) or `outputs` (Regress) outputs;
        its method_name is checked only with `method_name_check` (TF Serving's
        --enable_signature_method_name_check: INVALID_ARGUMENT "Expected classification signature
        method_name to be tensorflow/serving/classify. Was: ..."), since TF2 SavedModels only have
        predict signatures. Unknown name: INVALID_ARGUMENT "No signature was found with the name: x".
    servable.assets_extra_dir / .assets_extra / .card / .class_names   # assets.extra and its files
    servable.warmup_requests() / servable.warmup() -> int           # assets.extra/tf_serving_warmup_requests
    servable.unload()                                # closes the session; run() afterwards is UNAVAILABLE

    serialized_examples(input_proto) -> np.ndarray   # input_pb2.Input -> [batch] object array of bytes

How a SavedModel runs: `tf.compat.v1.saved_model` loads the "serve" MetaGraph into a Session of its
own (TF1 and TF2 SavedModels alike, variables restored and init ops run, as TF Serving's
LoadSavedModel does); each (signature, outputs, deadline bucket) becomes a Session callable,
made once, that feeds the signature's input tensors and fetches its output tensors. A signature without
loops runs its ops in the calling thread (`RunOptions.inter_op_thread_pool = -1`, see
`CALLER_THREAD_POOL`) instead of handing them to TensorFlow's inter-op pool (an op's own
parallelism, the intra-op pool, is unchanged); its work is bounded by its inputs, and the deadline is
checked before it starts. A signature whose outputs need a loop (`While`, TF1 `Enter`, in the graph
or in the functions it calls) can run for ever, so it runs in the inter-op pool with the deadline as
its `timeout_in_ms`: TensorFlow stops it there (a caller-thread run cannot be stopped). Thread-safety:
`run` / `classify` / `regress` may be called from many threads at once (Session runs are
thread-safe); reference counting around a servable is the manager's job.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import config_pb2, meta_graph_pb2, saved_model_pb2

from serving import errors
from serving.errors import ServingError
from serving.signature import CLASSIFY_METHOD, PREDICT_METHOD, REGRESS_METHOD, Signature
from serving.tensor_codec import TensorProtoError, to_ndarray

__all__ = [
    "DEFAULT_SIGNATURE",
    "PREDICT_METHOD",
    "CLASSIFY_METHOD",
    "REGRESS_METHOD",
    "ASSETS_EXTRA",
    "WARMUP_FILE",
    "Servable",
    "SavedModelServable",
    "load_servable",
    "serialized_examples",
]

log = logging.getLogger(__name__)

DEFAULT_SIGNATURE = "serving_default"
CLASSIFY_INPUTS = "inputs"
CLASSIFY_CLASSES = "classes"
CLASSIFY_SCORES = "scores"
REGRESS_INPUTS = "inputs"
REGRESS_OUTPUTS = "outputs"
ASSETS_EXTRA = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"
CARD_FILE = "model_card.json"
CLASS_NAMES_FILE = "class_names.txt"
TFLITE_FILE = "model.tflite"
MAX_WARMUP_RECORDS = 1000
SERVE_TAG = "serve"


def _join(names) -> str:
    return ",".join(sorted(names))


def _as_feed(value, spec):
    """`value` as a numpy array of `spec`'s dtype, else INVALID_ARGUMENT naming the input."""
    name, dtype = spec.name, spec.dtype
    if isinstance(value, (tf.Tensor, tf.Variable)):
        value = value.numpy()
    if dtype is None:
        raise errors.invalid_argument(f"input '{name}': dtype {spec.type_text()} cannot be fed from a request")
    if isinstance(value, np.ndarray) or isinstance(value, np.generic):
        array = np.asarray(value)
        if dtype == object:
            if array.dtype.kind not in "OSU":
                raise errors.invalid_argument(
                    f"input '{name}': expects dtype string but {_dtype_text(array.dtype)} is provided")
            if array.dtype.kind != "O":
                array = array.astype(object)
            if array.size and not all(isinstance(v, bytes) for v in array.flat):
                array = np.vectorize(lambda s: s.encode("utf-8") if isinstance(s, str) else bytes(s),
                                     otypes=[object])(array)
        elif array.dtype != dtype:
            raise errors.invalid_argument(
                f"input '{name}': expects dtype {_dtype_text(dtype)} but {_dtype_text(array.dtype)} is provided")
        return array
    try:  # Python lists / scalars: converted to the signature's dtype
        if dtype == object:
            array = np.asarray(value, dtype=object)
            if array.size:
                array = np.vectorize(lambda s: s.encode("utf-8") if isinstance(s, str) else s, otypes=[object])(array)
            return array
        return np.asarray(value, dtype=dtype)
    except (TypeError, ValueError, OverflowError) as error:
        raise errors.invalid_argument(f"input '{name}': cannot convert to {_dtype_text(dtype)}: {error}") from None


def _dtype_text(dtype) -> str:
    """A numpy dtype as the error messages name it: "float32", "int64", "string"."""
    dtype = np.dtype(dtype)
    return "string" if dtype.kind in "OSU" else dtype.name


def _shape_mismatches(signature: Signature, feeds: dict) -> list[str]:
    """The aliases of the inputs whose shapes differ from the signature's (sorted)."""
    out = []
    for alias, array in sorted(feeds.items()):
        want = signature.inputs[alias].shape
        if want is None:
            continue
        got = np.shape(array)
        if len(got) != len(want) or any(w is not None and g != w for g, w in zip(got, want)):
            out.append(alias)
    return out


def _mismatch_text(signature: Signature, mismatches: list, feeds: dict | None = None) -> str:
    shapes = "; ".join(
        f"{a}" + (f" [{','.join(map(str, np.shape(feeds[a])))}]" if feeds else "")
        + f" (signature {signature.inputs[a].shape_text()})" for a in mismatches)
    return f"(inputs whose shapes differ from signature {signature.name}'s: {shapes})"


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
                    f"examples must be tf.train.Example or serialized bytes, got {type(item).__name__}")
    if not out:
        raise errors.invalid_argument("Input is empty.")
    array = np.empty(len(out), dtype=object)
    array[:] = out
    return array


class Servable:
    """What every loaded model version has: signatures, checks, Classify / Regress, assets, warmup.

    Subclasses set `self._signature_defs` ({name: SignatureDef}) in their constructor, then call
    `self._init_signatures()`, and implement `_execute(signature, feeds, fetches, deadline)` and
    `_close()`.

    Args:
        name: the model name, e.g. "digits".
        version: the version number (the folder's name).
        path: the version folder.
        method_name_check: check Classify / Regress signatures' method_name (see the module doc).
    """

    def __init__(self, name: str, version: int, path: str | os.PathLike, method_name_check: bool = False):
        self.name = str(name)
        self.version = int(version)
        self.path = os.fspath(path)
        self.method_name_check = bool(method_name_check)
        self._lock = threading.Lock()
        self._closed = False
        if not Path(self.path).is_dir():
            raise errors.not_found(f"servable {self.name} version {self.version}: no folder {self.path}")

    def _init_signatures(self) -> None:
        self.signatures = {key: Signature.from_proto(key, sig) for key, sig in self._signature_defs.items()
                           if not key.startswith("__")}  # __saved_model_init_op
        self._card = self._read_card()
        self._class_names = self._read_class_names()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.version}, {self.path!r})"

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
        """The SignatureDef proto of `name`, as stored in the model (for GetModelMetadata)."""
        key = self.signature(name).name
        result = meta_graph_pb2.SignatureDef()
        result.CopyFrom(self._signature_defs[key])
        return result

    def signature_def_map(self) -> dict:
        """{name: SignatureDef} of every signature (GetModelMetadata's SignatureDefMap)."""
        return {key: self.signature_def(key) for key in self.signature_names}

    # ---- running

    def validate(self, signature_name: str, inputs: dict) -> dict:
        """Check `inputs` against the signature; returns them as numpy arrays (see the module doc)."""
        signature = self.signature(signature_name)
        if not isinstance(inputs, dict):
            raise errors.invalid_argument(f"inputs must be a dict of named tensors, got {type(inputs).__name__}")
        wanted, sent = set(signature.inputs), set(inputs)
        if len(wanted) != len(sent):
            raise errors.invalid_argument(
                f"input size does not match signature: {len(sent)}!={len(wanted)} len({{{_join(sent)}}}) != "
                f"len({{{_join(wanted)}}}). Sent extra: {{{_join(sent - wanted)}}}. "
                f"Missing but required: {{{_join(wanted - sent)}}}.")
        for alias in sorted(sent):
            if alias not in wanted:
                raise errors.invalid_argument(
                    f"input tensor alias not found in signature: {alias}. Inputs expected to be in the set "
                    f"{{{_join(wanted)}}}.")
        return {alias: _as_feed(inputs[alias], signature.inputs[alias]) for alias in sorted(sent)}

    def run(self, signature_name: str, inputs: dict, output_filter=(), deadline: float | None = None) -> dict:
        """Run a signature on checked inputs: {output alias: numpy array} (see the module doc)."""
        signature = self.signature(signature_name)
        fetches = list(output_filter or ())
        seen = set()
        for alias in fetches:
            if alias not in signature.outputs:
                raise errors.invalid_argument(
                    f"output tensor alias not found in signature: {alias} Outputs expected to be in the set "
                    f"{{{_join(signature.outputs)}}}.")
            if alias in seen:
                raise errors.invalid_argument(f"duplicate output tensor alias: {alias}")
            seen.add(alias)
        feeds = self.validate(signature.name, inputs)
        if self._closed:
            raise errors.unavailable(f"servable {self.name} version {self.version} has been unloaded")
        mismatches = _shape_mismatches(signature, feeds)
        if mismatches:
            self._check_shapes(signature, feeds, mismatches)
        try:
            return self._execute(signature, feeds, fetches or sorted(signature.outputs), deadline)
        except tf.errors.OpError as error:
            failure = errors.from_tf_error(error)
            if failure.code == grpc.StatusCode.INVALID_ARGUMENT and mismatches:
                failure = errors.invalid_argument(f"{failure.message}\n{_mismatch_text(signature, mismatches)}")
            raise failure from None

    def _check_shapes(self, signature: Signature, feeds: dict, mismatches: list) -> None:
        """Called before running feeds whose shapes differ from the signature's: raise INVALID_ARGUMENT
        if the model cannot take them (subclasses know how to tell); by default, let the run decide."""

    def _execute(self, signature: Signature, feeds: dict, fetches: list, deadline) -> dict:
        raise NotImplementedError

    def _close(self) -> None:
        pass

    def _method_signature(self, signature_name: str, method: str, what: str) -> Signature:
        key = signature_name or DEFAULT_SIGNATURE
        if key not in self.signatures:
            raise errors.invalid_argument(f"No signature was found with the name: {key}")
        signature = self.signatures[key]
        if self.method_name_check and signature.method_name != method:
            raise errors.invalid_argument(
                f"Expected {what} signature method_name to be {method}. Was: {signature.method_name}")
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
                f"found {_join(signature.outputs)}")
        result = (run or self.run)(signature.name, {CLASSIFY_INPUTS: serialized_examples(examples)}, outputs)
        classes, scores = result.get(CLASSIFY_CLASSES), result.get(CLASSIFY_SCORES)
        if classes is not None and classes.ndim == 1:
            classes = classes[:, None]
        if scores is not None and scores.ndim == 1:
            scores = scores[:, None]
        if classes is not None and scores is not None and classes.shape != scores.shape:
            raise errors.invalid_argument(
                f"Tensors class and score should match in shape, got {list(classes.shape)} and {list(scores.shape)}")
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
                f"Expected output Tensor shape to be [batch_size] or [batch_size, 1], got {list(values.shape)}")
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
                        f"Number of warmup records exceeds the maximum ({MAX_WARMUP_RECORDS}) at {path}")
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
                    try:
                        inputs = {k: to_ndarray(v) for k, v in request.inputs.items()}
                    except TensorProtoError as error:
                        raise errors.invalid_argument(str(error)) from None
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
        return not self._closed

    def unload(self) -> None:
        """Release the loaded model (the manager calls this once no request holds the version)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._close()


def _read_saved_model(path: Path) -> saved_model_pb2.SavedModel:
    pb, pbtxt = path / "saved_model.pb", path / "saved_model.pbtxt"
    saved_model = saved_model_pb2.SavedModel()
    if pb.is_file():
        try:
            saved_model.ParseFromString(pb.read_bytes())
        except Exception as error:  # google.protobuf.message.DecodeError
            raise ServingError(grpc.StatusCode.DATA_LOSS,
                               f"Could not parse {pb} as a SavedModel proto: {error}") from None
    elif pbtxt.is_file():
        from google.protobuf import text_format

        try:
            text_format.Parse(pbtxt.read_text(), saved_model)
        except Exception as error:  # text_format.ParseError
            raise ServingError(grpc.StatusCode.DATA_LOSS,
                               f"Could not parse {pbtxt} as a SavedModel proto: {error}") from None
    else:
        raise errors.not_found(f"Could not find SavedModel .pb or .pbtxt at supplied export directory path: {path}")
    return saved_model


# Feeds whose shapes differ from the signature's are run only after TensorFlow's own shape
# inference has accepted them (an op that gets a tensor of the wrong rank can abort the process in
# some kernels, e.g. oneDNN's convolutions); the verdicts of this many shape combinations are kept.
_SHAPE_CHECKS = 256


def _node_of(message: str) -> str:
    """" (in node lenet5/conv1/convolution)" from a shape-inference error message, or ""."""
    if "{{node " not in message:
        return ""
    return f" (in node {message.split('{{node ', 1)[1].split('}}', 1)[0]})"


# Deadlines are rounded up to one of these many milliseconds (each 25% above the one before, so a
# run may go on at most a quarter of its time past the client's deadline): one Session callable per
# bucket in use.
_TIMEOUT_BUCKETS_MS = tuple(sorted({min(math.ceil(1.25 ** k), 2 ** 31 - 1) for k in range(100)}))


def _timeout_ms(deadline: float | None) -> int:
    """RunOptions.timeout_in_ms for a time.monotonic() deadline (0: none); DEADLINE_EXCEEDED if passed."""
    if deadline is None:
        return 0
    remaining = (deadline - time.monotonic()) * 1000.0
    if remaining <= 0:
        raise errors.deadline_exceeded("Deadline exceeded before the request was run")
    want = math.ceil(remaining)
    return next((b for b in _TIMEOUT_BUCKETS_MS if b >= want), _TIMEOUT_BUCKETS_MS[-1])


# RunOptions.inter_op_thread_pool of loop-free graphs' callables: -1 runs Session::Run in the caller's
# thread (no hand-off to the inter-op pool and back), where a timeout does not stop it. Measured here
# (2 cores, Eigen kernels, one thread calling): lenet5, one example: 0.232 -> 0.112 ms of CPU a call
# (wall 0.187 -> 0.112 ms), batch of 64: 5.69 -> 5.39 ms; resnet18 64x64, one example: 7.2 -> 6.4 ms,
# batch of 64: 182 -> 176 ms. The requests' own threads (gRPC's, the batch threads) already give the
# runs their concurrency.
CALLER_THREAD_POOL = -1
LOOP_OPS = frozenset({"While", "StatelessWhile", "_While", "Enter", "RefEnter"})


def _called_functions(node):
    """Names of the library functions a NodeDef calls (its op, or its function-valued attributes)."""
    yield node.op
    for attr in node.attr.values():
        if attr.HasField("func"):
            yield attr.func.name
        yield from (f.name for f in attr.list.func)


def has_loops(graph_def, tensor_names) -> bool:
    """True when computing `tensor_names` ("node:0") in `graph_def` runs a loop op (`LOOP_OPS`), in the
    graph or in a library function it calls (a tf.function's while loop): its run time is unbounded."""
    nodes = {node.name: node for node in graph_def.node}
    functions = {f.signature.name: f for f in graph_def.library.function}
    looping = {}  # function name -> bool

    def loops(node) -> bool:
        return node.op in LOOP_OPS or any(function_loops(name) for name in _called_functions(node))

    def function_loops(name) -> bool:
        if name not in functions:
            return False
        if name not in looping:
            looping[name] = False  # a recursive call adds nothing
            looping[name] = any(loops(node) for node in functions[name].node_def)
        return looping[name]

    stack, seen = [name.lstrip("^").split(":")[0] for name in tensor_names], set()
    while stack:
        name = stack.pop()
        if name in seen or name not in nodes:
            continue
        seen.add(name)
        if loops(nodes[name]):
            return True
        stack.extend(i.lstrip("^").split(":")[0] for i in nodes[name].input)
    return False


class SavedModelServable(Servable):
    """A SavedModel loaded into a Session of its own (see the module docstring).

    Args (besides `Servable`'s):
        tags: the MetaGraph to load (TF Serving's --saved_model_tags), ("serve",) by default.
        session_config: a `tf.compat.v1.ConfigProto` for the Session (thread pools); soft placement
            is always on, so a model saved on other devices loads on this machine's CPU.
    """

    def __init__(self, name: str, version: int, path, method_name_check: bool = False,
                 tags=(SERVE_TAG,), session_config=None):
        super().__init__(name, version, path, method_name_check)
        tags = list(tags)
        saved_model = _read_saved_model(Path(self.path))
        meta_graph = next((m for m in saved_model.meta_graphs if set(tags) == set(m.meta_info_def.tags)), None)
        if meta_graph is None:
            raise errors.not_found(
                f"Could not find meta graph def matching supplied tags: {{ {' '.join(tags)} }} in {self.path}")
        self._signature_defs = dict(meta_graph.signature_def)
        self._graph = tf.Graph()
        config = config_pb2.ConfigProto()
        if session_config is not None:
            config.CopyFrom(session_config)
        config.allow_soft_placement = True
        self._session = tf.compat.v1.Session(graph=self._graph, config=config)
        try:
            with self._graph.as_default():
                from tensorflow.python.saved_model import loader_impl

                loader_impl.SavedModelLoader(self.path).load(self._session, tags)
        except tf.errors.OpError as error:
            self._session.close()
            raise ServingError(errors.from_tf_error(error).code,
                               f"Failed to load SavedModel at {self.path}: {error.message}") from None
        except Exception as error:  # noqa: BLE001 - anything the loader raises is a load failure
            self._session.close()
            raise errors.internal(f"Failed to load SavedModel at {self.path}: {error}") from None
        self._callables = {}
        self._shape_checks = {}  # (signature, ((alias, shape), ...)) -> None (fine) or the error message
        self._graph_def = None
        self._init_signatures()
        graph_def = self._graph.as_graph_def()  # once, at load (the shape checks build their own lazily)
        self._caller_thread = {  # signature name -> its runs go in the caller's thread (see CALLER_THREAD_POOL)
            name: not has_loops(graph_def, [spec.tensor_name for spec in signature.outputs.values()])
            for name, signature in self.signatures.items()}

    def _check_shapes(self, signature: Signature, feeds: dict, mismatches: list) -> None:
        """TensorFlow's shape inference over the graph with the fed shapes (see `_SHAPE_CHECKS`)."""
        key = (signature.name, tuple((a, np.shape(feeds[a])) for a in mismatches))
        problem = self._shape_checks.get(key, ...)
        if problem is ...:
            problem = self._infer_shapes(signature, dict(key[1]))
            with self._lock:
                self._shape_checks[key] = problem
                while len(self._shape_checks) > _SHAPE_CHECKS:
                    self._shape_checks.pop(next(iter(self._shape_checks)))
        if problem is not None:
            raise errors.invalid_argument(f"{problem}\n{_mismatch_text(signature, mismatches, feeds)}")

    def _infer_shapes(self, signature: Signature, shapes: dict) -> str | None:
        """None if the graph's ops accept inputs of `shapes` ({alias: shape}), else their error message."""
        if self._graph_def is None:
            self._graph_def = self._graph.as_graph_def()
        scratch = tf.Graph()
        with scratch.as_default():
            input_map = {
                signature.inputs[a].tensor_name: tf.compat.v1.placeholder(
                    tf.as_dtype(signature.inputs[a].type_enum), shape)
                for a, shape in shapes.items()}
            try:
                tf.compat.v1.import_graph_def(
                    self._graph_def, input_map=input_map, name="",
                    return_elements=[spec.tensor_name for spec in signature.outputs.values()])
            except ValueError as error:
                return str(error).split(" for '{{node", 1)[0] + _node_of(str(error))
        return None

    def _callable(self, signature: Signature, fetches: list, timeout_ms: int):
        caller_thread = self._caller_thread[signature.name]
        timeout_ms = 0 if caller_thread else timeout_ms  # then one callable per signature and fetches
        key = (signature.name, tuple(fetches), timeout_ms)
        fn = self._callables.get(key)
        if fn is None:
            options = config_pb2.CallableOptions(
                feed=[signature.inputs[a].tensor_name for a in sorted(signature.inputs)],
                fetch=[signature.outputs[a].tensor_name for a in fetches],
            )
            if caller_thread:
                options.run_options.inter_op_thread_pool = CALLER_THREAD_POOL
            else:
                options.run_options.timeout_in_ms = timeout_ms
            with self._lock:
                if self._closed:
                    raise errors.unavailable(f"servable {self.name} version {self.version} has been unloaded")
                fn = self._callables.setdefault(key, self._session._make_callable_from_options(options))
        return fn

    def _execute(self, signature: Signature, feeds: dict, fetches: list, deadline) -> dict:
        fn = self._callable(signature, fetches, _timeout_ms(deadline))
        try:
            values = fn(*(feeds[a] for a in sorted(signature.inputs)))
        except tf.errors.DeadlineExceededError:
            raise errors.deadline_exceeded(
                f"Deadline exceeded while running signature {signature.name} of {self.name}") from None
        return dict(zip(fetches, values))

    def _close(self) -> None:
        self._callables = {}
        self._session.close()


def load_servable(name: str, version: int, path, prefer_tflite_model: bool = False,
                  method_name_check: bool = False, tags=(SERVE_TAG,), session_config=None) -> Servable:
    """The servable for one version folder (see the module docstring; `tags`, `session_config`: as
    SavedModelServable)."""
    folder = Path(path)
    has_saved_model = (folder / "saved_model.pb").is_file() or (folder / "saved_model.pbtxt").is_file()
    if (folder / TFLITE_FILE).is_file() and (prefer_tflite_model or not has_saved_model):
        from serving.tflite import TfLiteServable

        return TfLiteServable(name, version, path, method_name_check=method_name_check)
    return SavedModelServable(name, version, path, method_name_check=method_name_check, tags=tags,
                              session_config=session_config)
