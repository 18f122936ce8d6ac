"""``bilevel-penalty-bias``: how far the penalty gradient is from the hypergradient, exactly.

On random tiny instances (``zoprl.bilevel.random_bilevel_params``: Garnet MDPs, a random
reference, a Bradley-Terry teacher, a tabular reward model with a random nu), in float64, for a
grid of penalty weights lambda:

  penalty_gradient_bias_vs_lambda   ||grad Phi_lambda(nu) - grad F(nu)||, grad Phi_lambda by the
                                    penalty module's Newton solve (``penalty_solution``), grad F
                                    by differentiating through soft value iteration;
  penalty_value_gap_vs_lambda       F(nu) - Phi_lambda(nu) >= 0.

Kwon et al. (arXiv 2309.01753) bound both by O(1 / lambda) near a lower-level solution with a
non-singular Hessian: expected log-log slope -1. The slope is fitted, like the ``rates``
experiment's, on the per-lambda mean over instances for lambda >= ``fit_min_lambda`` (the
O(1 / lambda) regime), with a 95% cluster-bootstrap interval over instances
(``zoprl.theory.slope_table``), and written to ``slopes.csv`` in the format of
``results/rates/slopes.csv``. Every instance and lambda is one vmapped program.
"""

from __future__ import annotations

import dataclasses
import os
import time

import numpy as np

QUANTITIES = {
    "penalty_gradient_bias_vs_lambda": "penalty_gradient_bias",
    "penalty_value_gap_vs_lambda": "penalty_value_gap",
}
X_COLUMN = "hp.penalty"
EXPECTED = -1.0
NOTE = (
    "Kwon et al. (arXiv 2309.01753): O(1/lambda) near a lower-level solution with a "
    "non-singular Hessian; fitted for lambda >= {m:g}"
)


@dataclasses.dataclass(frozen=True)
class PenaltyBiasProfile:
    """Sizes of the experiment (module doc)."""

    name: str
    instances: int = 8
    num_states: int = 3
    num_actions: int = 2
    horizon: int = 3
    lambdas: tuple = tuple(float(x) for x in np.geomspace(1.0, 1e4, 9))
    fit_min_lambda: float = 100.0
    kl_coef: float = 1.0
    reference_scale: float = 0.5
    branching: int = 2
    seed: int = 0
    num_resamples: int = 2000


PROFILES = {
    "quick": PenaltyBiasProfile("quick"),
    "full": PenaltyBiasProfile(
        "full",
        instances=64,
        num_states=4,
        horizon=3,
        lambdas=tuple(float(x) for x in np.geomspace(1.0, 1e5, 16)),
    ),
}


def _instances(profile: PenaltyBiasProfile):
    """Stacked instances and reward parameters nu [I, S, A]."""
    import jax

    from zoprl.bilevel import random_bilevel_params

    k_params, k_nu = jax.random.split(jax.random.key(profile.seed))
    params = jax.vmap(
        lambda k: random_bilevel_params(
            k,
            profile.num_states,
            profile.num_actions,
            profile.horizon,
            branching=profile.branching,
            reference_scale=profile.reference_scale,
            kl_coef=profile.kl_coef,
        )
    )(jax.random.split(k_params, profile.instances))
    nu = jax.random.normal(k_nu, (profile.instances, profile.num_states, profile.num_actions))
    return params, nu


def measure(profile: PenaltyBiasProfile):
    """The tidy table: one run per (instance, lambda), metrics penalty_gradient_bias and
    penalty_value_gap (float64), and a column converged: whether the Newton solve met its
    stopping rule."""
    import jax
    import jax.numpy as jnp
    import pandas as pd

    from zoprl.bilevel import bilevel_rlhf, tabular_reward

    with jax.enable_x64(True):
        params, nu = _instances(profile)
        problem = bilevel_rlhf(tabular_reward)
        lambdas = jnp.asarray(profile.lambdas, jnp.float64)

        def one(p, n):
            value, grad = jax.value_and_grad(problem.hyperobjective, argnums=1)(p, n)
            solutions = jax.vmap(problem.penalty_solution, (None, None, 0))(p, n, lambdas)
            bias = jnp.sqrt(jnp.sum((solutions.grad - grad) ** 2, axis=(-2, -1)))
            return bias, value - solutions.value, solutions.converged

        bias, gap, converged = jax.jit(jax.vmap(one))(params, nu)
    values = {"penalty_gradient_bias": np.asarray(bias), "penalty_value_gap": np.asarray(gap)}
    instance, lam = np.meshgrid(
        np.arange(profile.instances), np.asarray(profile.lambdas), indexing="ij"
    )
    run = np.arange(instance.size)  # run i * L + j: instance i, lambda j
    frame = pd.concat(
        [
            pd.DataFrame(
                {
                    "run_id": run,
                    "cell": cell,
                    "seed": instance.ravel(),
                    X_COLUMN: lam.ravel(),
                    "metric": metric,
                    "value": values[metric].ravel(),
                    "converged": np.asarray(converged).ravel(),
                }
            )
            for cell, metric in QUANTITIES.items()
        ],
        ignore_index=True,
    )
    return frame.assign(iteration=0, label=frame["cell"])


def fit(frame, profile: PenaltyBiasProfile):
    """The slope table in the columns of ``results/rates/slopes.csv`` (module doc)."""
    import pandas as pd

    from zoprl.reproduce.rates.profiles import SLOPE_COLUMNS
    from zoprl.theory import slope_table

    rows = []
    for cell, metric in QUANTITIES.items():
        sub = frame[(frame["cell"] == cell) & (frame[X_COLUMN] >= profile.fit_min_lambda)]
        table = slope_table(
            sub,
            X_COLUMN,
            metric,
            by=("cell",),
            predicted=EXPECTED,
            num_resamples=profile.num_resamples,
        )
        row = {"quantity": cell, "x": X_COLUMN, "metric": metric}
        row.update(table.iloc[0][["slope", "low", "high", "expected", "contains_expected"]])
        row.update(table.iloc[0][["num_x", "num_seeds"]].astype(np.int64))
        row.update(
            x_min=float(sub[X_COLUMN].min()),
            x_max=float(sub[X_COLUMN].max()),
            note=NOTE.format(m=profile.fit_min_lambda),
        )
        rows.append(row)
    return pd.DataFrame(rows, columns=list(SLOPE_COLUMNS))


def figure(frame, out_dir: str, fit_min_lambda: float = 100.0) -> list[str]:
    """Both quantities against lambda on log-log axes with their fitted slopes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from zoprl.plots import save_figure
    from zoprl.plots.rates import plot_rate

    fig = Figure(figsize=(12.8, 4.6), layout="constrained")
    FigureCanvasAgg(fig)
    for ax, (cell, metric) in zip(fig.subplots(1, 2), QUANTITIES.items()):
        plot_rate(frame[frame["cell"] == cell], X_COLUMN, metric, EXPECTED, ax=ax, hue="label")
        ax.set_title(cell)
    fig.suptitle(
        "penalty reformulation against the bilevel problem, exact (float64); every lambda "
        f"drawn, slopes.csv fits lambda >= {fit_min_lambda:g}"
    )
    return [str(p) for p in save_figure(fig, os.path.join(out_dir, "penalty_bias"))]


def run_penalty_bias(out_dir: str, profile="quick", log=print) -> list[str]:
    """Measure, fit and write results.parquet, slopes.csv, slopes.md (= summary.md), the figure
    and manifest.json into ``out_dir``; returns the written paths."""
    from zoprl.reproduce.rates.slopes import format_slopes, slopes_markdown
    from zoprl.storage import (
        build_manifest,
        write_bytes_atomically,
        write_json_atomically,
        write_table,
    )

    profile = PROFILES[profile] if isinstance(profile, str) else profile
    start = time.perf_counter()
    frame = measure(profile)
    os.makedirs(out_dir, exist_ok=True)
    slopes = fit(frame, profile)
    markdown = slopes_markdown(slopes).encode()
    written = [
        write_table(frame, os.path.join(out_dir, "results.parquet")),
        write_bytes_atomically(
            os.path.join(out_dir, "slopes.csv"), slopes.to_csv(index=False).encode()
        ),
        write_bytes_atomically(os.path.join(out_dir, "slopes.md"), markdown),
        write_bytes_atomically(os.path.join(out_dir, "summary.md"), markdown),
        *figure(frame, out_dir, profile.fit_min_lambda),
    ]
    unconverged = int((~frame["converged"]).sum() // len(QUANTITIES))
    cells = [
        {"cell": c, "metric": m, "unconverged_solves": unconverged} for c, m in QUANTITIES.items()
    ]
    manifest = build_manifest(
        {"name": "bilevel-penalty-bias", "profile": dataclasses.asdict(profile)},
        cells,
        time.perf_counter() - start,
    )
    written.append(write_json_atomically(os.path.join(out_dir, "manifest.json"), manifest))
    log("fitted log-log slopes against lambda (95% cluster-bootstrap CI over instances):")
    log(format_slopes(slopes))
    return [str(p) for p in written]


__all__ = ["PROFILES", "PenaltyBiasProfile", "fit", "measure", "run_penalty_bias"]
