"""``zoprl reproduce reward-misspecification``: where reward inference should fail.

The claim under test (arXiv 2409.17401, 2506.03066): skipping reward inference pays off when a
reward model is wrong. The spec (``specs/reward-misspecification.toml``) runs two settings side
by side, each algorithm entry labelled with its setting's suffix:

  (i)   a non-Markovian teacher (``zoprl.oracles.reach_avoid``: reach the goal without passing a
        trap), which no per-step reward represents; RLHF-PPO fits a tabular r(s, a);
  (ii)  the ordinary Bradley-Terry teacher with a reward class too small for the task: RLHF-PPO
        fits a linear reward in a few random features of the state
        (``zoprl.reward_models.features``), a tabular RLHF-PPO beside it as the control.

Every method, the ceilings included, is tuned by the tuning protocol (``zoprl.tuning``) with the
same number of configurations and the same query budget, then rerun on fresh seeds. Outputs in
``<out>``: the protocol's (tuning/, evaluation/, tuned.yaml, chosen.csv / .md, sensitivity
figure), then

  summary.csv / summary.md   gap closed (J - J_0) / (J* - J_0) of each setting's own objective,
                             mean and 95% t interval over the evaluation seeds, at the common
                             query budget (ceilings: at their last iteration), and J / J*
  misspecification.png/.pdf  learning curves against queries and final bars, per setting
  compare.csv / .md / .png   queries to reach gap_closed >= 0.8 (``zoprl.compare``: median,
                             mean, bootstrap intervals, censored runs kept)

The evaluation sweep reuses the tuning sweep's compiled programs through JAX's persistent
compilation cache (``zoprl reproduce`` turns it on; both sweeps run in batches of one shape).
"""

from __future__ import annotations

import os
import re

import pandas as pd

SPEC_NAME = "reward-misspecification"
SETTINGS = {"(i)": "(i) non-Markovian teacher", "(ii)": "(ii) reward class too small"}
METRICS = ("gap_closed", "value_ratio")
THRESHOLD = "gap_closed>=0.8"
_SUFFIX = re.compile(r"^(.*\S)\s+(\(i+\))$")


def split_label(label: str) -> tuple[str, str]:
    """("ZPG", "(i) non-Markovian teacher") from "ZPG (i)" (ValueError without a suffix)."""
    match = _SUFFIX.match(str(label))
    if not match or match.group(2) not in SETTINGS:
        raise ValueError(
            f"label {label!r} must end in one of {', '.join(SETTINGS)} (the setting it belongs to)"
        )
    return match.group(1), SETTINGS[match.group(2)]


def with_settings(table: pd.DataFrame) -> pd.DataFrame:
    """The table with columns ``method`` and ``setting`` from the labels, and ``ceiling``."""
    parts = {label: split_label(label) for label in pd.unique(table.label)}
    return table.assign(
        method=table.label.map(lambda x: parts[x][0]),
        setting=table.label.map(lambda x: parts[x][1]),
        ceiling=table.reads_latent_reward.astype(bool),
    )


def final_rows(table: pd.DataFrame, metric: str, budget: float) -> pd.DataFrame:
    """Per run, ``metric`` at its last record within ``budget`` queries (ceilings, which ask
    none: their last record)."""
    from zoprl.reproduce.figures import value_at_budget

    learners = value_at_budget(table[~table.reads_latent_reward], metric, budget)
    ceilings = table[(table.reads_latent_reward) & (table.metric == metric)]
    ceilings = ceilings.loc[ceilings.groupby("run_id")["iteration"].idxmax()]
    return pd.concat([learners, ceilings], ignore_index=True)


def summary_frame(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (setting, method): gap_closed and value_ratio, mean and 95% t interval
    over seeds at the common budget, the queries and trajectories spent, and the seeds."""
    from zoprl.reproduce.figures import common_budget
    from zoprl.theory.tidy import mean_ci

    table = with_settings(table)
    budget = common_budget(table)
    keys = ["setting", "method", "reads_latent_reward"]
    frame = None
    for metric in METRICS:
        rows = final_rows(table, metric, budget)
        stats = mean_ci(rows, keys)[[*keys, "mean", "low", "high", "n"]]
        stats = stats.rename(
            columns={"mean": metric, "low": f"{metric}_low", "high": f"{metric}_high"}
        )
        if frame is None:
            spent = rows.groupby(keys)[["queries", "trajectories"]].mean().reset_index()
            frame = stats.merge(spent, on=keys)
        else:
            frame = frame.merge(stats.drop(columns="n"), on=keys)
    frame = frame.rename(columns={"reads_latent_reward": "ceiling"})
    order = ["setting", "method", "ceiling", "queries", "trajectories", "n"]
    frame = frame[order + [c for c in frame.columns if c not in order]]
    return frame.sort_values(["setting", "ceiling", "method"]).reset_index(drop=True)


def summary_markdown(frame: pd.DataFrame, metric: str = "gap_closed") -> str:
    """The README's pipe table: one row per method, one column per setting, each cell
    "mean [low, high]" of ``metric`` (two decimals, read from ``frame``); "—" where a method
    does not run in a setting."""
    from zoprl.reproduce.figures import interval_cell, pipe_table

    settings = [s for s in SETTINGS.values() if s in set(frame.setting)]
    rows = []
    for method in method_order(frame):
        cells = []
        for setting in settings:
            row = frame[(frame.method == method) & (frame.setting == setting)]
            cells.append(interval_cell(row.iloc[0], metric, 2) if len(row) else "—")
        ceiling = bool(frame[frame.method == method].ceiling.any())
        rows.append([f"{method}{' (ceiling)' if ceiling else ''}"] + cells)
    return pipe_table(["method"] + settings, rows, ["l"] + ["r"] * len(settings))


def method_order(frame: pd.DataFrame) -> list[str]:
    """The methods of a frame with a ``ceiling`` column: learners by name, then the ceilings."""
    ceilings = frame.groupby("method")["ceiling"].any()
    return sorted(ceilings.index, key=lambda m: (bool(ceilings[m]), m))


def _curves(ax, rows: pd.DataFrame, palette: dict) -> None:
    """gap closed against queries per method: the mean over seeds and its 95% t band; ceilings
    (no queries) as dashed lines at their final mean."""
    from zoprl.theory.tidy import mean_ci

    rows = rows[rows.metric == "gap_closed"]
    for method, group in rows.groupby("method", sort=False):
        stats = mean_ci(group, ["iteration"])
        queries = group.groupby("iteration")["queries"].mean().to_numpy()
        if bool(group.ceiling.any()):
            ax.axhline(stats["mean"].iloc[-1], ls="--", color=palette[method], label=method)
            continue
        ax.plot(queries, stats["mean"], color=palette[method], label=method, lw=1.6)
        ax.fill_between(queries, stats["low"], stats["high"], color=palette[method], alpha=0.2)
    ax.set_xlabel("human queries")
    ax.set_ylabel("gap closed (J - J_0) / (J* - J_0)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")


def _bars(ax, frame: pd.DataFrame, palette: dict) -> None:
    """Final gap closed per method (the summary's means and 95% t intervals); ceilings hatched."""
    for i, row in enumerate(frame.itertuples()):
        err = [[row.gap_closed - row.gap_closed_low], [row.gap_closed_high - row.gap_closed]]
        ax.barh(
            i,
            row.gap_closed,
            xerr=err,
            capsize=3,
            color=palette[row.method],
            hatch="//" if row.ceiling else None,
        )
    ax.set_yticks(
        range(len(frame)),
        [m + (" (ceiling)" if c else "") for m, c in zip(frame.method, frame.ceiling)],
    )
    ax.invert_yaxis()
    ax.set_xlabel("gap closed at the common budget (mean, 95% t interval)")
    ax.grid(True, axis="x", alpha=0.3)


def misspecification_figure(table: pd.DataFrame, frame: pd.DataFrame):
    """Per setting (rows): gap closed against queries and its final value per method (bars
    from the summary ``frame``); one colour per method throughout."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from zoprl.plots.style import colors

    table = with_settings(table)
    methods = method_order(table)
    palette = dict(zip(methods, colors(len(methods))))
    settings = [s for s in SETTINGS.values() if s in set(table.setting)]
    fig = Figure(figsize=(14.0, 4.8 * len(settings)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(settings), 2, squeeze=False)
    for (curves, bars), setting in zip(axes, settings):
        rows = table[table.setting == setting]
        order = {m: i for i, m in enumerate(methods)}
        _curves(curves, rows.sort_values("method", key=lambda m: m.map(order)), palette)
        curves.set_title(f"{setting}: gap closed against human queries")
        chosen = frame[frame.setting == setting].sort_values("method", key=lambda m: m.map(order))
        _bars(bars, chosen, palette)
        bars.set_title(f"{setting}: at the common query budget")
    return fig


def summarise(table: pd.DataFrame, manifest: dict, out_dir: str, log=print) -> list[str]:
    """summary.csv, summary.md and the figure of the module doc from the evaluation table."""
    from zoprl.plots import save_figure
    from zoprl.reproduce.figures import common_budget, write_summary

    frame = summary_frame(table)
    budget = common_budget(table)
    markdown = summary_markdown(frame)
    log(
        f"gap closed (J - J_0) / (J* - J_0) at {budget:,.0f} queries (ceilings: final), mean "
        f"[95% t interval] over {int(frame.n.max())} evaluation seeds:"
    )
    written = write_summary(frame, markdown, out_dir, log)
    paths = save_figure(
        misspecification_figure(table, frame), os.path.join(out_dir, "misspecification")
    )
    return written + [str(p) for p in paths]


def run_misspecification(out_dir, profile, fresh, progress, log) -> list[str]:
    """Tune and evaluate the spec's methods (``zoprl.tuning.tune``), then the summary, the
    figure and the sample-complexity table (module doc); returns the written paths."""
    from zoprl.compare import compare
    from zoprl.hosts import share
    from zoprl.reproduce import SPECS
    from zoprl.reproduce.specs_io import load_profile
    from zoprl.tuning import tune

    spec = load_profile(os.path.join(SPECS, f"{SPEC_NAME}.toml"), profile)
    if spec.seeds != spec.tuning.points * spec.tuning.seeds:
        log(
            f"note: {spec.seeds} evaluation seeds against {spec.tuning.points} x "
            f"{spec.tuning.seeds} tuning runs per method: the evaluation compiles its own programs"
        )
    tuned = tune(spec, out_dir, fresh=fresh, progress=progress, log=log)
    evaluation = tuned.evaluation

    def report() -> list[str]:  # reads and writes the folder: process 0 alone (zoprl.hosts)
        written = summarise(evaluation.table, evaluation.manifest, out_dir, log)
        complexity, _, paths = compare(
            os.path.dirname(evaluation.table_path),
            thresholds=[THRESHOLD],
            metric="gap_closed",
            out_dir=out_dir,
        )
        log(f"queries to reach {THRESHOLD} (median over seeds; censored runs count as never):")
        log(complexity[["label", "seeds", "censored", "median"]].to_string(index=False))
        return written + [str(p) for p in paths]

    return list(tuned.written) + share(report)


__all__ = [
    "SETTINGS",
    "misspecification_figure",
    "run_misspecification",
    "split_label",
    "summarise",
    "summary_frame",
    "summary_markdown",
    "with_settings",
]
