"""The server's model configuration, batching parameters and monitoring config, from flags and files.

Interface:

    model_config_from_flags(model_name="default", model_base_path=None, model_config_file=None)
        -> model_server_config_pb2.ModelServerConfig
        As tensorflow_model_server: `--model_config_file` (text format) when given (a
        `--model_base_path` given as well is ignored, with a warning), else one model
        `--model_name` (default "default") at `--model_base_path`, latest version. Neither:
        ValueError. Base paths are used as written (relative ones from the working directory).
    single_model_config(name, base_path, policy=None, labels=None) -> ModelServerConfig
    parse_model_config(text: str) -> ModelServerConfig          # text format, validated; ValueError
                                                                # naming the line on bad text
    read_model_config(path) -> ModelServerConfig                # FileNotFoundError / ValueError
    validate_model_config(config)                               # ValueError: repeated / empty names,
                                                                # empty base_path, custom_model_config,
                                                                # platform not tensorflow, bad policy
    model_config_to_text(config) -> str

    ConfigFileWatcher(path, callback, poll_wait_seconds)        # --model_config_file_poll_wait_seconds:
        re-reads the file every poll_wait_seconds (<= 0: never) and calls
        callback(ModelServerConfig) when its content changed; a broken file is logged and skipped
        (the running config stays). watcher.start() / watcher.stop() / watcher.check_now() -> bool
        (True when the callback ran).

    BatchingParameters                                          # protobuf message class of TF Serving's
        session_bundle_config.proto (the pip package tensorflow-serving-api does not ship it), so
        TF Serving's --batching_parameters_file parses as is:
            max_batch_size { value: 32 }  batch_timeout_micros { value: 1000 }
            max_enqueued_batches { value: 100 }  num_batch_threads { value: 4 }
            thread_pool_name { value: "x" }  allowed_batch_sizes: 8  allowed_batch_sizes: 32
            pad_variable_length_inputs: true
            enable_large_batch_splitting { value: true }  max_execution_batch_size { value: 16 }
        Fields this server does not know (newer TF Serving options) are skipped, not errors.
    parse_batching_parameters(text) / read_batching_parameters(path) -> BatchingParameters
    BatchingOptions(max_batch_size=1000, batch_timeout_micros=0, max_enqueued_batches=10,
                    num_batch_threads=os.cpu_count(), thread_pool_name="batch_threads",
                    allowed_batch_sizes=(), pad_variable_length_inputs=False,
                    enable_large_batch_splitting=False, max_execution_batch_size=None)
        (frozen dataclass; TF Serving's defaults; .batch_timeout_seconds property)
    batching_options(params: BatchingParameters | str | os.PathLike | None) -> BatchingOptions
        ValueError for values TF Serving rejects (sizes < 1, allowed_batch_sizes not increasing
        or not ending at max_batch_size / max_execution_batch_size).

    MonitoringConfig / PrometheusConfig                         # monitoring_config.proto, defined here
    parse_monitoring_config(text) / read_monitoring_config(path) -> MonitoringConfig
        e.g. prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }
    prometheus_path(config: MonitoringConfig | None) -> str | None   # None when not enabled
    PROMETHEUS_DEFAULT_PATH = "/monitoring/prometheus/metrics"
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format, wrappers_pb2
from tensorflow_serving.config import model_server_config_pb2

from serving.source import VersionPolicy

__all__ = [
    "model_config_from_flags",
    "single_model_config",
    "parse_model_config",
    "read_model_config",
    "validate_model_config",
    "model_config_to_text",
    "ConfigFileWatcher",
    "BatchingParameters",
    "parse_batching_parameters",
    "read_batching_parameters",
    "BatchingOptions",
    "batching_options",
    "MonitoringConfig",
    "PrometheusConfig",
    "parse_monitoring_config",
    "read_monitoring_config",
    "prometheus_path",
    "PROMETHEUS_DEFAULT_PATH",
]

log = logging.getLogger(__name__)

PROMETHEUS_DEFAULT_PATH = "/monitoring/prometheus/metrics"
ModelServerConfig = model_server_config_pb2.ModelServerConfig


# ------------------------------------------------------------------------------ model config


def single_model_config(name: str, base_path, policy: VersionPolicy | None = None, labels: dict | None = None):
    """A ModelServerConfig serving one model (what --model_name / --model_base_path mean)."""
    config = ModelServerConfig()
    model = config.model_config_list.config.add()
    model.name = name
    model.base_path = os.fspath(base_path)
    model.model_platform = "tensorflow"
    if policy is not None:
        model.model_version_policy.CopyFrom(policy.to_proto())
    for label, version in (labels or {}).items():
        model.version_labels[label] = int(version)
    validate_model_config(config)
    return config


def model_config_from_flags(model_name: str | None = "default", model_base_path=None, model_config_file=None):
    """The ModelServerConfig that tensorflow_model_server's flags describe (see the module doc)."""
    if model_config_file:
        if model_base_path:
            log.warning("--model_config_file is given: --model_base_path %s is ignored", model_base_path)
        return read_model_config(model_config_file)
    if not model_base_path:
        raise ValueError("give --model_base_path (with --model_name) or --model_config_file: both are empty")
    return single_model_config(model_name or "default", model_base_path)


def validate_model_config(config) -> None:
    """Raise ValueError naming the problem when `config` cannot be served."""
    if config.WhichOneof("config") == "custom_model_config":
        raise ValueError("custom_model_config is not supported: use model_config_list")
    seen = set()
    for i, model in enumerate(config.model_config_list.config):
        if not model.name:
            raise ValueError(f"model config #{i + 1} has no name")
        if model.name in seen:
            raise ValueError(f"Illegal to list model {model.name} multiple times in config list")
        seen.add(model.name)
        if not model.base_path:
            raise ValueError(f"model {model.name}: base_path is empty")
        if model.model_platform not in ("", "tensorflow"):
            raise ValueError(
                f"model {model.name}: model_platform {model.model_platform!r} is not supported (tensorflow)"
            )
        try:
            VersionPolicy.from_proto(model.model_version_policy)
        except ValueError as error:
            raise ValueError(f"model {model.name}: {error}") from None
        for label in model.version_labels:
            if not label:
                raise ValueError(f"model {model.name}: empty version label")


def parse_model_config(text: str, *, where: str = "model config"):
    """Parse text-format ModelServerConfig (TF Serving's --model_config_file format)."""
    config = ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as error:
        # TF Serving's wording, which scripts (and its own test) look for.
        raise ValueError(f"{where}: Error parsing text-format tensorflow.serving.ModelServerConfig: {error}") from None
    try:
        validate_model_config(config)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    return config


def read_model_config(path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model config file not found: {os.fspath(path)}")
    return parse_model_config(path.read_text(encoding="utf-8"), where=os.fspath(path))


def model_config_to_text(config) -> str:
    return text_format.MessageToString(config)


class ConfigFileWatcher:
    """Re-reads a model config file and reports changes (TF Serving's config file polling).

    Args:
        path: the --model_config_file.
        callback: called with the new ModelServerConfig when the file's content changed; an
            exception it raises is logged (the next change is reported again).
        poll_wait_seconds: --model_config_file_poll_wait_seconds; <= 0 disables polling.
    """

    def __init__(self, path, callback: Callable, poll_wait_seconds: float):
        self.path = os.fspath(path)
        self.poll_wait_seconds = float(poll_wait_seconds)
        self._callback = callback
        self._last = None
        try:
            self._last = model_config_to_text(read_model_config(self.path))
        except (OSError, ValueError):
            pass
        self._stop = threading.Event()
        self._thread = None

    def check_now(self) -> bool:
        """Read the file once; call the callback if it changed. True when it did."""
        try:
            config = read_model_config(self.path)
        except (OSError, ValueError) as error:
            log.error("model config file %s not reloaded: %s", self.path, error)
            return False
        text = model_config_to_text(config)
        if text == self._last:
            return False
        try:
            self._callback(config)
        except Exception:  # noqa: BLE001
            log.exception("applying model config file %s failed", self.path)
            return False
        self._last = text
        return True

    def start(self) -> None:
        if self.poll_wait_seconds <= 0 or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="serving-config-watcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_wait_seconds):
            self.check_now()

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=max(5.0, 2 * self.poll_wait_seconds))


# ------------------------------------------------------------------------------ protos not in the pip package


def _build_protos():
    """BatchingParameters, MonitoringConfig and PrometheusConfig in a private descriptor pool.

    Field names and types follow TF Serving's session_bundle_config.proto and
    monitoring_config.proto (field numbers 1-7 of BatchingParameters as there; the two newer
    options are given numbers here, which matters only for the binary format, not used).
    """
    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)

    F = descriptor_pb2.FieldDescriptorProto
    files = descriptor_pb2.FileDescriptorProto(
        name="serving_config/session_bundle_config.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    batching = files.message_type.add(name="BatchingParameters")
    for number, name, type_name in [
        (1, "max_batch_size", ".google.protobuf.Int64Value"),
        (2, "batch_timeout_micros", ".google.protobuf.Int64Value"),
        (3, "max_enqueued_batches", ".google.protobuf.Int64Value"),
        (4, "num_batch_threads", ".google.protobuf.Int64Value"),
        (5, "thread_pool_name", ".google.protobuf.StringValue"),
        (8, "enable_large_batch_splitting", ".google.protobuf.BoolValue"),
        (9, "max_execution_batch_size", ".google.protobuf.Int64Value"),
    ]:
        batching.field.add(name=name, number=number, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL, type_name=type_name)
    batching.field.add(name="allowed_batch_sizes", number=6, type=F.TYPE_INT64, label=F.LABEL_REPEATED)
    batching.field.add(name="pad_variable_length_inputs", number=7, type=F.TYPE_BOOL, label=F.LABEL_OPTIONAL)

    prometheus = files.message_type.add(name="PrometheusConfig")
    prometheus.field.add(name="enable", number=1, type=F.TYPE_BOOL, label=F.LABEL_OPTIONAL)
    prometheus.field.add(name="path", number=2, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    monitoring = files.message_type.add(name="MonitoringConfig")
    monitoring.field.add(name="prometheus_config", number=1, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL,
                         type_name=".tensorflow.serving.PrometheusConfig")
    pool.Add(files)
    def get(name):
        return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"tensorflow.serving.{name}"))

    return get("BatchingParameters"), get("MonitoringConfig"), get("PrometheusConfig")


BatchingParameters, MonitoringConfig, PrometheusConfig = _build_protos()


def _parse(text: str, message, what: str):
    try:
        text_format.Parse(text, message, allow_unknown_field=True)
    except text_format.ParseError as error:
        raise ValueError(f"{what}: Error parsing text-format {type(message).DESCRIPTOR.full_name}: {error}") from None
    return message


def parse_batching_parameters(text: str, *, where: str = "batching parameters"):
    return _parse(text, BatchingParameters(), where)


def read_batching_parameters(path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"batching parameters file not found: {os.fspath(path)}")
    return parse_batching_parameters(path.read_text(encoding="utf-8"), where=os.fspath(path))


def parse_monitoring_config(text: str, *, where: str = "monitoring config"):
    return _parse(text, MonitoringConfig(), where)


def read_monitoring_config(path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"monitoring config file not found: {os.fspath(path)}")
    return parse_monitoring_config(path.read_text(encoding="utf-8"), where=os.fspath(path))


def prometheus_path(config) -> str | None:
    """The metrics path when Prometheus export is enabled, else None."""
    if config is None or not config.HasField("prometheus_config") or not config.prometheus_config.enable:
        return None
    return config.prometheus_config.path or PROMETHEUS_DEFAULT_PATH


@dataclass(frozen=True)
class BatchingOptions:
    """Batching settings with TF Serving's defaults filled in (see `batching_options`)."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = os.cpu_count() or 1
    thread_pool_name: str = "batch_threads"
    allowed_batch_sizes: tuple = ()
    pad_variable_length_inputs: bool = False
    enable_large_batch_splitting: bool = False
    max_execution_batch_size: int | None = None

    @property
    def batch_timeout_seconds(self) -> float:
        return self.batch_timeout_micros / 1e6

    def __post_init__(self):
        for name in ("max_batch_size", "max_enqueued_batches", "num_batch_threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"batching: {name} must be >= 1, got {getattr(self, name)}")
        if self.batch_timeout_micros < 0:
            raise ValueError(f"batching: batch_timeout_micros must be >= 0, got {self.batch_timeout_micros}")
        if self.max_execution_batch_size is not None and self.max_execution_batch_size < 1:
            raise ValueError(f"batching: max_execution_batch_size must be >= 1, got {self.max_execution_batch_size}")
        sizes = list(self.allowed_batch_sizes)
        if sizes:
            if any(s < 1 for s in sizes) or any(b <= a for a, b in zip(sizes, sizes[1:])):
                raise ValueError(f"batching: allowed_batch_sizes must be increasing sizes >= 1, got {sizes}")
            last = self.max_execution_batch_size if self.enable_large_batch_splitting and \
                self.max_execution_batch_size else self.max_batch_size
            if sizes[-1] != last:
                what = "max_execution_batch_size" if last != self.max_batch_size else "max_batch_size"
                raise ValueError(
                    f"batching: the final entry of allowed_batch_sizes ({sizes[-1]}) must equal {what} ({last})"
                )


def batching_options(params=None) -> BatchingOptions:
    """BatchingOptions from a BatchingParameters message, its text file's path, or None (defaults)."""
    if params is None:
        return BatchingOptions()
    if isinstance(params, (str, os.PathLike)):
        params = read_batching_parameters(params)
    values = {}
    for name in ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads",
                 "thread_pool_name", "enable_large_batch_splitting", "max_execution_batch_size"):
        if params.HasField(name):
            values[name] = getattr(params, name).value
    values["allowed_batch_sizes"] = tuple(int(s) for s in params.allowed_batch_sizes)
    values["pad_variable_length_inputs"] = bool(params.pad_variable_length_inputs)
    for name in ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads",
                 "max_execution_batch_size"):
        if name in values:
            values[name] = int(values[name])
    return BatchingOptions(**values)
