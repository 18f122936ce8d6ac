"""The metric at the last recorded iteration of each run, against a parameter column."""

from __future__ import annotations

import numpy as np
import pandas as pd

from zoprl.plots.bands import band_note, intervals
from zoprl.plots.style import (
    colors,
    config_keys,
    data_ticks,
    finish_axes,
    is_ceiling,
    line_names,
    metric_label,
    new_axes,
    param_label,
)
from zoprl.theory.tidy import (
    check_confidence,
    check_key_column,
    check_unique_runs,
    run_points,
)


def plot_final_metric(
    df: pd.DataFrame,
    metric: str,
    param: str,
    ax=None,
    hue: str = "label",
    log_x: bool = False,
    log_y: bool = False,
    confidence: float = 0.95,
):
    """Final ``metric`` (each run's last recorded iteration) against column ``param``.

    One line per configuration of the other columns (``hue``, ``label`` and the other parameter
    columns; ``cell`` is left out because it encodes the static settings, ``param`` among them):
    at each value of ``param`` the mean over seeds and its interval as error bars
    (``zoprl.plots.bands.intervals``: t interval from 5 seeds, bootstrap below, none for one;
    clipped to the metric's valid range). Ceilings are dashed;
    a ceiling without ``param`` (NaN, e.g. PPO on ``hp.mu``) is drawn as a dashed horizontal
    line at its mean; other configurations without ``param`` are left out. Returns the Axes.
    """
    confidence = check_confidence(confidence)
    check_key_column(df, hue, "hue")
    points = run_points(df, metric, param, "last")
    has = points[param].notna()
    if not has.any():
        raise ValueError(f"no rows of metric {metric!r} have a value for column {param!r}")
    if log_x and not (points.loc[has, param] > 0).all():
        raise ValueError(f"log_x needs {param!r} > 0, got {points.loc[has, param].min()!r}")
    keys = config_keys(points, hue, exclude=("cell", param))
    check_unique_runs(points[has], keys, param, arg="hue")
    lines = list(points[has].groupby(keys, dropna=False, sort=True))
    flat = (
        [g for _, g in points[~has].groupby(keys, dropna=False, sort=True) if is_ceiling(g)]
        if (~has).any()
        else []
    )
    ceilings = [is_ceiling(g) for _, g in lines] + [True] * len(flat)
    rows = [k if isinstance(k, tuple) else (k,) for k, _ in lines]
    rows += [tuple(g[keys].iloc[0]) for g in flat]
    names = line_names(pd.DataFrame(rows, columns=keys), hue, ceilings)
    palette = colors(len(rows))
    ax = new_axes(ax)
    for i, (_, group) in enumerate(lines):
        stats = intervals(group, [param], metric, confidence=confidence)
        xs, mean, low, high = (
            stats[c].to_numpy(dtype=np.float64) for c in (param, "mean", "low", "high")
        )
        ax.errorbar(
            xs,
            mean,
            yerr=np.nan_to_num(np.vstack([mean - low, high - mean])),
            fmt="o--" if ceilings[i] else "o-",
            color=palette[i],
            label=names[i],
            capsize=3,
            linewidth=1.4,
            markersize=4,
        )
    for j, group in enumerate(flat, start=len(lines)):
        ax.axhline(group["value"].mean(), linestyle="--", color=palette[j], label=names[j])
    finish_axes(
        ax,
        param_label(param),
        f"{metric_label(metric)} (last iteration)",
        points,
        log_x=log_x,
        log_y=log_y,
        note=band_note(confidence),
    )
    if log_x:
        data_ticks(ax, points.loc[has, param])
    return ax
