"""The nash-intransitive reproduction: its spec tunes every method alike on one game and runs
the chosen values on every game, its exact limits (float64) separate the Bradley-Terry pipeline
from the general-preference learners on the Condorcet trap, its summary and figure come from the
table, and the committed summary.md is the table of the committed summary.csv."""

import json
import os

import numpy as np
import pandas as pd
import pytest

from zoprl.experiment import build_cells
from zoprl.reproduce.nash_intransitive import (
    BT,
    CONDORCET,
    acceptance,
    bt_projection,
    build_spec,
    exact_limits,
    extragradient_exact,
    game_catalogue,
    label_games,
    load_spec,
    majority_cycles,
    per_game_frame,
    per_game_markdown,
    summarise,
    summary_markdown,
    with_tuning_game,
)

RESULTS = os.path.join(os.path.dirname(__file__), "..", "..", "results", "nash-intransitive")
GP = ("online Nash (main + enhancer)", "extragradient self-play")


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_every_method_is_tuned_alike_and_every_game_is_a_grid_point(profile):
    raw, games = load_spec(profile)
    catalogue = game_catalogue(raw["environment"], games)
    spec = build_spec(raw, catalogue)
    assert build_cells(spec)  # validates everything, compiles nothing
    assert spec.seeds == spec.tuning.points * spec.tuning.seeds
    assert spec.tuning.metric == "gap" and spec.tuning.criterion == "final"
    assert spec.evaluation.name == "nash" and spec.oracle.options["generator"] == "given"
    assert [a.name for a in spec.algorithms] == [
        "bt_pipeline",
        "nash_online",
        "extragradient_self_play",
    ]
    assert all(a.search and not set(a.search) & set(a.hparams) for a in spec.algorithms)
    eta = spec.evaluation.options["eta"]
    assert all(a.hparams["eta"] == eta for a in spec.algorithms)
    pairs = [a.static["num_pairs"] for a in spec.algorithms]
    assert pairs == [pairs[0], pairs[0], pairs[0] // 2]  # equal queries per iteration
    families = list(catalogue.family.drop_duplicates())
    assert families[0] == "Bradley-Terry (kappa = 0)" and families[-1] == CONDORCET
    assert len(catalogue) == len(games["kappas"]) * len(games["game_seeds"]) + 1
    tuning_game = catalogue.attrs["tuning_preference"]
    assert not any(np.allclose(tuning_game, p) for p in catalogue.preference)  # fresh games


def test_the_bt_projection_of_a_bt_game_is_its_reward_and_extragradient_solves_the_trap():
    import jax
    import jax.numpy as jnp

    from zoprl.games import equilibrium, gap
    from zoprl.games.instances import bradley_terry, condorcet_cycle

    with jax.enable_x64(True):
        rewards = jnp.asarray([[0.3, -1.0, 0.7], [1.2, 0.0, -0.4]])
        pi0 = jnp.full((2, 3), 1.0 / 3)
        fitted = bt_projection(bradley_terry(rewards), pi0, 0.0)
        np.testing.assert_allclose(
            fitted - fitted.mean(-1, keepdims=True),
            rewards - rewards.mean(-1, keepdims=True),
            atol=1e-8,
        )
        trap = condorcet_cycle((0.9, 0.9, 0.6), 2, jnp.float64)
        log_pi = extragradient_exact(trap, pi0, 20.0, 0.5, 0.0, 2000)
        assert float(gap(jnp.exp(log_pi), trap, pi0, 20.0)) < 1e-10
        star = equilibrium(trap, pi0, 20.0)
        np.testing.assert_allclose(jnp.exp(log_pi), star, atol=1e-6)


def test_with_exact_probabilities_only_the_bt_pipeline_stays_away_on_the_condorcet_trap():
    raw, games = load_spec("quick")
    games = {**games, "kappas": [0.0], "game_seeds": [1]}
    catalogue = game_catalogue(raw["environment"], games)
    chosen = {
        BT: {"reward_scale": 0.25, "l2": 1e-6},
        "extragradient self-play": {"step_size": 0.5, "step_decay": 0.0},
    }
    exact = exact_limits(catalogue, chosen, 20.0, 500)
    ok, text = acceptance(exact)
    assert ok, text
    trap = exact[exact.family == CONDORCET].set_index("method").exact_gap
    assert trap[BT] > trap[f"{BT}, best eta'"] > 0.01  # no eta' rescues the reward model
    broken = exact.assign(exact_gap=np.where(exact.method == GP[1], 0.5, exact.exact_gap))
    assert not acceptance(broken)[0]


def test_majority_cycles_and_the_per_game_table():
    trap = np.asarray([[[0.5, 0.9, 0.4], [0.1, 0.5, 0.9], [0.6, 0.1, 0.5]]])
    ranked = np.asarray([[[0.5, 0.9, 0.6], [0.1, 0.5, 0.9], [0.4, 0.1, 0.5]]])
    assert majority_cycles(np.concatenate([trap, ranked])) == 1
    assert majority_cycles(ranked) == 0 and majority_cycles(np.full((2, 4, 4), 0.5)) == 0
    raw, games = load_spec("quick")
    games = {**games, "kappas": [0.0], "game_seeds": [1]}
    catalogue = with_tuning_game(game_catalogue(raw["environment"], games))
    assert list(catalogue.cyclic_contexts) == [0, 2, 0]  # BT game, Condorcet trap, tuning game
    chosen = {
        BT: {"reward_scale": 0.25, "l2": 1e-4},
        "extragradient self-play": {"step_size": 0.5, "step_decay": 0.0},
    }
    exact = exact_limits(catalogue, chosen, 20.0, 500)
    frame = per_game_frame(exact, catalogue)
    assert list(frame.game) == list(catalogue.game)
    assert (frame.bt_best <= frame.bt_chosen * (1 + 1e-9) + 1e-15).all()  # BT game: ridge only
    assert 0.1 < frame.best_scale[0] < 0.4  # a Bradley-Terry game: eta' near eta / 4
    markdown = per_game_markdown(frame)
    assert "| Condorcet trap | 2 of 2 | 5.22e-02 |" in markdown
    _, acceptance_text = acceptance(exact)
    assert "best eta' / eta" not in acceptance_text


def _table() -> pd.DataFrame:
    """Two families, two methods, 3 runs each; gap = 1 / queries (A, slope -1) or 0.01 (B, a
    plateau), times 1 + 0.1 seed."""
    rows = []
    run = 0
    for family in ("F1", "F2"):
        for label in ("A", "B"):
            for seed in range(3):
                for iteration in range(0, 101, 10):
                    queries = 100.0 * iteration
                    gap = 0.01 if label == "B" else 1.0 / max(queries, 1.0)
                    rows.append(
                        dict(run_id=run, label=label, seed=seed, family=family,
                             iteration=iteration, queries=queries, metric="gap",
                             value=gap * (1 + 0.1 * seed))
                    )  # fmt: skip
                run += 1
    return pd.DataFrame(rows)


def test_the_summary_slopes_and_figure_come_from_the_table(tmp_path):
    exact = pd.DataFrame(
        [
            {"game": f, "family": f, "method": m, "exact_gap": v}
            for f in ("F1", "F2")
            for m, v in (("A", 0.0), ("B", 0.01), ("C", 0.02))
        ]
    )
    lines = []
    paths = summarise(_table(), exact, str(tmp_path), log=lines.append)
    assert all(os.path.getsize(p) > 0 for p in paths)
    assert any(p.endswith("nash_intransitive.png") for p in paths)
    frame = pd.read_csv(tmp_path / "summary.csv")
    row = frame[frame.family == "F2"].set_index("method").loc
    np.testing.assert_allclose(row["A"].gap, 1.1e-4)  # mean of (1, 1.1, 1.2) / 10,000
    np.testing.assert_allclose([row["A"].slope, row["B"].slope], [-1.0, 0.0], atol=1e-12)
    assert row["A"].queries == 10000 and row["A"].n == 3
    assert np.isnan(row["C"].gap) and row["C"].exact_gap == 0.02  # an exact-only row
    markdown = (tmp_path / "summary.md").read_text()
    assert markdown == summary_markdown(frame)
    assert "| F1 | B | 1.10e-02 [" in markdown and "| F1 | C | – | – | 2.00e-02 |" in markdown
    assert markdown in "\n".join(lines) + "\n"


def test_games_are_read_back_from_the_tables_json_tensors():
    catalogue = pd.DataFrame(
        {
            "game": ["g0", "g1"],
            "family": ["f", "f"],
            "kappa": [0.0, 1.0],
            "preference": [np.full((1, 2, 2), 0.5), np.asarray([[[0.5, 0.7], [0.3, 0.5]]])],
        }
    )
    stored = [json.dumps(np.float32(p).tolist()) for p in catalogue.preference[::-1]]
    table = pd.DataFrame({"run_id": [0, 1, 1], "oracle.preference": [stored[0], *stored[1:] * 2]})
    assert list(label_games(table, catalogue).game) == ["g1", "g0", "g0"]


@pytest.mark.skipif(not os.path.exists(RESULTS), reason="no committed results")
def test_the_committed_summary_table_is_read_from_the_committed_summary_csv():
    frame = pd.read_csv(os.path.join(RESULTS, "summary.csv"))
    with open(os.path.join(RESULTS, "summary.md")) as f:
        assert f.read() == summary_markdown(frame)
    assert set(frame.method) >= {BT, *GP}
    trap = frame[frame.family == CONDORCET].set_index("method").exact_gap
    assert trap[BT] > 0 and all(trap[m] < 1e-3 for m in GP)
