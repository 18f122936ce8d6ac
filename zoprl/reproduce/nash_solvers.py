"""``zoprl reproduce nash-solvers``: which self-play learners of the preference game converge and
which cycle, exactly and from sampled preferences (arXiv 2402.07314).

The game: the KL-regularised two-player preference game of arXiv 2402.07314 on one context with
K = 10 actions, J(pi1, pi2) = pi1^T P pi2 - KL(pi1 || pi0) / eta + KL(pi2 || pi0) / eta, pi0
uniform, equilibrium pi* = pi0 exp(eta P pi*) / Z, scored by the exact gap

    Gap(pi) = max_pi' J(pi', pi) - 1/2 = tau KL(pi || BR(pi)) >= 0,   tau = 1 / eta.

Games: random "skew" games (P = sigma(L), L skew with N(0, 1) entries; oracle seeds 0, 1, ...,
drawn in float32 exactly as the tensor oracle of the sampled part draws them, then cast to
float64, so both parts play the same games) and the 10-action Condorcet cycle (generator
"condorcet": i beats i + 1 with 0.9, the last beats the first with 0.6), at eta = 1, 5 and 20.

Exact part (float64, every recursion one ``lax.scan`` vmapped over games and eta): in the value
coordinates v of Gibbs policies pi(v) = pi0 exp(eta v) / Z (``zoprl.games.solvers``), the
learners of ``zoprl.algorithms.self_play`` with exact values P pi are

  self-play IPO (undamped)  v' = P pi(v)   (each step minimises the population IPO loss on
                            pairs from the current policy exactly: pi' = BR(pi))
  magnetic mirror descent   v' = v + beta (P pi(v) - v), beta = alpha tau / (1 + alpha tau)
  (= SPPO with the magnet)  at the solvers' default alpha = tau / L^2, L = max |P - 1/2|
  Nash-MD                   v_mu = (1 - alpha tau) v, v' = v_mu + alpha tau P pi(v_mu), alpha =
                            min(0.05, 0.5 / eta) (the solvers' default; biased for constant alpha)
  extragradient             v_h = (1 - lam) v + lam P pi(v), v' = (1 - lam) v + lam P pi(v_h),
                            lam = alpha tau = 0.1

Whether each converges or cycles is a property of the method at these fixed step sizes (no
tuning). Cycling is measured over the last half of the T iterations: the decrease ratio
min(gap over the last quarter) / min(gap over the third quarter), the amplitude A = max - min
of d_k = ||pi_k - pi*||_1 over the last half and its total variation V = sum |d_{k+1} - d_k|
there (V = A for a monotone d). Verdict: "converged" (final gap < 1e-12), else "decreasing"
(ratio < 0.9), else "cycles" (A >= 1e-3 and V >= 2 A: d goes up and down again), else
"stalls" (a fixed point other than pi*, or too slow to tell).

Sampled part: the same four learners (ipo_self_play with SGD, nash_md_self_play, sppo_self_play,
extragradient_self_play) query the tensor oracle (M votes per pair), each tuned by the tuning
protocol (``specs/nash-solvers.toml``: equal configurations of its step size per game and eta,
selected by the final gap at a common query budget), then rerun on fresh seeds.

Outputs in ``<out>``: the protocol's (tuning/, evaluation/, tuned.yaml, chosen.csv / .md,
sensitivity figure), then

  exact_runs.csv             per (method, eta, game): the final gap, the gap at T/2, the ratio,
                             the smallest and largest gap and the smallest ||pi - pi*||_1 over
                             the last half, the amplitude and the verdict
  exact_curves.parquet       the exact gap and ||pi - pi*||_1 every ``stride`` iterations (odd,
                             so that a 2-cycle shows) and at each of the last ``TAIL``
  summary.csv / summary.md   per (part, method, eta, family): the final gap (exact: geometric
                             mean over games with a 95% t interval on log10, gaps below 1e-30
                             counted as 1e-30, float64 round-off; sampled: mean and
                             95% t interval over games x evaluation seeds at the budget), the
                             last-half gap ratio, the smallest and largest gap and the smallest
                             ||pi - pi*||_1 over the last half (over the games), the amplitude
                             and the verdict counts
  nash_solvers.png/.pdf      exact gap against iterations on the skew games (log scale), the
                             distance to pi* on the Condorcet game, and the sampled gap against
                             queries, one column per eta
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

SPEC_NAME = "nash-solvers"
ETAS = (1.0, 5.0, 20.0)
NUM_ACTIONS = 10
EXTRAGRADIENT_MIX = 0.1  # lam = alpha tau of the exact extragradient recursion
METHODS = ("self-play IPO", "mirror descent (SPPO)", "Nash-MD", "extragradient")
SAMPLED = ("self-play IPO", "SPPO (magnetic)", "Nash-MD", "extragradient")  # the spec's labels
EXACT_SIZES = {"quick": (8, 2000, 9), "full": (64, 20000, 49)}  # games, T, stride (odd)
TAIL = 40
FLOOR = 1e-30  # gaps below count as 1e-30 in the geometric means (float64 round-off)
CONVERGED, DECREASING, AMPLITUDE, RETURNS = 1e-12, 0.9, 1e-3, 2.0
VERDICTS = ("converged", "decreasing", "cycles", "stalls")


def exact_games(num_games: int):
    """P [num_games + 1, K, K] in float64: the skew games of oracle seeds 0 .. num_games - 1, then
    the Condorcet cycle. Each skew game is drawn exactly as the tensor oracle of the sampled part
    draws it (``zoprl.games.generators.skew_game``, one context, in the oracle's float32), then
    cast to float64: the exact and the sampled parts play the same games."""
    import jax
    import jax.numpy as jnp

    from zoprl.games.instances import condorcet_cycle, random_preference

    draw = lambda seed: random_preference(
        jax.random.key(seed), 1, NUM_ACTIONS, "skew", dtype=jnp.float32
    )[0]
    skew = jax.vmap(draw)(jnp.arange(num_games)).astype(jnp.float64)
    wins = (0.9,) * (NUM_ACTIONS - 1) + (0.6,)
    return jnp.concatenate([skew, condorcet_cycle(wins, 1, jnp.float64)])


def step_sizes(P, eta) -> dict:
    """The stated step sizes alpha of the exact recursions (module doc) for one game and eta."""
    import jax.numpy as jnp

    lipschitz = jnp.max(jnp.abs(P - 0.5))
    return {
        "self-play IPO": jnp.inf,
        "mirror descent (SPPO)": 1.0 / (eta * lipschitz**2),
        "Nash-MD": jnp.minimum(0.05, 0.5 / eta),
        "extragradient": EXTRAGRADIENT_MIX * eta,
    }


def exact_trajectories(P, eta, num_iterations: int, alpha=None):
    """gaps and ||pi_k - pi*||_1 [4, T + 1] of the four exact recursions (module doc, order
    ``METHODS``) from pi0 = uniform on one game P [K, K] at one eta; pi* by damped Newton;
    ``alpha`` the step sizes (default ``step_sizes(P, eta)``)."""
    import jax
    import jax.numpy as jnp

    from zoprl.games.exact import context_gap
    from zoprl.games.solvers import newton_equilibrium

    pi0 = jnp.full(P.shape[:1], 1.0 / P.shape[0], P.dtype)
    gibbs = lambda v: jax.nn.softmax(jnp.log(pi0) + eta * v)
    star = newton_equilibrium(P, pi0, eta).policy
    alpha = step_sizes(P, eta) if alpha is None else alpha
    beta = (alpha["mirror descent (SPPO)"] / eta) / (1.0 + alpha["mirror descent (SPPO)"] / eta)
    mix = alpha["Nash-MD"] / eta

    def extragradient(v):
        half = (1.0 - EXTRAGRADIENT_MIX) * v + EXTRAGRADIENT_MIX * (P @ gibbs(v))
        return (1.0 - EXTRAGRADIENT_MIX) * v + EXTRAGRADIENT_MIX * (P @ gibbs(half))

    updates = (
        lambda v: P @ gibbs(v),
        lambda v: v + beta * (P @ gibbs(v) - v),
        lambda v: (1.0 - mix) * v + mix * (P @ gibbs((1.0 - mix) * v)),
        extragradient,
    )

    def record(v):
        pi = gibbs(v)
        return context_gap(pi, P, pi0, eta), jnp.sum(jnp.abs(pi - star))

    def trajectory(update):
        def step(v, _):
            v = update(v)
            return v, record(v)

        v0 = jnp.zeros_like(pi0)
        _, (gaps, dist) = jax.lax.scan(step, v0, None, length=num_iterations)
        first = record(v0)
        return jnp.concatenate([first[0][None], gaps]), jnp.concatenate([first[1][None], dist])

    gaps, dists = zip(*(trajectory(u) for u in updates))  # four methods, unrolled at trace
    return jnp.stack(gaps), jnp.stack(dists)


def cycling_measures(gaps, dists) -> dict:
    """Per trajectory (last axis: iterations 0 .. T) the cycling measures of the module doc:
    final gap, gap at T/2, ratio = min gap over the last quarter / min over the third quarter,
    the smallest and largest gap over the last half (the range of a cycle's gap, of which the
    final gap is one point), the smallest d = ||pi - pi*||_1 over the last half, amplitude =
    max - min of d over the last half, its total variation there (sum |d_{k+1} - d_k|: equal to
    the amplitude for a monotone d, many times it for a cycle), and the verdict."""
    gaps, dists = np.asarray(gaps, np.float64), np.asarray(dists, np.float64)
    T = gaps.shape[-1] - 1
    half, three = T // 2, (3 * T) // 4
    final = gaps[..., -1]
    ratio = gaps[..., three:].min(-1) / np.maximum(gaps[..., half : three + 1].min(-1), 1e-300)
    amplitude = dists[..., half:].max(-1) - dists[..., half:].min(-1)
    gap_min, gap_max = gaps[..., half:].min(-1), gaps[..., half:].max(-1)
    variation = np.abs(np.diff(dists[..., half:], axis=-1)).sum(-1)
    cycles = (amplitude >= AMPLITUDE) & (variation >= RETURNS * amplitude)
    verdict = np.where(
        final < CONVERGED,
        "converged",
        np.where(ratio < DECREASING, "decreasing", np.where(cycles, "cycles", "stalls")),
    )
    return {
        "final_gap": final,
        "mid_gap": gaps[..., half],
        "ratio": ratio,
        "gap_min": gap_min,
        "gap_max": gap_max,
        "distance_min": dists[..., half:].min(-1),
        "amplitude": amplitude,
        "variation": variation,
        "verdict": verdict,
    }


def run_exact(profile: str):
    """(per-run frame, thinned curves frame) of the exact part at the profile's sizes."""
    import jax
    import jax.numpy as jnp

    num_games, T, stride = EXACT_SIZES[profile]
    with jax.enable_x64(True):
        P = exact_games(num_games)
        etas = jnp.asarray(ETAS, jnp.float64)

        def one(P_, eta):
            alpha = step_sizes(P_, eta)
            return exact_trajectories(P_, eta, T, alpha), alpha

        per_eta = jax.vmap(one, in_axes=(0, None))
        fn = jax.jit(jax.vmap(per_eta, in_axes=(None, 0)))  # [eta, game, method, T + 1]
        (gaps, dists), steps = fn(P, etas)
        gaps, dists = np.asarray(gaps), np.asarray(dists)
        steps = {k: np.asarray(v) for k, v in steps.items()}
    return exact_frames(gaps, dists, steps, stride)


def _game_names(num_games: int) -> list[str]:
    return [f"skew {g}" for g in range(num_games - 1)] + ["condorcet"]


def exact_frames(gaps, dists, steps: dict, stride: int):
    """The per-run frame and the thinned curves from arrays [eta, game, method, T + 1] (the last
    game is the Condorcet cycle) and step sizes {method: [eta, game]}."""
    measures = cycling_measures(gaps, dists)
    e, g, m = np.meshgrid(
        np.arange(len(ETAS)), np.arange(gaps.shape[1]), np.arange(len(METHODS)), indexing="ij"
    )
    names = np.asarray(_game_names(gaps.shape[1]))
    base = {
        "method": np.asarray(METHODS)[m.ravel()],
        "eta": np.asarray(ETAS)[e.ravel()],
        "game": names[g.ravel()],
        "family": np.where(names[g.ravel()] == "condorcet", "condorcet", "skew"),
    }
    alpha = np.stack([np.asarray(steps[k], np.float64) for k in METHODS], -1)
    runs = pd.DataFrame(base | {"step_size": alpha.ravel()})
    runs = runs.assign(**{k: np.ravel(v) for k, v in measures.items()})
    last = gaps.shape[-1] - 1  # every iteration of the last TAIL: a cycle's period shows
    keep = np.unique(np.r_[np.arange(0, last, stride), np.arange(max(last - TAIL, 0), last + 1)])
    curves = pd.DataFrame(
        {
            **{k: np.repeat(v, keep.size) for k, v in base.items()},
            "iteration": np.tile(keep, e.size),
            "gap": gaps[..., keep].reshape(-1),
            "distance": dists[..., keep].reshape(-1),
        }
    )
    return runs, curves


def _log_interval(values) -> tuple[float, float, float]:
    """Geometric mean and its 95% t interval (on log10 of the values floored at ``FLOOR``)."""
    from scipy import stats

    logs = np.log10(np.maximum(np.asarray(values, np.float64), FLOOR))
    mean = logs.mean()
    if logs.size < 2:
        return 10**mean, 10**mean, 10**mean
    half = stats.t.ppf(0.975, logs.size - 1) * logs.std(ddof=1) / np.sqrt(logs.size)
    return 10**mean, 10 ** (mean - half), 10 ** (mean + half)


def exact_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (method, eta, family) of the exact part (module doc)."""
    rows = []
    for (family, method, eta), group in runs.groupby(["family", "method", "eta"], sort=False):
        gap, low, high = _log_interval(group.final_gap)
        counts = group.verdict.value_counts()
        rows.append(
            dict(
                part="exact",
                family=family,
                method=method,
                eta=eta,
                step_size=float(group.step_size.median()),
                n=len(group),
                gap=gap,
                gap_low=low,
                gap_high=high,
                ratio=float(group.ratio.median()),
                gap_min=float(group.gap_min.min()),
                gap_max=float(group.gap_max.max()),
                distance_min=float(group.distance_min.min()),
                amplitude=float(group.amplitude.max()),
                **{v: int(counts.get(v, 0)) for v in VERDICTS},
            )
        )
    return pd.DataFrame(rows)


def _sampled_rank(label: str) -> int:
    return SAMPLED.index(label) if label in SAMPLED else len(SAMPLED)


def sampled_summary(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (method, eta) of the sampled evaluation table: the gap at the last record,
    mean and 95% t interval over games x seeds; the median over runs of gap(T) / gap(T/2)
    (T/2: the last record at or before half the run); the median chosen step size."""
    from zoprl.theory.tidy import mean_ci

    gaps = table[table.metric == "gap"]
    last, mid = gaps.iteration.max(), gaps[gaps.iteration <= gaps.iteration.max() / 2].iteration
    keys = ["label", "hp.eta", "oracle.seed", "seed"]
    at = lambda it: gaps[gaps.iteration == it].set_index(keys).value
    ratio = (at(last) / at(mid.max())).rename("ratio").reset_index()
    final = gaps[gaps.iteration == last]
    stats = mean_ci(final, ["label", "hp.eta"])[["label", "hp.eta", "mean", "low", "high", "n"]]
    stats = stats.merge(ratio.groupby(["label", "hp.eta"]).ratio.median().reset_index())
    steps = final.groupby(["label", "hp.eta"])["hp.step_size"].median().rename("step_size")
    stats = stats.merge(steps.reset_index())
    frame = stats.rename(
        columns={"label": "method", "hp.eta": "eta", "mean": "gap", "low": "gap_low"}
    ).rename(columns={"high": "gap_high"})
    frame = frame.assign(part="sampled", family="skew", amplitude=np.nan)
    frame = frame.assign(gap_min=np.nan, gap_max=np.nan, distance_min=np.nan)
    frame = frame.sort_values("method", key=lambda m: m.map(_sampled_rank), kind="stable")
    for v in VERDICTS:
        frame[v] = -1  # not classified: no distance to pi* is recorded
    return frame


def summary_frame(runs: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """The exact rows, then the sampled rows (module doc)."""
    frame = pd.concat([exact_summary(runs), sampled_summary(table)], ignore_index=True)
    order = ["part", "family", "method", "eta", "step_size", "n", "gap", "gap_low", "gap_high"]
    frame = frame[order + ["ratio", "gap_min", "gap_max", "distance_min", "amplitude", *VERDICTS]]
    return frame.sort_values(["part", "family", "eta"], kind="stable").reset_index(drop=True)


def _sci(value: float) -> str:
    """Two significant digits; "≤1e-30" at the round-off floor; "n/a" when not finite."""
    if not np.isfinite(value):
        return "n/a"
    return "≤1e-30" if 0 < value <= FLOOR * (1 + 1e-9) else f"{float(value):.2g}"


def summary_markdown(frame: pd.DataFrame) -> str:
    """The README's pipe table: final gap "mean [low, high]" (2 significant digits), the
    last-half ratio, the smallest and largest gap over the last half (exact: over the games),
    the smallest ||pi - pi*||_1 there (over the games), the amplitude of ||pi - pi*||_1 and the
    verdict counts c/d/y/s
    (converged / decreasing / cycles / stalls; sampled rows: not classified)."""
    from zoprl.reproduce.figures import pipe_table

    header = ["part", "games", "method", "eta", "step", "runs", "final gap [95%]"]
    header += ["ratio", "half gap min", "half gap max", "half min dist", "amplitude", "c/d/y/s"]
    rows = []
    for _, r in frame.iterrows():
        counts = "/".join(str(int(r[v])) for v in VERDICTS) if r[VERDICTS[0]] >= 0 else "-"
        step = "1 (undamped)" if not np.isfinite(r.step_size) else _sci(r.step_size)
        gap = f"{_sci(r.gap)} [{_sci(r.gap_low)}, {_sci(r.gap_high)}]"
        rows.append(
            [r.part, r.family, r.method, f"{r.eta:g}", step, str(int(r.n)), gap]
            + [_sci(r[k]) for k in ("ratio", "gap_min", "gap_max", "distance_min", "amplitude")]
            + [counts]
        )
    return pipe_table(header, rows, ["l", "l", "l"] + ["r"] * (len(header) - 3))


def nash_solvers_figure(curves: pd.DataFrame, table: pd.DataFrame):
    """One column per eta. Row 1: the exact gap against iterations on the skew games (median
    over games, min-max band; log scale). Row 2: ||pi - pi*||_1 on the Condorcet cycle. Row 3:
    the sampled gap against queries (mean over games x seeds and its 95% t band)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from zoprl.plots.style import colors
    from zoprl.theory.tidy import mean_ci

    fig = Figure(figsize=(14.0, 3.6 * 3), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(3, len(ETAS), squeeze=False)
    palette = dict(zip(METHODS, colors(len(METHODS))))
    sampled_colors = dict(zip(SAMPLED, colors(len(METHODS))))
    for j, eta in enumerate(ETAS):
        at_eta = curves[curves.eta == eta]
        for method, group in at_eta[at_eta.family == "skew"].groupby("method", sort=False):
            by = group.groupby("iteration").gap
            x = by.median().index
            axes[0, j].plot(x, by.median(), color=palette[method], label=method, lw=1.5)
            axes[0, j].fill_between(x, by.min(), by.max(), color=palette[method], alpha=0.15)
        for method, group in at_eta[at_eta.family == "condorcet"].groupby("method", sort=False):
            axes[1, j].plot(group.iteration, group.distance, color=palette[method], label=method)
        axes[0, j].set_yscale("log")
        axes[0, j].set_title(f"exact, skew games, eta = {eta:g}")
        axes[0, j].set_ylabel("exact gap")
        axes[1, j].set_title(f"exact, Condorcet cycle, eta = {eta:g}")
        axes[1, j].set_ylabel("||pi_k - pi*||_1")
        axes[1, j].set_yscale("log")
        for ax in axes[:2, j]:
            ax.set_xlabel("iteration")
            ax.grid(True, alpha=0.3)
        gaps = table[(table.metric == "gap") & (table["hp.eta"] == eta)]
        for method, group in gaps.groupby("label", sort=False):
            stats = mean_ci(group, ["queries"])
            color = sampled_colors.get(method)
            axes[2, j].plot(stats.queries, stats["mean"], color=color, label=method, lw=1.5)
            axes[2, j].fill_between(stats.queries, stats.low, stats.high, color=color, alpha=0.2)
        axes[2, j].set_yscale("log")
        axes[2, j].set_xlabel("queries")
        axes[2, j].set_ylabel("exact gap")
        axes[2, j].set_title(f"sampled (tuned), skew games, eta = {eta:g}")
        axes[2, j].grid(True, alpha=0.3)
    for ax in axes[:, 0]:
        ax.legend(fontsize="small")
    return fig


def summarise(runs, curves, table, out_dir: str, log=print) -> list[str]:
    """exact_runs.csv, exact_curves.parquet, summary.csv / .md and the figure (module doc)."""
    from zoprl.plots import save_figure
    from zoprl.reproduce.figures import write_summary, write_table
    from zoprl.storage.atomic import write_bytes_atomically

    os.makedirs(out_dir, exist_ok=True)
    written = write_table(runs, None, out_dir, log, "exact_runs")
    written.append(
        write_bytes_atomically(
            os.path.join(out_dir, "exact_curves.parquet"), curves.to_parquet(index=False)
        )
    )
    frame = summary_frame(runs, table)
    log("exact: geometric mean [95% t interval on log10] over games; sampled: mean [95% t]")
    written += write_summary(frame, summary_markdown(frame), out_dir, log)
    paths = save_figure(nash_solvers_figure(curves, table), os.path.join(out_dir, "nash_solvers"))
    return written + [str(p) for p in paths]


def run_nash_solvers(out_dir, profile, fresh, progress, log) -> list[str]:
    """The exact part (module doc), then the tuned sampled part (``zoprl.tuning.tune``), the
    summary and the figure; returns the written paths."""
    from zoprl.hosts import share
    from zoprl.reproduce import SPECS
    from zoprl.reproduce.specs_io import load_profile
    from zoprl.tuning import tune

    runs, curves = run_exact(profile)
    spec = load_profile(os.path.join(SPECS, f"{SPEC_NAME}.toml"), profile)
    tuned = tune(spec, out_dir, fresh=fresh, progress=progress, log=log)
    return list(tuned.written) + share(  # process 0 writes (zoprl.hosts)
        lambda: summarise(runs, curves, tuned.evaluation.table, out_dir, log=log)
    )


__all__ = [
    "cycling_measures",
    "exact_frames",
    "exact_games",
    "exact_summary",
    "exact_trajectories",
    "nash_solvers_figure",
    "run_exact",
    "run_nash_solvers",
    "sampled_summary",
    "summarise",
    "summary_frame",
    "summary_markdown",
]
