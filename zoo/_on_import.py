"""Run a function when a module has been imported: now if it already is, else right after its import.

    when_imported("keras", register_zoo_classes)   # `import zoo` then `import keras`: runs after the latter

`import zoo` imports neither Keras nor TensorFlow, yet what zoo does to them at start-up has to be
in place before they are used: the classes `keras.models.load_model` looks up by registered name
(Keras 3 imports a class's module itself only for keras' own packages), and the logical CPU
devices of $ZOO_LOGICAL_CPUS. A finder at the front of `sys.meta_path` waits for the module's
import, lets the module's own loader run it, then calls the functions. A function that raises does
not fail the import: its error becomes a warning.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import threading
import warnings
from types import ModuleType
from typing import Callable

Callback = Callable[[ModuleType], None]


def when_imported(name: str, callback: Callback) -> None:
    """Call `callback(module)` once the top-level module `name` is imported (at once if it is)."""
    module = sys.modules.get(name)
    if module is not None:
        _run(callback, module)
        return
    _FINDER.add(name, callback)


def _run(callback: Callback, module: ModuleType) -> None:
    try:
        callback(module)
    except Exception as error:  # noqa: BLE001 - never break the user's import of `module`
        warnings.warn(f"zoo: {getattr(callback, '__qualname__', callback)} after importing {module.__name__} "
                      f"failed: {error!r}", RuntimeWarning, stacklevel=2)


class _AfterImport(importlib.abc.MetaPathFinder):
    """The finder: for a watched name, the spec the other finders give, its loader wrapped."""

    def __init__(self):
        self._callbacks: dict[str, list[Callback]] = {}
        self._lock = threading.Lock()

    def add(self, name: str, callback: Callback) -> None:
        with self._lock:
            self._callbacks.setdefault(name, []).append(callback)
            if self not in sys.meta_path:
                sys.meta_path.insert(0, self)

    def find_spec(self, fullname, path=None, target=None):
        with self._lock:
            callbacks = self._callbacks.pop(fullname, None)
            if callbacks is None:
                return None
            if not self._callbacks and self in sys.meta_path:
                sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)  # the other finders (this one no longer watches it)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _ThenRun(spec.loader, callbacks)
        return spec


class _ThenRun(importlib.abc.Loader):
    """A module's own loader, then the callbacks; the module keeps its own loader as `__loader__`."""

    def __init__(self, loader, callbacks: list[Callback]):
        self.loader, self.callbacks = loader, callbacks

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        for callback in self.callbacks:
            _run(callback, module)


_FINDER = _AfterImport()
