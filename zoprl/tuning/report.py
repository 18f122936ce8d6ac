"""What ``zoprl tune`` writes besides its two sweeps: the tuned spec, the table of chosen values
and the sensitivity figure (``protocol`` module doc). Figures come from tables only (no jax)."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import yaml

from zoprl.storage.atomic import write_bytes_atomically
from zoprl.tuning.select import design_scores


def write_tuned_spec(path: str, spec) -> str:
    """The tuned spec as YAML (``zoprl sweep`` reads it back to an equal spec)."""
    header = (
        "# written by `zoprl tune`: every method with its chosen hyperparameters (per "
        "context), on\n# evaluation seeds disjoint from the tuning seeds (first_seed)\n"
    )
    text = yaml.safe_dump(spec.to_dict(), sort_keys=False, default_flow_style=None, width=100)
    return write_bytes_atomically(path, (header + text).encode())


def markdown_table(frame: pd.DataFrame) -> str:
    """A pipe table of ``frame`` (numbers to 4 significant digits)."""

    def text(value) -> str:
        if isinstance(value, float):
            return "" if np.isnan(value) else f"{value:.4g}"
        return str(value)

    lines = [
        "| " + " | ".join(frame.columns) + " |",
        "| " + " | ".join("---" for _ in frame.columns) + " |",
    ]
    lines += [
        "| " + " | ".join(text(v) for v in row) + " |" for row in frame.itertuples(index=False)
    ]
    return "\n".join(lines) + "\n"


def sensitivity_figure(tuning_table, scores, plans_by_cell, settings):
    """Rows: methods with a search space; columns: their searched hyperparameters; the tuning
    score (mean +- standard error over the tuning seeds) of every configuration against each
    hyperparameter, one colour per context, the chosen configurations starred."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    tuned = [(name, plan) for name, plan in plans_by_cell.items() if plan.entry.search]
    columns = max(len(plan.entry.search) for _, plan in tuned)
    fig = Figure(figsize=(3.6 * columns + 1.0, 2.8 * len(tuned) + 0.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(tuned), columns, squeeze=False)
    for row, (name, plan) in enumerate(tuned):
        stats = design_scores(tuning_table, scores, name, settings.seeds, len(plan.designs))
        best = stats.loc[
            stats.groupby("context")["mean"].idxmin()
            if settings.resolved_goal == "min"
            else stats.groupby("context")["mean"].idxmax()
        ]
        for col, key in enumerate(sorted(plan.entry.search)):
            ax = axes[row][col]
            for context, group in stats.groupby("context"):
                x = [plan.designs[d][key] for d in group.design]
                ax.errorbar(
                    x,
                    group["mean"],
                    yerr=group["stderr"].fillna(0.0),
                    fmt="o",
                    ms=3.5,
                    alpha=0.75,
                    label=_context_label(plan, context),
                )
                chosen = best[best.context == context]
                ax.plot([plan.designs[d][key] for d in chosen.design], chosen["mean"], "k*", ms=11)
            if plan.entry.search[key].get("log"):
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel(key)
            ax.set_ylabel(f"{settings.metric} ({settings.criterion})" if col == 0 else "")
            ax.set_title(name if col == 0 else "", loc="left", fontsize=10)
            if len(plan.contexts) > 1 and col == 0:
                ax.legend(fontsize=7, loc="best")
        for col in range(len(plan.entry.search), columns):
            axes[row][col].set_visible(False)
    fig.suptitle(
        f"tuning: {settings.metric} ({settings.criterion}) against each hyperparameter\n"
        f"mean +- s.e. over {settings.seeds} tuning seeds; * chosen",
        fontsize=10,
    )
    return fig


def _context_label(plan, context: int) -> str:
    point = plan.contexts[context]
    return ", ".join(f"{k}={v}" for k, v in point.items()) or "all"


def write_report(out_dir, tuned, chosen, tuning_table, scores, plans, cells, settings) -> list:
    """tuned.yaml, chosen.csv, chosen.md and the sensitivity figure; returns their paths."""
    from zoprl.plots import save_figure

    os.makedirs(out_dir, exist_ok=True)
    paths = [write_tuned_spec(os.path.join(out_dir, "tuned.yaml"), tuned)]
    paths.append(
        write_bytes_atomically(
            os.path.join(out_dir, "chosen.csv"), chosen.to_csv(index=False).encode()
        )
    )
    settings_text = json.dumps({k: v for k, v in settings.__dict__.items()}, default=str)
    paths.append(
        write_bytes_atomically(
            os.path.join(out_dir, "chosen.md"),
            (f"Tuning settings: {settings_text}\n\n" + markdown_table(chosen)).encode(),
        )
    )
    by_cell = {name: plan for name, plan, _ in cells}
    if any(plan.entry.search for plan in by_cell.values()):
        figure = sensitivity_figure(tuning_table, scores, by_cell, settings)
        paths += [str(p) for p in save_figure(figure, os.path.join(out_dir, "sensitivity"))]
    return paths


__all__ = ["markdown_table", "sensitivity_figure", "write_report", "write_tuned_spec"]
