"""Interval bands of the figures: mean over seeds with an interval that stays readable.

``intervals(frame, keys)`` gives per group of ``keys`` the mean of ``value`` over seeds and a
``confidence`` interval: the t interval m +- t_{(1 + c)/2, n-1} s / sqrt(n) from 5 seeds on;
with 2 to 4 seeds (where the t quantile is 2.8 to 12.7 and the t interval spans far beyond the
data) the exact percentile bootstrap of the mean: the (1 - c)/2 and (1 + c)/2 quantiles of the
means of all n^n resamples with replacement, which lie within the seeds' range; no interval for
one seed. Non-finite values (diverged runs) are left out and counted in ``diverged``. Bounds are
clipped to the metric's valid range (``METRIC_RANGES``: a value gap or a squared norm cannot be
negative, a probability lies in [0, 1]).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from zoprl.theory.tidy import check_confidence, t_quantile

MIN_T_SEEDS = 5
METRIC_RANGES = {
    "value_gap": (0.0, np.inf),
    "grad_norm_sq": (0.0, np.inf),
    "value_stderr": (0.0, np.inf),
    "gradient_norm": (0.0, np.inf),
}


def band_note(confidence: float = 0.95) -> str:
    """What the bands and error bars are, for a legend title."""
    return f"{round(100 * confidence)}% intervals over seeds (t; bootstrap below 5 seeds)"


def metric_range(metric: str) -> tuple[float, float]:
    """The valid range of ``metric``: ``METRIC_RANGES``, [0, 1] for probabilities, else none."""
    if metric in METRIC_RANGES:
        return METRIC_RANGES[metric]
    if metric.endswith(("probability", "_prob", "accuracy")):
        return (0.0, 1.0)
    return (-np.inf, np.inf)


def bootstrap_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """The exact percentile bootstrap interval of the mean of a few ``values`` (module doc)."""
    n = len(values)
    means = np.asarray(list(itertools.product(values, repeat=n))).mean(axis=1)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def _interval(values: np.ndarray, confidence: float) -> tuple[float, float, float]:
    n = len(values)
    if n == 0:
        return np.nan, np.nan, np.nan
    mean = float(values.mean())
    if n == 1:
        return mean, np.nan, np.nan
    if n < MIN_T_SEEDS:
        return (mean, *bootstrap_interval(values, confidence))
    half = float(t_quantile(confidence, n - 1) * values.std(ddof=1) / np.sqrt(n))
    return mean, mean - half, mean + half


def intervals(
    frame: pd.DataFrame,
    keys: list[str],
    metric: str = "",
    value: str = "value",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Per group of ``keys`` (sorted): ``mean``, ``low``, ``high`` (module doc), ``n`` finite
    values and ``diverged`` non-finite ones; ``half_width`` the larger distance to a bound."""
    confidence = check_confidence(confidence)
    lowest, highest = metric_range(metric)
    rows = []
    for key, group in frame.groupby(list(keys), dropna=False, sort=True):
        raw = group[value].to_numpy(np.float64)
        finite = raw[np.isfinite(raw)]
        mean, low, high = _interval(finite, confidence)
        if not np.isnan(low):
            low, high = max(low, lowest), min(high, highest)
        rows.append(
            (*(key if isinstance(key, tuple) else (key,)), mean, low, high, len(finite), len(raw))
        )
    out = pd.DataFrame(rows, columns=[*keys, "mean", "low", "high", "n", "total"])
    out["diverged"] = out["total"] - out["n"]
    out["half_width"] = np.fmax(out["mean"] - out["low"], out["high"] - out["mean"])
    return out.drop(columns="total")
