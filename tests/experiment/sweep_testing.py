"""The tiny sweep spec shared by the experiment tests (compiling is the slow part: keep it tiny)."""

import copy

TINY = {
    "name": "tiny",
    "seeds": 2,
    "iterations": 4,
    "eval_every": 2,
    "chunk_size": 2,
    "environment": {"name": "GridWorld", "size": 3, "horizon": 4},
    "oracle": {"link": "logistic", "num_queries": 3, "preset": "noisy"},
    "grid": {"env.slip": [0.0, 0.2]},
    "algorithms": [
        {
            "name": "zpg",
            "label": "ZPG",
            "static": {"num_pairs": 4},
            "hparams": {"step_size": 0.5, "clip_range": 3.0},
            "grid": {"mu": [0.5, 1.0]},
        }
    ],
}


def tiny_raw(**changes) -> dict:
    raw = copy.deepcopy(TINY)
    raw.update(changes)
    return raw
