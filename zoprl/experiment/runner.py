"""One cell of a sweep: its compiled programs, its batches and its chunk files.

``CellRunner`` (used by ``zoprl.experiment.engine.run_sweep``) compiles a cell's ``start`` and
``advance`` programs for a batch size chosen against the memory budgets (``Budgets``), runs every
unfinished chunk of every batch, commits each chunk atomically (the carry, then the metrics file
that marks the chunk finished, holding its seconds and the compile seconds not yet recorded),
and reads the chunk files back into the cell's tidy table. The folder layout is described in
``zoprl.experiment.engine``.
"""

from __future__ import annotations

import os
import shutil
import time
from typing import Any, NamedTuple

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from zoprl.algorithms.run import RUN_AXES, WRAPS_SUFFIX, RunCarry, make_chunked_run, vmap_runs
from zoprl.experiment.build import Cell
from zoprl.experiment.devices import (
    AXIS,
    is_out_of_memory,
    program_bytes,
    restore_carry,
    save_carry,
)
from zoprl.experiment.folder import FolderError, read_json_file
from zoprl.experiment.progress import Progress
from zoprl.experiment.resources import check_one_run, host_batch_bytes, tree_bytes
from zoprl.experiment.spec import ExperimentSpec
from zoprl.hosts import fetch, global_array, process_count, share
from zoprl.storage import (
    CorruptFileError,
    exact_counts,
    load_arrays,
    save_arrays_atomically,
    tidy_frame,
    write_json_atomically,
)
from zoprl.storage.table import COUNT_METRICS


class Budgets(NamedTuple):
    """Bytes a batch may use per device, and bytes the sweep may hold on the host."""

    device: float
    host: float


def _load_chunk_file(path: str) -> dict:
    try:
        return load_arrays(path)
    except CorruptFileError as err:
        raise FolderError(
            f"{err}; delete it to recompute that chunk, or rerun with --fresh"
        ) from None


# one cell -----------------------------------------------------------------------------------
class CellRunner:
    """The programs and inputs of one cell (module doc); ``run(progress)`` fills its folder.

    Chunk k >= 1 records ``records_per_chunk`` iterations' metrics, the last one possibly fewer
    (``chunk_records``): a record count with no good divisor gets a shorter last chunk, compiled
    as a second ``advance`` program, instead of many tiny chunks."""

    def __init__(
        self,
        spec: ExperimentSpec,
        cell: Cell,
        folder: str,
        mesh,
        budgets: Budgets,
        keys,
        runs=None,
    ):
        self.spec, self.cell, self.folder, self.mesh, self.budgets = (
            spec,
            cell,
            folder,
            mesh,
            budgets,
        )
        self.keys = keys
        self.devices = mesh.devices.size
        self.on_cpu = mesh.devices.flat[0].platform == "cpu"
        self.chunk = spec.resolved_chunk_size()
        self.records_per_chunk = self.chunk // spec.eval_every
        self.num_chunks = spec.chunks_per_batch
        # the cell's runs this runner computes (all of them unless a shard's): run r is grid
        # point r // seeds, seed r % seeds
        self.runs = np.arange(cell.grid_size * spec.seeds) if runs is None else np.asarray(runs)
        self.num_runs = len(self.runs)
        self.compilations = {"start": 0, "advance": 0}
        self.compile_seconds = {"start": 0.0, "advance": 0.0}
        self.unrecorded = {}  # compile seconds not yet written into a chunk file
        self.vmapped = self._vmapped_programs()
        self.runs_sharding = NamedSharding(mesh, PartitionSpec(AXIS))
        self.replicated = NamedSharding(mesh, PartitionSpec())
        self.carry_sharding = RunCarry(
            *(self.replicated if axis is None else self.runs_sharding for axis in RUN_AXES)
        )
        self.env_sharding = self.runs_sharding if cell.env_batched else self.replicated
        self.programs: dict[str, Any] = {}
        self.max_batch = spec.max_runs_per_batch
        self.batch_size = self.num_batches = self.compiled_size = 0
        self.metric_names: list[str] = []

    def _vmapped_programs(self) -> dict:
        """The vmapped start and advance functions (one advance per chunk length)."""
        vmapped = {}
        for records in sorted({self.chunk_records(k) for k in range(1, self.num_chunks)}):
            name = "advance" if records == self.records_per_chunk else "advance_tail"
            chunked = make_chunked_run(
                self.cell.algorithm,
                records_per_chunk=records,
                eval_every=self.spec.eval_every,
                evaluator=self.cell.evaluator,
            )
            vstart, vadvance = vmap_runs(chunked, self.cell.env_batched)
            vmapped["start"] = self._counted("start", vstart)
            vmapped[name] = self._counted(name, vadvance)
        return vmapped

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
        """(keys, hparams, env_params, oracle_params) of the runs at positions ``idx`` of
        ``self.runs`` (run r = grid point r // S, seed r % S), placed on the mesh: each process
        feeds the shards of its own devices."""
        runs = self.runs[idx]
        g, s = runs // self.spec.seeds, runs % self.spec.seeds
        pick = lambda tree: jax.tree.map(lambda x: np.asarray(x)[g], tree)
        cell = self.cell
        args = (
            self.keys[s],
            pick(cell.hparams),
            pick(cell.env_params) if cell.env_batched else cell.env_params,
            pick(cell.oracle_params),
        )
        shardings = (self.runs_sharding, self.runs_sharding, self.env_sharding, self.runs_sharding)
        return tuple(
            jax.tree.map(lambda x, sh=sh: global_array(x, sh), a) for a, sh in zip(args, shardings)
        )

    def abstract_inputs(self, batch_size: int):
        """Shapes of a batch of ``batch_size`` runs, with their shardings (for compiling)."""
        args = self.inputs(self.batch_indices(0, batch_size))
        return tuple(
            jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), a)
            for a in args
        )

    # programs -------------------------------------------------------------------------------
    def _compile_one(self, name: str, *args, **jit_options):
        t0 = time.perf_counter()
        traced = jax.jit(self.vmapped[name], **jit_options).trace(*args)
        self.programs[name] = traced.lower().compile()
        seconds = time.perf_counter() - t0
        self.compile_seconds[name] += seconds
        self.unrecorded[name] = self.unrecorded.get(name, 0.0) + seconds
        return traced

    def compile(self, batch_size: int) -> float:
        """Compile every program for ``batch_size`` runs; returns the bytes a device needs: the
        programs' own (XLA's memory analysis) and, on a CPU, its share of the host copies."""
        args = self.abstract_inputs(batch_size)
        shardings = (self.runs_sharding, self.runs_sharding, self.env_sharding, self.runs_sharding)
        out_shardings = (self.carry_sharding, self.runs_sharding)
        traced = self._compile_one(
            "start", *args, in_shardings=shardings, out_shardings=out_shardings
        )
        self.template = RunCarry(
            *(
                jax.tree.map(
                    lambda x, s=sharding: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), part
                )
                for part, sharding in zip(traced.out_info[0], self.carry_sharding)
            )
        )
        chunk_metrics = 0.0
        for name in (n for n in self.vmapped if n != "start"):
            advance = self._compile_one(
                name,
                self.template,
                *args[1:],
                in_shardings=(self.carry_sharding, *shardings[1:]),
                out_shardings=out_shardings,
                donate_argnums=0,
            )
            chunk_metrics = max(chunk_metrics, tree_bytes(advance.out_info[1]))
            self.metric_names = sorted(advance.out_info[1])
        self.batch_size = self.compiled_size = batch_size
        self.host_bytes = host_batch_bytes(tree_bytes(self.template), chunk_metrics)
        own = max(program_bytes(p) for p in self.programs.values())
        return own + (self.host_bytes / self.devices if self.on_cpu else 0.0)

    def choose_batch_size(self) -> int:
        """All runs at once unless ``max_runs_per_batch`` or the memory budget says otherwise;
        always a multiple of the device count. Compiles the programs for the chosen size;
        ResourceError when one run per device does not fit."""
        d, budget = self.devices, self.budgets.device
        size = -(-self.num_runs // d) * d
        if self.max_batch is not None:
            size = min(size, max(d, self.max_batch // d * d))
        for _ in range(8):
            need = self.compile(size)
            ratio = max(need / budget, 0.0 if self.on_cpu else self.host_bytes / self.budgets.host)
            if ratio <= 1 or size == d:
                break
            size = max(d, int(size / ratio) // d * d)
        if size == d:
            check_one_run(self.cell.name, need, budget, d)
        return size

    # the loop -------------------------------------------------------------------------------
    def plan(self, progress: Progress) -> None:
        """Read the cell's layout from disk (resuming) or choose and record the batch size. A
        layout written with another device count is kept when its batch size still divides
        among the devices; otherwise the cell starts over (``progress`` says so). Several
        processes: process 0's layout, or its choice, holds for all."""
        layout = share(lambda: self._read_layout(progress))
        if layout is None:
            with progress.phase(f"compiling {self.cell.name} ({self.num_runs} runs)"):
                size = self.choose_batch_size()
            layout = share(lambda: self._write_layout(size))
        self.batch_size = layout["batch_size"]
        self.metric_names = layout.get("metrics") or self.metric_names
        self.num_batches = -(-self.num_runs // self.batch_size)
        if self.programs and self.compiled_size != self.batch_size:
            self.programs.clear()  # compiled for another size than process 0 chose

    def _expected_layout(self) -> dict:
        return {"num_runs": self.num_runs, "num_chunks": self.num_chunks}

    def _read_layout(self, progress: Progress) -> dict | None:
        path = os.path.join(self.folder, "layout.json")
        layout = read_json_file(path, "the batch layout")
        if layout is not None and (
            any(layout.get(k) != v for k, v in self._expected_layout().items())
            or not isinstance(layout.get("batch_size"), int)
            or layout["batch_size"] < 1
            or layout["batch_size"] % self.devices
        ):
            progress.note(
                f"{self.cell.name}: finished chunks were laid out for "
                f"{layout.get('devices')} devices in batches of {layout.get('batch_size')}"
                f", which {self.devices} devices cannot share: starting the cell over"
            )
            shutil.rmtree(self.folder)
            layout = None
        return layout

    def _write_layout(self, size: int) -> dict:
        layout = {**self._expected_layout(), "devices": self.devices, "batch_size": size}
        layout["metrics"] = self.metric_names
        write_json_atomically(os.path.join(self.folder, "layout.json"), layout)
        return layout

    def table_rows(self) -> int:
        """Rows this cell adds to the tidy table (every metric at every record; an estimate
        of 3 metrics for a layout written before metric names were recorded)."""
        names = [n for n in self.metric_names if n not in COUNT_METRICS]
        names = [n for n in names if not n.endswith(WRAPS_SUFFIX)]
        return self.num_runs * (self.spec.num_records + 1) * (len(names) or 3)

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
        """Compute every unfinished chunk; returns how many were computed. Out of device memory
        (on one process), the batch size is halved and the cell started over."""
        finished_before = progress.finished
        while True:
            try:
                return self._run_batches(progress)
            except Exception as err:  # noqa: BLE001 - only out-of-memory is retried
                if (
                    not is_out_of_memory(err)
                    or self.batch_size <= self.devices
                    or process_count() > 1  # the processes could not agree on a retry
                ):
                    raise
                progress.finished = finished_before
                before = self.num_batches
                self.max_batch = self.batch_size // 2
                shutil.rmtree(self.folder)
                self.programs.clear()
                self.plan(progress)
                progress.total += (self.num_batches - before) * self.num_chunks

    def _resume_carry(self, folder: str, done: int):
        path = os.path.join(folder, f"carry-{done - 1:04d}.npz")

        def read():
            try:
                return load_arrays(path)
            except CorruptFileError as err:
                raise FolderError(f"{err}; rerun with --fresh") from None

        try:
            return restore_carry(share(read), self.template, path)
        except ValueError as err:
            raise FolderError(str(err)) from None

    def _open_batch(self, folder: str) -> int:
        """Process 0: the batch's folder, its finished chunks, what a kill left there removed."""
        os.makedirs(folder, exist_ok=True)
        done = self.finished_chunks(folder)
        self._tidy(folder, done)
        return done

    def _run_batches(self, progress: Progress) -> int:
        computed = 0
        for b in range(self.num_batches):
            folder = os.path.join(self.folder, f"batch-{b:04d}")
            done = share(lambda folder=folder: self._open_batch(folder))
            progress.skipped(done)
            if done == self.num_chunks:
                continue
            if not self.programs:
                with progress.phase(f"compiling {self.cell.name} ({self.num_runs} runs)"):
                    self.compile(self.batch_size)
            args = self.inputs(self.batch_indices(b, self.batch_size))
            where = f"batch {b + 1}/{self.num_batches}"
            if done == 0:
                t0 = time.perf_counter()
                carry, first = self.programs["start"](*args)
                first = {k: v[:, None] for k, v in fetch(first).items()}
                self._commit(folder, 0, carry, first, time.perf_counter() - t0)
                progress.done(time.perf_counter() - t0, f"{where} start")
                computed, done = computed + 1, 1
            else:
                carry = self._resume_carry(folder, done)
            for k in range(done, self.num_chunks):
                t0 = time.perf_counter()
                carry, metrics = self.programs[self.advance_name(k)](carry, *args[1:])
                self._commit(folder, k, carry, fetch(metrics), time.perf_counter() - t0)
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
        """Carry k, then the metrics of chunk k (the chunk's commit mark, holding its seconds
        and the compile seconds not yet recorded); drop carry k - 1, and carry k too after the
        last chunk. The carry is gathered from every process; process 0 writes."""
        carry, unrecorded = fetch(carry), self.unrecorded
        self.unrecorded = {}
        share(lambda: self._write_chunk(folder, k, carry, metrics, seconds, unrecorded))

    def _write_chunk(self, folder, k, carry, metrics, seconds, unrecorded) -> None:
        save_carry(os.path.join(folder, f"carry-{k:04d}.npz"), carry)
        save_arrays_atomically(
            os.path.join(folder, f"chunk-{k:04d}.npz"),
            {
                **{f"metric.{n}": np.asarray(v) for n, v in metrics.items()},
                **{f"compile.{n}": np.float64(s) for n, s in unrecorded.items()},
                "seconds": np.float64(seconds),
            },
        )
        stale = [k - 1, k] if k == self.num_chunks - 1 else [k - 1]
        for j in stale:
            path = os.path.join(folder, f"carry-{j:04d}.npz")
            if j >= 0 and os.path.exists(path):
                os.unlink(path)

    # the table ------------------------------------------------------------------------------
    def _read_chunks(self) -> tuple[list, dict]:
        """Per batch, the metrics of each chunk (exact int64 counts); and the seconds the
        chunks took: ``chunk`` and the compile seconds per program."""
        per_batch, seconds = [], {"chunk": 0.0}
        for b in range(self.num_batches):
            chunks = []
            for k in range(self.num_chunks):
                data = _load_chunk_file(
                    os.path.join(self.folder, f"batch-{b:04d}", f"chunk-{k:04d}.npz")
                )
                metrics = {
                    n[len("metric.") :]: v for n, v in data.items() if n.startswith("metric.")
                }
                for count in COUNT_METRICS:
                    wraps = metrics.pop(count + WRAPS_SUFFIX, None)
                    if wraps is not None:
                        metrics[count] = exact_counts(metrics[count], wraps)
                chunks.append(metrics)
                seconds["chunk"] += float(data.get("seconds", 0.0))
                for name in (n for n in data if n.startswith("compile.")):
                    key = name[len("compile.") :]
                    seconds[key] = seconds.get(key, 0.0) + float(data[name])
            per_batch.append(chunks)
        return per_batch, seconds

    def table(self, run_offset: int):
        """The cell's tidy table from its chunk files, and the seconds its chunks took
        (``_read_chunks``)."""
        per_batch, seconds = self._read_chunks()
        metrics, present = {}, {}
        for name in per_batch[0][-1]:
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
        spec, cell, runs = self.spec, self.cell, self.runs
        frame = tidy_frame(
            ids={
                "cell": cell.name,
                "label": cell.label,
                "algorithm": cell.algorithm_name,
                "environment": cell.environment,
                "oracle": cell.oracle,
                "reads_latent_reward": cell.reads_latent_reward,
            },
            params={k: v[runs // spec.seeds] for k, v in cell.columns.items()},
            run_ids=run_offset + runs,
            seeds=spec.first_seed + runs % spec.seeds,
            iterations=np.arange(0, spec.iterations + 1, spec.eval_every),
            metrics=metrics,
            present=present,
        )
        return frame, seconds

    def summary(self, computed: int, resumed: int, seconds: dict) -> dict:
        """The cell's entry of the manifest: this invocation's work (chunks computed and
        resumed, compilations), and the seconds of every invocation that computed chunks."""
        return {
            "cell": self.cell.name,
            "label": self.cell.label,
            "algorithm": self.cell.algorithm_name,
            "grid_points": self.cell.grid_size,
            "runs": self.num_runs,
            "batch_size": self.batch_size,
            "batches": self.num_batches,
            "chunk_size": self.chunk,
            "chunks_per_batch": self.num_chunks,
            "chunks_computed": computed,
            "chunks_resumed": resumed,
            "compilations": dict(self.compilations),
            "compile_seconds": {k: v for k, v in seconds.items() if k != "chunk"},
            "chunk_seconds": seconds["chunk"],
        }
