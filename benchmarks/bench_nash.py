"""General-preference Nash game throughput (issue 14, item 7), float64.

Usage:
  python benchmarks/bench_nash.py            # eta in {1, 5, 20}; runs R in {1, 64}; 5 repeats
  python benchmarks/bench_nash.py --quick    # eta = 5, R = 64, 3 repeats
  python benchmarks/bench_nash.py --out path/to/nash.json

Equilibria: a batch of B = 10^4 random games (K = 10 actions, skew-symmetric logits N(0, 1),
reference pi0 = softmax of N(0, 1) logits), each solved to round-off, as games per second.
zoprl: ``jax.vmap`` of ``zoprl.games.newton_equilibrium`` (damped Newton, every game to
Gap ~ 1e-30) and of ``zoprl.games.mirror_descent`` (magnetic mirror descent until Gap < 1e-10),
each one jitted call. Reference: the same magnetic mirror descent written in NumPy, vectorised
over the batch (the update v <- v + b (P pi(v) - v) with b = 1 / (1 + eta^2 L^2) per game, the
gap of every game checked at every iteration, stopping when all are below 1e-10).

Online round: one round of ``nash_online`` (enhancer (a), X = 16 contexts, K = 10 actions,
m = 256 pairs, M = 10 votes; enhancer, sampling, Binomial votes, table update, refit, equilibrium
of the fitted game per context warm-started from the last one) for R runs vmapped in one jitted
call, as rounds per second (R rounds per call). Reference: the same round in NumPy vectorised
over runs and contexts, its equilibrium by the mirror descent above (warm-started, Gap < 1e-10).
Both start from the state after 20 rounds. Each function is compiled apart and timed in
interleaved rounds (``zoprl.bench.timing``); ratio = zoprl throughput / NumPy throughput, the
median over rounds of the per-round time ratios (> 1: zoprl faster).
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from zoprl.algorithms import nash_online  # noqa: E402
from zoprl.bench.timing import (  # noqa: E402
    device_description,
    device_line,
    paired_ratio,
    print_table,
    time_interleaved,
    write_json,
)
from zoprl.envs import make  # noqa: E402
from zoprl.games import mirror_descent, newton_equilibrium, random_game  # noqa: E402
from zoprl.games.generators import skew_game  # noqa: E402
from zoprl.oracles import OracleParams, make_tensor_oracle, teacher_params  # noqa: E402
from zoprl.policies import tabular_softmax  # noqa: E402

NUM_GAMES, NUM_ACTIONS, TOL = 10_000, 10, 1e-10
CONTEXTS, PAIRS, VOTES, WARM_ROUNDS = 16, 256, 10, 20


# --- NumPy reference ------------------------------------------------------------------------------
def _softmax(logits):
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _log_softmax(logits):
    z = logits - logits.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def numpy_mirror_descent(P, pi0, eta, v=None, tol=TOL, max_iterations=200_000):
    """Magnetic mirror descent over a batch (P [..., K, K], pi0 [..., K]) until every gap < tol;
    returns (pi, v)."""
    log_pi0 = np.log(pi0)
    lipschitz = np.abs(P - 0.5).max(axis=(-1, -2))
    damping = (1.0 / (1.0 + eta**2 * lipschitz**2))[..., None]
    v = np.zeros_like(pi0) if v is None else v
    for _ in range(max_iterations):
        log_pi = _log_softmax(log_pi0 + eta * v)
        pi = np.exp(log_pi)
        values = np.einsum("...ab,...b->...a", P, pi)
        d = log_pi - _log_softmax(log_pi0 + eta * values)
        gap = np.sum(pi * (d + np.expm1(-d)), axis=-1) / eta
        if gap.max() < tol:
            break
        v = v + damping * (values - v)
    return pi, v


class NumpyOnline:
    """One online round (module doc) for R runs, vectorised over runs and contexts."""

    def __init__(self, P, pi0, eta, runs, seed=0):
        self.P, self.eta, self.runs = P, eta, runs  # P [X, K, K]; pi0 [X, K]
        self.pi0 = np.broadcast_to(pi0, (runs,) + pi0.shape)
        shape = (runs,) + P.shape
        self.wins, self.counts = np.zeros(shape), np.zeros(shape)
        self.pi1, self.v = self.pi0.copy(), np.zeros(self.pi0.shape)
        self.rng = np.random.default_rng(seed)

    def round(self):
        R, X, K = self.pi1.shape
        pair_counts = self.counts / VOTES
        scores = (self.pi1**2)[..., :, None] / (1.0 + pair_counts / PAIRS)
        scores = scores.sum(axis=-2) - np.einsum("...aa->...a", scores)
        enhancer = scores.argmax(axis=-1)  # [R, X]
        runs = np.repeat(np.arange(R), PAIRS)
        contexts = self.rng.integers(0, X, (R, PAIRS)).ravel()
        cdf = np.cumsum(self.pi1[runs, contexts], axis=-1)[:, :-1]
        main = (cdf <= self.rng.random(runs.size)[:, None]).sum(axis=-1)
        other = enhancer[runs, contexts]
        votes = self.rng.binomial(VOTES, self.P[contexts, other, main])
        distinct = (other != main).astype(float)
        np.add.at(self.wins, (runs, contexts, other, main), distinct * votes)
        np.add.at(self.wins, (runs, contexts, main, other), distinct * (VOTES - votes))
        np.add.at(self.counts, (runs, contexts, other, main), distinct * VOTES)
        np.add.at(self.counts, (runs, contexts, main, other), distinct * VOTES)
        seen = self.counts > 0
        P_hat = np.where(seen, self.wins / np.where(seen, self.counts, 1.0), 0.5)
        self.pi1, self.v = numpy_mirror_descent(P_hat, self.pi0, self.eta, self.v)
        return self.pi1


# --- cases ----------------------------------------------------------------------------------------
def result_rows(case, stats, work, unit, **extra):
    """One row per implementation; ratio = zoprl throughput / NumPy's (paired rounds)."""
    return [
        {
            "case": case,
            "implementation": name,
            "median_s": stats[name]["median_s"],
            "per_second": work / stats[name]["median_s"],
            "unit": unit,
            "ratio": paired_ratio(stats["numpy"], stats[name]),
            "compile_s": stats[name]["compile_s"],
            **extra,
        }
        for name in stats
    ]


def random_games(eta):
    draw = lambda k: random_game(k, 1, NUM_ACTIONS, "skew", "random", dtype=jnp.float64)
    games = jax.vmap(draw)(jax.random.split(jax.random.key(0), NUM_GAMES))
    return games.P[:, 0], games.pi0[:, 0]


def equilibrium_case(eta, repeats):
    P, pi0 = random_games(eta)
    newton = jax.jit(jax.vmap(lambda p, r: newton_equilibrium(p, r, eta).policy))
    mmd = jax.jit(jax.vmap(lambda p, r: mirror_descent(p, r, eta, TOL).policy))
    P_np, pi0_np = np.asarray(P), np.asarray(pi0)
    reference = lambda: numpy_mirror_descent(P_np, pi0_np, eta)[0]
    stats = time_interleaved(
        {"newton": (newton, (P, pi0)), "mmd": (mmd, (P, pi0)), "numpy": (reference, ())},
        repeats=repeats,
    )
    agree = float(np.abs(np.asarray(newton(P, pi0)) - reference()).max())
    return result_rows(
        f"equilibria, eta = {eta:g}", stats, NUM_GAMES, "games/s", max_abs_diff_vs_numpy=agree
    )


def online_setup(eta, runs):
    env, env_params = make("ContextualBandit", num_contexts=CONTEXTS, num_actions=NUM_ACTIONS)
    policy = tabular_softmax(CONTEXTS, NUM_ACTIONS)
    oracle = make_tensor_oracle(VOTES)
    tensor = skew_game(env, env_params, seed=1)
    oracle_params = OracleParams(tensor, teacher_params())
    algo = nash_online(env, policy, oracle, num_pairs=PAIRS)
    hp = algo.hparams(eta=eta)
    keys = jax.random.split(jax.random.key(2), runs)
    state = jax.vmap(algo.init, (0, None, None, None))(keys, hp, env_params, oracle_params)
    step = jax.jit(
        jax.vmap(lambda k, s: algo.step(k, s, hp, env_params, oracle_params, jnp.int32(0)))
    )
    for t in range(WARM_ROUNDS):
        state, _ = step(jax.vmap(jax.random.fold_in, (0, None))(keys, t), state)
    reference = NumpyOnline(np.asarray(tensor.preference), np.full((CONTEXTS, NUM_ACTIONS), 0.1),
                            eta, runs)  # fmt: skip
    for _ in range(WARM_ROUNDS):
        reference.round()
    return step, (keys, state), reference


def online_case(eta, runs, repeats):
    step, args, reference = online_setup(eta, runs)
    stats = time_interleaved(
        {"zoprl": (step, args), "numpy": (reference.round, ())}, repeats=repeats
    )
    return result_rows(f"online round, eta = {eta:g}, R = {runs}", stats, runs, "rounds/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    etas = (5.0,) if args.quick else (1.0, 5.0, 20.0)
    runs = (64,) if args.quick else (1, 64)
    repeats = 3 if args.quick else 5
    rows = [row for eta in etas for row in equilibrium_case(eta, repeats)]
    rows += [row for eta in etas for r in runs for row in online_case(eta, r, repeats)]
    print(device_line(), datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"))
    print_table(
        rows,
        ["case", "implementation", "median_s", "per_second", "unit", "ratio", "compile_s"],
    )
    if args.out:
        write_json(args.out, {"device": device_description(), "rows": rows})


if __name__ == "__main__":
    main()
