"""The sweep engine: every cell of a spec as one compiled program over all its runs, in chunks.

For each static cell (``build.build_cells``) the runs (grid points x seeds) form one axis that is
``vmap``-ped and sharded over all local devices (``NamedSharding`` on a 1-D mesh with axis type
Auto). A cell compiles two programs once (``start``: init + the record of iteration 0;
``advance``: ``chunk_size`` iterations), whatever the number of grid points and seeds. Between
chunks the metrics and the run state (the carry) are written to disk atomically, so that:

  * progress is reported per chunk;
  * a sweep killed at any point and rerun with the same command resumes every batch from its last
    finished chunk (finished chunks are never recomputed) and ends with the same table as an
    uninterrupted sweep (same programs, same keys: the same numbers);
  * a runs axis too large for device memory is split into equal batches (the size is chosen from
    the compiled programs' memory analysis against the device memory, and halved if the device
    still runs out of memory).

Layout of the output folder::

    spec.json                                    the spec (a rerun must match it)
    chunks/cell-000/layout.json                  runs, batch size, chunks
    chunks/cell-000/batch-0000/chunk-0003.npz    metrics of chunk 3 (chunk 0: iteration 0)
    chunks/cell-000/batch-0000/carry-0003.npz    run state after chunk 3 (only the newest kept)
    results.parquet                              the tidy table (zoprl.storage.table)
    manifest.json                                versions, device, spec, times (zoprl.storage)
"""

from __future__ import annotations

import json
import os
import shutil
import time
from typing import Any, NamedTuple

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from zoprl.algorithms.run import RUN_AXES, RunCarry, make_chunked_run, vmap_runs
from zoprl.experiment.build import Cell, build_cells, seed_keys
from zoprl.experiment.devices import (
    AXIS,
    is_out_of_memory,
    load_carry,
    memory_budget,
    program_bytes,
    runs_mesh,
    save_carry,
)
from zoprl.experiment.progress import Progress
from zoprl.experiment.spec import ExperimentSpec, SpecError, spec_from_dict
from zoprl.storage import (
    build_manifest,
    consistent_columns,
    order_columns,
    save_arrays_atomically,
    sort_rows,
    tidy_frame,
    write_json_atomically,
    write_table,
)


class SweepResult(NamedTuple):
    table_path: str
    manifest_path: str
    table: Any  # pandas DataFrame
    manifest: dict


# one cell -----------------------------------------------------------------------------------
class CellRunner:
    """The programs and inputs of one cell (module doc); ``run(progress)`` fills its folder.

    Chunk k >= 1 records ``records_per_chunk`` iterations' metrics, the last one possibly fewer
    (``chunk_records``): a record count with no good divisor gets a shorter last chunk, compiled
    as a second ``advance`` program, instead of many tiny chunks."""

    def __init__(self, spec: ExperimentSpec, cell: Cell, folder: str, mesh, budget: float):
        self.spec, self.cell, self.folder, self.mesh, self.budget = spec, cell, folder, mesh, budget
        self.devices = mesh.devices.size
        self.chunk = spec.resolved_chunk_size()
        self.records_per_chunk = self.chunk // spec.eval_every
        self.num_chunks = 1 + -(-spec.num_records // self.records_per_chunk)
        self.num_runs = cell.grid_size * spec.seeds
        self.grid_index = np.repeat(np.arange(cell.grid_size), spec.seeds)
        self.seed_index = np.tile(np.arange(spec.seeds), cell.grid_size)
        self.keys = seed_keys(spec)
        self.compilations = {"start": 0, "advance": 0}
        self.compile_seconds = {"start": 0.0, "advance": 0.0}
        self.vmapped = {}
        for records in sorted({self.chunk_records(k) for k in range(1, self.num_chunks)}):
            name = "advance" if records == self.records_per_chunk else "advance_tail"
            chunked = make_chunked_run(
                cell.algorithm,
                records_per_chunk=records,
                eval_every=spec.eval_every,
                evaluator=cell.evaluator,
            )
            vstart, vadvance = vmap_runs(chunked, cell.env_batched)
            self.vmapped["start"] = self._counted("start", vstart)
            self.vmapped[name] = self._counted(name, vadvance)
        self.runs_sharding = NamedSharding(mesh, PartitionSpec(AXIS))
        self.replicated = NamedSharding(mesh, PartitionSpec())
        self.carry_sharding = RunCarry(
            *(self.replicated if axis is None else self.runs_sharding for axis in RUN_AXES)
        )
        self.env_sharding = self.runs_sharding if cell.env_batched else self.replicated
        self.programs: dict[str, Any] = {}
        self.max_batch = spec.max_runs_per_batch
        self.batch_size = self.num_batches = 0

    def _counted(self, name, fn):
        """``fn`` counting its traces (one per compilation) under ``name``."""
        self.compilations.setdefault(name, 0)
        self.compile_seconds.setdefault(name, 0.0)

        def traced(*args):
            self.compilations[name] += 1
            return fn(*args)

        return traced

    def chunk_records(self, k: int) -> int:
        """Records of chunk k >= 1 (the last may be shorter)."""
        return min(self.records_per_chunk, self.spec.num_records - (k - 1) * self.records_per_chunk)

    def advance_name(self, k: int) -> str:
        return "advance" if self.chunk_records(k) == self.records_per_chunk else "advance_tail"

    # inputs ---------------------------------------------------------------------------------
    def batch_indices(self, batch: int, size: int) -> np.ndarray:
        """Run indices of batch ``batch`` of ``size`` runs, padded by repeating the last run."""
        return np.minimum(np.arange(batch * size, (batch + 1) * size), self.num_runs - 1)

    def inputs(self, idx: np.ndarray):
        """(keys, hparams, env_params, oracle_params) of runs ``idx``, placed on the mesh."""
        g, s = self.grid_index[idx], self.seed_index[idx]
        pick = lambda tree: jax.tree.map(lambda x: np.asarray(x)[g], tree)
        cell = self.cell
        args = (
            self.keys[s],
            pick(cell.hparams),
            pick(cell.env_params) if cell.env_batched else cell.env_params,
            pick(cell.oracle_params),
        )
        shardings = (self.runs_sharding, self.runs_sharding, self.env_sharding, self.runs_sharding)
        return tuple(jax.device_put(a, sh) for a, sh in zip(args, shardings))

    def abstract_inputs(self, batch_size: int):
        """Shapes of a batch of ``batch_size`` runs, with their shardings (for compiling)."""
        args = self.inputs(self.batch_indices(0, batch_size))
        return tuple(
            jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), a)
            for a in args
        )

    # programs -------------------------------------------------------------------------------
    def compile(self, batch_size: int) -> float:
        """Compile every program for ``batch_size`` runs; returns their memory need (bytes)."""
        args = self.abstract_inputs(batch_size)
        shardings = (self.runs_sharding, self.runs_sharding, self.env_sharding, self.runs_sharding)
        t0 = time.perf_counter()
        traced = jax.jit(
            self.vmapped["start"],
            in_shardings=shardings,
            out_shardings=(self.carry_sharding, self.runs_sharding),
        ).trace(*args)
        self.programs["start"] = traced.lower().compile()
        self.compile_seconds["start"] += time.perf_counter() - t0
        self.template = RunCarry(
            *(
                jax.tree.map(
                    lambda x, s=sharding: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), part
                )
                for part, sharding in zip(traced.out_info[0], self.carry_sharding)
            )
        )
        for name in (n for n in self.vmapped if n != "start"):
            t0 = time.perf_counter()
            self.programs[name] = (
                jax.jit(
                    self.vmapped[name],
                    in_shardings=(self.carry_sharding, *shardings[1:]),
                    out_shardings=(self.carry_sharding, self.runs_sharding),
                    donate_argnums=0,
                )
                .trace(self.template, *args[1:])
                .lower()
                .compile()
            )
            self.compile_seconds[name] += time.perf_counter() - t0
        self.batch_size = batch_size
        return max(program_bytes(p) for p in self.programs.values())

    def choose_batch_size(self) -> int:
        """All runs at once unless ``max_runs_per_batch`` or the memory budget says otherwise;
        always a multiple of the device count. Compiles the programs for the chosen size."""
        d = self.devices
        size = -(-self.num_runs // d) * d
        if self.max_batch is not None:
            size = min(size, max(d, self.max_batch // d * d))
        for _ in range(8):
            need = self.compile(size)
            if need <= self.budget or size == d:
                break
            size = max(d, int(size * self.budget / need) // d * d)
        return size

    # the loop -------------------------------------------------------------------------------
    def plan(self, note=lambda message: None) -> None:
        """Read the cell's layout from disk (resuming) or choose and record the batch size. A
        layout written with another device count is kept when its batch size still divides
        among the devices; otherwise the cell starts over (``note`` says so)."""
        path = os.path.join(self.folder, "layout.json")
        expected = {"num_runs": self.num_runs, "num_chunks": self.num_chunks}
        layout = None
        if os.path.exists(path):
            with open(path) as f:
                layout = json.load(f)
            if (
                any(layout.get(k) != v for k, v in expected.items())
                or layout.get("batch_size", 0) % self.devices
            ):
                note(
                    f"{self.cell.name}: finished chunks were laid out for "
                    f"{layout.get('devices')} devices in batches of {layout.get('batch_size')}"
                    f", which {self.devices} devices cannot share: starting the cell over"
                )
                shutil.rmtree(self.folder)
                layout = None
        if layout is None:
            layout = {**expected, "devices": self.devices, "batch_size": self.choose_batch_size()}
            write_json_atomically(path, layout)
        self.batch_size = layout["batch_size"]
        self.num_batches = -(-self.num_runs // self.batch_size)

    def finished_chunks(self, batch_folder: str) -> int:
        """Chunks 0..k-1 finished (metrics on disk, and the carry of k-1 unless all are done)."""
        k = 0
        while os.path.exists(os.path.join(batch_folder, f"chunk-{k:04d}.npz")):
            k += 1
        while 0 < k < self.num_chunks and not os.path.exists(
            os.path.join(batch_folder, f"carry-{k - 1:04d}.npz")
        ):
            k -= 1
        return k

    def run(self, progress: Progress) -> int:
        """Compute every unfinished chunk; returns how many were computed. Out of device memory,
        the batch size is halved and the cell started over."""
        finished_before = progress.finished
        while True:
            try:
                return self._run_batches(progress)
            except Exception as err:  # noqa: BLE001 - only out-of-memory is retried
                if not is_out_of_memory(err) or self.batch_size <= self.devices:
                    raise
                progress.finished = finished_before
                before = self.num_batches
                self.max_batch = self.batch_size // 2
                shutil.rmtree(self.folder)
                self.programs.clear()
                self.plan()
                progress.total += (self.num_batches - before) * self.num_chunks

    def _run_batches(self, progress: Progress) -> int:
        computed = 0
        for b in range(self.num_batches):
            folder = os.path.join(self.folder, f"batch-{b:04d}")
            os.makedirs(folder, exist_ok=True)
            done = self.finished_chunks(folder)
            self._tidy(folder, done)
            progress.skipped(done)
            if done == self.num_chunks:
                continue
            if not self.programs:
                self.compile(self.batch_size)
            args = self.inputs(self.batch_indices(b, self.batch_size))
            where = f"batch {b + 1}/{self.num_batches}"
            if done == 0:
                t0 = time.perf_counter()
                carry, first = self.programs["start"](*args)
                first = {k: v[:, None] for k, v in jax.device_get(first).items()}
                self._commit(folder, 0, carry, first, time.perf_counter() - t0)
                progress.done(time.perf_counter() - t0, f"{where} start")
                computed, done = computed + 1, 1
            else:
                carry = load_carry(os.path.join(folder, f"carry-{done - 1:04d}.npz"), self.template)
            for k in range(done, self.num_chunks):
                t0 = time.perf_counter()
                carry, metrics = self.programs[self.advance_name(k)](carry, *args[1:])
                self._commit(folder, k, carry, jax.device_get(metrics), time.perf_counter() - t0)
                progress.done(time.perf_counter() - t0, f"{where} chunk {k}/{self.num_chunks - 1}")
                computed += 1
        return computed

    def _tidy(self, folder: str, done: int) -> None:
        """Remove what a kill can leave behind: temporary files, carries other than the one the
        resumed batch starts from (none once every chunk is done)."""
        keep = f"carry-{done - 1:04d}.npz" if 0 < done < self.num_chunks else None
        for name in os.listdir(folder):
            if name.endswith(".tmp") or (name.startswith("carry-") and name != keep):
                os.unlink(os.path.join(folder, name))

    def _commit(self, folder: str, k: int, carry, metrics: dict, seconds: float) -> None:
        """Carry k, then the metrics of chunk k (the chunk's commit mark); drop carry k - 1, and
        carry k too after the last chunk."""
        save_carry(os.path.join(folder, f"carry-{k:04d}.npz"), jax.device_get(carry))
        save_arrays_atomically(
            os.path.join(folder, f"chunk-{k:04d}.npz"),
            {
                **{f"metric.{n}": np.asarray(v) for n, v in metrics.items()},
                "seconds": np.float64(seconds),
            },
        )
        stale = [k - 1, k] if k == self.num_chunks - 1 else [k - 1]
        for j in stale:
            path = os.path.join(folder, f"carry-{j:04d}.npz")
            if j >= 0 and os.path.exists(path):
                os.unlink(path)

    # the table ------------------------------------------------------------------------------
    def table(self, run_offset: int):
        """The cell's tidy table from its chunk files, and the seconds its chunks took."""
        per_batch, seconds = [], 0.0
        for b in range(self.num_batches):
            folder = os.path.join(self.folder, f"batch-{b:04d}")
            chunks = []
            for k in range(self.num_chunks):
                with np.load(os.path.join(folder, f"chunk-{k:04d}.npz")) as data:
                    chunks.append(
                        {
                            n[len("metric.") :]: data[n]
                            for n in data.files
                            if n.startswith("metric.")
                        }
                    )
                    seconds += float(data["seconds"])
            per_batch.append(chunks)
        names = list(per_batch[0][-1])
        metrics, present = {}, {}
        for name in names:
            columns = []
            for chunks in per_batch:
                columns.append(
                    np.concatenate(
                        [
                            c[name]
                            if name in c
                            else np.full_like(chunks[-1][name][:, :1], np.nan, dtype=np.float64)
                            for c in chunks
                        ],
                        axis=1,
                    )
                )
            metrics[name] = np.concatenate(columns)[: self.num_runs]
            present[name] = np.concatenate(
                [np.full(c[name].shape[1] if name in c else 1, name in c) for c in per_batch[0]]
            )
        spec, cell = self.spec, self.cell
        iterations = np.arange(0, spec.iterations + 1, spec.eval_every)
        frame = tidy_frame(
            ids={
                "cell": cell.name,
                "label": cell.label,
                "algorithm": cell.algorithm_name,
                "environment": cell.environment,
                "oracle": cell.oracle,
                "reads_latent_reward": cell.reads_latent_reward,
            },
            params={k: v[self.grid_index] for k, v in cell.columns.items()},
            run_ids=run_offset + np.arange(self.num_runs),
            seeds=spec.first_seed + self.seed_index,
            iterations=iterations,
            metrics=metrics,
            present=present,
        )
        return frame, seconds


# the sweep ----------------------------------------------------------------------------------
def _prepare_folder(out_dir: str, spec: ExperimentSpec, fresh: bool) -> None:
    spec_path = os.path.join(out_dir, "spec.json")
    if os.path.exists(spec_path) and not fresh:
        with open(spec_path) as f:
            previous = json.load(f)
        if previous.get("fingerprint") != spec.fingerprint():
            raise SpecError(
                f"{out_dir} holds the results of a different spec; rerun with --fresh "
                "to replace them, or choose another --out"
            )
    if fresh:
        for name in ("chunks", "results.parquet", "manifest.json", "spec.json"):
            path = os.path.join(out_dir, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.unlink(path)
    write_json_atomically(spec_path, {"fingerprint": spec.fingerprint(), "spec": spec.to_dict()})


def run_sweep(
    spec: ExperimentSpec,
    out_dir: str,
    *,
    fresh: bool = False,
    progress: bool = True,
    stream=None,
    devices=None,
    memory_budget_bytes: float | None = None,
) -> SweepResult:
    """Run (or resume) every cell of ``spec`` into ``out_dir`` (module doc) and write the tidy
    table ``results.parquet`` and ``manifest.json``. Every input is validated before anything
    is compiled. ``fresh``: discard earlier results in ``out_dir`` instead of resuming.
    ``memory_budget_bytes``: bytes a batch may use per device (default: ``memory_budget``)."""
    import pandas as pd

    spec = spec_from_dict(spec.to_dict())  # a spec built in Python is validated like a file
    cells = build_cells(spec)
    _prepare_folder(out_dir, spec, fresh)
    devices = jax.local_devices() if devices is None else devices
    mesh = runs_mesh(devices)
    budget = memory_budget(devices) if memory_budget_bytes is None else memory_budget_bytes
    started = time.perf_counter()
    runners = [
        CellRunner(
            spec, cell, os.path.join(out_dir, "chunks", f"cell-{cell.index:03d}"), mesh, budget
        )
        for cell in cells
    ]
    bar = Progress(0, len(cells), stream=stream, enabled=progress)
    for runner in runners:  # batch sizes first (compiling), so that progress knows the total
        bar.note(
            f"preparing cell {runner.cell.index + 1}/{len(cells)} {runner.cell.name} "
            f"({runner.num_runs} runs)"
        )
        runner.plan(bar.note)
    bar.total = sum(r.num_batches * r.num_chunks for r in runners)
    summaries, frames, offset = [], [], 0
    try:
        for runner in runners:
            bar.cell(runner.cell.index, runner.cell.name)
            before = bar.finished
            computed = runner.run(bar)
            frame, chunk_seconds = runner.table(offset)
            offset += runner.num_runs
            frames.append(frame)
            summaries.append(
                {
                    "cell": runner.cell.name,
                    "label": runner.cell.label,
                    "algorithm": runner.cell.algorithm_name,
                    "grid_points": runner.cell.grid_size,
                    "runs": runner.num_runs,
                    "batch_size": runner.batch_size,
                    "batches": runner.num_batches,
                    "chunk_size": runner.chunk,
                    "chunks_per_batch": runner.num_chunks,
                    "chunks_computed": computed,
                    "chunks_resumed": bar.finished - before - computed,
                    "compilations": dict(runner.compilations),
                    "compile_seconds": dict(runner.compile_seconds),
                    "chunk_seconds": chunk_seconds,
                }
            )
    finally:
        bar.close()
    table = sort_rows(order_columns(consistent_columns(pd.concat(frames, ignore_index=True))))
    table_path = write_table(table, os.path.join(out_dir, "results.parquet"))
    manifest = build_manifest(spec.to_dict(), summaries, time.perf_counter() - started, devices)
    manifest_path = write_json_atomically(os.path.join(out_dir, "manifest.json"), manifest)
    return SweepResult(table_path, manifest_path, table, manifest)
