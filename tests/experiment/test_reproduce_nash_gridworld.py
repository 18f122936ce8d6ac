"""The nash-gridworld reproduction: its spec tunes every method alike on the outcome teacher and
reuses the tuning's programs, its exact reference rows (pi0, pi*) and summary come from the
game and the table, and the committed summary.md is the table of the committed summary.csv."""

import os

import numpy as np
import pandas as pd
import pytest

from zoprl.reproduce import SPECS
from zoprl.reproduce.nash_gridworld import (
    OUTCOMES,
    exact_references,
    summarise,
    summary_markdown,
)
from zoprl.reproduce.specs_io import load_profile

RESULTS = os.path.join(os.path.dirname(__file__), "..", "..", "results", "nash-gridworld")


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_every_method_is_tuned_alike_on_the_outcome_teacher(profile):
    spec = load_profile(os.path.join(SPECS, "nash-gridworld.toml"), profile)
    assert spec.seeds == spec.tuning.points * spec.tuning.seeds
    assert spec.tuning.metric == "gap" and spec.evaluation.name == "nash_mdp"
    assert spec.oracle.kind == "outcome" and spec.evaluation.options["eta"] > 0
    names = [a.name for a in spec.algorithms]
    assert names == ["zpg", "zspo", "dpo_online", "rlhf_ppo_online"]
    assert all(a.search and not a.hparams for a in spec.algorithms)


@pytest.mark.slow
def test_the_exact_references_are_pi0_and_the_equilibrium():
    spec = load_profile(os.path.join(SPECS, "nash-gridworld.toml"), "quick")
    rows = exact_references(spec).set_index("method")
    start, star = rows.loc["pi0 (uniform)"], rows.loc["pi* (equilibrium)"]
    assert start.kl_to_reference == 0.0 and start.gap > 0.05
    assert abs(star.gap) < 1e-12 and star.win_rate_vs_equilibrium == pytest.approx(0.5, abs=1e-12)
    laws = rows[[f"outcome_{o}" for o in OUTCOMES]].sum(axis=1)
    np.testing.assert_allclose(laws, 1.0, rtol=1e-12)


def _table() -> pd.DataFrame:
    """Two methods, 3 seeds, iterations 0, 10, 20; A asks 100 queries an iteration, B 150 (so
    its last record within A's 2000 is iteration 10)."""
    rows = []
    metrics = ("gap", "kl_to_reference", "win_rate_vs_equilibrium")
    metrics += tuple(f"outcome_{o}" for o in OUTCOMES)
    for r, (label, per_iteration) in enumerate([("A", 100), ("B", 150)]):
        for seed in range(3):
            for iteration in (0, 10, 20):
                for metric in metrics:
                    value = 0.25 if metric.startswith("outcome_") else 0.1 * seed + iteration
                    rows.append(
                        dict(
                            run_id=3 * r + seed,
                            label=label,
                            seed=seed,
                            iteration=iteration,
                            queries=per_iteration * iteration,
                            metric=metric,
                            value=value + 0.01 * r,
                        )
                    )
    return pd.DataFrame(rows)


def test_the_summary_and_the_figure_come_from_the_table(tmp_path):
    lines = []
    paths = summarise(_table(), str(tmp_path), log=lines.append)
    assert all(os.path.getsize(p) > 0 for p in paths)
    assert any(p.endswith("nash-gridworld.png") for p in paths)
    frame = pd.read_csv(tmp_path / "summary.csv")
    row = frame.set_index("method").loc
    np.testing.assert_allclose([row["A"].gap, row["A"].queries], [20.1, 2000])
    np.testing.assert_allclose([row["B"].gap, row["B"].queries], [10.11, 1500])
    markdown = (tmp_path / "summary.md").read_text()
    assert markdown == summary_markdown(frame)
    assert "| B | 10.110 [9.862, 10.358] |" in markdown
    assert markdown in "\n".join(lines) + "\n"


@pytest.mark.skipif(not os.path.exists(RESULTS), reason="no committed results")
def test_the_committed_summary_table_is_read_from_the_committed_summary_csv():
    frame = pd.read_csv(os.path.join(RESULTS, "summary.csv"))
    with open(os.path.join(RESULTS, "summary.md")) as f:
        assert f.read() == summary_markdown(frame)
    assert set(frame.method) >= {"ZPG", "ZSPO", "online DPO", "online RLHF-PPO", "pi0 (uniform)"}
