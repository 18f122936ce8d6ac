"""The zoprl command: run experiments and sweeps, draw their figures, list what exists.

    zoprl demo                         ZPG against the baselines on the default GridWorld
    zoprl run --algorithm zpg ...      one experiment from flags (or --spec FILE plus flags)
    zoprl sweep SPEC.toml              every cell of a spec file (TOML or YAML)
    zoprl tune SPEC.toml               every method tuned with equal effort, then evaluated
    zoprl compare RESULTS              sample-complexity tables (budget to reach a threshold)
    zoprl plot RESULTS                 figures from a results folder
    zoprl reproduce NAME|all           the papers' claims and the rate checks (--quick, --full)
    zoprl list [WHAT]                  environments, algorithms, oracles, presets, policies
    zoprl bench                        the benchmark suite
    zoprl merge SHARDS... --out FOLDER the table and manifest of a sweep run as --shard I/N parts

Every sweep writes results.parquet (the tidy table) and manifest.json, prints a summary of the
final values, resumes when rerun after an interruption, and validates its inputs (and the memory
they need) before running anything. A results folder belongs to one spec and one process at a
time.

Every CPU core is used (one XLA host device per core, unless XLA_FLAGS is set); compiled programs
are cached on disk (--compile-cache FOLDER, --no-compile-cache). Launched as several processes
(--coordinator, --num-processes, --process-id, or under srun or mpirun), sweep, run, demo, tune
and reproduce run on every device of every process; process 0 writes the results.

Exit codes: 0 success; 1 the sweep finished but some runs diverged (non-finite metrics: listed
in a warning and marked in the table's diverged column); 2 bad input, or a results folder or
file that cannot be used (read-only, full disk, corrupt, in use, another spec's): one line
"zoprl: error: ...", no traceback; 130 interrupted (rerun the same command to resume).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import sys

DEMO_SPEC = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "experiment", "specs", "demo.toml"
)
X_AXES = ("iteration", "trajectories", "queries", "seconds")
LIST_KINDS = (
    "environments",
    "algorithms",
    "oracles",
    "presets",
    "evaluators",
    "policies",
    "optimizers",
    "reproductions",
)
TIME_CLAIMS = {  # the README makes the same claims, word for word (tests/test_cli.py checks)
    "demo": "about 37 seconds on a 2-core CPU, 11 when rerun",
    "reproduce": "on a 2-core CPU (13 minutes 48 seconds, measured 2026-11-30)",
    "bench": "about 45-75 s on 2 cores",
}
EXIT_CODES = __doc__.split("\n\n")[-1].strip()


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _size(text: str) -> float:
    from zoprl.experiment.resources import parse_size

    try:
        return parse_size(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


# running sweeps -----------------------------------------------------------------------------
def _shard(text: str):
    from zoprl.experiment.shards import parse_shard

    try:
        return parse_shard(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _add_cache_options(p: argparse.ArgumentParser) -> None:
    """The compilation cache's flags; a command that has them computes, so ``main`` starts JAX
    for it first (``_start``)."""
    p.set_defaults(start=True)
    p.add_argument(
        "--compile-cache",
        dest="compile_cache",
        metavar="FOLDER",
        help="keep compiled programs in FOLDER (default: $ZOPRL_COMPILE_CACHE, else "
        "~/.cache/zoprl/jax); a rerun loads them instead of compiling",
    )
    p.add_argument(
        "--no-compile-cache",
        dest="no_compile_cache",
        action="store_true",
        help="compile everything, read and write no compilation cache",
    )


def _add_process_options(p: argparse.ArgumentParser) -> None:
    """Flags of a multi-process run (``zoprl.hosts``) and the compilation cache."""
    _add_cache_options(p)
    group = p.add_argument_group(
        "several processes",
        "start the same command once per process (JAX detects srun and mpirun by itself)",
    )
    group.add_argument(
        "--coordinator", metavar="HOST:PORT", help="address of process 0, reachable by every one"
    )
    group.add_argument(
        "--num-processes",
        dest="num_processes",
        type=_positive_int,
        metavar="P",
        help="how many processes run this command together (each started with its --process-id)",
    )
    group.add_argument(
        "--process-id",
        dest="process_id",
        type=int,
        metavar="I",
        help="this process, 0..P-1; process 0 writes the results folder",
    )


def _add_shard_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--shard",
        type=_shard,
        metavar="I/N",
        help="run only part I of N (0-based) of the runs, e.g. a job array's task; "
        "then `zoprl merge` the N folders",
    )


def _add_sweep_options(p: argparse.ArgumentParser, default_out: str) -> None:
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a spec entry, e.g. --set seeds=8 --set grid.mu=[1,2] "
        "--set algorithms.zpg.static.num_pairs=64 (repeatable)",
    )
    p.add_argument("--out", metavar="FOLDER", help=f"results folder (default: {default_out})")
    p.add_argument(
        "--fresh",
        action="store_true",
        help="discard the earlier results in the folder (chunks, table, manifest) instead of "
        "resuming; also needed to write into a folder that holds other files",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument(
        "--no-plot", dest="plot", action="store_false", help="do not draw the learning-curve figure"
    )
    p.add_argument(
        "--metric",
        help="metric of the figure (default: value_gap where the environment is finite, "
        "else value)",
    )
    p.add_argument(
        "--memory-budget",
        dest="memory_budget",
        type=_size,
        metavar="SIZE",
        help="memory a batch of runs may use per device, e.g. 4G (default: 80%% of an "
        "accelerator's memory; on a CPU half the physical memory, shared by the devices)",
    )
    p.add_argument(
        "--host-memory-budget",
        dest="host_memory_budget",
        type=_size,
        metavar="SIZE",
        help="host memory the results table may take while it is built, e.g. 8G (default: "
        "half the physical memory)",
    )
    _add_process_options(p)


def _execute(spec, args, out: str, x_axes=("queries", "iteration")):
    """Run or resume the sweep into ``args.out`` or ``out``, print where the files are, draw
    the figure, print the summary; returns the exit code (1 when runs diverged)."""
    from zoprl.experiment import run_sweep

    out = args.out or out
    result = run_sweep(
        spec,
        out,
        fresh=args.fresh,
        progress=not args.quiet,
        memory_budget_bytes=args.memory_budget,
        host_memory_bytes=args.host_memory_budget,
        shard=getattr(args, "shard", None),
    )
    print(f"wrote {result.table_path} ({len(result.table)} rows) and {result.manifest_path}")
    if args.plot:
        from zoprl.hosts import share
        from zoprl.plots import plot_results

        metrics = set(result.table.metric)
        metric = args.metric or ("value_gap" if "value_gap" in metrics else "value")
        paths = share(lambda: plot_results(result.table, out, metric=metric, x=list(x_axes)))
        for path in paths:  # drawn by process 0
            print(f"wrote {path}")
    return _report(result.table, result.manifest)


def _report(table, manifest) -> int:
    """Print the summary of a results table and the divergence warning; 1 when runs diverged."""
    from zoprl.summary import divergence_lines, summary_lines

    for line in summary_lines(table):
        print(line)
    warning = divergence_lines(manifest.get("diverged", []), int(table["run_id"].nunique()))
    for line in warning:
        print(f"zoprl: {line}", file=sys.stderr)
    return 1 if warning else 0


def cmd_sweep(args) -> int:
    """Run (or resume) every cell of a spec file (TOML or YAML) into results/<spec name>."""
    from zoprl.experiment import load_spec

    spec = load_spec(args.spec, args.overrides)
    return _execute(spec, args, os.path.join("results", spec.name))


def _run_spec_dict(args) -> dict:
    """The raw spec of ``zoprl run``: the base file, then the flags, then --set overrides."""
    from zoprl.experiment import apply_override, read_spec_file

    raw = dict(read_spec_file(args.spec)) if args.spec else {}
    raw["name"] = args.name or raw.get("name") or args.algorithm or "run"
    if args.algorithm:
        raw["algorithms"] = [{"name": args.algorithm}]
    elif "algorithms" not in raw:
        raise ValueError(
            "zoprl run needs --algorithm NAME (or --spec FILE); see `zoprl list algorithms`"
        )
    if isinstance(raw["algorithms"], dict):
        raw["algorithms"] = [raw["algorithms"]]
    for flag, key in (
        ("env", "environment.name"),
        ("link", "oracle.link"),
        ("queries", "oracle.num_queries"),
        ("preset", "oracle.preset"),
        ("seeds", "seeds"),
        ("iterations", "iterations"),
        ("eval_every", "eval_every"),
        ("chunk_size", "chunk_size"),
    ):
        value = getattr(args, flag)
        if value is not None:
            apply_override(raw, f"{key}={value!r}" if isinstance(value, str) else f"{key}={value}")
    for assignment in args.overrides:
        apply_override(raw, assignment)
    entries = raw.get("algorithms")
    if isinstance(entries, list) and len(entries) == 1 and isinstance(entries[0], dict):
        for table in ("static", "static_grid", "hparams"):  # --set static.x: the one algorithm
            if isinstance(raw.get(table), dict):
                entries[0].setdefault(table, {}).update(raw.pop(table))
    return raw


def cmd_run(args) -> int:
    """One experiment from flags: an algorithm on an environment with an oracle (--spec gives
    a base file whose entries the flags replace). Every algorithm has default sizes (pairs,
    environments, population) that run on the default GridWorld; --set static.NAME=VALUE
    changes them (zoprl list algorithms names them)."""
    from zoprl.experiment import spec_from_dict

    spec = spec_from_dict(_run_spec_dict(args))
    # each distinct run gets its own folder: results/<name>-<8 hex digits of the spec>
    digest = hashlib.sha1(spec.fingerprint().encode()).hexdigest()[:8]
    return _execute(spec, args, os.path.join("results", f"{spec.name}-{digest}"))


def cmd_demo(args) -> int:
    """ZPG and ZBCPG against online DPO, online RLHF-PPO and the PPO ceiling on the default
    stochastic GridWorld with a Bradley-Terry teacher: 4 seeds per method, each method one
    compiled program (about 37 seconds on a 2-core CPU, 11 when rerun; most of it compiling,
    which the compilation cache skips on a rerun); prints J(theta_T) / J* per method and writes
    the table and a figure."""
    from zoprl.experiment import load_spec

    spec = load_spec(DEMO_SPEC, args.overrides)
    return _execute(spec, args, os.path.join("results", "demo"), x_axes=("queries", "trajectories"))


# figures, listings, reproductions -----------------------------------------------------------
def cmd_plot(args) -> int:
    """Figures from a results folder (or Parquet file): learning curves, final metric against a
    parameter (--param), or a log-log rate plot with its fitted slope (--rate X). --x seconds
    puts each cell's measured compute time (from manifest.json) on the x axis."""
    from zoprl.plots import load_table, plot_final_metric, plot_rate, plot_results, save_figure

    out = args.out or (
        args.results
        if os.path.isdir(args.results)
        else os.path.dirname(os.path.abspath(args.results))
    )
    if args.param:
        axes = plot_final_metric(
            load_table(args.results), args.metric, args.param, log_x=args.log_x, log_y=args.log_y
        )
        paths = save_figure(axes, os.path.join(out, f"final_{args.metric}_{args.param}"))
    elif args.rate:
        axes = plot_rate(
            load_table(args.results), args.rate, args.metric, expected_slope=args.expected_slope
        )
        paths = save_figure(axes, os.path.join(out, f"rate_{args.metric}_{args.rate}"))
    else:
        table = args.results
        if "seconds" in args.x:
            from zoprl.plots import load_manifest, with_seconds

            table = with_seconds(load_table(args.results), load_manifest(args.results))
        paths = plot_results(table, out, metric=args.metric, x=args.x, log_y=args.log_y)
    for path in paths:
        print(f"wrote {path}")
    return 0


def cmd_list(args) -> int:
    """What a spec can name."""
    kinds = LIST_KINDS if args.what == "all" else (args.what,)
    for kind in kinds:
        print(f"{kind}:")
        for line in _listing(kind):
            print(f"  {line}")
    return 0


def _listing(kind: str) -> list[str]:
    if kind == "environments":
        from zoprl.envs import registered_envs

        return registered_envs()
    if kind == "algorithms":
        from zoprl.experiment import ALGORITHMS

        return [
            f"{name:<22} {entry.description}; static: "
            + ", ".join(
                n if s.required else f"{n}={s.default}" for n, s in entry.static_names().items()
            )
            for name, entry in ALGORITHMS.items()
        ]
    if kind == "oracles":
        from zoprl.oracles import LINK_NAMES, ORACLE_KINDS, PREFERENCE_GENERATORS
        from zoprl.oracles.kinds import keyword_only

        lines = [
            f"kind {name:<10} {kind.description}; static: "
            f"{', '.join(keyword_only(kind.build))}; default preset {kind.default_preset}"
            for name, kind in ORACLE_KINDS.items()
        ]
        return lines + [
            f"links (utility kind): {', '.join(LINK_NAMES)}",
            f"generators (tensor kind): {', '.join(PREFERENCE_GENERATORS)}",
        ]
    return _listing_other(kind)


def _listing_other(kind: str) -> list[str]:
    if kind == "evaluators":
        from zoprl.evaluators import EVALUATORS, evaluator_options

        return [
            f"{name:<12} options: {', '.join(evaluator_options(name)) or '(none)'}"
            for name in EVALUATORS
        ]
    if kind == "presets":
        from zoprl.oracles import PRESETS

        return [f"{name:<8} {values or '(perfectly rational)'}" for name, values in PRESETS.items()]
    if kind == "policies":
        from zoprl.experiment import POLICIES

        return list(POLICIES)
    if kind == "reproductions":
        from zoprl.reproduce import EXPERIMENTS

        return [f"{name:<22} {entry.describe()}" for name, entry in EXPERIMENTS.items()]
    from zoprl.experiment import OPTIMIZERS

    return list(OPTIMIZERS)


def cmd_reproduce(args) -> int:
    """Named reproductions of the papers' claims (see zoprl list reproductions), each into
    OUT/NAME: the tuning and evaluation tables, manifests, figures, the chosen hyperparameters
    and summary.csv / summary.md (slopes for the rate experiments). --quick (the default) runs
    all of them on a 2-core CPU (13 minutes 48 seconds, measured 2026-11-30); --full is sized
    for a GPU. Rerunning resumes an interrupted sweep-based reproduction (rates, a few minutes
    of estimator statistics, is recomputed)."""
    from zoprl.reproduce import reproduce

    written = reproduce(
        args.name,
        "full" if args.full else "quick",
        args.out,
        fresh=args.fresh,
        progress=not args.quiet,
    )
    for path in written:
        print(f"wrote {path}")
    from zoprl.hosts import share

    return share(lambda: _report_written(written))  # process 0 reads the tables


def _report_written(paths) -> int:
    """The summary of every sweep table among ``paths`` that has a manifest beside it (other
    tables, e.g. an exact measurement's, are skipped by their columns); 1 when runs diverged."""
    import pyarrow.parquet as pq

    from zoprl.plots import load_manifest, load_table
    from zoprl.theory import REQUIRED_COLUMNS

    code = 0
    for path in (p for p in paths if str(p).endswith("results.parquet")):
        folder = os.path.dirname(str(path))
        if not os.path.exists(os.path.join(folder, "manifest.json")):
            continue
        columns = set(pq.read_schema(str(path)).names)
        if {"cell", "run_id", "diverged", *REQUIRED_COLUMNS} <= columns:
            table = load_table(folder)
            print(f"== {folder}")
            code = max(code, _report(table, load_manifest(folder)))
    return code


def cmd_merge(args) -> int:
    """Join the folders of a sweep run as shards (--shard I/N of sweep, run or demo) into the
    table and manifest the unsharded sweep writes; refuses a shard missing, given twice, or of
    another spec or split. Prints the summary of the merged table."""
    from zoprl.experiment.merge import merge_shards

    result = merge_shards(args.shards, args.out, fresh=args.fresh)
    print(f"wrote {result.table_path} ({len(result.table)} rows) and {result.manifest_path}")
    return _report(result.table, result.manifest)


def cmd_bench(args) -> int:
    from zoprl.bench import run

    return run(args)


# the parser ---------------------------------------------------------------------------------
def _add_demo(commands) -> None:
    p = commands.add_parser(
        "demo",
        help=f"ZPG against the baselines on the default GridWorld ({TIME_CLAIMS['demo']})",
        description=cmd_demo.__doc__,
        epilog=EXIT_CODES,
    )
    _add_sweep_options(p, "results/demo")
    _add_shard_option(p)
    p.set_defaults(func=cmd_demo)


def _add_run(commands) -> None:
    p = commands.add_parser(
        "run", help="one experiment from flags", description=cmd_run.__doc__, epilog=EXIT_CODES
    )
    p.add_argument("--algorithm", help="algorithm name (zoprl list algorithms)")
    p.add_argument("--spec", metavar="FILE", help="a base spec file the flags override")
    p.add_argument("--name", help="experiment name (default: the algorithm)")
    p.add_argument("--env", help="environment name (default GridWorld)")
    p.add_argument("--link", help="the oracle's link (default logistic)")
    p.add_argument("--queries", type=_positive_int, help="votes M per pair (default 10)")
    p.add_argument("--preset", help="teacher preset (default: noisy, the utility oracle kind's)")
    p.add_argument(
        "--seeds", type=_positive_int, help="independent runs per grid point (default 4)"
    )
    p.add_argument("--iterations", type=_positive_int, help="iterations T per run (default 100)")
    p.add_argument(
        "--eval-every",
        dest="eval_every",
        type=_positive_int,
        help="record the metrics every this many iterations (default 1; must divide T)",
    )
    p.add_argument(
        "--chunk-size",
        dest="chunk_size",
        type=_positive_int,
        help="iterations per compiled call, between checkpoints (default: about T / 10)",
    )
    _add_sweep_options(p, "results/<name>-<8 hex digits of the spec>")
    _add_shard_option(p)
    p.set_defaults(func=cmd_run)


def _add_analysis(commands) -> None:
    from zoprl.cli_analysis import add_analysis_commands

    add_analysis_commands(commands, _add_sweep_options)


def _add_sweep(commands) -> None:
    p = commands.add_parser(
        "sweep", help="every cell of a spec file", description=cmd_sweep.__doc__, epilog=EXIT_CODES
    )
    p.add_argument("spec", help="spec file (.toml, .yaml)")
    _add_sweep_options(p, "results/<spec name>")
    _add_shard_option(p)
    p.set_defaults(func=cmd_sweep)


def _add_plot(commands) -> None:
    p = commands.add_parser(
        "plot", help="figures from a results folder", description=cmd_plot.__doc__
    )
    p.add_argument("results", help="results folder or results.parquet")
    p.add_argument("--metric", default="value_gap", help="metric to draw (default value_gap)")
    p.add_argument(
        "--x",
        nargs="+",
        default=["queries"],
        choices=X_AXES,
        help="x axes of the learning curves (one panel column each; default queries)",
    )
    p.add_argument("--param", help="draw the final metric against this parameter column")
    p.add_argument("--rate", metavar="X", help="log-log rate plot against this column")
    p.add_argument(
        "--expected-slope",
        dest="expected_slope",
        type=float,
        help="draw a reference line of this slope in the rate plot",
    )
    p.add_argument("--log-x", dest="log_x", action="store_true", help="logarithmic x axis")
    p.add_argument("--log-y", dest="log_y", action="store_true", help="logarithmic y axis")
    p.add_argument("--out", help="folder for the figures (default: the results folder)")
    p.set_defaults(func=cmd_plot)


def _add_reproduce(commands) -> None:
    p = commands.add_parser(
        "reproduce",
        help="reproduce the papers' claims and rate checks",
        description=cmd_reproduce.__doc__,
        epilog=EXIT_CODES,
    )
    p.add_argument("name", help="a reproduction (zoprl list reproductions) or all")
    profile = p.add_mutually_exclusive_group()
    profile.add_argument(
        "--quick",
        action="store_true",
        help=f"CPU profile (the default; all: {TIME_CLAIMS['reproduce']})",
    )
    profile.add_argument("--full", action="store_true", help="GPU-sized profile")
    p.add_argument("--out", default="results", help="parent folder (default results)")
    p.add_argument("--fresh", action="store_true", help="discard earlier results, do not resume")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    _add_process_options(p)
    p.set_defaults(func=cmd_reproduce)


def _add_merge(commands) -> None:
    p = commands.add_parser(
        "merge",
        help="the table and manifest of a sweep run as --shard I/N parts",
        description=cmd_merge.__doc__,
        epilog=EXIT_CODES,
    )
    p.add_argument("shards", nargs="+", metavar="FOLDER", help="the results folder of each shard")
    p.add_argument("--out", required=True, metavar="FOLDER", help="folder for the merged results")
    p.add_argument(
        "--fresh", action="store_true", help="replace what another merge or sweep left in --out"
    )
    p.set_defaults(func=cmd_merge)


def _add_list_and_bench(commands) -> None:
    p = commands.add_parser(
        "list",
        help="environments, algorithms, oracles, presets, evaluators, "
        "policies, optimizers, reproductions",
        description=cmd_list.__doc__,
    )
    p.add_argument(
        "what", nargs="?", default="all", choices=("all",) + LIST_KINDS, help="what to list"
    )
    p.set_defaults(func=cmd_list)

    p = commands.add_parser(
        "bench",
        help="the benchmark suite, throughput against references "
        f"(--quick: {TIME_CLAIMS['bench']})",
        description="zoprl's benchmark suite: see zoprl.bench",
    )
    from zoprl.bench import add_arguments

    add_arguments(p)
    _add_cache_options(p)
    p.set_defaults(func=cmd_bench)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zoprl",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        _add_demo,
        _add_run,
        _add_sweep,
        _add_analysis,
        _add_plot,
        _add_reproduce,
        _add_merge,
        _add_list_and_bench,
    ):
        add(commands)
    return parser


# errors -------------------------------------------------------------------------------------
def _os_error(err: OSError) -> str:
    """One line for a filesystem error: the file and the cause."""
    cause = err.strerror or type(err).__name__
    if err.filename is not None and err.filename2 is not None:
        return f"cannot write {str(err.filename2)!r} (from {str(err.filename)!r}): {cause}"
    if err.filename is not None:
        return f"cannot use {str(err.filename)!r}: {cause}"
    return f"{cause}: {err}"


def _error(message: str) -> int:
    print(f"zoprl: error: {' '.join(str(message).split())}", file=sys.stderr)
    return 2


def _start(args) -> bool:
    """Before any JAX work of a command that computes (one with the compilation cache's flags):
    the compilation cache, one host device per core, and ``jax.distributed`` when this is one of
    several processes. Returns whether this process prints (process 0, or the only one)."""
    from zoprl import hosts  # imports nothing of zoprl that starts JAX's backends

    hosts.use_every_core()
    several = hosts.initialize(
        getattr(args, "coordinator", None),
        getattr(args, "num_processes", None),
        getattr(args, "process_id", None),
    )
    from zoprl.experiment.compile_cache import disable_compile_cache, enable_compile_cache

    if getattr(args, "no_compile_cache", False):
        disable_compile_cache()
    else:
        enable_compile_cache(getattr(args, "compile_cache", None))
    return not several or hosts.is_writer()


def _peer_failure(err: Exception) -> str | None:
    """The one line for a collective that failed because another process stopped."""
    from zoprl.hosts import process_count

    if type(err).__name__ != "JaxRuntimeError" or process_count() == 1:
        return None
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return (
        f"another process of this run stopped ({first}); start every process again with "
        "the same command to resume"
    )


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        prints = _start(args) if getattr(args, "start", False) else True
        with contextlib.ExitStack() as stack:
            if not prints:  # processes other than 0 print errors only
                stack.enter_context(
                    contextlib.redirect_stdout(stack.enter_context(open(os.devnull, "w")))
                )
            return args.func(args)
    except ValueError as err:
        return _error(str(err))
    except OSError as err:
        return _error(_os_error(err))
    except KeyboardInterrupt:
        print("zoprl: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except Exception as err:
        text = str(err)
        if "RESOURCE_EXHAUSTED" in text or "out of memory" in text.lower():
            first = text.strip().splitlines()[0] if text.strip() else type(err).__name__
            return _error(f"out of memory ({first}); lower the sizes or --memory-budget")
        peer = _peer_failure(err)
        if peer:
            return _error(peer)
        raise


if __name__ == "__main__":
    sys.exit(main())
