"""The ``zoprl`` command. ``zoprl demo`` runs the reward-free methods on the default GridWorld.

Errors in the arguments exit with code 2 and a one-line message, without a traceback.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def write_csv_atomically(path: str, header: list[str], rows: list[list]) -> None:
    """Write to a temporary file in the same folder, then rename over ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)   # mkstemp creates 0600; give the file the usual mode
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def tidy_rows(algorithm: str, metrics, names, every: int = 1) -> list[list]:
    """Long-format rows [algorithm, seed, iteration, trajectories, queries, metric, value] from
    metrics with leaves [S, T + 1], keeping every ``every``-th iteration (built with numpy)."""
    import numpy as np

    seeds, length = np.shape(metrics["queries"])
    its = np.arange(0, length, every)
    seed_grid, it_grid = (g.ravel() for g in np.meshgrid(np.arange(seeds), its, indexing="ij"))
    per_metric = [
        np.column_stack([np.full(seed_grid.size, algorithm, object), seed_grid, it_grid,
                         np.asarray(metrics["trajectories"])[seed_grid, it_grid],
                         np.asarray(metrics["queries"])[seed_grid, it_grid],
                         np.full(seed_grid.size, m, object),
                         np.asarray(metrics[m], np.float64)[seed_grid, it_grid]])
        for m in names]
    return np.concatenate(per_metric).tolist()


def demo(args) -> int:
    """ZPG, ZBCPG and ZSPO on the default GridWorld (slip 0.1) with a Bradley-Terry oracle,
    ``seeds`` seeds per method in one vmapped program; prints final J / J* and writes a tidy CSV."""
    import jax
    import numpy as np

    from zoprl.algorithms import make_run, zbcpg, zpg, zspo
    from zoprl.envs import make
    from zoprl.oracles import make_oracle, oracle_params
    from zoprl.policies import tabular_softmax

    env, env_params = make("GridWorld")
    policy = tabular_softmax(env.num_states, env.num_actions)
    oracle = make_oracle("logistic", 10)
    methods = {
        "zpg": (zpg(env, policy, oracle, num_pairs=args.pairs), dict(step_size=0.1, mu=2.0, clip_range=3.0)),
        "zbcpg": (zbcpg(env, policy, oracle, num_pairs=args.pairs, block_size=20),
                  dict(step_size=0.1, mu=2.0, clip_range=3.0)),
        "zspo": (zspo(env, policy, oracle, num_pairs=args.pairs), dict(step_size=0.8, mu=3.0)),
    }
    keys = jax.random.split(jax.random.key(0), args.seeds)
    rows, every = [], max(1, args.iterations // 20)
    print(f"GridWorld 5x5, slip 0.1, H = 10; Bradley-Terry oracle, M = 10; N = {args.pairs} pairs; "
          f"{args.iterations} iterations; {args.seeds} seeds")
    print(f"{'method':<8} {'J(theta_T) / J*':>18} {'queries':>12} {'seconds':>8}")
    for name, (algo, hp) in methods.items():
        start = time.perf_counter()
        run = jax.jit(jax.vmap(make_run(algo, args.iterations), (0, None, None, None)))
        _, metrics = run(keys, algo.hparams(**hp), env_params, oracle_params("noisy"))
        metrics = jax.tree.map(np.asarray, metrics)
        seconds = time.perf_counter() - start
        j_star = metrics["value"][0, 0] + metrics["value_gap"][0, 0]
        final = metrics["value"][:, -1] / j_star
        stderr = final.std(ddof=1) / np.sqrt(args.seeds) if args.seeds > 1 else 0.0
        print(f"{name:<8} {final.mean():>11.3f} +- {stderr:.3f} {int(metrics['queries'][0, -1]):>12d} "
              f"{seconds:>8.1f}")
        rows.extend(tidy_rows(name, metrics, ("value", "value_gap", "grad_norm_sq"), every))
    path = os.path.join(args.out, "demo.csv")
    write_csv_atomically(path, ["algorithm", "seed", "iteration", "trajectories", "queries",
                                "metric", "value"], rows)
    print(f"wrote {path}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="zoprl", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("demo", help="reward-free methods on the default GridWorld",
                            description=demo.__doc__)
    p.add_argument("--seeds", type=_positive_int, default=4)
    p.add_argument("--iterations", type=_positive_int, default=1000)
    p.add_argument("--pairs", type=_positive_int, default=256, help="trajectory pairs N per iteration")
    p.add_argument("--out", default="results/demo", help="folder for the results table")
    p.set_defaults(func=demo)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as err:
        print(f"zoprl: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
