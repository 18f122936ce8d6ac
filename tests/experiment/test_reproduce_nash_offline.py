"""The nash-offline reproduction: its spec tunes beta alike at every coverage level and shares
one batch shape between tuning and evaluation, the choice and the slope table come from the
tables, the committed summary.md is the table of the committed summary.csv; and the offline
learner's ``data_size`` keeps exactly the first n pairs of its data set."""

import os

import jax
import numpy as np
import pandas as pd
import pytest

from zoprl.algorithms import nash_offline
from zoprl.algorithms.preference_game import sample_comparisons
from zoprl.envs import make
from zoprl.experiment.build import build_cells
from zoprl.games.generators import skew_game
from zoprl.games.models import empty_table, table_add
from zoprl.oracles import OracleParams, make_tensor_oracle, teacher_params
from zoprl.policies import tabular_softmax
from zoprl.reproduce.nash_offline import (
    COVERAGES,
    METHODS,
    choose_settings,
    difference_frame,
    difference_markdown,
    evaluation_sweep_spec,
    load_design,
    range_slope_frame,
    range_slope_markdown,
    summarise,
    summary_frame,
    summary_markdown,
    tuning_sweep_spec,
)

RESULTS = os.path.join(os.path.dirname(__file__), "..", "..", "results", "nash-offline")


def _chosen(spec, design, beta=0.5) -> pd.DataFrame:
    rows = [
        dict(coverage=c, reference=c.split(",")[0], sort_eta=s, beta=beta, damping=0.0)
        for c, s in (("uniform", 0.0), ("skewed", 0.0), ("skewed, sorted", 5.0))
    ]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_every_coverage_level_is_tuned_alike_and_shares_the_batch_shape(profile):
    spec, design = load_design(profile)
    assert [a.label for a in spec.algorithms] == ["uniform", "skewed"]
    assert all(a.name == "nash_offline" for a in spec.algorithms)
    assert spec.algorithms[0].search == spec.algorithms[1].search
    assert spec.tuning.metric == "gap" and spec.oracle.kind == "tensor"
    assert max(design["data_sizes"]) == spec.algorithms[0].static["num_pairs"]
    assert design["tuning_data_size"] in design["data_sizes"]
    assert not set(design["tuning_games"]) & set(design["games"])  # fresh evaluation games
    first = tuning_sweep_spec(spec, design)
    second = evaluation_sweep_spec(spec, design, _chosen(spec, design))
    assert second.first_seed == first.seeds == spec.tuning.seeds  # fresh data seeds
    for sweep in (first, second):
        for entry in sweep.algorithms:  # whole batches: one program shape, cached once
            runs = len(entry.grid_points) * sweep.seeds
            assert runs % design["batch"] == 0, (entry.label, runs)
    per_level = len(design["data_sizes"]) * 2 * len(design["games"])
    assert len(second.algorithms[1].grid_points) == 2 * per_level


@pytest.mark.slow
def test_both_sweeps_build_two_cells():
    spec, design = load_design("quick")
    first = tuning_sweep_spec(spec, design)
    second = evaluation_sweep_spec(spec, design, _chosen(spec, design))
    assert len(build_cells(first)) == len(build_cells(second)) == 2


def test_the_choice_is_the_lowest_mean_final_gap_per_coverage_level():
    rows = []
    for run, (label, sort_eta, beta, value) in enumerate(
        [
            ("uniform", 0.0, 0.1, 0.3),
            ("uniform", 0.0, 0.1, 0.1),  # mean 0.2
            ("uniform", 0.0, 1.0, 0.25),
            ("uniform", 0.0, 1.0, 0.25),  # mean 0.25
            ("skewed", 5.0, 0.1, 0.5),
            ("skewed", 5.0, 1.0, 0.4),
        ]
    ):
        for iteration, v in ((0, 9.0), (10, value)):
            rows.append(
                {
                    "run_id": run,
                    "label": label,
                    "oracle.sort_eta": sort_eta,
                    "hp.beta": beta,
                    "hp.damping": 0.0,
                    "iteration": iteration,
                    "queries": 0,
                    "trajectories": 0,
                    "metric": "gap",
                    "value": v,
                }
            )
    spec, _ = load_design("quick")
    chosen = choose_settings(pd.DataFrame(rows), spec).set_index("coverage")
    assert chosen.loc["uniform", "beta"] == 0.1 and chosen.loc["uniform", "score"] == 0.2
    assert chosen.loc["uniform", "stderr"] == pytest.approx(0.1)
    assert chosen.loc["skewed, sorted", "beta"] == 1.0


def _table() -> pd.DataFrame:
    """Final gaps: pessimistic c n^(-1/2), fit-then-solve 2 c n^(-1) per game (c = 1 + game),
    two data seeds at c (1 +- 0.1), n in 16, 64, 256, three coverage levels."""
    rows = []
    run = 0
    for coverage in COVERAGES:
        label, sort_eta = coverage.split(",")[0], 5.0 if "sorted" in coverage else 0.0
        for beta in (0.5, 0.0):
            for n in (16, 64, 256):
                for game in range(4):
                    for seed, noise in ((0, 0.9), (1, 1.1)):
                        c = (1.0 + game) * noise
                        gap = c * n**-0.5 if beta else 2 * c / n
                        for iteration, value in ((0, 1.0), (10, gap)):
                            rows.append(
                                {
                                    "run_id": run,
                                    "label": label,
                                    "oracle.sort_eta": sort_eta,
                                    "oracle.seed": game,
                                    "hp.beta": beta,
                                    "hp.data_size": n,
                                    "seed": seed,
                                    "iteration": iteration,
                                    "metric": "gap",
                                    "value": value,
                                }
                            )
                        run += 1
    return pd.DataFrame(rows)


def test_the_summary_slopes_and_the_figure_come_from_the_table(tmp_path):
    lines = []
    paths = summarise(_table(), str(tmp_path), ranges=[[16, 64], [64, 256]], log=lines.append)
    assert all(os.path.getsize(p) > 0 for p in paths)
    assert any(p.endswith("nash_offline.png") for p in paths)
    frame = pd.read_csv(tmp_path / "summary.csv")
    assert list(frame.coverage) == [c for c in COVERAGES for _ in METHODS]
    pess = frame[frame.method == "pessimistic"].iloc[0]
    fit = frame[frame.method == "fit-then-solve"].iloc[0]
    # exact power laws: slope and every bootstrap slope are the exponent
    np.testing.assert_allclose([pess.slope, pess.slope_low, pess.slope_high], -0.5, atol=1e-9)
    np.testing.assert_allclose([fit.slope, fit.slope_low, fit.slope_high], -1.0, atol=1e-9)
    assert bool(pess.contains_theory) and not bool(fit.contains_theory)
    # mean over games of (1 + game) / 4 at n = 16 is 2.5 / 4; at n = 256, 2 * 2.5 / 256
    np.testing.assert_allclose([pess.gap_first, fit.gap_last], [2.5 / 4, 5.0 / 256])
    assert pess.n_first == 16 and pess.n_last == 256 and pess.games == 4
    assert (tmp_path / "summary.md").read_text() == summary_markdown(frame)
    # paired by game: c (n^(-1/2) - 2 / n), mean over games of c = 1 + game is 2.5
    diffs = pd.read_csv(tmp_path / "differences.csv")
    assert len(diffs) == len(COVERAGES) * 3 and (diffs.games == 4).all()
    expected = [2.5 * (n**-0.5 - 2 / n) for n in (16, 64, 256)] * len(COVERAGES)
    np.testing.assert_allclose(diffs.difference, expected)
    assert diffs.excludes_zero.all()
    assert (tmp_path / "differences.md").read_text() == difference_markdown(diffs)
    slopes = pd.read_csv(tmp_path / "slopes.csv")
    assert len(slopes) == len(COVERAGES) * len(METHODS) * 2 and (slopes.sizes == 2).all()
    exponent = np.where(slopes.method == "pessimistic", -0.5, -1.0)
    np.testing.assert_allclose(slopes.slope, exponent, atol=1e-9)
    assert (tmp_path / "slopes.md").read_text() == range_slope_markdown(slopes)


def test_the_paired_difference_pairs_by_game():
    """Game 0 gains 0.2 and game 1 loses 0.2: the mean is 0 and the interval holds 0."""
    rows = [
        dict(coverage="uniform", method=m, pairs=64, game=g, value=v)
        for m, g, v in (
            ("pessimistic", 0, 0.1),
            ("fit-then-solve", 0, 0.3),
            ("pessimistic", 1, 0.5),
            ("fit-then-solve", 1, 0.3),
        )
    ]
    frame = difference_frame(pd.DataFrame(rows)).iloc[0]
    assert frame.difference == pytest.approx(0.0) and frame.games == 2
    assert not frame.excludes_zero


def test_the_range_slopes_fit_only_their_range():
    """A gap of n^(-1/2) up to n = 64, then a tail of slope -1: each range gets its exponent."""
    rows = []
    for n in (16, 32, 64, 128, 256):
        value = n**-0.5 if n <= 64 else 64**-0.5 * 64 / n
        for game in range(3):
            rows.append(dict(coverage="uniform", method="fit-then-solve", pairs=n, game=game,
                             value=value * (1 + game)))  # fmt: skip
    slopes = range_slope_frame(pd.DataFrame(rows), [(16, 64), (64, 256)])
    np.testing.assert_allclose(slopes.slope, [-0.5, -1.0], atol=1e-9)
    assert "slope, n = 16-64" in range_slope_markdown(slopes)


def test_summary_frame_reads_the_chosen_beta():
    from zoprl.reproduce.nash_offline import game_points

    chosen = pd.DataFrame({"coverage": list(COVERAGES), "beta": [0.1, 0.2, 0.3]})
    frame = summary_frame(game_points(_table()), chosen)
    pess = frame[frame.method == "pessimistic"].set_index("coverage").beta
    assert list(pess) == [0.1, 0.2, 0.3]
    assert (frame[frame.method == "fit-then-solve"].beta == 0.0).all()


@pytest.mark.parametrize(
    "name, markdown",
    [
        ("summary", summary_markdown),
        ("differences", difference_markdown),
        ("slopes", range_slope_markdown),
    ],
)
def test_the_committed_tables_are_those_of_the_committed_csvs(name, markdown):
    frame = pd.read_csv(os.path.join(RESULTS, f"{name}.csv"))
    with open(os.path.join(RESULTS, f"{name}.md")) as f:
        text = f.read()
    assert text == markdown(frame)
    with open(os.path.join(RESULTS, "..", "..", "README.md")) as f:
        assert text.strip() in f.read()  # the README shows every table verbatim


def test_data_size_keeps_exactly_the_first_n_pairs_and_charges_them():
    env, env_params = make("ContextualBandit", num_contexts=2, num_actions=3)
    policy = tabular_softmax(env.num_states, env.num_actions)
    oracle = make_tensor_oracle(3)
    oracle_params = OracleParams(skew_game(env, env_params), teacher_params())
    algo = nash_offline(env, policy, oracle, num_pairs=64, behaviour="uniform")
    key = jax.random.key(3)
    init = jax.jit(algo.init)
    state = init(key, algo.hparams(eta=5.0, data_size=16.0), env_params, oracle_params)
    uniform = jax.numpy.zeros((2, 3))
    sample = jax.jit(
        lambda k: sample_comparisons(
            algo.init.args[0].sampler, k, uniform, uniform, env_params, oracle_params
        )[0]
    )
    data = sample(key)
    first = jax.tree.map(lambda x: x[:16], data)
    expected = table_add(empty_table(2, 3, state.table.counts.dtype), first)
    np.testing.assert_allclose(state.table.counts, expected.counts)
    np.testing.assert_allclose(state.table.wins, expected.wins)
    assert int(state.counts.trajectories) == 32 and int(state.counts.queries) == 16 * 3
    whole = init(key, algo.hparams(eta=5.0), env_params, oracle_params)
    assert int(whole.counts.queries) == 64 * 3
    assert float(whole.table.counts.sum()) > float(state.table.counts.sum())
