"""The ``rates`` experiment of issue 7: measured convergence exponents of ZPG against theory.

Everything runs on the default GridWorld (``zoprl.envs.make("GridWorld")``: 5 x 5, slip 0.1,
H = 10) with the time-homogeneous tabular softmax policy (d = 25 * 4 = 100 parameters), a
Bradley-Terry teacher (logistic link, beta = 1: ``oracle_params("noisy")``) and the default clip
range R = 10 (the largest possible return gap). Every reference value (J, grad J, J*) is exact
(``zoprl.evaluation.exact_evaluator``); every PRNG key derives from ``profile.seed``.

The measurement point theta is a fixed random normal table (key ``theta_seed``, scale
``theta_scale``): with the defaults J(theta) = 2.39 against J* = 5.95 and ||grad J||^2 = 0.38.

Quantities (PAPERS.md section 3; predicted slopes from ``zoprl.theory.PREDICTED_RATES``):

(i) ``variance_vs_pairs``: for each of ``variance_directions`` fixed sphere directions v_j, the
    ZPG estimate g = (d / mu) D v_j (``make_preference_gradient`` with K = 1) is replicated
    ``variance_replicates`` times with independent keys; the value of direction j is
    sqrt(sum_r ||g_{j,r} - mean_r g_{j,r}||^2 / (R - 1)), the RMS error about the conditional mean
    E[g | v_j]. Against N. Predicted -1/2. Bootstrap groups ("seed"): the directions.
(ii) ``inversion_bias_vs_queries``: with v the normalised exact gradient at theta (the direction
    where the gap J(theta + mu v) - J(theta) and with it the odd part of the per-pair inversion
    bias are largest: for a direction with a tiny gap the per-pair biases, odd in the utility gap,
    cancel) and mu = ``mu``, E[D] - (J(theta + mu v) - J(theta)) against M, E[D] estimated from
    ``bias_pairs`` pairs per M split over ``bias_replicates`` independent replicates (the
    bootstrap groups; every M reuses the same keys, common random numbers). The value of replicate
    r is s_M (mean_r' D - exact gap) where s_M = sign of the pooled bias, so that the per-M mean is
    |E[D] - gap|; ``inversion_bias_se`` is the standard error of the pooled mean (between-replicate
    SD / sqrt(R)). The slope is fitted only for M >= ``bias_fit_min_queries`` and only where the
    bias exceeds ``bias_min_snr`` standard errors. Predicted about -1, which holds once
    M p (1 - p) is large for the pairs that matter; see the note in :func:`fit_slopes`.
(iii) ``smoothing_bias_vs_mu``: ||grad J_mu(theta) - grad J(theta)|| against mu, with
    grad J_mu(theta) = E_v[(d / mu)(J(theta + mu v) - J(theta)) v] = E_v[(d / 2 mu)(J(theta + mu v)
    - J(theta - mu v)) v] (antithetic pairs). The Monte Carlo mean over sphere directions uses the
    exact control variate d <grad J, v> v, whose mean is exactly grad J (E[d v v^T] = I on the
    sphere): bias_hat = mean_v [(d / 2 mu)(J(theta + mu v) - J(theta - mu v)) - d <grad J, v>] v.
    It has the same expectation as the plain estimate minus grad J but a per-direction spread
    O(mu^2) instead of O(sqrt(d) ||grad J||). The directions are split into
    ``smoothing_groups`` groups (the bootstrap groups); the value of a group is ||bias_hat_g||, and
    ``smoothing_bias_se`` is the standard error of the pooled vector's norm,
    sqrt(sum_k Var_g(bias_hat_g,k) / G). PAPERS.md predicts +1 (the Lipschitz upper bound); for a
    smooth J the linear term cancels and the bias is O(mu^2): both are reported.
    ``directional_bias_vs_mu``: |(J(theta + mu v_j) - J(theta)) / mu - <grad J, v_j>| for
    ``directional_directions`` fixed sphere directions (the groups); predicted +1.
(iv) ``stationarity_vs_iterations``: (1 / T) sum_{t < T} ||grad J(theta_t)||^2 (exact) of ZPG
    (``zoprl.algorithms.zpg`` run by ``make_run``) started at theta, with step size
    alpha = ``step_constant`` / sqrt(T), against T; seeds are the bootstrap groups. One compiled
    program: the runs are vmapped over seeds and over the step sizes of all T, each run lasting
    max(T) iterations and its average taken over its own first T iterations (iteration t uses the
    key fold_in(step_key, t), so the first T iterations are exactly those of a run of length T).
    Predicted -1/2 until the bias floor.

No Python loop over pairs, seeds, replicates, directions or iterations: those are vmap / lax.map /
lax.scan axes. Python loops run only over N and M values (static shapes).
"""

from __future__ import annotations

import dataclasses
import functools
import io
import math
import os
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

QUANTITIES = ("variance_vs_pairs", "inversion_bias_vs_queries", "smoothing_bias_vs_mu",
              "directional_bias_vs_mu", "stationarity_vs_iterations")
"""The measured quantities; each is the ``cell`` of its rows and a key of PREDICTED_RATES."""

METRICS = {
    "variance_vs_pairs": "gradient_rms_error",
    "inversion_bias_vs_queries": "inversion_bias",
    "smoothing_bias_vs_mu": "smoothing_bias",
    "directional_bias_vs_mu": "directional_bias",
    "stationarity_vs_iterations": "avg_grad_norm_sq",
}
"""The metric whose slope is fitted, per quantity."""

X_COLUMNS = {
    "variance_vs_pairs": "static.num_pairs",
    "inversion_bias_vs_queries": "oracle.num_queries",
    "smoothing_bias_vs_mu": "hp.mu",
    "directional_bias_vs_mu": "hp.mu",
    "stationarity_vs_iterations": "static.iterations",
}
"""The x column of each quantity."""

SLOPE_COLUMNS = ("quantity", "x", "metric", "slope", "low", "high", "expected",
                 "contains_expected", "num_x", "num_seeds", "x_min", "x_max", "note")

X_AXIS_LABELS = {
    "static.num_pairs": "pairs per estimate N (trajectory pairs)",
    "oracle.num_queries": "queries per pair M (human queries)",
    "hp.mu": "perturbation radius μ",
    "static.iterations": "iterations T (step size α = c / √T)",
}
Y_AXIS_LABELS = {
    "gradient_rms_error": "RMS error of g about E[g | v]",
    "inversion_bias": "inversion bias |E[D] − ΔJ|",
    "smoothing_bias": "bias (exact J)",
    "avg_grad_norm_sq": "(1/T) Σ_{t<T} ‖∇J(θ_t)‖²",
}

ENVIRONMENT = "GridWorld"
ORACLE = "logistic/noisy"
ALGORITHM = "zpg"
LABEL = "ZPG"


@dataclasses.dataclass(frozen=True)
class RatesProfile:
    """Sizes of the ``rates`` experiment (see the module doc for what each measures)."""

    name: str
    seed: int = 0                       # every key derives from jax.random.key(seed)
    theta_seed: int = 1                 # theta = theta_scale * normal(key(theta_seed), [25, 4])
    theta_scale: float = 1.0
    mu: float = 2.0                     # the ZPG radius of (i), (ii), (iv) (README's default)
    num_queries: int = 10               # M of (i) and (iv)
    # (i) variance against N
    pairs_grid: tuple = (16, 64, 256, 1024, 4096)
    variance_directions: int = 16
    variance_replicates: int = 16
    # (ii) inversion bias against M
    queries_grid: tuple = (4, 8, 16, 32, 64, 128, 256, 512)
    bias_pairs: int = 2 ** 21           # pairs per M, all replicates together
    bias_replicates: int = 16
    bias_chunk_pairs: int = 4096        # pairs per replicate per rollout batch (memory bound)
    bias_fit_min_queries: int = 32
    bias_min_snr: float = 5.0
    # (iii) smoothing bias against mu
    mu_grid: tuple = (0.125, 0.25, 0.5, 1.0, 2.0)
    smoothing_groups: int = 16
    smoothing_directions: int = 4096    # antithetic directions per group
    directional_directions: int = 16
    # (iv) stationarity against T
    iterations_grid: tuple = (50, 100, 200, 400, 800)
    stationarity_seeds: int = 16
    stationarity_pairs: int = 256
    step_constant: float = 2.0
    # slope fits
    num_resamples: int = 2000


PROFILES = {
    # 2-core CPU: 70-80 s including compilation (measured on a loaded 2-core machine)
    "quick": RatesProfile(name="quick"),
    # one GPU: more replicates, wider N / M / mu / T ranges
    "full": RatesProfile(
        name="full",
        pairs_grid=(16, 64, 256, 1024, 4096, 16384, 65536),
        variance_directions=32, variance_replicates=32,
        queries_grid=(4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096),
        bias_pairs=2 ** 25, bias_replicates=32, bias_chunk_pairs=16384,
        mu_grid=tuple(float(m) for m in np.geomspace(0.125, 2.0, 9)),
        smoothing_groups=32, smoothing_directions=16384, directional_directions=32,
        iterations_grid=(50, 100, 200, 400, 800, 1600, 3200), stationarity_seeds=32,
    ),
}


def get_profile(profile) -> RatesProfile:
    """A RatesProfile, by name (``PROFILES``) or as given; ValueError naming an unknown name."""
    if isinstance(profile, RatesProfile):
        return profile
    if not isinstance(profile, str) or profile not in PROFILES:
        raise ValueError(f"unknown rates profile {profile!r}; valid choices: {sorted(PROFILES)}")
    return PROFILES[profile]


# --------------------------------------------------------------------------------------------
# the problem


class Problem(NamedTuple):
    """The fixed measurement setting: environment, policy, exact evaluator and theta."""

    env: object
    env_params: object
    policy: object
    evaluator: object
    oracle_params: object
    theta: object            # the policy's params pytree at the measurement point
    theta_flat: object       # [d]
    unflatten: Callable
    dim: int
    value: float             # J(theta)
    grad_flat: object        # grad J(theta), [d]
    optimum: float           # J*
    clip_range: float        # R


@functools.lru_cache(maxsize=4)
def make_problem(theta_seed: int = 1, theta_scale: float = 1.0) -> Problem:
    """The default GridWorld, tabular softmax policy, noisy teacher and theta (module doc);
    cached (a Problem holds only immutable arrays and functions)."""
    import jax
    from jax.flatten_util import ravel_pytree

    from zoprl.algorithms.zeroth_order import default_clip_range
    from zoprl.envs import make
    from zoprl.evaluation import exact_evaluator
    from zoprl.oracles import oracle_params
    from zoprl.policies import tabular_softmax

    env, env_params = make(ENVIRONMENT)
    policy = tabular_softmax(env.num_states, env.num_actions)
    evaluator = exact_evaluator(env, policy)

    @jax.jit
    def setup(key):   # one compiled program, not a dispatch per operation
        theta = jax.tree.map(lambda leaf: theta_scale * jax.random.normal(key, leaf.shape),
                             policy.init(key))
        value, grad = evaluator.value_and_grad(theta, env_params)
        return theta, value, ravel_pytree(grad)[0], evaluator.optimal_value(env_params)

    theta, value, grad_flat, optimum = setup(jax.random.key(theta_seed))
    theta_flat, unflatten = ravel_pytree(theta)
    return Problem(env, env_params, policy, evaluator, oracle_params("noisy"), theta,
                   theta_flat, unflatten, int(theta_flat.size), float(value), grad_flat,
                   float(optimum), default_clip_range(env))


def _hparams(problem: Problem, mu, step_size=0.0):
    import jax.numpy as jnp

    from zoprl.algorithms import ZerothOrderHparams

    return ZerothOrderHparams(jnp.float32(step_size), jnp.float32(mu),
                              jnp.float32(problem.clip_range), jnp.float32(1.0))


def _sphere(key, count: int, dim: int):
    import jax

    from zoprl.estimators.directions import sample_direction

    return jax.vmap(sample_direction, (0, None))(jax.random.split(key, count), dim)


def _flat_value(problem: Problem):
    """J as a function of flat parameter vectors [..., d] (vmapped over leading axes)."""
    import jax

    def value(flat):
        return problem.evaluator.value(problem.unflatten(flat), problem.env_params)

    return jax.jit(jax.vmap(value))


# --------------------------------------------------------------------------------------------
# (i) variance against N


def gradient_rms_error(problem: Problem, key, num_pairs: int, num_directions: int,
                       num_replicates: int, mu: float = 2.0, num_queries: int = 10):
    """Per fixed direction v_j (the same for every N at a given key): the RMS error of the ZPG
    estimate about its replicate mean, sqrt(sum_r ||g_r - mean g||^2 / (R - 1)); [J] numpy."""
    import jax
    import jax.numpy as jnp

    from zoprl.algorithms.zeroth_order import make_preference_gradient
    from zoprl.oracles import make_oracle

    if num_replicates < 2:
        raise ValueError(f"num_replicates must be >= 2, got {num_replicates}")
    k_dir, k_est = jax.random.split(key)
    directions = _sphere(k_dir, num_directions, problem.dim)
    estimate = make_preference_gradient(problem.env, problem.policy,
                                        make_oracle("logistic", num_queries),
                                        num_pairs=num_pairs, scale=float(problem.dim),
                                        update="gradient")
    hp = _hparams(problem, mu)

    def one(key, v):
        return estimate(key, problem.theta, v[None], hp, problem.env_params,
                        problem.oracle_params)[0]

    def per_direction(args):
        key, v = args
        g = jax.vmap(one, (0, None))(jax.random.split(key, num_replicates), v)     # [R, d]
        dev = g - jnp.mean(g, axis=0)
        return jnp.sqrt(jnp.sum(dev ** 2) / (num_replicates - 1))

    run = jax.jit(lambda k: jax.lax.map(per_direction,
                                        (jax.random.split(k, num_directions), directions)))
    return np.asarray(run(k_est), np.float64)


# --------------------------------------------------------------------------------------------
# (ii) inversion bias against M


def inversion_gap_estimates(problem: Problem, key, num_queries: int, direction, mu: float,
                            num_pairs: int, num_replicates: int, chunk_pairs: int):
    """Per replicate r: D_r, the mean inverted gap over num_pairs / num_replicates pairs at the
    fixed ``direction`` [d]; and the exact gap J(theta + mu v) - J(theta). Returns (D [R], gap).
    Rollouts are batched ``num_replicates x chunk_pairs`` pairs at a time (lax.map over chunks)."""
    import jax
    import jax.numpy as jnp

    from zoprl.algorithms.zeroth_order import make_preference_gradient
    from zoprl.oracles import make_oracle

    per_replicate = num_pairs // num_replicates
    chunk = min(chunk_pairs, per_replicate)
    num_chunks = per_replicate // chunk
    if num_chunks * chunk * num_replicates != num_pairs:
        raise ValueError(f"num_pairs ({num_pairs}) must be num_replicates ({num_replicates}) x "
                         f"a multiple of chunk_pairs ({chunk_pairs})")
    estimate = make_preference_gradient(problem.env, problem.policy,
                                        make_oracle("logistic", num_queries), num_pairs=chunk,
                                        scale=float(problem.dim), update="gradient")
    hp = _hparams(problem, mu)
    v = jnp.broadcast_to(jnp.asarray(direction, jnp.float32), (num_replicates, problem.dim))

    def gaps(k):   # K = R copies of v: R independent D's from one call
        return estimate(k, problem.theta, v, hp, problem.env_params, problem.oracle_params)[1]

    run = jax.jit(lambda k: jnp.mean(jax.lax.map(gaps, jax.random.split(k, num_chunks)), 0))
    d_hat = np.asarray(run(key), np.float64)
    plus = _flat_value(problem)((problem.theta_flat + mu * jnp.asarray(direction,
                                                                       jnp.float32))[None])
    return d_hat, float(plus[0]) - problem.value


# --------------------------------------------------------------------------------------------
# (iii) smoothing bias against mu


def smoothing_bias_vectors(problem: Problem, key, mus, num_groups: int, num_directions: int,
                           control_variate: bool = True):
    """Per group g and radius mu: bias_hat_g(mu) = mean over ``num_directions`` sphere directions
    v of [(d / 2 mu)(J(theta + mu v) - J(theta - mu v)) - d <grad J, v>] v (module doc, (iii)).
    Every mu uses the same directions. With ``control_variate=False`` the term d <grad J, v> v is
    replaced by grad J itself (the plain estimate of grad J_mu minus grad J; same expectation,
    far noisier). Returns [G, len(mus), d] numpy (float64)."""
    import jax
    import jax.numpy as jnp

    mus = jnp.asarray(mus, jnp.float32)
    d = problem.dim
    value = _flat_value(problem)
    theta, grad = problem.theta_flat, problem.grad_flat

    def per_group(k):
        v = _sphere(k, num_directions, d)                                          # [n, d]
        linear = d * (v @ grad)                                                    # [n]

        def per_mu(mu):
            diff = value(theta + mu * v) - value(theta - mu * v)
            fd = (d / (2.0 * mu)) * diff
            if control_variate:
                return jnp.mean((fd - linear)[:, None] * v, axis=0)
            return jnp.mean(fd[:, None] * v, axis=0) - grad

        return jax.vmap(per_mu)(mus)                                               # [m, d]

    run = jax.jit(lambda k: jax.lax.map(per_group, jax.random.split(k, num_groups)))
    return np.asarray(run(key), np.float64)


def smoothed_gradient(problem: Problem, key, mus, num_groups: int = 8,
                      num_directions: int = 1024, control_variate: bool = True):
    """grad J_mu(theta) per mu, [len(mus), d], and its standard error per mu (norm of the
    Monte Carlo error): grad J(theta) + the pooled bias_hat of :func:`smoothing_bias_vectors`."""
    vectors = smoothing_bias_vectors(problem, key, mus, num_groups, num_directions,
                                     control_variate)
    pooled = vectors.mean(axis=0)
    se = np.sqrt(vectors.var(axis=0, ddof=1).sum(axis=-1) / num_groups)
    return np.asarray(problem.grad_flat, np.float64) + pooled, se


def directional_bias(problem: Problem, key, mus, num_directions: int):
    """|(J(theta + mu v_j) - J(theta)) / mu - <grad J, v_j>| for fixed sphere directions v_j,
    [J, len(mus)] numpy (float64)."""
    import jax
    import jax.numpy as jnp

    mus = jnp.asarray(mus, jnp.float32)
    value = _flat_value(problem)
    theta, grad = problem.theta_flat, problem.grad_flat

    def run(k):
        v = _sphere(k, num_directions, problem.dim)
        slope = v @ grad
        err = jax.vmap(lambda mu: (value(theta + mu * v) - problem.value) / mu - slope)(mus)
        return jnp.abs(err).T

    return np.asarray(jax.jit(run)(key), np.float64)


# --------------------------------------------------------------------------------------------
# (iv) stationarity against T


def stationarity_runs(problem: Problem, key, iterations, num_seeds: int, num_pairs: int,
                      num_queries: int = 10, mu: float = 2.0, step_constant: float = 2.0):
    """ZPG runs from theta with alpha_T = step_constant / sqrt(T) for each T in ``iterations``,
    vmapped over seeds and step sizes (module doc, (iv)). Returns (avg [S, len(T)]: the mean of
    ||grad J(theta_t)||^2 over t < T, value_gap [S, len(T)]: J* - J(theta_T))."""
    import jax
    import jax.numpy as jnp

    from zoprl.algorithms import make_run, zpg
    from zoprl.oracles import make_oracle

    iterations = np.asarray(iterations, np.int64)
    horizon = int(iterations.max())
    algo = zpg(problem.env, problem.policy, make_oracle("logistic", num_queries),
               num_pairs=num_pairs)
    base_init = algo.init

    def init(k, hp, env_params, oracle_params=None):   # start at theta, not at the uniform policy
        return base_init(k, hp, env_params, oracle_params)._replace(params=problem.theta)

    algo = algo._replace(init=init)
    run = make_run(algo, horizon)
    hp = algo.hparams(step_size=(step_constant / np.sqrt(iterations)).astype(np.float32), mu=mu,
                      clip_range=problem.clip_range)
    t_index = jnp.arange(horizon + 1)
    lengths = jnp.asarray(iterations)

    def one(k, h, length):
        metrics = run(k, h, problem.env_params, problem.oracle_params)[1]
        mask = (t_index < length).astype(jnp.float32)
        avg = jnp.sum(metrics["grad_norm_sq"] * mask) / length
        return avg, metrics["value_gap"][length]

    per_seed = jax.vmap(one, (None, 0, 0))
    sweep = jax.jit(jax.vmap(per_seed, (0, None, None)))
    avg, gap = sweep(jax.random.split(key, num_seeds), hp, lengths)
    return np.asarray(avg, np.float64), np.asarray(gap, np.float64)


# --------------------------------------------------------------------------------------------
# the tidy table


def _rows(quantity: str, x_values, values: dict, trajectories, queries, params: dict,
          iteration=0):
    """Rows of one quantity: ``values`` maps metric -> [S, X] (S seeds/groups, X x values);
    ``trajectories`` / ``queries`` are [X] (per run); ``params`` maps column -> scalar or [X]."""
    import pandas as pd

    x_values = np.asarray(x_values)
    first = np.asarray(next(iter(values.values())))
    num_seeds, num_x = first.shape
    seed, xi = (g.ravel() for g in np.meshgrid(np.arange(num_seeds), np.arange(num_x),
                                                indexing="ij"))
    frames = []
    for metric, value in values.items():
        value = np.asarray(value, np.float64)
        if value.shape != (num_seeds, num_x):
            raise ValueError(f"{quantity}/{metric}: expected shape {(num_seeds, num_x)}, "
                             f"got {value.shape}")
        columns = {"cell": quantity, "label": LABEL, "algorithm": ALGORITHM,
                   "environment": ENVIRONMENT, "oracle": ORACLE, "reward_free": True}
        for name, column in params.items():
            column = np.asarray(column, np.float64)
            columns[name] = column[xi] if column.ndim else np.full(xi.size, float(column))
        iters = np.asarray(iteration, np.int64)
        columns.update({
            "seed": seed.astype(np.int64),
            "iteration": iters[xi] if iters.ndim else np.full(xi.size, int(iters), np.int64),
            "trajectories": np.asarray(trajectories, np.int64)[xi],
            "queries": np.asarray(queries, np.int64)[xi],
            "metric": metric,
            "value": value[seed, xi],
            "_x": xi,
        })
        frames.append(pd.DataFrame(columns))
    return pd.concat(frames, ignore_index=True)


def _finish_table(frames):
    """Concatenate, number the runs (one per cell x x value x seed), order columns and rows."""
    import pandas as pd

    from zoprl.results import order_columns, sort_rows

    df = pd.concat(frames, ignore_index=True)
    order = {q: i for i, q in enumerate(QUANTITIES)}
    keys = df[["cell", "_x", "seed"]].assign(_c=df["cell"].map(order))
    codes = keys.sort_values(["_c", "_x", "seed"]).drop_duplicates(["cell", "_x", "seed"])
    codes = codes.assign(run_id=np.arange(len(codes), dtype=np.int64))
    df = df.merge(codes[["cell", "_x", "seed", "run_id"]], on=["cell", "_x", "seed"])
    df = df.drop(columns="_x")
    df["run_id"] = df["run_id"].astype(np.int64)
    df["reward_free"] = df["reward_free"].astype(bool)
    for column in ("cell", "label", "algorithm", "environment", "oracle", "metric"):
        df[column] = df[column].astype(object)
    return sort_rows(order_columns(df))


def _lap(timings, name: str, start: float, log, what: str) -> None:
    seconds = time.perf_counter() - start
    if timings is not None:
        timings[name] = seconds
    log(f"  {what}: {seconds:.1f} s")


def compute_rates(profile: RatesProfile, log=print, timings: dict | None = None):
    """Measure the four quantities of ``profile``; returns the tidy table (module doc).
    ``timings``, when given, receives the wall seconds of each part (i)-(iv)."""
    import jax

    p = profile
    problem = make_problem(p.theta_seed, p.theta_scale)
    root = jax.random.key(p.seed)
    keys = {q: jax.random.fold_in(root, i) for i, q in enumerate(QUANTITIES)}
    log(f"rates [{p.name}]: GridWorld, tabular softmax (d = {problem.dim}), theta: "
        f"J = {problem.value:.3f} (J* = {problem.optimum:.3f}), "
        f"||grad J||^2 = {float(np.sum(np.asarray(problem.grad_flat) ** 2)):.3f}")
    fixed = {"oracle.beta": 1.0, "hp.clip_range": problem.clip_range,
             "static.dimension": problem.dim}
    frames = []

    # (i)
    start = time.perf_counter()
    pairs = np.asarray(p.pairs_grid, np.int64)
    rms = np.stack([gradient_rms_error(problem, keys["variance_vs_pairs"], int(n),
                                       p.variance_directions, p.variance_replicates, p.mu,
                                       p.num_queries) for n in pairs], axis=1)
    frames.append(_rows(
        "variance_vs_pairs", pairs, {"gradient_rms_error": rms},
        trajectories=2 * pairs * p.variance_replicates,
        queries=pairs * p.num_queries * p.variance_replicates,
        params={"static.num_pairs": pairs, "oracle.num_queries": p.num_queries, "hp.mu": p.mu,
                "static.replicates": p.variance_replicates, **fixed}))
    _lap(timings, "variance_vs_pairs", start, log, "(i) variance vs N")

    # (ii)
    start = time.perf_counter()
    queries = np.asarray(p.queries_grid, np.int64)
    direction = np.asarray(problem.grad_flat) / np.linalg.norm(np.asarray(problem.grad_flat))
    d_hat, gaps = [], []
    for m in queries:
        d_m, gap = inversion_gap_estimates(problem, keys["inversion_bias_vs_queries"], int(m),
                                           direction, p.mu, p.bias_pairs, p.bias_replicates,
                                           p.bias_chunk_pairs)
        d_hat.append(d_m)
        gaps.append(gap)
    signed = np.stack(d_hat, axis=1) - np.asarray(gaps)[None]                      # [R, X]
    sign = np.where(signed.mean(axis=0) >= 0, 1.0, -1.0)
    se = signed.std(axis=0, ddof=1) / math.sqrt(p.bias_replicates)
    per_replicate = p.bias_pairs // p.bias_replicates
    frames.append(_rows(
        "inversion_bias_vs_queries", queries,
        {"inversion_bias": signed * sign[None],
         "inversion_bias_se": np.broadcast_to(se, signed.shape),
         "exact_gap": np.broadcast_to(np.asarray(gaps), signed.shape)},
        trajectories=np.full(queries.size, 2 * per_replicate),
        queries=per_replicate * queries,
        params={"oracle.num_queries": queries, "static.num_pairs": per_replicate,
                "hp.mu": p.mu, "static.replicates": p.bias_replicates, **fixed}))
    _lap(timings, "inversion_bias_vs_queries", start, log,
         f"(ii) inversion bias vs M (exact gap {gaps[0]:.3f}; SE {se.min():.2e} to "
         f"{se.max():.2e})")

    # (iii)
    start = time.perf_counter()
    mus = np.asarray(p.mu_grid, np.float64)
    vectors = smoothing_bias_vectors(problem, keys["smoothing_bias_vs_mu"], mus,
                                     p.smoothing_groups, p.smoothing_directions)
    norms = np.linalg.norm(vectors, axis=-1)                                         # [G, m]
    se_mu = np.sqrt(vectors.var(axis=0, ddof=1).sum(axis=-1) / p.smoothing_groups)
    zeros = np.zeros(mus.size, np.int64)
    frames.append(_rows(
        "smoothing_bias_vs_mu", mus,
        {"smoothing_bias": norms, "smoothing_bias_se": np.broadcast_to(se_mu, norms.shape),
         "pooled_smoothing_bias": np.broadcast_to(np.linalg.norm(vectors.mean(0), axis=-1),
                                                  norms.shape)},
        trajectories=zeros, queries=zeros,
        params={"hp.mu": mus, "static.directions": p.smoothing_directions, **fixed}))
    directional = directional_bias(problem, keys["directional_bias_vs_mu"], mus,
                                   p.directional_directions)
    frames.append(_rows(
        "directional_bias_vs_mu", mus, {"directional_bias": directional},
        trajectories=zeros, queries=zeros, params={"hp.mu": mus, **fixed}))
    _lap(timings, "smoothing_bias_vs_mu", start, log,
         "(iii) smoothing and directional bias vs mu")

    # (iv)
    start = time.perf_counter()
    iterations = np.asarray(p.iterations_grid, np.int64)
    avg, gap = stationarity_runs(problem, keys["stationarity_vs_iterations"], iterations,
                                 p.stationarity_seeds, p.stationarity_pairs, p.num_queries,
                                 p.mu, p.step_constant)
    frames.append(_rows(
        "stationarity_vs_iterations", iterations,
        {"avg_grad_norm_sq": avg, "value_gap": gap},
        trajectories=2 * p.stationarity_pairs * iterations,
        queries=p.stationarity_pairs * p.num_queries * iterations,
        params={"static.iterations": iterations,
                "hp.step_size": p.step_constant / np.sqrt(iterations),
                "static.num_pairs": p.stationarity_pairs, "oracle.num_queries": p.num_queries,
                "hp.mu": p.mu, **fixed},
        iteration=iterations))
    _lap(timings, "stationarity_vs_iterations", start, log, "(iv) stationarity vs T")
    return _finish_table(frames)


# --------------------------------------------------------------------------------------------
# slopes


def _fit_rows(df, quantity: str, profile: RatesProfile):
    """The rows of ``quantity``'s fitted metric that enter its slope fit."""
    metric = METRICS[quantity]
    rows = df[(df["cell"] == quantity) & (df["metric"] == metric)]
    if quantity == "inversion_bias_vs_queries":
        stats = df[df["cell"] == quantity].pivot_table(index="oracle.num_queries",
                                                       columns="metric", values="value",
                                                       aggfunc="mean")
        snr = stats["inversion_bias"] / stats["inversion_bias_se"]
        keep = snr.index[(snr.index >= profile.bias_fit_min_queries)
                         & (snr >= profile.bias_min_snr)]
        rows = rows[rows["oracle.num_queries"].isin(keep)]
    return rows


NOTES = {
    "variance_vs_pairs": "D is a mean of N i.i.d. inverted gaps: exact -1/2 in expectation",
    "inversion_bias_vs_queries": (
        "fitted where M >= {m} and bias >= {snr} SE; the per-pair bias plateaus (clipping) while "
        "M e^-|du| < 1 and falls faster than 1/M before reaching sinh(du)/M, so over this M range "
        "the mixture over du is steeper than -1; -1 is the large-M limit"),
    "smoothing_bias_vs_mu": (
        "expected +1 is PAPERS.md's Lipschitz upper bound; J is smooth, the linear term cancels "
        "and the bias is O(mu^2): +2 expected from Taylor"),
    "directional_bias_vs_mu": "Taylor: (mu / 2) v'Hv + O(mu^2)",
    "stationarity_vs_iterations": "alpha = {c} / sqrt(T); -1/2 until the bias floor",
}


def fit_slopes(df, profile: RatesProfile):
    """The slope table (``SLOPE_COLUMNS``): per quantity the log-log slope of the per-x mean of
    its metric with a 95% cluster-bootstrap interval over seeds (``zoprl.theory.slope_table``),
    next to the predicted slope of ``PREDICTED_RATES``."""
    import pandas as pd

    from zoprl.theory import slope_table

    rows = []
    for quantity in QUANTITIES:
        sub = _fit_rows(df, quantity, profile)
        x = X_COLUMNS[quantity]
        metric = METRICS[quantity]
        row = {"quantity": quantity, "x": x, "metric": metric}
        note = NOTES[quantity].format(m=profile.bias_fit_min_queries, snr=profile.bias_min_snr,
                                      c=profile.step_constant)
        if sub[x].nunique() >= 2:
            table = slope_table(sub, x, metric, by=("cell",), predicted=quantity, reduce="last",
                                num_resamples=profile.num_resamples)
            row.update(table.iloc[0][["slope", "low", "high", "expected", "contains_expected",
                                      "num_x", "num_seeds"]].to_dict())
        else:
            from zoprl.theory import predicted_rate

            expected = predicted_rate(quantity).slope
            row.update(slope=np.nan, low=np.nan, high=np.nan, expected=expected,
                       contains_expected=False, num_x=int(sub[x].nunique()),
                       num_seeds=int(sub["seed"].nunique()))
            note = "fewer than 2 x values qualify for the fit; " + note
        row.update(x_min=float(sub[x].min()) if len(sub) else np.nan,
                   x_max=float(sub[x].max()) if len(sub) else np.nan, note=note)
        rows.append(row)
    table = pd.DataFrame(rows, columns=list(SLOPE_COLUMNS))
    table["contains_expected"] = table["contains_expected"].astype(bool)
    table["num_x"] = table["num_x"].astype(np.int64)
    table["num_seeds"] = table["num_seeds"].astype(np.int64)
    return table


def format_slopes(slopes) -> str:
    """A short text table: slope [95% CI] next to the expected slope."""
    lines = [f"{'quantity':<28} {'x':<20} {'slope':>7}  {'95% CI':<17} {'expected':>8}  in CI"]
    for _, r in slopes.iterrows():
        ci = f"[{r['low']:+.2f}, {r['high']:+.2f}]"
        lines.append(f"{r['quantity']:<28} {r['x']:<20} {r['slope']:>+7.2f}  {ci:<17} "
                     f"{r['expected']:>+8.2f}  {'yes' if r['contains_expected'] else 'NO'}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# figures


def _reference(ax, xs, ys, slope: float, style: str, color, label: str) -> None:
    """A line of ``slope`` through the geometric centre of the points (xs, ys)."""
    lx, ly = np.log(np.asarray(xs, float)), np.log(np.asarray(ys, float))
    cx, cy = math.exp(lx.mean()), math.exp(ly.mean())
    grid = np.geomspace(min(xs), max(xs), 50)
    ax.plot(grid, cy * (grid / cx) ** slope, style, color=color, linewidth=1.4, label=label)


def _finish(ax, x: str, ylabel: str, title: str) -> None:
    from zoprl.plots.style import legend

    ax.set_xlabel(X_AXIS_LABELS[x])
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize="medium")
    legend(ax)


def _panel_variance(ax, df, profile):
    from zoprl.plots import plot_rate

    quantity = "variance_vs_pairs"
    plot_rate(_fit_rows(df, quantity, profile), X_COLUMNS[quantity], METRICS[quantity],
              expected_slope=quantity, ax=ax, hue=None, num_resamples=profile.num_resamples)
    _finish(ax, X_COLUMNS[quantity], Y_AXIS_LABELS[METRICS[quantity]],
            f"(i) estimator error vs pairs (M = {profile.num_queries}, μ = {profile.mu:g}; "
            f"{profile.variance_directions} directions)")


def _panel_inversion(ax, df, profile):
    from zoprl.plots import plot_rate

    quantity = "inversion_bias_vs_queries"
    x = X_COLUMNS[quantity]
    fitted = _fit_rows(df, quantity, profile)
    sub = df[df["cell"] == quantity]
    stats = sub.pivot_table(index=x, columns="metric", values="value", aggfunc="mean")
    if fitted[x].nunique() >= 2:
        plot_rate(fitted, x, METRICS[quantity], expected_slope=quantity, ax=ax, hue=None,
                  num_resamples=profile.num_resamples)
    outside = stats.index.difference(fitted[x].unique())
    if len(outside):
        reasons = []
        if (outside < profile.bias_fit_min_queries).any():
            reasons.append(f"M < {profile.bias_fit_min_queries}: clipping regime")
        if (outside >= profile.bias_fit_min_queries).any():
            reasons.append(f"bias < {profile.bias_min_snr:g} SE")
        ax.plot(outside, stats.loc[outside, "inversion_bias"].abs(), "o", mfc="none",
                color="grey", label=f"not fitted ({'; '.join(reasons)})")
    ax.plot(stats.index, stats["inversion_bias_se"], "--", color="tab:red", linewidth=1,
            label="Monte Carlo standard error")
    ax.set_xscale("log")
    ax.set_yscale("log")
    from zoprl.plots.style import data_ticks

    data_ticks(ax, stats.index)
    per_m = int(profile.bias_pairs)
    _finish(ax, x, Y_AXIS_LABELS[METRICS[quantity]],
            f"(ii) link-inversion bias vs queries ({per_m:,} pairs per M, μ = {profile.mu:g})")


def _panel_smoothing(ax, df, profile):
    import pandas as pd

    from zoprl.plots import plot_rate
    from zoprl.plots.style import colors

    names = {"smoothing_bias_vs_mu": "‖∇J_μ − ∇J‖", "directional_bias_vs_mu":
             "|(J(θ+μv) − J(θ))/μ − ⟨∇J, v⟩|"}
    points = []
    for quantity, name in names.items():
        rows = _fit_rows(df, quantity, profile)
        points.append(pd.DataFrame({"hp.mu": rows["hp.mu"].to_numpy(),
                                    "bias": rows["value"].to_numpy(),
                                    "seed": rows["seed"].to_numpy(), "series": name}))
    points = pd.concat(points, ignore_index=True)
    plot_rate(points, "hp.mu", "bias", expected_slope=None, ax=ax, hue="series",
              num_resamples=profile.num_resamples)
    series = sorted(names.values())
    for name, color in zip(series, colors(len(series))):
        means = points[points["series"] == name].groupby("hp.mu")["bias"].mean()
        smoothing = name == names["smoothing_bias_vs_mu"]
        _reference(ax, means.index, means.to_numpy(), 1.0, ":", color,
                   "‖∇J_μ − ∇J‖: expected +1 (PAPERS.md bound)" if smoothing
                   else "directional: expected +1 (Taylor)")
        if smoothing:
            _reference(ax, means.index, means.to_numpy(), 2.0, "-.", color,
                       "‖∇J_μ − ∇J‖: +2 (smooth J, linear term cancels)")
    _finish(ax, "hp.mu", "bias (exact J, sphere directions v)",
            f"(iii) smoothing bias vs μ ({profile.smoothing_groups} x "
            f"{profile.smoothing_directions} antithetic directions)")


def _panel_stationarity(ax, df, profile):
    from zoprl.plots import plot_rate

    quantity = "stationarity_vs_iterations"
    plot_rate(_fit_rows(df, quantity, profile), X_COLUMNS[quantity], METRICS[quantity],
              expected_slope=quantity, ax=ax, hue=None, num_resamples=profile.num_resamples)
    _finish(ax, X_COLUMNS[quantity], Y_AXIS_LABELS[METRICS[quantity]],
            f"(iv) stationarity vs iterations (c = {profile.step_constant:g}, "
            f"N = {profile.stationarity_pairs}, {profile.stationarity_seeds} seeds)")


PANELS = {
    "variance_vs_pairs": _panel_variance,
    "inversion_bias_vs_queries": _panel_inversion,
    "smoothing_bias_vs_mu": _panel_smoothing,
    "stationarity_vs_iterations": _panel_stationarity,
}


def plot_rates(df, profile: RatesProfile, out_dir: str,
               formats=("png", "pdf")) -> list[str]:
    """One figure per quantity (``<quantity>.<format>``; (iii) holds the smoothing and the
    directional bias) and the combined 2 x 2 ``rates.<format>``. Returns the written paths."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from zoprl.plots import save_figure

    written = []
    for name, panel in PANELS.items():
        fig = Figure(figsize=(7.0, 5.0), layout="constrained")
        FigureCanvasAgg(fig)
        panel(fig.add_subplot(), df, profile)
        written += save_figure(fig, os.path.join(out_dir, name), formats)
    fig = Figure(figsize=(14.0, 10.0), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 2).ravel()
    for ax, panel in zip(axes, PANELS.values()):
        panel(ax, df, profile)
    fig.suptitle("ZPG convergence rates on GridWorld (d = 100, Bradley-Terry β = 1): "
                 "fitted log-log slope [95% bootstrap CI] vs expected")
    written += save_figure(fig, os.path.join(out_dir, "rates"), formats)
    return [str(p) for p in written]


# --------------------------------------------------------------------------------------------
# entry point


def run_rates(out_dir: str, profile="quick", log=print,
              formats=("png", "pdf")) -> list[str]:
    """Measure the rates of ``profile`` ("quick": 2-core CPU, a few minutes; "full": one GPU;
    or a ``RatesProfile``) and write ``out_dir/results.parquet`` (the tidy table),
    ``out_dir/slopes.csv``, the figures (in ``formats``) and ``out_dir/manifest.json``
    (versions, device, profile, seconds per quantity); returns the written paths.
    Logs the slope table. ValueError for an unknown profile name, before any work."""
    from zoprl.results import build_manifest, write_atomically, write_json_atomically, write_table

    profile = get_profile(profile)
    start = time.perf_counter()
    timings = {}
    df = compute_rates(profile, log, timings)
    os.makedirs(out_dir, exist_ok=True)
    written = [write_table(df, os.path.join(out_dir, "results.parquet"))]
    slopes = fit_slopes(df, profile)

    def write_csv(f):
        buffer = io.StringIO()
        slopes.to_csv(buffer, index=False)
        f.write(buffer.getvalue().encode())

    written.append(write_atomically(os.path.join(out_dir, "slopes.csv"), write_csv))
    written += plot_rates(df, profile, out_dir, formats)
    cells = [{"cell": q, "x": X_COLUMNS[q], "metric": METRICS[q],
              "x_values": sorted(float(v) for v in df.loc[df["cell"] == q, X_COLUMNS[q]].unique()),
              "seeds": int(df.loc[df["cell"] == q, "seed"].nunique()),
              "seconds": timings.get(q, 0.0)} for q in QUANTITIES]
    manifest = build_manifest({"name": "rates", "profile": dataclasses.asdict(profile)}, cells,
                              time.perf_counter() - start)
    written.append(write_json_atomically(os.path.join(out_dir, "manifest.json"), manifest))
    log("fitted log-log slopes (95% cluster-bootstrap CI over seeds) vs expected:")
    log(format_slopes(slopes))
    log(f"rates [{profile.name}] done in {time.perf_counter() - start:.1f} s; wrote "
        f"{len(written)} files to {out_dir}")
    return [str(p) for p in written]


__all__ = ["METRICS", "PROFILES", "QUANTITIES", "Problem", "RatesProfile", "X_COLUMNS",
           "compute_rates", "directional_bias", "fit_slopes", "format_slopes",
           "gradient_rms_error", "get_profile", "inversion_gap_estimates", "make_problem",
           "plot_rates", "run_rates", "smoothed_gradient", "smoothing_bias_vectors",
           "stationarity_runs"]
