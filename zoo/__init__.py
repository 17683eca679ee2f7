"""zoo: a TensorFlow/Keras model zoo for images, sequences and graphs, with serving.

    >>> import zoo
    >>> zoo.list_models("densenet*")
    ['densenet121', 'densenet169', 'densenet201', 'densenet264']
    >>> model = zoo.build("densenet121", num_classes=5, input_shape=(96, 96, 3))
"""

import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from zoo.training.strategies import apply_logical_cpus_from_environment  # noqa: E402

apply_logical_cpus_from_environment()  # $ZOO_LOGICAL_CPUS, before data or models start TensorFlow

from zoo.build import build  # noqa: E402
from zoo.cards import ModelCard, PretrainedWeights  # noqa: E402
from zoo.errors import (  # noqa: E402
    CheckpointError,
    InvalidArgumentError,
    UnknownModelError,
    WeightsError,
    WeightsUnavailableError,
    ZooError,
)
from zoo.pretrained import preprocess_input  # noqa: E402
from zoo.export import export  # noqa: E402
from zoo.finetune import freeze, reset_head, unfreeze  # noqa: E402
from zoo.training import evaluate, fit  # noqa: E402
from zoo.saving import ZooModel, load_model  # noqa: E402
from zoo.registry import card, is_model, list_models, register, register_model  # noqa: E402

__version__ = "0.1.0"

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
