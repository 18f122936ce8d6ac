"""The nash-solvers reproduction: its spec tunes the four sampled self-play learners alike, its
exact recursions are the library's solvers, the cycling measures and the summary have known
answers on synthetic trajectories, and the committed summary.md is the table of the committed
summary.csv."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from zoprl.reproduce import SPECS
from zoprl.reproduce.nash_solvers import (
    ETAS,
    METHODS,
    cycling_measures,
    exact_frames,
    exact_games,
    exact_trajectories,
    summarise,
    summary_markdown,
)
from zoprl.reproduce.specs_io import load_profile

RESULTS = os.path.join(os.path.dirname(__file__), "..", "..", "results", "nash-solvers")


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_every_learner_is_tuned_alike_at_equal_queries(profile):
    spec = load_profile(os.path.join(SPECS, "nash-solvers.toml"), profile)
    assert spec.seeds == spec.tuning.points * spec.tuning.seeds
    assert spec.tuning.metric == "gap" and spec.evaluation.name == "nash"
    assert spec.oracle.kind == "tensor" and spec.oracle.options["generator"] == "skew"
    assert len(spec.grid["oracle.seed"]) >= 4
    names = [a.name for a in spec.algorithms]
    assert names == [
        "ipo_self_play",
        "nash_md_self_play",
        "sppo_self_play",
        "extragradient_self_play",
    ]
    assert all(a.search == spec.algorithms[0].search and not a.hparams for a in spec.algorithms)
    assert all(a.grid == {"eta": list(ETAS)} for a in spec.algorithms)
    pairs = [
        a.static["num_pairs"] * (2 if "extragradient" in a.name else 1) for a in spec.algorithms
    ]
    assert len(set(pairs)) == 1  # extragradient's two batches of N / 2: equal queries


def test_the_exact_games_are_the_oracles_games():
    """The exact part's skew game of seed s is, entry for entry, the float32 tensor the sampled
    part's oracle draws for oracle.seed = s, cast to float64."""
    from zoprl.experiment import build_cells

    spec = load_profile(os.path.join(SPECS, "nash-solvers.toml"), "quick")
    cell = build_cells(spec)[0]
    seeds = np.asarray(cell.columns["oracle.seed"])
    oracle = np.asarray(cell.oracle_params.model.preference)  # [grid point, context, K, K]
    assert oracle.dtype == np.float32
    with jax.enable_x64(True):
        games = np.asarray(exact_games(int(seeds.max()) + 1))
    assert games.dtype == np.float64
    for point, seed in enumerate(seeds):
        np.testing.assert_array_equal(games[int(seed)], oracle[point, 0].astype(np.float64))


def test_the_exact_recursions_are_the_library_solvers():
    from zoprl.games.exact import context_gap
    from zoprl.games.solvers import best_response_iteration, mirror_descent, nash_md

    T = 40
    with jax.enable_x64(True):
        P = exact_games(2)[1]
        pi0 = jnp.full(P.shape[:1], 0.1, jnp.float64)
        gaps, _ = jax.jit(exact_trajectories, static_argnums=2)(P, 20.0, T)
        md = mirror_descent(P, pi0, 20.0, tol=0.0, max_iterations=T)
        nmd = nash_md(P, pi0, 20.0, tol=0.0, max_iterations=T)
        br = best_response_iteration(P, pi0, 20.0, T)[-1]
        np.testing.assert_allclose(gaps[1, -1], md.gap, rtol=1e-9)
        np.testing.assert_allclose(gaps[2, -1], nmd.gap, rtol=1e-9)
        np.testing.assert_allclose(gaps[0, -1], context_gap(br, P, pi0, 20.0), rtol=1e-9)
        gaps = np.asarray(gaps)
    assert gaps[0, -1] > 1e-2 and gaps[1, -1] < gaps[1, 0] and gaps[3, -1] < 1e-3 * gaps[3, 0]


def test_the_cycling_measures_classify_known_trajectories():
    k = np.arange(101)
    slow = 0.1 * 0.999**k  # decreasing too slowly to count (ratio 0.975), monotone
    gaps = np.stack([0.5**k, np.full(101, 0.1), np.full(101, 0.1), 0.1 * 0.99**k, slow])
    dists = np.stack([0.5**k, 1.0 + 0.5 * (k % 2), np.full(101, 0.3), 0.1 * 0.99**k, slow])
    m = cycling_measures(gaps, dists)
    assert list(m["verdict"]) == ["converged", "cycles", "stalls", "decreasing", "stalls"]
    np.testing.assert_allclose(m["amplitude"][1:3], [0.5, 0.0])
    np.testing.assert_allclose(m["variation"][1], 25.0)  # 50 steps of 0.5
    np.testing.assert_allclose(m["variation"][4], m["amplitude"][4])
    np.testing.assert_allclose(m["ratio"][1:4], [1.0, 1.0, 0.99**25])
    np.testing.assert_allclose(m["mid_gap"][3], 0.1 * 0.99**50)
    np.testing.assert_allclose(m["gap_min"][:4], [0.5**100, 0.1, 0.1, 0.1 * 0.99**100])
    np.testing.assert_allclose(m["gap_max"][:4], [0.5**50, 0.1, 0.1, 0.1 * 0.99**50])
    np.testing.assert_allclose(m["distance_min"][1:3], [1.0, 0.3])


def _synthetic():
    """Exact arrays [eta, game, method, T + 1] for 2 skew games + Condorcet (final gaps 1e-2 and
    1e-4 on the skew games: geometric mean 1e-3), and a sampled table: 2 games x 3 seeds."""
    T, games = 8, 3
    shape = (len(ETAS), games, len(METHODS), T + 1)
    gaps = np.broadcast_to(np.full(T + 1, 0.1), shape).copy()
    gaps[:, 0, :, -1], gaps[:, 1, :, -1] = 1e-2, 1e-4
    dists = np.ones(shape)
    steps = {m: np.full((len(ETAS), games), 0.5) for m in METHODS}
    rows = []
    for label in ("self-play IPO", "Nash-MD"):
        for eta in ETAS:
            for game in (0, 1):
                for seed in range(3):
                    for iteration, value in ((0, 0.1), (5, 0.02), (10, 0.01 * (1 + seed))):
                        rows.append(
                            {"label": label, "hp.eta": eta, "oracle.seed": game, "seed": seed,
                             "hp.step_size": 0.1, "iteration": iteration,
                             "queries": 160 * iteration, "metric": "gap", "value": value}
                        )  # fmt: skip
    return exact_frames(gaps, dists, steps, stride=3), pd.DataFrame(rows)


def test_the_summary_and_the_figure_come_from_the_trajectories(tmp_path):
    (runs, curves), table = _synthetic()
    assert set(curves.iteration) == set(range(9))  # stride 3, then the last TAIL iterations
    lines = []
    paths = summarise(runs, curves, table, str(tmp_path), log=lines.append)
    assert all(os.path.getsize(p) > 0 for p in paths)
    assert any(p.endswith("nash_solvers.png") for p in paths)
    frame = pd.read_csv(tmp_path / "summary.csv")
    skew = frame[(frame.part == "exact") & (frame.family == "skew")]
    np.testing.assert_allclose(skew.gap, 1e-3, rtol=1e-12)
    assert (skew.n == 2).all() and (skew.decreasing == 2).all()  # 0.1, then a drop at T
    sampled = frame[frame.part == "sampled"].set_index(["method", "eta"])
    np.testing.assert_allclose(sampled.gap, 0.02)
    np.testing.assert_allclose(sampled.ratio, 1.0)  # gap(10) / gap(5): median of 0.5, 1, 1.5
    markdown = (tmp_path / "summary.md").read_text()
    assert markdown == summary_markdown(frame)
    assert markdown in "\n".join(lines) + "\n"
    assert "| exact | skew | self-play IPO | 1 | 0.5 | 2 | 0.001 [" in markdown
    np.testing.assert_allclose(skew.gap_min, 1e-4)  # over both games' last halves
    np.testing.assert_allclose(skew.gap_max, 0.1)
    np.testing.assert_allclose(skew.distance_min, 1.0)
    assert sampled.gap_min.isna().all()


@pytest.mark.skipif(not os.path.exists(RESULTS), reason="no committed results")
def test_the_committed_summary_table_is_read_from_the_committed_summary_csv():
    frame = pd.read_csv(os.path.join(RESULTS, "summary.csv"))
    with open(os.path.join(RESULTS, "summary.md")) as f:
        assert f.read() == summary_markdown(frame)
    assert set(frame.method) >= set(METHODS) and set(frame.part) == {"exact", "sampled"}
