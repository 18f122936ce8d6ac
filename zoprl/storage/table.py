"""The tidy long results table: one row per run x recorded iteration x metric.

Columns, in this order:

    run_id        int64   unique over the whole sweep (cells numbered in spec order)
    cell          str     the static cell ("ZPG", or "ZPG[num_pairs=64]" for a static grid)
    label         str     the algorithm entry's display name
    algorithm     str     registry name (zpg, dpo_online, ppo_true_reward, ...)
    environment   str
    oracle        str     "link/preset"
    reads_latent_reward  bool  True for the ceilings that optimise the environment's reward
    hp.*, static.*, oracle.*, env.*   every hyperparameter, static setting, teacher knob and
                          environment option of the run (missing where a cell lacks one;
                          integer and boolean settings keep their type: pandas'
                          nullable Int64 and boolean)
    seed          int64
    diverged      bool    the run recorded a non-finite metric (NaN or inf) at some iteration
    iteration     int64
    trajectories  int64   cumulative trajectories sampled by the learner
    queries       int64   cumulative human queries
    metric        str     value, value_gap, grad_norm_sq, value_stderr, and the diagnostics
    value         float64

The algorithms count in int32. The sweep engine records each count's high word too
(``zoprl.algorithms.run``), and ``exact_counts`` joins the two words into int64: the table's
counts are exact at any size. Counts given without their high word (int32) are unwrapped by
``unwrap_counts``, exact while they grow by less than 2^32 between records. Parquet files are
written atomically; ``read_table`` reads one back with pandas.
"""

from __future__ import annotations

import io
import os

import numpy as np

from zoprl.storage.atomic import write_atomically

ID_COLUMNS = (
    "run_id",
    "cell",
    "label",
    "algorithm",
    "environment",
    "oracle",
    "reads_latent_reward",
)
RUN_COLUMNS = ("seed", "diverged", "iteration", "trajectories", "queries", "metric", "value")
COUNT_METRICS = ("trajectories", "queries")


def unwrap_counts(counts: np.ndarray) -> np.ndarray:
    """Exact int64 cumulative counts from int32 records [R, E] that may have wrapped at 2^31:
    the increments between records are taken modulo 2^32."""
    raw = np.asarray(counts).astype(np.int64) & 0xFFFFFFFF
    steps = np.diff(raw, axis=-1) % (1 << 32)
    return np.concatenate([raw[..., :1], raw[..., :1] + np.cumsum(steps, axis=-1)], axis=-1)


def exact_counts(low: np.ndarray, wraps: np.ndarray) -> np.ndarray:
    """int64 counts from int32 counters ``low`` and their wrap counts ``wraps`` (high words)."""
    low = np.asarray(low).astype(np.int64) & 0xFFFFFFFF
    return (np.asarray(wraps).astype(np.int64) << 32) + low


def _param_column(values):
    """A parameter column: integers and booleans as pandas' nullable Int64 and boolean (so
    that a table mixing cells, some without the setting, keeps their type), anything else as it
    is."""
    import pandas as pd

    values = np.asarray(values)
    if values.dtype.kind in "iu":
        return pd.array(values.astype(np.int64), dtype="Int64")
    if values.dtype.kind == "b":
        return pd.array(values, dtype="boolean")
    return values


def tidy_frame(
    *,
    ids: dict,
    params: dict,
    run_ids,
    seeds,
    iterations,
    metrics: dict,
    present: dict | None = None,
):
    """A tidy DataFrame for runs [R] recorded at ``iterations`` [E].

    ids: identifying columns (scalars, the same for every run); params: parameter columns, [R];
    metrics: name -> [R, E] (must include ``trajectories`` and ``queries``: int64 exact counts,
    or int32 counters that ``unwrap_counts`` unwraps); present: name -> bool [E], the records
    where a metric exists (diagnostics have none at iteration 0). ``diverged`` marks every row
    of a run with a non-finite metric value.
    """
    import pandas as pd

    run_ids, seeds, iterations = (np.asarray(x) for x in (run_ids, seeds, iterations))
    runs, length = len(run_ids), len(iterations)
    counts = {
        k: metrics[k] if np.asarray(metrics[k]).dtype == np.int64 else unwrap_counts(metrics[k])
        for k in COUNT_METRICS
    }
    names = [m for m in metrics if m not in COUNT_METRICS]
    params = {k: _param_column(v) for k, v in params.items()}
    diverged = np.zeros(runs, bool)
    for name in names:
        values = np.asarray(metrics[name], np.float64)
        if present is not None and name in present:
            values = values[:, np.asarray(present[name], bool)]
        diverged |= ~np.isfinite(values).all(axis=1)
    r_idx, e_idx = (
        g.ravel() for g in np.meshgrid(np.arange(runs), np.arange(length), indexing="ij")
    )
    frames = []
    for name in names:
        keep = (
            np.ones(r_idx.size, bool)
            if present is None or name not in present
            else np.asarray(present[name])[e_idx]
        )
        r, e = r_idx[keep], e_idx[keep]
        columns = {"run_id": run_ids[r].astype(np.int64)}
        columns.update({k: np.full(r.size, v) for k, v in ids.items()})
        columns.update({k: v[r] for k, v in params.items()})
        columns.update(
            {
                "seed": seeds[r].astype(np.int64),
                "diverged": diverged[r],
                "iteration": iterations[e].astype(np.int64),
                "trajectories": counts["trajectories"][r, e],
                "queries": counts["queries"][r, e],
                "metric": np.full(r.size, name, object),
                "value": np.asarray(metrics[name], np.float64)[r, e],
            }
        )
        frames.append(pd.DataFrame(columns))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def divergence(frame) -> list[dict]:
    """One entry per run with a non-finite metric value: its run_id, cell, seed, the first
    iteration with a non-finite value, the metrics that went non-finite, and the run's
    parameters that differ between the runs of its cell."""
    bad = frame[~np.isfinite(frame["value"].to_numpy(np.float64))]
    if bad.empty:
        return []
    params = [c for c in frame.columns if c not in ID_COLUMNS + RUN_COLUMNS]
    cells = frame[frame["cell"].isin(set(bad["cell"]))].groupby("cell", sort=False)
    varying = {
        cell: [c for c in params if rows[c].nunique(dropna=False) > 1] for cell, rows in cells
    }
    out = []
    for run_id, rows in bad.groupby("run_id", sort=True):
        first = rows.iloc[0]
        out.append(
            {
                "run_id": int(run_id),
                "cell": str(first["cell"]),
                "seed": int(first["seed"]),
                "iteration": int(rows["iteration"].min()),
                "metrics": sorted(set(rows["metric"])),
                "params": {c: _plain(first[c]) for c in varying[first["cell"]]},
            }
        )
    return out


def _plain(value):
    """A table value as a JSON-ready Python scalar (None when missing)."""
    import pandas as pd

    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def consistent_columns(frame):
    """Parameter columns of one type each: a column mixing numbers and text (cells that set an
    option differently) becomes text, so that Parquet can store it."""
    for column in frame.columns:
        values = frame[column]
        if values.dtype == object and column not in ID_COLUMNS + RUN_COLUMNS:
            present = values.dropna()
            if len({isinstance(v, str) for v in present}) > 1:
                frame[column] = values.map(
                    lambda v: (
                        v
                        if v is None or isinstance(v, str) or (isinstance(v, float) and np.isnan(v))
                        else str(v)
                    )
                )
    return frame


def order_columns(frame):
    """The module doc's column order; parameter columns sorted in between."""
    params = sorted(c for c in frame.columns if c not in ID_COLUMNS + RUN_COLUMNS)
    ordered = (
        [c for c in ID_COLUMNS if c in frame.columns]
        + params
        + [c for c in RUN_COLUMNS if c in frame.columns]
    )
    return frame[ordered]


def sort_rows(frame):
    """Rows in a canonical order: run, metric, iteration."""
    return frame.sort_values(["run_id", "metric", "iteration"], kind="stable").reset_index(
        drop=True
    )


def write_table(frame, path: str) -> str:
    """Write ``frame`` to Parquet atomically."""

    def write(f):
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        f.write(buffer.getvalue())

    return write_atomically(path, write)


def read_table(path: str):
    """A results table (a Parquet file, or a results folder holding ``results.parquet``)."""
    import pandas as pd

    if os.path.isdir(path):
        path = os.path.join(path, "results.parquet")
    if not os.path.isfile(path):
        raise ValueError(f"no results table at {path!r}")
    return pd.read_parquet(path)
