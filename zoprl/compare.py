"""Sample-complexity tables: ``zoprl compare RESULTS``.

For each method (a label of the results table) and a threshold on a metric (``value_ratio>=0.9``:
90% of J*; ``gap_closed>=0.8``: 80% of the uniform policy's gap closed; ``value_gap<=0.5``), the
budget each run needed: the first recorded x (queries, trajectories or iterations) at which the
metric crosses the threshold. A run that never crosses it is **censored**: it needed more than
its budget (its last x), and it is kept, as +inf, never dropped. Per method, over its seeds:

  median  the median of the per-seed budgets (censored = +inf: when half or more of the runs are
          censored the median itself is "> budget"), with a 95% percentile bootstrap interval
          over seeds (the seeds are the resampling unit; 2000 resamples, a fixed seed);
  mean    the mean with censored runs counted at their budget: a lower bound when any run is
          censored (written "> x"), with the same bootstrap interval.

Methods that ask no queries (the ceilings) have no query budget: the table says so and the
comparison on trajectories (``x = "trajectories"``) is the one that places them.

Also the metric at fixed budgets: per method and budget b, the metric at each run's last record
with x <= b, its mean and 95% t interval over seeds (runs whose first record is already over b,
such as an offline method's initial data set, are left out and counted).

Outputs (``compare``): ``compare.csv`` (one row per method and threshold),
``compare_budgets.csv``, ``compare.md`` (both as pipe tables) and ``compare.png`` / ``.pdf``.
"""

from __future__ import annotations

import os
import re
from typing import NamedTuple

import numpy as np
import pandas as pd

from zoprl.storage.atomic import write_bytes_atomically

X_AXES = ("queries", "trajectories", "iteration")
BOOTSTRAP_RESAMPLES = 2000
_THRESHOLD = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(>=|<=)\s*([-+0-9.eE]+)\s*$")


class Threshold(NamedTuple):
    metric: str
    op: str  # ">=" or "<="
    value: float

    def reached(self, values: np.ndarray) -> np.ndarray:
        return values >= self.value if self.op == ">=" else values <= self.value

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.value:g}"


def parse_threshold(text: str) -> Threshold:
    """``metric>=value`` or ``metric<=value`` (ValueError naming the text otherwise)."""
    match = _THRESHOLD.match(text)
    if not match:
        raise ValueError(f"threshold {text!r} must look like value_ratio>=0.9 or value_gap<=0.5")
    return Threshold(match.group(1), match.group(2), float(match.group(3)))


def load_results(path: str) -> pd.DataFrame:
    """The tidy table of a results folder (``results.parquet``, or ``evaluation/`` of a
    ``zoprl tune`` folder) or a Parquet file."""
    from zoprl.storage import read_table

    if os.path.isdir(path) and not os.path.exists(os.path.join(path, "results.parquet")):
        tuned = os.path.join(path, "evaluation", "results.parquet")
        if os.path.exists(tuned):
            return read_table(tuned)
    return read_table(path)


def reach_budgets(table: pd.DataFrame, threshold: Threshold, x: str = "queries") -> pd.DataFrame:
    """One row per run: label, seed, the budget at which it first reached the threshold (+inf
    if never), its own budget (last x) and whether it is censored."""
    rows = table[table.metric == threshold.metric]
    if rows.empty:
        raise ValueError(
            f"the results have no metric {threshold.metric!r}; they have "
            f"{', '.join(sorted(set(table.metric)))}"
        )
    rows = rows.sort_values(["run_id", "iteration"])
    out = []
    for run_id, run in rows.groupby("run_id", sort=True):
        hit = threshold.reached(run["value"].to_numpy())
        xs = run[x].to_numpy(np.float64)
        out.append(
            {
                "label": run["label"].iloc[0],
                "run_id": run_id,
                "seed": run["seed"].iloc[0],
                "reached_at": xs[np.argmax(hit)] if hit.any() else np.inf,
                "budget": xs[-1],
                "censored": not hit.any(),
            }
        )
    return pd.DataFrame(out)


def bootstrap_interval(
    values: np.ndarray, statistic, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over resamples of ``values`` (the seeds);
    +inf values (censored runs) pass through."""
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(values), size=(BOOTSTRAP_RESAMPLES, len(values)))
    stats = statistic(np.asarray(values, np.float64)[index], axis=1)
    tail = (1.0 - confidence) / 2.0
    # quantiles that pick a resampled value (no interpolation between inf and a number)
    low = np.quantile(stats, tail, method="inverted_cdf")
    return float(low), float(np.quantile(stats, 1.0 - tail, method="inverted_cdf"))


def sample_complexity(reach: pd.DataFrame, threshold: Threshold, x: str) -> pd.DataFrame:
    """Per method: seeds, censored runs, median and mean budgets with bootstrap intervals."""
    rows = []
    for label, group in reach.groupby("label", sort=False):
        if x == "queries" and not (group["budget"] > 0).any():
            rows.append(
                {
                    "label": label,
                    "threshold": str(threshold),
                    "x": x,
                    "seeds": len(group),
                    "censored": 0,
                    "budget": 0.0,
                    "note": "asks no queries (a ceiling): compare it on trajectories",
                }
            )
            continue
        times = group["reached_at"].to_numpy(np.float64)
        floored = np.where(np.isinf(times), group["budget"].to_numpy(np.float64), times)
        median_ci = bootstrap_interval(times, np.median)
        mean_ci = bootstrap_interval(floored, np.mean)
        rows.append(
            {
                "label": label,
                "threshold": str(threshold),
                "x": x,
                "seeds": len(group),
                "censored": int(group["censored"].sum()),
                "budget": float(floored.max()),
                "median": float(np.median(times)),
                "median_low": median_ci[0],
                "median_high": median_ci[1],
                "mean": float(np.mean(floored)),
                "mean_is_lower_bound": bool(group["censored"].any()),
                "mean_low": mean_ci[0],
                "mean_high": mean_ci[1],
                "note": "",
            }
        )
    return pd.DataFrame(rows)


def metric_at_budgets(table: pd.DataFrame, metric: str, x: str, budgets) -> pd.DataFrame:
    """Per method and budget: the metric's mean and 95% t interval over runs (module doc)."""
    from zoprl.theory.tidy import mean_ci

    rows = table[table.metric == metric]
    runs = rows.groupby("label", sort=False)["run_id"].nunique()
    frames = []
    for budget in budgets:
        within = rows[rows[x] <= budget]
        last = within.loc[within.groupby("run_id")["iteration"].idxmax()]
        stats = mean_ci(last, ["label"]).set_index("label").reindex(runs.index)
        frames.append(
            pd.DataFrame(
                {
                    "label": runs.index,
                    "metric": metric,
                    "x": x,
                    "budget": float(budget),
                    "runs": stats["n"].fillna(0).astype(int).to_numpy(),
                    "left_out": (runs - stats["n"].fillna(0)).astype(int).to_numpy(),
                    "mean": stats["mean"].to_numpy(),
                    "low": stats["low"].to_numpy(),
                    "high": stats["high"].to_numpy(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def budget_text(value: float, censored_at: float | None = None) -> str:
    """A budget for a table: "> b" for censored values."""
    if np.isinf(value):
        return f"> {censored_at:.6g}" if censored_at is not None else "> budget"
    return f"{value:.6g}"


def complexity_markdown(complexity: pd.DataFrame) -> str:
    """The sample-complexity rows as a pipe table, censored values as "> budget"."""
    lines = [
        f"| method | threshold | seeds | censored | median {complexity.x.iloc[0]} [95% CI] "
        f"| mean [95% CI] |",
        "| --- | --- | ---: | ---: | --- | --- |",
    ]
    for row in complexity.itertuples():
        if row.note:
            lines.append(f"| {row.label} | {row.threshold} | {row.seeds} | | {row.note} | |")
            continue
        median = (
            f"{budget_text(row.median, row.budget)} [{budget_text(row.median_low, row.budget)}"
            f", {budget_text(row.median_high, row.budget)}]"
        )
        mean = (
            f"{'> ' if row.mean_is_lower_bound else ''}{row.mean:.6g} [{row.mean_low:.6g}, "
            f"{row.mean_high:.6g}]"
        )
        lines.append(
            f"| {row.label} | {row.threshold} | {row.seeds} | {row.censored} | {median} | {mean} |"
        )
    return "\n".join(lines) + "\n"


def budgets_markdown(at_budgets: pd.DataFrame) -> str:
    """The metric at fixed budgets as a pipe table (methods x budgets, mean [95% CI])."""
    budgets = sorted(at_budgets.budget.unique())
    metric, x = at_budgets.metric.iloc[0], at_budgets.x.iloc[0]
    lines = [
        f"| {metric} at {x} <= | " + " | ".join(f"{b:.6g}" for b in budgets) + " |",
        "| --- |" + " ---: |" * len(budgets),
    ]
    for label, group in at_budgets.groupby("label", sort=False):
        cells = []
        for budget in budgets:
            row = group[group.budget == budget].iloc[0]
            cells.append(
                "" if row.runs == 0 else f"{row['mean']:.4g} [{row.low:.4g}, {row.high:.4g}]"
            )
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def comparison_figure(complexity: pd.DataFrame, at_budgets: pd.DataFrame):
    """Left: budget to each method's first threshold (median and bootstrap interval; a
    triangle at the budget when censored); right: the metric against the budget."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from zoprl.plots.style import colors

    fig = Figure(figsize=(12.0, 0.45 * complexity.label.nunique() + 3.2), layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    first = complexity[complexity.threshold == complexity.threshold.iloc[0]].reset_index()
    palette = dict(zip(first.label, colors(len(first))))
    for i, row in first.iterrows():
        if row.note:
            continue
        if np.isinf(row["median"]):
            left.plot([row.budget], [i], ">", color=palette[row.label], ms=9)
            continue
        high = row.budget if np.isinf(row.median_high) else row.median_high
        left.plot([row.median_low, high], [i, i], "-", color=palette[row.label], lw=2.5)
        left.plot([row["median"]], [i], "o", color=palette[row.label], ms=7)
    left.set_yticks(range(len(first)), first.label)
    left.set_xlabel(
        f"{first.x.iloc[0]} to reach {first.threshold.iloc[0]} (median, 95% CI; > never)"
    )
    for label, group in at_budgets.groupby("label", sort=False):
        color = palette.get(label)
        right.plot(group.budget, group["mean"], "o-", color=color, label=label)
        right.fill_between(group.budget, group.low, group.high, color=color, alpha=0.2)
    right.set_xlabel(f"budget ({at_budgets.x.iloc[0]})")
    right.set_ylabel(f"{at_budgets.metric.iloc[0]} (mean, 95% t interval)")
    right.legend(fontsize="small", ncols=2 if at_budgets.label.nunique() > 8 else 1)
    return fig


def compare(
    path: str,
    thresholds=(),
    x: str = "queries",
    budgets=(),
    metric: str | None = None,
    out_dir: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, list]:
    """The sample-complexity table and the metric at budgets of a results folder (or Parquet
    file; ``compare_table``), written to ``out_dir`` (default: the results folder)."""
    out_dir = out_dir or (path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path)))
    return compare_table(load_results(path), thresholds, x, budgets, metric, out_dir)


def compare_table(
    table: pd.DataFrame,
    thresholds=(),
    x: str = "queries",
    budgets=(),
    metric: str | None = None,
    out_dir: str = ".",
) -> tuple[pd.DataFrame, pd.DataFrame, list]:
    """The sample-complexity table and the metric at budgets of a results table, written to
    ``out_dir``. Defaults: threshold value_ratio>=0.9 where the table has it; budgets a quarter,
    half, three quarters and all of the largest budget; the metric value_gap where the table
    has it, else value."""
    from zoprl.plots import save_figure

    if x not in X_AXES:
        raise ValueError(f"x must be one of {', '.join(X_AXES)}, got {x!r}")
    metrics = set(table.metric)
    if not thresholds:
        if "value_ratio" not in metrics:
            raise ValueError(
                "give a threshold, e.g. --reach value>=100 (this table has no value_ratio)"
            )
        thresholds = [Threshold("value_ratio", ">=", 0.9)]
    thresholds = [parse_threshold(t) if isinstance(t, str) else t for t in thresholds]
    largest = float(table[x].max())
    budgets = list(budgets) or [largest * f for f in (0.25, 0.5, 0.75, 1.0)]
    metric = metric or ("value_gap" if "value_gap" in metrics else "value")
    complexity = pd.concat(
        [sample_complexity(reach_budgets(table, t, x), t, x) for t in thresholds], ignore_index=True
    )
    at_budgets = metric_at_budgets(table, metric, x, budgets)
    written = [
        write_bytes_atomically(
            os.path.join(out_dir, "compare.csv"), complexity.to_csv(index=False).encode()
        ),
        write_bytes_atomically(
            os.path.join(out_dir, "compare_budgets.csv"), at_budgets.to_csv(index=False).encode()
        ),
        write_bytes_atomically(
            os.path.join(out_dir, "compare.md"),
            (complexity_markdown(complexity) + "\n" + budgets_markdown(at_budgets)).encode(),
        ),
    ]
    figure = comparison_figure(complexity, at_budgets)
    written += [str(p) for p in save_figure(figure, os.path.join(out_dir, "compare"))]
    return complexity, at_budgets, written


__all__ = [
    "compare_table",
    "X_AXES",
    "Threshold",
    "bootstrap_interval",
    "budget_text",
    "compare",
    "comparison_figure",
    "load_results",
    "metric_at_budgets",
    "parse_threshold",
    "reach_budgets",
    "sample_complexity",
]
