"""Memory a sweep will need, checked before anything runs: a clear refusal instead of a crash.

Three checks, each a one-line ``ResourceError`` (a ValueError: exit code 2 on the command line):

  * ``check_spec_size`` (from the spec alone, before anything is built): a lower bound on the
    results table (runs x records x at least one metric) against the host budget, so that
    ``seeds = 1e9`` is refused at once instead of allocating keys and indices for minutes;
  * ``batch_need`` / ``check_one_run`` (per cell, after compiling, before running): XLA's memory
    analysis of the compiled programs (temporaries, arguments, outputs) plus the host copies of
    each chunk (the carry and the metrics fetched, then written: ``HOST_COPIES`` each), against
    the per-device budget; on a CPU the devices' memory is the host's, so the copies count there;
  * ``check_table_size`` (after compiling, before running): the tidy table the sweep will build,
    ``TABLE_BYTES_PER_CELL`` bytes per row and column at its peak (building, sorting and writing
    it: measured about 2.3 copies of pandas' 14-16 bytes per value), against the host budget.

Budgets: ``zoprl.experiment.devices.memory_budget`` per device, ``host_memory_budget`` on the
host (half the physical memory); both may be set (``run_sweep``, ``--memory-budget``,
``--host-memory-budget``).
"""

from __future__ import annotations

import math
import os
import re

HOST_COPIES = 2  # fetched from the device, then serialised to the chunk or carry file
TABLE_BYTES_PER_CELL = 40  # peak host bytes per row and column of the tidy table
MIN_TABLE_COLUMNS = 16  # 7 identifying + 7 per-row columns + at least 2 parameters
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


class ResourceError(ValueError):
    """A sweep that cannot fit in memory (one line: what needs how much, against which budget)."""


def format_bytes(count: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count:.0f} bytes"


def parse_size(text: str) -> float:
    """Bytes from ``512M``, ``8G``, ``1.5GiB``, ``2e9`` (binary units, case-insensitive)."""
    match = re.fullmatch(r"\s*([0-9.]+(?:e[0-9]+)?)\s*([kmgt]?)(?:i?b)?\s*", str(text).lower())
    if not match:
        raise ValueError(f"expected a size such as 512M or 8G, got {text!r}")
    value = float(match.group(1)) * _UNITS[match.group(2)]
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"expected a positive size, got {text!r}")
    return value


def host_memory_budget() -> float:
    """Bytes the sweep may hold on the host: half the physical memory."""
    return 0.5 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def spec_runs(spec) -> int:
    """Runs of the whole sweep, from the spec alone: per algorithm entry, its static-grid cells
    x its grid points (the spec's grid and its own) x seeds."""
    total = 0
    for entry in spec.algorithms:
        grid = {**spec.grid, **entry.grid}
        cells = math.prod(len(v) for v in entry.static_grid.values())
        total += cells * math.prod(len(v) for v in grid.values()) * spec.seeds
    return total


def table_bytes(rows: int, columns: int) -> float:
    return float(rows) * columns * TABLE_BYTES_PER_CELL


def check_spec_size(spec, host_budget: float) -> None:
    """Refuse a spec whose results table cannot fit even at its smallest (module doc)."""
    runs = spec_runs(spec)
    rows = runs * (spec.num_records + 1)
    need = table_bytes(rows, MIN_TABLE_COLUMNS)
    if need > host_budget:
        raise ResourceError(
            f"the results table of {runs:,} runs x {spec.num_records + 1:,} records would need "
            f"at least {format_bytes(need)} of host memory, more than the budget of "
            f"{format_bytes(host_budget)}; use fewer seeds or grid points, record less often "
            "(eval_every), or raise --host-memory-budget"
        )


def host_batch_bytes(carry_bytes: float, chunk_metric_bytes: float) -> float:
    """Host bytes one batch's chunk needs: ``HOST_COPIES`` of its carry and of its metrics."""
    return HOST_COPIES * (carry_bytes + chunk_metric_bytes)


def tree_bytes(tree) -> float:
    """Bytes of the arrays (or ShapeDtypeStructs) of a pytree."""
    import jax

    return float(
        sum(
            math.prod(x.shape) * x.dtype.itemsize
            for x in jax.tree.leaves(tree)
            if hasattr(x, "shape") and hasattr(x, "dtype")
        )
    )


def check_one_run(cell_name: str, need: float, budget: float, runs: int) -> None:
    """Refuse a cell when a batch of ``runs`` (one per device, the smallest) needs more than
    ``budget`` bytes per device."""
    if need > budget:
        raise ResourceError(
            f"cell {cell_name}: one run per device needs {format_bytes(need)} of memory "
            f"(XLA's analysis of the compiled program, with the host copies of a chunk), more "
            f"than the budget of {format_bytes(budget)} per device; reduce its sizes (pairs, "
            "environments, eval_episodes, chunk_size) or raise --memory-budget"
        )


def check_table_size(rows: int, columns: int, host_budget: float) -> None:
    """Refuse a sweep whose tidy table of ``rows`` x ``columns`` exceeds the host budget."""
    need = table_bytes(rows, columns)
    if need > host_budget:
        raise ResourceError(
            f"the results table would hold {rows:,} rows x {columns} columns, about "
            f"{format_bytes(need)} of host memory while it is built and written, more than the "
            f"budget of {format_bytes(host_budget)}; use fewer seeds or grid points, record "
            "less often (eval_every), or raise --host-memory-budget"
        )
