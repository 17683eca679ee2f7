"""Choosing a tf.distribute strategy: "auto", "mirrored", "multiworker", "tpu", or your own.

All strategies train through the same step (zoo.training.loop); this module only decides where.
"""

from __future__ import annotations

import json
import logging
import os

import tensorflow as tf

from zoo.errors import InvalidArgumentError

log = logging.getLogger("zoo.training")

STRATEGY_NAMES = ("auto", "one_device", "mirrored", "multiworker", "tpu")


LOGICAL_CPUS_VARIABLE = "ZOO_LOGICAL_CPUS"
HEARTBEAT_VARIABLE = "ZOO_HEARTBEAT_TIMEOUT"


def use_logical_cpus(count: int) -> None:
    """Split the CPU into `count` logical devices, so MirroredStrategy can be used on a CPU-only machine.

    Must run before TensorFlow initializes its devices (before the first op); raises otherwise.
    `import zoo` does it when $ZOO_LOGICAL_CPUS is set, as soon as TensorFlow is imported.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InvalidArgumentError(f"the number of logical CPU devices must be an integer >= 1, got {count!r}")
    cpus = tf.config.list_physical_devices("CPU")
    current = tf.config.get_logical_device_configuration(cpus[0])
    if (current and len(current) == count) or (not current and count == 1):
        return
    try:
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError as error:
        have = len(tf.config.list_logical_devices("CPU"))
        raise InvalidArgumentError(
            f"cannot split the CPU into {count} logical devices: TensorFlow has already started with {have}. Call "
            f"zoo.training.use_logical_cpus({count}) before any TensorFlow operation runs, or set "
            f"{LOGICAL_CPUS_VARIABLE}={count} in the environment and import zoo before any TensorFlow operation runs"
        ) from error


def _positive_int_from_environment(variable: str, example: int) -> int | None:
    """The integer >= 1 in $variable (None when unset or empty); raises for anything else."""
    value = os.environ.get(variable, "").strip()
    if not value:
        return None
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise InvalidArgumentError(f"{variable} must be an integer >= 1 (e.g. {example}), got {value!r}")
    return count


def logical_cpus_from_environment() -> int | None:
    """The count in $ZOO_LOGICAL_CPUS (None when unset or empty); raises for anything but an integer >= 1."""
    return _positive_int_from_environment(LOGICAL_CPUS_VARIABLE, 2)


def heartbeat_timeout_from_environment() -> int | None:
    """The seconds in $ZOO_HEARTBEAT_TIMEOUT (None when unset or empty); raises for anything but an integer >= 1."""
    return _positive_int_from_environment(HEARTBEAT_VARIABLE, 120)


def _configure_heartbeat_timeout(seconds: int) -> None:
    """Configure TensorFlow's coordination service as MultiWorkerMirroredStrategy does, with a
    heartbeat timeout of `seconds` (TensorFlow's default: 10 s). The strategy keeps a configuration
    it finds; TensorFlow has no public API for it, hence the private module."""
    from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
    from tensorflow.python.distribute import multi_worker_util
    from tensorflow.python.eager import context

    cluster = tf.distribute.cluster_resolver.TFConfigClusterResolver().cluster_spec()
    jobs = [coordination_config_pb2.CoordinatedJob(name=job, num_tasks=cluster.num_tasks(job))
            for job in ("chief", "worker") if job in cluster.jobs]
    context.context().configure_coordination_service(
        service_type="standalone", service_leader=multi_worker_util.coordination_leader(cluster),
        coordinated_jobs=jobs, heartbeat_timeout_in_ms=seconds * 1000)


def apply_logical_cpus_from_environment() -> None:
    """What `import zoo` runs once TensorFlow is imported (at once if it already is):
    `use_logical_cpus($ZOO_LOGICAL_CPUS)`, before data or models start TensorFlow's devices. If they
    were started before `import zoo`, it only warns here, and
    `resolve_strategy("mirrored")` raises the error that says what to do."""
    count = logical_cpus_from_environment()
    if count is None:
        return
    try:
        use_logical_cpus(count)
    except InvalidArgumentError as error:
        log.warning("%s=%d not applied: %s", LOGICAL_CPUS_VARIABLE, count, error)


def resolve_strategy(strategy="auto", *, num_devices: int | None = None) -> tf.distribute.Strategy:
    """The tf.distribute strategy for `strategy`.

    Args:
        strategy: a `tf.distribute.Strategy` (used as is), or one of
            "auto": a TPU when a TPU resolver answers, MirroredStrategy over all GPUs when there
                are several, else the default one-device strategy;
            "one_device": the default strategy (first GPU or the CPU);
            "mirrored": MirroredStrategy over all GPUs, or on a CPU-only machine over the logical
                CPU devices (see `use_logical_cpus`; `num_devices` or $ZOO_LOGICAL_CPUS creates them);
            "multiworker": MultiWorkerMirroredStrategy configured from $TF_CONFIG. A worker
                that has not answered the coordination service's heartbeat for 10 s (TensorFlow's
                default) fails the job; $ZOO_HEARTBEAT_TIMEOUT sets those seconds, for machines
                that can pause (a virtual machine snapshotted or migrated, an oversubscribed CPU);
            "tpu": TPUStrategy from the TPU cluster resolver.
    """
    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    if strategy not in STRATEGY_NAMES:
        raise InvalidArgumentError(f"strategy must be one of {STRATEGY_NAMES} or a tf.distribute.Strategy, got {strategy!r}")
    if strategy == "auto":
        tpu = _tpu_resolver()
        if tpu is not None:
            return _tpu_strategy(tpu)
        gpus = tf.config.list_logical_devices("GPU")
        if len(gpus) > 1:
            return tf.distribute.MirroredStrategy()
        return tf.distribute.get_strategy()
    if strategy == "one_device":
        return tf.distribute.get_strategy()
    if strategy == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        if gpus:
            return _mirrored([d.name for d in gpus][: num_devices or None])
        count = num_devices or logical_cpus_from_environment()
        if count:
            use_logical_cpus(count)
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        if len(cpus) < 2:
            log.warning("strategy='mirrored' on one CPU device: call zoo.training.use_logical_cpus(N) first to mirror over N")
        return _mirrored(cpus)
    if strategy == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise InvalidArgumentError(
                "strategy='multiworker' reads the cluster from $TF_CONFIG, which is not set; e.g. "
                + json.dumps({"cluster": {"worker": ["127.0.0.1:12345", "127.0.0.1:12346"]}, "task": {"type": "worker", "index": 0}})
            )
        heartbeat = heartbeat_timeout_from_environment()
        if heartbeat is not None:
            _configure_heartbeat_timeout(heartbeat)
        return tf.distribute.MultiWorkerMirroredStrategy()
    tpu = _tpu_resolver()
    if tpu is None:
        raise InvalidArgumentError("strategy='tpu' but no TPU answered the TPU cluster resolver on this machine")
    return _tpu_strategy(tpu)


_MIRRORED: dict[tuple, tf.distribute.MirroredStrategy] = {}


def _mirrored(devices: list[str]) -> tf.distribute.MirroredStrategy:
    """One MirroredStrategy per device set and process.

    Several MirroredStrategy objects in one process can give their collective all-reduces the
    same instance keys, and then one model's gradients meet another's ("Shape mismatch in the
    collective instance"). Logical CPU devices share one host's memory, so they reduce through
    one device instead of collectives.
    """
    key = tuple(devices)
    if key not in _MIRRORED:
        on_cpus = all("CPU" in d.upper() for d in devices)
        cross_device_ops = tf.distribute.ReductionToOneDevice() if on_cpus else None
        _MIRRORED[key] = tf.distribute.MirroredStrategy(devices, cross_device_ops=cross_device_ops)
    return _MIRRORED[key]


def _tpu_resolver():
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        resolver.cluster_spec()
        return resolver
    except (ValueError, RuntimeError, tf.errors.NotFoundError, KeyError):
        return None


def _tpu_strategy(resolver):
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes checkpoints and logs (worker 0 in a multi-worker cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0)
