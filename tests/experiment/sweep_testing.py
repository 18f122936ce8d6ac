"""The tiny sweep spec shared by the experiment tests (compiling is the slow part: keep it tiny)."""

import copy

import numpy as np

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


def assert_tables_equal(a, b, atol=0.0):
    """Tables equal column by column in their canonical row order; ``value`` within ``atol``."""
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    for column in a.columns:
        left, right = a[column].to_numpy(), b[column].to_numpy()
        if column == "value" and atol:
            np.testing.assert_allclose(left, right, atol=atol, rtol=0)
        elif left.dtype.kind == "f":
            np.testing.assert_array_equal(left, right)
        else:
            assert (left == right).all(), column


def tiny_raw(**changes) -> dict:
    raw = copy.deepcopy(TINY)
    raw.update(changes)
    return raw
