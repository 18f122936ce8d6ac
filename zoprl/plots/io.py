"""Reading a tidy results table from Parquet."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from zoprl.theory.tidy import REQUIRED_COLUMNS

RESULTS_FILE = "results.parquet"


def load_table(path) -> pd.DataFrame:
    """The tidy results table at ``path``: a Parquet file, or a results folder holding
    ``results.parquet``. One-line ValueError when it is missing, unreadable, or lacks one of
    ``zoprl.theory.REQUIRED_COLUMNS``."""
    path = Path(path)
    file = path / RESULTS_FILE if path.is_dir() else path
    if not file.is_file():
        raise ValueError(
            f"no results table at {str(file)!r}: expected a Parquet file or a "
            f"folder holding {RESULTS_FILE}"
        )
    try:
        table = pd.read_parquet(file)
    except Exception as err:  # noqa: BLE001 - any reader failure becomes one clear line
        detail = (str(err).strip().splitlines() or [""])[0]
        raise ValueError(
            f"cannot read {str(file)!r} as Parquet: {type(err).__name__}: {detail}"
        ) from err
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(
            f"{str(file)!r} is not a zoprl results table: it lacks column(s) {missing}"
        )
    if table.empty:
        raise ValueError(f"{str(file)!r} holds no rows")
    return table


MANIFEST_FILE = "manifest.json"


def load_manifest(path) -> dict:
    """The ``manifest.json`` beside a results table (``path``: the folder or the Parquet file);
    one-line ValueError when it is missing or unreadable."""
    import json

    path = Path(path)
    file = (path if path.is_dir() else path.parent) / MANIFEST_FILE
    try:
        with open(file, encoding="utf-8") as f:
            manifest = json.load(f)
    except FileNotFoundError:
        raise ValueError(f"no manifest at {str(file)!r} (needed for --x seconds)") from None
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read {str(file)!r}: {' '.join(str(err).split())}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("cells"), list):
        raise ValueError(f"{str(file)!r} is not a zoprl manifest (no cells)")
    return manifest


def with_seconds(table: pd.DataFrame, manifest: dict) -> pd.DataFrame:
    """``table`` with a ``seconds`` column: iteration x its cell's measured seconds per iteration
    (the manifest's chunk seconds over the iterations: every seed at once, compilation
    excluded), the x axis of ``--x seconds``."""
    iterations = manifest.get("spec", {}).get("iterations")
    per_iteration = {
        c["cell"]: c["chunk_seconds"] / iterations
        for c in manifest["cells"]
        if iterations and "chunk_seconds" in c
    }
    missing = sorted(set(table["cell"]) - set(per_iteration))
    if missing:
        raise ValueError(f"the manifest has no chunk seconds for cell(s) {missing}")
    return table.assign(seconds=table["iteration"] * table["cell"].map(per_iteration))
