"""zoprl.reproduce.rates: the `rates` experiment of issue 7 on tiny sizes.

The pipeline (table, slopes, figures) runs end to end on injected power laws (the rollout-based
measurements replaced by fakes, so no compilation); each measurement is checked on tiny sizes at
fixed keys against exact references; a real tiny end-to-end run is marked slow.
"""

import dataclasses
import json
import math
import os

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
jax = pytest.importorskip("jax")

from zoprl.reproduce import rates  # noqa: E402
from zoprl.reproduce.rates import (
    METRICS,
    PROFILES,
    QUANTITIES,
    SLOPE_COLUMNS,  # noqa: E402
    X_COLUMNS,
    RatesProfile,
    directional_bias,
    gradient_rms_error,
    inversion_gap_estimates,
    make_problem,
    run_rates,
    smoothed_gradient,
    smoothing_bias_vectors,
    stationarity_runs,
)
from zoprl.theory import REQUIRED_COLUMNS, slope_table  # noqa: E402

TINY = RatesProfile(
    name="tiny",
    pairs_grid=(16, 64),
    variance_directions=8,
    variance_replicates=32,
    queries_grid=(8, 32),
    bias_pairs=8 * 512,
    bias_replicates=8,
    bias_chunk_pairs=512,
    bias_fit_min_queries=8,
    bias_min_snr=0.0,
    mu_grid=(0.25, 0.5, 1.0),
    smoothing_groups=8,
    smoothing_directions=128,
    directional_directions=8,
    iterations_grid=(4, 8),
    stationarity_seeds=8,
    stationarity_pairs=8,
    num_resamples=200,
)
FAKE = dataclasses.replace(
    TINY,
    name="fake",
    pairs_grid=(16, 64, 256, 1024),
    queries_grid=(4, 8, 16, 32, 64, 128),
    bias_fit_min_queries=16,
    bias_min_snr=5.0,
    iterations_grid=(10, 20, 40, 80),
)


@pytest.fixture(scope="module")
def problem():
    return make_problem()


def fake_measurements(monkeypatch):
    """Replace the measurements by power laws with 5% lognormal noise (numpy seed 0):
    RMS ~ N^-1/2, inversion bias ~ M^-1 (except M < 16: plateau), smoothing bias ~ mu^2,
    directional bias ~ mu, average ||grad J||^2 ~ T^-1/2. No compilation; the real
    measurements are checked by the other tests."""
    rng = np.random.default_rng(0)

    def noise(shape):
        return np.exp(0.05 * rng.normal(size=shape))

    def rms(problem, key, num_pairs, num_directions, num_replicates, mu=2.0, num_queries=10):
        return 50.0 * num_pairs**-0.5 * noise(num_directions)

    def gaps(problem, key, num_queries, direction, mu, num_pairs, num_replicates, chunk):
        bias = 4.0 / max(num_queries, 16)
        return 1.0 + bias + 0.001 * rng.normal(size=num_replicates), 1.0

    def runs(
        problem, key, iterations, num_seeds, num_pairs, num_queries=10, mu=2.0, step_constant=2.0
    ):
        t = np.asarray(iterations, float)[None]
        return 1.5 * t**-0.5 * noise((num_seeds, t.size)), 0.5 + 0 * t.repeat(num_seeds, 0)

    def smoothing(problem, key, mus, num_groups, num_directions, control_variate=True):
        mus = np.asarray(mus, float)
        unit = np.eye(problem.dim)[0]
        return 0.01 * mus[None, :, None] ** 2 * noise((num_groups, 1, 1)) * unit

    def directional(problem, key, mus, num_directions):
        return 0.002 * np.asarray(mus, float)[None] * noise((num_directions, 1))

    monkeypatch.setattr(rates.quantities, "smoothing_bias_vectors", smoothing)
    monkeypatch.setattr(rates.quantities, "directional_bias", directional)
    monkeypatch.setattr(rates.quantities, "gradient_rms_error", rms)
    monkeypatch.setattr(rates.quantities, "inversion_gap_estimates", gaps)
    monkeypatch.setattr(rates.quantities, "stationarity_runs", runs)


def test_unknown_profile_raises_naming_it(tmp_path):
    with pytest.raises(ValueError, match="'nope'"):
        run_rates(str(tmp_path), "nope")
    assert not os.listdir(tmp_path)
    assert set(PROFILES) == {"quick", "full"}


def check_outputs(out, paths, lines, profile, formats=("png", "pdf")):
    names = {os.path.basename(p) for p in paths}
    expected = {
        "results.parquet",
        "slopes.csv",
        "slopes.md",
        "inversion_exact.csv",
        "manifest.json",
    }
    for stem in (
        "variance_vs_pairs",
        "inversion_bias_vs_queries",
        "smoothing_bias_vs_mu",
        "stationarity_vs_iterations",
        "rates",
    ):
        expected |= {f"{stem}.{fmt}" for fmt in formats}
    assert names == expected
    for p in paths:
        assert os.path.getsize(p) > 0
    assert any("95%" in line for line in lines)  # the slope table was logged
    with open(os.path.join(out, "manifest.json")) as f:
        manifest = json.load(f)
    assert manifest["spec"]["profile"]["name"] == profile.name
    assert [c["cell"] for c in manifest["cells"]] == list(QUANTITIES)
    df = pd.read_parquet(os.path.join(out, "results.parquet"))
    check_schema(df, profile)
    slopes = pd.read_csv(os.path.join(out, "slopes.csv"))
    assert list(slopes.columns) == list(SLOPE_COLUMNS)
    assert list(slopes["quantity"]) == list(QUANTITIES)
    assert (slopes["num_seeds"] >= 8).all()
    assert slopes.set_index("quantity")["expected"].to_dict() == {
        "variance_vs_pairs": -0.5,
        "inversion_bias_vs_queries": -1.0,
        "smoothing_bias_vs_mu": 1.0,
        "directional_bias_vs_mu": 1.0,
        "stationarity_vs_iterations": -0.5,
    }
    return df, slopes.set_index("quantity")


def check_schema(df, profile):
    for column in REQUIRED_COLUMNS:
        assert column in df.columns
    for column in ("run_id", "seed", "iteration", "trajectories", "queries"):
        assert df[column].dtype == np.int64, column
    assert df["value"].dtype == np.float64
    assert df["reads_latent_reward"].dtype == bool and not df["reads_latent_reward"].any()
    assert set(df["algorithm"]) == {"zpg"} and set(df["environment"]) == {"GridWorld"}
    assert set(df["oracle"]) == {"logistic/noisy"} and set(df["label"]) == {"ZPG"}
    assert set(df["cell"]) == set(QUANTITIES)
    assert np.isfinite(df["value"]).all()
    for quantity in QUANTITIES:
        sub = df[df["cell"] == quantity]
        x = X_COLUMNS[quantity]
        assert sub[x].notna().all(), quantity
        assert METRICS[quantity] in set(sub["metric"])
        # one run per (x value, seed); one row per run and metric
        assert (sub.groupby("run_id")[[x, "seed"]].nunique() == 1).all().all()
        assert not sub.duplicated(["run_id", "metric"]).any()
        assert sub.groupby([x, "seed"])["run_id"].nunique().max() == 1
        assert sub["seed"].nunique() >= 8  # bootstrap groups
    variance = df[df["cell"] == "variance_vs_pairs"]
    counts = variance.groupby("static.num_pairs")["trajectories"].first()
    assert counts.to_dict() == {n: 2 * n * profile.variance_replicates for n in profile.pairs_grid}
    stationarity = df[df["cell"] == "stationarity_vs_iterations"]
    assert (stationarity["iteration"] == stationarity["static.iterations"]).all()
    assert np.allclose(
        stationarity["hp.step_size"],
        profile.step_constant / np.sqrt(stationarity["static.iterations"]),
    )
    # the table feeds zoprl.theory directly
    table = slope_table(
        variance,
        "static.num_pairs",
        "gradient_rms_error",
        by=("cell",),
        predicted="variance_vs_pairs",
        num_resamples=50,
    )
    assert len(table) == 1 and table["expected"].iloc[0] == -0.5


def test_pipeline_recovers_injected_slopes(tmp_path, monkeypatch):
    fake_measurements(monkeypatch)
    lines = []
    paths = run_rates(str(tmp_path), FAKE, log=lines.append, formats=("png",))
    _, slopes = check_outputs(str(tmp_path), paths, lines, FAKE, formats=("png",))
    for quantity in (
        "variance_vs_pairs",
        "inversion_bias_vs_queries",
        "stationarity_vs_iterations",
    ):
        assert slopes.loc[quantity, "contains_expected"], quantity
        assert slopes.loc[quantity, "slope"] == pytest.approx(
            slopes.loc[quantity, "expected"], abs=0.05
        )
    # the plateau (M < 16) is left out of the inversion fit
    assert slopes.loc["inversion_bias_vs_queries", "x_min"] == 16
    assert slopes.loc["inversion_bias_vs_queries", "num_x"] == 4
    assert slopes.loc["directional_bias_vs_mu", "contains_expected"]
    # the smoothing bias is O(mu^2): the +1 bound (docs/methods.md 5) is outside the interval
    assert slopes.loc["smoothing_bias_vs_mu", "slope"] == pytest.approx(2.0, abs=0.1)
    assert not slopes.loc["smoothing_bias_vs_mu", "contains_expected"]


def test_rms_error_halves_when_pairs_quadruple(problem):
    # Var(D | v) = Var(y | v) / N exactly, so RMS(64) / RMS(16) = 1/2 in expectation. Each
    # per-N mean pools 8 directions x 31 degrees of freedom: a relative SE of about
    # 1/sqrt(2 * 248) = 4.5% for Gaussian y, more for the heavy-tailed clipped y; the ratio's
    # SE is about 7%, so +-0.15 is more than 2 SE even at twice the Gaussian spread.
    # Fixed key (the same directions for both N): the check is deterministic.
    key = jax.random.key(0)
    rms = {n: gradient_rms_error(problem, key, n, 8, 32) for n in (16, 64)}
    assert rms[16].shape == (8,)
    assert rms[64].mean() / rms[16].mean() == pytest.approx(0.5, abs=0.15)


@pytest.mark.slow  # two more rollout compilations (about 10 s on 2 cores)
def test_inversion_bias_shrinks_with_queries(problem):
    direction = np.asarray(problem.grad_flat) / np.linalg.norm(np.asarray(problem.grad_flat))
    key = jax.random.key(1)
    bias, se = {}, {}
    for m in (8, 32):
        d_hat, gap = inversion_gap_estimates(problem, key, m, direction, 2.0, 8 * 512, 8, 512)
        assert d_hat.shape == (8,)
        assert gap == pytest.approx(1.0023, abs=1e-3)  # J(theta + 2 v) - J(theta), exact
        bias[m], se[m] = d_hat.mean() - gap, d_hat.std(ddof=1) / math.sqrt(8)
    # quick profile (2^21 pairs): bias 1.27 at M = 8 and 0.40 at M = 32
    for m in (8, 32):
        assert bias[m] > 5 * se[m]
    assert bias[32] < bias[8]


@pytest.mark.slow
def test_stationarity_average_matches_direct_runs(problem):
    from zoprl.algorithms import make_run, zpg
    from zoprl.oracles import make_oracle

    key = jax.random.key(2)
    avg, gap = stationarity_runs(
        problem, key, (3, 6), num_seeds=2, num_pairs=8, num_queries=10, mu=2.0, step_constant=1.0
    )
    assert avg.shape == gap.shape == (2, 2)
    # the first T iterations of the vmapped horizon-6 run are those of a run of length T
    algo = zpg(problem.env, problem.policy, make_oracle("logistic", 10), num_pairs=8)
    init = algo.init
    algo = algo._replace(
        init=lambda k, h, e, o=None: init(k, h, e, o)._replace(params=problem.theta)
    )
    run = jax.jit(make_run(algo, 3))
    seed_key = jax.random.split(key, 2)[1]
    hp = algo.hparams(step_size=1.0 / math.sqrt(3), mu=2.0, clip_range=problem.clip_range)
    metrics = run(seed_key, hp, problem.env_params, problem.oracle_params)[1]
    assert avg[1, 0] == pytest.approx(float(np.mean(metrics["grad_norm_sq"][:3])), rel=1e-4)
    assert gap[1, 0] == pytest.approx(float(metrics["value_gap"][3]), rel=1e-4, abs=1e-5)


@pytest.mark.slow
def test_tiny_profile_end_to_end(tmp_path):
    lines = []
    paths = run_rates(str(tmp_path), TINY, log=lines.append)
    df, _ = check_outputs(str(tmp_path), paths, lines, TINY)
    rms = df[df["metric"] == "gradient_rms_error"].groupby("static.num_pairs")["value"].mean()
    assert rms[64] / rms[16] == pytest.approx(0.5, abs=0.15)


def test_smoothed_gradient_converges_to_exact_gradient(problem):
    grad = np.asarray(problem.grad_flat, np.float64)
    mus = (0.125, 0.5, 2.0)
    smoothed, se = smoothed_gradient(
        problem, jax.random.key(3), mus, num_groups=8, num_directions=256
    )
    bias = np.linalg.norm(smoothed - grad, axis=1)
    assert bias[0] < bias[1] < bias[2]
    assert bias[0] < 1e-3 * np.linalg.norm(grad)
    assert (bias > 3 * se).all()  # the control variate resolves the bias
    # smooth J: O(mu^2) bias, i.e. about 16x per 4x in mu (slope 2 +- 0.5)
    for small, big in ((0, 1), (1, 2)):
        assert math.log(bias[big] / bias[small], 4) == pytest.approx(2.0, abs=0.5)


def test_control_variate_matches_plain_estimate(problem):
    # same expectation: the plain estimate of grad J_mu - grad J lies within its own noise
    # of the control-variate one (same directions, fixed key)
    key = jax.random.key(5)
    cv = smoothing_bias_vectors(problem, key, (1.0,), 8, 512).mean(0)[0]
    plain_groups = smoothing_bias_vectors(problem, key, (1.0,), 8, 512, control_variate=False)
    plain = plain_groups.mean(0)[0]
    se_plain = math.sqrt(plain_groups[:, 0].var(axis=0, ddof=1).sum() / 8)
    assert np.linalg.norm(plain - cv) < 4 * se_plain
    assert se_plain > 10 * np.linalg.norm(cv)  # ... which is why the control variate is used


def test_directional_bias_is_linear_in_mu(problem):
    err = directional_bias(problem, jax.random.key(4), (0.125, 0.25), 8)
    assert err.shape == (8, 2)
    ratio = err[:, 1].mean() / err[:, 0].mean()
    assert ratio == pytest.approx(2.0, rel=0.1)
