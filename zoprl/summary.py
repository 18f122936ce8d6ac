"""Text summaries of a results table, printed at the end of ``zoprl run``, ``sweep``, ``demo`` and
``reproduce``: the final metric per configuration and the runs that diverged.

A configuration is a cell with one value of each parameter that varies among the cell's runs;
its seeds are replicates. The final metric is J(theta_T) / J* where the table has the value gap
(J* = J + value gap), else J(theta_T) (a Monte Carlo estimate on environments without an exact
evaluation). Pandas only: no jax, no plotting.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from zoprl.theory.tidy import param_columns

NOTE = (
    "+- is one standard error of the mean over seeds (diverged runs left out); bands in the "
    "figures are 95% intervals over seeds (t intervals, bootstrap below 5 seeds)"
)


def short_number(value) -> str:
    """A parameter value in a few characters: integers as they are below 10^5, else short
    scientific notation (1e-4, 2.5e6); other values as text."""
    if isinstance(value, (bool, np.bool_)) or value is None or value is pd.NA:
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value)) if abs(value) < 100_000 else short_number(float(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if np.isnan(value) or np.isinf(value):
            return str(value)
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            mantissa, exponent = f"{value:.2e}".split("e")
            mantissa = mantissa.rstrip("0").rstrip(".")
            return f"{mantissa}e{int(exponent)}"
        return str(int(value)) if value.is_integer() else f"{value:.3g}"
    return str(value)


def configurations(table: pd.DataFrame) -> pd.Series:
    """A name per row: its cell, then ``(name=value, ...)`` for the parameters that vary among
    the cell's runs (``hp.step_size`` as ``step_size``)."""
    names = pd.Series(table["cell"].astype(str).to_numpy(), index=table.index, dtype=object)
    for _, rows in table.groupby("cell", sort=False):
        varying = [c for c in param_columns(rows) if rows[c].nunique(dropna=False) > 1]
        if varying:
            parts = [
                ", ".join(f"{c.split('.', 1)[1]}={short_number(v)}" for c, v in zip(varying, row))
                for row in rows[varying].itertuples(index=False)
            ]
            names.loc[rows.index] = [f"{n} ({p})" for n, p in zip(names.loc[rows.index], parts)]
    return names


def final_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per configuration (in table order): the final metric's mean, standard error and seeds
    over the runs that did not diverge, the runs that diverged, mean queries and trajectories."""
    last = table[table["iteration"] == table.groupby("run_id")["iteration"].transform("max")]
    value = last[last["metric"] == "value"].set_index("run_id")
    if "value_gap" in set(last["metric"]):
        gap = last[last["metric"] == "value_gap"].set_index("run_id")["value"]
        value = value.assign(final=value["value"] / (value["value"] + gap), kind="J / J*")
    else:
        value = value.assign(final=value["value"], kind="J")
    value = value.assign(configuration=configurations(value))
    diverged = value["diverged"] if "diverged" in value else pd.Series(False, index=value.index)
    rows = []
    for name, group in value.groupby("configuration", sort=False):
        ok = group[~diverged.loc[group.index].to_numpy(bool)]["final"]
        n = len(ok)
        rows.append(
            {
                "configuration": name,
                "metric": group["kind"].iloc[0],
                "mean": ok.mean() if n else np.nan,
                "stderr": ok.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan,
                "seeds": n,
                "diverged": int(len(group) - n),
                "queries": float(group["queries"].mean()),
                "trajectories": float(group["trajectories"].mean()),
            }
        )
    return pd.DataFrame(rows)


def summary_lines(table: pd.DataFrame, limit: int = 30) -> list[str]:
    """The final summary as aligned text lines (at most ``limit`` configurations), with the
    NOTE on what +- and the bands are."""
    frame = final_summary(table)
    if frame.empty:
        return []
    kind = frame["metric"].iloc[0]
    width = max(22, *(len(n) for n in frame["configuration"].head(limit)))
    lines = [
        f"{'configuration':<{width}} {kind + ' (final)':>20} {'queries':>12} {'trajectories':>13}"
    ]
    for row in frame.head(limit).itertuples():
        if row.seeds == 0:
            final = f"all {row.diverged} diverged"
        elif np.isnan(row.stderr):
            final = f"{row.mean:.3f}"
        else:
            final = f"{row.mean:.3f} +- {row.stderr:.3f}"
        if row.seeds and row.diverged:
            final += f" ({row.diverged} diverged)"
        counts = f"{row.queries:>12.0f} {row.trajectories:>13.0f}"
        lines.append(f"{row.configuration:<{width}} {final:>20} {counts}")
    if len(frame) > limit:
        lines.append(f"... and {len(frame) - limit} more configurations (see the table)")
    return [*lines, NOTE]


def divergence_lines(diverged: list[dict], runs: int) -> list[str]:
    """A warning about the runs of ``diverged`` (``zoprl.storage.divergence`` entries): per
    configuration, which seeds, from which iteration, which metrics."""
    if not diverged:
        return []
    groups: dict[str, list[dict]] = {}
    for entry in diverged:
        params = ", ".join(
            f"{k.split('.', 1)[-1]}={short_number(v)}" for k, v in sorted(entry["params"].items())
        )
        groups.setdefault(entry["cell"] + (f" ({params})" if params else ""), []).append(entry)
    lines = [
        f"warning: {len(diverged)} of {runs} runs diverged (non-finite metrics; the table marks "
        "them in its diverged column, the figures with an x where they leave the plot):"
    ]
    for name, entries in groups.items():
        seeds = ", ".join(str(e["seed"]) for e in entries)
        first = min(e["iteration"] for e in entries)
        metrics = sorted({m for e in entries for m in e["metrics"]})
        lines.append(f"  {name}: seeds {seeds}, from iteration {first} ({', '.join(metrics)})")
    return lines
