"""The model repository: loads proposed versions, serves them, unloads them safely.

Like TensorFlow Serving's AspiredVersionsManager with its "availability preserving" policy: a new
version is loaded fully (and its warmup requests replayed) BEFORE it is made available; a version
that is no longer aspired is made unavailable, then unloaded only after every in-flight request
holding it has finished (reference counts). A version that fails to load is kept in state END
with its error (GetModelStatus reports it) and never affects the versions being served.

Interface:

    State: UNKNOWN, START, LOADING, AVAILABLE, UNLOADING, END   (an enum.IntEnum with the values of
        get_model_status_pb2.ModelVersionStatus.State: START=10, LOADING=20, AVAILABLE=30,
        UNLOADING=40, END=50)
    VersionStatus(name, version, state: State, error: ServingError | None)   # error (code, message)
        of a failed load, else None

    manager = ModelManager(loader=Servable, *, load_threads=2, warmup=True, poll_wait_seconds=1.0)
    manager.reload_config(config: model_server_config_pb2.ModelServerConfig, *, wait=True, timeout=60.0)
        # the models to serve: names, base paths, version policies (latest N / all / specific) and
        # labels; models removed from the config are unloaded. Polls the file system at once and,
        # with wait, returns when every aspired version has been tried (AVAILABLE or END). Used at
        # start and for HandleReloadConfigRequest. Bad config: ServingError INVALID_ARGUMENT
        # (custom_model_config, platform other than tensorflow, repeated / empty names, no base path).
        # Labels may name versions not (yet) available (TF Serving's
        # --allow_version_labels_for_unavailable_models); such a label answers NOT_FOUND until then.
    manager.start(poll_wait_seconds=None) / manager.stop()      # background polling (TF Serving's
                                                                # --file_system_poll_wait_seconds);
                                                                # stop() unloads everything
    manager.poll_now()                                          # one synchronous poll
    manager.set_aspired_versions(name, {version: path, ...})    # what the source calls; usable
                                                                # directly without a config
    manager.set_labels(name, {"stable": 1, "canary": 2}); manager.labels(name) -> dict
    with manager.acquire(name, version=None, label=None) as servable:   # -> Servable, held (not
        ...                                                     # unloaded) until the block ends;
                                                                # version None: latest AVAILABLE.
                                                                # NOT_FOUND "Servable not found for
                                                                # request: Latest(name)" / "Specific(name, 3)";
                                                                # unknown label: INVALID_ARGUMENT
                                                                # "Unrecognized servable version label: x"
    manager.resolve_version(name, version=None, label=None) -> int   # what acquire would pick now
    manager.status(name, version=None) -> list[VersionStatus]   # sorted by version, END versions
                                                                # included; NOT_FOUND "Could not find
                                                                # any versions of model x" / "Could not
                                                                # find version 3 of model x"
    manager.model_names() -> list[str]
    manager.available_versions(name) -> list[int]
    manager.wait_until_available(name, version=None, timeout=10.0) -> bool
    manager.add_listener(fn)    # fn(name, version, State) on every state change (metrics, logs),
                                # called outside the manager's lock

Policy when versions change (TF Serving's AvailabilityPreservingPolicy): a version no longer
aspired is unloaded when no version is aspired any more, or when an aspired version is AVAILABLE;
while the aspired versions are still loading (or failed), the newest old version keeps serving.
A failed version is retried when its folder changes (e.g. rewritten), not on every poll.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from serving import errors
from serving.errors import ServingError
from serving.servable import load_servable
from serving.source import FileSystemSource, ModelSource, VersionPolicy

__all__ = ["State", "VersionStatus", "ModelManager"]

log = logging.getLogger(__name__)


class State(enum.IntEnum):
    """A version's state, numbered as `get_model_status_pb2.ModelVersionStatus.State`."""

    UNKNOWN = 0
    START = 10
    LOADING = 20
    AVAILABLE = 30
    UNLOADING = 40
    END = 50


@dataclass(frozen=True)
class VersionStatus:
    """One version's state, and the error of a failed load (None otherwise)."""

    name: str
    version: int
    state: State
    error: ServingError | None = None


_FINGERPRINT_FILES = 10_000  # a version folder with more files than this is fingerprinted by its first ones


def _fingerprint(path: str):
    """What changes when a version folder is written to (any file's size or mtime, files added or
    removed): a failed load is retried when it changes, so a version still being copied when first
    seen ("Read less bytes than requested") loads once the copy is complete."""
    parts = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            try:
                st = os.stat(os.path.join(root, name))
            except OSError:
                continue
            parts.append((os.path.relpath(os.path.join(root, name), path), st.st_size, st.st_mtime_ns))
            if len(parts) >= _FINGERPRINT_FILES:
                return tuple(parts)
    return tuple(parts)


class _Version:
    """The manager's record of one version (guarded by the manager's lock)."""

    __slots__ = ("name", "version", "path", "state", "error", "servable", "refs", "aspired", "fingerprint")

    def __init__(self, name: str, version: int, path: str):
        self.name = name
        self.version = version
        self.path = path
        self.state = State.START
        self.error: ServingError | None = None
        self.servable = None
        self.refs = 0
        self.aspired = True
        self.fingerprint = None


class ModelManager:
    """Loads, serves and unloads model versions (see the module docstring for the interface).

    Args:
        loader: `loader(name, version, path)` -> a loaded servable (default `serving.servable.load_servable`); raises on
            failure (a ServingError keeps its code, anything else is INTERNAL).
        load_threads: versions loaded in parallel.
        warmup: replay each version's `assets.extra/tf_serving_warmup_requests` before it serves.
        poll_wait_seconds: file-system poll period of `start()` (TF Serving's
            --file_system_poll_wait_seconds); <= 0: poll only on `poll_now()` / `reload_config()`.
    """

    def __init__(self, loader: Callable = load_servable, *, load_threads: int = 2, warmup: bool = True,
                 poll_wait_seconds: float = 1.0):
        self._loader = loader
        self._warmup = warmup
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._models: dict[str, dict[int, _Version]] = {}
        self._labels: dict[str, dict[str, int]] = {}
        self._executor = ThreadPoolExecutor(max(1, int(load_threads)), thread_name_prefix="serving-load")
        self._listeners: list[Callable] = []
        self._source = FileSystemSource(self.set_aspired_versions, poll_wait_seconds)
        self._closed = False

    # ------------------------------------------------------------------ configuration

    def reload_config(self, config, *, wait: bool = True, timeout: float | None = 60.0) -> None:
        """Serve the models of `config` (a `model_server_config_pb2.ModelServerConfig`).

        Each ModelConfig gives a name, base_path, model_version_policy (latest N / all /
        specific; unset: latest 1) and version_labels. Models no longer in the config are
        unloaded (after their in-flight requests). The file system is polled at once; with `wait`
        this returns when every aspired version of every model has been tried (AVAILABLE or END),
        or after `timeout` seconds. Labels may name versions that are not (yet) available (as
        TF Serving's --allow_version_labels_for_unavailable_models); asking for such a label
        answers NOT_FOUND until the version is available.

        As TF Serving's ServerCore: a config with neither model_config_list nor custom_model_config
        (an empty `HandleReloadConfigRequest()`) changes nothing; a bad config changes nothing either.

        Raises:
            ServingError FAILED_PRECONDITION: custom_model_config (TF Serving cannot transition to it).
            ServingError INVALID_ARGUMENT: a config that cannot be served (a platform other than
                tensorflow, repeated or empty names, no base path).
        """
        if config.WhichOneof("config") is None:
            log.info("taking no action for an empty model config")
            return
        sources, labels = self._sources_from_config(config)
        with self._lock:
            removed = set(self._models) - {s.name for s in sources}
            self._labels = labels
        self._source.set_models(sources)
        for name in removed:
            self.set_aspired_versions(name, {})
        self._source.poll_once()
        if wait:
            self._wait_settled([s.name for s in sources], timeout)

    @staticmethod
    def _sources_from_config(config):
        if config.WhichOneof("config") == "custom_model_config":
            raise errors.failed_precondition(
                "Cannot transition to requested config. It is only legal to transition from one ModelConfigList "
                "to another (custom_model_config is not supported: use model_config_list)")
        sources, labels, seen = [], {}, set()
        for model in config.model_config_list.config:
            if not model.name:
                raise errors.invalid_argument("every model config needs a name")
            if model.name in seen:
                raise errors.invalid_argument(f"Illegal to list model {model.name} multiple times in config list")
            seen.add(model.name)
            if not model.base_path:
                raise errors.invalid_argument(f"model {model.name}: base_path is empty")
            if model.model_platform not in ("", "tensorflow"):
                raise errors.invalid_argument(
                    f"model {model.name}: model_platform {model.model_platform!r} is not supported (only tensorflow)"
                )
            try:
                policy = VersionPolicy.from_proto(model.model_version_policy)
            except ValueError as error:
                raise errors.invalid_argument(f"model {model.name}: {error}") from None
            sources.append(ModelSource(model.name, model.base_path, policy))
            labels[model.name] = {label: int(v) for label, v in model.version_labels.items()}
        return sources, labels

    def set_labels(self, name: str, labels: dict[str, int]) -> None:
        """Replace the version labels of model `name`, e.g. {"stable": 1, "canary": 2}."""
        if any(not label for label in labels):
            raise errors.invalid_argument("version labels must be non-empty strings")
        with self._lock:
            self._labels[name] = {str(k): int(v) for k, v in labels.items()}

    def labels(self, name: str) -> dict[str, int]:
        with self._lock:
            return dict(self._labels.get(name, {}))

    def add_listener(self, listener: Callable[[str, int, State], None]) -> None:
        """`listener(name, version, state)` is called on every state change (outside the lock)."""
        with self._lock:
            self._listeners.append(listener)

    # ------------------------------------------------------------------ polling

    def poll_now(self) -> None:
        """Poll the file system once, synchronously (loads still happen in the background)."""
        self._source.poll_once()

    def start(self, poll_wait_seconds: float | None = None) -> None:
        """Poll now and then every poll_wait_seconds in the background."""
        if poll_wait_seconds is not None:
            self._source.poll_wait_seconds = float(poll_wait_seconds)
        self._source.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop polling and unload every version (each after its in-flight requests)."""
        self._source.stop()
        with self._lock:
            names = list(self._models)
        for name in names:
            self.set_aspired_versions(name, {})
        deadline = time.monotonic() + timeout
        with self._changed:
            while any(e.state != State.END for t in self._models.values() for e in t.values()):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            self._closed = True
        self._executor.shutdown(wait=False)

    # ------------------------------------------------------------------ aspired versions

    def set_aspired_versions(self, name: str, versions: dict[int, str]) -> None:
        """The versions of `name` that should be served now ({version: path}); thread-safe.

        New versions are loaded in the background and made available when loaded (and warmed up);
        versions not listed are unloaded once an aspired version is available (or when none is
        aspired), each after its in-flight requests finish. A version whose load failed is retried
        only when its folder changes.
        """
        events, loads = [], []
        with self._lock:
            if self._closed:
                return
            table = self._models.setdefault(name, {})
            versions = {int(v): os.fspath(p) for v, p in versions.items()}
            for number, entry in table.items():
                entry.aspired = number in versions
            for number, path in versions.items():
                entry = table.get(number)
                if entry is None:
                    entry = table[number] = _Version(name, number, path)
                    loads.append(entry)
                elif entry.state == State.END:
                    if entry.error is None or _fingerprint(path) != entry.fingerprint:
                        entry.path, entry.error = path, None
                        self._set_state(entry, State.START, events)
                        loads.append(entry)
            for entry in loads:
                entry.fingerprint = _fingerprint(entry.path)
                self._set_state(entry, State.LOADING, events)
            self._reconcile(name, events)
        self._fire(events)
        for entry in loads:
            self._executor.submit(self._load, entry)

    def _load(self, entry: _Version) -> None:
        servable, error = None, None
        try:
            servable = self._loader(entry.name, entry.version, entry.path)
            if self._warmup and hasattr(servable, "warmup"):
                count = servable.warmup()
                if count:
                    log.info("%s version %d: %d warmup requests replayed", entry.name, entry.version, count)
        except BaseException as exc:  # noqa: BLE001 - a broken version must not take anything down
            error = errors.from_tf_error(exc)
            if servable is not None and hasattr(servable, "unload"):
                servable.unload()
            servable = None
            log.error("%s version %d failed to load from %s: %s", entry.name, entry.version, entry.path, error.message)
        events = []
        with self._lock:
            if error is not None:
                entry.error = error
                self._set_state(entry, State.END, events)
            else:
                entry.servable = servable
                self._set_state(entry, State.AVAILABLE, events)
                log.info("%s version %d is available (%s)", entry.name, entry.version, entry.path)
            self._reconcile(entry.name, events)
        self._fire(events)

    def _reconcile(self, name: str, events: list) -> None:
        """TF Serving's availability-preserving policy: unload non-aspired versions only when safe."""
        table = self._models.get(name, {})
        aspired = [e for e in table.values() if e.aspired]
        has_aspired_serving = any(e.state == State.AVAILABLE for e in aspired)
        stale = sorted((e for e in table.values() if not e.aspired and e.state == State.AVAILABLE),
                       key=lambda e: e.version)
        if not aspired or has_aspired_serving:
            to_unload = stale
        else:  # keep the newest stale version serving until an aspired one is available
            to_unload = stale[:-1]
        for entry in to_unload:
            self._set_state(entry, State.UNLOADING, events)
            threading.Thread(target=self._unload, args=(entry,), name="serving-unload", daemon=True).start()

    def _unload(self, entry: _Version) -> None:
        with self._changed:
            while entry.refs > 0:
                self._changed.wait()
            servable, entry.servable = entry.servable, None
        if servable is not None and hasattr(servable, "unload"):
            try:
                servable.unload()
            except Exception:  # noqa: BLE001
                log.exception("%s version %d: unload failed", entry.name, entry.version)
        events = []
        with self._lock:
            self._set_state(entry, State.END, events)
            log.info("%s version %d unloaded", entry.name, entry.version)
        self._fire(events)

    def _set_state(self, entry: _Version, state: State, events: list) -> None:
        entry.state = state
        events.append((entry.name, entry.version, state))
        self._changed.notify_all()

    def _fire(self, events: list) -> None:
        if not events:
            return
        with self._lock:
            listeners = list(self._listeners)
        for event in events:
            for listener in listeners:
                try:
                    listener(*event)
                except Exception:  # noqa: BLE001
                    log.exception("state listener failed on %s", event)

    # ------------------------------------------------------------------ serving

    def _resolve(self, name: str, version: int | None, label: str | None) -> _Version:
        table = self._models.get(name) or {}
        if label:
            if version is not None:
                raise errors.invalid_argument("give a version or a version label, not both")
            labels = self._labels.get(name, {})
            if label not in labels:
                raise errors.unknown_label(label)
            version = labels[label]
        if version is None:
            available = [e for e in table.values() if e.state == State.AVAILABLE]
            if not available:
                raise errors.servable_not_found(name)
            return max(available, key=lambda e: e.version)
        entry = table.get(int(version))
        if entry is None or entry.state != State.AVAILABLE:
            raise errors.servable_not_found(name, version)
        return entry

    @contextlib.contextmanager
    def acquire(self, name: str, version: int | None = None, label: str | None = None):
        """Hold a servable for one request: `with manager.acquire("digits") as servable: ...`.

        version None and no label: the latest AVAILABLE version. The version is not unloaded
        while it is held.

        Raises:
            ServingError NOT_FOUND ("Servable not found for request: Latest(name)" /
            "Specific(name, 3)"), or INVALID_ARGUMENT for an unknown label.
        """
        with self._lock:
            entry = self._resolve(name, version, label)
            entry.refs += 1
            servable = entry.servable
        try:
            yield servable
        finally:
            with self._changed:
                entry.refs -= 1
                if entry.refs == 0:
                    self._changed.notify_all()

    def resolve_version(self, name: str, version: int | None = None, label: str | None = None) -> int:
        """The version number a request for (name, version, label) would get now."""
        with self._lock:
            return self._resolve(name, version, label).version

    # ------------------------------------------------------------------ status

    def status(self, name: str, version: int | None = None) -> list[VersionStatus]:
        """The state of every version of `name` (or of one), sorted by version.

        Raises:
            ServingError NOT_FOUND: "Could not find any versions of model NAME" /
                "Could not find version V of model NAME".
        """
        with self._lock:
            table = self._models.get(name) or {}
            if not table:
                raise errors.no_versions(name)
            if version is not None:
                entry = table.get(int(version))
                if entry is None:
                    raise errors.version_not_found(name, version)
                entries = [entry]
            else:
                entries = sorted(table.values(), key=lambda e: e.version)
            return [VersionStatus(e.name, e.version, e.state, e.error) for e in entries]

    def model_names(self) -> list[str]:
        with self._lock:
            return sorted(n for n, t in self._models.items() if t)

    def available_versions(self, name: str) -> list[int]:
        with self._lock:
            return sorted(v for v, e in (self._models.get(name) or {}).items() if e.state == State.AVAILABLE)

    def wait_until_available(self, name: str, version: int | None = None, timeout: float = 10.0) -> bool:
        """Block until `name` (or its `version`) is AVAILABLE; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                table = self._models.get(name) or {}
                if version is None:
                    if any(e.state == State.AVAILABLE for e in table.values()):
                        return True
                elif table.get(int(version)) is not None and table[int(version)].state == State.AVAILABLE:
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)

    def _wait_settled(self, names, timeout: float | None) -> bool:
        """Wait until no aspired version of `names` is START / LOADING; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while True:
                busy = [
                    e for n in names for e in (self._models.get(n) or {}).values()
                    if e.aspired and e.state in (State.START, State.LOADING)
                ]
                if not busy:
                    return True
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._changed.wait(left)
