"""``zoprl reproduce nash-intransitive``: the Bradley-Terry pipeline against general-preference
learners on transitive and intransitive games (the motivating claim of arXiv 2402.07314).

Contextual dueling bandit with X contexts, K actions, uniform reference pi0 and the
KL-regularised preference game J(pi1, pi2) = E_x [pi1^T P_x pi2 - KL(pi1 || pi0) / eta
+ KL(pi2 || pi0) / eta] (section 3 of arXiv 2402.07314); its equilibrium pi* = pi0 exp(eta P pi*)
/ Z is unique and every policy is scored by the exact gap

    Gap(pi) = max_pi' J(pi', pi) - 1/2 = E_x [ KL(pi || BR(pi)) / eta ] >= 0,   Gap(pi*) = 0.

The Bradley-Terry (BT) pipeline fits P(a > b) = sigma(r_a - r_b) and plays pi0 exp(eta' r). On
a BT game the fit is exact and the policy near pi*; on an intransitive game no reward
represents P: with unlimited data the fit tends to the BT projection r_BT = argmin_r E_{a, b ~
pi0} KL(P_ab || sigma(r_a - r_b)) (+ the ridge), and Gap(pi0 exp(eta' r_BT)) > 0 whatever eta'.
The general-preference learners (online Nash, Algorithm 2 of the paper; extragradient
self-play) target pi* itself, so their gap keeps falling with the number of queries.

Games (``specs/nash-intransitive-games.toml``, table [games]): the "intransitive" family
sigma(r_a - r_b + kappa u_a^T Omega u_b) of ``zoprl.games.generators`` at each kappa (kappa = 0
is pure BT) on fresh game seeds, and the Condorcet trap. Every game is a grid point of the
oracle generator "given", so one compiled program per method covers all games. Each method is
tuned by the tuning protocol (``zoprl.tuning.tune``) on one game of the family, then its chosen
values run on every game on fresh seeds.

The exact rows (float64, ``exact_limits``) are properties at fixed parameters: the BT
pipeline's infinite-data policy pi0 exp(eta' r_BT) at its chosen eta' and ridge (and at the best
eta' of a grid, no ridge), online Nash's infinite-data main agent (the equilibrium of the exact
game, what P-hat -> P gives), and extragradient's exact-value recursion (v = P pi - 1/2) at its
chosen step for the run's T iterations.

Outputs in ``<out>``: the protocol's (tuning/, evaluation/ on the tuning game, tuned.yaml,
chosen.csv / .md, sensitivity figure), games/ (the sweep of every game), then

  summary.csv / summary.md   per game family and method: the gap at the common budget (mean and
                             95% t interval over games x seeds), the log-log slope of the gap
                             against queries over the last decade of the budget (per run, mean
                             and 95% t interval), and the exact infinite-data gap (float64, mean
                             over the family's games); exact-only rows for the BT pipeline at
                             its best eta' and for pi0
  nash_intransitive.png/.pdf the gap against queries (log-log; geometric mean over games x
                             seeds and the 95% t band of log10 gap), one panel per family; the
                             BT pipeline's exact infinite-data gap dashed
  per_game.csv / per_game.md per game of the sweep, then the tuning game: the number of
                             contexts whose strict-majority relation (a beats b when P_ab > 1/2)
                             has a cycle (``majority_cycles``; 0: the game ranks the actions of
                             every context, it is intransitive only in that P is not of
                             Bradley-Terry form), the exact values above per game, with the best
                             eta' / eta; the .csv also the sampled gap at the budget per method
                             (mean and max over the game's seeds)
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pandas as pd

SPEC_NAME = "nash-intransitive"
SPEC_FILE = "nash-intransitive-games.toml"  # a spec plus [games]: read here, not by zoprl sweep
BT = "BT pipeline"
CONDORCET = "Condorcet trap"
REFERENCE = "pi0 (uniform)"
TUNING = "tuning game"
BEST_SCALE = "best eta' / eta"


def load_spec(profile: str):
    """(raw, games): the spec file as a dict with the profile's overrides, its [games] table
    apart."""
    from zoprl.experiment.spec import SpecError
    from zoprl.reproduce import SPECS
    from zoprl.reproduce.specs_io import read_profile

    raw = read_profile(os.path.join(SPECS, SPEC_FILE), profile)
    games = raw.pop("games", None)
    if not isinstance(games, dict):
        raise SpecError(f"{SPEC_FILE}: a [games] table is needed")
    return raw, games


def family_name(kappa: float) -> str:
    return "Bradley-Terry (kappa = 0)" if kappa == 0 else f"intransitive (kappa = {kappa:g})"


def game_catalogue(environment: dict, games: dict) -> pd.DataFrame:
    """One row per game of the sweep (family, kappa, game seed, P [X, K, K] in float64): every
    kappa x game seed of the intransitive family, then the Condorcet trap."""
    import jax

    from zoprl.envs import make
    from zoprl.games.generators import condorcet_game, intransitive_game

    options = {k: v for k, v in environment.items() if k != "name"}
    rows = []
    with jax.enable_x64(True):
        env, env_params = make(environment["name"], **options)
        for kappa in games["kappas"]:
            for seed in games["game_seeds"]:
                P = intransitive_game(env, env_params, seed=int(seed), kappa=float(kappa))
                rows.append((family_name(float(kappa)), float(kappa), int(seed), P.preference))
        P = condorcet_game(env, env_params, **games.get("condorcet", {})).preference
        rows.append((CONDORCET, np.nan, -1, P))
        tuning = games["tuning"]
        P = intransitive_game(env, env_params, seed=tuning["seed"], kappa=tuning["kappa"])
    frame = pd.DataFrame(rows, columns=["family", "kappa", "game_seed", "preference"])
    frame["preference"] = [np.asarray(p, np.float64) for p in frame.preference]
    frame["game"] = [f"{f} #{s}" if s >= 0 else f for f, s in zip(frame.family, frame.game_seed)]
    frame["cyclic_contexts"] = [majority_cycles(p) for p in frame.preference]
    frame.attrs["tuning_preference"] = np.asarray(P.preference, np.float64)
    frame.attrs["tuning_game"] = (float(tuning["kappa"]), int(tuning["seed"]))
    return frame


def majority_cycles(P) -> int:
    """The number of contexts of P [X, K, K] whose strict-majority relation (a beats b when
    P_ab > 1/2) has a cycle, e.g. 0 beats 1, 1 beats 2, 2 beats 0 (boolean transitive closure:
    a cycle is an action that reaches itself)."""
    reach = np.asarray(P) > 0.5
    for k in range(reach.shape[-1]):
        reach = reach | (reach[:, :, k : k + 1] & reach[:, k : k + 1, :])
    return int(np.diagonal(reach, axis1=-2, axis2=-1).any(-1).sum())


def with_tuning_game(catalogue: pd.DataFrame) -> pd.DataFrame:
    """The catalogue with the tuning game as a last row (family TUNING), for the exact table."""
    P = catalogue.attrs["tuning_preference"]
    kappa, seed = catalogue.attrs["tuning_game"]
    row = {"family": TUNING, "kappa": kappa, "game_seed": seed, "preference": P}
    row |= {"game": f"{TUNING} (kappa = {kappa:g}) #{seed}", "cyclic_contexts": majority_cycles(P)}
    return pd.concat([catalogue, pd.DataFrame([row])], ignore_index=True)


def game_key(value) -> tuple:
    """A hashable key of a preference tensor (a nested list or array, float32 or float64)."""
    flat = np.asarray(_flatten(value), np.float64)
    return tuple(np.round(flat, 4))


def _flatten(value) -> list:
    if isinstance(value, str):  # the results table keeps a tensor knob as JSON text
        return _flatten(json.loads(value))
    if isinstance(value, (list, tuple, np.ndarray)):
        return [y for item in value for y in _flatten(item)]
    return [float(value)]


def games_spec(tuned, catalogue: pd.DataFrame):
    """The tuned spec with every entry's chosen point run on every game of the catalogue."""
    entries = []
    for entry in tuned.algorithms:
        point = {k: v for k, v in entry.grid_points[0].items() if k != "oracle.preference"}
        points = tuple({**point, "oracle.preference": p.tolist()} for p in catalogue.preference)
        entries.append(dataclasses.replace(entry, grid_points=points))
    return dataclasses.replace(tuned, algorithms=tuple(entries))


def label_games(table: pd.DataFrame, catalogue: pd.DataFrame) -> pd.DataFrame:
    """The table with the columns game, family and kappa, read from its oracle.preference."""
    runs = table.drop_duplicates("run_id")[["run_id", "oracle.preference"]]
    lookup = {game_key(p): i for i, p in enumerate(catalogue.preference)}
    index = {r: lookup[game_key(p)] for r, p in zip(runs.run_id, runs["oracle.preference"])}
    rows = catalogue.iloc[[index[r] for r in table.run_id]]
    out = table.drop(columns=["oracle.preference"]).copy()
    for column in ("game", "family", "kappa"):
        out[column] = rows[column].to_numpy()
    return out


def build_spec(raw: dict, catalogue: pd.DataFrame):
    """The tuning spec: the file's spec with the tuning game as its one grid point (context)."""
    from zoprl.experiment.spec import spec_from_dict

    grid = {"oracle.preference": [catalogue.attrs["tuning_preference"].tolist()]}
    return spec_from_dict({**raw, "grid": grid}, where=SPEC_FILE)


def bt_projection(P, pi0, l2, fit_steps: int = 40):
    """r_BT [X, K]: the Bradley-Terry fit to the exact P on pairs a, b ~ pi0 x pi0 with
    uniform contexts, argmin_r sum_x sum_ab pi0(a) pi0(b) KL(P_ab || sigma(r_a - r_b)) / X
    + (l2 / 2) ||r||^2 (the BT pipeline's objective with unlimited data; Newton)."""
    import jax.numpy as jnp

    from zoprl.games.models import bradley_terry_model, make_fit

    X, K = pi0.shape
    model = bradley_terry_model(X, K, P.dtype)
    x, a, b = (
        g.ravel() for g in jnp.meshgrid(jnp.arange(X), jnp.arange(K), jnp.arange(K), indexing="ij")
    )
    weights = (pi0[x, a] * pi0[x, b] / X) * (a != b)
    fit = make_fit(model, fit_steps, "newton")
    rewards, _ = fit(jnp.zeros((X, K), P.dtype), x, a, b, P[x, a, b], weights, l2=l2)
    return rewards


def extragradient_exact(P, pi0, eta, step_size, step_decay, iterations: int):
    """log pi after ``iterations`` exact-value EGPO steps (``zoprl.algorithms.self_play``, with
    v = P pi - 1/2 instead of its sampled estimate): alpha_t = alpha / (1 + decay t),
    log pi_half = normalise((1 - alpha_t tau) log pi + alpha_t tau log pi0 + alpha_t v(pi)),
    log pi' = normalise((1 - alpha_t tau) log pi + alpha_t tau log pi0 + alpha_t v(pi_half))."""
    import jax
    import jax.numpy as jnp

    log_pi0 = jnp.log(pi0)
    tau = 1.0 / eta
    values = lambda log_pi: jnp.einsum("xab,xb->xa", P, jnp.exp(log_pi)) - 0.5

    def step(log_pi, t):
        alpha = step_size / (1.0 + step_decay * t)
        mix = lambda v: jax.nn.log_softmax(
            (1.0 - alpha * tau) * log_pi + alpha * tau * log_pi0 + alpha * v, axis=-1
        )
        return mix(values(mix(values(log_pi)))), None

    log_pi, _ = jax.lax.scan(step, log_pi0, jnp.arange(iterations, dtype=P.dtype))
    return log_pi


def exact_gaps(P, eta, chosen: dict, iterations: int, scales):
    """The exact gaps (float64) of the module doc for one game P [X, K, K]: the BT pipeline at
    its chosen (reward_scale, l2), its best over ``scales`` (eta' / eta, no ridge) and that best
    eta' / eta (key BEST_SCALE, not a gap), online Nash's infinite-data main agent,
    extragradient's exact recursion, and pi0 (for scale)."""
    import jax
    import jax.numpy as jnp

    from zoprl.games import equilibrium, gap

    pi0 = jnp.full(P.shape[:-1], 1.0 / P.shape[-1], P.dtype)
    bt = chosen[BT]
    gibbs = lambda r, scale: jax.nn.softmax(jnp.log(pi0) + scale * eta * r, axis=-1)
    r_chosen = bt_projection(P, pi0, bt["l2"])
    r_free = bt_projection(P, pi0, 0.0)
    curve = jax.vmap(lambda c: gap(gibbs(r_free, c), P, pi0, eta))(scales)
    eg = chosen["extragradient self-play"]
    log_pi = extragradient_exact(P, pi0, eta, eg["step_size"], eg["step_decay"], iterations)
    return {
        BT: gap(gibbs(r_chosen, bt["reward_scale"]), P, pi0, eta),
        f"{BT}, best eta'": jnp.min(curve),
        BEST_SCALE: scales[jnp.argmin(curve)],
        "online Nash (main + enhancer)": gap(equilibrium(P, pi0, eta), P, pi0, eta),
        "extragradient self-play": gap(jnp.exp(log_pi), P, pi0, eta),
        REFERENCE: gap(pi0, P, pi0, eta),
    }


def exact_limits(catalogue: pd.DataFrame, chosen: dict, eta: float, iterations: int):
    """Per game and method the exact gap of ``exact_gaps`` (long frame: game, family, method,
    exact_gap), vmapped over the games in float64; the method BEST_SCALE holds the best
    eta' / eta instead of a gap."""
    import jax
    import jax.numpy as jnp

    with jax.enable_x64(True):
        P = jnp.asarray(np.stack(catalogue.preference), jnp.float64)
        params = {m: {k: jnp.float64(v) for k, v in hp.items()} for m, hp in chosen.items()}
        scales = jnp.geomspace(1e-3, 10.0, 400)
        fn = lambda P_g: exact_gaps(P_g, jnp.float64(eta), params, iterations, scales)
        gaps = jax.device_get(jax.jit(jax.vmap(fn))(P))
    rows = [
        {"game": g, "family": f, "method": m, "exact_gap": float(v[i])}
        for m, v in gaps.items()
        for i, (g, f) in enumerate(zip(catalogue.game, catalogue.family))
    ]
    return pd.DataFrame(rows)


def chosen_values(choices: pd.DataFrame, spec=None) -> dict:
    """{method: {hyperparameter: chosen value}} from the protocol's chosen table, on top of the
    fixed hyperparameters (``hparams``) of the spec's entries when a spec is given."""
    fixed = {a.label: dict(a.hparams) for a in spec.algorithms} if spec is not None else {}
    columns = [c for c in choices.columns if c.startswith("hp.")]
    return {
        row["cell"]: {
            **{k: float(v) for k, v in fixed.get(row["cell"], {}).items()},
            **{c[3:]: float(row[c]) for c in columns if pd.notna(row[c])},
        }
        for _, row in choices.iterrows()
    }


def run_slopes(table: pd.DataFrame, budget: float) -> pd.DataFrame:
    """Per run: the least-squares slope of log gap against log queries over the records with
    budget / 10 <= queries <= budget (gaps floored at 1e-12)."""
    rows = table[(table.metric == "gap") & table.queries.between(budget / 10, budget)]
    x = np.log(rows.queries.to_numpy(np.float64))
    y = np.log(np.maximum(rows.value.to_numpy(np.float64), 1e-12))
    frame = rows[["run_id", "label", "family"]].assign(x=x, y=y)
    grouped = frame.groupby(["run_id", "label", "family"])
    centred = frame.assign(
        x=frame.x - grouped.x.transform("mean"), y=frame.y - grouped.y.transform("mean")
    )
    sums = (
        centred.assign(xy=centred.x * centred.y, xx=centred.x**2)
        .groupby(["run_id", "label", "family"])[["xy", "xx"]]
        .sum()
    )
    return (sums.xy / sums.xx).rename("value").reset_index()


def summary_frame(table: pd.DataFrame, exact: pd.DataFrame, budget=None) -> pd.DataFrame:
    """One row per family and method (module doc), with the exact-only rows (the BT pipeline at
    its best eta', pi0) among them; at ``budget`` queries (default ``common_budget(table)``)."""
    from zoprl.reproduce.figures import common_budget, value_at_budget
    from zoprl.theory.tidy import mean_ci

    budget = common_budget(table) if budget is None else budget
    at_budget = value_at_budget(table, "gap", budget)
    gap = mean_ci(at_budget, ["family", "label"])[["family", "label", "mean", "low", "high", "n"]]
    slope = mean_ci(run_slopes(table, budget), ["family", "label"])
    slope = slope[["family", "label", "mean", "low", "high"]].rename(
        columns={"mean": "slope", "low": "slope_low", "high": "slope_high"}
    )
    spent = at_budget.groupby(["family", "label"])["queries"].mean().rename("queries")
    frame = gap.rename(columns={"mean": "gap", "low": "gap_low", "high": "gap_high"})
    frame = frame.merge(slope, on=["family", "label"]).merge(spent.reset_index())
    frame = frame.rename(columns={"label": "method"})
    exact = exact[(exact.method != BEST_SCALE) & (exact.family != TUNING)]
    limits = exact.groupby(["family", "method"], sort=False)["exact_gap"].mean().reset_index()
    frame = limits.merge(frame, on=["family", "method"], how="left")
    order = {f: i for i, f in enumerate(exact.family.drop_duplicates())}
    frame["order"] = frame.family.map(order)
    frame = frame.sort_values(["order"], kind="stable").drop(columns="order")
    columns = ["family", "method", "queries", "n", "gap", "gap_low", "gap_high"]
    columns += ["slope", "slope_low", "slope_high", "exact_gap"]
    return frame[columns].reset_index(drop=True)


def summary_markdown(frame: pd.DataFrame) -> str:
    """The README's pipe table: the gap at the budget (scientific), the slope (two decimals),
    the exact infinite-data gap (float64, scientific)."""
    from zoprl.reproduce.figures import interval_cell, pipe_table

    budget = frame.queries.max()
    header = ["game family", "method", f"gap at {budget:,.0f} queries", "slope (last decade)"]
    header.append("exact gap, infinite data (float64)")
    rows = []
    for _, row in frame.iterrows():
        cells = [row.family, row.method, interval_cell(row, "gap", missing="–", text=_sci)]
        cells += [interval_cell(row, "slope", 2, missing="–"), f"{row.exact_gap:.2e}"]
        rows.append(cells)
    return pipe_table(header, rows, ["l", "l", "r", "r", "r"])


def _sci(value: float) -> str:
    return f"{value:.2e}"


PER_GAME = [  # (column of per_game.csv, method of the exact frame, header of per_game.md)
    ("pi0", REFERENCE, "pi0"),
    ("bt_chosen", BT, "BT pipeline"),
    ("bt_best", f"{BT}, best eta'", "BT, best eta'"),
    ("best_scale", BEST_SCALE, "best eta' / eta"),
    ("extragradient", "extragradient self-play", "extragradient"),
    ("online_nash", "online Nash (main + enhancer)", "online Nash"),
]


def per_game_frame(
    exact: pd.DataFrame, catalogue: pd.DataFrame, table=None, budget=None
) -> pd.DataFrame:
    """One row per game of ``catalogue`` (the sweep, then the tuning game): kappa, game seed,
    the number of contexts with a majority cycle, the exact values of ``exact_gaps``, and, given
    the sweep's ``table``, each method's sampled gap at the common budget over the game's seeds
    (columns "mean: <method>" and "max: <method>"; empty for the tuning game); the budget
    ``budget`` (default ``common_budget(table)``)."""
    wide = exact.pivot(index="game", columns="method", values="exact_gap")
    frame = catalogue[["game", "family", "kappa", "game_seed", "cyclic_contexts"]].copy()
    frame.insert(4, "contexts", [len(p) for p in catalogue.preference])
    for column, method, _ in PER_GAME:
        frame[column] = wide.loc[frame.game, method].to_numpy()
    if table is not None:
        from zoprl.reproduce.figures import common_budget, value_at_budget

        budget = common_budget(table) if budget is None else budget
        at_budget = value_at_budget(table, "gap", budget)
        stats = at_budget.groupby(["game", "label"])["value"].agg(["mean", "max"]).unstack()
        stats.columns = [f"{stat}: {label}" for stat, label in stats.columns]
        frame = frame.merge(stats, left_on="game", right_index=True, how="left")
    return frame.reset_index(drop=True)


def per_game_markdown(frame: pd.DataFrame) -> str:
    """The per-game table: exact gaps (float64, scientific), best eta' / eta (3 digits)."""
    from zoprl.reproduce.figures import pipe_table

    header = ["game", "contexts with a majority cycle"] + [h for _, _, h in PER_GAME]
    rows = []
    for _, row in frame.iterrows():
        cells = [row.game, f"{row.cyclic_contexts} of {row.contexts}"]
        for column, _, _ in PER_GAME:
            value = row[column]
            cells.append(f"{value:.3f}" if column == "best_scale" else f"{value:.2e}")
        rows.append(cells)
    return pipe_table(header, rows, ["l"] + ["r"] * (len(header) - 1))


def nash_intransitive_figure(table: pd.DataFrame, frame: pd.DataFrame):
    """One panel per family: the gap against queries per method (geometric mean over games x
    seeds and its 95% t band, i.e. of log10 gap; log-log); the BT pipeline's exact infinite-data
    gap (its mean over the family's games) dashed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from zoprl.plots.style import colors
    from zoprl.theory.tidy import mean_ci

    families = list(frame.family.drop_duplicates())
    methods = list(table.label.drop_duplicates())
    palette = dict(zip(methods, colors(len(methods))))
    columns = min(3, len(families))
    rows = -(-len(families) // columns)
    fig = Figure(figsize=(4.6 * columns, 3.8 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).ravel()
    gaps = table[(table.metric == "gap") & (table.queries > 0)]
    for ax, family in zip(axes, families):
        for method, group in gaps[gaps.family == family].groupby("label", sort=False):
            logs = group.assign(value=np.log10(group.value.clip(lower=1e-12)))
            stats = mean_ci(logs, ["queries"])
            color = palette[method]
            ax.plot(stats.queries, 10 ** stats["mean"], color=color, label=method, lw=1.5)
            band = (10**stats.low, 10**stats.high)
            ax.fill_between(stats.queries, *band, color=color, alpha=0.2)
        limit = frame[(frame.family == family) & (frame.method == BT)].exact_gap
        if len(limit):
            ax.axhline(float(limit.iloc[0]), ls="--", color=palette.get(BT, "gray"),
                       label="BT pipeline, infinite data (exact)")  # fmt: skip
        ax.set(xscale="log", yscale="log", title=family, xlabel="human queries")
        ax.set_ylabel("exact gap")
        ax.grid(True, alpha=0.3, which="both")
    for ax in axes[len(families) :]:
        ax.set_visible(False)
    axes[0].legend(fontsize="small")
    return fig


def summarise(table, exact, out_dir: str, log=print, budget=None) -> list[str]:
    """summary.csv, summary.md and the figure of the module doc."""
    from zoprl.plots import save_figure
    from zoprl.reproduce.figures import common_budget, write_summary

    budget = common_budget(table) if budget is None else budget
    frame = summary_frame(table, exact, budget)
    log(
        f"at {budget:,.0f} queries, mean [95% t interval] over "
        f"{int(frame.n.max())} runs (games x seeds); exact: float64, infinite data:"
    )
    written = write_summary(frame, summary_markdown(frame), out_dir, log)
    figure = nash_intransitive_figure(table, frame)
    paths = save_figure(figure, os.path.join(out_dir, "nash_intransitive"))
    return written + [str(p) for p in paths]


def write_per_game(exact, catalogue, table, out_dir: str, log=print, budget=None) -> list[str]:
    """per_game.csv (``per_game_frame``, with the sampled gaps of ``table``) and per_game.md
    (its exact columns), written atomically; returns the paths."""
    from zoprl.reproduce.figures import write_table

    frame = per_game_frame(exact, catalogue, table, budget)
    log("per game, exact (float64, infinite data):")
    return write_table(frame, per_game_markdown(frame), out_dir, log, "per_game")


def acceptance(exact: pd.DataFrame, tolerance: float = 1e-3) -> tuple[bool, str]:
    """The check of the claim with exact probabilities on the Condorcet trap: the BT pipeline's
    infinite-data gap > 0, every general-preference learner's exact gap < ``tolerance``."""
    trap = exact[exact.family == CONDORCET].set_index("method").exact_gap
    bt = float(trap[BT])
    others = trap[~trap.index.str.startswith(BT) & ~trap.index.isin([REFERENCE, BEST_SCALE])]
    ok = bt > 0 and bool((others < tolerance).all())
    text = f"Condorcet trap, exact (float64): BT pipeline gap {bt:.3e} > 0; " + ", ".join(
        f"{m} {v:.1e}" for m, v in others.items()
    )
    return ok, text + f" < {tolerance:g}: {'holds' if ok else 'FAILS'}"


def run_nash_intransitive(out_dir, profile, fresh, progress, log) -> list[str]:
    """Tune on the tuning game, run the chosen values on every game, the exact limits, then the
    summary and the figure (module doc); returns the written paths."""
    from zoprl.experiment import run_sweep
    from zoprl.hosts import share
    from zoprl.reproduce.figures import common_budget
    from zoprl.tuning import tune

    raw, games = load_spec(profile)
    catalogue = game_catalogue(raw["environment"], games)
    spec = build_spec(raw, catalogue)
    tuned = tune(spec, out_dir, fresh=fresh, progress=progress, log=log)
    log(f"the chosen values on {len(catalogue)} games x {spec.seeds} fresh seeds")
    sweep = run_sweep(
        games_spec(tuned.tuned_spec, catalogue),
        os.path.join(out_dir, "games"),
        fresh=fresh,
        progress=progress,
    )
    eta = float(spec.evaluation.options["eta"])
    every_game = with_tuning_game(catalogue)
    exact = exact_limits(every_game, chosen_values(tuned.choices, spec), eta, spec.iterations)
    ok, text = acceptance(exact)
    log(text)
    table = label_games(sweep.table, catalogue)
    budget = common_budget(table)
    written = share(  # on process 0 alone
        lambda: (
            summarise(table, exact, out_dir, log=log, budget=budget)
            + write_per_game(exact, every_game, table, out_dir, log=log, budget=budget)
        )
    )
    return list(tuned.written) + [sweep.table_path, sweep.manifest_path] + written


__all__ = [
    "REFERENCE",
    "acceptance",
    "build_spec",
    "bt_projection",
    "chosen_values",
    "exact_gaps",
    "exact_limits",
    "extragradient_exact",
    "game_catalogue",
    "games_spec",
    "label_games",
    "load_spec",
    "majority_cycles",
    "nash_intransitive_figure",
    "per_game_frame",
    "per_game_markdown",
    "run_nash_intransitive",
    "run_slopes",
    "summarise",
    "summary_frame",
    "summary_markdown",
    "with_tuning_game",
    "write_per_game",
]
