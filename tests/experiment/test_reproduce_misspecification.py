"""The reward-misspecification reproduction: its spec tunes every method with equal effort and
reuses the tuning's programs, its summary and figure come from the table, and the committed
summary.md is the table of the committed summary.csv."""

import os

import numpy as np
import pandas as pd
import pytest

from zoprl.reproduce import SPECS
from zoprl.reproduce.misspecification import (
    SETTINGS,
    split_label,
    summarise,
    summary_markdown,
)
from zoprl.reproduce.specs_io import load_profile

RESULTS = os.path.join(os.path.dirname(__file__), "..", "..", "results", "reward-misspecification")


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_every_method_is_tuned_alike_and_the_evaluation_reuses_the_tuning_programs(profile):
    spec = load_profile(os.path.join(SPECS, "reward-misspecification.toml"), profile)
    assert spec.seeds == spec.tuning.points * spec.tuning.seeds
    assert spec.tuning.metric == "gap_closed" and spec.evaluation.name == "teacher"
    settings = [split_label(a.label)[1] for a in spec.algorithms]
    assert set(settings) == set(SETTINGS.values())
    assert all(a.search for a in spec.algorithms)  # the ceilings too
    for entry, setting in zip(spec.algorithms, settings):
        non_markovian = entry.static.get("oracle.kind") == "reach_avoid"
        assert non_markovian == setting.startswith("(i)"), entry.label
    names = {(s, a.name) for s, a in zip(settings, spec.algorithms)}
    for setting in SETTINGS.values():
        for name in ("zpg", "zbcpg", "zspo", "dpo_online", "rlhf_ppo_online"):
            assert (setting, name) in names


def test_labels_name_their_setting():
    assert split_label("online RLHF-PPO, linear (F = 3) (ii)") == (
        "online RLHF-PPO, linear (F = 3)",
        SETTINGS["(ii)"],
    )
    with pytest.raises(ValueError, match="must end in one of"):
        split_label("ZPG")


def _table() -> pd.DataFrame:
    """Two settings, 3 seeds, iterations 0, 10, 20; ZPG asks 100 queries an iteration, RLHF
    150 (so its last record within ZPG's 2000 is iteration 10), PPO none."""
    rows = []
    runs = [("ZPG (i)", 100, False), ("PPO (i)", 0, True), ("ZPG (ii)", 100, False)]
    runs += [("online RLHF-PPO, linear (F = 3) (ii)", 150, False)]
    for r, (label, per_iteration, ceiling) in enumerate(runs):
        for seed in range(3):
            for iteration in (0, 10, 20):
                for metric, scale in (("gap_closed", 1.0), ("value_ratio", 0.5)):
                    value = scale * (iteration / 20 + 0.1 * seed + 0.01 * r)
                    rows.append(
                        dict(
                            run_id=3 * r + seed,
                            label=label,
                            reads_latent_reward=ceiling,
                            seed=seed,
                            iteration=iteration,
                            queries=per_iteration * iteration,
                            trajectories=64 * iteration,
                            metric=metric,
                            value=value,
                        )
                    )
    return pd.DataFrame(rows)


def test_the_summary_and_the_figure_come_from_the_table(tmp_path):
    lines = []
    paths = summarise(_table(), {}, str(tmp_path), lines.append)
    assert all(os.path.getsize(p) > 0 for p in paths)
    assert any(p.endswith("misspecification.png") for p in paths)
    frame = pd.read_csv(tmp_path / "summary.csv")
    row = frame.set_index(["setting", "method"]).loc
    # ZPG at the common budget, 2000 queries: its last iteration; RLHF: iteration 10
    np.testing.assert_allclose(row[(SETTINGS["(i)"], "ZPG")]["gap_closed"], 1.1)
    rlhf = row[(SETTINGS["(ii)"], "online RLHF-PPO, linear (F = 3)")]
    np.testing.assert_allclose([rlhf.gap_closed, rlhf.queries], [0.63, 1500])
    ppo = row[(SETTINGS["(i)"], "PPO")]
    assert ppo.ceiling and ppo.queries == 0 and ppo.gap_closed == pytest.approx(1.11)
    np.testing.assert_allclose(row[(SETTINGS["(ii)"], "ZPG")]["value_ratio"], 0.5 * 1.12)
    markdown = (tmp_path / "summary.md").read_text()
    assert markdown == summary_markdown(frame)
    assert "| ZPG | 1.10 [0.85, 1.35] | 1.12 [0.87, 1.37] |" in markdown
    assert "| online RLHF-PPO, linear (F = 3) | — | 0.63 [0.38, 0.88] |" in markdown
    assert markdown.splitlines()[-1].startswith("| PPO (ceiling) | 1.11")
    assert markdown in "\n".join(lines) + "\n"


@pytest.mark.skipif(not os.path.exists(RESULTS), reason="no committed results")
def test_the_committed_summary_table_is_read_from_the_committed_summary_csv():
    frame = pd.read_csv(os.path.join(RESULTS, "summary.csv"))
    with open(os.path.join(RESULTS, "summary.md")) as f:
        assert f.read() == summary_markdown(frame)
