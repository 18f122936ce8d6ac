"""Final metric per category (e.g. per oracle link) and method, as grouped bars."""

from __future__ import annotations

import numpy as np
import pandas as pd

from zoprl.plots.bands import intervals
from zoprl.plots.style import MAX_INSIDE_LEGEND, colors, legend, metric_label, new_axes
from zoprl.theory.tidy import check_confidence, check_key_column, run_points


def plot_final_bars(
    df: pd.DataFrame,
    metric: str,
    group: str = "oracle",
    ax=None,
    hue: str = "label",
    confidence: float = 0.95,
):
    """Bars of the final ``metric`` (each run's last recorded iteration): one cluster per value of
    column ``group``, one bar per ``hue`` value, height the mean over seeds, error bar its
    interval (``zoprl.plots.bands.intervals``: t interval from 5 seeds, bootstrap below;
    clipped to the metric's valid range). Ceilings are hatched. Returns the Axes."""
    confidence = check_confidence(confidence)
    check_key_column(df, hue, "hue")
    check_key_column(df, group, "group")
    points = run_points(df, metric, "iteration", "last")  # carries the group column along
    stats = intervals(points, [group, hue], metric, confidence=confidence)
    ceilings = (
        points.groupby(hue)["reads_latent_reward"].any()
        if "reads_latent_reward" in points.columns
        else pd.Series(False, index=pd.unique(points[hue]))
    )
    groups = sorted(pd.unique(stats[group]), key=str)
    hues = list(pd.unique(points[hue]))
    ax = new_axes(ax, figsize=(max(6.4, 1.6 * len(groups) + 2), 4.4))
    width = 0.8 / max(1, len(hues))
    for i, (name, color) in enumerate(zip(hues, colors(len(hues)))):
        rows = stats[stats[hue] == name].set_index(group)
        at = [j for j, g in enumerate(groups) if g in rows.index]
        sel = rows.loc[[groups[j] for j in at]]
        err = np.vstack([sel["mean"] - sel["low"], sel["high"] - sel["mean"]])
        ax.bar(
            np.asarray(at) + (i - (len(hues) - 1) / 2) * width,
            sel["mean"],
            width,
            yerr=np.nan_to_num(err),
            capsize=3,
            color=color,
            hatch="//" if bool(ceilings.get(name, False)) else None,
            label=str(name) + (" (ceiling)" if bool(ceilings.get(name, False)) else ""),
        )
    ax.set_xticks(range(len(groups)), labels=[str(g) for g in groups])
    ax.set_xlabel(group)
    ax.set_ylabel(f"final {metric_label(metric)}")
    ax.grid(True, axis="y", alpha=0.3)
    top = float(np.nanmax(stats["high"].fillna(stats["mean"])))
    if top > 0:
        ax.set_ylim(top=1.3 * top)  # room for the legend above the bars
    if len(hues) > MAX_INSIDE_LEGEND:
        legend(ax)  # outside the axes
    else:
        ax.legend(fontsize="small", loc="upper center", ncols=min(3, len(hues)))
    return ax
