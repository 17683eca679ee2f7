"""zoo: a TensorFlow/Keras model zoo for images, sequences and graphs, with serving.

    >>> import zoo
    >>> zoo.list_models("densenet*")
    ['densenet121', 'densenet169', 'densenet201', 'densenet264']
    >>> model = zoo.build("densenet121", num_classes=5, input_shape=(96, 96, 3))

`import zoo` imports neither TensorFlow nor Keras: the registry answers from the card index
(zoo/card_index.json), and `zoo.build`, `zoo.fit`, `zoo.export`, ... load their modules (and
Keras) the first time they are used. When Keras is imported (now, if it already is), zoo registers
`ZooModel` and the building blocks of `layers` with it, so `keras.models.load_model` reads zoo
models; when TensorFlow is, `$ZOO_LOGICAL_CPUS` is applied (see zoo.training.strategies).

Memory: `import zoo` sets `TF_CPU_ALLOCATOR_USE_BFC=true` unless it is set already (`false` turns it
off). TensorFlow reads it when it makes its first CPU tensor, so it applies to every process that
imports zoo before running a TensorFlow op. TensorFlow's default CPU allocator is malloc, which
gives each buffer over 32 MB fresh pages from the kernel and returns them when the tensor is freed;
a training step on a large graph or a wide input pays those page faults again in every step
(GraphSAGE on PROTEINS merged into one batch: 137 ms a step, 60 ms with the pool; GCN on CiteSeer
140 -> 87 ms). The BFC pool keeps freed buffers for the next step, so the process holds its peak
working set (limit: `TF_CPU_BFC_MEM_LIMIT_IN_MB`, TensorFlow's default 64 GB), and
`tf.config.experimental.get_memory_info("CPU:0")` reports current and peak bytes. The model server
(`python -m serving`, `zoo serve`) drops the setting when zoo made it, so a server started from such
a process still gives big requests' memory back (`serving.memory`).
"""

import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow's CPU tensors come from its BFC pool rather than from malloc, which maps and faults in
# fresh pages for every large buffer of every step (see "Memory" in the module doc). The marker tells
# the model server (serving.cli), which a process with these variables may start, that the user did
# not ask for the pool: the server gives a big request's memory back instead (serving.memory).
if "TF_CPU_ALLOCATOR_USE_BFC" not in _os.environ:
    _os.environ["TF_CPU_ALLOCATOR_USE_BFC"] = "true"
    _os.environ["ZOO_SET_TF_CPU_ALLOCATOR_USE_BFC"] = "1"

from zoo._lazy import make_lazy as _make_lazy  # noqa: E402
from zoo._on_import import when_imported as _when_imported  # noqa: E402
from zoo.cards import ModelCard, PretrainedWeights  # noqa: E402
from zoo.errors import (  # noqa: E402
    CheckpointError,
    InvalidArgumentError,
    UnknownModelError,
    WeightsError,
    WeightsUnavailableError,
    ZooError,
)
from zoo.registry import card, is_model, list_models, register, register_model  # noqa: E402

__version__ = "0.1.0"

# Names that import Keras or TensorFlow, and the module of each (loaded on first use).
_LAZY = {
    "build": "zoo.build",
    "fit": "zoo.training",
    "evaluate": "zoo.training",
    "export": "zoo.export",
    "load_model": "zoo.saving",
    "ZooModel": "zoo.saving",
    "freeze": "zoo.finetune",
    "unfreeze": "zoo.finetune",
    "reset_head": "zoo.finetune",
    "preprocess_input": "zoo.pretrained",
}

__all__ = [
    "build",
    "fit",
    "evaluate",
    "export",
    "load_model",
    "ZooModel",
    "freeze",
    "unfreeze",
    "reset_head",
    "card",
    "is_model",
    "list_models",
    "register",
    "register_model",
    "preprocess_input",
    "ModelCard",
    "PretrainedWeights",
    "ZooError",
    "CheckpointError",
    "UnknownModelError",
    "InvalidArgumentError",
    "WeightsError",
    "WeightsUnavailableError",
]


def _register_with_keras(keras_module) -> None:
    """`ZooModel` and the layers of `layers`, registered by name for `keras.models.load_model`."""
    import layers  # noqa: F401
    import zoo.saving  # noqa: F401


def _apply_logical_cpus(tensorflow_module) -> None:
    """$ZOO_LOGICAL_CPUS, before data or models start TensorFlow's devices."""
    if _os.environ.get("ZOO_LOGICAL_CPUS", "").strip():
        from zoo.training.strategies import apply_logical_cpus_from_environment

        apply_logical_cpus_from_environment()


_make_lazy(__name__, _LAZY)
_when_imported("tensorflow", _apply_logical_cpus)
_when_imported("keras", _register_with_keras)
