"""The entry point of the ``rates`` experiment: run_rates measures a profile and writes the table,
the slope table, the figures and the manifest."""

from __future__ import annotations

import dataclasses
import io
import os
import time

from zoprl.reproduce.rates.figures import plot_rates
from zoprl.reproduce.rates.profiles import METRICS, QUANTITIES, X_COLUMNS, get_profile
from zoprl.reproduce.rates.slopes import fit_slopes, format_slopes
from zoprl.reproduce.rates.table import compute_rates

# --------------------------------------------------------------------------------------------
# entry point


def run_rates(out_dir: str, profile="quick", log=print, formats=("png", "pdf")) -> list[str]:
    """Measure the rates of ``profile`` ("quick": 2-core CPU, a few minutes; "full": one GPU;
    or a ``RatesProfile``) and write ``out_dir/results.parquet`` (the tidy table),
    ``out_dir/slopes.csv``, the figures (in ``formats``) and ``out_dir/manifest.json``
    (versions, device, profile, seconds per quantity); returns the written paths.
    Logs the slope table. ValueError for an unknown profile name, before any work."""
    from zoprl.storage import build_manifest, write_atomically, write_json_atomically, write_table

    profile = get_profile(profile)
    start = time.perf_counter()
    timings = {}
    df = compute_rates(profile, log, timings)
    os.makedirs(out_dir, exist_ok=True)
    written = [write_table(df, os.path.join(out_dir, "results.parquet"))]
    slopes = fit_slopes(df, profile)

    def write_csv(f):
        buffer = io.StringIO()
        slopes.to_csv(buffer, index=False)
        f.write(buffer.getvalue().encode())

    written.append(write_atomically(os.path.join(out_dir, "slopes.csv"), write_csv))
    written += plot_rates(df, profile, out_dir, formats)
    cells = [
        {
            "cell": q,
            "x": X_COLUMNS[q],
            "metric": METRICS[q],
            "x_values": sorted(float(v) for v in df.loc[df["cell"] == q, X_COLUMNS[q]].unique()),
            "seeds": int(df.loc[df["cell"] == q, "seed"].nunique()),
            "seconds": timings.get(q, 0.0),
        }
        for q in QUANTITIES
    ]
    manifest = build_manifest(
        {"name": "rates", "profile": dataclasses.asdict(profile)},
        cells,
        time.perf_counter() - start,
    )
    written.append(write_json_atomically(os.path.join(out_dir, "manifest.json"), manifest))
    log("fitted log-log slopes (95% cluster-bootstrap CI over seeds) vs expected:")
    log(format_slopes(slopes))
    log(
        f"rates [{profile.name}] done in {time.perf_counter() - start:.1f} s; wrote "
        f"{len(written)} files to {out_dir}"
    )
    return [str(p) for p in written]
