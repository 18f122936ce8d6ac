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
                          environment option of the run (NaN where a cell lacks one)
    seed          int64
    iteration     int64
    trajectories  int64   cumulative trajectories sampled by the learner
    queries       int64   cumulative human queries
    metric        str     value, value_gap, grad_norm_sq, value_stderr, and the diagnostics
    value         float64

The algorithms count in int32; ``unwrap_counts`` undoes a wrap past 2^31 on the host, so the
table's counts are exact for any sweep length (counts grow by less than 2^32 between records).
Parquet files are written atomically; ``read_table`` reads one back with pandas.
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
RUN_COLUMNS = ("seed", "iteration", "trajectories", "queries", "metric", "value")
COUNT_METRICS = ("trajectories", "queries")


def unwrap_counts(counts: np.ndarray) -> np.ndarray:
    """Exact int64 cumulative counts from int32 records [R, E] that may have wrapped at 2^31:
    the increments between records are taken modulo 2^32."""
    raw = np.asarray(counts).astype(np.int64) & 0xFFFFFFFF
    steps = np.diff(raw, axis=-1) % (1 << 32)
    return np.concatenate([raw[..., :1], raw[..., :1] + np.cumsum(steps, axis=-1)], axis=-1)


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
    metrics: name -> [R, E] (must include ``trajectories`` and ``queries``); present: name ->
    bool [E], the records where a metric exists (diagnostics have none at iteration 0).
    """
    import pandas as pd

    run_ids, seeds, iterations = (np.asarray(x) for x in (run_ids, seeds, iterations))
    runs, length = len(run_ids), len(iterations)
    counts = {k: unwrap_counts(metrics[k]) for k in COUNT_METRICS}
    names = [m for m in metrics if m not in COUNT_METRICS]
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
        columns.update({k: np.asarray(v)[r] for k, v in params.items()})
        columns.update(
            {
                "seed": seeds[r].astype(np.int64),
                "iteration": iterations[e].astype(np.int64),
                "trajectories": counts["trajectories"][r, e],
                "queries": counts["queries"][r, e],
                "metric": np.full(r.size, name, object),
                "value": np.asarray(metrics[name], np.float64)[r, e],
            }
        )
        frames.append(pd.DataFrame(columns))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


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
