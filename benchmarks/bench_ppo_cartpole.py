"""zoprl's PPO ceiling on CartPole-v1 at PureJaxRL's published settings, seeds vmapped in one
program: the return curve against environment steps (issue 13, item 6).

Usage:
  python benchmarks/bench_ppo_cartpole.py [--seeds 10] [--quick] [--critic stationary_mlp]
      [--out benchmarks/results/ppo_cartpole.json]

Settings (PureJaxRL's default CartPole-v1 config in its ppo.py): 4 environments run on in
segments of 128 steps (``segment_length``; auto-reset, GAE bootstrapped at the segment end),
5e5 environment steps = 976 updates, 4 epochs of 4 minibatches of single steps, Adam with
learning rate 2.5e-4 annealed linearly to 0 over the 976 updates, global gradient norm clipped
at 0.5, clip 0.2, GAE lambda 0.95, gamma 0.99, entropy 0.01, value coefficient 0.5, advantages
normalised per minibatch. Policy and critic: zoprl's tanh MLPs with two hidden layers of 64, the
critic a stationary V(s) like PureJaxRL's (``critic="stationary_mlp"``; ``--critic mlp`` runs
zoprl's default time-aware V(s, h / H) instead). Known differences from PureJaxRL: no value-loss
clipping, Adam eps 1e-8 (PureJaxRL: 1e-5), flax's default initialisation with a zero output
layer (PureJaxRL: orthogonal).

Two curves, both against environment steps, recorded every 16 updates (8192 steps):
  - ``value``: Monte Carlo evaluation of the current policy (stochastic, as it acts in training)
    over 32 fresh episodes of up to 500 steps: what zoprl reports for every method;
  - ``mean_return``: PureJaxRL's logged quantity, the mean over the 4 training environments of
    each one's latest completed training episode's return.
The published reference: PureJaxRL's CartPole-v1 return curve for these settings climbs to
the maximum return of 500 by about 5e5 steps (stated from its documentation; no data of it is
read here). Output: JSON (per-seed curves and the summary) and a figure next to it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from learning_curves import describe, first_reach, reach_summary  # noqa: E402

from zoprl.algorithms import make_chunked_run, ppo  # noqa: E402
from zoprl.bench.timing import device_line  # noqa: E402
from zoprl.envs import make  # noqa: E402
from zoprl.evaluators import monte_carlo_policy_evaluator  # noqa: E402
from zoprl.policies import default_policy  # noqa: E402

NUM_ENVS, NUM_STEPS, TOTAL_STEPS = 4, 128, 500_000
UPDATES = TOTAL_STEPS // (NUM_ENVS * NUM_STEPS)  # 976, PureJaxRL's NUM_UPDATES
EVAL_EVERY = 16  # updates between records: 976 = 16 x 61
HPARAMS = dict(
    step_size=2.5e-4,
    clip_eps=0.2,
    gae_lambda=0.95,
    discount=0.99,
    value_coef=0.5,
    entropy_coef=0.01,
)
THRESHOLD = 475.0
MILESTONES = (50_000, 100_000, 200_000, 300_000, 400_000, 499_712)


def make_train(eval_episodes: int, critic: str):
    """train(keys [S]) -> metrics, leaves [S, R + 1] (R = 61 records after iteration 0)."""
    env, env_params = make("CartPole-v1")  # H = 500
    policy = default_policy(env, env_params)  # tanh MLP 64 x 64, categorical
    algo = ppo(
        env,
        policy,
        num_envs=NUM_ENVS,
        segment_length=NUM_STEPS,
        num_epochs=4,
        num_minibatches=4,
        max_grad_norm=0.5,
        anneal_iterations=UPDATES,
        critic=critic,
    )
    hp = algo.hparams(**HPARAMS)
    evaluator = monte_carlo_policy_evaluator(env, policy, eval_episodes=eval_episodes)
    chunked = make_chunked_run(
        algo, records_per_chunk=UPDATES // EVAL_EVERY, eval_every=EVAL_EVERY, evaluator=evaluator
    )

    def train(key):
        carry, first = chunked.start(key, hp, env_params, None)
        _, records = chunked.advance(carry, hp, env_params, None)
        first = {**first, "env_steps": np.int32(0), "mean_return": np.float32(0.0)}
        return {k: jax.numpy.concatenate([first[k][None], records[k]]) for k in first}

    return jax.jit(jax.vmap(train))


def summarise(metrics: dict) -> dict:
    steps = metrics["env_steps"][0]
    out = dict(env_steps=steps.tolist())
    for name in ("value", "mean_return"):
        curves = metrics[name]
        final = curves[:, -1]
        reached = first_reach(steps, curves, THRESHOLD)
        out[name] = dict(
            final=describe(final),
            final_per_seed=final.tolist(),
            steps_to_475=reached,
            steps_to_475_summary=reach_summary(reached, float(steps[-1])),
            at_milestones={
                int(m): describe(curves[:, int(np.argmin(np.abs(steps - m)))]) for m in MILESTONES
            },
        )
    return out


def plot(metrics: dict, path: str, critic: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = metrics["env_steps"][0]
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for name, label in (
        ("value", "zoprl PPO: Monte Carlo return of the current policy"),
        ("mean_return", "zoprl PPO: latest training episodes (PureJaxRL's log)"),
    ):
        curves = metrics[name]
        mean = np.nanmean(curves, axis=0)
        ax.plot(steps, mean, label=label)
        ax.fill_between(steps, np.nanmin(curves, axis=0), np.nanmax(curves, axis=0), alpha=0.2)
    ax.axhline(500, color="k", ls="--", lw=0.8, label="maximum return (500)")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("episode return")
    seeds = curves.shape[0]
    title = f"CartPole-v1, PureJaxRL settings, {critic} critic: {seeds} seeds (band: min-max)"
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--eval-episodes", type=int, default=32)
    parser.add_argument("--critic", default="stationary_mlp", choices=("stationary_mlp", "mlp"))
    parser.add_argument("--quick", action="store_true", help="2 seeds, 8 evaluation episodes")
    parser.add_argument("--out", default="benchmarks/results/ppo_cartpole.json")
    args = parser.parse_args(argv)
    seeds, episodes = (2, 8) if args.quick else (args.seeds, args.eval_episodes)
    train = make_train(episodes, args.critic)
    keys = jax.random.split(jax.random.key(0), seeds)
    start = time.perf_counter()
    compiled = train.lower(keys).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    metrics = jax.tree.map(np.asarray, jax.block_until_ready(compiled(keys)))
    run_s = time.perf_counter() - start
    summary = summarise(metrics)
    result = dict(
        date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        device=device_line(),
        seeds=seeds,
        eval_episodes=episodes,
        compile_s=round(compile_s, 1),
        run_s=round(run_s, 1),
        settings=dict(
            num_envs=NUM_ENVS, num_steps=NUM_STEPS, updates=UPDATES, critic=args.critic, **HPARAMS
        ),
        summary=summary,
        curves={k: metrics[k].tolist() for k in ("value", "mean_return")},
    )
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    plot(metrics, os.path.splitext(args.out)[0] + ".png", args.critic)
    print(f"{result['date']}; {result['device']}")
    print(
        f"critic {args.critic}; {seeds} seeds in one program: compile {compile_s:.1f} s, ", end=""
    )
    print(f"run {run_s:.1f} s")
    for name in ("value", "mean_return"):
        s = summary[name]
        print(f"{name}: final {s['final']}; steps to {THRESHOLD:g}: {s['steps_to_475_summary']}")
        print("  " + ", ".join(f"{m}: {v}" for m, v in s["at_milestones"].items()))


if __name__ == "__main__":
    main()
