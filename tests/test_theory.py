"""zoprl.theory: predicted rates, log-log slope fits, bootstrap intervals and slope tables."""

import subprocess
import sys

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from zoprl.theory import (
    PREDICTED_RATES,
    bootstrap_slope,
    fit_loglog_slope,  # noqa: E402
    predicted_rate,
    run_points,
    slope_table,
)

X = np.geomspace(1.0, 1000.0, 8)


def tidy_points(num_pairs=(16, 64, 256, 1024), seeds=tuple(range(8)), mus=(0.5,), noise=0.1, rng=0):
    """A tidy table with one metric 'grad_err' = N^(-1/2) * exp(eps), eps ~ N(0, noise^2),
    recorded at iterations 0..2 of one run per (N, mu, seed)."""
    rng = np.random.default_rng(rng)
    rows, run_id = [], 0
    for mu in mus:
        for n in num_pairs:
            for s in seeds:
                for it in range(3):
                    rows.append(
                        dict(
                            run_id=run_id,
                            cell=f"zpg[num_pairs={n}]",
                            label="ZPG",
                            algorithm="zpg",
                            environment="GridWorld",
                            oracle="noisy",
                            reads_latent_reward=False,
                            **{"hp.mu": mu, "static.num_pairs": n},
                            seed=s,
                            iteration=it,
                            trajectories=2 * n * (it + 1),
                            queries=10 * n * (it + 1),
                            metric="grad_err",
                            value=n**-0.5 * np.exp(noise * rng.normal()),
                        )
                    )
                run_id += 1
    return pd.DataFrame(rows)


@pytest.mark.parametrize("slope", [-1.0, -0.5, 1.0, 2.0])
def test_exact_power_law_recovered(slope):
    fit = fit_loglog_slope(X, 3.0 * X**slope)
    assert fit.slope == pytest.approx(slope, abs=1e-12)
    assert fit.intercept == pytest.approx(np.log(3.0), abs=1e-10)
    assert fit.r2 == pytest.approx(1.0)
    boot = bootstrap_slope(X, 3.0 * X**slope, num_resamples=200)
    assert boot.low == pytest.approx(slope, abs=1e-9)
    assert boot.high == pytest.approx(slope, abs=1e-9)
    for fit_kind in ("points", "means"):
        boot = bootstrap_slope(
            np.tile(X, 2),
            np.tile(3.0 * X**slope, 2),
            np.repeat([0, 1], 8),
            num_resamples=200,
            fit=fit_kind,
        )
        assert boot.slope == pytest.approx(slope, abs=1e-12)
        assert boot.low == pytest.approx(slope, abs=1e-9)


def test_bootstrap_interval_contains_true_slope_on_noisy_data():
    # y = 2 x^(-1/2) exp(eps), eps ~ N(0, 0.1^2) i.i.d., 8 x values x 6 seeds, numpy seed 1.
    rng = np.random.default_rng(1)
    x = np.tile(X, 6)
    seeds = np.repeat(np.arange(6), X.size)
    y = 2.0 * x**-0.5 * np.exp(0.1 * rng.normal(size=x.size))
    for groups in (None, seeds):
        for fit in ("points", "means"):
            boot = bootstrap_slope(x, y, groups, num_resamples=2000, seed=0, fit=fit)
            assert boot.low < -0.5 < boot.high, (groups is None, fit, boot)
            assert boot.high - boot.low < 0.1
            assert boot.num_resamples == 2000
    assert bootstrap_slope(x, y, seeds) == bootstrap_slope(x, y, seeds)  # deterministic


def test_cluster_bootstrap_wider_with_correlated_groups():
    # Each of 6 groups has its own slope offset b_g ~ N(0, 0.3^2) and level a_g ~ N(0, 1); the
    # points within a group then differ only by eps ~ N(0, 0.01^2): strongly correlated.
    rng = np.random.default_rng(2)
    b, a = rng.normal(0, 0.3, 6), rng.normal(0, 1.0, 6)
    x = np.tile(X, 6)
    g = np.repeat(np.arange(6), X.size)
    y = x ** (-1.0 + b[g]) * np.exp(a[g] + 0.01 * rng.normal(size=x.size))
    pooled = bootstrap_slope(x, y, num_resamples=2000)
    cluster = bootstrap_slope(x, y, groups=g, num_resamples=2000)
    assert cluster.slope == pooled.slope
    assert cluster.high - cluster.low >= pooled.high - pooled.low


@pytest.mark.parametrize(
    "x, y, match",
    [
        ([1.0, 2.0, -1.0], [1.0, 2.0, 3.0], r"x must be finite and > 0.*-1\.0 at index 2"),
        ([1.0, 2.0, 3.0], [1.0, 0.0, 3.0], r"y must be finite and > 0.*0\.0 at index 1"),
        ([1.0, np.inf], [1.0, 2.0], r"x must be finite.*inf"),
        ([1.0, 2.0], [np.nan, 2.0], r"y must be finite.*nan"),
        ([1.0, 2.0], [1.0, 2.0, 3.0], "same length"),
        ([2.0, 2.0, 2.0], [1.0, 2.0, 3.0], "at least 2 distinct"),
        ([[1.0, 2.0]], [[1.0, 2.0]], "one-dimensional"),
        (["a", "b"], [1.0, 2.0], "numeric"),
    ],
)
def test_bad_input_errors(x, y, match):
    with pytest.raises(ValueError, match=match):
        fit_loglog_slope(x, y)
    with pytest.raises(ValueError, match=match):
        bootstrap_slope(x, y)


def test_bootstrap_argument_errors():
    y = X**-0.5
    with pytest.raises(ValueError, match="groups must give one label per point"):
        bootstrap_slope(X, y, groups=[0, 1])
    with pytest.raises(ValueError, match="at least 2 distinct values"):
        bootstrap_slope(X, y, groups=np.zeros(X.size))
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_slope(X, y, confidence=1.0)
    with pytest.raises(ValueError, match="num_resamples"):
        bootstrap_slope(X, y, num_resamples=0)
    with pytest.raises(ValueError, match="unknown fit 'median'.*points"):
        bootstrap_slope(X, y, fit="median")
    with pytest.raises(ValueError, match="mean of y at x = 1.0"):
        bootstrap_slope(X, np.where(X == 1.0, -1.0, y), fit="means")


def test_predicted_rates():
    expected = {
        "variance_vs_pairs": -0.5,
        "inversion_bias_vs_queries": -1.0,
        "smoothing_bias_vs_mu": 1.0,
        "stationarity_vs_iterations": -0.5,
    }
    for name, slope in expected.items():
        rate = PREDICTED_RATES[name]
        assert rate.name == name and rate.slope == slope and rate.description
        assert predicted_rate(name) is rate
    with pytest.raises(ValueError, match="unknown predicted rate 'nope'.*variance_vs_pairs"):
        predicted_rate("nope")


def test_slope_table_recovers_rate():
    df = tidy_points()
    table = slope_table(
        df, "static.num_pairs", "grad_err", predicted="variance_vs_pairs", num_resamples=500
    )
    assert list(table.columns) == [
        "label",
        "slope",
        "low",
        "high",
        "intercept",
        "num_x",
        "num_seeds",
        "expected",
        "contains_expected",
    ]
    row = table.iloc[0]
    assert row["slope"] == pytest.approx(-0.5, abs=0.05)
    assert row["contains_expected"] and row["expected"] == -0.5
    assert row["num_x"] == 4 and row["num_seeds"] == 8
    # y_power 2 fits the mean of the square-ish scale: slope and interval doubled.
    doubled = slope_table(df, "static.num_pairs", "grad_err", y_power=2.0, num_resamples=500)
    assert doubled["slope"].iloc[0] == pytest.approx(2 * row["slope"])
    assert "expected" not in doubled.columns
    mean = slope_table(df, "static.num_pairs", "grad_err", reduce="mean", num_resamples=200)
    assert mean["slope"].iloc[0] == pytest.approx(-0.5, abs=0.05)


def test_slope_table_groups_and_ambiguity():
    df = tidy_points(mus=(0.5, 1.0))
    with pytest.raises(ValueError, match=r"differ in \['hp.mu'\]"):
        slope_table(df, "static.num_pairs", "grad_err")
    table = slope_table(
        df, "static.num_pairs", "grad_err", by=("label", "hp.mu"), predicted=-0.5, num_resamples=200
    )
    assert list(table["hp.mu"]) == [0.5, 1.0]
    assert table["contains_expected"].all()
    with pytest.raises(ValueError, match="unknown metric 'value_gap'.*grad_err"):
        slope_table(df, "static.num_pairs", "value_gap")
    with pytest.raises(ValueError, match="unknown x column 'static.nope'.*static.num_pairs"):
        slope_table(df, "static.nope", "grad_err")
    with pytest.raises(ValueError, match="unknown by column 'colour'"):
        slope_table(df, "static.num_pairs", "grad_err", by=("colour",))
    with pytest.raises(ValueError, match="unknown reduce 'max'"):
        slope_table(df, "static.num_pairs", "grad_err", reduce="max")
    with pytest.raises(ValueError, match="unknown predicted rate"):
        slope_table(df, "static.num_pairs", "grad_err", by=("label", "hp.mu"), predicted="x")


def test_run_points_reductions():
    df = tidy_points(num_pairs=(16, 64), seeds=(0, 1))
    last = run_points(df, "grad_err", "static.num_pairs", "last")
    assert len(last) == 4 and (last["iteration"] == 2).all()
    mean = run_points(df, "grad_err", "static.num_pairs", "mean")
    expected = df.groupby("run_id")["value"].mean().to_numpy()
    np.testing.assert_allclose(mean.sort_values("run_id")["value"], expected)
    assert len(run_points(df, "grad_err", "iteration", "none")) == len(df)
    with pytest.raises(ValueError, match="varies within runs"):
        run_points(df, "grad_err", "iteration", "mean")


def test_theory_imports_neither_jax_nor_matplotlib():
    code = (
        "import sys, zoprl.theory; bad = [m for m in ('jax', 'matplotlib') if m in "
        "sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
