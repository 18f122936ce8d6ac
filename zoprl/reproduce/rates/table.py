"""The tidy results table of the ``rates`` experiment: compute_rates runs the measurements of
``quantities`` for a profile and lays their values out as rows (one run per cell, x, seed)."""

from __future__ import annotations

import math
import time

import numpy as np

from zoprl.reproduce.rates import quantities
from zoprl.reproduce.rates.problem import make_problem
from zoprl.reproduce.rates.profiles import (
    ALGORITHM,
    ENVIRONMENT,
    LABEL,
    ORACLE,
    QUANTITIES,
    RatesProfile,
)

# --------------------------------------------------------------------------------------------
# the tidy table


def _rows(quantity: str, x_values, values: dict, trajectories, queries, params: dict, iteration=0):
    """Rows of one quantity: ``values`` maps metric -> [S, X] (S seeds/groups, X x values);
    ``trajectories`` / ``queries`` are [X] (per run); ``params`` maps column -> scalar or [X]."""
    import pandas as pd

    x_values = np.asarray(x_values)
    first = np.asarray(next(iter(values.values())))
    num_seeds, num_x = first.shape
    seed, xi = (
        g.ravel() for g in np.meshgrid(np.arange(num_seeds), np.arange(num_x), indexing="ij")
    )
    frames = []
    for metric, value in values.items():
        value = np.asarray(value, np.float64)
        if value.shape != (num_seeds, num_x):
            raise ValueError(
                f"{quantity}/{metric}: expected shape {(num_seeds, num_x)}, got {value.shape}"
            )
        columns = {
            "cell": quantity,
            "label": LABEL,
            "algorithm": ALGORITHM,
            "environment": ENVIRONMENT,
            "oracle": ORACLE,
            "reads_latent_reward": False,
        }
        for name, column in params.items():
            column = np.asarray(column, np.float64)
            columns[name] = column[xi] if column.ndim else np.full(xi.size, float(column))
        iters = np.asarray(iteration, np.int64)
        columns.update(
            {
                "seed": seed.astype(np.int64),
                "iteration": iters[xi] if iters.ndim else np.full(xi.size, int(iters), np.int64),
                "trajectories": np.asarray(trajectories, np.int64)[xi],
                "queries": np.asarray(queries, np.int64)[xi],
                "metric": metric,
                "value": value[seed, xi],
                "_x": xi,
            }
        )
        frames.append(pd.DataFrame(columns))
    return pd.concat(frames, ignore_index=True)


def _finish_table(frames):
    """Concatenate, number the runs (one per cell x x value x seed), order columns and rows."""
    import pandas as pd

    from zoprl.storage import order_columns, sort_rows

    df = pd.concat(frames, ignore_index=True)
    order = {q: i for i, q in enumerate(QUANTITIES)}
    keys = df[["cell", "_x", "seed"]].assign(_c=df["cell"].map(order))
    codes = keys.sort_values(["_c", "_x", "seed"]).drop_duplicates(["cell", "_x", "seed"])
    codes = codes.assign(run_id=np.arange(len(codes), dtype=np.int64))
    df = df.merge(codes[["cell", "_x", "seed", "run_id"]], on=["cell", "_x", "seed"])
    df = df.drop(columns="_x")
    df["run_id"] = df["run_id"].astype(np.int64)
    df["reads_latent_reward"] = df["reads_latent_reward"].astype(bool)
    for column in ("cell", "label", "algorithm", "environment", "oracle", "metric"):
        df[column] = df[column].astype(object)
    return sort_rows(order_columns(df))


def _lap(timings, name: str, start: float, log, what: str) -> None:
    seconds = time.perf_counter() - start
    if timings is not None:
        timings[name] = seconds
    log(f"  {what}: {seconds:.1f} s")


def _variance_rows(problem, p: RatesProfile, key, fixed: dict):
    """(i) Rows of ``variance_vs_pairs``: the RMS error of the ZPG estimate about its replicate
    mean, one value per fixed direction (the seed axis) and number of pairs N of
    ``p.pairs_grid``."""
    pairs = np.asarray(p.pairs_grid, np.int64)
    rms = np.stack(
        [
            quantities.gradient_rms_error(
                problem,
                key,
                int(n),
                p.variance_directions,
                p.variance_replicates,
                p.mu,
                p.num_queries,
            )
            for n in pairs
        ],
        axis=1,
    )
    return _rows(
        "variance_vs_pairs",
        pairs,
        {"gradient_rms_error": rms},
        trajectories=2 * pairs * p.variance_replicates,
        queries=pairs * p.num_queries * p.variance_replicates,
        params={
            "static.num_pairs": pairs,
            "oracle.num_queries": p.num_queries,
            "hp.mu": p.mu,
            "static.replicates": p.variance_replicates,
            **fixed,
        },
    )


def _inversion_bias_rows(problem, p: RatesProfile, key, fixed: dict):
    """(ii) Rows of ``inversion_bias_vs_queries`` and a one-line summary for the log.

    Per number of queries M of ``p.queries_grid``: the signed error (estimated minus exact value
    gap along the unit gradient direction) of each replicate, turned positive by the sign of its
    mean over replicates, its standard error over replicates and the exact gap."""
    queries = np.asarray(p.queries_grid, np.int64)
    direction = np.asarray(problem.grad_flat) / np.linalg.norm(np.asarray(problem.grad_flat))
    d_hat, gaps = [], []
    for m in queries:
        d_m, gap = quantities.inversion_gap_estimates(
            problem,
            key,
            int(m),
            direction,
            p.mu,
            p.bias_pairs,
            p.bias_replicates,
            p.bias_chunk_pairs,
        )
        d_hat.append(d_m)
        gaps.append(gap)
    signed = np.stack(d_hat, axis=1) - np.asarray(gaps)[None]  # [R, X]
    sign = np.where(signed.mean(axis=0) >= 0, 1.0, -1.0)
    se = signed.std(axis=0, ddof=1) / math.sqrt(p.bias_replicates)
    per_replicate = p.bias_pairs // p.bias_replicates
    frame = _rows(
        "inversion_bias_vs_queries",
        queries,
        {
            "inversion_bias": signed * sign[None],
            "inversion_bias_se": np.broadcast_to(se, signed.shape),
            "exact_gap": np.broadcast_to(np.asarray(gaps), signed.shape),
        },
        trajectories=np.full(queries.size, 2 * per_replicate),
        queries=per_replicate * queries,
        params={
            "oracle.num_queries": queries,
            "static.num_pairs": per_replicate,
            "hp.mu": p.mu,
            "static.replicates": p.bias_replicates,
            **fixed,
        },
    )
    summary = f"exact gap {gaps[0]:.3f}; SE {se.min():.2e} to {se.max():.2e}"
    return frame, summary


def _smoothing_bias_rows(problem, p: RatesProfile, key, fixed: dict):
    """(iii) Rows of ``smoothing_bias_vs_mu``: per mu of ``p.mu_grid``, the norm of each group's
    smoothing-bias vector [G, X], its standard error over groups and the norm of the pooled
    (group-mean) vector."""
    mus = np.asarray(p.mu_grid, np.float64)
    vectors = quantities.smoothing_bias_vectors(
        problem, key, mus, p.smoothing_groups, p.smoothing_directions
    )
    norms = np.linalg.norm(vectors, axis=-1)  # [G, m]
    se_mu = np.sqrt(vectors.var(axis=0, ddof=1).sum(axis=-1) / p.smoothing_groups)
    zeros = np.zeros(mus.size, np.int64)
    return _rows(
        "smoothing_bias_vs_mu",
        mus,
        {
            "smoothing_bias": norms,
            "smoothing_bias_se": np.broadcast_to(se_mu, norms.shape),
            "pooled_smoothing_bias": np.broadcast_to(
                np.linalg.norm(vectors.mean(0), axis=-1), norms.shape
            ),
        },
        trajectories=zeros,
        queries=zeros,
        params={"hp.mu": mus, "static.directions": p.smoothing_directions, **fixed},
    )


def _directional_bias_rows(problem, p: RatesProfile, key, fixed: dict):
    """(iii) Rows of ``directional_bias_vs_mu``: |(J(theta + mu v) - J(theta)) / mu - <grad J, v>|
    per fixed direction v (the seed axis) and mu of ``p.mu_grid``."""
    mus = np.asarray(p.mu_grid, np.float64)
    directional = quantities.directional_bias(problem, key, mus, p.directional_directions)
    zeros = np.zeros(mus.size, np.int64)
    return _rows(
        "directional_bias_vs_mu",
        mus,
        {"directional_bias": directional},
        trajectories=zeros,
        queries=zeros,
        params={"hp.mu": mus, **fixed},
    )


def _stationarity_rows(problem, p: RatesProfile, key, fixed: dict):
    """(iv) Rows of ``stationarity_vs_iterations``: per run length T of ``p.iterations_grid``
    (step size step_constant / sqrt(T)), the average squared gradient norm and the final value
    gap of each seed."""
    iterations = np.asarray(p.iterations_grid, np.int64)
    avg, gap = quantities.stationarity_runs(
        problem,
        key,
        iterations,
        p.stationarity_seeds,
        p.stationarity_pairs,
        p.num_queries,
        p.mu,
        p.step_constant,
    )
    return _rows(
        "stationarity_vs_iterations",
        iterations,
        {"avg_grad_norm_sq": avg, "value_gap": gap},
        trajectories=2 * p.stationarity_pairs * iterations,
        queries=p.stationarity_pairs * p.num_queries * iterations,
        params={
            "static.iterations": iterations,
            "hp.step_size": p.step_constant / np.sqrt(iterations),
            "static.num_pairs": p.stationarity_pairs,
            "oracle.num_queries": p.num_queries,
            "hp.mu": p.mu,
            **fixed,
        },
        iteration=iterations,
    )


def compute_rates(profile: RatesProfile, log=print, timings: dict | None = None):
    """Measure the four quantities of ``profile``; returns the tidy table (module doc).
    ``timings``, when given, receives the wall seconds of each part (i)-(iv)."""
    import jax

    p = profile
    problem = make_problem(p.theta_seed, p.theta_scale)
    root = jax.random.key(p.seed)
    keys = {q: jax.random.fold_in(root, i) for i, q in enumerate(QUANTITIES)}
    log(
        f"rates [{p.name}]: GridWorld, tabular softmax (d = {problem.dim}), theta: "
        f"J = {problem.value:.3f} (J* = {problem.optimum:.3f}), "
        f"||grad J||^2 = {float(np.sum(np.asarray(problem.grad_flat) ** 2)):.3f}"
    )
    fixed = {
        "oracle.beta": 1.0,
        "hp.clip_range": problem.clip_range,
        "static.dimension": problem.dim,
    }
    frames = []

    start = time.perf_counter()
    frames.append(_variance_rows(problem, p, keys["variance_vs_pairs"], fixed))
    _lap(timings, "variance_vs_pairs", start, log, "(i) variance vs N")

    start = time.perf_counter()
    frame, summary = _inversion_bias_rows(problem, p, keys["inversion_bias_vs_queries"], fixed)
    frames.append(frame)
    _lap(timings, "inversion_bias_vs_queries", start, log, f"(ii) inversion bias vs M ({summary})")

    start = time.perf_counter()
    frames.append(_smoothing_bias_rows(problem, p, keys["smoothing_bias_vs_mu"], fixed))
    frames.append(_directional_bias_rows(problem, p, keys["directional_bias_vs_mu"], fixed))
    _lap(timings, "smoothing_bias_vs_mu", start, log, "(iii) smoothing and directional bias vs mu")

    start = time.perf_counter()
    frames.append(_stationarity_rows(problem, p, keys["stationarity_vs_iterations"], fixed))
    _lap(timings, "stationarity_vs_iterations", start, log, "(iv) stationarity vs T")
    return _finish_table(frames)
