"""zoprl.plots: learning curves, final metrics, rate plots, atomic saving, loading; no jax."""

import itertools
import subprocess
import sys

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("matplotlib")

from matplotlib.collections import PolyCollection  # noqa: E402

from zoprl.plots import (
    load_table,
    plot_final_metric,
    plot_learning_curves,  # noqa: E402
    plot_rate,
    plot_results,
    save_figure,
)

PAIRS = (16, 64)


def make_table(seeds=(0, 1, 2), iterations=5):
    """ZPG at two num_pairs (reward-free) and a PPO ceiling (num_pairs NaN, no queries);
    metrics value_gap (decaying, 10% multiplicative noise) and grad_err = N^(-1/2) e^eps."""
    rng = np.random.default_rng(0)
    configs = [
        dict(
            cell=f"zpg[num_pairs={n}]",
            label="ZPG",
            algorithm="zpg",
            reads_latent_reward=False,
            **{"hp.mu": 0.5, "static.num_pairs": float(n)},
        )
        for n in PAIRS
    ]
    configs.append(
        dict(
            cell="ppo_true_reward",
            label="PPO",
            algorithm="ppo_true_reward",
            reads_latent_reward=True,
            **{"hp.mu": np.nan, "static.num_pairs": np.nan},
        )
    )
    rows, run_id = [], 0
    for config in configs:
        n = config["static.num_pairs"]
        for seed in seeds:
            for it in range(iterations):
                ceiling = config["reads_latent_reward"]
                gap = 2.0 * np.exp(-(0.8 if ceiling else 0.4) * it) * (1 + 0.1 * rng.normal())
                err = (1.0 if ceiling else n**-0.5) * np.exp(0.1 * rng.normal())
                for metric, value in (("value_gap", gap), ("grad_err", err)):
                    rows.append(
                        dict(
                            run_id=run_id,
                            environment="GridWorld",
                            oracle="noisy",
                            seed=seed,
                            iteration=it,
                            trajectories=(it + 1) * (32 if ceiling else 2 * int(n)),
                            queries=0 if ceiling else (it + 1) * 10 * int(n),
                            metric=metric,
                            value=value,
                            **config,
                        )
                    )
            run_id += 1
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def table():
    return make_table()


def legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def bands(ax):
    return [c for c in ax.collections if isinstance(c, PolyCollection)]


def check_saved(paths):
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    for p in paths:
        assert p.is_file() and p.stat().st_size > 1000
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths[1].read_bytes()[:4] == b"%PDF"
    assert not [f for f in paths[0].parent.iterdir() if f.name.endswith(".tmp")]


@pytest.mark.parametrize(
    "x, label",
    [("iteration", "iterations"), ("trajectories", "trajectories"), ("queries", "human queries")],
)
def test_learning_curves(table, tmp_path, x, label):
    ax = plot_learning_curves(table, "value_gap", x=x)
    assert ax.get_xlabel() == label
    assert "value gap" in ax.get_ylabel()
    texts = legend_texts(ax)
    assert texts == ["PPO (ceiling)", "ZPG (num_pairs=16)", "ZPG (num_pairs=64)"]
    ceiling = [line for line in ax.get_lines() if line.get_label() == "PPO (ceiling)"]
    assert len(ceiling) == 1 and ceiling[0].get_linestyle() == "--"
    # One band per curve; on the query axis the ceiling spends no queries: a flat line, no band.
    assert len(bands(ax)) == (2 if x == "queries" else 3)
    if x == "queries":
        assert np.ptp(ceiling[0].get_ydata()) == 0
    check_saved(save_figure(ax.figure, tmp_path / f"curves_{x}"))


def test_learning_curve_mean_and_band_values(table):
    ax = plot_learning_curves(table, "value_gap", x="iteration", log_y=True)
    assert ax.get_yscale() == "log"
    line = next(li for li in ax.get_lines() if li.get_label() == "ZPG (num_pairs=16)")
    rows = table[(table["metric"] == "value_gap") & (table["static.num_pairs"] == 16)]
    expected = rows.groupby("iteration")["value"].mean().to_numpy()
    np.testing.assert_allclose(line.get_ydata(), expected)
    # 3 seeds: the band is the exact percentile bootstrap of the mean (27 resamples)
    v0 = rows[rows["iteration"] == 0]["value"].to_numpy()
    means = np.array([v0[list(i)].mean() for i in itertools.product(range(3), repeat=3)])
    low, high = np.percentile(means, [2.5, 97.5])
    band = bands(ax)[1].get_paths()[0].vertices[:, 1]  # bands in legend order: PPO, N=16, N=64
    assert np.isclose(band, high).any() and np.isclose(band, low).any()
    assert v0.min() <= low <= high <= v0.max()


def test_bands_are_t_intervals_from_5_seeds_and_stay_in_the_metric_range():
    from zoprl.plots.bands import intervals

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"iteration": np.repeat([0, 1], 6), "value": rng.random(12) * 1e-3})
    frame.loc[6:, "value"] = [1e-4, 2e-4, 1.0, 2e-4, 1e-4, 3e-4]  # one outlier: t interval < 0
    stats = intervals(frame, ["iteration"], "value_gap")
    v = frame.loc[:5, "value"].to_numpy()
    half = 2.5705818366147395 * v.std(ddof=1) / np.sqrt(6)  # t_{0.975, 5}
    np.testing.assert_allclose(stats[["low", "high"]].iloc[0], [v.mean() - half, v.mean() + half])
    assert stats["low"].iloc[1] == 0.0  # clipped: a value gap is never negative
    unclipped = intervals(frame, ["iteration"], "value")
    assert unclipped["low"].iloc[1] < 0


def test_single_seed_has_no_band():
    ax = plot_learning_curves(make_table(seeds=(0,)), "value_gap", x="iteration")
    assert bands(ax) == [] and len(legend_texts(ax)) == 3


def test_final_metric(table, tmp_path):
    ax = plot_final_metric(table, "grad_err", "static.num_pairs", log_x=True)
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "pairs per iteration N"
    assert "last iteration" in ax.get_ylabel()
    assert sorted(legend_texts(ax)) == ["PPO (ceiling)", "ZPG"]  # PPO lacks num_pairs: flat line
    (errorbar,) = ax.containers
    np.testing.assert_allclose(errorbar.lines[0].get_xdata(), PAIRS)
    check_saved(save_figure(ax, tmp_path / "final"))


def test_rate_plot(table, tmp_path):
    ax = plot_rate(
        table, "static.num_pairs", "grad_err", expected_slope="variance_vs_pairs", num_resamples=500
    )
    texts = legend_texts(ax)
    assert "expected slope -0.5" in texts
    (fitted,) = [t for t in texts if t.startswith("ZPG: slope")]
    slope = float(fitted.split("slope ")[1].split(" ")[0])
    assert slope == pytest.approx(-0.5, abs=0.1)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    check_saved(save_figure(ax.figure, tmp_path / "rate"))
    points = pd.DataFrame(
        {"N": np.repeat([8.0, 32.0, 128.0], 3), "err": 0.0, "seed": np.tile([0, 1, 2], 3)}
    )
    points["err"] = points["N"] ** -1.0 * (1 + 0.01 * points["seed"])
    ax = plot_rate(points, "N", "err", expected_slope=-1.0, num_resamples=200)
    assert "slope -1.00" in legend_texts(ax)[1] and ax.get_ylabel() == "err"


@pytest.mark.parametrize(
    "call",
    [
        lambda t: plot_learning_curves(t, "nope"),
        lambda t: plot_final_metric(t, "nope", "static.num_pairs"),
        lambda t: plot_rate(t, "static.num_pairs", "nope"),
    ],
)
def test_unknown_metric(table, call):
    with pytest.raises(ValueError, match=r"unknown metric 'nope'; valid choices: \['grad_err'"):
        call(table)


def test_bad_arguments(table, tmp_path):
    with pytest.raises(ValueError, match=r"unknown x 'time'.*'iteration', 'trajectories'"):
        plot_learning_curves(table, "value_gap", x="time")
    with pytest.raises(ValueError, match="unknown hue column 'colour'"):
        plot_learning_curves(table, "value_gap", hue="colour")
    with pytest.raises(ValueError, match="unknown x column 'hp.nope'.*static.num_pairs"):
        plot_final_metric(table, "grad_err", "hp.nope")
    with pytest.raises(ValueError, match="expected_slope"):
        plot_rate(table, "static.num_pairs", "grad_err", expected_slope=[1])
    with pytest.raises(ValueError, match="must be a pandas DataFrame"):
        plot_learning_curves({"metric": []}, "value_gap")
    ax = plot_learning_curves(table, "value_gap")
    with pytest.raises(ValueError, match="unknown format 'gif"):
        save_figure(ax.figure, tmp_path / "f", formats=("gif2",))
    with pytest.raises(ValueError, match="must not end in a format suffix"):
        save_figure(ax.figure, tmp_path / "f.png")


def test_load_table_and_plot_results(table, tmp_path):
    pytest.importorskip("pyarrow")
    folder = tmp_path / "run"
    folder.mkdir()
    table.to_parquet(folder / "results.parquet")
    pd.testing.assert_frame_equal(load_table(folder), load_table(folder / "results.parquet"))
    paths = plot_results(folder, tmp_path / "figures")
    assert [p.name for p in paths] == [
        "curves_value_gap_queries.png",
        "curves_value_gap_queries.pdf",
    ]
    check_saved(paths)
    with pytest.raises(ValueError, match="no results table at"):
        load_table(tmp_path / "missing")
    table.drop(columns=["queries"]).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['queries'\]"):
        load_table(tmp_path / "bad.parquet")
    (tmp_path / "text.parquet").write_text("not parquet")
    with pytest.raises(ValueError, match="cannot read") as err:
        load_table(tmp_path / "text.parquet")
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="unknown metric 'nope'"):
        plot_results(folder, tmp_path / "figures", metric="nope")


def test_import_does_not_import_jax():
    code = (
        "import sys, zoprl.plots; bad = [m for m in ('jax', 'jaxlib', 'flax') "
        "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_many_curves_put_the_legend_outside_and_numbers_stay_short():
    """12 step sizes: the legend leaves the axes; values print as 1e-4, not 0.0001."""
    rows = []
    for run, step in enumerate(np.geomspace(1e-4, 1e7, 12)):
        for it in range(3):
            rows.append(
                dict(
                    run_id=run, cell="ZPG", label="ZPG", algorithm="zpg", environment="E",
                    oracle="o", reads_latent_reward=False, seed=0, iteration=it,
                    trajectories=it, queries=it, metric="value_gap", value=1.0 / (1 + it),
                    **{"hp.step_size": step},
                )
            )  # fmt: skip
    ax = plot_learning_curves(pd.DataFrame(rows), "value_gap")
    legend = ax.get_legend()
    assert legend.get_bbox_to_anchor().x0 > ax.get_window_extent().x1 - 1  # right of the axes
    texts = legend_texts(ax)
    assert "ZPG (step_size=1e-4)" in texts and "ZPG (step_size=1e7)" in texts
    assert all(len(t) <= len("ZPG (step_size=1.26e-2)") for t in texts)


def test_a_diverged_seed_is_marked_and_counted(table):
    broken = table.copy()
    bad = (broken.run_id == 0) & (broken.iteration >= 2) & (broken.metric == "value_gap")
    broken.loc[bad, "value"] = np.inf
    ax = plot_learning_curves(broken, "value_gap", x="iteration")
    assert "ZPG (num_pairs=16) (1/3 seeds diverged)" in legend_texts(ax)
    marks = [line for line in ax.get_lines() if line.get_marker() == "X"]
    assert len(marks) == 1 and marks[0].get_xdata()[0] == 2
    line = next(li for li in ax.get_lines() if li.get_label().startswith("ZPG (num_pairs=16)"))
    assert np.isfinite(line.get_ydata()).all()  # the mean of the seeds still finite
