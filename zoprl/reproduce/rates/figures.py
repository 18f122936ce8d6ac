"""The figures of the ``rates`` experiment: one panel per quantity, with fitted and reference
slopes, written one figure per quantity and combined."""

from __future__ import annotations

import math
import os

import numpy as np

from zoprl.reproduce.rates.profiles import METRICS, X_COLUMNS, RatesProfile
from zoprl.reproduce.rates.slopes import _fit_rows

X_AXIS_LABELS = {
    "static.num_pairs": "pairs per estimate N (trajectory pairs)",
    "oracle.num_queries": "queries per pair M (human queries)",
    "hp.mu": "perturbation radius μ",
    "static.iterations": "iterations T (step size α = c / √T)",
}
Y_AXIS_LABELS = {
    "gradient_rms_error": "RMS error of g about E[g | v]",
    "inversion_bias": "inversion bias |E[D] − ΔJ|",
    "smoothing_bias": "bias (exact J)",
    "avg_grad_norm_sq": "(1/T) Σ_{t<T} ‖∇J(θ_t)‖²",
}


# --------------------------------------------------------------------------------------------
# figures


def _reference(ax, xs, ys, slope: float, style: str, color, label: str) -> None:
    """A line of ``slope`` through the geometric centre of the points (xs, ys)."""
    lx, ly = np.log(np.asarray(xs, float)), np.log(np.asarray(ys, float))
    cx, cy = math.exp(lx.mean()), math.exp(ly.mean())
    grid = np.geomspace(min(xs), max(xs), 50)
    ax.plot(grid, cy * (grid / cx) ** slope, style, color=color, linewidth=1.4, label=label)


def _finish(ax, x: str, ylabel: str, title: str) -> None:
    from zoprl.plots.style import legend

    ax.set_xlabel(X_AXIS_LABELS[x])
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize="medium")
    legend(ax)


def _single_rate_panel(ax, df, profile, quantity: str, title: str):
    """A rate plot of one quantity with its fitted and expected slopes."""
    from zoprl.plots import plot_rate

    plot_rate(
        _fit_rows(df, quantity, profile),
        X_COLUMNS[quantity],
        METRICS[quantity],
        expected_slope=quantity,
        ax=ax,
        hue=None,
        num_resamples=profile.num_resamples,
    )
    _finish(ax, X_COLUMNS[quantity], Y_AXIS_LABELS[METRICS[quantity]], title)


def _panel_variance(ax, df, profile):
    _single_rate_panel(
        ax,
        df,
        profile,
        "variance_vs_pairs",
        f"(i) estimator error vs pairs (M = {profile.num_queries}, "
        f"μ = {profile.mu:g}; {profile.variance_directions} directions)",
    )


def _panel_inversion(ax, df, profile):
    from zoprl.plots import plot_rate

    quantity = "inversion_bias_vs_queries"
    x = X_COLUMNS[quantity]
    fitted = _fit_rows(df, quantity, profile)
    sub = df[df["cell"] == quantity]
    stats = sub.pivot_table(index=x, columns="metric", values="value", aggfunc="mean")
    if fitted[x].nunique() >= 2:
        plot_rate(
            fitted,
            x,
            METRICS[quantity],
            expected_slope=quantity,
            ax=ax,
            hue=None,
            num_resamples=profile.num_resamples,
        )
    outside = stats.index.difference(fitted[x].unique())
    if len(outside):
        reasons = []
        if (outside < profile.bias_fit_min_queries).any():
            reasons.append(f"M < {profile.bias_fit_min_queries}: clipping regime")
        if (outside >= profile.bias_fit_min_queries).any():
            reasons.append(f"bias < {profile.bias_min_snr:g} SE")
        ax.plot(
            outside,
            stats.loc[outside, "inversion_bias"].abs(),
            "o",
            mfc="none",
            color="grey",
            label=f"not fitted ({'; '.join(reasons)})",
        )
    ax.plot(
        stats.index,
        stats["inversion_bias_se"],
        "--",
        color="tab:red",
        linewidth=1,
        label="Monte Carlo standard error",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    from zoprl.plots.style import data_ticks

    data_ticks(ax, stats.index)
    per_m = int(profile.bias_pairs)
    _finish(
        ax,
        x,
        Y_AXIS_LABELS[METRICS[quantity]],
        f"(ii) link-inversion bias vs queries ({per_m:,} pairs per M, μ = {profile.mu:g})",
    )


def _panel_smoothing(ax, df, profile):
    import pandas as pd

    from zoprl.plots import plot_rate
    from zoprl.plots.style import colors

    names = {
        "smoothing_bias_vs_mu": "‖∇J_μ − ∇J‖",
        "directional_bias_vs_mu": "|(J(θ+μv) − J(θ))/μ − ⟨∇J, v⟩|",
    }
    points = []
    for quantity, name in names.items():
        rows = _fit_rows(df, quantity, profile)
        points.append(
            pd.DataFrame(
                {
                    "hp.mu": rows["hp.mu"].to_numpy(),
                    "bias": rows["value"].to_numpy(),
                    "seed": rows["seed"].to_numpy(),
                    "series": name,
                }
            )
        )
    points = pd.concat(points, ignore_index=True)
    plot_rate(
        points,
        "hp.mu",
        "bias",
        expected_slope=None,
        ax=ax,
        hue="series",
        num_resamples=profile.num_resamples,
    )
    series = sorted(names.values())
    for name, color in zip(series, colors(len(series))):
        means = points[points["series"] == name].groupby("hp.mu")["bias"].mean()
        smoothing = name == names["smoothing_bias_vs_mu"]
        _reference(
            ax,
            means.index,
            means.to_numpy(),
            1.0,
            ":",
            color,
            "‖∇J_μ − ∇J‖: expected +1 (the Lipschitz bound)"
            if smoothing
            else "directional: expected +1 (Taylor)",
        )
        if smoothing:
            _reference(
                ax,
                means.index,
                means.to_numpy(),
                2.0,
                "-.",
                color,
                "‖∇J_μ − ∇J‖: +2 (smooth J, linear term cancels)",
            )
    _finish(
        ax,
        "hp.mu",
        "bias (exact J, sphere directions v)",
        f"(iii) smoothing bias vs μ ({profile.smoothing_groups} x "
        f"{profile.smoothing_directions} antithetic directions)",
    )


def _panel_stationarity(ax, df, profile):
    _single_rate_panel(
        ax,
        df,
        profile,
        "stationarity_vs_iterations",
        f"(iv) stationarity vs iterations (c = {profile.step_constant:g}, "
        f"N = {profile.stationarity_pairs}, {profile.stationarity_seeds} seeds)",
    )


PANELS = {
    "variance_vs_pairs": _panel_variance,
    "inversion_bias_vs_queries": _panel_inversion,
    "smoothing_bias_vs_mu": _panel_smoothing,
    "stationarity_vs_iterations": _panel_stationarity,
}


def plot_rates(df, profile: RatesProfile, out_dir: str, formats=("png", "pdf")) -> list[str]:
    """One figure per quantity (``<quantity>.<format>``; (iii) holds the smoothing and the
    directional bias) and the combined 2 x 2 ``rates.<format>``. Returns the written paths."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from zoprl.plots import save_figure

    written = []
    for name, panel in PANELS.items():
        fig = Figure(figsize=(7.0, 5.0), layout="constrained")
        FigureCanvasAgg(fig)
        panel(fig.add_subplot(), df, profile)
        written += save_figure(fig, os.path.join(out_dir, name), formats)
    fig = Figure(figsize=(14.0, 10.0), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 2).ravel()
    for ax, panel in zip(axes, PANELS.values()):
        panel(ax, df, profile)
    fig.suptitle(
        "ZPG convergence rates on GridWorld (d = 100, Bradley-Terry β = 1): "
        "fitted log-log slope [95% bootstrap CI] vs expected"
    )
    written += save_figure(fig, os.path.join(out_dir, "rates"), formats)
    return [str(p) for p in written]
