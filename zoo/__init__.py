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

Speed: `import zoo` sets three TensorFlow variables unless they are set already: the C++ log level
(`TF_CPP_MIN_LOG_LEVEL=2`), TensorFlow's CPU buffer pool (`TF_CPU_ALLOCATOR_USE_BFC=true`) and
oneDNN's kernels (`TF_ENABLE_ONEDNN_OPTS=1`, which TensorFlow leaves off on CPUs without AVX-512
VNNI). They apply to a process that imports zoo before TensorFlow; a training step on these
machines is 1.2-2.5x faster with them for most models (conv1d 0.9x; one-example inference calls are
slower with oneDNN: the table is in zoo._tf_settings), and the process keeps its peak working set. Set a variable yourself (`TF_ENABLE_ONEDNN_OPTS=0`,
`TF_CPU_ALLOCATOR_USE_BFC=false`) for TensorFlow's default. The model server (`python -m serving`,
`zoo serve`) drops the pool and oneDNN when zoo chose them, so a server started from such a process
still gives big requests' memory back (`serving.memory`).
"""

import os as _os

from zoo import _tf_settings  # noqa: E402

# before TensorFlow is imported (see "Speed" in the module doc and zoo._tf_settings)
_tf_settings.apply()

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
