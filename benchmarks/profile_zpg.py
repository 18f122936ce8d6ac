"""Where the time of one ZPG iteration on GridWorld goes, next to the NumPy reference's parts.

Usage:
  python benchmarks/profile_zpg.py               # N = 4096 and 16384
  python benchmarks/profile_zpg.py --pairs 4096 --repeats 21

Each part is jitted alone (compile apart, warm-up, block_until_ready, median of interleaved
rounds), so the parts need not add up exactly to the whole (XLA fuses across them in the whole).
Parts: the whole ``algo.step``; the paired rollout (2 N trajectories, the bulk-uniform path); its
uniforms alone, materialised ([H, 2, N] per member from the counter-based threefry; in the
rollout they are fused into the steps) and the same number by ``jax.random.uniform``; the rollout
steps from given uniforms; the oracle on the N pairs and its own uniform draws alone (M + 1 per
pair). NumPy: the whole
iteration, its PCG64 uniforms (H x 2N float32) and its Binomial draws.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

from zoprl.algorithms import zpg
from zoprl.bench.numpy_reference import numpy_zpg_iteration
from zoprl.bench.timing import device_line, print_table, time_interleaved
from zoprl.envs import make
from zoprl.oracles import make_oracle, oracle_params
from zoprl.policies import tabular_softmax
from zoprl.rollout import counter_uniforms, make_paired_rollout

H, M = 10, 10


def parts(n: int):
    env, env_params = make("GridWorld")
    policy = tabular_softmax(env.num_states, env.num_actions)
    oracle = make_oracle("logistic", M)
    o_params = oracle_params("noisy")
    algo = zpg(env, policy, oracle, num_pairs=n)
    hp = algo.hparams(step_size=1e-3, mu=0.1, clip_range=float(H))
    state = algo.init(jax.random.key(0), hp, env_params)
    paired = make_paired_rollout(env, policy, n)
    theta = jnp.zeros((env.num_states, env.num_actions))
    key = jax.random.key(1)
    traj_0, traj_1 = jax.jit(paired)(key, theta, theta + 0.1, env_params)
    index = jnp.arange(n, dtype=jnp.uint32)
    cdf = jnp.cumsum(jax.nn.softmax(theta), -1)[:, :-1]

    def counter_draws(k):  # the rollouts' uniforms materialised: 2 members x H steps x 2
        return [
            jnp.stack([jnp.stack(counter_uniforms(kk, h, index)) for h in range(H)])
            for kk in jax.random.split(k)
        ]

    def default_layout(k):
        return jax.random.uniform(k, (2, H, 2, n))

    def scan_only(u, cdf):  # one member's steps from given uniforms
        def step(s, u_h):
            a = jnp.sum(cdf[s] <= u_h[0][:, None], -1).astype(jnp.int32)
            s_next, r = env.step_from_uniform(u_h[1], s, a, env_params)
            return s_next, r

        return jax.lax.scan(step, jnp.zeros(n, jnp.int32), u, unroll=True)[1]

    u = jax.random.uniform(key, (H, 2, n))

    rng = np.random.default_rng(0)
    p = rng.random(n)
    theta_np = np.zeros((25, 4))
    return {
        "zoprl: algo.step (whole iteration)": (
            jax.jit(algo.step),
            (key, state, hp, env_params, o_params, 0),
        ),
        "zoprl: paired rollout (2N trajectories)": (
            jax.jit(paired),
            (key, theta, theta + 0.1, env_params),
        ),
        "zoprl: rollout uniforms 2 x [H,2,N] materialised (counter threefry)": (
            jax.jit(counter_draws),
            (key,),
        ),
        "zoprl: same number by jax.random.uniform (default)": (jax.jit(default_layout), (key,)),
        "zoprl: rollout scan from given uniforms (one member)": (jax.jit(scan_only), (u, cdf)),
        "zoprl: oracle on N pairs": (
            jax.jit(lambda k, a, b: oracle.query(k, a, b, o_params)),
            (key, traj_0, traj_1),
        ),
        "zoprl: oracle uniforms alone, [(M+1), N]": (
            jax.jit(lambda k: jax.random.uniform(k, (M + 1, n))),
            (key,),
        ),
        "numpy: whole iteration": (
            lambda: numpy_zpg_iteration(
                rng, theta_np, num_pairs=n, num_queries=M, mu=0.1, step_size=1e-3
            ),
            (),
        ),
        "numpy: PCG64 uniforms, H x 2N float32": (
            lambda: rng.random((H, 2 * n), dtype=np.float32),
            (),
        ),
        "numpy: Binomial(M, p) draws, N": (lambda: rng.binomial(M, p), ()),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, nargs="+", default=[4096, 16384])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    print(device_line())
    rows = []
    for n in args.pairs:
        stats = time_interleaved(parts(n), repeats=args.repeats)
        for name, s in stats.items():
            rows.append(
                dict(N=n, part=name, median_ms=1e3 * s["median_s"], min_ms=1e3 * s["min_s"])
            )
    print_table(rows, ["N", ("part", "part"), ("median_ms", "median ms"), ("min_ms", "min ms")])


if __name__ == "__main__":
    main()
