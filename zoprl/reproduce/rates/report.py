"""The entry point of the ``rates`` experiment: run_rates measures a profile and writes the table,
the slope table, the figures and the manifest."""

from __future__ import annotations

import dataclasses
import io
import os
import time

import numpy as np

from zoprl.reproduce.rates.figures import plot_rates
from zoprl.reproduce.rates.profiles import METRICS, QUANTITIES, X_COLUMNS, get_profile
from zoprl.reproduce.rates.slopes import fit_slopes, format_slopes, slopes_markdown
from zoprl.reproduce.rates.table import compute_rates

# --------------------------------------------------------------------------------------------
# entry point


def run_rates(out_dir: str, profile="quick", log=print, formats=("png", "pdf")) -> list[str]:
    """Measure the rates of ``profile`` ("quick": 2-core CPU, a few minutes; "full": one GPU;
    or a ``RatesProfile``) and write ``out_dir/results.parquet`` (the tidy table),
    ``out_dir/slopes.csv``, the figures (in ``formats``) and ``out_dir/manifest.json``
    (versions, device, profile, seconds per quantity); returns the written paths.
    Logs the slope table. ValueError for an unknown profile name, before any work."""
    from zoprl.storage import (
        build_manifest,
        write_atomically,
        write_bytes_atomically,
        write_json_atomically,
        write_table,
    )

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
    written.append(
        write_bytes_atomically(os.path.join(out_dir, "slopes.md"), slopes_markdown(slopes).encode())
    )
    written.append(exact_inversion_table(out_dir, profile, log))
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


EXACT_QUERIES = tuple(int(m) for m in np.unique(np.round(np.logspace(0, 4, 25))))
"""M = 1 to 10^4 (25 log-spaced values) for the exact inversion-bias curve."""


def exact_inversion_table(out_dir: str, profile, log) -> str:
    """``inversion_exact.csv``: the inversion bias against M with the votes summed exactly
    (``quantities.exact_inversion_bias``) at the (ii) setting, M from 1 to 10^4, and its local
    log-log slope: where the fitted -1 of the large-M limit is reached."""
    import jax
    import pandas as pd

    from zoprl.reproduce.rates import quantities
    from zoprl.reproduce.rates.problem import make_problem
    from zoprl.storage import write_bytes_atomically

    problem = make_problem()
    direction = np.asarray(problem.grad_flat) / np.linalg.norm(np.asarray(problem.grad_flat))
    exact = quantities.exact_inversion_bias(
        problem,
        jax.random.key(11),
        direction,
        profile.mu,
        min(profile.bias_pairs, 2**18),
        EXACT_QUERIES,
    )
    frame = pd.DataFrame(exact)
    steepest = frame.loc[frame.local_slope.idxmin()]
    after = frame[frame.num_queries > steepest.num_queries]
    near_one = after[after.local_slope > -1.05]
    log(
        f"exact inversion bias: local slope down to {steepest.local_slope:+.2f} (M = "
        f"{steepest.num_queries}); within 0.05 of -1 from M = "
        f"{int(near_one.num_queries.min()) if len(near_one) else 'never'}"
    )
    return write_bytes_atomically(
        os.path.join(out_dir, "inversion_exact.csv"), frame.to_csv(index=False).encode()
    )
