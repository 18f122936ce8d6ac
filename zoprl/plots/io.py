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
