"""Selection of the tuning protocol: each run's score, and the best configuration per method.

A run's score is its selection metric at the common budget:

  final  the metric at the run's last record whose budget axis (queries, trajectories or
         iteration) is at most the budget (default: its last record);
  auc    the mean of the metric over the records up to the budget: the trapezoid area under
         the curve against the budget axis, divided by the axis range (one record: its value).

A run whose first record is already over the budget (an offline method whose data set alone
exceeds it) has no score. The configuration's score is the mean over the tuning seeds; the best
configuration of each method (a cell) and context (a point of the grid that is not searched,
e.g. a slip probability) has the lowest mean for goal "min", the highest for "max".

Runs are located without parsing parameter columns: within a cell, run r = g S + s with S
seeds and grid point g = c D + d, c the context and d the design point (the engine's
grid-major layout, the tuning spec's grid_points last).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def run_scores(table: pd.DataFrame, metric: str, criterion: str, budget: dict) -> pd.Series:
    """The score of every run of ``table`` (module doc), indexed by run_id; runs with no record
    within the budget are left out."""
    rows = table[table.metric == metric]
    if rows.empty:
        raise ValueError(
            f"the tuning table has no metric {metric!r}; it has "
            f"{', '.join(sorted(set(table.metric)))}"
        )
    axis, limit = next(iter(budget.items())) if budget else ("iteration", np.inf)
    rows = rows[rows[axis] <= limit].sort_values(["run_id", axis, "iteration"])
    if criterion == "final":
        return rows.groupby("run_id")["value"].last()

    def area(run: pd.DataFrame) -> float:
        x, y = run[axis].to_numpy(np.float64), run["value"].to_numpy(np.float64)
        if len(x) < 2 or x[-1] == x[0]:
            return float(y[-1])
        return float(np.trapezoid(y, x) / (x[-1] - x[0]))

    return rows.groupby("run_id")[["value", axis]].apply(area)


def design_scores(
    table: pd.DataFrame, scores: pd.Series, cell: str, seeds: int, num_designs: int
) -> pd.DataFrame:
    """Mean, standard error and count over the seeds of every (context, design point) of one
    cell, from the runs' ``scores`` (module doc): the data of the choice and of the
    sensitivity figure."""
    run_ids = np.sort(table.loc[table.cell == cell, "run_id"].unique())
    grid_point = (run_ids - run_ids.min()) // seeds
    frame = pd.DataFrame(
        {
            "context": grid_point // num_designs,
            "design": grid_point % num_designs,
            "score": scores.reindex(run_ids).to_numpy(),
        }
    )
    stats = frame.groupby(["context", "design"])["score"].agg(["mean", "std", "count"])
    stats["stderr"] = np.where(
        stats["count"] > 1, stats["std"] / np.sqrt(stats["count"].clip(lower=1)), np.nan
    )
    return stats.reset_index()


def choose(
    table: pd.DataFrame, scores: pd.Series, plans: dict, seeds: int, goal: str
) -> pd.DataFrame:
    """One row per (cell, context): the chosen design index, its mean score and standard error
    over the tuning seeds, the number of seeds scored. ``plans``: cell -> (number of contexts,
    number of design points)."""
    rows = []
    for cell, (num_contexts, num_designs) in plans.items():
        stats = design_scores(table, scores, cell, seeds, num_designs)
        for context in range(num_contexts):
            options = stats[(stats.context == context) & (stats["count"] > 0)]
            if options.empty:
                raise ValueError(
                    f"{cell}: no tuning run has a record within the budget; raise "
                    "the budget or shrink the method's initial data set"
                )
            pick = options.loc[
                options["mean"].idxmin() if goal == "min" else options["mean"].idxmax()
            ]
            rows.append(
                {
                    "cell": cell,
                    "context": context,
                    "design": int(pick["design"]),
                    "score": float(pick["mean"]),
                    "stderr": float(pick["stderr"]),
                    "seeds": int(pick["count"]),
                }
            )
    return pd.DataFrame(rows)


__all__ = ["choose", "design_scores", "run_scores"]
