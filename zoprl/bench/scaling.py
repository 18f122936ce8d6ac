"""Throughput against batch size, and the largest batch that fits: ``zoprl bench --scaling``.

Cases, each one run on one device (as in ``zoprl.bench.cases``): ``gridworld_zpg``, one ZPG
iteration on the default GridWorld (H = 10), and ``cartpole_zpg``, one ZPG iteration on gymnax
CartPole-v1 with the 64x64 MLP policy (H = 200); env steps = 2 N H for N pairs.

For each case, the memory plan first: the bytes the compiled iteration needs on the device
(XLA's memory analysis: arguments, outputs, temporaries; ``zoprl.experiment.devices.
program_bytes``) at N = 2^10 and 2^12, extrapolated linearly in N to the largest power of two
that fits the device's memory budget (``zoprl.experiment.devices.memory_budget``: 80% of an
accelerator's memory, half the physical memory on a CPU), then confirmed by compiling at that N
(halved while it does not fit; at most 2^28). Then env steps/s at N = 2^10, 2^10 F, 2^10 F^2, ...
(F = ``factor``, default 2) up to the largest that fits (or ``max_pairs``), timed like the suite
(compile apart, a warm-up, the median of ``repeats`` synchronised calls), stopping once one
iteration takes more than ``max_seconds``. ``--tiny`` plans from N = 8 and 32 and measures
N = 8 only: the machinery, in seconds (``benchmarks/gpu_check.sh --dry-run``).

Writes ``scaling-<device kind>.json`` and ``.csv`` into the output folder after every measured
batch (``complete`` false until the last), so that a run stopped by a time budget keeps what it
measured; then ``scaling.png`` from every ``scaling-*.json`` there: env steps/s against N, one
line per device kind measured, a dotted line at each kind's largest batch that fits. The
README's figure is ``benchmarks/scaling/scaling.png``; to add a device kind, run
``zoprl bench --scaling --out benchmarks/scaling`` on it (``benchmarks/gpu_check.sh`` does, into
its own folder: copy its ``scaling-*.json`` there and rerun ``python -m zoprl.bench.scaling
benchmarks/scaling`` to redraw).
"""

from __future__ import annotations

import datetime
import glob
import json
import math
import os
import re
import sys
import time
from typing import Any, NamedTuple

import jax

from zoprl.bench.cases import GRID_H, Sizes, cartpole_iteration, gridworld_iteration
from zoprl.bench.suite import number_flag
from zoprl.bench.timing import (
    compile_fn,
    device_description,
    device_line,
    print_table,
    time_fn,
    write_csv,
    write_json,
)

SMALLEST, PROBE = 2**10, 2**12
TINY_SMALLEST, TINY_PROBE = 8, 32  # --tiny: the suite's tiny GridWorld N, so its compile is reused
PLAN_CAP = 2**28  # int32 indices stay far from overflowing below this
CASE_NAMES = ("gridworld_zpg", "cartpole_zpg")
COLUMNS = [
    "case",
    "device_kind",
    "batch",
    "env_steps",
    "program_bytes",
    "compile_s",
    "median_s",
    "min_s",
    "repeats",
    "env_steps_per_s",
]
TITLES = {
    "gridworld_zpg": "ZPG iteration, GridWorld (H = 10)",
    "cartpole_zpg": "ZPG iteration, CartPole MLP (H = {horizon})",
}


class Limits(NamedTuple):
    cases: tuple  # of CASE_NAMES
    max_pairs: int | None  # largest N measured (None: the largest that fits)
    max_seconds: float
    repeats: int
    cartpole_horizon: int
    factor: int = 2  # N grows by this factor from one measurement to the next
    smallest: int = SMALLEST
    probe: int = PROBE
    plan_cap: int = PLAN_CAP  # the memory plan looks no further


def scaling_limits(args, sizes: Sizes, names=None) -> Limits:
    """The limits of ``--max-pairs``, ``--max-seconds``, ``--factor``, the cases named by
    ``--cases`` (``names``; default both) and the profile's repeats (at most 5: the largest
    batches take seconds a call); ``--tiny`` plans from 8 and 32 pairs and measures 8.
    ValueError (one line) on a bad value."""
    cases = CASE_NAMES if getattr(args, "cases", None) is None else tuple(names)
    for case in cases:
        if case not in CASE_NAMES:
            raise ValueError(f"--scaling measures {' and '.join(CASE_NAMES)}, not {case!r}")
    pairs, seconds = getattr(args, "max_pairs", None), getattr(args, "max_seconds", None)
    factor = getattr(args, "factor", None)
    tiny = bool(getattr(args, "tiny", False))
    return Limits(
        cases=cases,
        max_pairs=TINY_SMALLEST if tiny else pairs and number_flag("--max-pairs", pairs),
        max_seconds=2.0 if seconds is None else number_flag("--max-seconds", seconds, float),
        repeats=min(sizes.repeats, 5),
        cartpole_horizon=sizes.cartpole_horizon,
        factor=2 if factor is None else number_flag("--factor", factor, int, minimum=1),
        smallest=TINY_SMALLEST if tiny else SMALLEST,
        probe=TINY_PROBE if tiny else PROBE,
        plan_cap=TINY_PROBE if tiny else PLAN_CAP,
    )


def _iteration(case: str, n: int, horizon: int):
    """(jitted fn, args, env steps per call) of one iteration of ``case`` at N = ``n``."""
    if case == "gridworld_zpg":
        fn, args = gridworld_iteration(n)
        return fn, args, 2 * n * GRID_H
    fn, args = cartpole_iteration(n, horizon)
    return fn, args, 2 * n * horizon


def _bytes_at(case: str, n: int, horizon: int) -> float:
    from zoprl.experiment.devices import program_bytes

    fn, args, _ = _iteration(case, n, horizon)
    return program_bytes(fn.lower(*args).compile())


def memory_plan(case: str, budget: float, limits: Limits) -> dict:
    """The largest power-of-two N (from ``limits.smallest`` to ``limits.plan_cap``) whose
    compiled iteration fits ``budget`` bytes (module doc)."""
    small_n, probe_n, horizon = limits.smallest, limits.probe, limits.cartpole_horizon
    small, probe = _bytes_at(case, small_n, horizon), _bytes_at(case, probe_n, horizon)
    per_pair = max((probe - small) / (probe_n - small_n), 1e-9)
    fixed = small - per_pair * small_n
    n = min(limits.plan_cap, 2 ** int(math.log2(max((budget - fixed) / per_pair, 1))))
    n, need = max(n, small_n), probe
    while n > probe_n:
        need = _bytes_at(case, n, horizon)
        if need <= budget:
            break
        n //= 2
    return dict(
        largest_fitting=n, bytes=need, bytes_per_pair=per_pair, fixed_bytes=fixed, budget=budget
    )


def measure_one(case: str, n: int, limits: Limits) -> dict[str, Any]:
    """One row: env steps/s of ``case`` at N = ``n`` (module doc)."""
    from zoprl.experiment.devices import program_bytes

    fn, args, steps = _iteration(case, n, limits.cartpole_horizon)
    compiled, compile_s = compile_fn(fn, *args)
    # time_fn's first call of an executable is its warm-up (counted as its compile time)
    stats = time_fn(compiled, *args, repeats=limits.repeats, warmup=0)
    return dict(
        case=case,
        device_kind=jax.devices()[0].device_kind,
        batch=n,
        env_steps=steps,
        program_bytes=program_bytes(compiled),
        compile_s=compile_s,
        median_s=stats["median_s"],
        min_s=stats["min_s"],
        repeats=stats["repeats"],
        env_steps_per_s=steps / stats["median_s"],
    )


def batches(largest: int, limits: Limits) -> list[int]:
    """N = smallest, smallest F, ... up to ``largest`` and ``limits.max_pairs``."""
    top = largest if limits.max_pairs is None else min(largest, limits.max_pairs)
    count = 1 + max(0, int(math.log(top / limits.smallest, limits.factor) + 1e-9))
    return [limits.smallest * limits.factor**k for k in range(count)]


def measure(case: str, largest: int, limits: Limits, log=print, save=None) -> list[dict]:
    """Rows of env steps/s at ``batches(largest, limits)``, stopping once one iteration takes
    more than ``limits.max_seconds``; ``save(row)`` after each (module doc)."""
    rows = []
    for n in batches(largest, limits):  # one program per batch size: compiled one by one
        row = measure_one(case, n, limits)
        rows.append(row)
        if save is not None:
            save(row)
        rate = row["env_steps_per_s"]
        log(f"  {case} N={n}: {row['median_s'] * 1e3:.2f} ms, {rate:.3g} env steps/s")
        if row["median_s"] > limits.max_seconds:
            break
    return rows


def kind_slug(kind: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", kind.lower()).strip("-") or "device"


class _Record:
    """The payload of ``run_scaling``, written again after every change."""

    def __init__(self, out: str, limits: Limits, command: str):
        self.description = device_description()
        self.payload = dict(
            benchmark="zoprl bench --scaling",
            command=command,
            date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            device=self.description,
            device_line=device_line(),
            limits=limits._asdict(),
            horizons=dict(gridworld_zpg=GRID_H, cartpole_zpg=limits.cartpole_horizon),
            complete=False,
            seconds=0.0,
            plans={},
            rows=[],
        )
        self.started = time.perf_counter()
        os.makedirs(out, exist_ok=True)
        self.stem = os.path.join(out, f"scaling-{kind_slug(self.description['device_kind'])}")

    def plan(self, case: str, plan: dict) -> None:
        self.payload["plans"][case] = plan
        self.save()

    def row(self, row: dict) -> None:
        self.payload["rows"].append(row)
        self.save()

    def save(self, complete: bool = False) -> None:
        self.payload.update(complete=complete, seconds=time.perf_counter() - self.started)
        write_json(self.stem + ".json", self.payload)
        write_csv(self.stem + ".csv", self.payload["rows"], COLUMNS)


def run_scaling(out: str, limits: Limits, command: str = "zoprl bench --scaling", log=None):
    """The memory plan and the measurements of every case (module doc); returns the payload."""
    from zoprl.experiment.devices import memory_budget

    log = log or (lambda msg: print(msg, flush=True))
    budget = memory_budget(jax.devices()[:1])
    log(f"zoprl bench --scaling on {device_line()}: memory budget {budget / 2**30:.1f} GiB")
    record = _Record(out, limits, command)
    for case in limits.cases:
        record.plan(case, memory_plan(case, budget, limits))
        largest = record.payload["plans"][case]["largest_fitting"]
        log(f"[{case}] largest batch that fits: N = {largest}")
        measure(case, largest, limits, log, save=record.row)
    record.save(complete=True)
    print_table(record.payload["rows"], COLUMNS)
    figure = scaling_figure(out)
    log(f"wrote {record.stem}.json, {record.stem}.csv" + (f", {figure}" if figure else ""))
    return record.payload


def _draw(ax, runs: list[dict], case: str) -> None:
    """One panel: env steps/s against N of ``case``, one line per measured run (the y range at
    least a factor 4 either side of the measurements, so that noise does not fill the panel)."""
    rates = [r["env_steps_per_s"] for run in runs for r in run["rows"] if r["case"] == case]
    for run in runs:
        points = sorted(
            (r["batch"], r["env_steps_per_s"]) for r in run["rows"] if r["case"] == case
        )
        if not points:
            continue
        kind = run["device"]["device_kind"]
        (line,) = ax.plot(*zip(*points), marker="o", label=f"{kind} ({run['date'][:10]})")
        fits = run["plans"].get(case, {}).get("largest_fitting")
        if fits:
            ax.axvline(fits, color=line.get_color(), linestyle=":", linewidth=1)
    horizon = next((r.get("horizons", {}).get(case) for r in runs), None) or 200
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_ylim(min(rates) / 4, max(rates) * 4)
    ax.set_title(TITLES[case].format(horizon=horizon), fontsize=10)
    ax.set_xlabel("pairs N (dotted: largest that fits)")
    ax.set_ylabel("env steps / s")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)


def scaling_figure(folder: str) -> str | None:
    """``scaling.png`` from every ``scaling-*.json`` in ``folder`` (module doc); None without
    matplotlib or measurements."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    runs = []
    for path in sorted(glob.glob(os.path.join(folder, "scaling-*.json"))):
        with open(path) as f:
            runs.append(json.load(f))
    cases = [c for c in CASE_NAMES if any(r["case"] == c for run in runs for r in run["rows"])]
    if not cases:
        return None
    fig = Figure(figsize=(4.5 * len(cases), 3.8), layout="constrained")
    FigureCanvasAgg(fig)
    for ax, case in zip(fig.subplots(1, len(cases), squeeze=False)[0], cases):
        _draw(ax, runs, case)
    path = os.path.join(folder, "scaling.png")
    fig.savefig(path, dpi=110)
    return path


if __name__ == "__main__":  # python -m zoprl.bench.scaling FOLDER: redraw the figure
    print(
        scaling_figure(sys.argv[1] if len(sys.argv) > 1 else os.path.join("benchmarks", "scaling"))
    )


__all__ = [
    "Limits",
    "batches",
    "measure",
    "measure_one",
    "memory_plan",
    "run_scaling",
    "scaling_figure",
    "scaling_limits",
]
