"""The measurements of the ``rates`` experiment, (i)-(iv) of the package doc: estimator RMS error,
link-inversion gaps, smoothing and directional bias, stationarity runs."""

from __future__ import annotations

import numpy as np

from zoprl.reproduce.rates.problem import Problem, _flat_value, _hparams, _sphere


def _estimator(problem: Problem, num_queries: int, num_pairs: int):
    """ZPG's estimate on the problem's GridWorld with an M-vote logistic oracle and N pairs."""
    from zoprl.algorithms.zeroth_order import make_preference_gradient
    from zoprl.oracles import make_oracle

    return make_preference_gradient(
        problem.env,
        problem.policy,
        make_oracle("logistic", num_queries),
        num_pairs=num_pairs,
        scale=float(problem.dim),
        update="gradient",
    )


# --------------------------------------------------------------------------------------------
# (i) variance against N


def gradient_rms_error(
    problem: Problem,
    key,
    num_pairs: int,
    num_directions: int,
    num_replicates: int,
    mu: float = 2.0,
    num_queries: int = 10,
):
    """Per fixed direction v_j (the same for every N at a given key): the RMS error of the ZPG
    estimate about its replicate mean, sqrt(sum_r ||g_r - mean g||^2 / (R - 1)); [J] numpy."""
    import jax
    import jax.numpy as jnp

    if num_replicates < 2:
        raise ValueError(f"num_replicates must be >= 2, got {num_replicates}")
    k_dir, k_est = jax.random.split(key)
    directions = _sphere(k_dir, num_directions, problem.dim)
    estimate = _estimator(problem, num_queries, num_pairs)
    hp = _hparams(problem, mu)

    def one(key, v):
        return estimate(
            key, problem.theta, v[None], hp, problem.env_params, problem.oracle_params
        ).gradient

    def per_direction(args):
        key, v = args
        g = jax.vmap(one, (0, None))(jax.random.split(key, num_replicates), v)  # [R, d]
        dev = g - jnp.mean(g, axis=0)
        return jnp.sqrt(jnp.sum(dev**2) / (num_replicates - 1))

    run = jax.jit(
        lambda k: jax.lax.map(per_direction, (jax.random.split(k, num_directions), directions))
    )
    return np.asarray(run(k_est), np.float64)


# --------------------------------------------------------------------------------------------
# (ii) inversion bias against M


def inversion_gap_estimates(
    problem: Problem,
    key,
    num_queries: int,
    direction,
    mu: float,
    num_pairs: int,
    num_replicates: int,
    chunk_pairs: int,
):
    """Per replicate r: D_r, the mean inverted gap over num_pairs / num_replicates pairs at the
    fixed ``direction`` [d]; and the exact gap J(theta + mu v) - J(theta). Returns (D [R], gap).
    Rollouts are batched ``num_replicates x chunk_pairs`` pairs at a time (lax.map over chunks)."""
    import jax
    import jax.numpy as jnp

    per_replicate = num_pairs // num_replicates
    chunk = min(chunk_pairs, per_replicate)
    num_chunks = per_replicate // chunk
    if num_chunks * chunk * num_replicates != num_pairs:
        raise ValueError(
            f"num_pairs ({num_pairs}) must be num_replicates ({num_replicates}) x "
            f"a multiple of chunk_pairs ({chunk_pairs})"
        )
    estimate = _estimator(problem, num_queries, chunk)
    hp = _hparams(problem, mu)
    v = jnp.broadcast_to(jnp.asarray(direction, jnp.float32), (num_replicates, problem.dim))

    def gaps(k):  # K = R copies of v: R independent D's from one call
        return estimate(
            k, problem.theta, v, hp, problem.env_params, problem.oracle_params
        ).per_direction

    run = jax.jit(lambda k: jnp.mean(jax.lax.map(gaps, jax.random.split(k, num_chunks)), 0))
    d_hat = np.asarray(run(key), np.float64)
    plus = _flat_value(problem)(
        (problem.theta_flat + mu * jnp.asarray(direction, jnp.float32))[None]
    )
    return d_hat, float(plus[0]) - problem.value


def exact_inversion_bias(
    problem: Problem, key, direction, mu: float, num_pairs: int, queries
) -> dict:
    """(ii, exact in the votes) The inversion bias of D, mean_n (E[y | u_n] - u_n), for every M in
    ``queries``: the per-pair bias E[y | u] - u with the Binomial votes summed exactly
    (``zoprl.estimators.inversion``), averaged over the return gaps u_n of ``num_pairs``
    sampled pairs (GridWorld return gaps are multiples of 1/8: the distinct gaps and their
    counts are enough). The same pairs serve every M, so the curve's shape in M is exact given
    them. Returns {"num_queries", "exact_bias", "local_slope"} (d log|bias| / d log M)."""
    import jax
    import jax.numpy as jnp

    from zoprl.estimators.inversion import expected_inversion
    from zoprl.oracles import get_link
    from zoprl.rollout import make_paired_rollout

    paired = make_paired_rollout(problem.env, problem.policy, num_pairs)
    plus = problem.theta_flat + mu * jnp.asarray(direction, jnp.float32)
    traj_0, traj_1 = jax.jit(paired)(
        key, problem.theta, problem.unflatten(plus), problem.env_params
    )
    gaps = np.asarray(jnp.sum(traj_1.latent_reward - traj_0.latent_reward, axis=-1), np.float64)
    values, counts = np.unique(np.round(gaps * 8.0) / 8.0, return_counts=True)
    weights = counts / counts.sum()
    link = get_link("logistic")
    bias = np.array(
        [
            np.dot(weights, expected_inversion(link, values, int(m), problem.clip_range) - values)
            for m in queries
        ]
    )
    log_m, log_b = np.log(np.asarray(queries, np.float64)), np.log(np.abs(bias))
    slope = np.gradient(log_b, log_m)
    return {"num_queries": np.asarray(queries), "exact_bias": bias, "local_slope": slope}


# --------------------------------------------------------------------------------------------
# (iii) smoothing bias against mu


def smoothing_bias_vectors(
    problem: Problem, key, mus, num_groups: int, num_directions: int, control_variate: bool = True
):
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
        v = _sphere(k, num_directions, d)  # [n, d]
        linear = d * (v @ grad)  # [n]

        def per_mu(mu):
            diff = value(theta + mu * v) - value(theta - mu * v)
            fd = (d / (2.0 * mu)) * diff
            if control_variate:
                return jnp.mean((fd - linear)[:, None] * v, axis=0)
            return jnp.mean(fd[:, None] * v, axis=0) - grad

        return jax.vmap(per_mu)(mus)  # [m, d]

    run = jax.jit(lambda k: jax.lax.map(per_group, jax.random.split(k, num_groups)))
    return np.asarray(run(key), np.float64)


def smoothed_gradient(
    problem: Problem,
    key,
    mus,
    num_groups: int = 8,
    num_directions: int = 1024,
    control_variate: bool = True,
):
    """grad J_mu(theta) per mu, [len(mus), d], and its standard error per mu (norm of the
    Monte Carlo error): grad J(theta) + the pooled bias_hat of :func:`smoothing_bias_vectors`."""
    vectors = smoothing_bias_vectors(problem, key, mus, num_groups, num_directions, control_variate)
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


def stationarity_runs(
    problem: Problem,
    key,
    iterations,
    num_seeds: int,
    num_pairs: int,
    num_queries: int = 10,
    mu: float = 2.0,
    step_constant: float = 2.0,
):
    """ZPG runs from theta with alpha_T = step_constant / sqrt(T) for each T in ``iterations``,
    vmapped over seeds and step sizes (module doc, (iv)). Returns (avg [S, len(T)]: the mean of
    ||grad J(theta_t)||^2 over t < T, value_gap [S, len(T)]: J* - J(theta_T))."""
    import jax
    import jax.numpy as jnp

    from zoprl.algorithms import make_run, zpg
    from zoprl.oracles import make_oracle

    iterations = np.asarray(iterations, np.int64)
    horizon = int(iterations.max())
    algo = zpg(
        problem.env, problem.policy, make_oracle("logistic", num_queries), num_pairs=num_pairs
    )
    base_init = algo.init

    def init(k, hp, env_params, oracle_params=None):  # start at theta, not at the uniform policy
        return base_init(k, hp, env_params, oracle_params)._replace(params=problem.theta)

    algo = algo._replace(init=init)
    run = make_run(algo, horizon)
    hp = algo.hparams(
        step_size=(step_constant / np.sqrt(iterations)).astype(np.float32),
        mu=mu,
        clip_range=problem.clip_range,
    )
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
