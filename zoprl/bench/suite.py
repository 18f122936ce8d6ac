"""The ``zoprl bench`` suite: flags, the run, the terminal table, JSON / CSV and the scaling plot.

Targets (issue 8, CPU; each a ratio measured in the same run, zoprl throughput / reference):
ZPG GridWorld >= 5x the NumPy ZPG at N >= 4096; ZPG CartPole >= 1.5x evosax OpenAI-ES at equal
population and episode length; zoprl's gymnax rollout at most 10% slower than the raw gymnax scan
(ratio >= 1 / 1.1). The suite reports whether each is met; it never fails on speed.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zoprl.bench.cases import Sizes

DEFAULT_OUT = os.path.join("benchmarks", "results")
JSON_NAME, CSV_NAME, PLOT_NAME = "bench.json", "bench.csv", "bench_scaling.png"
# the keys of ``cases.CASES`` and ``cases.PROFILES`` (but "full", the default), here so that the
# flags are known without importing the cases, which import JAX (tests/test_bench.py checks)
SUITE_CASES = ("gridworld_zpg", "gridworld_zpg_cores", "cartpole_zpg", "cartpole_rollout", "sweep")
PROFILE_FLAGS = ("quick", "gpu", "tiny")

# (case, ratio field, minimum ratio, smallest batch the target applies to, description)
TARGETS = (
    ("gridworld_zpg", "ratio_numpy", 5.0, 4096, "ZPG GridWorld >= 5x NumPy ZPG at N >= 4096"),
    (
        "gridworld_zpg_cores",
        "ratio_numpy",
        2.0,
        4096,
        "ZPG GridWorld on every core >= 2x single-threaded NumPy ZPG at N >= 4096",
    ),
    ("cartpole_zpg", "ratio_evosax", 1.5, 0, "ZPG CartPole >= 1.5x evosax OpenAI-ES env steps/s"),
    (
        "cartpole_rollout",
        "ratio_gymnax",
        1 / 1.1,
        0,
        "zoprl CartPole rollout at most 10% slower than the raw gymnax scan",
    ),
)

CSV_COLUMNS = [
    "case",
    "impl",
    "batch",
    "env_steps",
    "pairs",
    "queries",
    "compile_s",
    "median_s",
    "min_s",
    "repeats",
    "env_steps_per_s",
    "pairs_per_s",
    "queries_per_s",
    "ratio_numpy",
    "ratio_evosax",
    "ratio_gymnax",
    "ratio_min",
]

TABLE_COLUMNS = [
    ("case", "case"),
    ("batch", "batch"),
    ("impl", "impl"),
    ("compile_s", "compile s"),
    ("median_ms", "median ms"),
    ("env_steps_per_s", "env steps/s"),
    ("pairs_per_s", "pairs/s"),
    ("queries_per_s", "queries/s"),
    ("ratio_numpy", "zoprl/NumPy"),
    ("ratio_evosax", "zoprl/evosax"),
    ("ratio_gymnax", "zoprl rollout/raw gymnax"),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the suite's flags to ``parser`` (values are checked by ``run``, which raises
    ValueError with a one-line message naming a bad value)."""
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument(
        "--quick",
        action="store_true",
        help="small sizes and 5 repeats (about 45-75 s on 2 cores)",
    )
    sizes.add_argument(
        "--gpu",
        action="store_true",
        help="GPU sizes: GridWorld N up to 2^20 pairs, CartPole up to 2^16 (one H100 / H200)",
    )
    sizes.add_argument(
        "--tiny", action="store_true", help="tiny sizes, 1 repeat: checks the machinery only"
    )
    parser.add_argument(
        "--scaling",
        action="store_true",
        help="instead of the suite: env steps/s of gridworld_zpg and cartpole_zpg (or those of "
        "--cases) against batch size from 2^10 pairs to the largest that fits (the memory plan), "
        "one file per device kind, and the figure (zoprl.bench.scaling)",
    )
    parser.add_argument(
        "--max-pairs",
        dest="max_pairs",
        default=None,
        metavar="N",
        help="--scaling: measure no batch above N pairs (default: the largest that fits)",
    )
    parser.add_argument(
        "--max-seconds",
        dest="max_seconds",
        default=None,
        metavar="S",
        help="--scaling: stop a case once one iteration takes longer than S seconds (default 2)",
    )
    parser.add_argument(
        "--factor",
        default=None,
        metavar="F",
        help="--scaling: each batch F times the previous one (default 2)",
    )
    parser.add_argument(
        "--out",
        default=DEFAULT_OUT,
        metavar="FOLDER",
        help=f"folder for {JSON_NAME}, {CSV_NAME} and {PLOT_NAME} (default: {DEFAULT_OUT})",
    )
    parser.add_argument(
        "--repeats",
        default=None,
        metavar="R",
        help="timed calls per measurement, median reported (default: 5 with --quick, else 11)",
    )
    parser.add_argument(
        "--cases",
        default=None,
        metavar="A,B",
        help=f"comma-separated subset of: {', '.join(SUITE_CASES)} (default: all)",
    )


def number_flag(flag: str, value, kind=int, minimum=0, what: str | None = None):
    """``value`` (a flag's text, or a number) as ``kind``, above ``minimum``; ValueError in one
    line naming the flag (``what`` it must be; default "a number above MINIMUM") otherwise."""
    what = what or f"a number above {minimum}"
    text = str(value).strip()
    try:
        number = kind(text)
    except ValueError:
        raise ValueError(f"{flag} must be {what}, got {value!r}") from None
    if not number > minimum:
        raise ValueError(f"{flag} must be {what}, got {text}")
    return number


def parse_options(args) -> tuple[Sizes, list[str], str]:
    """(sizes, case names, output folder) from an argparse namespace; ValueError on bad values."""
    from zoprl.bench.cases import PROFILES

    profile = next((name for name in PROFILE_FLAGS if getattr(args, name, False)), "full")
    sizes = PROFILES[profile]
    repeats = getattr(args, "repeats", None)
    if repeats is not None:
        positive = "a positive integer"
        sizes = sizes._replace(repeats=number_flag("--repeats", repeats, what=positive))
    cases = getattr(args, "cases", None)
    names = list(SUITE_CASES)
    valid = ", ".join(SUITE_CASES)
    if cases is not None:
        names = [c.strip() for c in str(cases).split(",") if c.strip()]
        if not names:
            raise ValueError(f"--cases names no case, got {cases!r}; valid: {valid}")
        for name in names:
            if name not in SUITE_CASES:
                raise ValueError(f"unknown case {name!r} in --cases; valid: {valid}")
    out = getattr(args, "out", DEFAULT_OUT)
    if out is None or not str(out).strip():
        raise ValueError(f"--out must name a folder, got {out!r}")
    out = str(out)
    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"--out {out!r} exists and is not a folder")
    return sizes, names, out


def run(args) -> int:
    """Run the suite with the options of ``add_arguments``; print the table, write the files.
    Returns 0 (speed targets are reported, never enforced)."""
    sizes, names, out = parse_options(args)
    flags = [f for f in (*PROFILE_FLAGS, "scaling") if getattr(args, f, False)]
    command = " ".join(["zoprl bench", *(f"--{f}" for f in flags)])
    if getattr(args, "scaling", False):
        from zoprl.bench.scaling import run_scaling, scaling_limits

        run_scaling(out, scaling_limits(args, sizes, names), command=command)
        return 0
    run_suite(sizes, names, out, command=command)
    return 0


def check_targets(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each target with measurements: the worst ratio and whether it meets the target."""
    results = []
    for case, field, minimum, from_batch, text in TARGETS:
        ratios = [
            (r["batch"], r[field])
            for r in rows
            if r["case"] == case and r.get(field) is not None and r["batch"] >= from_batch
        ]
        if ratios:
            worst = min(ratio for _, ratio in ratios)
            results.append(
                dict(
                    target=text,
                    case=case,
                    ratio=field,
                    minimum=minimum,
                    worst=worst,
                    met=bool(worst >= minimum),
                    per_batch={str(b): v for b, v in ratios},
                )
            )
    return results


def _write(out: str, payload: dict[str, Any], plot: bool) -> list[str]:
    """The JSON and CSV of ``payload`` under ``out`` (and the plot); returns the paths."""
    from zoprl.bench.timing import write_csv, write_json

    json_path, csv_path = os.path.join(out, JSON_NAME), os.path.join(out, CSV_NAME)
    write_json(json_path, payload)
    write_csv(csv_path, payload["rows"], CSV_COLUMNS)
    plot_path = scaling_plot(payload["rows"], os.path.join(out, PLOT_NAME)) if plot else None
    return [json_path, csv_path] + ([plot_path] if plot_path else [])


def _log_targets(targets, rows, log) -> None:
    for t in targets:
        fastest = ", ".join(
            f"{r['ratio_min']:.3g}"
            for r in rows
            if r["case"] == t["case"] and r.get("ratio_min") is not None
        )
        log(
            f"target: {t['target']}: worst ratio {t['worst']:.3g} "
            f"({'met' if t['met'] else 'NOT met'}; per batch from the fastest calls: {fastest})"
        )


def run_suite(
    sizes: Sizes, names: Sequence[str], out: str, command: str = "zoprl bench", log=None
) -> dict[str, Any]:
    """Run ``names`` (keys of ``cases.CASES``) at ``sizes``; write JSON, CSV and the plot under
    ``out`` (the JSON and CSV again after every case, ``complete`` false until the end, so that
    a run stopped by a time budget keeps its finished cases); print the table. Returns the JSON
    payload."""
    from zoprl.bench.cases import CASES
    from zoprl.bench.timing import device_description, device_line, print_table

    log = log or (lambda msg: print(msg, flush=True))
    started = time.perf_counter()
    log(
        f"zoprl bench on {device_line()}: median of {sizes.repeats} synchronised calls after a "
        "warm-up, compile time apart, zoprl and its reference interleaved"
    )
    os.makedirs(out, exist_ok=True)
    payload = dict(
        benchmark="zoprl bench",
        command=command,
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        device=device_description(),
        device_line=device_line(),
        sizes=sizes._asdict(),
        cases=list(names),
        complete=False,
        seconds=0.0,
        targets=[],
        rows=[],
    )
    for name in names:
        log(f"[{name}]")
        for row in CASES[name](sizes, log=log):
            payload["rows"].append({**row, "median_ms": 1e3 * row["median_s"]})
        payload.update(
            seconds=time.perf_counter() - started, targets=check_targets(payload["rows"])
        )
        _write(out, payload, plot=False)
    payload["complete"] = True
    print_table(payload["rows"], TABLE_COLUMNS)
    _log_targets(payload["targets"], payload["rows"], log)
    paths = _write(out, payload, plot=True)
    log(f"wrote {', '.join(paths)} ({payload['seconds']:.0f} s)")
    return payload


def scaling_plot(rows: Sequence[dict[str, Any]], path: str) -> str | None:
    """Env steps/s against batch size, one panel per case, one line per implementation (log-log;
    matplotlib's Agg canvas, no global backend change). Returns the path, or None without
    matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        print("matplotlib is not installed: no scaling plot", file=sys.stderr)
        return None
    cases = list(dict.fromkeys(r["case"] for r in rows))
    if not cases:
        return None
    fig = Figure(figsize=(4.2 * len(cases), 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(cases), squeeze=False)[0]
    for ax, case in zip(axes, cases):
        for impl in dict.fromkeys(r["impl"] for r in rows if r["case"] == case):
            points = sorted(
                (r["batch"], r["env_steps_per_s"])
                for r in rows
                if r["case"] == case and r["impl"] == impl
            )
            ax.plot(*zip(*points), marker="o", label=impl)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(case)
        ax.set_xlabel("trajectories" if case == "cartpole_rollout" else "pairs N")
        ax.set_ylabel("env steps / s")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.savefig(path, dpi=110)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m zoprl.bench``: the same suite without the ``zoprl`` command."""
    parser = argparse.ArgumentParser(
        prog="python -m zoprl.bench", description="zoprl's benchmark suite"
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


__all__ = [
    "DEFAULT_OUT",
    "PROFILE_FLAGS",
    "SUITE_CASES",
    "TARGETS",
    "add_arguments",
    "check_targets",
    "main",
    "number_flag",
    "parse_options",
    "run",
    "run_suite",
    "scaling_plot",
]
