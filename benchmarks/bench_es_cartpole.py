"""zoprl's OpenAI-ES ceiling against evosax's own pipeline on CartPole-v1, at the settings of
evosax's CartPole example (issue 13, item 6).

Usage:
  python benchmarks/bench_es_cartpole.py [--seeds 10] [--quick]
      [--out benchmarks/results/es_cartpole.json]

The settings are those of the CartPole section of evosax's RL example notebook
(``examples/02_rl.ipynb``, which evosax's README lists as the OpenAI-ES example; the 0.3.2 wheel
ships no examples): a tanh MLP with hidden layers (64, 64) and a categorical output (4610
weights), episodes of 200 steps, the fitness of a member the mean return of 16 rollouts sharing
their keys across the population (evosax's ``GymnaxProblem``; zoprl's
``common_random_numbers=True``), population 128, Adam with learning rate 0.01, 64 generations;
the notebook runs SNES, so the OpenAI-ES specifics are ``Open_ES``'s defaults: antithetic
sampling, centred-rank fitness shaping, a constant search std of 1.0.

Four pipelines, seeds vmapped in one program each:
  - zoprl: ``evolution_strategies(population_size=128, rollouts_per_member=16,
    common_random_numbers=True)`` with ``hparams(learning_rate=0.01, sigma=1.0)``, H = 200, on
    zoprl's ``mlp_categorical`` (flax's default initialisation, zero output layer: the first
    policy is uniform);
  - zoprl on evosax's network: the same, the policy evosax's ``MLP`` with its LeCun-uniform
    initialisation of every layer, so that only the ES pipelines differ;
  - evosax, like for like: ``Open_ES`` + ``GymnaxProblem`` with ``use_normalize_obs=False``
    (zoprl does not normalise observations);
  - evosax, the example as written: ``use_normalize_obs=True`` (running observation statistics).
``--sigma`` replaces the search std of every pipeline (e.g. 0.1, zoprl's default for gymnax
environments). Recorded per generation: the
population's mean fitness (with sigma = 1 the members are far worse than their mean),
and the mean parameters' return over 64 fresh episodes (through each pipeline's own rollout:
evosax's applies its observation normalisation), the curve that the summary reads.
Maximum return: 200.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from evosax.algorithms import Open_ES
from evosax.problems import GymnaxProblem
from evosax.problems.networks import MLP, categorical_output_fn, identity_output_fn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from learning_curves import describe, first_reach, reach_summary  # noqa: E402

from zoprl.algorithms import evolution_strategies  # noqa: E402
from zoprl.bench.timing import device_line  # noqa: E402
from zoprl.envs import make  # noqa: E402
from zoprl.policies import categorical_policy, mlp_categorical  # noqa: E402
from zoprl.rollout import make_monte_carlo_value  # noqa: E402

POPULATION, ROLLOUTS, HORIZON, LEARNING_RATE = 128, 16, 200, 0.01
EVAL_EPISODES = 64
THRESHOLD = 195.0  # "solved" for 200-step CartPole


def evosax_network_policy():
    """evosax's MLP (64, 64) with its initialisation, as a zoprl categorical policy."""
    net = MLP(layer_sizes=(64, 64, 2), output_fn=identity_output_fn)
    init = lambda key: net.init(key, jnp.zeros((4,)), key)
    return categorical_policy(init, lambda p, obs, h: net.apply(p, obs), 2, name="evosax_mlp")


def zoprl_train(generations: int, sigma: float, policy):
    """train(key) -> (population mean fitness [G], the mean parameters' return [G])."""
    env, env_params = make("CartPole-v1", horizon=HORIZON)
    algo = evolution_strategies(
        env,
        policy,
        population_size=POPULATION,
        rollouts_per_member=ROLLOUTS,
        common_random_numbers=True,
    )
    hp = algo.hparams(learning_rate=LEARNING_RATE, sigma=sigma)
    evaluate = make_monte_carlo_value(env, policy, EVAL_EPISODES)

    def train(key):
        k_init, k_steps = jax.random.split(key)
        state = algo.init(k_init, hp, env_params)

        def generation(state, k):
            k_step, k_eval = jax.random.split(k)
            state, info = algo.step(k_step, state, hp, env_params, None, 0)
            return state, (info.mean_return, evaluate(k_eval, state.params, env_params)[0])

        _, curves = jax.lax.scan(generation, state, jax.random.split(k_steps, generations))
        return curves

    return train


def evosax_train(generations: int, sigma: float, normalize: bool):
    """The same for evosax's Open_ES on its own GymnaxProblem."""
    net = MLP(layer_sizes=(64, 64, 2), output_fn=categorical_output_fn)
    kwargs = dict(env_name="CartPole-v1", policy=net, episode_length=HORIZON)
    problem = GymnaxProblem(**kwargs, num_rollouts=ROLLOUTS, use_normalize_obs=normalize)
    evaluation = GymnaxProblem(**kwargs, num_rollouts=EVAL_EPISODES, use_normalize_obs=normalize)
    solution = problem.sample(jax.random.key(0))
    std = optax.constant_schedule(sigma)  # Open_ES's default: 1.0
    es = Open_ES(POPULATION, solution, optimizer=optax.adam(LEARNING_RATE), std_schedule=std)
    params = es.default_params

    def train(key):
        k_problem, k_sample, k_init, k_steps = jax.random.split(key, 4)
        problem_state = problem.init(k_problem)
        state = es.init(k_init, problem.sample(k_sample), params)

        def generation(carry, k):
            state, problem_state = carry
            k_ask, k_fit, k_tell, k_eval = jax.random.split(k, 4)
            population, state = es.ask(k_ask, state, params)
            fitness, problem_state, _ = problem.eval(k_fit, population, problem_state)
            state, _ = es.tell(k_tell, population, -fitness, state, params)
            mean = jax.tree.map(lambda x: x[None], es.get_mean(state))  # a population of one
            mean_return = evaluation.eval(k_eval, mean, problem_state)[0][0]
            return (state, problem_state), (jnp.mean(fitness), mean_return)

        _, curves = jax.lax.scan(
            generation, (state, problem_state), jax.random.split(k_steps, generations)
        )
        return curves

    return train


def run(train, keys) -> dict:
    """Compile and run ``vmap(train)`` over the seed keys; times apart."""
    fn = jax.jit(jax.vmap(train))
    start = time.perf_counter()
    compiled = fn.lower(keys).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    fitness, mean_return = jax.tree.map(np.asarray, jax.block_until_ready(compiled(keys)))
    run_s = time.perf_counter() - start
    reached = first_reach(np.arange(1, fitness.shape[1] + 1), mean_return, THRESHOLD)
    return dict(
        compile_s=round(compile_s, 1),
        run_s=round(run_s, 1),
        final_mean_params=describe(mean_return[:, -1]),
        final_mean_params_per_seed=mean_return[:, -1].tolist(),
        at_generation={
            g: describe(mean_return[:, g - 1]) for g in (8, 16, 32, 48, 64) if g <= fitness.shape[1]
        },
        last_generation_fitness=describe(fitness[:, -1]),
        generations_to_195=reached,
        generations_to_195_summary=reach_summary(reached, fitness.shape[1]),
        fitness=fitness.tolist(),
        mean_params_return=mean_return.tolist(),
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--generations", type=int, default=64)
    parser.add_argument("--sigma", type=float, default=1.0)
    parser.add_argument("--quick", action="store_true", help="2 seeds, 8 generations")
    parser.add_argument("--out", default="benchmarks/results/es_cartpole.json")
    args = parser.parse_args(argv)
    seeds, generations = (2, 8) if args.quick else (args.seeds, args.generations)
    keys = jax.random.split(jax.random.key(0), seeds)
    zoprl_policy = mlp_categorical(4, 2, hidden=(64, 64))
    pipelines = {
        "zoprl": zoprl_train(generations, args.sigma, zoprl_policy),
        "zoprl (evosax's network)": zoprl_train(generations, args.sigma, evosax_network_policy()),
        "evosax (no obs. normalisation)": evosax_train(generations, args.sigma, False),
        "evosax (example: obs. normalisation)": evosax_train(generations, args.sigma, True),
    }
    results = {}
    for name, train in pipelines.items():
        results[name] = run(train, keys)
        r = results[name]
        print(
            f"{name}: final mean-parameter return {r['final_mean_params']}, last-generation "
            f"mean fitness {r['last_generation_fitness']}, generations to {THRESHOLD:g}: "
            f"{r['generations_to_195_summary']} (compile {r['compile_s']} s, run {r['run_s']} s)"
        )
    out = dict(
        date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        device=device_line(),
        seeds=seeds,
        generations=generations,
        settings=dict(
            population=POPULATION,
            rollouts=ROLLOUTS,
            horizon=HORIZON,
            learning_rate=LEARNING_RATE,
            sigma=args.sigma,
            eval_episodes=EVAL_EPISODES,
        ),
        results=results,
    )
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    print(f"{out['date']}; {out['device']}")


if __name__ == "__main__":
    main()
