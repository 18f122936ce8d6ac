"""Rollout throughput: zoprl's batched rollouts against a direct gymnax scan.

Usage:
  python benchmarks/bench_rollouts.py            # batch 1024, 4096, 16384, 65536; 7 rounds
  python benchmarks/bench_rollouts.py --quick    # batch 1024, 16384; 3 rounds
  python benchmarks/bench_rollouts.py --out path/to/rollouts.json

Cases, each jitted once per batch size B (one ``lax.scan`` over the horizon, vmapped over B):

  gridworld/zoprl        zoprl GridWorld (default 5x5, H = 10), uniform tabular softmax,
                         ``make_batch_rollout``
  cartpole/zoprl         zoprl CartPole-v1 (H = 200), mlp_categorical(4, 2, hidden=(64, 64)),
                         ``make_batch_rollout``
  cartpole/gymnax-mlp    reference: gymnax.make + env.reset + lax.scan of env.step over 200 steps,
                         vmapped over B, written as a user would, with the SAME MLP (same flax
                         module and parameters) sampling the actions; it stacks the same
                         per-step outputs (obs, action, log-prob, reward, done)
  cartpole/gymnax-random the same scan with uniformly random actions (action_space.sample), for
                         context: the cost of the environment alone

Env steps are counted as B x H (every simulated step; CartPole episodes that end before H are
auto-reset by gymnax and those steps are masked out by zoprl, but they are simulated all the
same; the JSON records zoprl's valid fraction). The cases of one batch size are timed in
interleaved rounds (other processes may share the CPU); the ratio column is the median over rounds
of zoprl CartPole wall time / gymnax-mlp wall time (target <= 1.10). "cpu s" is the process CPU
time per call (all threads) and "cpu ratio" the same paired ratio of CPU times, a cross-check that
is less sensitive to competing processes.
"""

from __future__ import annotations

import argparse
import os

import gymnax
import jax
import jax.numpy as jnp

from zoprl.bench.cases import gymnax_scan_rollout, mlp_sampler
from zoprl.bench.timing import (
    device_description,
    device_line,
    paired_ratio,
    print_table,
    time_interleaved,
    write_json,
)
from zoprl.envs import make
from zoprl.networks import MLP
from zoprl.policies import mlp_categorical, tabular_softmax
from zoprl.rollout import make_batch_rollout

FULL_BATCHES = (1024, 4096, 16384, 65536)
QUICK_BATCHES = (1024, 16384)
CARTPOLE_HORIZON = 200
HIDDEN = (64, 64)
TARGET_RATIO = 1.10


def build_cases(batch: int):
    """[(case, horizon, jitted fn, args)] for one batch size."""
    key = jax.random.key(0)
    cases = []

    # (a) zoprl GridWorld, uniform tabular softmax (zeros).
    gw_env, gw_params = make("GridWorld")
    gw_policy = tabular_softmax(gw_env.num_states, gw_env.num_actions)
    gw_theta = gw_policy.init(key)
    cases.append(
        (
            "gridworld/zoprl",
            gw_env.horizon,
            jax.jit(make_batch_rollout(gw_env, gw_policy, batch)),
            (key, gw_theta, gw_params),
        )
    )

    # (b) zoprl CartPole-v1, MLP policy.
    cp_env, cp_params = make("CartPole-v1", horizon=CARTPOLE_HORIZON)
    mlp_policy = mlp_categorical(4, 2, hidden=HIDDEN)
    mlp_params = mlp_policy.init(jax.random.key(1))
    cases.append(
        (
            "cartpole/zoprl",
            CARTPOLE_HORIZON,
            jax.jit(make_batch_rollout(cp_env, mlp_policy, batch)),
            (key, mlp_params, cp_params),
        )
    )

    # (c) direct gymnax scans: the same MLP (same module, same parameters), then random actions.
    env, env_params = gymnax.make("CartPole-v1")
    mlp_action = mlp_sampler(MLP(HIDDEN, env.num_actions))

    log_uniform = -jnp.log(float(env.num_actions))

    def random_action(k, params, obs):
        return env.action_space(env_params).sample(k), log_uniform

    cases.append(
        (
            "cartpole/gymnax-mlp",
            CARTPOLE_HORIZON,
            jax.jit(gymnax_scan_rollout(env, CARTPOLE_HORIZON, batch, mlp_action)),
            (key, mlp_params, env_params),
        )
    )
    cases.append(
        (
            "cartpole/gymnax-random",
            CARTPOLE_HORIZON,
            jax.jit(gymnax_scan_rollout(env, CARTPOLE_HORIZON, batch, random_action)),
            (key, None, env_params),
        )
    )
    return cases


def run(batches, repeats: int, cases_filter=None):
    rows = []
    for batch in batches:
        cases = [
            c
            for c in build_cases(batch)
            if not cases_filter or any(f in c[0] for f in cases_filter)
        ]
        # Interleaved rounds: load from other processes hits every case alike.
        stats = time_interleaved({case: (fn, args) for case, _, fn, args in cases}, repeats=repeats)
        for case, horizon, fn, args in cases:
            t = stats[case]
            steps = batch * horizon
            row = dict(
                batch=batch,
                case=case,
                horizon=horizon,
                env_steps=steps,
                compile_s=t["compile_s"],
                median_s=t["median_s"],
                min_s=t["min_s"],
                cpu_median_s=t["cpu_median_s"],
                steps_per_s=steps / t["median_s"],
                ratio=None,
                times_s=t["times_s"],
                cpu_s=t["cpu_s"],
            )
            if case.endswith("/zoprl"):  # share of the B x H steps taken before the episode ended
                row["valid_fraction"] = float(jnp.mean(fn(*args).valid))
            if case == "cartpole/zoprl" and "cartpole/gymnax-mlp" in stats:
                ref = stats["cartpole/gymnax-mlp"]
                row["ratio"] = paired_ratio(t, ref)  # median of per-round ratios
                row["ratio_of_medians"] = t["median_s"] / ref["median_s"]
                row["cpu_ratio"] = paired_ratio(t, ref, "cpu_s")
            rows.append(row)
            print(
                f"  B={batch:>6} {case:<24} compile {t['compile_s']:6.2f} s  "
                f"median {t['median_s']:.4f} s  {steps / t['median_s']:.3e} steps/s"
                + (f"  ratio {row['ratio']:.3f}" if row["ratio"] is not None else ""),
                flush=True,
            )
    return rows


COLUMNS = [
    ("batch", "batch"),
    ("case", "case"),
    ("compile_s", "compile s"),
    ("median_s", "median s"),
    ("min_s", "min s"),
    ("steps_per_s", "env steps/s"),
    ("cpu_median_s", "cpu s"),
    ("ratio", "zoprl/gymnax"),
    ("cpu_ratio", "cpu ratio"),
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batch 1024 and 16384, 3 rounds")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds per batch size")
    parser.add_argument("--batches", type=int, nargs="+", default=None)
    parser.add_argument(
        "--cases",
        nargs="+",
        default=None,
        help="only cases whose name contains one of these strings",
    )
    parser.add_argument(
        "--out",
        default=os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "results", "rollouts.json"
        ),
    )
    args = parser.parse_args(argv)

    batches = args.batches or (QUICK_BATCHES if args.quick else FULL_BATCHES)
    repeats = args.repeats or (3 if args.quick else 7)
    print(
        f"Rollout throughput on {device_line()}; median of {repeats} interleaved "
        "rounds (after 1 warm-up)"
    )
    rows = run(batches, repeats, args.cases)
    print()
    print_table(rows, COLUMNS)
    ratios = [r["ratio"] for r in rows if r["ratio"] is not None]
    if ratios:
        worst = max(ratios)
        worst_cpu = max(r["cpu_ratio"] for r in rows if r["ratio"] is not None)
        print(
            f"\nzoprl CartPole / gymnax (same MLP): max wall ratio {worst:.3f}, max CPU-time "
            f"ratio {worst_cpu:.3f} (target <= {TARGET_RATIO:.2f}: "
            f"{'met' if max(worst, worst_cpu) <= TARGET_RATIO else 'NOT met'}; with few rounds "
            f"on a shared CPU single rounds can differ by 10-20%, rerun with --repeats)"
        )
    write_json(
        args.out,
        dict(
            benchmark="rollouts",
            device=device_description(),
            repeats=repeats,
            batches=list(batches),
            target_ratio=TARGET_RATIO,
            rows=rows,
        ),
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
