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
from typing import Any

from zoprl.bench.cases import CASES, FULL, QUICK, RATIO_FIELDS, Sizes
from zoprl.bench.timing import device_description, device_line, print_table, write_csv, write_json

DEFAULT_OUT = os.path.join("benchmarks", "results")
JSON_NAME, CSV_NAME, PLOT_NAME = "bench.json", "bench.csv", "bench_scaling.png"

# (case, ratio field, minimum ratio, smallest batch the target applies to, description)
TARGETS = (
    ("gridworld_zpg", "ratio_numpy", 5.0, 4096, "ZPG GridWorld >= 5x NumPy ZPG at N >= 4096"),
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
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes and 5 repeats (about a minute and a half on 2 cores)",
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
        help=f"comma-separated subset of: {', '.join(CASES)} (default: all)",
    )


def _positive_int(flag: str, value) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"{flag} must be a positive integer, got {value!r}") from None
    if number < 1:
        raise ValueError(f"{flag} must be a positive integer, got {number}")
    return number


def parse_options(args) -> tuple[Sizes, list[str], str]:
    """(sizes, case names, output folder) from an argparse namespace; ValueError on bad values."""
    quick = bool(getattr(args, "quick", False))
    sizes = QUICK if quick else FULL
    repeats = getattr(args, "repeats", None)
    if repeats is not None:
        sizes = sizes._replace(repeats=_positive_int("--repeats", repeats))
    cases = getattr(args, "cases", None)
    names = list(CASES)
    if cases is not None:
        names = [c.strip() for c in str(cases).split(",") if c.strip()]
        if not names:
            raise ValueError(f"--cases names no case, got {cases!r}; valid: {', '.join(CASES)}")
        for name in names:
            if name not in CASES:
                raise ValueError(f"unknown case {name!r} in --cases; valid: {', '.join(CASES)}")
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
    command = "zoprl bench" + (" --quick" if getattr(args, "quick", False) else "")
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


def run_suite(
    sizes: Sizes, names: Sequence[str], out: str, command: str = "zoprl bench", log=None
) -> dict[str, Any]:
    """Run ``names`` (keys of ``cases.CASES``) at ``sizes``; write JSON, CSV and the plot under
    ``out``; print the table. Returns the JSON payload."""
    log = log or (lambda msg: print(msg, flush=True))
    started = time.perf_counter()
    log(
        f"zoprl bench on {device_line()}: median of {sizes.repeats} synchronised calls after a "
        "warm-up, compile time apart, zoprl and its reference interleaved"
    )
    rows: list[dict[str, Any]] = []
    for name in names:
        log(f"[{name}]")
        rows += CASES[name](sizes, log=log)
    for row in rows:
        row["median_ms"] = 1e3 * row["median_s"]
    targets = check_targets(rows)
    elapsed = time.perf_counter() - started

    print_table(rows, TABLE_COLUMNS)
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
    os.makedirs(out, exist_ok=True)
    payload = dict(
        benchmark="zoprl bench",
        command=command,
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        device=device_description(),
        device_line=device_line(),
        sizes=sizes._asdict(),
        cases=list(names),
        seconds=elapsed,
        targets=targets,
        rows=rows,
    )
    json_path, csv_path = os.path.join(out, JSON_NAME), os.path.join(out, CSV_NAME)
    write_json(json_path, payload)
    write_csv(csv_path, rows, CSV_COLUMNS)
    plot_path = scaling_plot(rows, os.path.join(out, PLOT_NAME))
    log(
        f"wrote {json_path}, {csv_path}"
        + (f", {plot_path}" if plot_path else "")
        + f" ({elapsed:.0f} s)"
    )
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
    "TARGETS",
    "add_arguments",
    "check_targets",
    "main",
    "parse_options",
    "run",
    "run_suite",
    "scaling_plot",
    "RATIO_FIELDS",
]
