"""The tuning parts of a spec: search spaces of algorithm entries and the ``[tuning]`` table.

An algorithm entry may declare a search space over its hyperparameters, each a range (log or
linear) or a list of values::

    [[algorithms]]
    name = "zpg"
    search = { step_size = { low = 0.01, high = 1.0 },            # log scale by default
               mu = { low = 0.5, high = 4.0, log = false },
               clip_range = { values = [1.0, 3.0, 10.0] } }

and the top-level ``[tuning]`` table says how ``zoprl tune`` spends the same effort on every
method (``zoprl.tuning``)::

    [tuning]
    points = 16                  # configurations per method (its grid of one compiled program)
    design = "quasi_random"      # or "grid" (the same number of values on every axis)
    seeds = 4                    # tuning seeds; evaluation reruns on `seeds` fresh ones
    metric = "value_gap"         # the selection metric
    goal = "min"                 # or "max" (default: known for zoprl's metrics)
    criterion = "final"          # the metric at the budget; "auc": its mean over the run
    budget = { queries = 96000 } # or trajectories / iteration; default: the last record

Everything is validated here, in Python, with one-line ``SpecError`` messages.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DESIGNS = ("quasi_random", "grid")
CRITERIA = ("final", "auc")
BUDGET_AXES = ("queries", "trajectories", "iteration")
GOALS = {
    "value_gap": "min",
    "grad_norm_sq": "min",
    "value": "max",
    "value_ratio": "max",
    "gap_closed": "max",
    "gap": "min",
    "duality_gap": "min",
}
"""The direction of improvement of zoprl's metrics (other metrics need ``goal``)."""


def _error(message: str):
    from zoprl.experiment.spec import SpecError

    return SpecError(message)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_search(where: str, raw) -> dict:
    """A search space: name -> {low, high, log} or {values}; returns it normalised (log True
    by default for ranges, values a list of numbers)."""
    if not isinstance(raw, Mapping):
        raise _error(f"{where} must be a table of hyperparameter = {{ low, high }}, got {raw!r}")
    out = {}
    for name, dim in raw.items():
        place = f"{where}.{name}"
        if not isinstance(dim, Mapping):
            raise _error(
                f"{place} must be {{ low = ..., high = ... }} or {{ values = [...] }}, got {dim!r}"
            )
        unknown = sorted(set(dim) - {"low", "high", "log", "values"})
        if unknown:
            raise _error(f"{place}: unknown key {unknown[0]!r}; valid: low, high, log, values")
        if "values" in dim:
            values = dim["values"]
            if (
                set(dim) != {"values"}
                or not isinstance(values, list)
                or not values
                or not all(_is_number(v) for v in values)
            ):
                raise _error(
                    f"{place}.values must be a non-empty list of numbers alone, got {dim!r}"
                )
            out[name] = {"values": list(values)}
            continue
        low, high, log = dim.get("low"), dim.get("high"), dim.get("log", True)
        if not (_is_number(low) and _is_number(high)) or not low < high:
            raise _error(f"{place} needs numbers low < high, got low={low!r}, high={high!r}")
        if not math.isfinite(low) or not math.isfinite(high):
            raise _error(f"{place}: low and high must be finite, got {low!r}, {high!r}")
        if not isinstance(log, bool):
            raise _error(f"{place}.log must be true or false, got {log!r}")
        if log and low <= 0:
            raise _error(f"{place}: a log-scale range needs low > 0, got {low!r}")
        out[name] = {"low": float(low), "high": float(high), "log": log}
    return out


@dataclass(frozen=True)
class TuningSpec:
    """How ``zoprl tune`` tunes every method with the same effort (module doc)."""

    points: int = 16
    design: str = "quasi_random"
    seeds: int = 4
    metric: str = "value_gap"
    goal: str | None = None
    criterion: str = "final"
    budget: Mapping[str, Any] = field(default_factory=dict)

    @property
    def resolved_goal(self) -> str:
        return self.goal or GOALS[self.metric]


def tuning_from_dict(where: str, raw) -> TuningSpec:
    """The validated ``[tuning]`` table."""
    from zoprl.experiment.spec import check_count

    if not isinstance(raw, Mapping):
        raise _error(f"{where} must be a table, got {raw!r}")
    valid = {"points", "design", "seeds", "metric", "goal", "criterion", "budget"}
    unknown = sorted(set(raw) - valid)
    if unknown:
        from zoprl.experiment.spec import unknown_key

        raise unknown_key(where, unknown[0], valid)
    values = dict(raw)
    for key in ("points", "seeds"):
        if key in values:
            values[key] = check_count(f"{where}.{key}", values[key])
    for key, choices in (("design", DESIGNS), ("criterion", CRITERIA), ("goal", ("min", "max"))):
        if values.get(key) is not None and values[key] not in choices:
            raise _error(f"{where}.{key} must be one of {', '.join(choices)}, got {values[key]!r}")
    metric = values.get("metric", "value_gap")
    if not isinstance(metric, str) or not metric:
        raise _error(f"{where}.metric must be a metric name, got {metric!r}")
    if values.get("goal") is None and metric not in GOALS:
        raise _error(f'{where}: give goal = "min" or "max" for the metric {metric!r}')
    budget = values.get("budget", {})
    if (
        not isinstance(budget, Mapping)
        or len(budget) > 1
        or any(k not in BUDGET_AXES or not _is_number(v) or v <= 0 for k, v in budget.items())
    ):
        raise _error(
            f"{where}.budget must be one of {{ queries | trajectories | iteration = "
            f"a positive number }}, got {budget!r}"
        )
    values["budget"] = dict(budget)
    return TuningSpec(**values)


__all__ = [
    "BUDGET_AXES",
    "CRITERIA",
    "DESIGNS",
    "GOALS",
    "TuningSpec",
    "check_search",
    "tuning_from_dict",
]
