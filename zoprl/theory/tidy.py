"""The tidy results table: schema, column checks, per-run reductions and mean +- CI summaries.

The table has one row per run x recorded iteration x metric, with columns ``run_id``, ``cell``,
``label``, ``algorithm``, ``environment``, ``oracle``, ``reads_latent_reward``, parameter columns
named ``hp.*``, ``static.*``, ``oracle.*``, ``env.*`` (NaN where an algorithm lacks the parameter),
``seed``, ``iteration``, ``trajectories``, ``queries`` (cumulative), ``metric`` and ``value``.
A configuration is one (cell, label, parameter columns) combination; seeds are its replicates.

Confidence intervals over seeds are Student-t intervals: for n seeds with mean m and sample
standard deviation s, m +- t_{(1 + c) / 2, n - 1} * s / sqrt(n); no interval for n = 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

REQUIRED_COLUMNS = (
    "run_id",
    "cell",
    "label",
    "algorithm",
    "environment",
    "oracle",
    "reads_latent_reward",
    "seed",
    "iteration",
    "trajectories",
    "queries",
    "metric",
    "value",
)
PARAM_PREFIXES = ("hp.", "static.", "oracle.", "env.")
REDUCTIONS = ("last", "mean", "none")
_DESCRIPTIVE = ("cell", "label", "algorithm", "environment", "oracle", "reads_latent_reward")


def _choices(values, limit: int = 30) -> str:
    values = [str(v) for v in values]
    more = f" ... ({len(values) - limit} more)" if len(values) > limit else ""
    return "[" + ", ".join(repr(v) for v in values[:limit]) + "]" + more


def require_frame(df, what: str = "table") -> pd.DataFrame:
    """``df`` itself when it is a non-empty pandas DataFrame; ValueError otherwise."""
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{what} must be a pandas DataFrame, got {type(df).__name__}")
    if df.empty:
        raise ValueError(f"{what} is empty")
    return df


def require_columns(df: pd.DataFrame, columns: Sequence[str], what: str = "table") -> None:
    """ValueError naming the columns of ``columns`` that ``df`` lacks."""
    require_frame(df, what)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {missing}; it has {list(df.columns)}")


def check_table(df: pd.DataFrame, what: str = "results table") -> pd.DataFrame:
    """``df`` when it holds every column of :data:`REQUIRED_COLUMNS`."""
    require_columns(df, REQUIRED_COLUMNS, what)
    return df


def param_columns(df: pd.DataFrame) -> list[str]:
    """The parameter columns (``hp.*``, ``static.*``, ``oracle.*``, ``env.*``), in table order."""
    return [c for c in df.columns if isinstance(c, str) and c.startswith(PARAM_PREFIXES)]


def check_column(df: pd.DataFrame, name, arg: str = "x") -> str:
    """``name`` when it is a numeric column of ``df``; ValueError listing the numeric columns."""
    numeric = [
        c
        for c in df.columns
        if c not in ("value", "run_id", "seed")
        and pd.api.types.is_numeric_dtype(df[c])
        and not pd.api.types.is_bool_dtype(df[c])
    ]
    if not isinstance(name, str) or name not in numeric:
        raise ValueError(f"unknown {arg} column {name!r}; valid choices: {_choices(numeric)}")
    return name


def check_key_column(df: pd.DataFrame, name, arg: str = "hue") -> str:
    """``name`` when it is a column of ``df``; ValueError listing the columns."""
    if not isinstance(name, str) or name not in df.columns:
        raise ValueError(f"unknown {arg} column {name!r}; valid choices: {_choices(df.columns)}")
    return name


def select_metric(df: pd.DataFrame, metric) -> pd.DataFrame:
    """The rows of ``metric``; ValueError naming the metrics the table holds."""
    require_columns(df, ("metric", "value"))
    available = sorted(str(m) for m in pd.unique(df["metric"]))
    if not isinstance(metric, str) or metric not in available:
        raise ValueError(f"unknown metric {metric!r}; valid choices: {_choices(available)}")
    return df[df["metric"] == metric]


def run_points(df: pd.DataFrame, metric: str, x: str, reduce: str = "last") -> pd.DataFrame:
    """One row per run (per row for ``reduce='none'``) of ``metric``, with its ``value``.

    ``reduce`` collapses each run's recorded iterations: ``'last'`` keeps the row at the run's
    last recorded iteration, ``'mean'`` averages ``value`` over the run's recorded iterations
    (``x`` must then be constant within each run, e.g. a parameter column), ``'none'`` keeps
    every row (e.g. ``x='iteration'``). The other columns are carried along.
    """
    if reduce not in REDUCTIONS:
        raise ValueError(f"unknown reduce {reduce!r}; valid choices: {list(REDUCTIONS)}")
    require_columns(df, ("run_id", "seed", "iteration", "metric", "value"))
    check_column(df, x)
    sub = select_metric(df, metric)
    if reduce == "none":
        return sub.reset_index(drop=True)
    last = sub.loc[sub.groupby("run_id", sort=True)["iteration"].idxmax()]
    if reduce == "last":
        return last.reset_index(drop=True)
    varying = sub.groupby("run_id")[x].nunique(dropna=False)
    if (varying > 1).any():
        raise ValueError(
            f"x column {x!r} varies within runs, so reduce='mean' is ambiguous; "
            "use reduce='last' or 'none'"
        )
    means = sub.groupby("run_id", sort=True)["value"].mean()
    out = last.set_index("run_id")
    out["value"] = means
    return out.reset_index()


def check_unique_runs(points: pd.DataFrame, keys: Sequence[str], x: str, arg: str = "by") -> None:
    """ValueError when two runs share the same ``keys``, ``x`` and seed.

    That happens when a parameter not in ``keys`` also varies: averaging over such runs would mix
    configurations, so the error names the columns that differ.
    """
    cols = [*keys, x, "seed"]
    counts = points.groupby(cols, dropna=False, sort=False)["run_id"].nunique()
    clash = counts[counts > 1]
    if clash.empty:
        return
    where = dict(zip(cols, clash.index[0]))  # cols has >= 2 entries: the index is a tuple
    mask = np.ones(len(points), dtype=bool)
    for c, v in where.items():
        mask &= (points[c] == v).to_numpy() | (points[c].isna().to_numpy() & pd.isna(v))
    rows = points[mask]
    candidates = [
        c for c in (*_DESCRIPTIVE, *param_columns(points)) if c in rows.columns and c not in cols
    ]
    differ = [c for c in candidates if rows[c].nunique(dropna=False) > 1]
    raise ValueError(
        f"several runs share {where}: they differ in {differ or ['run_id']}; add these columns "
        f"to `{arg}` or filter the table"
    )


def t_quantile(confidence: float, dof) -> np.ndarray:
    """The two-sided Student-t quantile t_{(1 + confidence) / 2, dof} (NaN where dof < 1)."""
    from scipy.special import stdtrit  # scipy is a dependency of jax; imported lazily

    dof = np.asarray(dof, dtype=np.float64)
    q = stdtrit(np.where(dof >= 1, dof, 1.0), (1.0 + confidence) / 2.0)
    return np.where(dof >= 1, q, np.nan)


def check_confidence(confidence) -> float:
    """A float strictly between 0 and 1."""
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, (int, float, np.floating))
        or not 0.0 < float(confidence) < 1.0
    ):
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    return float(confidence)


def mean_ci(
    frame: pd.DataFrame, keys: Sequence[str], value: str = "value", confidence: float = 0.95
) -> pd.DataFrame:
    """Per group of ``keys``: ``mean``, ``std``, ``n`` and the t interval ``low``, ``high``.

    ``half_width = t_{(1 + c) / 2, n - 1} * std / sqrt(n)``; NaN (no interval) when n = 1.
    """
    confidence = check_confidence(confidence)
    out = (
        frame.groupby(list(keys), dropna=False, sort=True)[value]
        .agg(mean="mean", std="std", n="count")
        .reset_index()
    )
    n = out["n"].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = t_quantile(confidence, n - 1) * out["std"].to_numpy() / np.sqrt(n)
    out["half_width"] = half
    out["low"] = out["mean"] - half
    out["high"] = out["mean"] + half
    return out
