"""Timing helpers of zoprl's benchmarks: jitted functions timed apart from their compilation,
device line, text tables, JSON and CSV files.

``time_fn(fn, *args)`` measures the compile time of a jitted function apart from its run time:
it compiles ahead of time (``fn.lower(*args).compile()``; for a plain callable the first call,
synchronised, counts as compile time), runs warm-up calls, then times ``repeats`` calls, each
synchronised with ``jax.block_until_ready``, and reports the median (robust to other processes
sharing the CPU) and the minimum. ``time_interleaved`` times several functions in alternating
rounds, and ``paired_ratio`` compares two of them round by round, which is what to use for a
relative claim (A is x% slower than B) on a machine shared with other processes.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import jax


def time_fn(fn: Callable, *args, repeats: int = 5, warmup: int = 1) -> dict[str, Any]:
    """Time ``fn(*args)``: dict(compile_s, median_s, min_s, cpu_median_s, times_s, cpu_s, repeats).

    Times are wall-clock seconds per call; ``cpu_*`` is this process's CPU time per call (all
    threads; host only, so on an accelerator it is not the device time), less sensitive than wall
    time to other processes competing for the CPU.

    ``fn`` is best a ``jax.jit``-wrapped function: it is then lowered and compiled once, and the
    compiled executable is what gets timed (no tracing or cache look-up in the timed calls).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    call, compile_s = compile_fn(fn, *args)
    for _ in range(max(0, warmup)):
        jax.block_until_ready(call(*args))
    times, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        jax.block_until_ready(call(*args))
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return dict(
        compile_s=compile_s,
        median_s=statistics.median(times),
        min_s=min(times),
        cpu_median_s=statistics.median(cpu),
        times_s=times,
        cpu_s=cpu,
        repeats=repeats,
    )


def compile_fn(fn: Callable, *args) -> tuple[Callable, float]:
    """(callable, compile seconds): ahead-of-time compiled when ``fn`` is jitted, else ``fn``
    after a first synchronised call (whose time is returned as the compile time)."""
    t0 = time.perf_counter()
    if hasattr(fn, "lower"):
        return fn.lower(*args).compile(), time.perf_counter() - t0
    jax.block_until_ready(fn(*args))
    return fn, time.perf_counter() - t0


def time_interleaved(
    calls: Mapping[str, tuple[Callable, tuple]], repeats: int = 5, warmup: int = 1
) -> dict[str, dict[str, Any]]:
    """Time several functions in interleaved rounds: {name: (fn, args)} -> {name: stats}.

    Each round calls every function once (the order rotates from round to round), so that load
    from other processes sharing the machine hits all of them alike; compare them with
    ``paired_ratio``.
    Stats as in ``time_fn``.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    compiled = {}
    for name, (fn, args) in calls.items():
        compiled[name] = compile_fn(fn, *args)
    for _ in range(max(0, warmup)):
        for name, (_, args) in calls.items():
            jax.block_until_ready(compiled[name][0](*args))
    names = list(calls)
    times: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:  # rotate the order
            args = calls[name][1]
            t0, c0 = time.perf_counter(), time.process_time()
            jax.block_until_ready(compiled[name][0](*args))
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    return {
        name: dict(
            compile_s=compiled[name][1],
            median_s=statistics.median(times[name]),
            min_s=min(times[name]),
            cpu_median_s=statistics.median(cpu[name]),
            times_s=times[name],
            cpu_s=cpu[name],
            repeats=repeats,
        )
        for name in names
    }


def paired_ratio(
    stats_a: Mapping[str, Any], stats_b: Mapping[str, Any], key: str = "times_s"
) -> float:
    """Median over rounds of time_a / time_b, for stats from one ``time_interleaved`` call
    (``key="cpu_s"`` for the CPU-time ratio)."""
    return statistics.median(a / b for a, b in zip(stats_a[key], stats_b[key]))


def device_description() -> dict[str, Any]:
    """What the numbers were measured on: device kind, platform, count, versions, CPUs."""
    devices = jax.devices()
    return dict(
        device_kind=devices[0].device_kind,
        platform=devices[0].platform,
        device_count=len(devices),
        jax_version=jax.__version__,
        python_version=platform.python_version(),
        machine=platform.machine(),
        cpu_count=os.cpu_count(),
    )


def device_line() -> str:
    d = device_description()
    return (
        f"{d['device_count']} x {d['device_kind']} ({d['platform']}), jax {d['jax_version']}, "
        f"python {d['python_version']}, {d['machine']}, {d['cpu_count']} CPUs"
    )


def _format(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # nan
            return "-"
        if value == 0 or 1e-3 <= abs(value) < 1e5:
            return f"{value:.4g}"
        return f"{value:.3e}"
    return "-" if value is None else str(value)


def print_table(
    rows: Iterable[Mapping[str, Any]], columns: Sequence[str | tuple[str, str]], file=None
) -> None:
    """Print rows (dicts) as an aligned text table.

    ``columns`` lists keys, or (key, header) pairs; missing values print as "-".
    """
    cols = [(c, c) if isinstance(c, str) else tuple(c) for c in columns]
    cells = [[_format(row.get(key)) for key, _ in cols] for row in rows]
    widths = [max([len(header)] + [len(r[i]) for r in cells]) for i, (_, header) in enumerate(cols)]
    print("  ".join(h.rjust(w) for (_, h), w in zip(cols, widths)), file=file)
    for r in cells:
        print("  ".join(v.rjust(w) for v, w in zip(r, widths)), file=file)


def write_json(path: str, payload: Any) -> None:
    """Write ``payload`` as indented JSON, creating the parent folder; atomically (a temporary
    file renamed over ``path``), so that a run stopped mid-write leaves the previous file."""
    from zoprl.storage import write_bytes_atomically

    write_bytes_atomically(path, (json.dumps(payload, indent=2) + "\n").encode())


def write_csv(path: str, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """Write ``rows`` (dicts) as CSV with the given columns (missing values empty), creating the
    parent folder; atomically, as ``write_json``."""
    from zoprl.storage import write_bytes_atomically

    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    write_bytes_atomically(path, text.getvalue().encode())
