"""zoprl's benchmark suite (``zoprl bench``; also ``python -m zoprl.bench``).

    parser = argparse.ArgumentParser(); zoprl.bench.add_arguments(parser)
    zoprl.bench.run(parser.parse_args(["--quick"]))      # -> 0; table, JSON, CSV, plot

Measures env steps/s, trajectory pairs/s and queries/s of a ZPG iteration on GridWorld, ZPG on
gymnax CartPole-v1 with an MLP policy, zoprl's CartPole rollout and a seeds x grid sweep, each
against a reference timed in the same run (the vectorised NumPy ZPG, evosax's OpenAI-ES, the raw
gymnax scan): see ``zoprl.bench.cases``. Helpers: ``zoprl.bench.timing`` (compile apart,
warm-up, ``block_until_ready``, medians, interleaved rounds) and ``zoprl.bench.numpy_reference``
(NumPy only). Importing this package does not import JAX.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --quick, --out FOLDER (default benchmarks/results), --repeats R and --cases A,B."""
    from zoprl.bench.suite import add_arguments as add

    add(parser)


def run(args) -> int:
    """Run the suite for parsed ``args``; ValueError (one line, naming the value) on bad flags."""
    from zoprl.bench.suite import run as run_suite

    return run_suite(args)


__all__ = ["add_arguments", "run"]
