"""TensorFlow-Serving-compatible serving for SavedModels: the server, the gateway and the client.

    import serving
    with serving.serve(models_dir="models/", port=8500, rest_api_port=8501) as server: ...
    client = serving.Client("localhost:8500")
    client.predict("digits", images)

`python -m serving` (or `zoo serve MODELS_DIR`) runs the server with tensorflow_model_server's
flags; see serving.cli. Serving reads only SavedModels from disk and never imports `zoo` (DESIGN.md,
data flow). Importing this package is cheap: the names below load their modules (and TensorFlow,
which the API protos need) on first use.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "Client": "serving.client",
    "Server": "serving.grpc_server",
    "ModelServer": "serving.backend",
    "serve": "serving.grpc_server",
    "Gateway": "serving.gateway",
    "ServingError": "serving.errors",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'serving' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + __all__)
