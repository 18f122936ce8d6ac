"""Design points of a search space: the configurations ``zoprl tune`` tries for one method.

A search space maps hyperparameter names to a range {low, high, log} or a list {values}
(``zoprl.experiment.tuning_spec``). A design of n points is a list of n dicts name -> value:

quasi_random  the first n points of the R2 low-discrepancy sequence in [0, 1)^d (Roberts 2018:
              u_i = frac(1/2 + i alpha), alpha_j = phi_d^-j, phi_d the unique positive root of
              x^(d+1) = x + 1), mapped onto each axis: low (high / low)^u on a log axis,
              low + u (high - low) on a linear one, values[floor(u m)] for a list of m values.
              Every method gets exactly n configurations: the same tuning effort whatever the
              dimension of its space, deterministic (no seed).
grid          k = max(2, round(n^(1/d))) values per axis, evenly spaced on its scale with both
              ends included (lists: their values), all k^d combinations.

``position(value, dim)`` is where a value sits on its axis, in [0, 1]: chosen values within
``EDGE`` of 0 or 1 are on the edge of their range (the optimum may lie outside it).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

EDGE = 0.1
SIGNIFICANT_DIGITS = 3


def _golden(dimension: int) -> float:
    """The positive root of x^(d+1) = x + 1 (Newton from 2)."""
    x = 2.0
    for _ in range(64):
        x -= (x ** (dimension + 1) - x - 1) / ((dimension + 1) * x**dimension - 1)
    return x


def r2_sequence(count: int, dimension: int) -> np.ndarray:
    """The first ``count`` points of the R2 sequence in [0, 1)^d, shape [count, d]."""
    phi = _golden(dimension)
    alpha = phi ** -np.arange(1, dimension + 1)
    return np.mod(0.5 + np.arange(1, count + 1)[:, None] * alpha[None, :], 1.0)


def significant(value: float, digits: int = SIGNIFICANT_DIGITS) -> float:
    """``value`` rounded to ``digits`` significant digits (readable specs, tables and plots)."""
    if value == 0 or not math.isfinite(value):
        return value
    return float(f"{value:.{digits}g}")


def from_unit(u: float, dim: dict):
    """The value at position u in [0, 1) of an axis (module doc), to 3 significant digits."""
    if "values" in dim:
        values = dim["values"]
        return values[min(int(u * len(values)), len(values) - 1)]
    low, high = dim["low"], dim["high"]
    if dim["log"]:
        return significant(low * (high / low) ** u)
    return significant(low + u * (high - low))


def axis_values(dim: dict, count: int) -> list:
    """``count`` values evenly spaced on an axis, both ends included (a list: its values)."""
    if "values" in dim:
        return list(dim["values"])
    return [
        from_unit(u, dim) if u < 1 else significant(dim["high"])
        for u in np.linspace(0.0, 1.0, count)
    ]


def position(value, dim: dict) -> float:
    """Where ``value`` sits on its axis, in [0, 1] (a list: its index over m - 1)."""
    if "values" in dim:
        values = dim["values"]
        return values.index(value) / max(1, len(values) - 1)
    low, high = dim["low"], dim["high"]
    if dim["log"]:
        return math.log(value / low) / math.log(high / low)
    return (value - low) / (high - low)


def design_points(search: dict, count: int, design: str = "quasi_random") -> list[dict]:
    """The configurations of a search space (module doc); [{}] for an empty space."""
    names = sorted(search)
    if not names:
        return [{}]
    if design == "grid":
        per_axis = max(2, round(count ** (1.0 / len(names))))
        axes = [axis_values(search[name], per_axis) for name in names]
        return [dict(zip(names, combo)) for combo in itertools.product(*axes)]
    if design != "quasi_random":
        raise ValueError(f"unknown design {design!r}; valid: quasi_random, grid")
    unit = r2_sequence(count, len(names))
    return [{name: from_unit(u, search[name]) for name, u in zip(names, row)} for row in unit]


def on_edge(value, dim: dict) -> bool:
    """Whether a chosen value is within ``EDGE`` of either end of its axis."""
    where = position(value, dim)
    return where <= EDGE or where >= 1.0 - EDGE


__all__ = [
    "EDGE",
    "axis_values",
    "design_points",
    "from_unit",
    "on_edge",
    "position",
    "r2_sequence",
]
