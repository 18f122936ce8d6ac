"""The committed quick results of the bilevel reproductions (issue 15): the penalty method with
sampled gradients improves the true return over its start on every seed of every quick profile
that runs it (bilevel-shift, bilevel-rates, bilevel-neural), the
slope tables have the columns of results/rates/slopes.csv, and the summaries recompute from the
committed tables (no training: pandas only)."""

import pathlib

import numpy as np
import pandas as pd
import pytest

from zoprl.reproduce.bilevel.summaries import common_budget, improved_seeds, rate_slopes

RESULTS = pathlib.Path(__file__).resolve().parents[1] / "results"


def table(name: str) -> pd.DataFrame:
    path = RESULTS / name / "evaluation" / "results.parquet"
    return pd.read_parquet(path if path.exists() else RESULTS / name / "results.parquet")


@pytest.mark.parametrize(
    "name, label",
    [
        ("bilevel-shift", "penalty (bilevel)"),
        ("bilevel-rates", "penalty (sampled)"),
        ("bilevel-neural", "penalty (bilevel)"),
    ],
)
def test_the_sampled_penalty_method_improves_on_its_start_on_every_seed(name, label):
    values = table(name)
    values = values[(values.metric == "value") & (values.label == label)]
    start = values[values.iteration == 0].set_index("seed")["value"]
    end = values[values.iteration == values.iteration.max()].set_index("seed")["value"]
    assert len(start) >= 8 and bool(np.all(end > start.reindex(end.index))), (start, end)
    improved = improved_seeds(table(name), common_budget(table(name)))
    assert improved[label] == f"{len(start)} / {len(start)}"


@pytest.mark.parametrize("name", ["bilevel-penalty-bias", "bilevel-rates"])
def test_slope_tables_have_the_rates_columns(name):
    slopes = pd.read_csv(RESULTS / name / "slopes.csv")
    assert list(slopes.columns) == list(pd.read_csv(RESULTS / "rates" / "slopes.csv").columns)
    assert bool(np.all(slopes.low <= slopes.slope)) and bool(np.all(slopes.slope <= slopes.high))


def test_penalty_bias_falls_like_one_over_lambda():
    slopes = pd.read_csv(RESULTS / "bilevel-penalty-bias" / "slopes.csv")
    assert set(slopes.quantity) == {
        "penalty_gradient_bias_vs_lambda",
        "penalty_value_gap_vs_lambda",
    }
    assert bool(np.all(np.abs(slopes.slope + 1.0) < 0.01)), slopes


def test_rate_slopes_recompute_from_the_committed_table():
    committed = pd.read_csv(RESULTS / "bilevel-rates" / "slopes.csv")
    frame = table("bilevel-rates")
    again = rate_slopes(frame, int(frame.iteration.max()) // 10)
    np.testing.assert_allclose(again.slope, committed.slope, rtol=1e-10)
    np.testing.assert_allclose(again[["low", "high"]], committed[["low", "high"]], rtol=1e-10)
