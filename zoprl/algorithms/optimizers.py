"""Optimisers by name, built with learning rate 1: the step size stays a swept hyperparameter.

A factory's ``optimizer`` setting may be one of these names (what a spec gives) or any optax
``GradientTransformation`` built with learning rate 1 (what Python code may pass).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Union

import optax

OPTIMIZERS: dict[str, Callable[[], optax.GradientTransformation]] = {
    "sgd": lambda: optax.sgd(1.0),
    "momentum": lambda: optax.sgd(1.0, momentum=0.9),
    "adam": lambda: optax.adam(1.0),
}

Optimizer = Union[str, optax.GradientTransformation, None]  # noqa: UP007 (a runtime alias)


def resolve_optimizer(optimizer: Optimizer, default: str) -> optax.GradientTransformation:
    """The transformation named by ``optimizer`` (``default`` when None), or ``optimizer``."""
    name = default if optimizer is None else optimizer
    if isinstance(name, str):
        if name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")
        return OPTIMIZERS[name]()
    if not isinstance(name, optax.GradientTransformation):
        raise ValueError(
            f"optimizer must be a name ({', '.join(OPTIMIZERS)}) or an optax "
            f"GradientTransformation, got {name!r}"
        )
    return name


__all__ = ["OPTIMIZERS", "Optimizer", "resolve_optimizer"]
