"""Rate plots: log-log points with the fitted slope, its bootstrap interval and the prediction."""

from __future__ import annotations

import numpy as np

from zoprl.plots.style import colors, data_ticks, legend, metric_label, new_axes, param_label
from zoprl.theory.rates import predicted_rate
from zoprl.theory.slopes import bootstrap_slope
from zoprl.theory.tidy import (
    check_column,
    check_confidence,
    check_key_column,
    check_unique_runs,
    mean_ci,
    require_columns,
    require_frame,
    run_points,
)


def _points(data, x: str, metric: str, hue: str | None, reduce: str):
    """(points, y column, hue column or None) from a tidy table or a points table."""
    require_frame(data, "df_or_points")
    if {"metric", "value"} <= set(data.columns):
        points = run_points(data, metric, x, reduce)
        points = points[points[x].notna()]
        if points.empty:
            raise ValueError(f"no rows of metric {metric!r} have a value for column {x!r}")
        if hue is not None:
            check_key_column(points, hue, "hue")
        check_unique_runs(points, [hue] if hue else [], x, arg="hue")
        return points, "value", hue
    check_column(data, x)
    require_columns(data, (metric,), "points table")
    return data, metric, (hue if hue in data.columns else None)


def _check_expected_slope(expected_slope):
    """The slope of the reference line: None, the slope of a rate name in ``PREDICTED_RATES``,
    or the finite number itself; anything else raises ValueError."""
    if expected_slope is None:
        return None
    if isinstance(expected_slope, str):
        return predicted_rate(expected_slope).slope
    if (
        isinstance(expected_slope, bool)
        or not isinstance(expected_slope, (int, float, np.floating))
        or not np.isfinite(expected_slope)
    ):
        raise ValueError(f"expected_slope must be a number or a rate name, got {expected_slope!r}")
    return expected_slope


def _plot_series(ax, group, x: str, y: str, name, color, confidence, num_resamples: int, seed: int):
    """Draw one series: the mean of ``y`` over seeds at each x with t intervals (lower ends cut
    short of zero) and the fitted power law exp(intercept) x^slope, labelled with the slope and
    its bootstrap interval over seeds. Returns (log x, log mean) of the plotted points."""
    has_seed = "seed" in group.columns and group["seed"].nunique() > 1
    fit = bootstrap_slope(
        group[x].to_numpy(),
        group[y].to_numpy(),
        group["seed"].to_numpy() if has_seed else None,
        num_resamples,
        confidence,
        seed,
        fit="means",
    )
    stats = mean_ci(group, [x], value=y, confidence=confidence)
    xs, mean = stats[x].to_numpy(dtype=np.float64), stats["mean"].to_numpy()
    half = np.nan_to_num(stats["half_width"].to_numpy(dtype=np.float64))
    lower = np.minimum(half, mean * (1 - 1e-9))
    prefix = "" if name is None else f"{name}: "
    ax.errorbar(
        xs,
        mean,
        yerr=[lower, half],
        fmt="o",
        color=color,
        capsize=3,
        label=f"{prefix}slope {fit.slope:.2f} [{fit.low:.2f}, {fit.high:.2f}]",
    )
    grid = np.geomspace(xs.min(), xs.max(), 50)
    ax.plot(grid, np.exp(fit.intercept) * grid**fit.slope, "-", color=color, linewidth=1.4)
    return np.log(xs), np.log(mean)


def _plot_expected(ax, expected_slope, log_x, log_y) -> None:
    """A dotted line of slope ``expected_slope`` through (exp mean log x, exp mean log y),
    spanning the range of x."""
    cx, cy = np.exp(np.mean(log_x)), np.exp(np.mean(log_y))
    lo, hi = np.exp(np.min(log_x)), np.exp(np.max(log_x))
    grid = np.geomspace(lo, hi, 50)
    ax.plot(
        grid,
        cy * (grid / cx) ** expected_slope,
        ":",
        color="black",
        linewidth=1.4,
        label=f"expected slope {expected_slope:+g}",
    )


def plot_rate(
    df_or_points,
    x: str,
    metric: str,
    expected_slope: float | str | None = None,
    ax=None,
    hue: str | None = "label",
    reduce: str = "last",
    confidence: float = 0.95,
    num_resamples: int = 2000,
    seed: int = 0,
):
    """Log-log plot of the per-x mean of ``metric`` against ``x``, with its fitted power law.

    ``df_or_points`` is a tidy results table (rows of ``metric``, one value per run by
    ``reduce``, see ``zoprl.theory.tidy.run_points``) or a points table with columns ``x``,
    ``metric`` (the y values) and optionally ``seed`` (and ``hue``: ignored when a points table
    lacks it; ``hue=None`` draws one series). Per series (value of ``hue``): points are
    the mean over seeds at each x with t intervals (lower ends that would cross zero are cut at
    the axis); the fitted line is y = exp(intercept) x^slope, the least-squares fit of
    log(mean y) on log x, and the legend gives slope [low, high], the percentile interval of a
    bootstrap over seeds (``zoprl.theory.bootstrap_slope``, fit='means'). ``expected_slope``
    (a number or a name in ``PREDICTED_RATES``) is drawn as a dotted reference line of that slope
    through the geometric centre of all plotted means, (exp mean log x, exp mean log y).
    Returns the Axes.
    """
    confidence = check_confidence(confidence)
    expected_slope = _check_expected_slope(expected_slope)
    points, y, hue = _points(df_or_points, x, metric, hue, reduce)
    series = list(points.groupby(hue, sort=True)) if hue else [(None, points)]
    ax = new_axes(ax)
    centre_x, centre_y = [], []
    for (name, group), color in zip(series, colors(len(series))):
        log_x, log_y = _plot_series(ax, group, x, y, name, color, confidence, num_resamples, seed)
        centre_x.extend(log_x)
        centre_y.extend(log_y)
    if expected_slope is not None:
        _plot_expected(ax, expected_slope, centre_x, centre_y)
    ax.set_xscale("log")
    ax.set_yscale("log")
    data_ticks(ax, points[x])
    ax.set_xlabel(param_label(x))
    ax.set_ylabel(metric_label(metric) if y == "value" else metric)
    ax.grid(True, which="both", alpha=0.3)
    legend(ax)
    ax.set_title(f"{int(round(100 * confidence))}% bootstrap CI over seeds", fontsize="small")
    return ax
