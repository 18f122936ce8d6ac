"""Oracle throughput: simulated-human queries per second.

Usage:
  python benchmarks/bench_oracles.py                 # 1e6 pairs x M = 10, every link; 5 repeats
  python benchmarks/bench_oracles.py --quick         # logistic only, 3 repeats
  python benchmarks/bench_oracles.py --pairs 100000 --queries 10 --out path/to/oracles.json

Each case is one jitted call that answers N pairs of trajectories (horizon H = 10, random latent
rewards) with M votes each: myopic utilities, the link, one Binomial(M, p) draw per pair, skip and
tie masks. Two call styles: "vmap" (``vmap(oracle.query)`` over pairs, one PRNG key per pair, the
usual way an algorithm calls it) and "batched" (one call on the [N, H] batch with a single key).
Queries are counted as N x M per call. Compile time is reported apart (the second teacher reuses
the first one's program: the knobs are traced values, so its compile_s is a cache hit); the
throughput uses the median of the timed repeats (each synchronised with block_until_ready) after
a warm-up call.

Teachers: "noisy" (B-Pref's beta = 1) and "mixed" (beta = 1, gamma = 0.9, mistake = 0.1,
skip = 0.1, equal_margin = 0.1: every transform active).
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from common import device_description, device_line, print_table, time_fn, write_json  # noqa: E402

from zoprl.oracles import LINK_NAMES, make_oracle, oracle_params  # noqa: E402
from zoprl.trajectory import Trajectory  # noqa: E402

HORIZON = 10
TEACHERS = {
    "noisy": oracle_params("noisy"),
    "mixed": oracle_params("noisy", gamma=0.9, mistake=0.1, skip=0.1, equal_margin=0.1),
}


def random_pairs(key, num_pairs: int, horizon: int = HORIZON):
    """Two batches of trajectories [N, H] with standard normal latent rewards."""

    def batch(k):
        rewards = jax.random.normal(k, (num_pairs, horizon))
        zeros = jnp.zeros((num_pairs, horizon))
        return Trajectory(
            obs=zeros,
            action=zeros.astype(jnp.int32),
            log_prob=zeros,
            valid=jnp.ones((num_pairs, horizon)),
            latent_reward=rewards,
        )

    key_a, key_b = jax.random.split(key)
    return batch(key_a), batch(key_b)


def make_case(link: str, num_queries: int, call: str):
    oracle = make_oracle(link, num_queries)

    def vmapped(key, traj_a, traj_b, params):
        keys = jax.random.split(key, traj_a.valid.shape[0])
        return jax.vmap(oracle.query, in_axes=(0, 0, 0, None))(keys, traj_a, traj_b, params)

    return jax.jit(vmapped if call == "vmap" else oracle.query)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    links = ("logistic",) if args.quick else tuple(LINK_NAMES)
    repeats = 3 if args.quick else args.repeats

    print(device_line())
    traj_a, traj_b = random_pairs(jax.random.key(0), args.pairs)
    rows = []
    for link in links:
        for call in ("vmap", "batched"):
            answer = make_case(link, args.queries, call)
            for teacher, params in TEACHERS.items():
                timing = time_fn(answer, jax.random.key(1), traj_a, traj_b, params, repeats=repeats)
                total = args.pairs * args.queries
                rows.append(
                    dict(
                        link=link,
                        call=call,
                        teacher=teacher,
                        pairs=args.pairs,
                        M=args.queries,
                        compile_s=timing["compile_s"],
                        median_s=timing["median_s"],
                        queries_per_s=total / timing["median_s"],
                        pairs_per_s=args.pairs / timing["median_s"],
                    )
                )
    print_table(
        rows,
        [
            "link",
            "call",
            "teacher",
            "pairs",
            "M",
            "compile_s",
            "median_s",
            ("queries_per_s", "queries/s"),
            ("pairs_per_s", "pairs/s"),
        ],
    )
    if args.out:
        write_json(args.out, dict(device=device_description(), rows=rows))
    return rows


if __name__ == "__main__":
    main()
