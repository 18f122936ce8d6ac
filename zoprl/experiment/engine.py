"""The sweep engine: every cell of a spec as one compiled program over all its runs, in chunks.

For each static cell (``build.build_cells``) the runs (grid points x seeds) form one axis that is
``vmap``-ped and sharded over all local devices (``NamedSharding`` on a 1-D mesh with axis type
Auto); each cell is run by ``zoprl.experiment.runner.CellRunner``. A cell compiles two programs
once (``start``: init + the record of iteration 0;
``advance``: ``chunk_size`` iterations), whatever the number of grid points and seeds. Between
chunks the metrics and the run state (the carry) are written to disk atomically, so that:

  * progress is reported per chunk (and compilation as a timed phase);
  * a sweep killed at any point and rerun with the same command resumes every batch from its last
    finished chunk (finished chunks are never recomputed) and ends with the same table as an
    uninterrupted sweep (same programs, same keys: the same numbers);
  * a runs axis too large for device memory is split into equal batches (the size is chosen from
    the compiled programs' memory analysis against the device memory, and halved if the device
    still runs out of memory); a cell whose single run cannot fit, or a table that cannot fit in
    host memory, is refused before anything runs (``zoprl.experiment.resources``).

The output folder is locked for the whole sweep, belongs to one spec, and is cleared of what a
killed writer left behind (``zoprl.experiment.folder``). Its layout::

    .zoprl.lock                                  held while a sweep writes here
    spec.json                                    the spec (a rerun must match it)
    chunks/invocations.json                      provenance and wall time of each invocation
                                                 that computed chunks
    chunks/cell-000/layout.json                  runs, batch size, chunks, metric names
    chunks/cell-000/batch-0000/chunk-0003.npz    metrics of chunk 3 (chunk 0: iteration 0), its
                                                 seconds, and the compile seconds spent on it
    chunks/cell-000/batch-0000/carry-0003.npz    run state after chunk 3 (only the newest kept)
    results.parquet                              the tidy table (zoprl.storage.table)
    manifest.json                                versions, device, spec, times, provenance,
                                                 diverged runs (zoprl.storage)

Times in the manifest belong to the invocations that computed the chunks: a rerun that finds
everything finished rewrites the table and manifest but keeps them.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any, NamedTuple

import jax

from zoprl.experiment.build import build_cells, seed_keys
from zoprl.experiment.devices import memory_budget, runs_mesh
from zoprl.experiment.folder import (
    lock_folder,
    prepare_folder,
    read_json_file,
    remove_temporaries,
)
from zoprl.experiment.progress import Progress
from zoprl.experiment.resources import check_spec_size, check_table_size, host_memory_budget
from zoprl.experiment.runner import Budgets, CellRunner
from zoprl.experiment.shards import Shard, shard_fingerprint, shard_record, shard_runs
from zoprl.experiment.spec import ExperimentSpec, spec_from_dict
from zoprl.hosts import host_names, is_writer, share
from zoprl.storage import (
    ID_COLUMNS,
    RUN_COLUMNS,
    build_manifest,
    consistent_columns,
    divergence,
    order_columns,
    provenance,
    sort_rows,
    write_json_atomically,
    write_table,
)


class SweepResult(NamedTuple):
    table_path: str
    manifest_path: str
    table: Any  # pandas DataFrame
    manifest: dict


# the sweep ----------------------------------------------------------------------------------
def run_sweep(
    spec: ExperimentSpec,
    out_dir: str,
    *,
    fresh: bool = False,
    progress: bool = True,
    stream=None,
    devices=None,
    memory_budget_bytes: float | None = None,
    host_memory_bytes: float | None = None,
    shard: Shard | None = None,
) -> SweepResult:
    """Run (or resume) every cell of ``spec`` into ``out_dir`` (module doc) and write the tidy
    table ``results.parquet`` and ``manifest.json``. Every input is validated, and the memory it
    needs checked, before anything runs. ``fresh``: discard earlier results in ``out_dir``
    instead of resuming. ``devices``: the devices the runs are sharded over (default: every
    device of every process, ``zoprl.hosts``). ``memory_budget_bytes``: bytes a batch
    may use per device (default: ``memory_budget``); ``host_memory_bytes``: bytes on the host
    (default: ``host_memory_budget``). ``shard``: run only that part of the runs
    (``zoprl.experiment.shards``). Launched as several processes, every process calls it and
    gets the same result; process 0 alone touches ``out_dir``."""
    spec = spec_from_dict(spec.to_dict())  # a spec built in Python is validated like a file
    budgets = Budgets(0.0, host_memory_budget() if host_memory_bytes is None else host_memory_bytes)
    check_spec_size(spec, budgets.host)
    cells = build_cells(spec)
    runs = shard_runs([c.grid_size * spec.seeds for c in cells], shard)
    devices = jax.devices() if devices is None else devices
    local = [d for d in devices if d.process_index == jax.process_index()]
    device_budget = memory_budget(local) if memory_budget_bytes is None else memory_budget_bytes
    budgets = budgets._replace(device=device_budget)
    hosts = host_names()
    with contextlib.ExitStack() as held:  # process 0's lock of the folder, for the sweep
        share(lambda: _lock_and_prepare(held, out_dir, spec, fresh, shard))
        parts = [(cell, r) for cell, r in zip(cells, runs) if len(r)]
        bar = Progress(0, len(cells), stream=stream, enabled=progress and is_writer())
        try:
            return _sweep(spec, cells, parts, out_dir, (devices, hosts, shard), budgets, bar)
        finally:
            bar.close()


def _lock_and_prepare(held: contextlib.ExitStack, out_dir: str, spec, fresh: bool, shard) -> None:
    """Process 0 (its refusal raised on every process): the lock of ``out_dir``, entered on
    ``held``, then the folder cleared of a killed writer's temporaries and prepared for
    ``spec`` (``zoprl.experiment.folder``)."""
    held.enter_context(lock_folder(out_dir))
    remove_temporaries(out_dir)
    fingerprint = shard_fingerprint(spec.fingerprint(), shard)
    prepare_folder(out_dir, fingerprint, spec.to_dict(), fresh, shard_record(shard))


def _plan(spec, parts, out_dir, devices, budgets, bar) -> list[CellRunner]:
    """A runner per cell, each with its batch size (compiling), and the table checked against
    the host budget: all before the first chunk runs."""
    mesh, keys = runs_mesh(devices), seed_keys(spec)
    runners = [
        CellRunner(
            spec,
            cell,
            os.path.join(out_dir, "chunks", f"cell-{cell.index:03d}"),
            mesh,
            budgets,
            keys,
            runs=runs,
        )
        for cell, runs in parts
    ]
    for runner in runners:
        runner.plan(bar)
    columns = {c for cell, _ in parts for c in cell.columns} | set(ID_COLUMNS) | set(RUN_COLUMNS)
    check_table_size(sum(r.table_rows() for r in runners), len(columns), budgets.host)
    bar.total = sum(r.num_batches * r.num_chunks for r in runners)
    return runners


def _record_invocation(out_dir: str, began: dict, wall: float, computed: int) -> list:
    """The invocations that computed chunks (``chunks/invocations.json``), this one added when
    it computed some (or when none is recorded yet)."""
    path = os.path.join(out_dir, "chunks", "invocations.json")
    recorded = (read_json_file(path, "the invocation record") or {}).get("invocations", [])
    if computed or not recorded:
        recorded = [*recorded, {**began, "wall_seconds": wall, "chunks_computed": computed}]
        write_json_atomically(path, {"invocations": recorded})
    return recorded


def _sweep(spec, cells, parts, out_dir, where, budgets: Budgets, bar: Progress) -> SweepResult:
    devices = where[0]
    started, began = time.perf_counter(), provenance()
    runners = _plan(spec, parts, out_dir, devices, budgets, bar)
    done = []
    for runner in runners:
        bar.cell(runner.cell.index, runner.cell.name)
        before = bar.finished
        computed = runner.run(bar)
        done.append((computed, bar.finished - before - computed))
    offsets = dict(zip((c.index for c in cells), _offsets(cells, spec.seeds)))
    return share(
        lambda: _write_results(spec, runners, done, offsets, out_dir, where, (started, began))
    )


def _offsets(cells, seeds: int) -> list[int]:
    """The run id of each cell's first run in the full sweep."""
    sizes = [c.grid_size * seeds for c in cells]
    return [sum(sizes[:i]) for i in range(len(sizes))]


def _write_results(spec, runners, done, offsets, out_dir, where, times) -> SweepResult:
    """Process 0: the table from the chunk files, the invocation record and the manifest."""
    import pandas as pd

    devices, hosts, shard = where
    summaries, frames, computed_total = [], [], 0
    for runner, (computed, resumed) in zip(runners, done):
        frame, seconds = runner.table(offsets[runner.cell.index])
        frames.append(frame)
        summaries.append(runner.summary(computed, resumed, seconds))
        computed_total += computed
    table = sort_rows(order_columns(consistent_columns(pd.concat(frames, ignore_index=True))))
    table_path = write_table(table, os.path.join(out_dir, "results.parquet"))
    wall = time.perf_counter() - times[0]
    invocations = _record_invocation(out_dir, times[1], wall, computed_total)
    manifest = build_manifest(
        spec.to_dict(),
        summaries,
        sum(i.get("wall_seconds", 0.0) for i in invocations),
        devices,
        invocations=invocations,
        diverged=divergence(table),
        hosts=hosts,
    )
    manifest.update(shard_record(shard))
    manifest_path = write_json_atomically(os.path.join(out_dir, "manifest.json"), manifest)
    return SweepResult(table_path, manifest_path, table, manifest)
