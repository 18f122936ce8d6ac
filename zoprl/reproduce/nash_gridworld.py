"""``zoprl reproduce nash-gridworld``: the preference game on trajectories (ours, beyond arXiv
2402.07314).

The teacher of the oracle kind "outcome" (``zoprl.games.outcome_teacher``) compares whole
trajectories of a GridWorld by the goal they end in, rock-paper-scissors among three goals plus
a small linear Bradley-Terry term on the returns, P(tau1 > tau2) = C[o(tau1), o(tau2)] +
lambda (R(tau1) - R(tau2)) with C + C^T = 1: no per-step reward represents it. The target is the
Nash equilibrium pi* of the KL-regularised game J(pi1, pi2) = E P(tau1 > tau2)
- KL(p_pi1 || p_pi0) / eta + KL(p_pi2 || p_pi0) / eta (section 5 of arXiv 2402.07314 with
trajectories as responses), pi0 uniform; the score is its exact gap

    Gap(pi) = max_pi' J(pi', pi) - 1/2 = 1/2 - min_pi' J(pi, pi') >= 0,   Gap(pi*) = 0,

computed by soft value iteration (``zoprl.games.mdp_game``, the "nash_mdp" evaluator). ZPG,
ZSPO, online DPO and online RLHF-PPO (``specs/nash-gridworld.toml``) are each tuned by the
tuning protocol (``zoprl.tuning``: equal configurations, selected by the final gap at a common
query budget), then rerun on fresh seeds. Outputs in ``<out>``: the protocol's (tuning/,
evaluation/, tuned.yaml, chosen.csv / .md, sensitivity figure), then

  summary.csv / summary.md   per method at the common budget: the gap, KL(p_pi || p_pi0), the
                             win rate against pi*, mean and 95% t interval over the evaluation
                             seeds, and the mean outcome law; rows for pi0 and pi* (exact)
  nash_gridworld.png/.pdf    the gap against queries (log scale; pi0's gap dashed) and the
                             outcome laws at the budget beside pi*'s

The evaluation sweep reuses the tuning sweep's compiled programs through JAX's persistent
compilation cache (the evaluation seeds are the tuning's points x seeds, one batch shape).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

SPEC_NAME = "nash-gridworld"
OUTCOMES = ("goal_0", "goal_1", "goal_2", "no_goal")
METRICS = ("gap", "kl_to_reference", "win_rate_vs_equilibrium")


def exact_references(spec) -> pd.DataFrame:
    """The rows of pi0 (uniform) and pi* (the equilibrium) for the spec's game, in float64:
    gap, KL to pi0, win rate against pi* and the outcome law."""
    import jax
    import jax.numpy as jnp

    from zoprl.envs import make
    from zoprl.games import mdp_game
    from zoprl.games.outcome_teacher import outcome_params

    knobs = ("strength", "goal_bonus", "return_weight", "outcome_matrix")
    with jax.enable_x64(True):
        env, env_params = make(spec.environment.name, **spec.environment.options)
        env_params = jax.tree.map(
            lambda x: jnp.asarray(x, jnp.float64) if jnp.issubdtype(x.dtype, jnp.floating) else x,
            jax.tree.map(jnp.asarray, env_params),
        )
        options = {k: v for k, v in spec.oracle.options.items() if k in knobs}
        teacher = outcome_params(env, env_params, **options)
        shape = (env.horizon, env.num_states, env.num_actions)
        uniform = jnp.full(shape, -np.log(env.num_actions), jnp.float64)
        eta = float(spec.evaluation.options["eta"])
        game = mdp_game.outcome_game(env.model(env_params), teacher, uniform, eta)
        values = jax.jit(_reference_values)(game)
    rows = []
    for i, method in enumerate(("pi0 (uniform)", "pi* (equilibrium)")):
        row = {"method": method, "queries": 0.0, "n": 0, "exact": True}
        row.update({k: float(v[i]) for k, v in values.items() if k != "outcomes"})
        row.update({f"outcome_{o}": float(q) for o, q in zip(OUTCOMES, values["outcomes"][i])})
        rows.append(row)
    return pd.DataFrame(rows)


def _reference_values(game) -> dict:
    """The metrics of pi0 and pi* (stacked: [2, ...]) in the game."""
    import jax
    import jax.numpy as jnp

    from zoprl.games import mdp_game

    star = mdp_game.equilibrium(game).log_policy
    per_policy = lambda policy: {
        "gap": mdp_game.gap(game, policy),
        "kl_to_reference": mdp_game.trajectory_kl(game, policy),
        "win_rate_vs_equilibrium": mdp_game.win_rate(game, policy, star),
        "outcomes": mdp_game.outcome_distribution(game, policy),
    }
    return jax.vmap(per_policy)(jnp.stack([game.log_reference, star]))


def summary_frame(table: pd.DataFrame, references: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per method at the common budget (module doc), then the exact references."""
    from zoprl.reproduce.figures import common_budget, value_at_budget
    from zoprl.theory.tidy import mean_ci

    budget = common_budget(table)
    frame = None
    for metric in METRICS + tuple(f"outcome_{o}" for o in OUTCOMES):
        rows = value_at_budget(table, metric, budget)
        stats = mean_ci(rows, ["label"])[["label", "mean", "low", "high", "n"]]
        if metric.startswith("outcome_"):
            stats = stats[["label", "mean"]]
        stats = stats.rename(
            columns={"mean": metric, "low": f"{metric}_low", "high": f"{metric}_high"}
        )
        if frame is None:
            spent = rows.groupby("label")["queries"].mean().reset_index()
            frame = stats.merge(spent, on="label")
        else:
            frame = frame.merge(stats.drop(columns="n", errors="ignore"), on="label")
    frame = frame.rename(columns={"label": "method"}).assign(exact=False)
    frame = frame.sort_values("gap").reset_index(drop=True)
    if references is not None:
        frame = pd.concat([frame, references], ignore_index=True)
    order = ["method", "exact", "queries", "n"]
    return frame[order + [c for c in frame.columns if c not in order]]


def summary_markdown(frame: pd.DataFrame) -> str:
    """The README's pipe table: gap, KL and win rate against pi* as "mean [low, high]" (three
    decimals), then the mean outcome law (two decimals); exact rows without intervals."""
    from zoprl.reproduce.figures import interval_cell, number, pipe_table

    header = ["method", "gap", "KL(p_pi ‖ p_pi0)", "win rate vs pi*"]
    header += ["P(goal 0)", "P(goal 1)", "P(goal 2)", "P(no goal)"]
    rows = []
    for _, row in frame.iterrows():
        cells = [row["method"]]
        cells += [number(row[m]) if row["exact"] else interval_cell(row, m) for m in METRICS]
        rows.append(cells + [number(row[f"outcome_{o}"], 2) for o in OUTCOMES])
    return pipe_table(header, rows, ["l"] + ["r"] * (len(header) - 1))


def nash_gridworld_figure(table: pd.DataFrame, frame: pd.DataFrame):
    """Left: the gap against queries per method (mean over seeds and its 95% t band, log scale),
    pi0's gap dashed. Right: the outcome laws at the common budget, pi*'s beside them."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from zoprl.plots.style import colors
    from zoprl.theory.tidy import mean_ci

    methods = list(frame.method)
    palette = dict(zip(methods, colors(len(methods))))
    fig = Figure(figsize=(13.0, 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    curves, bars = fig.subplots(1, 2)
    gaps = table[table.metric == "gap"]
    for method, group in gaps.groupby("label", sort=False):
        stats = mean_ci(group, ["iteration"])
        queries = group.groupby("iteration")["queries"].mean().to_numpy()
        curves.plot(queries, stats["mean"], color=palette[method], label=method, lw=1.6)
        curves.fill_between(queries, stats["low"], stats["high"], color=palette[method], alpha=0.2)
    start = frame[frame.method == "pi0 (uniform)"].gap
    if len(start):
        curves.axhline(float(start.iloc[0]), ls="--", color="gray", label="pi0 (uniform)")
    curves.set_yscale("log")
    curves.set_xlabel("human queries")
    curves.set_ylabel("exact gap  max_pi' J(pi', pi) - 1/2")
    curves.set_title("the gap of the KL-regularised game on trajectories")
    curves.grid(True, alpha=0.3)
    curves.legend(fontsize="small")
    width = 0.8 / len(methods)
    for i, row in enumerate(frame.itertuples()):
        law = [getattr(row, f"outcome_{o}") for o in OUTCOMES]
        offsets = np.arange(len(OUTCOMES)) + (i - (len(methods) - 1) / 2) * width
        bars.bar(offsets, law, width, color=palette[row.method], label=row.method)
    bars.set_xticks(range(len(OUTCOMES)), [o.replace("_", " ") for o in OUTCOMES])
    bars.set_ylabel("probability of the outcome")
    bars.set_title("where the trajectories end, at the common budget")
    bars.grid(True, axis="y", alpha=0.3)
    bars.legend(fontsize="small")
    return fig


def summarise(table, out_dir: str, references=None, log=print) -> list[str]:
    """summary.csv, summary.md and the figure of the module doc from the evaluation table."""
    from zoprl.plots import save_figure
    from zoprl.reproduce.figures import common_budget, write_summary

    frame = summary_frame(table, references)
    markdown = summary_markdown(frame)
    log(
        f"at {common_budget(table):,.0f} queries, mean [95% t interval] over "
        f"{int(frame.n.max())} evaluation seeds (pi0, pi*: exact):"
    )
    written = write_summary(frame, markdown, out_dir, log)
    paths = save_figure(nash_gridworld_figure(table, frame), os.path.join(out_dir, SPEC_NAME))
    return written + [str(p) for p in paths]


def run_nash_gridworld(out_dir, profile, fresh, progress, log) -> list[str]:
    """Tune and evaluate the spec's methods (``zoprl.tuning.tune``), then the summary and the
    figure (module doc); returns the written paths."""
    from zoprl.hosts import share
    from zoprl.reproduce import SPECS
    from zoprl.reproduce.specs_io import load_profile
    from zoprl.tuning import tune

    spec = load_profile(os.path.join(SPECS, f"{SPEC_NAME}.toml"), profile)
    tuned = tune(spec, out_dir, fresh=fresh, progress=progress, log=log)
    references = exact_references(spec)
    return list(tuned.written) + share(  # process 0 writes (zoprl.hosts)
        lambda: summarise(tuned.evaluation.table, out_dir, references=references, log=log)
    )


__all__ = [
    "exact_references",
    "nash_gridworld_figure",
    "run_nash_gridworld",
    "summarise",
    "summary_frame",
    "summary_markdown",
]
