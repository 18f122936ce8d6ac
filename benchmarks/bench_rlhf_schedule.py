"""Online RLHF-PPO's refit schedule under a vmapped sweep (issue 12, item 6).

Usage:
  python benchmarks/bench_rlhf_schedule.py

Online RLHF-PPO collects N pairs and refits its reward model every k iterations. Under the sweep
engine's vmap over runs, a schedule decided on a batched iteration counter becomes a select that
computes the collection and the refit on every iteration; zoprl passes the iteration to ``step``
unbatched, so the refresh is a real branch. Measured through ``run_sweep`` (8 runs in one
program, T = 200, k = 10, N = 32 pairs, 64 PPO rollouts per iteration, 100 Adam steps per
refit on the default GridWorld), with offline RLHF-PPO (the same PPO updates, no refresh) as the
reference in the same run: the online / offline time ratio is the schedule's overhead.
Times are the chunks' wall-clock seconds from the manifest (compilation apart).
"""

from __future__ import annotations

import tempfile

from zoprl.bench.timing import device_line
from zoprl.experiment import run_sweep, spec_from_dict

ITERATIONS = 200
SPEC = {
    "name": "rlhf-schedule",
    "seeds": 8,
    "iterations": ITERATIONS,
    "eval_every": 10,
    "chunk_size": 100,
    "environment": {"name": "GridWorld"},
    "oracle": {"link": "logistic", "num_queries": 10, "preset": "noisy"},
    "algorithms": [
        {
            "name": "rlhf_ppo_online",
            "label": "online",
            "static": {"num_pairs": 32, "num_envs": 64, "refit_every": 10, "buffer_capacity": 1280},
        },
        {
            "name": "rlhf_ppo_offline",
            "label": "offline",
            "static": {"num_pairs": 640, "num_envs": 64},
        },
    ],
}


def main() -> None:
    result = run_sweep(spec_from_dict(SPEC), tempfile.mkdtemp(), progress=False)
    cells = {c["label"]: c for c in result.manifest["cells"]}
    print(device_line())
    for label, cell in cells.items():
        print(
            f"{label:>8}: {1e3 * cell['chunk_seconds'] / ITERATIONS:6.2f} ms per iteration "
            f"(8 runs), compile {sum(cell['compile_seconds'].values()):.1f} s"
        )
    ratio = cells["online"]["chunk_seconds"] / cells["offline"]["chunk_seconds"]
    print(f"online / offline time ratio: {ratio:.2f}")


if __name__ == "__main__":
    main()
