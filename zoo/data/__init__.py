"""Data loading: the real data sets the zoo's demos, notebooks and tests train on."""

from zoo.data.digits import load_digits

__all__ = ["load_digits"]
