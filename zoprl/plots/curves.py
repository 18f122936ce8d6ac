"""Learning curves: a metric against iterations, trajectories or human queries, mean +- CI."""

from __future__ import annotations

import numpy as np
import pandas as pd

from zoprl.plots.bands import band_note, intervals
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
    m = (1/n) sum_i v_i, with the band of ``zoprl.plots.bands.intervals`` (t interval
    m +- t_{(1 + c)/2, n-1} s / sqrt(n) from 5 seeds, exact bootstrap for 2 to 4, none for one;
    clipped to the metric's valid range), placed at the mean over seeds of column ``x``
    ('iteration', 'trajectories', 'queries' or 'seconds'). Runs that diverged (non-finite
    values) are left out of the mean from the record where they did, marked with an x there,
    and counted in the legend ("(k/n seeds diverged)").

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
        stats = intervals(group, ["iteration"], metric, confidence=confidence)
        xs = group.groupby("iteration", sort=True)[x].mean().to_numpy(dtype=np.float64)
        name += diverged_note(group)
        _draw_curve(ax, xs, stats, name, ceiling, color)
        mark_divergence(ax, xs, stats, color)
    note = band_note(confidence)
    finish_axes(ax, X_LABELS[x], metric_label(metric), sub, log_x=log_x, log_y=log_y, note=note)
    return ax


def _draw_curve(ax, xs, stats: pd.DataFrame, name: str, ceiling: bool, color) -> None:
    """The mean with its band; a configuration whose x never moves as a horizontal line
    (ceilings) or one point with its interval (module doc of ``plot_learning_curves``)."""
    mean, low, high = (stats[c].to_numpy(dtype=np.float64) for c in ("mean", "low", "high"))
    style = "--" if ceiling else "-"
    if xs.size > 1 and np.ptp(xs) > 0:
        ax.plot(xs, mean, style, color=color, label=name, linewidth=1.6)
        if np.isfinite(low).any():
            ax.fill_between(xs, low, high, color=color, alpha=0.2, linewidth=0)
        return
    last = stats.iloc[-1]
    if ceiling:
        ax.axhline(last["mean"], linestyle=style, color=color, label=name, linewidth=1.6)
    else:
        err = [[0.0], [0.0]]
        if np.isfinite(last["low"]):
            err = [[last["mean"] - last["low"]], [last["high"] - last["mean"]]]
        ax.errorbar([xs[-1]], [last["mean"]], yerr=err, fmt="o", color=color, label=name, capsize=3)


def diverged_note(group: pd.DataFrame) -> str:
    """`` (k/n seeds diverged)`` for a configuration some of whose runs went non-finite."""
    runs = group["run_id"].nunique()
    bad = group.loc[~np.isfinite(group["value"].to_numpy(np.float64)), "run_id"].nunique()
    return f" ({bad}/{runs} seeds diverged)" if bad else ""


def mark_divergence(ax, xs, stats: pd.DataFrame, color) -> None:
    """An x at the first record where a seed diverged, at the mean of the seeds still finite
    there (else the last finite mean before); a dotted vertical line when none is finite."""
    bad = np.flatnonzero(stats["diverged"].to_numpy() > 0)
    if not bad.size:
        return
    i = bad[0]
    mean = stats["mean"].to_numpy(dtype=np.float64)
    finite = np.flatnonzero(np.isfinite(mean[: i + 1]))
    if finite.size:
        y = mean[i] if np.isfinite(mean[i]) else mean[finite[-1]]
        ax.plot([xs[i]], [y], "X", color=color, markersize=11, markeredgecolor="black", zorder=5)
    else:
        ax.axvline(xs[i], linestyle=":", color=color, linewidth=1.6)
