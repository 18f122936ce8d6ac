"""One penalty-method iteration against one decoupled-RLHF iteration (issue 15, item 7).

Usage:
  python benchmarks/bench_bilevel.py [--repeats R]

Both learners of bilevel RLHF (arXiv 2410.15610) label N = 64 on-policy pairs per iteration
(one vote each: 64 queries) and draw E = 64 further trajectories; the penalty method
(``bilevel_penalty``) spends them on three iterates (z, theta, nu: six gradient estimates, two
rollout batches, one of pi_theta and one of pi_z), decoupled online RLHF
(``bilevel_decoupled_online``) on two (one reward step, one policy step, one rollout batch of
pi_z). Two settings: tabular (the Chain MDP, S = 3, H = 3, tabular reward and time-dependent
tabular policy) and MLP (CartPole-v1 cut at H = 64 steps, MLP reward and policy 64 x 64, Adam).
Each iteration is one jitted ``step`` of a single run, timed in interleaved rounds
(``zoprl.bench.timing.time_interleaved``: median wall-clock, compilation apart); per query is
the iteration time over the 64 queries it asks.
"""

from __future__ import annotations

import argparse
import datetime

import jax

from zoprl.algorithms import bilevel_decoupled, bilevel_penalty
from zoprl.bench.timing import device_line, paired_ratio, time_interleaved
from zoprl.envs import make
from zoprl.oracles import make_oracle, oracle_params
from zoprl.policies import mlp_categorical, tabular_softmax

NUM_PAIRS = 64
NUM_ENVS = 64


def settings():
    """(name, env, env_params, policy, static) of the two settings."""
    chain, chain_params = make("Chain", home_reward=0.2, goal_reward=3.0)
    cartpole, cartpole_params = make("CartPole-v1", horizon=64)
    return [
        ("tabular", chain, chain_params, tabular_softmax(3, 2, 3), {}),
        (
            "mlp",
            cartpole,
            cartpole_params,
            mlp_categorical(4, 2, (64, 64)),
            {"reward_hidden": (64, 64), "optimizer": "adam"},
        ),
    ]


def step_call(algorithm, env_params, op):
    """(jitted step, its arguments) at the state after ``init``."""
    hp = algorithm.hparams()
    state = algorithm.init(jax.random.key(0), hp, env_params, op)
    step = jax.jit(algorithm.step)
    return step, (jax.random.key(1), state, hp, env_params, op, jax.numpy.int32(0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    oracle, op = make_oracle("logistic", 1), oracle_params("noisy")
    print(device_line())
    print(datetime.date.today().isoformat())
    print("| setting | method | compile s | ms / iteration | ms / query | penalty / decoupled |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for name, env, env_params, policy, static in settings():
        common = dict(num_pairs=NUM_PAIRS, num_envs=NUM_ENVS, **static)
        calls = {
            "penalty": step_call(bilevel_penalty(env, policy, oracle, **common), env_params, op),
            "decoupled": step_call(
                bilevel_decoupled(env, policy, oracle, **common), env_params, op
            ),
        }
        stats = time_interleaved(calls, repeats=args.repeats, warmup=2)
        ratio = paired_ratio(stats["penalty"], stats["decoupled"])
        for method, s in stats.items():
            ms = 1e3 * s["median_s"]
            shown = f"{ratio:.2f}" if method == "penalty" else ""
            print(
                f"| {name} | {method} | {s['compile_s']:.1f} | {ms:.3f} | "
                f"{ms / NUM_PAIRS:.4f} | {shown} |"
            )


if __name__ == "__main__":
    main()
