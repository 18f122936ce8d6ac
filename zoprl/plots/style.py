"""Shared plotting helpers: Agg figures, axis labels, configuration keys and legend names.

Figures are ``matplotlib.figure.Figure`` objects attached to an Agg canvas: no pyplot state, no
backend switch for the caller, nothing to close.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from zoprl.summary import short_number
from zoprl.theory.tidy import PARAM_PREFIXES, param_columns

X_LABELS = {
    "iteration": "iterations",
    "trajectories": "trajectories",
    "queries": "human queries",
    "seconds": "wall-clock seconds (compilation excluded)",
}
METRIC_LABELS = {
    "value": "J(θ), expected return",
    "value_gap": "value gap J* − J(θ)",
    "grad_norm_sq": "‖∇J(θ)‖²",
    "value_ratio": "J(θ) / J*",
}
PARAM_LABELS = {
    "static.num_pairs": "pairs per iteration N",
    "oracle.num_queries": "queries per pair M",
    "hp.mu": "perturbation radius μ",
    "hp.step_size": "step size α",
    "oracle.beta": "oracle rationality β",
    "env.slip": "transition slip",
}
CEILING = " (ceiling)"


def new_axes(ax=None, figsize=(6.4, 4.4)):
    """``ax`` itself, or the axes of a new constrained-layout Figure on an Agg canvas."""
    if ax is not None:
        if not hasattr(ax, "plot") or not hasattr(ax, "figure"):
            raise ValueError(f"ax must be a matplotlib Axes, got {type(ax).__name__}")
        return ax
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig.add_subplot()


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


def param_label(column: str) -> str:
    return PARAM_LABELS.get(column, column)


def short_name(column: str) -> str:
    """``hp.mu`` -> ``mu``."""
    return column.split(".", 1)[1] if "." in column else column


def format_value(value) -> str:
    """A legend value: short scientific notation for large and small numbers (1e-4, 2.5e6),
    integers as they are below 10^5 (``zoprl.summary.short_number``); NaN for missing."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return "NaN"
    return short_number(value)


def config_keys(frame: pd.DataFrame, hue: str, exclude: Sequence[str] = ()) -> list[str]:
    """The columns that tell configurations apart: ``hue``, ``label``, every parameter column
    with a value in ``frame``, then ``cell`` (minus ``exclude``); grouping sorts in this order."""
    keys = [hue]
    for column in ("label", *param_columns(frame), "cell"):
        if (
            column in frame.columns
            and column not in keys
            and column not in exclude
            and frame[column].notna().any()
        ):
            keys.append(column)
    return keys


def is_ceiling(group: pd.DataFrame) -> bool:
    """A configuration reads the environment's reward (``reads_latent_reward``)."""
    return "reads_latent_reward" in group.columns and bool(group["reads_latent_reward"].any())


def line_names(configs: pd.DataFrame, hue: str, ceilings: Sequence[bool]) -> list[str]:
    """Legend names: the ``hue`` value, then ``(name=value, ...)`` for the key columns that
    differ among configurations sharing that hue value (``cell`` only when no parameter
    differs), then ``(ceiling)`` for ceilings. ``configs`` has one row per configuration."""
    names = []
    for i, (_, row) in enumerate(configs.iterrows()):
        same = configs[configs[hue].astype(str) == str(row[hue])]
        differ = [c for c in configs.columns if c != hue and same[c].nunique(dropna=False) > 1]
        if any(c not in ("cell", "label") for c in differ):
            differ = [c for c in differ if c != "cell"]
        parts = [
            format_value(row[c])
            if c in ("cell", "label")
            else f"{short_name(c)}={format_value(row[c])}"
            for c in differ
        ]
        name = format_value(row[hue])
        if pd.isna(row[hue]) and "label" in configs.columns:
            name = format_value(row["label"])  # e.g. a ceiling without the hue parameter
        elif hue.startswith(PARAM_PREFIXES):
            name = f"{short_name(hue)}={name}"
        if parts:
            name += " (" + ", ".join(parts) + ")"
        names.append(name + (CEILING if ceilings[i] else ""))
    return names


def colors(count: int) -> list:
    """``count`` distinct colours: tab10, tab20 beyond 10, a viridis ramp beyond 20."""
    from matplotlib import colormaps

    if count <= 10:
        return [colormaps["tab10"](i) for i in range(count)]
    if count <= 20:
        return [colormaps["tab20"](i) for i in range(count)]
    return [colormaps["viridis"](t) for t in np.linspace(0, 1, count)]


def facet_title(frame: pd.DataFrame) -> str | None:
    """ "environment | oracle: name" when the frame holds a single one of each."""
    parts = []
    for column, prefix in (("environment", ""), ("oracle", "oracle: ")):
        if column in frame.columns and frame[column].nunique() == 1:
            parts.append(prefix + str(frame[column].iloc[0]))
    return " | ".join(parts) or None


def data_ticks(ax, values) -> None:
    """On a log x axis, label the distinct data values (up to 12) instead of powers of ten."""
    values = np.unique(np.asarray(values, dtype=np.float64))
    values = values[np.isfinite(values)]
    if 0 < values.size <= 12:
        from matplotlib.ticker import NullFormatter

        ax.set_xticks(values, labels=[format_value(v) for v in values])
        ax.xaxis.set_minor_formatter(NullFormatter())


MAX_INSIDE_LEGEND = 8


def legend(ax, title: str | None = None) -> None:
    """The legend: inside the axes for up to ``MAX_INSIDE_LEGEND`` entries, else outside on the
    right, in columns of at most 20 entries (the constrained layout makes room)."""
    handles, _ = ax.get_legend_handles_labels()
    if not handles:
        return
    if len(handles) <= MAX_INSIDE_LEGEND:
        ax.legend(fontsize="small", title=title, title_fontsize="small")
        return
    ax.legend(
        fontsize="small",
        title=title,
        title_fontsize="small",
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        borderaxespad=0.0,
        ncols=-(-len(handles) // 20),
    )


def finish_axes(
    ax,
    xlabel: str,
    ylabel: str,
    frame: pd.DataFrame,
    log_x: bool = False,
    log_y: bool = False,
    note: str | None = None,
) -> None:
    """Axis labels and scales, the facet title of ``frame``, a light grid and the legend, titled
    ``note`` (what the bands are: ``zoprl.plots.bands.band_note``)."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if log_x:
        ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    title = facet_title(frame)
    if title:
        ax.set_title(title, fontsize="medium")
    ax.grid(True, alpha=0.3)
    legend(ax, title=note)
