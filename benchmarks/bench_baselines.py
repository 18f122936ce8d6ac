"""Iterations per second of the baselines next to ZPG on the default GridWorld, at the same
number of trajectories per iteration (512), measured in one run.

Usage:
  python benchmarks/bench_baselines.py [--quick] [--out benchmarks/results/baselines.json]

Per iteration: ZPG samples N = 256 pairs (512 trajectories, M = 10 votes each); online DPO the
same; online RLHF-PPO runs PPO on 512 rollouts under its learned tabular reward (4 epochs x 4
minibatches) and every 10 iterations collects 64 fresh pairs and refits the reward model; the PPO
ceiling runs PPO on 512 rollouts under the true reward. Each ``algo.step`` is jitted once
(compile time apart) and the steps are timed in interleaved rounds (median).
"""

from __future__ import annotations

import argparse
import os
import sys

import jax

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import device_line, print_table, time_interleaved, write_json  # noqa: E402

from zoprl.algorithms import dpo, ppo, rlhf, zpg  # noqa: E402
from zoprl.envs import make  # noqa: E402
from zoprl.oracles import make_oracle, oracle_params  # noqa: E402
from zoprl.policies import tabular_softmax  # noqa: E402

TRAJECTORIES = 512


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default="benchmarks/results/baselines.json")
    args = parser.parse_args(argv)
    env, env_params = make("GridWorld")
    policy = tabular_softmax(env.num_states, env.num_actions)
    oracle = make_oracle("logistic", 10)
    oracle_p = oracle_params("noisy")
    algos = {
        "zpg": zpg(env, policy, oracle, num_pairs=TRAJECTORIES // 2),
        "dpo_online": dpo(env, policy, oracle, num_pairs=TRAJECTORIES // 2),
        "rlhf_ppo_online": rlhf(
            env,
            policy,
            oracle,
            num_pairs=64,
            num_envs=TRAJECTORIES,
            online=True,
            refit_every=10,
            fit_steps=20,
        ),
        "ppo_true_reward (ceiling)": ppo(env, policy, num_envs=TRAJECTORIES),
    }
    calls = {}
    for name, algo in algos.items():
        hp = algo.hparams()
        state = algo.init(jax.random.key(0), hp, env_params, oracle_p)
        calls[name] = (jax.jit(algo.step), (jax.random.key(1), state, hp, env_params, oracle_p, 0))
    stats = time_interleaved(calls, repeats=5 if args.quick else 21)
    reference = stats["zpg"]["median_s"]
    rows = [
        dict(
            algorithm=name,
            compile_s=s["compile_s"],
            median_ms=1e3 * s["median_s"],
            iterations_per_s=1.0 / s["median_s"],
            trajectories_per_s=TRAJECTORIES / s["median_s"],
            relative_to_zpg=reference / s["median_s"],
        )
        for name, s in stats.items()
    ]
    print(device_line())
    print(f"default GridWorld, {TRAJECTORIES} trajectories per iteration")
    print_table(
        rows,
        [
            "algorithm",
            "compile_s",
            "median_ms",
            "iterations_per_s",
            "trajectories_per_s",
            ("relative_to_zpg", "speed vs ZPG"),
        ],
    )
    write_json(
        args.out, dict(device=device_line(), trajectories_per_iteration=TRAJECTORIES, rows=rows)
    )


if __name__ == "__main__":
    main()
