"""Fixed-length rollouts as one ``lax.scan``; batched and paired rollouts.

A rollout runs exactly H steps of any gymnax-API environment under a policy and returns a
``Trajectory`` with leaves [H, ...]. Step h is valid iff no earlier step terminated or was
truncated (gymnax auto-resets after a terminal step; the steps after it are masked out), so the
return sum_h latent_reward equals the episode return. zoprl's finite MDPs never end before H.

Keys (single rollouts, and batches on gymnax environments): the rollout key is split into a reset
key, a policy key and an environment key; step h steps the environment with fold_in(env key, h),
and a categorical policy samples by inverse CDF from the uniform of counter (0, h) of the policy
key (``counter_uniforms``: one threefry block, no key derivation); other policies get
fold_in(policy key, h). No [H] array of keys is materialised.

Bulk-uniform path (batches on finite environments with categorical policies): a batch of ``num``
rollouts steps the whole batch at once, every step drawing its uniforms from a counter-based
stream: rollout n at step h gets the two words of threefry2x32(key, (n, h)) (one uniform for the
action, one for the transition; counter h = H draws the start states). The hash is written out
round by round, so XLA computes it inside the step that consumes it: no per-step or per-rollout
key derivation, no uniform array in memory (JAX's CPU lowering of threefry runs its rounds as a
rolled loop over whole arrays, 1.5-2x slower). Actions come by inverse CDF from the policy's
table of action probabilities (computed once per batch for every (h, s) when S <= num; per
rollout otherwise), next states from the environment's ``step_from_uniform``. Same law as the key
path (tests check both against the exact evaluator); different random streams. Per-step key
derivation dominated the key path's cost on CPU (benchmarks/RESULTS.md).

Paired rollouts (tau_0 ~ pi_theta0, tau_1 ~ pi_theta1, N pairs) either draw independent keys for
the two members or, with common random numbers, the same key, so that both members see the same
environment noise and the same sampling uniforms.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from zoprl.policies.base import Policy, check_compatible, sample_from_uniform
from zoprl.trajectory import Trajectory
from zoprl.validation import check_int


def make_rollout(env, policy: Policy, horizon: int | None = None) -> Callable:
    """rollout(key, params, env_params, reset_key=None) -> Trajectory with leaves [H, ...].

    ``reset_key``, when given, draws the start state instead of a key derived from ``key``:
    rollouts sharing it start from the same state and differ afterwards."""
    check_compatible(policy, env)
    horizon = check_int("horizon", env.horizon if horizon is None else horizon)
    finite = getattr(env, "is_finite", False)

    def env_step(key, state, action, env_params):
        if finite:  # never terminates within H: skip gymnax's auto-reset work
            obs, state, reward, done, _ = env.step_env(key, state, action, env_params)
            return obs, state, reward, done
        obs, state, reward, terminated, truncated, _ = env.step(key, state, action, env_params)
        return obs, state, reward, jnp.logical_or(terminated, truncated)

    def rollout(key, params, env_params, reset_key=None) -> Trajectory:
        k_reset, k_policy_base, k_env_base = jax.random.split(key, 3)
        obs, state = env.reset(k_reset if reset_key is None else reset_key, env_params)

        def step(carry, h):
            obs, state, alive = carry
            k_env = jax.random.fold_in(k_env_base, h)
            if policy.logits is not None:  # one counter-based uniform, the inverse CDF
                u = counter_uniforms(k_policy_base, h, jnp.uint32(0))[0]
                action, log_prob = sample_from_uniform(policy.logits(params, obs, h), u)
            else:
                action, log_prob = policy.sample(
                    jax.random.fold_in(k_policy_base, h), params, obs, h
                )
            next_obs, state, reward, done = env_step(k_env, state, action, env_params)
            out = Trajectory(obs, action, log_prob, alive, reward * alive)
            return (next_obs, state, alive * (1.0 - done.astype(alive.dtype))), out

        carry = (obs, state, jnp.float32(1.0))
        _, traj = jax.lax.scan(step, carry, jnp.arange(horizon))
        return traj

    return rollout


_UNROLL_HORIZON = 16  # bulk rollouts up to this horizon are unrolled: XLA fuses across steps


def supports_bulk_uniforms(env, policy: Policy) -> bool:
    """Whether batches of (env, policy) take the bulk-uniform path (module doc)."""
    return (
        getattr(env, "is_finite", False)
        and policy.logits is not None
        and hasattr(env, "step_from_uniform")
        and hasattr(env, "reset_from_uniform")
    )


_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def threefry2x32(k0, k1, x0, x1):
    """Threefry-2x32 with 20 rounds (Salmon et al. 2011), the hash behind ``jax.random``'s
    default keys, written out round by round so that XLA fuses it into its consumers (JAX's own
    CPU lowering runs the rounds as a rolled loop over whole arrays). uint32 in, (y0, y1) out;
    key words k0, k1 and counter words x0, x1 broadcast. Equals JAX's threefry bit for bit
    (tests compare it with ``jax.random.bits``)."""
    u32 = jnp.uint32
    k0, k1, x0, x1 = (jnp.asarray(v, u32) for v in (k0, k1, x0, x1))
    ks = (k0, k1, k0 ^ k1 ^ u32(0x1BD11BDA))
    x0, x1 = x0 + ks[0], x1 + ks[1]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x0 = x0 + x1
            x1 = (x1 << u32(r)) | (x1 >> u32(32 - r))
            x1 = x0 ^ x1
        x0 = x0 + ks[(i + 1) % 3]
        x1 = x1 + ks[(i + 2) % 3] + u32(i + 1)
    return x0, x1


def bits_to_uniform(bits) -> jax.Array:
    """uint32 -> float32 uniform on [0, 1) from the top 23 bits (as ``jax.random.uniform``)."""
    mantissa = (bits >> jnp.uint32(9)) | jnp.uint32(0x3F800000)
    return jax.lax.bitcast_convert_type(mantissa, jnp.float32) - 1.0


def _threefry_key_words(key):
    """The two uint32 words of a threefry key (typed or raw), or None for other PRNG impls."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if "threefry" not in str(jax.random.key_impl(key)):
            return None
        key = jax.random.key_data(key)
    if key.shape != (2,) or key.dtype != jnp.uint32:
        return None
    return key[0], key[1]


def counter_uniforms(key, step, index) -> tuple[jax.Array, jax.Array]:
    """Two independent uniforms on [0, 1) for each (step, index): the two output words of
    threefry2x32(key, (index, step)), a counter-based stream in which every counter of a key is
    used once. Elementwise, so XLA computes them inside the rollout step that consumes them
    (nothing materialised). Keys of another PRNG implementation fall back to
    ``jax.random.uniform(fold_in(key, step), ...)``."""
    words = _threefry_key_words(key)
    index = jnp.asarray(index, jnp.uint32)
    if words is None:
        u = jax.random.uniform(jax.random.fold_in(key, step), (2,) + index.shape)
        return u[0], u[1]
    y0, y1 = threefry2x32(words[0], words[1], index, jnp.asarray(step, jnp.uint32))
    return bits_to_uniform(y0), bits_to_uniform(y1)


def _make_bulk_batch_rollout(
    env, policy: Policy, num: int, horizon: int, use_table: bool | None = None
) -> Callable:
    """rollout(key, params, env_params, start_key=None) -> Trajectory, leaves [num, H]: the
    bulk-uniform path of the module doc. ``start_key`` (when given) draws the start states.
    ``use_table`` (default: S <= num) reads actions from per-(h, s) tables instead of evaluating
    the policy per rollout; both give the same trajectories for the same key."""
    check_compatible(policy, env)
    if use_table is None:  # one logits table per batch beats per-rollout logits when S <= num
        use_table = env.num_states <= num

    def rollout(key, params, env_params, start_key=None) -> Trajectory:
        index = jnp.arange(num, dtype=jnp.uint32)
        # counters (n, h): h < H for the steps, h = H for the start states
        u_start = counter_uniforms(key if start_key is None else start_key, horizon, index)[0]
        s0 = env.reset_from_uniform(u_start, env_params)
        if use_table:  # log pi_h(a | s) and its cumulative sums, once per batch: [H, S, A]
            observations = env.observations(env_params)
            logits = jax.vmap(
                lambda h: jax.vmap(lambda o: policy.logits(params, o, h))(observations)
            )(jnp.arange(horizon))
            log_probs = jax.nn.log_softmax(logits, axis=-1)
            cdf = jnp.cumsum(jnp.exp(log_probs), axis=-1)[..., :-1]

        def step(s, h):
            u_policy, u_env = counter_uniforms(key, h, index)
            if use_table:  # the inverse CDF of ``sample_from_uniform``, read from the tables
                action = jnp.sum(cdf[h][s] <= u_policy[:, None], axis=-1).astype(jnp.int32)
                log_prob = log_probs[h][s, action]
            else:
                step_logits = jax.vmap(lambda o: policy.logits(params, o, h))(s)  # [num, A]
                action, log_prob = sample_from_uniform(step_logits, u_policy)
            s_next, reward = env.step_from_uniform(u_env, s, action, env_params)
            return s_next, (s, action, log_prob, reward)

        _, (obs, action, log_prob, reward) = jax.lax.scan(
            step, s0, jnp.arange(horizon), unroll=horizon <= _UNROLL_HORIZON
        )
        batch_first = lambda x: jnp.swapaxes(x, 0, 1)
        valid = jnp.ones((num, horizon), jnp.float32)
        return Trajectory(
            batch_first(obs), batch_first(action), batch_first(log_prob), valid, batch_first(reward)
        )

    return rollout


def make_batch_rollout(env, policy: Policy, num: int, horizon: int | None = None) -> Callable:
    """rollout(key, params, env_params) -> Trajectory with leaves [num, H, ...] (i.i.d.)."""
    num = check_int("number of trajectories", num)
    if supports_bulk_uniforms(env, policy):
        horizon = check_int("horizon", env.horizon if horizon is None else horizon)
        bulk = _make_bulk_batch_rollout(env, policy, num, horizon)
        return lambda key, params, env_params: bulk(key, params, env_params)
    single = jax.vmap(make_rollout(env, policy, horizon), in_axes=(0, None, None))
    return lambda key, params, env_params: single(jax.random.split(key, num), params, env_params)


def make_paired_rollout(
    env,
    policy: Policy,
    num_pairs: int,
    horizon: int | None = None,
    common_random_numbers: bool = False,
    shared_start: bool = False,
) -> Callable:
    """paired(key, params_0, params_1, env_params) -> (traj_0, traj_1), leaves [N, H, ...].

    tau_{n,0} ~ pi_{params_0}, tau_{n,1} ~ pi_{params_1}. Couplings of the two members of pair n:
    ``common_random_numbers`` shares their whole key (the same start, environment noise and
    sampling uniforms); ``shared_start`` shares only the start state (one "prompt", two
    independent continuations: the setting of DPO on contextual bandits). Default: independent.
    Member 0 sees the same randomness whatever the coupling.
    """
    num_pairs = check_int("num_pairs", num_pairs)
    if supports_bulk_uniforms(env, policy):
        horizon = check_int("horizon", env.horizon if horizon is None else horizon)
        batch = _make_bulk_batch_rollout(env, policy, num_pairs, horizon)

        def paired_bulk(key, params_0, params_1, env_params):
            k_0, k_1, k_start = jax.random.split(key, 3)
            if common_random_numbers:
                k_1 = k_0
            start = k_start if shared_start and not common_random_numbers else None
            return (
                batch(k_0, params_0, env_params, start),
                batch(k_1, params_1, env_params, start),
            )

        return paired_bulk

    rollout = make_rollout(env, policy, horizon)
    single = jax.vmap(rollout, in_axes=(0, None, None))
    from_starts = jax.vmap(rollout, in_axes=(0, None, None, 0))

    def paired(key, params_0, params_1, env_params):
        if shared_start and not common_random_numbers:
            k_pairs, k_starts = jax.random.split(key)
            keys = jax.random.split(k_pairs, (num_pairs, 2))
            starts = jax.random.split(k_starts, num_pairs)
            return (
                from_starts(keys[:, 0], params_0, env_params, starts),
                from_starts(keys[:, 1], params_1, env_params, starts),
            )
        keys = jax.random.split(key, (num_pairs, 2))
        keys_1 = keys[:, 0] if common_random_numbers else keys[:, 1]
        return single(keys[:, 0], params_0, env_params), single(keys_1, params_1, env_params)

    return paired


def make_monte_carlo_value(env, policy: Policy, num: int, horizon: int | None = None) -> Callable:
    """value(key, params, env_params) -> (mean return, standard error) over ``num`` rollouts."""
    batch = make_batch_rollout(env, policy, num, horizon)

    def value(key, params, env_params):
        returns = jnp.sum(batch(key, params, env_params).latent_reward, axis=-1)
        return jnp.mean(returns), jnp.std(returns, ddof=1) / jnp.sqrt(num)

    return value
