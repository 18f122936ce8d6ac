"""The sweep engine against running the same configurations one at a time (issue 6).

Usage:
  python benchmarks/bench_sweep.py            # all 64 configurations one at a time (minutes)
  python benchmarks/bench_sweep.py --quick    # 8 of them one at a time, extrapolated to 64

The 64 configurations: ZPG on the default GridWorld (N = 64 pairs, M = 10 Bradley-Terry votes,
T = 200 iterations, metrics every 10), 8 step sizes x 8 seeds.

  zoprl sweep      ``run_sweep`` end to end: validation, one compilation per program, all 64
                   runs vmapped in one program, chunked with checkpoints, tidy Parquet table.
  one at a time    what a user without zoprl writes: for each configuration a freshly jitted
                   run (a compile each), called, its metrics fetched to numpy.

Both are measured end to end in this process, as wall-clock seconds and as this process's CPU
seconds (less sensitive to other processes sharing the machine); the ratios are
one-at-a-time / sweep.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import jax
import numpy as np

from zoprl.algorithms import make_run, zpg
from zoprl.bench.timing import device_line, print_table, write_json
from zoprl.envs import make
from zoprl.experiment import run_sweep, spec_from_dict
from zoprl.oracles import make_oracle, oracle_params
from zoprl.policies import tabular_softmax

STEP_SIZES = [0.025, 0.05, 0.075, 0.1, 0.125, 0.15, 0.175, 0.2]
SEEDS, ITERATIONS, PAIRS, QUERIES, EVAL_EVERY = 8, 200, 64, 10, 10


def sweep_spec() -> dict:
    return {
        "name": "bench-sweep",
        "seeds": SEEDS,
        "iterations": ITERATIONS,
        "eval_every": EVAL_EVERY,
        "chunk_size": ITERATIONS // 4,
        "oracle": {"link": "logistic", "num_queries": QUERIES, "preset": "noisy"},
        "algorithms": [
            {
                "name": "zpg",
                "static": {"num_pairs": PAIRS},
                "hparams": {"mu": 2.0, "clip_range": 3.0},
                "grid": {"step_size": STEP_SIZES},
            }
        ],
    }


def time_sweep() -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, final mean J) of the whole sweep through the engine."""
    with tempfile.TemporaryDirectory() as folder:
        t0, c0 = time.perf_counter(), time.process_time()
        result = run_sweep(spec_from_dict(sweep_spec()), folder, progress=False)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    table = result.table
    final = table[(table.metric == "value") & (table.iteration == ITERATIONS)].value.mean()
    return seconds, cpu, float(final)


def time_one_at_a_time(count: int) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, final mean J) of the first ``count`` configurations, each its
    own jit."""
    env, env_params = make("GridWorld")
    policy = tabular_softmax(env.num_states, env.num_actions)
    keys = jax.random.split(jax.random.key(0), SEEDS)
    teacher = oracle_params("noisy")
    finals = []
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(count):
        step_size, seed = STEP_SIZES[i // SEEDS], i % SEEDS
        algo = zpg(env, policy, make_oracle("logistic", QUERIES), num_pairs=PAIRS)
        run = jax.jit(make_run(algo, ITERATIONS))  # a fresh function: compiled again
        _, metrics = run(
            keys[seed],
            algo.hparams(step_size=step_size, mu=2.0, clip_range=3.0),
            env_params,
            teacher,
        )
        metrics = jax.tree.map(np.asarray, metrics)
        finals.append(float(metrics["value"][-1]))
    return time.perf_counter() - t0, time.process_time() - c0, float(np.mean(finals))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="time 8 configurations one at a time and extrapolate to 64",
    )
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args(argv)
    total = len(STEP_SIZES) * SEEDS
    count = 8 if args.quick else total
    sweep_s, sweep_cpu, sweep_j = time_sweep()
    single_s, single_cpu, single_j = time_one_at_a_time(count)
    scale = total / count
    rows = [
        {
            "method": "zoprl sweep (1 program, vmapped)",
            "configs": total,
            "seconds": sweep_s,
            "cpu_seconds": sweep_cpu,
            "seconds_per_config": sweep_s / total,
        },
        {
            "method": "one at a time, a compile each"
            + (" (extrapolated)" if count < total else ""),
            "configs": count,
            "seconds": single_s * scale,
            "cpu_seconds": single_cpu * scale,
            "seconds_per_config": single_s / count,
        },
    ]
    print(device_line())
    print_table(rows, ["method", "configs", "seconds", "cpu_seconds", "seconds_per_config"])
    print(
        f"speed-up: {single_s * scale / sweep_s:.1f}x wall, {single_cpu * scale / sweep_cpu:.1f}x"
        " CPU time, end to end (target >= 20x)"
    )
    print(
        f"sanity: final J averaged over the sweep {sweep_j:.3f}; over the single runs timed "
        f"{single_j:.3f}"
    )
    write_json(
        os.path.join(args.out, "bench_sweep.json"),
        {
            "device": device_line(),
            "rows": rows,
            "speedup_wall": single_s * scale / sweep_s,
            "speedup_cpu": single_cpu * scale / sweep_cpu,
            "quick": args.quick,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
