"""Figures and summary tables of the spec-based reproductions, from their results tables only.

Each function takes (table, manifest, out_dir, log), writes PNG + PDF figures and summary.csv
into ``out_dir``, logs the summary, and returns the written paths.
"""

from __future__ import annotations

import os

import pandas as pd

from zoprl.plots import plot_final_bars, plot_final_metric, plot_results, save_figure
from zoprl.storage.atomic import write_bytes_atomically
from zoprl.theory.tidy import mean_ci


def _write_summary(frame: pd.DataFrame, out_dir: str, log) -> str:
    log(frame.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return write_bytes_atomically(
        os.path.join(out_dir, "summary.csv"), frame.to_csv(index=False).encode()
    )


def value_at_budget(table: pd.DataFrame, metric: str, budget: float) -> pd.DataFrame:
    """Per run: ``metric`` at its last record that asked at most ``budget`` queries (runs whose
    first record is already over budget, e.g. an offline data set larger than it, are left out)."""
    rows = table[(table.metric == metric) & (table.queries <= budget)]
    return rows.loc[rows.groupby("run_id")["iteration"].idxmax()]


def comparison(table, manifest, out_dir, log) -> list[str]:
    """Learning curves against queries and trajectories; the value gap at the largest query
    budget every preference method reached (ceilings: at their last iteration)."""
    paths = plot_results(table, out_dir, metric="value_gap", x=["queries", "trajectories"])
    final = table[table.iteration == table.iteration.max()]
    spent = final[~final.reads_latent_reward].groupby("label")["queries"].mean()
    budget = float(spent[spent > 0].min())
    at_budget = pd.concat(
        [
            value_at_budget(table[~table.reads_latent_reward], "value_gap", budget),
            final[(final.reads_latent_reward) & (final.metric == "value_gap")],
        ]
    )
    stats = mean_ci(at_budget, ["label", "reads_latent_reward"])
    queries = at_budget.groupby("label")["queries"].mean().rename("queries").reset_index()
    summary = stats.merge(queries, on="label")[
        ["label", "reads_latent_reward", "queries", "mean", "low", "high", "n"]
    ]
    summary = summary.rename(columns={"mean": "value_gap"}).sort_values("value_gap")
    log(f"value gap at a budget of {budget:.0f} queries (ceilings: final), mean and 95% CI:")
    return [*map(str, paths), _write_summary(summary, out_dir, log)]


def stochasticity(table, manifest, out_dir, log) -> list[str]:
    """Final value gap and final J / J* against the slip probability, per method (J* itself
    falls as the slip grows, so the ratio is the comparable scale)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ratio = normalised_value(table)
    fig = Figure(figsize=(12.8, 4.6), layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    plot_final_metric(table, "value_gap", "env.slip", ax=left)
    plot_final_metric(ratio, "value_ratio", "env.slip", ax=right)
    fig.suptitle("at a fixed budget of human queries")
    paths = save_figure(fig, os.path.join(out_dir, "final_vs_slip"))
    final = ratio[ratio.iteration == ratio.iteration.max()]
    stats = mean_ci(final, ["label", "env.slip"])
    pivot = stats.pivot(index="label", columns="env.slip", values="mean").reset_index()
    pivot.columns = ["label"] + [f"slip={c:g}" for c in pivot.columns[1:]]
    log("final J / J* by slip probability (mean over seeds):")
    return [*map(str, paths), _write_summary(pivot, out_dir, log)]


def normalised_value(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of metric ``value_ratio`` = J(theta) / J* (from the value and value_gap rows)."""
    value = table[table.metric == "value"].set_index(["run_id", "iteration"])
    gap = table[table.metric == "value_gap"].set_index(["run_id", "iteration"])["value"]
    ratio = value.assign(value=value["value"] / (value["value"] + gap), metric="value_ratio")
    return ratio.reset_index()


def links(table, manifest, out_dir, log) -> list[str]:
    """Final J / J* per teacher link and method (grouped bars)."""
    ratio = normalised_value(table)
    ratio["teacher link"] = ratio["oracle"].str.split("/").str[0]
    ax = plot_final_bars(ratio, "value_ratio", group="teacher link")
    ax.set_title("final J / J* by the teacher's link")
    paths = save_figure(ax, os.path.join(out_dir, "value_ratio_by_link"))
    final = ratio[ratio.iteration == ratio.iteration.max()]
    stats = mean_ci(final, ["label", "teacher link"])
    pivot = stats.pivot(index="label", columns="teacher link", values="mean").reset_index()
    log("final J / J* by teacher link (mean over seeds):")
    return [*map(str, paths), _write_summary(pivot, out_dir, log)]


def blocks(table, manifest, out_dir, log) -> list[str]:
    """Value gap against wall-clock seconds (each cell's measured seconds per iteration, all its
    seeds in one program, compilation excluded) and against queries."""
    iterations = manifest["spec"]["iterations"]
    per_iteration = {c["cell"]: c["chunk_seconds"] / iterations for c in manifest["cells"]}
    timed = table.assign(seconds=table.iteration * table.cell.map(per_iteration))
    paths = plot_results(timed, out_dir, metric="value_gap", x=["seconds", "queries"])
    final = table[(table.metric == "value_gap") & (table.iteration == table.iteration.max())]
    stats = mean_ci(final, ["cell"])[["cell", "mean", "low", "high", "n"]]
    stats = stats.rename(columns={"mean": "final_value_gap"})
    stats["ms_per_iteration"] = stats.cell.map(per_iteration) * 1e3
    stats["queries"] = stats.cell.map(final.groupby("cell")["queries"].mean())
    log("final value gap, wall-clock cost per iteration (all seeds at once) and queries:")
    return [*map(str, paths), _write_summary(stats.sort_values("final_value_gap"), out_dir, log)]


__all__ = ["blocks", "comparison", "links", "normalised_value", "stochasticity", "value_at_budget"]
