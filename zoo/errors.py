"""Errors a user can cause, each naming what was wrong and what would be right."""


class ZooError(Exception):
    """Base class of the zoo's own errors."""


class UnknownModelError(ZooError, KeyError):
    """A model name that is not in the registry."""

    def __str__(self):  # KeyError would quote the message
        return str(self.args[0])


class InvalidArgumentError(ZooError, ValueError):
    """An argument with a bad value (num_classes, input_shape, an override)."""


class WeightsError(ZooError, ValueError):
    """A weight file that cannot be read, or does not fit the model."""


class WeightsUnavailableError(ZooError, OSError):
    """Published weights that could not be found locally nor downloaded."""


class CheckpointError(ZooError, RuntimeError):
    """Checkpoints exist in a checkpoint_dir and none of them can be restored."""


class DatasetUnavailableError(ZooError, OSError):
    """A data set that is neither bundled nor found locally, and could not be downloaded (or was corrupt)."""
