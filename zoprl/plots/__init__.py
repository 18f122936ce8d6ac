"""Figures from a tidy results table: learning curves, final metrics and rate plots.

matplotlib (Agg canvases, no pyplot state), pandas and numpy only: importing this never imports
jax, so results can be plotted on a machine without it.
"""

from __future__ import annotations

import math
from pathlib import Path

from zoprl.plots.bars import plot_final_bars
from zoprl.plots.curves import plot_learning_curves
from zoprl.plots.final import plot_final_metric
from zoprl.plots.io import MANIFEST_FILE, RESULTS_FILE, load_manifest, load_table, with_seconds
from zoprl.plots.rates import plot_rate
from zoprl.plots.save import save_figure
from zoprl.plots.style import X_LABELS

__all__ = [
    "MANIFEST_FILE",
    "RESULTS_FILE",
    "load_manifest",
    "load_table",
    "plot_final_bars",
    "plot_final_metric",
    "plot_learning_curves",
    "plot_rate",
    "plot_results",
    "save_figure",
    "with_seconds",
]


def plot_results(
    path,
    out_dir,
    metric: str = "value_gap",
    x="queries",
    formats=("png", "pdf"),
    log_y: bool = False,
) -> list[Path]:
    """Learning curves of ``metric`` against ``x`` for a results folder (a Parquet file, or a
    tidy DataFrame already loaded).

    ``x`` is one of iteration / trajectories / queries, or a list of them (one column of panels
    each). One panel per (environment, oracle) pair holding ``metric`` and per x, each drawn by
    :func:`plot_learning_curves`; with one x, at most 3 panels per row. Written to
    ``out_dir/curves_<metric>_<x>.<format>`` (x names joined by "-"); returns the written paths.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from zoprl.theory.tidy import select_metric

    xs = [x] if isinstance(x, str) else list(x)
    for name in xs:
        if name not in X_LABELS:
            raise ValueError(f"unknown x {name!r}; valid choices: {list(X_LABELS)}")
    import pandas as pd

    table = select_metric(path if isinstance(path, pd.DataFrame) else load_table(path), metric)
    facets = list(table.groupby(["environment", "oracle"], sort=True))
    panels = [(facet, name) for _, facet in facets for name in xs]
    ncols = len(xs) if len(xs) > 1 else min(len(facets), 3)
    nrows = math.ceil(len(panels) / ncols)
    fig = Figure(figsize=(6.4 * ncols, 4.6 * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (facet, name) in zip(axes, panels):
        plot_learning_curves(facet, metric, x=name, ax=ax, log_y=log_y)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    return save_figure(fig, Path(out_dir) / f"curves_{metric}_{'-'.join(xs)}", formats)
