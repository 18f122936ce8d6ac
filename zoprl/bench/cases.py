"""The benchmark cases of ``zoprl bench``: each times zoprl and its reference in the same run.

Every case returns rows (dicts) with the same fields: ``case``, ``impl`` (zoprl or the
reference's name), ``batch`` (the x-axis of the scaling plot: pairs N, or trajectories),
``env_steps``, ``pairs`` and ``queries`` per timed call, ``compile_s`` (ahead-of-time compile,
apart), ``median_s`` / ``min_s`` over ``repeats`` synchronised calls after a warm-up, the
throughputs ``env_steps_per_s``, ``pairs_per_s``, ``queries_per_s``, and on zoprl's rows the
ratio to the reference (``ratio_numpy``, ``ratio_evosax`` or ``ratio_gymnax``): reference time
/ zoprl time for the same work, i.e. zoprl's throughput over the reference's (> 1: zoprl faster),
the median over interleaved rounds (``timing.paired_ratio``); ``ratio_min`` is the same ratio
from the fastest call of each (a cross-check on a CPU shared with other processes).

Cases:
  gridworld_zpg    one ZPG iteration (``jax.jit(algo.step)``) on the default GridWorld (d = 100,
                   H = 10, M = 10 Bradley-Terry votes, K = 1) against the vectorised NumPy ZPG
                   (``zoprl.bench.numpy_reference``); env steps = 2 N H.
  gridworld_zpg_cores  the same iteration on every local device at once: D runs of N pairs, the
                   runs sharded over the D devices as the sweep engine shards them (on a CPU,
                   one device per core: ``zoprl.hosts.use_every_core``), against the same
                   single-threaded NumPy iteration; env steps = 2 N H D, ratio of throughputs.
                   Skipped on one device.
  cartpole_zpg     one ZPG iteration on gymnax CartPole-v1 (MLP 64x64, episode length H) against
                   one evosax OpenAI-ES generation (``Open_ES`` ask / ``GymnaxProblem.eval`` /
                   tell, evosax's own gymnax rollouts) at population P = 2 N, the same MLP sizes
                   and episode length; env steps = 2 N H simulated (CartPole's steps after the
                   episode ended are auto-reset and masked, in both).
  cartpole_rollout zoprl's batched rollout against a direct ``lax.scan`` of gymnax steps written
                   as a user would (same flax MLP and parameters); batch = trajectories.
  sweep            ``jax.vmap`` of ``make_run`` (T ZPG iterations with exact metrics every
                   iteration) over S seeds x a G-point (step_size, mu) grid, one compiled
                   program, against S G T sequential NumPy ZPG iterations at the same N.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from zoprl.bench.numpy_reference import numpy_zpg_iteration
from zoprl.bench.timing import paired_ratio, time_interleaved

GRID_H, GRID_M, GRID_MU = 10, 10, 0.1
HIDDEN = (64, 64)
RATIO_FIELDS = {"numpy": "ratio_numpy", "evosax": "ratio_evosax", "gymnax": "ratio_gymnax"}


class Sizes(NamedTuple):
    """What to run; tuples of batch sizes (an empty tuple skips the case)."""

    gridworld_pairs: tuple = (1024, 4096, 16384)
    cartpole_pairs: tuple = (256, 1024)
    cartpole_horizon: int = 200
    rollout_batches: tuple = (1024, 4096)
    sweep_pairs: tuple = (256,)
    sweep_seeds: int = 4
    sweep_grid: int = 2  # G = sweep_grid ** 2 points (step_size x mu)
    sweep_iterations: int = 10
    repeats: int = 5


QUICK = Sizes()
FULL = Sizes(
    gridworld_pairs=(256, 1024, 4096, 16384, 65536),
    cartpole_pairs=(256, 1024, 4096),
    rollout_batches=(1024, 4096, 16384),
    sweep_pairs=(256, 1024),
    sweep_iterations=20,
    repeats=11,
)
GPU = Sizes(  # one H100 / H200: benchmarks/gpu_check.sh
    gridworld_pairs=(2**14, 2**16, 2**18, 2**20),
    cartpole_pairs=(2**12, 2**14, 2**16),
    rollout_batches=(2**14, 2**16),
    sweep_pairs=(4096,),
    sweep_seeds=8,
    sweep_grid=4,
    sweep_iterations=20,
    repeats=7,
)
TINY = Sizes(  # the machinery only, in seconds (benchmarks/gpu_check.sh --dry-run, the tests)
    gridworld_pairs=(8,),
    cartpole_pairs=(2,),
    cartpole_horizon=5,
    rollout_batches=(4,),
    sweep_pairs=(4,),
    sweep_seeds=2,
    sweep_grid=1,
    sweep_iterations=2,
    repeats=1,
)
PROFILES = {"quick": QUICK, "full": FULL, "gpu": GPU, "tiny": TINY}


def _rows(
    case: str,
    batch: int,
    stats: dict,
    work: dict[str, tuple[int, int, int]],
    reference: str | None,
    extra: dict | None = None,
) -> list[dict[str, Any]]:
    """Rows for one timed group; ``work[impl] = (env_steps, pairs, queries)`` per call."""
    rows = []
    for impl, s in stats.items():
        steps, pairs, queries = work[impl]
        t = s["median_s"]
        row = dict(
            case=case,
            impl=impl,
            batch=batch,
            env_steps=steps,
            pairs=pairs,
            queries=queries,
            compile_s=s["compile_s"],
            median_s=t,
            min_s=s["min_s"],
            repeats=s["repeats"],
            env_steps_per_s=steps / t,
            pairs_per_s=pairs / t if pairs else None,
            queries_per_s=queries / t if queries else None,
        )
        if impl == "zoprl" and reference is not None:
            ref = stats[reference]
            if work[reference][0] == steps:  # same env steps: paired ratio of times
                ratio = paired_ratio(ref, s)
            else:  # different work: ratio of throughputs
                ratio = (steps / t) / (work[reference][0] / ref["median_s"])
            row[RATIO_FIELDS[reference]] = ratio
            # the same ratio from the fastest calls: less sensitive to other processes
            row["ratio_min"] = (steps / s["min_s"]) / (work[reference][0] / ref["min_s"])
        row.update(extra or {})
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------- GridWorld
def gridworld_iteration(n: int, devices=None) -> tuple[Callable, tuple]:
    """(jitted fn, args) of one ZPG iteration on the default GridWorld at N = ``n`` pairs: one
    run, or one run per device of ``devices``, the runs sharded over them."""
    from zoprl.algorithms import zpg
    from zoprl.envs import make
    from zoprl.oracles import make_oracle, oracle_params
    from zoprl.policies import tabular_softmax

    env, env_params = make("GridWorld")
    policy = tabular_softmax(env.num_states, env.num_actions)
    algo = zpg(env, policy, make_oracle("logistic", GRID_M), num_pairs=n)
    hp = algo.hparams(step_size=1e-3, mu=GRID_MU, clip_range=float(GRID_H))
    oracle = oracle_params("noisy")
    if devices is None:
        state = algo.init(jax.random.key(0), hp, env_params)
        return jax.jit(algo.step), (jax.random.key(1), state, hp, env_params, oracle, 0)
    from jax.sharding import NamedSharding, PartitionSpec

    from zoprl.experiment.devices import AXIS, runs_mesh

    runs = NamedSharding(runs_mesh(devices), PartitionSpec(AXIS))
    keys = lambda seed: jax.device_put(jax.random.split(jax.random.key(seed), len(devices)), runs)
    state = jax.jit(jax.vmap(algo.init, (0, None, None)))(keys(0), hp, env_params)
    step = jax.jit(jax.vmap(algo.step, (0, 0, None, None, None, None)))
    return step, (keys(1), state, hp, env_params, oracle, 0)


def _numpy_iteration(n: int) -> Callable:
    """One iteration of the vectorised NumPy ZPG at N = ``n`` pairs (a fixed generator)."""
    rng, theta = np.random.default_rng(0), np.zeros((25, 4))
    return lambda: numpy_zpg_iteration(
        rng, theta, num_pairs=n, num_queries=GRID_M, mu=GRID_MU, step_size=1e-3
    )


def _gridworld_rows(case: str, sizes: Sizes, log: Callable, devices=None) -> list[dict]:
    d = 1 if devices is None else len(devices)
    rows = []
    for n in sizes.gridworld_pairs:
        stats = time_interleaved(
            {"zoprl": gridworld_iteration(n, devices), "numpy": (_numpy_iteration(n), ())},
            repeats=sizes.repeats,
        )
        one = (2 * n * GRID_H, n, n * GRID_M)
        work = {"zoprl": tuple(d * w for w in one), "numpy": one}
        extra = None if devices is None else dict(devices=d)
        rows += _rows(case, n, stats, work, "numpy", extra=extra)
        ms = {k: 1e3 * stats[k]["median_s"] for k in stats}
        runs = "" if devices is None else f" x {d} devices"
        log(f"  {case} N={n}{runs}: zoprl {ms['zoprl']:.3f} ms, numpy {ms['numpy']:.3f} ms")
    return rows


def gridworld_zpg(sizes: Sizes, log: Callable = print) -> list[dict[str, Any]]:
    return _gridworld_rows("gridworld_zpg", sizes, log)


def gridworld_zpg_cores(sizes: Sizes, log: Callable = print) -> list[dict[str, Any]]:
    devices = jax.local_devices()
    if len(devices) == 1:
        log("  gridworld_zpg_cores: one device, nothing beyond gridworld_zpg")
        return []
    return _gridworld_rows("gridworld_zpg_cores", sizes, log, devices)


# ---------------------------------------------------------------------------------- CartPole
def _evosax_generation(population: int, horizon: int):
    """One evosax OpenAI-ES generation on CartPole-v1 with evosax's own GymnaxProblem:
    returns (step fn, args); step(key, es_state, problem_state) -> (es_state, fitness)."""
    from evosax.algorithms.distribution_based.open_es import Open_ES
    from evosax.problems.networks import MLP, categorical_output_fn
    from evosax.problems.rl.gymnax import GymnaxProblem

    net = MLP(layer_sizes=HIDDEN + (2,), output_fn=categorical_output_fn)
    problem = GymnaxProblem("CartPole-v1", net, episode_length=horizon, use_normalize_obs=False)
    key = jax.random.key(0)
    problem_state = problem.init(key)
    solution = problem.sample(key)
    strategy = Open_ES(population, solution)
    es_params = strategy.default_params
    es_state = strategy.init(key, solution, es_params)

    def generation(key, es_state, problem_state):
        k_ask, k_eval, k_tell = jax.random.split(key, 3)
        members, es_state = strategy.ask(k_ask, es_state, es_params)
        fitness, problem_state, _ = problem.eval(k_eval, members, problem_state)
        es_state, _ = strategy.tell(k_tell, members, -fitness, es_state, es_params)
        return es_state, fitness

    return jax.jit(generation), (jax.random.key(1), es_state, problem_state)


def cartpole_iteration(n: int, horizon: int) -> tuple[Callable, tuple]:
    """(jitted fn, args) of one ZPG iteration on gymnax CartPole-v1 with the MLP policy (64x64)
    at N = ``n`` pairs of episodes of ``horizon`` steps."""
    from zoprl.algorithms import zpg
    from zoprl.envs import make
    from zoprl.oracles import make_oracle, oracle_params
    from zoprl.policies import mlp_categorical

    env, env_params = make("CartPole-v1", horizon=horizon)
    policy = mlp_categorical(4, 2, hidden=HIDDEN)
    algo = zpg(env, policy, make_oracle("logistic", GRID_M), num_pairs=n)
    hp = algo.hparams(step_size=1e-3, mu=0.05)
    state = algo.init(jax.random.key(0), hp, env_params)
    args = (jax.random.key(1), state, hp, env_params, oracle_params("noisy"), 0)
    return jax.jit(algo.step), args


def cartpole_zpg(sizes: Sizes, log: Callable = print) -> list[dict[str, Any]]:
    horizon = sizes.cartpole_horizon
    rows = []
    for n in sizes.cartpole_pairs:
        es_step, es_args = _evosax_generation(2 * n, horizon)
        stats = time_interleaved(
            {"zoprl": cartpole_iteration(n, horizon), "evosax": (es_step, es_args)},
            repeats=sizes.repeats,
        )
        steps = 2 * n * horizon
        rows += _rows(
            "cartpole_zpg",
            n,
            stats,
            {"zoprl": (steps, n, n * GRID_M), "evosax": (steps, 0, 0)},
            "evosax",
        )
        ms = {k: stats[k]["median_s"] * 1e3 for k in ("zoprl", "evosax")}
        log(
            f"  cartpole_zpg N={n} (population {2 * n}, H={horizon}): zoprl "
            f"{ms['zoprl']:.1f} ms, evosax {ms['evosax']:.1f} ms"
        )
    return rows


def mlp_sampler(net) -> Callable:
    """select_action(key, params, obs) -> (action, log pi(action | obs)) of a categorical flax
    MLP ``net``: the action rule of the raw gymnax reference scans."""

    def select_action(k, params, obs):
        logits = net.apply(params, obs)
        action = jax.random.categorical(k, logits)
        return action, jax.nn.log_softmax(logits)[action]

    return select_action


def gymnax_scan_rollout(env, horizon: int, num: int, select_action: Callable) -> Callable:
    """A direct gymnax batched rollout written as a user would (the raw reference):
    (key, policy_params, env_params) -> (obs, action, log_prob, reward, done), leaves [num, H].
    ``select_action(key, params, obs) -> (action, log_prob)``."""

    def single(key, policy_params, env_params):
        key, k_reset = jax.random.split(key)
        obs, state = env.reset(k_reset, env_params)

        def step(carry, _):
            obs, state, key = carry
            key, k_act, k_step = jax.random.split(key, 3)
            action, log_prob = select_action(k_act, policy_params, obs)
            next_obs, state, reward, terminated, truncated, _ = env.step(
                k_step, state, action, env_params
            )
            done = jnp.logical_or(terminated, truncated)
            return (next_obs, state, key), (obs, action, log_prob, reward, done)

        _, transitions = jax.lax.scan(step, (obs, state, key), None, length=horizon)
        return transitions

    batched = jax.vmap(single, in_axes=(0, None, None))
    return lambda key, policy_params, env_params: batched(
        jax.random.split(key, num), policy_params, env_params
    )


def cartpole_rollout(sizes: Sizes, log: Callable = print) -> list[dict[str, Any]]:
    import gymnax

    from zoprl.envs import make
    from zoprl.networks import MLP
    from zoprl.policies import mlp_categorical
    from zoprl.rollout import make_batch_rollout

    horizon = sizes.cartpole_horizon
    env, env_params = make("CartPole-v1", horizon=horizon)
    policy = mlp_categorical(4, 2, hidden=HIDDEN)
    params = policy.init(jax.random.key(1))
    raw, raw_params = gymnax.make("CartPole-v1")
    mlp_action = mlp_sampler(MLP(HIDDEN, raw.num_actions))

    rows = []
    for b in sizes.rollout_batches:
        key = jax.random.key(0)
        stats = time_interleaved(
            {
                "zoprl": (jax.jit(make_batch_rollout(env, policy, b)), (key, params, env_params)),
                "gymnax": (
                    jax.jit(gymnax_scan_rollout(raw, horizon, b, mlp_action)),
                    (key, params, raw_params),
                ),
            },
            repeats=sizes.repeats,
        )
        work = (b * horizon, 0, 0)
        rows += _rows("cartpole_rollout", b, stats, {"zoprl": work, "gymnax": work}, "gymnax")
        log(
            f"  cartpole_rollout B={b}: zoprl {stats['zoprl']['median_s'] * 1e3:.1f} ms, "
            f"raw gymnax {stats['gymnax']['median_s'] * 1e3:.1f} ms"
        )
    return rows


# ---------------------------------------------------------------------------------- sweep
def sweep(sizes: Sizes, log: Callable = print) -> list[dict[str, Any]]:
    from zoprl.algorithms import make_run, zpg
    from zoprl.envs import make
    from zoprl.oracles import make_oracle, oracle_params
    from zoprl.policies import tabular_softmax

    env, env_params = make("GridWorld")
    policy = tabular_softmax(env.num_states, env.num_actions)
    oracle = oracle_params("noisy")
    seeds, g, iters = sizes.sweep_seeds, sizes.sweep_grid, sizes.sweep_iterations
    rows = []
    for n in sizes.sweep_pairs:
        algo = zpg(env, policy, make_oracle("logistic", GRID_M), num_pairs=n)
        step_sizes, mus = np.meshgrid(np.geomspace(0.05, 0.2, g), np.geomspace(0.5, 2.0, g))
        hp = algo.hparams(step_size=step_sizes.ravel(), mu=mus.ravel())  # leaves [G]
        run = make_run(algo, num_iterations=iters)
        over_grid = jax.vmap(run, in_axes=(None, 0, None, None))
        over_seeds = jax.vmap(over_grid, in_axes=(0, None, None, None))
        keys = jax.random.split(jax.random.key(0), seeds)
        points = seeds * g * g
        rng = np.random.default_rng(0)
        theta = np.zeros((env.num_states, env.num_actions))

        def numpy_sweep(rng=rng, theta=theta, n=n, points=points):
            for _ in range(points * iters):  # the same number of ZPG iterations, in sequence
                numpy_zpg_iteration(
                    rng, theta, num_pairs=n, num_queries=GRID_M, mu=1.0, step_size=0.1
                )

        stats = time_interleaved(
            {
                "zoprl": (jax.jit(over_seeds), (keys, hp, env_params, oracle)),
                "numpy": (numpy_sweep, ()),
            },
            repeats=max(3, sizes.repeats // 2),
        )
        work = (points * iters * 2 * n * GRID_H, points * iters * n, points * iters * n * GRID_M)
        rows += _rows(
            "sweep",
            n,
            stats,
            {"zoprl": work, "numpy": work},
            "numpy",
            extra=dict(seeds=seeds, grid_points=g * g, iterations=iters),
        )
        log(
            f"  sweep N={n}, {seeds} seeds x {g * g} grid x T={iters}: zoprl "
            f"{stats['zoprl']['median_s']:.3f} s, numpy {stats['numpy']['median_s']:.3f} s"
        )
    return rows


CASES = {
    "gridworld_zpg": gridworld_zpg,
    "gridworld_zpg_cores": gridworld_zpg_cores,
    "cartpole_zpg": cartpole_zpg,
    "cartpole_rollout": cartpole_rollout,
    "sweep": sweep,
}
