"""``zoprl reproduce nash-offline``: the gap of offline pessimistic Nash learning against the data
size (arXiv 2402.07314, Algorithm 1 and its offline guarantee).

The game: a contextual bandit, a general preference tensor P[x, a, b] (P + P^T = 1), and the
KL-regularised two-player game J(pi1, pi2) = E_x [pi1^T P_x pi2 - KL(pi1 || pi0) / eta
+ KL(pi2 || pi0) / eta] with its symmetric equilibrium pi*. A policy's exact gap is

    Gap(pi) = max_pi' J(pi', pi) - 1/2 >= 0,   Gap(pi*) = 0.

The learner (``zoprl.algorithms.nash_offline``) sees n pairs (x, a, b) drawn once from the
behaviour policy pi_D = pi0, one vote each, fits the tabular P-hat and returns
argmax_pi1 min_pi2 min_{P in C} J_P(pi1, pi2) over the confidence boxes
|P - P-hat| <= beta / sqrt(n(x, {a, b}) + 1); beta = 0 is fit-then-solve. The paper bounds the
gap of the pessimistic policy by O(sqrt(C / n)), C the coverage of pi* by pi_D: a log-log slope
of -1/2 in n at fixed coverage (an upper bound; a smooth strongly monotone game may do better).

Run (``specs/nash-offline.toml``, ``specs/nash-offline-design.toml``): three coverage levels
(uniform pi0; a skewed pi0 on games with random labels; the same pi0 on games relabelled so that
pi* sits where pi0 puts little mass), random games as grid points (oracle seed), n log-spaced,
all n of one reference in one compiled program (``data_size``: the first n pairs of one data
set). Tuning: beta per coverage level (the solver's damping fixed at its safe default), the
``[tuning]`` table's number of quasi-random values (``zoprl.tuning.design_points``) on the
tuning seeds and tuning games at one n, selected by the final gap averaged over games and seeds
(``zoprl.tuning.run_scores``); evaluation: the chosen beta and beta = 0 on fresh seeds and
fresh games at every n. The selection is per coverage level rather than per game
(``zoprl.tuning.tune`` would choose per grid point, i.e. per game), hence this module's own two
sweeps. Outputs in ``<out>``:

  tuning/, evaluation/      the two sweeps (tables, manifests)
  chosen.csv / chosen.md    the chosen beta (and damping) per coverage level, tuning score
  summary.csv / summary.md  per coverage level and method: the gap at the smallest and largest
                            n (mean over games of the per-game mean over seeds, 95% t interval
                            over games), the log-log slope of the mean gap on n with its 95%
                            cluster-bootstrap interval (the evaluation games resampled), beside
                            -1/2
  differences.csv / .md     per coverage level and n: the gap of the pessimistic policy minus
                            that of fit-then-solve, paired by game (each game's mean over seeds),
                            mean over games with its 95% t interval over games
  slopes.csv / slopes.md    per coverage level and method: the slope as in summary.md, fitted
                            on the sub-ranges of n of the design's ``slope_ranges`` (a post-hoc,
                            exploratory split of the n range)
  nash_offline.png / .pdf   the gap against n per coverage level, both methods, slope -1/2
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pandas as pd

SPEC_NAME = "nash-offline"
COVERAGES = ("uniform", "skewed", "skewed, sorted")
THEORY_SLOPE = -0.5
METHODS = ("pessimistic", "fit-then-solve")


def load_design(profile: str):
    """(spec, design): the engine's spec of ``specs/nash-offline.toml`` and the ``[design]``
    table of ``specs/nash-offline-design.toml`` (data sizes, games, coverage levels, batch),
    each with the profile's overrides."""
    from zoprl.reproduce import SPECS
    from zoprl.reproduce.specs_io import load_profile, read_profile

    spec = load_profile(os.path.join(SPECS, f"{SPEC_NAME}.toml"), profile)
    raw = read_profile(os.path.join(SPECS, f"{SPEC_NAME}-design.toml"), profile)
    return spec, raw["design"]


def coverage_name(reference: str, sort_eta: float) -> str:
    """The coverage level of a (reference, sort_eta) pair (spec comment)."""
    return reference + (", sorted" if sort_eta > 0 else "")


def _sweep_spec(spec, entries, seeds: int, first_seed: int, batch: int):
    return dataclasses.replace(
        spec,
        algorithms=tuple(entries),
        grid={},
        tuning=None,
        seeds=seeds,
        first_seed=first_seed,
        max_runs_per_batch=batch,
    )


def _bare(entry, points):
    return dataclasses.replace(entry, search={}, grid={}, grid_points=tuple(points))


def tuning_sweep_spec(spec, design):
    """Per reference: its coverage levels x configurations x tuning games at the tuning n, on
    the tuning seeds 0 .. S_t - 1."""
    from zoprl.tuning import design_points

    entries = []
    for entry in spec.algorithms:
        configs = design_points(entry.search, spec.tuning.points, spec.tuning.design)
        points = [
            {**c, "data_size": design["tuning_data_size"], "oracle.seed": g, "oracle.sort_eta": s}
            for s in design["sort_eta"][entry.label]
            for c in configs
            for g in design["tuning_games"]
        ]
        entries.append(_bare(entry, points))
    return _sweep_spec(spec, entries, spec.tuning.seeds, 0, design["batch"])


def choose_settings(table: pd.DataFrame, spec) -> pd.DataFrame:
    """Per reference and coverage level: the configuration with the lowest final gap, averaged
    over the tuning games and seeds, with its standard error over the runs."""
    from zoprl.tuning import run_scores

    settings = spec.tuning
    scores = run_scores(table, settings.metric, settings.criterion, settings.budget)
    runs = table.drop_duplicates("run_id").set_index("run_id").loc[scores.index]
    runs = runs.assign(score=scores.to_numpy())
    keys = ["label", "oracle.sort_eta", "hp.beta", "hp.damping"]
    stats = runs.groupby(keys)["score"].agg(["mean", "std", "count"]).reset_index()
    best = stats.loc[stats.groupby(["label", "oracle.sort_eta"])["mean"].idxmin()]
    chosen = pd.DataFrame(
        {
            "coverage": [coverage_name(r, s) for r, s in zip(best.label, best["oracle.sort_eta"])],
            "reference": best.label.to_numpy(),
            "sort_eta": best["oracle.sort_eta"].to_numpy(),
            "beta": best["hp.beta"].to_numpy(),
            "damping": best["hp.damping"].to_numpy(),
            "score": best["mean"].to_numpy(),
            "stderr": (best["std"] / np.sqrt(best["count"])).to_numpy(),
            "runs": best["count"].to_numpy(),
        }
    )
    order = chosen.coverage.map({c: i for i, c in enumerate(COVERAGES)})
    return chosen.iloc[np.argsort(order.to_numpy(), kind="stable")].reset_index(drop=True)


def evaluation_sweep_spec(spec, design, chosen: pd.DataFrame):
    """Per reference: its coverage levels x (chosen beta, beta = 0) x every n x the evaluation
    games, on the fresh seeds S_t .. S_t + S - 1."""
    entries = []
    for entry in spec.algorithms:
        points = []
        for row in chosen[chosen.reference == entry.label].itertuples():
            points += [
                {
                    "beta": beta,
                    "damping": row.damping,
                    "data_size": n,
                    "oracle.seed": g,
                    "oracle.sort_eta": row.sort_eta,
                }
                for beta in (row.beta, 0.0)
                for n in design["data_sizes"]
                for g in design["games"]
            ]
        entries.append(_bare(entry, points))
    return _sweep_spec(spec, entries, spec.seeds, spec.tuning.seeds, design["batch"])


def game_points(table: pd.DataFrame) -> pd.DataFrame:
    """Per coverage level, method, n and game: the final gap, mean over the data seeds."""
    rows = table[(table.metric == "gap") & (table.iteration == table.iteration.max())]
    rows = rows.assign(
        coverage=[coverage_name(r, s) for r, s in zip(rows.label, rows["oracle.sort_eta"])],
        method=np.where(rows["hp.beta"] > 0, METHODS[0], METHODS[1]),
        pairs=rows["hp.data_size"].astype(int),
        game=rows["oracle.seed"].astype(int),
    )
    keys = ["coverage", "method", "pairs", "game"]
    return rows.groupby(keys, sort=True)["value"].mean().reset_index()


def slope_row(points: pd.DataFrame, num_resamples: int = 2000, seed: int = 0) -> dict:
    """The least-squares slope of log(mean gap over games) on log n, with the 95% percentile
    interval of a cluster bootstrap that resamples whole games (``zoprl.theory.bootstrap_slope``,
    fit "means"), and whether it holds the theory's -1/2."""
    from zoprl.theory.slopes import bootstrap_slope

    fit = bootstrap_slope(
        points.pairs.to_numpy(float),
        points.value.to_numpy(float),
        groups=points.game.to_numpy(),
        num_resamples=num_resamples,
        seed=seed,
        fit="means",
    )
    return {
        "slope": fit.slope,
        "slope_low": fit.low,
        "slope_high": fit.high,
        "theory": THEORY_SLOPE,
        "contains_theory": bool(fit.low <= THEORY_SLOPE <= fit.high),
    }


def summary_frame(points: pd.DataFrame, chosen: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per coverage level and method (module doc): beta, the gap at the smallest and
    the largest n (mean over games, 95% t interval over games), the slope and its interval."""
    from zoprl.theory.tidy import mean_ci

    stats = mean_ci(points, ["coverage", "method", "pairs"])
    rows = []
    for (coverage, method), group in points.groupby(["coverage", "method"], sort=False):
        row = {"coverage": coverage, "method": method, "beta": 0.0}
        if chosen is not None and method == METHODS[0]:
            row["beta"] = float(chosen.set_index("coverage").loc[coverage, "beta"])
        mine = stats[(stats.coverage == coverage) & (stats.method == method)].sort_values("pairs")
        for end, at in (("first", mine.iloc[0]), ("last", mine.iloc[-1])):
            row[f"n_{end}"] = int(at.pairs)
            row.update({f"gap_{end}": at["mean"], f"gap_{end}_low": at.low})
            row.update({f"gap_{end}_high": at.high, "games": int(at["n"])})
        row.update(slope_row(group))
        rows.append(row)
    frame = pd.DataFrame(rows)
    order = {c: i for i, c in enumerate(COVERAGES)}
    frame = frame.assign(_c=frame.coverage.map(order), _m=frame.method.map(METHODS.index))
    return frame.sort_values(["_c", "_m"]).drop(columns=["_c", "_m"]).reset_index(drop=True)


def difference_frame(points: pd.DataFrame) -> pd.DataFrame:
    """Per coverage level and n: pessimistic minus fit-then-solve, paired by game (each game's
    mean over its seeds), mean over games with its 95% t interval, and whether the interval
    excludes 0."""
    from zoprl.theory.tidy import mean_ci

    wide = points.pivot_table(index=["coverage", "pairs", "game"], columns="method", values="value")
    diff = (wide[METHODS[0]] - wide[METHODS[1]]).rename("value").reset_index()
    stats = mean_ci(diff.dropna(), ["coverage", "pairs"])
    frame = pd.DataFrame(
        {
            "coverage": stats.coverage,
            "pairs": stats.pairs.astype(int),
            "difference": stats["mean"],
            "difference_low": stats.low,
            "difference_high": stats.high,
            "games": stats["n"].astype(int),
        }
    )
    frame["excludes_zero"] = (frame.difference_low > 0) | (frame.difference_high < 0)
    order = frame.coverage.map({c: i for i, c in enumerate(COVERAGES)})
    frame = frame.assign(_c=order).sort_values(["_c", "pairs"]).drop(columns="_c")
    return frame.reset_index(drop=True)


def difference_markdown(frame: pd.DataFrame) -> str:
    """One row per n, one column per coverage level: "mean [95% interval]" of the paired
    difference, a trailing * where the interval excludes 0."""
    from zoprl.reproduce.figures import interval_cell, pipe_table

    coverages = list(dict.fromkeys(frame.coverage))
    rows = []
    for n in sorted(frame.pairs.unique()):
        row = [str(int(n))]
        for coverage in coverages:
            at = frame[(frame.coverage == coverage) & (frame.pairs == n)]
            if at.empty:
                row.append("")
                continue
            at = at.iloc[0]
            cell = interval_cell(at, "difference", 5)
            row.append(cell + (" *" if at.excludes_zero else ""))
        rows.append(row)
    return pipe_table(["n"] + coverages, rows, ["r"] * (1 + len(coverages)))


def range_slope_frame(points: pd.DataFrame, ranges) -> pd.DataFrame:
    """Per coverage level and method and per (low, high) of ``ranges``: the slope of
    :func:`slope_row` fitted on the n in [low, high] only."""
    rows = []
    for (coverage, method), group in points.groupby(["coverage", "method"], sort=False):
        for low, high in ranges:
            mine = group[(group.pairs >= low) & (group.pairs <= high)]
            fit = slope_row(mine)
            rows.append(
                {
                    "coverage": coverage,
                    "method": method,
                    "n_low": int(low),
                    "n_high": int(high),
                    "sizes": int(mine.pairs.nunique()),
                    "games": int(mine.game.nunique()),
                    **fit,
                }
            )
    frame = pd.DataFrame(rows)
    order = {c: i for i, c in enumerate(COVERAGES)}
    frame = frame.assign(_c=frame.coverage.map(order), _m=frame.method.map(METHODS.index))
    return frame.sort_values(["_c", "_m", "n_low"], kind="stable").drop(columns=["_c", "_m"])


def range_slope_markdown(frame: pd.DataFrame) -> str:
    """One row per coverage level and method, one column per range of n: "slope [95% CI]"."""
    from zoprl.reproduce.figures import interval_cell, pipe_table

    ranges = list(dict.fromkeys(zip(frame.n_low, frame.n_high)))
    header = ["coverage", "method"] + [f"slope, n = {lo}-{hi}" for lo, hi in ranges]
    rows = []
    for (coverage, method), group in frame.groupby(["coverage", "method"], sort=False):
        cells = group.set_index(["n_low", "n_high"])
        rows.append([coverage, method] + [interval_cell(cells.loc[r], "slope", 2) for r in ranges])
    return pipe_table(header, rows, ["l", "l"] + ["r"] * len(ranges))


def summary_markdown(frame: pd.DataFrame) -> str:
    """The README's pipe table: beta, the gap at the smallest and largest n and the slope as
    "value [95% interval]", and whether the slope's interval holds -1/2."""
    from zoprl.reproduce.figures import interval_cell, number, pipe_table

    first, last = int(frame.n_first.iloc[0]), int(frame.n_last.iloc[0])
    header = ["coverage", "method", "beta", f"gap at n = {first}", f"gap at n = {last}"]
    header += ["slope [95% CI]", "holds -1/2"]
    rows = [
        [
            row.coverage,
            row.method,
            number(row.beta, 3),
            interval_cell(row, "gap_first", 4),
            interval_cell(row, "gap_last", 5),
            interval_cell(row, "slope", 2),
            "yes" if row.contains_theory else "no",
        ]
        for _, row in frame.iterrows()
    ]
    return pipe_table(header, rows, ["l", "l", "r", "r", "r", "r", "l"])


def nash_offline_figure(points: pd.DataFrame, frame: pd.DataFrame):
    """One panel per coverage level: the gap against n (log-log; mean over games and its 95% t
    band) for both methods, and a line of slope -1/2 through the first fit-then-solve point."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from zoprl.plots.style import colors
    from zoprl.theory.tidy import mean_ci

    coverages = list(dict.fromkeys(frame.coverage))
    palette = dict(zip(METHODS, colors(len(METHODS))))
    fig = Figure(figsize=(4.3 * len(coverages), 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(1, len(coverages), sharey=True))
    for ax, coverage in zip(axes, coverages):
        for method in METHODS:
            mine = points[(points.coverage == coverage) & (points.method == method)]
            if mine.empty:
                continue
            stats = mean_ci(mine, ["pairs"])
            fit = frame[(frame.coverage == coverage) & (frame.method == method)].iloc[0]
            label = f"{method} (slope {fit.slope:.2f} [{fit.slope_low:.2f}, {fit.slope_high:.2f}])"
            ax.plot(stats.pairs, stats["mean"], "o-", color=palette[method], label=label, lw=1.6)
            ax.fill_between(stats.pairs, stats.low, stats.high, color=palette[method], alpha=0.2)
            if method == METHODS[1]:
                n0, g0 = float(stats.pairs.iloc[0]), float(stats["mean"].iloc[0])
                ns = stats.pairs.to_numpy(float)
                ax.plot(ns, g0 * (ns / n0) ** THEORY_SLOPE, "--", color="gray", label="n^(-1/2)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("data size n (pairs, one vote each)")
        ax.set_title(f"coverage: {coverage}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    axes[0].set_ylabel("exact gap  max_pi' J(pi', pi) - 1/2")
    return fig


def chosen_markdown(chosen: pd.DataFrame) -> str:
    """The chosen beta and damping per coverage level with their tuning score."""
    from zoprl.reproduce.figures import pipe_table

    rows = [
        [r.coverage, f"{r.beta:.4g}", f"{r.damping:.3g}", f"{r.score:.5f} ± {r.stderr:.5f}"]
        for r in chosen.itertuples()
    ]
    header = ["coverage", "beta", "damping", "tuning gap ± s.e."]
    return pipe_table(header, rows, ["l", "r", "r", "r"])


def summarise(table: pd.DataFrame, out_dir: str, chosen=None, ranges=None, log=print) -> list[str]:
    """summary, differences, slopes (when ``ranges``, a list of (low, high) n) and the figure of
    the module doc from the evaluation table."""
    from zoprl.plots import save_figure
    from zoprl.reproduce.figures import write_summary, write_table

    points = game_points(table)
    frame = summary_frame(points, chosen)
    games = int(frame.games.max())
    log(
        f"exact gap, mean [95% t interval] over {games} games (each the mean over its data "
        f"seeds); slope of log mean gap on log n [95% bootstrap interval, {games} games "
        "resampled]:"
    )
    written = write_summary(frame, summary_markdown(frame), out_dir, log)
    diffs = difference_frame(points)
    log("pessimistic - fit-then-solve, paired by game [95% t interval; * excludes 0]:")
    written += write_table(diffs, difference_markdown(diffs), out_dir, log, "differences")
    if ranges:
        slopes = range_slope_frame(points, ranges)
        log("slopes on sub-ranges of n (exploratory):")
        written += write_table(slopes, range_slope_markdown(slopes), out_dir, log, "slopes")
    paths = save_figure(nash_offline_figure(points, frame), os.path.join(out_dir, "nash_offline"))
    return written + [str(p) for p in paths]


def _write_chosen(chosen: pd.DataFrame, out_dir: str, log) -> list[str]:
    from zoprl.reproduce.figures import write_table

    return write_table(chosen, chosen_markdown(chosen), out_dir, log, "chosen")


def run_nash_offline(out_dir, profile, fresh, progress, log) -> list[str]:
    """Tune beta per coverage level, evaluate the chosen beta and beta = 0 at
    every n on fresh seeds and games, then the summary and the figure (module doc)."""
    from zoprl.experiment import run_sweep
    from zoprl.hosts import share

    spec, design = load_design(profile)
    first = tuning_sweep_spec(spec, design)
    log(
        f"tuning beta: {spec.tuning.points} values x "
        f"{len(design['tuning_games'])} games x {spec.tuning.seeds} seeds per coverage level, "
        f"n = {design['tuning_data_size']}"
    )
    tuning = run_sweep(first, os.path.join(out_dir, "tuning"), fresh=fresh, progress=progress)
    chosen = choose_settings(tuning.table, spec)
    written = share(lambda: _write_chosen(chosen, out_dir, log))
    second = evaluation_sweep_spec(spec, design, chosen)
    log(
        f"evaluating the chosen beta and beta = 0 at n = {design['data_sizes']} on "
        f"{len(design['games'])} fresh games x {spec.seeds} fresh seeds"
    )
    evaluation = run_sweep(second, os.path.join(out_dir, "evaluation"), fresh=fresh,
                           progress=progress)  # fmt: skip
    written += [evaluation.table_path, evaluation.manifest_path]
    return written + share(
        lambda: summarise(
            evaluation.table, out_dir, chosen=chosen, ranges=design["slope_ranges"], log=log
        )
    )


__all__ = [
    "choose_settings",
    "chosen_markdown",
    "coverage_name",
    "difference_frame",
    "difference_markdown",
    "evaluation_sweep_spec",
    "game_points",
    "load_design",
    "nash_offline_figure",
    "range_slope_frame",
    "range_slope_markdown",
    "run_nash_offline",
    "slope_row",
    "summarise",
    "summary_frame",
    "summary_markdown",
    "tuning_sweep_spec",
]
