"""Summaries of the spec-based bilevel reproductions, from their (evaluation) tables only.

Each takes (table, manifest, out_dir, log), writes figures, ``summary.csv`` and ``summary.md``
(the pipe table the README shows verbatim) and returns the written paths; ``rates`` also writes
``slopes.csv`` / ``slopes.md`` in the format of ``results/rates/slopes.csv``. Intervals are 95% t
intervals over the evaluation seeds unless stated.
"""

from __future__ import annotations

import os

import pandas as pd

from zoprl.reproduce.figures import (
    at_budget,
    common_budget,
    interval_text,
    pipe_table,
    queries_text,
    write_summary,
)
from zoprl.theory.tidy import mean_ci

RATE_EXPECTED = -4.0 / 7.0
RATE_NOTE = (
    "upper bound: eps^(-7/2) samples to E||grad F|| <= eps (arXiv 2410.15610) gives "
    "E||grad F||^2 = O(n^(-4/7)); a steeper slope is consistent; fitted from iteration {b}"
)


def improved_seeds(table: pd.DataFrame, budget: float) -> pd.Series:
    """Per label: "k / n", the seeds whose true return at the budget beats their start."""
    start = table[(table.metric == "value") & (table.iteration == 0)].set_index("run_id")["value"]
    end = at_budget(table, "value", budget).set_index("run_id")
    better = (end["value"] > start.reindex(end.index)).groupby(end["label"])
    return better.sum().astype(int).astype(str) + " / " + better.size().astype(str)


def _stats(table, metrics, budget) -> pd.DataFrame:
    """mean_ci per label of every metric at the budget, side by side (suffix _<metric>)."""
    merged = None
    for metric in metrics:
        stats = mean_ci(at_budget(table, metric, budget), ["label"])
        stats = stats[["label", "mean", "low", "high"]]
        stats = stats.rename(columns={c: f"{c}_{metric}" for c in ("mean", "low", "high")})
        merged = stats if merged is None else merged.merge(stats, on="label", how="outer")
    return merged


def _cell(row, metric: str, digits: int = 3) -> str:
    mean = row[f"mean_{metric}"]
    if pd.isna(mean):
        return ""
    return interval_text(mean, row[f"low_{metric}"], row[f"high_{metric}"], digits)


def shift(table, manifest, out_dir, log) -> list[str]:
    """The true return against queries and trajectories; at the common query budget (ceilings:
    at their end) J, J / J*, the gap to the true regularised optimum and ||grad F||^2 with 95%
    intervals, the seeds that improved on their start, and the queries each method needed to
    reach 0.9 J* (``zoprl.compare``: median and bootstrap interval, censored runs kept)."""
    from zoprl.compare import compare_table
    from zoprl.plots import plot_results

    paths = plot_results(table, out_dir, metric="value", x=["queries", "trajectories"])
    budget = common_budget(table)
    metrics = ["value", "value_ratio", "regularised_value_gap", "hypergradient_norm_sq"]
    summary = _stats(table, metrics, budget).sort_values("mean_value", ascending=False)
    complexity, _, written = compare_table(table, ["value_ratio>=0.9"], "queries", out_dir=out_dir)
    columns = ["label", "median", "median_low", "median_high", "censored"]
    summary = summary.merge(complexity[columns], on="label", how="left")
    summary["improved"] = summary.label.map(improved_seeds(table, budget))
    rows = [
        [
            row["label"],
            _cell(row, "value"),
            _cell(row, "value_ratio"),
            _cell(row, "regularised_value_gap"),
            _cell(row, "hypergradient_norm_sq", 4),
            queries_text(row),
            row["improved"],
        ]
        for _, row in summary.iterrows()
    ]
    header = [
        "method",
        f"J at {budget:.0f} queries",
        "J / J*",
        "gap to the regularised optimum",
        "||grad F||^2",
        "queries to 0.9 J* (median)",
        "seeds above start",
    ]
    markdown = pipe_table(header, rows, ["l", "l", "l", "l", "l", "l", "r"])
    return [*map(str, paths), *written, *write_summary(summary, markdown, out_dir, log)]


def rate_slopes(table: pd.DataFrame, burn_in: int, num_resamples: int = 2000) -> pd.DataFrame:
    """The slope of E||grad F(nu_k)||^2 (mean over seeds) against the trajectories sampled, from
    iteration ``burn_in`` on, per label, in the columns of ``results/rates/slopes.csv``."""
    from zoprl.reproduce.rates.profiles import SLOPE_COLUMNS
    from zoprl.theory import slope_table

    metric = "hypergradient_norm_sq"
    sub = table[(table.iteration >= burn_in) & (table.metric == metric)]
    slopes = slope_table(
        sub,
        "trajectories",
        metric,
        by=("label",),
        predicted=RATE_EXPECTED,
        reduce="none",
        num_resamples=num_resamples,
    )
    slopes["quantity"] = "hypergradient_vs_samples[" + slopes["label"] + "]"
    slopes["x"], slopes["metric"] = "trajectories", metric
    spans = sub.groupby("label")["trajectories"]
    slopes["x_min"] = slopes["label"].map(spans.min()).astype(float)
    slopes["x_max"] = slopes["label"].map(spans.max()).astype(float)
    slopes["note"] = RATE_NOTE.format(b=burn_in)
    return slopes[list(SLOPE_COLUMNS)]


def rate_markdown(slopes: pd.DataFrame) -> str:
    """The slope rows as a pipe table: slope [95% CI], the bound's -4/7 and whether the data are
    consistent with it (an upper bound on the slope: consistent when the interval reaches down
    to it or below)."""
    rows = [
        [
            r.quantity,
            r.x,
            f"{r.slope:+.2f} [{r.low:+.2f}, {r.high:+.2f}]",
            f"{r.expected:+.3f} (-4/7)",
            "yes" if r.low <= r.expected else "**no**",
        ]
        for r in slopes.itertuples()
    ]
    return pipe_table(["quantity", "x", "slope [95% CI]", "bound", "consistent"], rows)


def rates(table, manifest, out_dir, log) -> list[str]:
    """E||grad F(nu_k)||^2 against the trajectories sampled (log-log, fitted slope, the -4/7 of
    the paper's bound drawn for reference); slopes.csv / slopes.md / summary.md; the fit starts
    after the first tenth of the run."""
    from zoprl.plots import save_figure
    from zoprl.plots.rates import plot_rate
    from zoprl.storage.atomic import write_bytes_atomically

    burn_in = int(table.iteration.max()) // 10
    slopes = rate_slopes(table, burn_in)
    sub = table[(table.iteration >= burn_in) & (table.metric == "hypergradient_norm_sq")]
    ax = plot_rate(sub, "trajectories", "hypergradient_norm_sq", RATE_EXPECTED, reduce="none")
    ax.set_title("penalty method: squared hypergradient norm against samples")
    paths = [str(p) for p in save_figure(ax, os.path.join(out_dir, "hypergradient_vs_samples"))]
    markdown = rate_markdown(slopes)
    log("fitted slope of E||grad F||^2 against trajectories (95% cluster bootstrap over seeds):")
    paths.append(
        write_bytes_atomically(
            os.path.join(out_dir, "slopes.csv"), slopes.to_csv(index=False).encode()
        )
    )
    paths.append(write_bytes_atomically(os.path.join(out_dir, "slopes.md"), markdown.encode()))
    return paths + write_summary(slopes, markdown, out_dir, log)


def neural(table, manifest, out_dir, log) -> list[str]:
    """The return against queries; at the common query budget the mean return and the
    on-policy preference NLL of the learned reward with 95% intervals, and the seeds above
    their start, per method and width."""
    from zoprl.plots import plot_results

    paths = plot_results(table, out_dir, metric="value", x=["queries", "trajectories"])
    budget = common_budget(table)
    summary = _stats(table, ["value", "preference_nll"], budget)
    summary = summary.sort_values("mean_value", ascending=False)
    summary["improved"] = summary.label.map(improved_seeds(table, budget))
    rows = [
        [row["label"], _cell(row, "value", 1), _cell(row, "preference_nll"), row["improved"]]
        for _, row in summary.iterrows()
    ]
    header = [
        "method",
        f"return at {budget:.0f} queries",
        "preference NLL (on-policy)",
        "seeds above start",
    ]
    markdown = pipe_table(header, rows, ["l", "l", "l", "r"])
    return [*map(str, paths), *write_summary(summary, markdown, out_dir, log)]


__all__ = [
    "at_budget",
    "common_budget",
    "improved_seeds",
    "neural",
    "rate_markdown",
    "rate_slopes",
    "rates",
    "shift",
]
