"""``zoprl reproduce nash-online``: online Nash learning with a main agent and an enhancer
against offline Nash learning, at equal query budgets (Ye et al. 2024, arXiv 2402.07314,
Algorithms 1 and 2), and the ablation of the enhancer.

The target is the equilibrium pi* of the KL-regularised preference game on a contextual dueling
bandit, J(pi1, pi2) = E_x[pi1^T P_x pi2 - KL(pi1 || pi0) / eta + KL(pi2 || pi0) / eta], scored
by its exact gap

    Gap(pi) = max_pi' J(pi', pi) - 1/2 = 1/2 - min_pi' J(pi, pi') >= 0,   Gap(pi*) = 0

(the "nash" evaluator). Random intransitive games, one per grid point ``oracle.seed``, have their
actions relabelled so that pi* favours high action indices (the generators' ``sort_eta``), while
the skewed reference pi0 (the data policy of the offline learner) puts little mass there: the
setting where the paper's online learner should beat offline learning, whose error grows with
the coverage coefficient of pi0 relative to pi*. ``specs/nash-online.toml`` runs

  online   ``nash_online`` (Algorithm 2): every round the main agent pi1_t is the equilibrium of
           the game fitted on all data so far, the enhancer pi2_t explores, m pairs
           (a1 ~ pi1_t, a2 ~ pi2_t) are labelled; one static cell per enhancer: (a) uncertainty,
           (b) confidence, (c) best-of-n, (d) self-play, (e) the reference
           (``zoprl.algorithms.nash_online``);
  offline  ``nash_offline`` (Algorithm 1): n pairs of pi0 labelled once, P-hat fitted,
           pessimistic max-min with confidence width beta, n = the common budget (the full
           profile adds smaller n, one cell each); and the same learner with beta = 0
           ("offline fit-then-solve", n = the budget, nothing to tune);

every learner plays the evaluator's game (its eta fixed at the evaluator's, known to the
learner like pi0); the knobs left (lambda for (a), lambda and beta for (b), beta for the
offline learner) are tuned by the tuning protocol (``zoprl.tuning``: the same number of
configurations and tuning seeds per game, selected on the final gap at the common query
budget), then rerun on fresh seeds of the same games; (c), (d), (e) and fit-then-solve have no
knob left and run as they are. Outputs in ``<out>``: the protocol's (tuning/, evaluation/,
tuned.yaml, chosen.csv / .md, sensitivity figure), then

  summary.csv / summary.md   per method at the common budget: the gap, its differences from
                             the tuned offline learner's gap and from self-play's (d) gap on
                             the same game (paired by game), KL to pi0 and the win rate against
                             pi*, each the mean over games of the per-game mean over seeds with
                             its 95% t interval over games; the row of pi0 (exact per game: the
                             online learners' iteration 0)
  slopes.csv / slopes.md     log-log slope of the mean gap against queries per online learner,
                             for queries in [budget / 4, budget], with its 95% cluster-
                             bootstrap interval over games
                             (``zoprl.theory.bootstrap_slope``); the paper's bound: -1/2
  nash_online.png/.pdf       the gap against queries (log-log; offline at its data sizes and
                             fit-then-solve, pi0 dashed) and the gap at the budget per method
"""

from __future__ import annotations

import os

import pandas as pd

SPEC_NAME = "nash-online"
GAME = "oracle.seed"
METRICS = ("gap", "kl_to_reference", "win_rate_vs_equilibrium")
REFERENCE = "pi0 (reference)"
SELF_PLAY = "online (d) self-play"
TUNED_OFFLINE = "offline["  # the tuned offline cells (one per data size); not fit-then-solve


def method_name(label: str) -> str:
    """The display name of a cell: "offline[num_pairs=960]" -> "offline (960 pairs of pi0)"."""
    if label.startswith("offline[num_pairs="):
        return f"offline ({label.split('=')[1].rstrip(']')} pairs of pi0)"
    return label


def game_means(table: pd.DataFrame, metric: str, budget: float) -> pd.DataFrame:
    """Per (label, game): the mean over seeds of ``metric`` at each run's last record within
    ``budget`` queries (``figures.value_at_budget``), its queries and number of runs."""
    from zoprl.reproduce.figures import value_at_budget

    rows = value_at_budget(table, metric, budget)
    return (
        rows.groupby(["label", GAME])
        .agg(value=("value", "mean"), queries=("queries", "mean"), runs=("run_id", "count"))
        .reset_index()
    )


def reference_means(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per game: ``metric`` of pi0, read from the online learners' iteration 0 (no data yet:
    the main agent is pi0, exactly), labelled ``REFERENCE``."""
    rows = table[
        (table.metric == metric) & (table.iteration == 0) & table.label.str.startswith("online")
    ]
    frame = rows.groupby(GAME).agg(value=("value", "mean")).reset_index()
    return frame.assign(label=REFERENCE, queries=0.0, runs=0)


def offline_label(table: pd.DataFrame, budget: float) -> str:
    """The tuned offline cell with the most data within the budget (the equal-budget
    comparison)."""
    runs = table[table.label.str.startswith(TUNED_OFFLINE) & (table.queries <= budget)]
    return str(runs.loc[runs.queries.idxmax(), "label"])


def paired_difference(means: pd.DataFrame, baseline: str, name: str) -> pd.DataFrame:
    """Per label: the mean over games of (its per-game value - ``baseline``'s on the same
    game) with its 95% t interval, in columns ``name``, ``name_low``, ``name_high`` (NaN for
    every label when ``baseline`` is absent)."""
    from zoprl.theory.tidy import mean_ci

    base = means[means.label == baseline]
    if base.empty:
        frame = pd.DataFrame({"label": means.label.unique()})
        return frame.assign(**{name: float("nan"), f"{name}_low": float("nan")}).assign(
            **{f"{name}_high": float("nan")}
        )
    paired = means.merge(base[[GAME, "value"]], on=GAME, suffixes=("", "_baseline"))
    paired = paired.assign(value=paired.value - paired.value_baseline)
    diff = mean_ci(paired, ["label"])[["label", "mean", "low", "high"]]
    return diff.rename(columns={"mean": name, "low": f"{name}_low", "high": f"{name}_high"})


def summary_frame(table: pd.DataFrame, budget: float) -> pd.DataFrame:
    """One row per method at the common budget, then pi0 (module doc)."""
    from zoprl.theory.tidy import mean_ci

    frame = None
    for metric in METRICS:
        means = pd.concat([game_means(table, metric, budget), reference_means(table, metric)])
        stats = mean_ci(means, ["label"])[["label", "mean", "low", "high"]]
        stats = stats.rename(
            columns={"mean": metric, "low": f"{metric}_low", "high": f"{metric}_high"}
        )
        if frame is None:
            counts = means.groupby("label").agg(
                queries=("queries", "mean"), games=(GAME, "count"), runs=("runs", "sum")
            )
            frame = counts.reset_index().merge(stats, on="label")
            for baseline, name in (
                (offline_label(table, budget), "gap_minus_offline"),
                (SELF_PLAY, "gap_minus_self_play"),
            ):
                frame = frame.merge(paired_difference(means, baseline, name), on="label")
        else:
            frame = frame.merge(stats, on="label")
    last = frame.label == REFERENCE
    frame = pd.concat([frame[~last].sort_values("gap"), frame[last]], ignore_index=True)
    frame.insert(0, "method", [method_name(label) for label in frame.label])
    return frame.reset_index(drop=True)


def summary_markdown(frame: pd.DataFrame) -> str:
    """The README's pipe table: queries, then each column as "mean [low, high]" over games."""
    from zoprl.reproduce.figures import interval_cell, pipe_table

    header = ["method", "queries", "gap", "gap - offline gap", "gap - self-play gap"]
    header += ["KL(pi ‖ pi0)", "win rate vs pi*"]
    columns = ("gap", "gap_minus_offline", "gap_minus_self_play")
    columns += ("kl_to_reference", "win_rate_vs_equilibrium")
    rows = [
        [row["method"], f"{row['queries']:,.0f}"]
        + [interval_cell(row, c, missing="-") for c in columns]
        for _, row in frame.iterrows()
    ]
    return pipe_table(header, rows, ["l"] + ["r"] * (len(header) - 1))


def slope_frame(table: pd.DataFrame, budget: float, num_resamples: int = 2000) -> pd.DataFrame:
    """Per online learner: the log-log slope of the mean gap against queries for queries in
    [budget / 4, budget], with its 95% cluster-bootstrap interval over games (module doc)."""
    from zoprl.theory.slopes import bootstrap_slope

    rows = table[
        (table.metric == "gap")
        & table.label.str.startswith("online")
        & (table.queries >= budget / 4)
        & (table.queries <= budget)
    ]
    out = []
    for label, group in rows.groupby("label", sort=False):
        fit = bootstrap_slope(
            group.queries, group.value, groups=group[GAME], fit="means",
            num_resamples=num_resamples,
        )  # fmt: skip
        out.append(
            {
                "method": method_name(label),
                "x": "queries",
                "low_x": float(group.queries.min()),
                "high_x": float(group.queries.max()),
                "slope": fit.slope,
                "low": fit.low,
                "high": fit.high,
                "expected": -0.5,
                "games": int(group[GAME].nunique()),
            }
        )
    return pd.DataFrame(out)


def slopes_markdown(slopes: pd.DataFrame) -> str:
    """The slope table: method, the fitted range of queries, slope [95% interval]."""
    from zoprl.reproduce.figures import interval_cell, number, pipe_table

    header = ["method", "queries fitted", "slope of the gap [95% CI]", "bound"]
    rows = []
    for _, row in slopes.iterrows():
        span = f"{row['low_x']:,.0f}-{row['high_x']:,.0f}"
        fit = interval_cell(row.rename({"low": "slope_low", "high": "slope_high"}), "slope", 2)
        rows.append([row["method"], span, fit, number(row["expected"], 2)])
    return pipe_table(header, rows, ["l", "r", "r", "r"])


def _curve(group: pd.DataFrame) -> pd.DataFrame:
    """Mean over games of the per-game mean gap at each query count, with its t interval."""
    from zoprl.theory.tidy import mean_ci

    per_game = group.groupby(["queries", GAME])["value"].mean().reset_index()
    return mean_ci(per_game, ["queries"])


def _offline_groups(offline: pd.DataFrame) -> list:
    """(legend label, rows, tuned): the tuned offline cells together (one point per data size), then
    the other offline cells (fit-then-solve) together."""
    tuned = offline.label.str.startswith(TUNED_OFFLINE)
    groups = [("offline, tuned beta (data of pi0)", offline[tuned], True)]
    groups.append(("offline fit-then-solve (beta = 0)", offline[~tuned], False))
    return [group for group in groups if len(group[1])]


def nash_online_figure(table: pd.DataFrame, frame: pd.DataFrame):
    """Left: the gap against queries (log-log; mean over games, 95% t band over games), the
    offline learner at its data sizes with intervals, pi0's gap dashed. Right: the gap at the
    common budget per method with its interval."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from zoprl.plots.style import colors

    methods = [m for m in frame.method if m != REFERENCE]
    online = [m for m in methods if not m.startswith("offline")]
    palette = {**dict.fromkeys(methods, "black"), **dict(zip(online, colors(len(online))))}
    fig = Figure(figsize=(13.0, 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    curves, bars = fig.subplots(1, 2)
    gaps = table[(table.metric == "gap") & (table.queries > 0)]
    offline = gaps[gaps.label.str.startswith("offline")]
    for label, group in gaps[~gaps.label.isin(offline.label)].groupby("label", sort=False):
        stats, color = _curve(group), palette.get(method_name(label), "black")
        curves.plot(stats.queries, stats["mean"], color=color, label=method_name(label), lw=1.6)
        curves.fill_between(stats.queries, stats["low"], stats["high"], color=color, alpha=0.2)
    for label, group, tuned in _offline_groups(offline):
        last = group.loc[group.groupby("run_id")["iteration"].idxmax()]
        stats = _curve(last)
        spread = [stats["mean"] - stats.low, stats.high - stats["mean"]]
        curves.errorbar(
            stats.queries, stats["mean"], yerr=spread, color="black" if tuned else "gray",
            marker="s" if tuned else "o", ls="-", capsize=3, label=label,
        )  # fmt: skip
    start = frame[frame.method == REFERENCE].gap
    if len(start):
        curves.axhline(float(start.iloc[0]), ls="--", color="gray", label=REFERENCE)
        bars.axvline(float(start.iloc[0]), ls="--", color="gray", label=REFERENCE)
    for axis in (curves, bars):
        axis.grid(True, alpha=0.3)
    curves.set_xscale("log")
    curves.set_yscale("log")
    curves.set_xlabel("human queries")
    curves.set_ylabel("exact gap  max_pi' J(pi', pi) - 1/2")
    curves.set_title("online main agent + enhancer against offline learning")
    curves.legend(fontsize="small")
    rows = frame[frame.method != REFERENCE]
    errors = [rows.gap - rows.gap_low, rows.gap_high - rows.gap]
    bars.barh(
        rows.method, rows.gap, xerr=errors, color=[palette[m] for m in rows.method], ecolor="gray"
    )
    bars.invert_yaxis()
    bars.set_xlabel("exact gap at the common budget (mean over games, 95% t interval)")
    bars.set_title("the enhancer ablation at equal queries")
    bars.legend(fontsize="small")
    return fig


def summarise(table, out_dir: str, budget: float, log=print) -> list[str]:
    """summary.csv / .md, slopes.csv / .md and the figure of the module doc."""
    from zoprl.plots import save_figure
    from zoprl.reproduce.figures import write_summary, write_table

    frame = summary_frame(table, budget)
    log(
        f"at {budget:,.0f} queries, mean over {int(frame.games.max())} games of the mean over "
        "seeds [95% t interval over games]:"
    )
    written = write_summary(frame, summary_markdown(frame), out_dir, log)
    slopes = slope_frame(table, budget)
    written += write_table(slopes, slopes_markdown(slopes), out_dir, log, "slopes")
    paths = save_figure(nash_online_figure(table, frame), os.path.join(out_dir, "nash_online"))
    return written + [str(p) for p in paths]


def run_nash_online(out_dir, profile, fresh, progress, log) -> list[str]:
    """Tune and evaluate the spec's learners (``zoprl.tuning.tune``), then the summary, the
    slopes and the figure (module doc); returns the written paths."""
    from zoprl.hosts import share
    from zoprl.reproduce import SPECS
    from zoprl.reproduce.specs_io import load_profile
    from zoprl.tuning import tune

    spec = load_profile(os.path.join(SPECS, f"{SPEC_NAME}.toml"), profile)
    tuned = tune(spec, out_dir, fresh=fresh, progress=progress, log=log)
    budget = float(spec.tuning.budget["queries"])
    return list(tuned.written) + share(  # process 0 writes (zoprl.hosts)
        lambda: summarise(tuned.evaluation.table, out_dir, budget, log=log)
    )


__all__ = [
    "game_means",
    "method_name",
    "nash_online_figure",
    "offline_label",
    "reference_means",
    "run_nash_online",
    "slope_frame",
    "slopes_markdown",
    "summarise",
    "summary_frame",
    "summary_markdown",
]
