"""Throughput of the NumPy ZPG reference (one iteration on the default 5x5 GridWorld).

Usage:
  python benchmarks/bench_numpy_reference.py            # N in 64 ... 65536, 15 repeats
  python benchmarks/bench_numpy_reference.py --quick    # N in 64, 1024, 4096, 5 repeats

For each N: warm-up calls, then the median wall time of repeated calls of
``numpy_zpg_iteration`` (M = 10 queries per pair, mu = 0.1, H = 10). Reports pairs/s and
env steps/s (2 N H steps per iteration).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from numpy_reference import numpy_zpg_iteration  # noqa: E402

FULL_NS = (64, 256, 1024, 4096, 16384, 65536)
QUICK_NS = (64, 1024, 4096)


def time_iteration(
    num_pairs: int,
    *,
    repeats: int,
    warmup: int,
    num_queries: int = 10,
    mu: float = 0.1,
    seed: int = 0,
) -> list[float]:
    rng = np.random.default_rng(seed)
    theta = np.zeros((25, 4))
    kwargs = dict(num_pairs=num_pairs, num_queries=num_queries, mu=mu, step_size=1e-3)
    for _ in range(warmup):
        numpy_zpg_iteration(rng, theta, **kwargs)
    # Very small N: time a batch of calls per repeat so timer resolution does not matter.
    inner = max(1, 4096 // num_pairs)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            numpy_zpg_iteration(rng, theta, **kwargs)  # theta stays 0: same work every call
        times.append((time.perf_counter() - t0) / inner)
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer N and repeats")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--num-queries", type=int, default=10)
    parser.add_argument("--mu", type=float, default=0.1)
    args = parser.parse_args(argv)

    ns = QUICK_NS if args.quick else FULL_NS
    repeats = args.repeats or (5 if args.quick else 15)
    horizon = 10
    print(
        f"NumPy ZPG reference: 5x5 GridWorld, H={horizon}, M={args.num_queries}, "
        f"mu={args.mu}; numpy {np.__version__}, python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs; median of {repeats} repeats"
    )
    print(f"{'N':>7} {'time/iter [ms]':>15} {'pairs/s':>12} {'env steps/s':>13}")
    for n_pairs in ns:
        times = time_iteration(
            n_pairs, repeats=repeats, warmup=2, num_queries=args.num_queries, mu=args.mu
        )
        t = statistics.median(times)
        print(
            f"{n_pairs:>7} {t * 1e3:>15.3f} {n_pairs / t:>12.3e} "
            f"{2 * n_pairs * horizon / t:>13.3e}",
            flush=True,
        )


if __name__ == "__main__":
    main()
