"""Prometheus metrics in the text exposition format (0.0.4), with TensorFlow Serving's metric names.

Served on the REST port at `/monitoring/prometheus/metrics` (the path of the monitoring config's
`prometheus_config`, TF Serving's default). No client library is needed: counters, gauges and
histograms with labels are kept here and rendered on demand.

    metrics = ServingMetrics()
    metrics.record_request(model, version, api, entrypoint, code, seconds)
        # api: "predict" | "classify" | "regress" | "multi_inference" | "get_model_metadata" |
        # "get_model_status" | "reload_config"; entrypoint: "GRPC" | "REST"; code: grpc.StatusCode
    metrics.record_batch(model, version, signature, batch_size, queue_seconds)
    metrics.set_model_state(model, version, state_name)     # from the manager's listener
    text = metrics.render()                                  # the /monitoring/prometheus/metrics body

Exposed (names as TF Serving's; labels extended with the version and API where ours adds them):
    :tensorflow:serving:request_count{model_name,version,API,entrypoint,status}      counter
    :tensorflow:serving:request_latency{model_name,version,API,entrypoint}           histogram, microseconds
    :tensorflow:serving:batching_session:processed_batch_size{model_name,version,signature_name}  histogram
    :tensorflow:serving:batching_session:queuing_latency{model_name,version,signature_name}  histogram, us
    :tensorflow:core:servable_state{model_name,version,state}                         gauge (1 = current)
"""

from __future__ import annotations

import math
import threading

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# TF Serving's latency buckets are exponential in microseconds (10 us .. ~ 60 s).
LATENCY_BUCKETS_US = tuple(float(f"{10 * 1.8 ** i:.3g}") for i in range(27))
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names, values, extra=()) -> str:
    pairs = [f'{n}="{_escape(v)}"' for n, v in zip(names, values)] + [f'{n}="{v}"' for n, v in extra]
    return "{" + ",".join(pairs) + "}" if pairs else ""


def _number(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


class _Metric:
    kind = ""

    def __init__(self, name: str, help: str, labels: tuple = ()):
        self.name, self.help, self.label_names = name, help, tuple(labels)
        self._lock = threading.Lock()
        self._values: dict = {}

    def _key(self, labels) -> tuple:
        labels = tuple(str(v) for v in labels)
        if len(labels) != len(self.label_names):
            raise ValueError(f"{self.name} takes labels {self.label_names}, got {labels}")
        return labels

    def header(self) -> list:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]


class Counter(_Metric):
    kind = "counter"

    def inc(self, labels: tuple = (), amount: float = 1.0):
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, labels: tuple = ()) -> float:
        return self._values.get(self._key(labels), 0.0)

    def render(self) -> list:
        with self._lock:
            items = sorted(self._values.items())
        return self.header() + [f"{self.name}{_labels(self.label_names, k)} {_number(v)}" for k, v in items]


class Gauge(Counter):
    kind = "gauge"

    def set(self, labels: tuple = (), value: float = 0.0):
        key = self._key(labels)
        with self._lock:
            self._values[key] = float(value)

    def remove(self, labels: tuple):
        with self._lock:
            self._values.pop(self._key(labels), None)


class Histogram(_Metric):
    kind = "histogram"

    def __init__(self, name, help, labels=(), buckets=LATENCY_BUCKETS_US):
        super().__init__(name, help, labels)
        self.buckets = tuple(sorted(buckets)) + (math.inf,)

    def observe(self, labels: tuple = (), value: float = 0.0):
        key = self._key(labels)
        with self._lock:
            counts, total = self._values.get(key, ([0] * len(self.buckets), 0.0))
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    counts[i] += 1
                    break
            self._values[key] = (counts, total + value)

    def count(self, labels: tuple = ()) -> int:
        entry = self._values.get(self._key(labels))
        return sum(entry[0]) if entry else 0

    def render(self) -> list:
        with self._lock:
            items = sorted((k, (list(c), s)) for k, (c, s) in self._values.items())
        lines = self.header()
        for key, (counts, total) in items:
            cumulative = 0
            for bound, count in zip(self.buckets, counts):
                cumulative += count
                lines.append(f"{self.name}_bucket{_labels(self.label_names, key, [('le', _number(bound))])} {cumulative}")
            lines.append(f"{self.name}_sum{_labels(self.label_names, key)} {_number(total)}")
            lines.append(f"{self.name}_count{_labels(self.label_names, key)} {cumulative}")
        return lines


class Registry:
    """A set of metrics rendered together."""

    def __init__(self):
        self.metrics: list = []

    def add(self, metric):
        self.metrics.append(metric)
        return metric

    def render(self) -> str:
        lines = []
        for metric in self.metrics:
            lines.extend(metric.render())
        return "\n".join(lines) + "\n"


UNKNOWN_MODEL = "unknown"


class ServingMetrics:
    """The server's (and the gateway's) metrics; see the module docstring."""

    def __init__(self):
        self.registry = Registry()
        self.request_count = self.registry.add(Counter(
            ":tensorflow:serving:request_count", "The total number of requests.",
            ("model_name", "version", "API", "entrypoint", "status")))
        self.request_latency = self.registry.add(Histogram(
            ":tensorflow:serving:request_latency", "Distribution of request latency in microseconds.",
            ("model_name", "version", "API", "entrypoint")))
        self.batch_size = self.registry.add(Histogram(
            ":tensorflow:serving:batching_session:processed_batch_size",
            "Distribution of processed batch sizes (after padding).",
            ("model_name", "version", "signature_name"), buckets=BATCH_SIZE_BUCKETS))
        self.queuing_latency = self.registry.add(Histogram(
            ":tensorflow:serving:batching_session:queuing_latency",
            "Distribution of the time the oldest task of a batch waited in the queue, in microseconds.",
            ("model_name", "version", "signature_name")))
        self.servable_state = self.registry.add(Gauge(
            ":tensorflow:core:servable_state", "The state of each model version (1 = current state).",
            ("model_name", "version", "state")))
        self._states: dict = {}
        self._lock = threading.Lock()

    def set_known_models(self, known) -> None:
        """`known()` -> the model names that exist: requests to other names are counted under "unknown"
        (a client cannot grow the metrics page with names of its choosing)."""
        self._known = known

    def record_request(self, model, version, api, entrypoint, code, seconds):
        """One finished request; `version` may be None (unknown model, failed lookup)."""
        known = getattr(self, "_known", None)
        if model and version is None and known is not None and model not in known():
            model = UNKNOWN_MODEL
        version = "" if version is None else str(version)
        status = getattr(code, "name", str(code))
        self.request_count.inc((model or "", version, api, entrypoint, status))
        self.request_latency.observe((model or "", version, api, entrypoint), seconds * 1e6)

    def record_batch(self, model, version, signature, batch_size, queue_seconds):
        labels = (model, str(version), signature)
        self.batch_size.observe(labels, batch_size)
        self.queuing_latency.observe(labels, queue_seconds * 1e6)

    def set_model_state(self, model, version, state):
        """Keep one current state per model version (state: a name like "AVAILABLE" or an enum)."""
        state = getattr(state, "name", str(state))
        key = (model, str(version))
        with self._lock:
            old = self._states.get(key)
            if old is not None:
                self.servable_state.remove((model, str(version), old))
            self._states[key] = state
            self.servable_state.set((model, str(version), state), 1)

    def render(self) -> str:
        return self.registry.render()
