"""Independent shards of a sweep, for schedulers that only run job arrays.

``--shard i/n`` runs part i (0-based) of n of a sweep's runs. The runs of every cell, in cell
order, are numbered 0..R-1 as in the full table's ``run_id`` (run r of a cell = grid point
r // seeds, seed r % seeds); shard i takes the contiguous range ``[floor(i R / n),
floor((i + 1) R / n))``, so the shards are disjoint, cover every run, depend only on the spec and
n (any n from 1 to R), and most shards compile one or two cells only. A shard's folder records
the spec and the shard (``spec.json``) and holds the table of its runs with their full-sweep run
ids; ``zoprl merge`` (``zoprl.experiment.merge``) joins the folders of all n shards into the
table and manifest of the unsharded sweep.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Shard(NamedTuple):
    index: int  # 0-based
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """``"i/n"`` -> Shard(i, n); ValueError (one line) unless 0 <= i < n."""
    parts = str(text).strip().split("/")
    try:
        index, count = (int(p) for p in parts)
    except ValueError:
        raise ValueError(f"--shard must be I/N (e.g. 0/4), got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"--shard I/N needs 0 <= I < N, got {text!r}")
    return Shard(index, count)


def shard_runs(cell_runs: list[int], shard: Shard | None) -> list[np.ndarray]:
    """Per cell (given its run count), the run indices within the cell that ``shard`` runs
    (module doc); every run of every cell when ``shard`` is None. ValueError when the sweep has
    fewer runs than shards."""
    if shard is None:
        return [np.arange(r) for r in cell_runs]
    total = sum(cell_runs)
    if shard.count > total:
        raise ValueError(
            f"--shard {shard}: the sweep has {total} runs, fewer than {shard.count} shards; "
            f"use at most {total} shards"
        )
    lo, hi = shard.index * total // shard.count, (shard.index + 1) * total // shard.count
    parts, offset = [], 0
    for runs in cell_runs:
        parts.append(np.arange(max(lo - offset, 0), max(min(hi - offset, runs), 0)))
        offset += runs
    return parts


def shard_record(shard: Shard | None) -> dict:
    """What ``spec.json`` and the manifest say of the shard (nothing when unsharded)."""
    return {} if shard is None else {"shard": {"index": shard.index, "count": shard.count}}


def shard_fingerprint(fingerprint: str, shard: Shard | None) -> str:
    """The folder fingerprint of a shard: the spec's, and the shard (a folder holds one)."""
    return fingerprint if shard is None else f"{fingerprint} shard {shard}"


__all__ = ["Shard", "parse_shard", "shard_fingerprint", "shard_record", "shard_runs"]
