"""The nash-online reproduction: its spec gives every learner the evaluator's eta and tunes the
knobs left alike at one common query budget (online cells one per enhancer, the offline
learners' data sets exactly that budget), its summary and slopes come from the table with known
answers, and the committed summary.md is the table of the committed summary.csv."""

import os

import numpy as np
import pandas as pd
import pytest

from zoprl.algorithms.nash_online import ENHANCERS
from zoprl.reproduce import SPECS
from zoprl.reproduce.nash_online import (
    REFERENCE,
    offline_label,
    slope_frame,
    summarise,
    summary_frame,
    summary_markdown,
)
from zoprl.reproduce.specs_io import load_profile

RESULTS = os.path.join(os.path.dirname(__file__), "..", "..", "results", "nash-online")


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_every_learner_is_tuned_alike_at_one_common_budget(profile):
    spec = load_profile(os.path.join(SPECS, "nash-online.toml"), profile)
    assert spec.seeds == spec.tuning.points * spec.tuning.seeds
    assert spec.tuning.metric == "gap" and spec.tuning.criterion == "final"
    assert spec.evaluation.name == "nash" and spec.oracle.kind == "tensor"
    assert spec.oracle.options["sort_eta"] == spec.evaluation.options["eta"]
    assert len(spec.grid["oracle.seed"]) >= 8
    # one batch shape for all: a learner with nothing to tune runs games x tuning seeds
    assert spec.max_runs_per_batch == len(spec.grid["oracle.seed"]) * spec.tuning.seeds
    online = [a for a in spec.algorithms if a.name == "nash_online"]
    offline = [a for a in spec.algorithms if a.name == "nash_offline"]
    assert tuple(a.static["enhancer"] for a in online) == ENHANCERS and len(offline) == 2
    budget = spec.tuning.budget["queries"]
    votes = spec.oracle.num_queries
    for entry in online:
        assert spec.iterations * entry.static["num_pairs"] * votes == budget
    tuned, fit_then_solve = offline
    assert max(tuned.static_grid["num_pairs"]) * votes == budget
    assert fit_then_solve.static["num_pairs"] * votes == budget
    assert fit_then_solve.hparams["beta"] == 0 and not fit_then_solve.search
    assert tuned.label == "offline" and fit_then_solve.label.startswith("offline ")
    assert set(tuned.search) == {"beta"} and tuned.search["beta"] == online[1].search["beta"]
    for entry in offline:
        assert entry.static["behaviour"] == "reference"
    for entry in spec.algorithms:  # the same game: the same pi0 and eta for every learner
        assert entry.static["reference"] == "skewed"
        assert entry.static["reference_strength"] == online[0].static["reference_strength"]
        assert entry.hparams["eta"] == spec.evaluation.options["eta"]
        assert "eta" not in entry.search
    assert set(online[0].search) == {"lam"} and set(online[1].search) == {"lam", "beta"}
    assert not any(entry.search for entry in online[2:])


def _table() -> pd.DataFrame:
    """Games 0, 1 x seeds 0, 1, 2. Online: 100 queries a round, iterations 0-4, gap
    c (1 + 0.2 g) / sqrt(queries) (slope exactly -1/2; c = 1 for (a), 2 for self-play),
    0.5 + 0.1 g at iteration 0. Offline: 200 queries, gap 0.2 + 0.1 g + 0.01 s; a second
    offline cell over the budget of 400, and a fit-then-solve cell at 200 with the same gaps."""
    rows = []
    cells = [("online (a) uncertainty", None), ("online (d) self-play", None)]
    cells += [("offline[num_pairs=200]", 200), ("offline[num_pairs=800]", 800)]
    cells.append(("offline fit-then-solve", 200))
    run_id = 0
    for label, data in cells:
        for game in (0, 1):
            for seed in range(3):
                for iteration in range(5):
                    queries = 100 * iteration if data is None else data
                    if data is not None:
                        value = 0.2 + 0.1 * game + 0.01 * seed
                    elif iteration == 0:
                        value = 0.5 + 0.1 * game
                    else:
                        scale = 2.0 if "self-play" in label else 1.0
                        value = scale * (1 + 0.2 * game) / np.sqrt(queries)
                    for metric in ("gap", "kl_to_reference", "win_rate_vs_equilibrium"):
                        rows.append(
                            {"run_id": run_id, "label": label, "oracle.seed": game,
                             "seed": seed, "iteration": iteration, "queries": queries,
                             "metric": metric, "value": value}
                        )  # fmt: skip
                run_id += 1
    return pd.DataFrame(rows)


def test_the_summary_slopes_and_figure_come_from_the_table(tmp_path):
    table = _table()
    assert offline_label(table, 400) == "offline[num_pairs=200]"
    lines = []
    paths = summarise(table, str(tmp_path), 400, log=lines.append)
    assert all(os.path.getsize(p) > 0 for p in paths)
    assert any(p.endswith("nash_online.png") for p in paths)
    frame = pd.read_csv(tmp_path / "summary.csv").set_index("method")
    assert list(frame.index[:2]) == ["online (a) uncertainty", "online (d) self-play"]
    assert set(frame.index[2:4]) == {"offline (200 pairs of pi0)", "offline fit-then-solve"}
    assert frame.index[4] == REFERENCE
    np.testing.assert_allclose(frame.gap, [0.055, 0.11, 0.26, 0.26, 0.55])
    np.testing.assert_allclose(frame.gap_minus_offline, [-0.205, -0.15, 0.0, 0.0, 0.29])
    np.testing.assert_allclose(frame.gap_minus_self_play, [-0.055, 0.0, 0.15, 0.15, 0.44])
    np.testing.assert_allclose(frame.queries, [400, 400, 200, 200, 0])
    np.testing.assert_allclose(frame.games, [2, 2, 2, 2, 2])
    half = 12.7062047 * 0.05  # t_{0.975, 1} * std(0.21, 0.31) / sqrt(2)
    np.testing.assert_allclose(frame.loc["offline (200 pairs of pi0)", "gap_high"], 0.26 + half)
    markdown = (tmp_path / "summary.md").read_text()
    assert markdown == summary_markdown(frame.reset_index())
    row = "| offline (200 pairs of pi0) | 200 | 0.260 [-0.375, 0.895] | 0.000 [0.000, 0.000] |"
    assert row in markdown
    assert markdown in "\n".join(lines) + "\n"
    slopes = pd.read_csv(tmp_path / "slopes.csv")
    assert list(slopes.method) == ["online (a) uncertainty", "online (d) self-play"]
    np.testing.assert_allclose(slopes[["slope", "low", "high"]], -0.5, atol=1e-9)
    np.testing.assert_allclose(slopes[["low_x", "high_x"]].iloc[0], [100, 400])


def test_without_self_play_the_paired_column_is_a_dash():
    table = _table()
    table = table[table.label != "online (d) self-play"]
    frame = summary_frame(table, 400)
    assert frame.gap_minus_self_play.isna().all()
    assert "| 0.000 [0.000, 0.000] | - |" in summary_markdown(frame)


def test_a_slope_that_is_not_one_half_is_reported_as_it_is():
    table = _table()
    gaps = table.label.str.startswith("online") & (table.queries > 0)
    table.loc[gaps, "value"] = table.loc[gaps, "queries"] ** -1.0
    assert slope_frame(table, 400, num_resamples=50).slope.iloc[0] == pytest.approx(-1.0)


@pytest.mark.skipif(not os.path.exists(RESULTS), reason="no committed results")
def test_the_committed_summary_table_is_read_from_the_committed_summary_csv():
    frame = pd.read_csv(os.path.join(RESULTS, "summary.csv"))
    with open(os.path.join(RESULTS, "summary.md")) as f:
        assert f.read() == summary_markdown(frame)
    assert {f"online ({c})" for c in "abcde"} <= {m[:10] for m in frame.method}
    assert frame.method.str.startswith("offline").sum() == 2 and REFERENCE in set(frame.method)
    assert "offline fit-then-solve" in set(frame.method)
