"""Summaries of learning curves over seeds, shared by the CartPole baseline benchmarks.

Seeds are the resampling unit: an interval over seeds is the 2.5-97.5% percentile interval of the
mean over 10,000 bootstrap resamples of the seeds (fixed NumPy seed, so a rerun on the same
numbers prints the same interval). A threshold is reached at the first recorded point whose value
is >= the threshold; a seed that never reaches it is censored (reported as ``None``, never
dropped).
"""

from __future__ import annotations

import numpy as np


def bootstrap_interval(values, level: float = 0.95, resamples: int = 10_000) -> tuple:
    """(mean, low, high) of ``values`` [S] (one number per seed)."""
    values = np.asarray(values, np.float64)
    rng = np.random.default_rng(0)
    means = values[rng.integers(0, len(values), (resamples, len(values)))].mean(axis=1)
    tail = 100 * (1 - level) / 2
    return (
        float(values.mean()),
        float(np.percentile(means, tail)),
        float(np.percentile(means, 100 - tail)),
    )


def first_reach(x, curves, threshold: float) -> list:
    """Per seed, x at the first point of ``curves`` [S, R] >= ``threshold`` (None: never)."""
    out = []
    for curve in np.asarray(curves):
        hits = np.flatnonzero(curve >= threshold)
        out.append(float(np.asarray(x)[hits[0]]) if hits.size else None)
    return out


def describe(values) -> str:
    """'mean [low, high]' with the bootstrap interval over seeds."""
    mean, low, high = bootstrap_interval(values)
    return f"{mean:.1f} [{low:.1f}, {high:.1f}]"


def reach_summary(reached: list, budget: float) -> str:
    """'median M (k of S reached; censored > budget)' of ``first_reach``'s output."""
    hits = [r for r in reached if r is not None]
    censored = len(reached) - len(hits)
    # censored seeds count as > budget: the median is defined while fewer than half are censored
    ordered = sorted(hits) + [np.inf] * censored
    median = float(np.median(ordered)) if censored <= len(reached) // 2 else np.inf
    median_text = f"{median:.4g}" if np.isfinite(median) else f"> {budget:.4g}"
    return f"median {median_text} ({len(hits)} of {len(reached)} seeds reached it)"
