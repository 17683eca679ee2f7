"""Packages whose public names are imported on first use (PEP 562), so `import zoo` stays cheap.

    # at the end of zoo/__init__.py
    make_lazy(__name__, {"build": "zoo.build", "fit": "zoo.training", ...})

`zoo.build` then imports `zoo.build` (and Keras, TensorFlow) the first time it is read, and
`zoo.data`, `zoo.models`, ... (any submodule) load the same way. A name may be both a function and
the module defining it (`zoo.build` the function, zoo/build.py its module): importing the module,
from anywhere, does not replace the function (the import system binds each submodule as an
attribute of its package; a `LazyModule` keeps its lazy names instead).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types


class LazyModule(types.ModuleType):
    """A package module whose `_lazy_names` ({name: module}) load on first attribute access."""

    _lazy_names: dict[str, str]

    def __getattr__(self, name: str):
        lazy = self.__dict__.get("_lazy_names", {})
        if name in lazy:
            value = getattr(importlib.import_module(lazy[name]), name)
        elif not name.startswith("_") and importlib.util.find_spec(f"{self.__name__}.{name}") is not None:
            value = importlib.import_module(f"{self.__name__}.{name}")
        else:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        types.ModuleType.__setattr__(self, name, value)
        return value

    def __setattr__(self, name: str, value) -> None:
        if isinstance(value, types.ModuleType) and name in self.__dict__.get("_lazy_names", {}) \
                and value.__name__ == f"{self.__name__}.{name}":
            return  # the import system binding submodule zoo.build: the name stays zoo.build the function
        types.ModuleType.__setattr__(self, name, value)

    def __dir__(self):
        return sorted(set(self.__dict__) | set(self.__dict__.get("_lazy_names", {})))


def make_lazy(module_name: str, names: dict[str, str]) -> None:
    """Turn the (already executing) module `module_name` into a `LazyModule` serving `names`.

    Args:
        module_name: the package's `__name__`.
        names: {public name: the module that defines it}, e.g. {"build": "zoo.build"}.
    """
    module = sys.modules[module_name]
    module.__class__ = LazyModule
    types.ModuleType.__setattr__(module, "_lazy_names", dict(names))
