"""Learning curves: a metric against iterations, trajectories or human queries, mean +- CI."""

from __future__ import annotations

import numpy as np
import pandas as pd

from zoprl.plots.style import (
    X_LABELS,
    colors,
    config_keys,
    finish_axes,
    is_ceiling,
    line_names,
    metric_label,
    new_axes,
)
from zoprl.theory.tidy import (
    check_confidence,
    check_key_column,
    mean_ci,
    require_columns,
    select_metric,
)


def _check_x(x) -> str:
    if x not in X_LABELS:
        raise ValueError(f"unknown x {x!r}; valid choices: {list(X_LABELS)}")
    return x


def plot_learning_curves(
    df: pd.DataFrame,
    metric: str,
    x: str = "iteration",
    ax=None,
    hue: str = "label",
    log_y: bool = False,
    log_x: bool = False,
    confidence: float = 0.95,
):
    """Draw ``metric`` against ``x`` for every configuration; returns the Axes.

    A configuration is one combination of ``hue``, ``cell``, ``label`` and the parameter columns;
    its seeds are replicates. At each recorded iteration the curve is the mean over seeds,
    m = (1/n) sum_i v_i, with the band m +- t_{(1 + c)/2, n-1} s / sqrt(n) (s the sample standard
    deviation over the n seeds; no band when n = 1), placed at the mean over seeds of column
    ``x`` ('iteration', 'trajectories' or 'queries', all cumulative).

    Ceilings (``reads_latent_reward``) are dashed and named "(ceiling)". A configuration whose x
    never moves (a ceiling on the query axis spends no queries; an offline method spends all its
    queries up front) is drawn at its last iteration: a ceiling as a dashed horizontal line
    across the plot, any other as one point with its interval at that x. Legend names are the
    ``hue`` value plus the parameters that differ between configurations sharing it.
    """
    _check_x(x)
    require_columns(df, ("run_id", "seed", "iteration", x, "metric", "value"))
    check_key_column(df, hue, "hue")
    confidence = check_confidence(confidence)
    sub = select_metric(df, metric)
    ax = new_axes(ax)
    keys = config_keys(sub, hue)
    configs = list(sub.groupby(keys, dropna=False, sort=True))
    ceilings = [is_ceiling(group) for _, group in configs]
    table = pd.DataFrame([k if isinstance(k, tuple) else (k,) for k, _ in configs], columns=keys)
    names = line_names(table, hue, ceilings)
    for (_, group), name, ceiling, color in zip(configs, names, ceilings, colors(len(configs))):
        stats = mean_ci(group, ["iteration"], confidence=confidence)
        xs = group.groupby("iteration", sort=True)[x].mean().to_numpy(dtype=np.float64)
        mean, low, high = (stats[c].to_numpy(dtype=np.float64) for c in ("mean", "low", "high"))
        style = "--" if ceiling else "-"
        if xs.size > 1 and np.ptp(xs) > 0:
            ax.plot(xs, mean, style, color=color, label=name, linewidth=1.6)
            if (stats["n"] > 1).any():
                ax.fill_between(xs, low, high, color=color, alpha=0.2, linewidth=0)
            continue
        last = stats.iloc[-1]
        if ceiling:
            ax.axhline(last["mean"], linestyle=style, color=color, label=name, linewidth=1.6)
        else:
            err = 0.0 if np.isnan(last["half_width"]) else last["half_width"]
            ax.errorbar(
                [xs[-1]], [last["mean"]], yerr=[err], fmt="o", color=color, label=name, capsize=3
            )
    finish_axes(ax, X_LABELS[x], metric_label(metric), sub, log_x=log_x, log_y=log_y)
    return ax
