"""Which versions of each model should be served: polls base paths, applies version policies.

Like TensorFlow Serving's FileSystemStoragePathSource. A version is a child directory of the
model's base path whose name is a non-negative integer (`base_path/3/saved_model.pb`); anything
else (e.g. the temporary `.tmp-...` folders `zoo.export` writes into before renaming) is ignored.

Interface:

    VersionPolicy.latest(n=1) / VersionPolicy.all() / VersionPolicy.specific(versions)
    VersionPolicy.from_proto(ModelConfig.model_version_policy) / policy.to_proto()   # ServableVersionPolicy
    policy.select(available: Iterable[int]) -> list[int]        # sorted ascending
    policy.kind -> "latest" | "all" | "specific"; policy.num_versions; policy.versions

    list_versions(base_path) -> dict[int, str] | None           # version -> folder on disk now; None
                                                                # when base_path is not a folder
    ModelSource(name, base_path, policy=VersionPolicy.latest())
    source.poll() -> dict[int, str] | None                      # the versions to serve now (policy
                                                                # applied); None: base path missing
    source.missing_specific() -> list[int]                      # specific versions asked for, not on disk

    FileSystemSource(callback, poll_wait_seconds=1.0)
        callback(name: str, versions: dict[int, str]) is called with the aspired versions of each
        model after every poll (also when unchanged: the manager treats it as idempotent); not
        for a model whose base path is missing (what is loaded stays), but with {} for an existing
        base path without versions (everything is unloaded), as TF Serving.
    fs.set_models(list[ModelSource])                            # replace the watched models (reload config)
    fs.poll_once() -> {name: versions or None}                  # one synchronous poll of every model
    fs.start() / fs.stop()                                      # background thread polling every
                                                                # poll_wait_seconds (<= 0: poll once at start only)

A base path that does not exist (yet) is logged and proposes no versions; it is polled again.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass
from typing import Callable, Iterable

from tensorflow_serving.config import file_system_storage_path_source_pb2

__all__ = ["VersionPolicy", "ModelSource", "FileSystemSource", "list_versions"]

log = logging.getLogger(__name__)

_VERSION_DIR = re.compile(r"\d+")
ServableVersionPolicy = file_system_storage_path_source_pb2.FileSystemStoragePathSourceConfig.ServableVersionPolicy


@dataclass(frozen=True)
class VersionPolicy:
    """Which of the versions on disk to serve (TF Serving's ServableVersionPolicy).

    Attributes:
        kind: "latest" (the `num_versions` largest), "all", or "specific" (`versions`).
    """

    kind: str = "latest"
    num_versions: int = 1
    versions: tuple = ()

    def __post_init__(self):
        if self.kind not in ("latest", "all", "specific"):
            raise ValueError(f"version policy must be 'latest', 'all' or 'specific', got {self.kind!r}")
        if self.kind == "latest" and (isinstance(self.num_versions, bool) or int(self.num_versions) < 1):
            raise ValueError(f"latest version policy: num_versions must be >= 1, got {self.num_versions!r}")
        if self.kind == "specific":
            if not self.versions:
                raise ValueError("specific version policy: give at least one version")
            if any(int(v) < 0 for v in self.versions):
                raise ValueError(f"specific version policy: versions must be >= 0, got {list(self.versions)}")

    @classmethod
    def latest(cls, n: int = 1) -> "VersionPolicy":
        return cls("latest", int(n))

    @classmethod
    def all(cls) -> "VersionPolicy":
        return cls("all")

    @classmethod
    def specific(cls, versions: Iterable[int]) -> "VersionPolicy":
        return cls("specific", versions=tuple(sorted({int(v) for v in versions})))

    @classmethod
    def from_proto(cls, policy) -> "VersionPolicy":
        """From a `ServableVersionPolicy` (ModelConfig.model_version_policy); unset: latest 1."""
        choice = policy.WhichOneof("policy_choice") if policy is not None else None
        if choice == "all":
            return cls.all()
        if choice == "specific":
            return cls.specific(policy.specific.versions)
        if choice == "latest":
            # TF Serving: num_versions 0 (unset) means 1
            return cls.latest(policy.latest.num_versions or 1)
        return cls.latest(1)

    def to_proto(self):
        proto = ServableVersionPolicy()
        if self.kind == "all":
            proto.all.SetInParent()
        elif self.kind == "specific":
            proto.specific.versions.extend(self.versions)
        else:
            proto.latest.num_versions = self.num_versions
        return proto

    def select(self, available: Iterable[int]) -> list[int]:
        """The versions of `available` to serve, ascending."""
        versions = sorted(set(int(v) for v in available))
        if self.kind == "all":
            return versions
        if self.kind == "specific":
            wanted = set(self.versions)
            return [v for v in versions if v in wanted]
        return versions[-self.num_versions:]

    def __str__(self) -> str:
        if self.kind == "latest":
            return f"latest {self.num_versions}"
        if self.kind == "specific":
            return f"specific {list(self.versions)}"
        return "all"


def list_versions(base_path: str | os.PathLike) -> dict[int, str] | None:
    """{version: folder} of the integer-named folders of `base_path`; None when it is not a folder.

    Folders with other names (".tmp-export-3-...", "assets", "3.bak") are not versions.
    """
    base = os.fspath(base_path)
    try:
        entries = list(os.scandir(base))
    except (FileNotFoundError, NotADirectoryError):
        return None
    versions = {}
    for entry in entries:
        if _VERSION_DIR.fullmatch(entry.name) and entry.is_dir():
            versions[int(entry.name)] = entry.path
    return versions


class ModelSource:
    """One model's base path and version policy.

    Args:
        name: the model name clients ask for.
        base_path: the folder holding the version folders.
        policy: a VersionPolicy; default latest 1.
    """

    def __init__(self, name: str, base_path: str | os.PathLike, policy: VersionPolicy | None = None):
        if not name:
            raise ValueError("a model needs a name")
        self.name = name
        self.base_path = os.fspath(base_path)
        self.policy = policy or VersionPolicy.latest()
        self._warned = None

    def __repr__(self) -> str:
        return f"ModelSource({self.name!r}, {self.base_path!r}, {self.policy})"

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, ModelSource)
            and (self.name, self.base_path, self.policy) == (other.name, other.base_path, other.policy)
        )

    def __hash__(self):
        return hash((self.name, self.base_path, self.policy))

    def poll(self) -> dict[int, str] | None:
        """{version: path} to serve now; None when the base path does not exist (keep what is served)."""
        on_disk = list_versions(self.base_path)
        if on_disk is None:
            if self._warned != "missing":
                log.warning("model %s: base path %s does not exist (yet); polling again", self.name, self.base_path)
                self._warned = "missing"
            return None
        if not on_disk and self._warned != "empty":
            log.warning("model %s: no versions found under base path %s", self.name, self.base_path)
            self._warned = "empty"
        elif on_disk:
            self._warned = None
        chosen = self.policy.select(on_disk)
        return {v: on_disk[v] for v in chosen}

    def missing_specific(self) -> list[int]:
        """Versions the specific policy names that are not on disk."""
        if self.policy.kind != "specific":
            return []
        on_disk = list_versions(self.base_path) or {}
        return [v for v in self.policy.versions if v not in on_disk]


class FileSystemSource:
    """Polls models' base paths and reports their aspired versions to `callback`.

    Args:
        callback: `callback(name, {version: path})`, called for every model after every poll
            (idempotent on the receiving side). Exceptions it raises are logged, not propagated.
        poll_wait_seconds: seconds between polls of the background thread; <= 0 polls only when
            `start()` or `poll_once()` is called.
    """

    def __init__(self, callback: Callable[[str, dict], None], poll_wait_seconds: float = 1.0):
        self._callback = callback
        self.poll_wait_seconds = float(poll_wait_seconds)
        self._models: list[ModelSource] = []
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None

    @property
    def models(self) -> list[ModelSource]:
        with self._lock:
            return list(self._models)

    def set_models(self, models: Iterable[ModelSource]) -> None:
        """Replace the watched models (the next poll uses them)."""
        models = list(models)
        names = [m.name for m in models]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"model names must be unique, repeated: {duplicates}")
        with self._lock:
            self._models = models

    def poll_once(self) -> dict[str, dict[int, str] | None]:
        """Poll every model now; returns {name: aspired versions or None} as given to the callback."""
        with self._poll_lock:
            result = {}
            for model in self.models:
                try:
                    versions = model.poll()
                except OSError as error:  # e.g. permission denied: keep serving what is loaded
                    log.error("model %s: cannot list %s: %s", model.name, model.base_path, error)
                    versions = None
                result[model.name] = versions
                if versions is None:
                    continue
                try:
                    self._callback(model.name, versions)
                except Exception:  # noqa: BLE001 - a bad callback must not stop polling
                    log.exception("model %s: aspired-versions callback failed", model.name)
            return result

    def start(self) -> None:
        """Poll now, then every `poll_wait_seconds` in a daemon thread (if > 0)."""
        self.poll_once()
        if self.poll_wait_seconds <= 0 or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="serving-fs-source", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_wait_seconds):
            self.poll_once()

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=max(5.0, 2 * self.poll_wait_seconds))
