"""Reproductions: every spec file validates in both profiles; the figures and summaries are
drawn from a results table; unknown names are refused."""

import os

import pandas as pd
import pytest

from zoprl.cli import main
from zoprl.experiment import SpecError, build_cells
from zoprl.reproduce import EXPERIMENTS, PROFILES, SPECS, figures, reproduce
from zoprl.reproduce.specs_io import load_profile

SPEC_NAMES = [n for n in EXPERIMENTS if os.path.exists(os.path.join(SPECS, f"{n}.toml"))]


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("name", SPEC_NAMES)
def test_every_reproduction_spec_builds_in_every_profile(name, profile):
    spec = load_profile(os.path.join(SPECS, f"{name}.toml"), profile)
    cells = build_cells(spec)  # validates everything, compiles nothing
    assert cells and spec.name == name
    if profile == "quick":
        assert spec.seeds >= 8
    if name == "gridworld-comparison":
        assert spec.seeds >= 16 and {c.reads_latent_reward for c in cells} == {True, False}


def test_profiles_override_the_quick_spec():
    quick = load_profile(os.path.join(SPECS, "gridworld-comparison.toml"), "quick")
    full = load_profile(os.path.join(SPECS, "gridworld-comparison.toml"), "full")
    assert full.seeds > quick.seeds and full.iterations > quick.iterations
    offline = {a.label: a for a in full.algorithms}["offline DPO"]
    assert offline.static["num_pairs"] == 64000


def test_summaries_and_figures_come_from_the_table(tiny_sweep, tmp_path):
    spec, result, _ = tiny_sweep
    table, manifest = result.table, result.manifest
    lines = []
    for name in ("comparison", "stochasticity", "links", "blocks"):
        out = tmp_path / name
        paths = getattr(figures, name)(table, manifest, str(out), lines.append)
        assert all(os.path.getsize(p) > 0 for p in paths)
        assert any(str(p).endswith(".png") for p in paths)
        assert not pd.read_csv(out / "summary.csv").empty
    budget = figures.value_at_budget(table, "value_gap", 4 * 4 * 3)  # after 4 iterations
    assert budget.run_id.nunique() == 8 and (budget.iteration == 4).all()
    ratio = table[table.metric == "value_ratio"]
    assert ((ratio.value > 0) & (ratio.value <= 1)).all()


def test_unknown_reproductions_and_profiles_are_refused(capsys):
    with pytest.raises(SpecError, match="unknown reproduction 'link' \\(did you mean 'links'"):
        reproduce("link")
    with pytest.raises(SpecError, match="unknown profile 'slow'"):
        reproduce("links", profile="slow")
    assert main(["reproduce", "rate"]) == 2
    assert "unknown reproduction 'rate'" in capsys.readouterr().err
