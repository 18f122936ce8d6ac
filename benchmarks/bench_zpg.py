"""Throughput of one ZPG iteration on the default GridWorld: zoprl (JAX) against the vectorised
NumPy reference (benchmarks/numpy_reference.py), measured in the same run.

Usage:
  python benchmarks/bench_zpg.py            # N in 64 ... 65536
  python benchmarks/bench_zpg.py --quick    # N in 64, 1024, 4096, 16384

One iteration: a direction on the unit sphere of R^100, N pairs of H = 10 rollouts, M = 10
Bradley-Terry votes per pair (one Binomial draw each), per-pair logit inversion, the update.
Env steps = 2 N H per iteration. zoprl's iteration is ``algo.step`` jitted (compile time apart);
both are timed in interleaved rounds and the ratio is the median of per-round ratios.
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

from zoprl.algorithms import zpg
from zoprl.bench.numpy_reference import numpy_zpg_iteration
from zoprl.bench.timing import device_line, paired_ratio, print_table, time_interleaved, write_json
from zoprl.envs import make
from zoprl.oracles import make_oracle, oracle_params
from zoprl.policies import tabular_softmax

H, M = 10, 10


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default="benchmarks/results/zpg.json")
    args = parser.parse_args(argv)
    sizes = (64, 1024, 4096, 16384) if args.quick else (64, 256, 1024, 4096, 16384, 65536)
    repeats = 5 if args.quick else 11

    env, env_params = make("GridWorld")
    policy = tabular_softmax(env.num_states, env.num_actions)
    oracle = oracle_params("noisy")
    rows = []
    for n in sizes:
        algo = zpg(env, policy, make_oracle("logistic", M), num_pairs=n)
        hp = algo.hparams(step_size=1e-3, mu=0.1, clip_range=float(H))
        state = algo.init(jax.random.key(0), hp, env_params)
        step = jax.jit(algo.step)
        rng = np.random.default_rng(0)
        theta = np.zeros((25, 4))
        numpy_step = lambda rng=rng, theta=theta, n=n: numpy_zpg_iteration(
            rng, theta, num_pairs=n, num_queries=M, mu=0.1, step_size=1e-3
        )
        stats = time_interleaved(
            {
                "zoprl": (step, (jax.random.key(1), state, hp, env_params, oracle, 0)),
                "numpy": (numpy_step, ()),
            },
            repeats=repeats,
        )
        for name, s in stats.items():
            rows.append(
                dict(
                    N=n,
                    impl=name,
                    compile_s=s["compile_s"] if name == "zoprl" else None,
                    median_ms=1e3 * s["median_s"],
                    pairs_per_s=n / s["median_s"],
                    env_steps_per_s=2 * n * H / s["median_s"],
                    speedup=paired_ratio(stats["numpy"], stats["zoprl"])
                    if name == "zoprl"
                    else None,
                )
            )
    print(device_line())
    print_table(
        rows,
        [
            "N",
            "impl",
            "compile_s",
            "median_ms",
            "pairs_per_s",
            "env_steps_per_s",
            ("speedup", "zoprl speed-up vs numpy"),
        ],
    )
    write_json(args.out, dict(device=device_line(), rows=rows))


if __name__ == "__main__":
    main()
