"""The slope table of the ``rates`` experiment: fitted log-log slopes with cluster-bootstrap
intervals next to the predicted ones, and its text form."""

from __future__ import annotations

import numpy as np

from zoprl.reproduce.rates.profiles import (
    METRICS,
    QUANTITIES,
    SLOPE_COLUMNS,
    X_COLUMNS,
    RatesProfile,
)

# --------------------------------------------------------------------------------------------
# slopes


def _fit_rows(df, quantity: str, profile: RatesProfile):
    """The rows of ``quantity``'s fitted metric that enter its slope fit."""
    metric = METRICS[quantity]
    rows = df[(df["cell"] == quantity) & (df["metric"] == metric)]
    if quantity == "inversion_bias_vs_queries":
        stats = df[df["cell"] == quantity].pivot_table(
            index="oracle.num_queries", columns="metric", values="value", aggfunc="mean"
        )
        snr = stats["inversion_bias"] / stats["inversion_bias_se"]
        keep = snr.index[
            (snr.index >= profile.bias_fit_min_queries) & (snr >= profile.bias_min_snr)
        ]
        rows = rows[rows["oracle.num_queries"].isin(keep)]
    return rows


NOTES = {
    "variance_vs_pairs": "D is a mean of N i.i.d. inverted gaps: exact -1/2 in expectation",
    "inversion_bias_vs_queries": (
        "fitted where M >= {m} and bias >= {snr} SE; the per-pair bias plateaus (clipping) while "
        "M e^-|du| < 1 and falls faster than 1/M before reaching sinh(du)/M, so over this M range "
        "the mixture over du is steeper than -1; -1 is the large-M limit"
    ),
    "smoothing_bias_vs_mu": (
        "expected +1 is the Lipschitz upper bound of docs/methods.md; J is smooth, the linear "
        "term cancels and the bias is O(mu^2): +2 expected from Taylor"
    ),
    "directional_bias_vs_mu": "Taylor: (mu / 2) v'Hv + O(mu^2)",
    "stationarity_vs_iterations": "alpha = {c} / sqrt(T); -1/2 until the bias floor",
}


def fit_slopes(df, profile: RatesProfile):
    """The slope table (``SLOPE_COLUMNS``): per quantity the log-log slope of the per-x mean of
    its metric with a 95% cluster-bootstrap interval over seeds (``zoprl.theory.slope_table``),
    next to the predicted slope of ``PREDICTED_RATES``."""
    import pandas as pd

    from zoprl.theory import slope_table

    rows = []
    for quantity in QUANTITIES:
        sub = _fit_rows(df, quantity, profile)
        x = X_COLUMNS[quantity]
        metric = METRICS[quantity]
        row = {"quantity": quantity, "x": x, "metric": metric}
        note = NOTES[quantity].format(
            m=profile.bias_fit_min_queries, snr=profile.bias_min_snr, c=profile.step_constant
        )
        if sub[x].nunique() >= 2:
            table = slope_table(
                sub,
                x,
                metric,
                by=("cell",),
                predicted=quantity,
                reduce="last",
                num_resamples=profile.num_resamples,
            )
            row.update(
                table.iloc[0][
                    ["slope", "low", "high", "expected", "contains_expected", "num_x", "num_seeds"]
                ].to_dict()
            )
        else:
            from zoprl.theory import predicted_rate

            expected = predicted_rate(quantity).slope
            row.update(
                slope=np.nan,
                low=np.nan,
                high=np.nan,
                expected=expected,
                contains_expected=False,
                num_x=int(sub[x].nunique()),
                num_seeds=int(sub["seed"].nunique()),
            )
            note = "fewer than 2 x values qualify for the fit; " + note
        row.update(
            x_min=float(sub[x].min()) if len(sub) else np.nan,
            x_max=float(sub[x].max()) if len(sub) else np.nan,
            note=note,
        )
        rows.append(row)
    table = pd.DataFrame(rows, columns=list(SLOPE_COLUMNS))
    table["contains_expected"] = table["contains_expected"].astype(bool)
    table["num_x"] = table["num_x"].astype(np.int64)
    table["num_seeds"] = table["num_seeds"].astype(np.int64)
    return table


def slopes_markdown(slopes) -> str:
    """The slope table as the pipe table the README shows: quantity, x, slope [95% CI],
    expected, in CI."""
    lines = [
        "| quantity | x | slope [95% CI] | expected | in CI |",
        "| --- | --- | --- | --- | --- |",
    ]
    for _, r in slopes.iterrows():
        inside = "yes" if r["contains_expected"] else "**no**"
        lines.append(
            f"| {r['quantity']} | {r['x']} | {r['slope']:+.2f} [{r['low']:+.2f}, "
            f"{r['high']:+.2f}] | {r['expected']:+.1f} | {inside} |"
        )
    return "\n".join(lines) + "\n"


def format_slopes(slopes) -> str:
    """A short text table: slope [95% CI] next to the expected slope."""
    lines = [f"{'quantity':<28} {'x':<20} {'slope':>7}  {'95% CI':<17} {'expected':>8}  in CI"]
    for _, r in slopes.iterrows():
        ci = f"[{r['low']:+.2f}, {r['high']:+.2f}]"
        lines.append(
            f"{r['quantity']:<28} {r['x']:<20} {r['slope']:>+7.2f}  {ci:<17} "
            f"{r['expected']:>+8.2f}  {'yes' if r['contains_expected'] else 'NO'}"
        )
    return "\n".join(lines)
