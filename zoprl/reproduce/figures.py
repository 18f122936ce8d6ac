"""Figures and summary tables of the spec-based reproductions, from their results tables only.

Each function takes (table, manifest, out_dir, log) — the evaluation table of the tuned
methods — writes PNG + PDF figures, ``summary.csv`` and ``summary.md`` (the pipe table the README
shows verbatim; a test checks that it does) into ``out_dir``, logs the summary, and returns the
written paths. Intervals are 95% t intervals over the evaluation seeds.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from zoprl.plots import plot_final_bars, plot_final_metric, plot_results, save_figure
from zoprl.storage.atomic import write_bytes_atomically
from zoprl.theory.tidy import mean_ci


def interval_text(mean: float, low: float, high: float, digits: int = 3) -> str:
    """ "m [l, h]" to ``digits`` decimals (an interval of one seed is "m")."""
    if not np.isfinite(low):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def number(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` decimals, rounded first and + 0.0, so never "-0.000"."""
    return f"{round(float(value), digits) + 0.0:.{digits}f}"


def interval_cell(row, name: str, digits: int = 3, missing: str | None = None, text=None) -> str:
    """ "m [l, h]" of ``row[name]``, ``row[name_low]``, ``row[name_high]``, each ``text(v)``
    (default ``number(v, digits)``); ``missing`` instead where ``row[name]`` is NaN, if given."""
    if missing is not None and pd.isna(row[name]):
        return missing
    text = text or (lambda v: number(v, digits))
    return f"{text(row[name])} [{text(row[f'{name}_low'])}, {text(row[f'{name}_high'])}]"


def write_table(
    frame: pd.DataFrame, markdown: str | None, out_dir: str, log, name: str
) -> list[str]:
    """``name``.csv (the numbers) and, unless ``markdown`` is None, ``name``.md (logged too),
    each written atomically; returns the paths."""
    paths = []
    if markdown is not None:
        log(markdown)
    paths.append(
        write_bytes_atomically(
            os.path.join(out_dir, f"{name}.csv"), frame.to_csv(index=False).encode()
        )
    )
    if markdown is not None:
        paths.append(write_bytes_atomically(os.path.join(out_dir, f"{name}.md"), markdown.encode()))
    return paths


def write_summary(frame: pd.DataFrame, markdown: str, out_dir: str, log) -> list[str]:
    """summary.csv (the numbers) and summary.md (the README's table)."""
    return write_table(frame, markdown, out_dir, log, "summary")


def pipe_table(header: list[str], rows: list[list[str]], align: list[str] | None = None) -> str:
    """A Markdown pipe table; ``align`` per column: "l" or "r"."""
    align = align or ["l"] * len(header)
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def value_at_budget(table: pd.DataFrame, metric: str, budget: float) -> pd.DataFrame:
    """Per run: ``metric`` at its last record that asked at most ``budget`` queries (runs whose
    first record is already over budget, e.g. an offline data set larger than it, are left out)."""
    rows = table[(table.metric == metric) & (table.queries <= budget)]
    return rows.loc[rows.groupby("run_id")["iteration"].idxmax()]


def common_budget(table: pd.DataFrame) -> float:
    """The largest query budget every method that asks queries reached: at the last iteration,
    the most queries of each label (the ceilings, which read the latent reward, left out), the
    least of those above 0 (a table without the column: no ceilings)."""
    final = table[table.iteration == table.iteration.max()]
    ceiling = final.get("reads_latent_reward", pd.Series(False, index=final.index))
    spent = final[~ceiling.astype(bool)].groupby("label")["queries"].max()
    return float(spent[spent > 0].min())


def at_budget(table: pd.DataFrame, metric: str, budget: float) -> pd.DataFrame:
    """Per run: ``metric`` at the budget (``value_at_budget``; the ceilings, which ask no
    queries: at their last iteration)."""
    final = table[table.iteration == table.iteration.max()]
    return pd.concat(
        [
            value_at_budget(table[~table.reads_latent_reward], metric, budget),
            final[final.reads_latent_reward & (final.metric == metric)],
        ]
    )


def queries_text(row) -> str:
    """The queries-to-threshold cell: "median [low, high]", "never (k of the seeds censored)"
    or "(asks no queries)"."""
    if pd.isna(row.get("median")):
        return "(asks no queries)"
    if np.isinf(row["median"]):
        return f"never ({row['censored']} of the seeds censored)"
    high = "inf" if np.isinf(row["median_high"]) else f"{row['median_high']:.0f}"
    return f"{row['median']:.0f} [{row['median_low']:.0f}, {high}]"


def per_method(table: pd.DataFrame) -> pd.DataFrame:
    """The table without its hyperparameter columns, so that a method tuned per context (a
    slip, a teacher), with other hyperparameters in each, is one line or bar per label; as it is
    when a label still holds several configurations of the other columns (an untuned grid)."""
    reduced = table.drop(columns=[c for c in table.columns if c.startswith("hp.")])
    keys = [c for c in reduced.columns if c.startswith(("env.", "oracle.", "static."))]
    runs = reduced.drop_duplicates("run_id")
    unique = not runs.duplicated(["label", "seed", *keys]).any()
    return reduced if unique else table


def kl_target_ratio(environment: dict, beta: float) -> float:
    """J(pi*_beta) / J* on the GridWorld of ``environment`` (the spec's options): pi*_beta the
    KL-regularised optimum against the uniform reference with coefficient beta (soft value
    iteration), the policy DPO targets at its beta."""
    import jax.numpy as jnp

    from zoprl.envs import make
    from zoprl.evaluation import optimal_value, policy_value
    from zoprl.soft_value import KLRegularisedMDP, soft_value_iteration

    options = {k: v for k, v in environment.items() if k != "name"}
    env, env_params = make(environment.get("name", "GridWorld"), **options)
    model = env.model(env_params)
    reference = jnp.full((env.num_states, env.num_actions), 1.0 / env.num_actions)
    mdp = KLRegularisedMDP(
        model.transition, model.start, model.expected_reward(), reference, jnp.float32(beta)
    )
    policy = soft_value_iteration(mdp, env.horizon).policy
    return float(policy_value(model, policy) / optimal_value(model, env.horizon))


def _dpo_targets(table: pd.DataFrame, manifest: dict) -> dict:
    """label -> J(pi*_beta) / J* for the DPO / IPO rows (their chosen beta)."""
    environment = manifest["spec"]["environment"]
    targets = {}
    for label, group in table[table.algorithm.str.startswith(("dpo", "ipo"))].groupby("label"):
        targets[label] = kl_target_ratio(environment, float(group["hp.beta"].iloc[0]))
    return targets


def comparison(table, manifest, out_dir, log) -> list[str]:
    """Learning curves against queries and trajectories; the value gap and J / J* at the common
    query budget (the ceilings, which ask none: at their last iteration) with 95% intervals,
    the queries each method needed to reach 0.9 J* (``zoprl.compare``: median and bootstrap
    interval over seeds, censored runs kept), and DPO's KL-regularised target at its beta."""
    from zoprl.compare import compare_table

    paths = plot_results(table, out_dir, metric="value_gap", x=["queries", "trajectories"])
    budget = common_budget(table)
    gap = mean_ci(at_budget(table, "value_gap", budget), ["label"])
    ratio = mean_ci(at_budget(table, "value_ratio", budget), ["label"])
    complexity, _, written = compare_table(table, ["value_ratio>=0.9"], "queries", out_dir=out_dir)
    targets = _dpo_targets(table, manifest)
    summary = gap.merge(ratio, on="label", suffixes=("", "_ratio")).sort_values("mean")
    summary = summary.merge(
        complexity[["label", "median", "median_low", "median_high", "censored"]],
        on="label",
        how="left",
    )
    summary["kl_target_ratio"] = summary.label.map(targets)
    rows = [
        [
            row.label,
            interval_text(row["mean"], row.low, row.high),
            interval_text(row.mean_ratio, row.low_ratio, row.high_ratio),
            queries_text(row),
            "" if pd.isna(row.kl_target_ratio) else f"{row.kl_target_ratio:.3f}",
        ]
        for _, row in summary.iterrows()
    ]
    markdown = pipe_table(
        [
            "method",
            f"value gap at {budget:.0f} queries",
            "J / J*",
            "queries to 0.9 J* (median)",
            "J / J* of the KL target",
        ],
        rows,
        ["l", "l", "l", "l", "r"],
    )
    return [*map(str, paths), *written, *write_summary(summary, markdown, out_dir, log)]


def stochasticity(table, manifest, out_dir, log) -> list[str]:
    """The fraction of the uniform policy's gap closed (the comparable scale: J* and J / J* of
    the uniform policy both change with the slip) and J / J* against the slip probability."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12.8, 4.6), layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    plot_final_metric(per_method(table), "gap_closed", "env.slip", ax=left)
    plot_final_metric(per_method(table), "value_ratio", "env.slip", ax=right)
    fig.suptitle("at a fixed budget of human queries, each method tuned per slip")
    paths = save_figure(fig, os.path.join(out_dir, "final_vs_slip"))
    final = table[(table.iteration == table.iteration.max())]
    stats = {
        m: mean_ci(final[final.metric == m], ["label", "env.slip"])
        for m in ("gap_closed", "value_ratio")
    }
    slips = sorted(stats["gap_closed"]["env.slip"].unique())
    rows, frames = [], []
    for label, group in stats["gap_closed"].groupby("label", sort=False):
        ratio = stats["value_ratio"][stats["value_ratio"].label == label].set_index("env.slip")
        group = group.set_index("env.slip")
        cells = [interval_text(*group.loc[s, ["mean", "low", "high"]], digits=2) for s in slips]
        rows.append([label] + [f"{c} ({ratio.loc[s, 'mean']:.2f})" for c, s in zip(cells, slips)])
        frames.append(group.assign(label=label, value_ratio=ratio["mean"]).reset_index())
    markdown = pipe_table(["gap closed [95% CI] (J / J*)"] + [f"slip={s:g}" for s in slips], rows)
    log("fraction of the uniform policy's gap closed by slip probability:")
    return [*map(str, paths), *write_summary(pd.concat(frames), markdown, out_dir, log)]


def links(table, manifest, out_dir, log) -> list[str]:
    """Final J / J* per teacher link and method (grouped bars), and each method's paired
    differences between teachers: the same evaluation seeds in every cell, so the difference
    of two teachers is taken seed by seed; its 95% interval, and the smallest difference the
    design detects with 80% power at the 5% level, (z_0.975 + z_0.8) s_d / sqrt(n) = 2.80 s_d /
    sqrt(n) for the paired standard deviation s_d."""
    ratio = per_method(table[table.metric == "value_ratio"])
    ratio["teacher link"] = ratio["oracle"].str.split("/").str[0]
    ratio["label"] = ratio["label"].str.split("[").str[0]  # tuned cells: "ZSPO[oracle.link=..]"
    ax = plot_final_bars(ratio, "value_ratio", group="teacher link")
    ax.set_title("final J / J* by the teacher's link (each cell tuned for its teacher)")
    paths = save_figure(ax, os.path.join(out_dir, "value_ratio_by_link"))
    final = ratio[ratio.iteration == ratio.iteration.max()]
    stats = mean_ci(final, ["label", "teacher link"])
    teachers = sorted(stats["teacher link"].unique())
    rows = []
    for label, group in stats.groupby("label", sort=False):
        group = group.set_index("teacher link")
        paired = _paired_spread(final[final.label == label])
        rows.append(
            [label]
            + [
                interval_text(group.loc[t, "mean"], group.loc[t, "low"], group.loc[t, "high"])
                if t in group.index
                else ""
                for t in teachers
            ]
            + [paired]
        )
    markdown = pipe_table(
        ["J / J* [95% CI]"] + teachers + ["largest teacher difference [95% CI]; detectable"], rows
    )
    log("final J / J* by teacher link:")
    return [*map(str, paths), *write_summary(stats, markdown, out_dir, log)]


def _paired_spread(final: pd.DataFrame) -> str:
    """The largest paired difference between two teachers of one method (mean and 95% t
    interval over the shared seeds) and the design's detectable difference (``links`` doc)."""
    from zoprl.theory.tidy import t_quantile

    wide = final.pivot_table(index="seed", columns="teacher link", values="value")
    if wide.shape[1] < 2:
        return ""
    means = wide.mean()
    hi, lo = means.idxmax(), means.idxmin()
    diff = (wide[hi] - wide[lo]).dropna()
    n, sd = len(diff), diff.std(ddof=1)
    half = t_quantile(0.95, n - 1) * sd / np.sqrt(n)
    detectable = 2.80 * sd / np.sqrt(n)
    return (
        f"{hi} - {lo}: {diff.mean():.3f} [{diff.mean() - half:.3f}, "
        f"{diff.mean() + half:.3f}]; {detectable:.3f}"
    )


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
    stats = stats.sort_values("final_value_gap")
    rows = [
        [
            row.cell,
            f"{row.queries:.0f}",
            f"{row.ms_per_iteration:.2f}",
            interval_text(row.final_value_gap, row.low, row.high),
        ]
        for row in stats.itertuples()
    ]
    markdown = pipe_table(
        ["cell", "queries", "ms / iteration", "final value gap [95% CI]"],
        rows,
        ["l", "r", "r", "l"],
    )
    log("final value gap, wall-clock cost per iteration (all seeds at once) and queries:")
    return [*map(str, paths), *write_summary(stats, markdown, out_dir, log)]


__all__ = [
    "at_budget",
    "blocks",
    "common_budget",
    "comparison",
    "interval_cell",
    "interval_text",
    "kl_target_ratio",
    "links",
    "number",
    "pipe_table",
    "queries_text",
    "stochasticity",
    "value_at_budget",
    "write_summary",
    "write_table",
]
