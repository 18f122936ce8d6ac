"""The ``zoprl`` command: run experiments and sweeps, draw their figures, list what exists.

    zoprl demo                         ZPG against the baselines on the default GridWorld
    zoprl run --algorithm zpg ...      one experiment from flags (or --spec FILE plus flags)
    zoprl sweep SPEC.toml              every cell of a spec file (TOML or YAML)
    zoprl tune SPEC.toml               every method tuned with equal effort, then evaluated
    zoprl compare RESULTS              sample-complexity tables (budget to reach a threshold)
    zoprl plot RESULTS                 figures from a results folder
    zoprl reproduce NAME|all           the papers' claims and the rate checks (--quick, --full)
    zoprl list [WHAT]                  environments, algorithms, oracles, presets, policies
    zoprl bench                        the benchmark suite

Every sweep writes results.parquet (the tidy table) and manifest.json, resumes when rerun after
an interruption, and validates its inputs before compiling anything. Errors in the arguments or
the spec exit with code 2 and a one-line message, without a traceback.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys

DEMO_SPEC = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "experiment", "specs", "demo.toml"
)
X_AXES = ("iteration", "trajectories", "queries")
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


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _add_sweep_options(p: argparse.ArgumentParser, default_out: str | None) -> None:
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a spec entry, e.g. --set seeds=8 --set grid.mu=[1,2] "
        "--set algorithms.zpg.static.num_pairs=64 (repeatable)",
    )
    p.add_argument(
        "--out", default=default_out, help="results folder (default: results/<spec name>)"
    )
    p.add_argument(
        "--fresh",
        action="store_true",
        help="discard earlier results in the folder instead of resuming",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument(
        "--no-plot", dest="plot", action="store_false", help="do not draw the learning-curve figure"
    )
    p.add_argument(
        "--metric",
        help="metric of the figure (default: value_gap where the "
        "environment is finite, else value)",
    )


def _execute(spec, args, x_axes=("queries", "iteration"), out=None):
    """Run or resume the sweep, print where the files are, draw the figure; returns the
    SweepResult."""
    from zoprl.experiment import run_sweep

    out = args.out or out or os.path.join("results", spec.name)
    result = run_sweep(spec, out, fresh=args.fresh, progress=not args.quiet)
    print(f"wrote {result.table_path} ({len(result.table)} rows) and {result.manifest_path}")
    if args.plot:
        from zoprl.plots import plot_results

        metrics = set(result.table.metric)
        metric = args.metric or ("value_gap" if "value_gap" in metrics else "value")
        for path in plot_results(result.table, out, metric=metric, x=list(x_axes)):
            print(f"wrote {path}")
    return result


def cmd_sweep(args) -> int:
    """Run (or resume) every cell of a spec file."""
    from zoprl.experiment import load_spec

    _execute(load_spec(args.spec, args.overrides), args)
    return 0


def cmd_run(args) -> int:
    """One experiment from flags: an algorithm on an environment with an oracle (``--spec``
    gives a base file whose entries the flags replace)."""
    from zoprl.experiment import apply_override, read_spec_file, spec_from_dict

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
    spec = spec_from_dict(raw)
    # each distinct run gets its own folder: results/<name>-<8 hex digits of the spec>
    digest = hashlib.sha1(spec.fingerprint().encode()).hexdigest()[:8]
    _execute(spec, args, out=os.path.join("results", f"{spec.name}-{digest}"))
    return 0


def cmd_demo(args) -> int:
    """ZPG and ZBCPG against online DPO, online RLHF-PPO and the PPO ceiling on the default
    stochastic GridWorld with a Bradley-Terry teacher: 4 seeds per method, each method one
    compiled program; prints J(theta_T) / J* and writes the table and a figure."""
    from zoprl.experiment import load_spec

    spec = load_spec(DEMO_SPEC, args.overrides)
    _print_summary(_execute(spec, args, x_axes=("queries", "trajectories")).table)
    return 0


def _print_summary(table) -> None:
    """Final J / J* per algorithm (mean +- standard error over seeds), queries, trajectories."""
    last = table[table.iteration == table.iteration.max()]
    value = last[last.metric == "value"].set_index("run_id")
    gap = last[last.metric == "value_gap"].set_index("run_id")["value"]
    value = value.assign(ratio=value["value"] / (value["value"] + gap))
    print(f"{'method':<22} {'J(theta_T) / J*':>18} {'queries':>10} {'trajectories':>13}")
    for label, group in value.groupby("label", sort=False):
        stderr = group.ratio.std(ddof=1) / len(group) ** 0.5 if len(group) > 1 else 0.0
        print(
            f"{label:<22} {group.ratio.mean():>11.3f} +- {stderr:.3f} "
            f"{int(group.queries.mean()):>10d} {int(group.trajectories.mean()):>13d}"
        )


def cmd_plot(args) -> int:
    """Figures from a results folder (or Parquet file): learning curves, final metric against a
    parameter (--param), or a log-log rate plot with its fitted slope (--rate X)."""
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
        paths = plot_results(args.results, out, metric=args.metric, x=args.x, log_y=args.log_y)
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
            f"{name:<22} {entry.description}; static: {', '.join(entry.static_names())}"
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
    """Named reproductions of the zeroth-order papers' claims (see zoprl.reproduce), each into
    <out>/<name>: table, manifest, figures and summary.csv (slopes.csv for rates). --quick: a
    2-core CPU in minutes (the default); --full: sized for a GPU. Rerunning resumes an
    interrupted sweep-based reproduction (rates, a few minutes of estimator statistics, is
    recomputed)."""
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
    return 0


def cmd_bench(args) -> int:
    from zoprl.bench import run

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zoprl",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser(
        "demo",
        help="ZPG against the baselines on the default GridWorld",
        description=cmd_demo.__doc__,
    )
    _add_sweep_options(p, "results/demo")
    p.set_defaults(func=cmd_demo)

    p = commands.add_parser("run", help="one experiment from flags", description=cmd_run.__doc__)
    p.add_argument("--algorithm", help="algorithm name (zoprl list algorithms)")
    p.add_argument("--spec", help="a base spec file the flags override")
    p.add_argument("--name", help="experiment name (default: the algorithm)")
    p.add_argument("--env", help="environment name (default GridWorld)")
    p.add_argument("--link", help="the oracle's link (default logistic)")
    p.add_argument("--queries", type=_positive_int, help="votes M per pair (default 10)")
    p.add_argument("--preset", help="teacher preset (default noisy)")
    p.add_argument("--seeds", type=_positive_int)
    p.add_argument("--iterations", type=_positive_int)
    p.add_argument("--eval-every", dest="eval_every", type=_positive_int)
    p.add_argument("--chunk-size", dest="chunk_size", type=_positive_int)
    _add_sweep_options(p, None)
    p.set_defaults(func=cmd_run)

    p = commands.add_parser(
        "sweep", help="every cell of a spec file", description=cmd_sweep.__doc__
    )
    p.add_argument("spec", help="spec file (.toml, .yaml)")
    _add_sweep_options(p, None)
    p.set_defaults(func=cmd_sweep)

    from zoprl.cli_analysis import add_analysis_commands

    add_analysis_commands(commands, _add_sweep_options)

    p = commands.add_parser(
        "plot", help="figures from a results folder", description=cmd_plot.__doc__
    )
    p.add_argument("results", help="results folder or results.parquet")
    p.add_argument("--metric", default="value_gap")
    p.add_argument(
        "--x",
        nargs="+",
        default=["queries"],
        choices=X_AXES,
        help="x axes of the learning curves (one panel column each)",
    )
    p.add_argument("--param", help="draw the final metric against this parameter column")
    p.add_argument("--rate", metavar="X", help="log-log rate plot against this column")
    p.add_argument("--expected-slope", dest="expected_slope", type=float)
    p.add_argument("--log-x", dest="log_x", action="store_true")
    p.add_argument("--log-y", dest="log_y", action="store_true")
    p.add_argument("--out", help="folder for the figures (default: the results folder)")
    p.set_defaults(func=cmd_plot)

    p = commands.add_parser(
        "reproduce",
        help="reproduce the papers' claims and rate checks",
        description=cmd_reproduce.__doc__,
    )
    p.add_argument("name", help="gridworld-comparison, stochasticity, links, blocks, rates or all")
    profile = p.add_mutually_exclusive_group()
    profile.add_argument("--quick", action="store_true", help="CPU profile (default)")
    profile.add_argument("--full", action="store_true", help="GPU-sized profile")
    p.add_argument("--out", default="results", help="parent folder (default results)")
    p.add_argument("--fresh", action="store_true", help="discard earlier results, do not resume")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_reproduce)

    p = commands.add_parser(
        "list",
        help="environments, algorithms, oracles, presets, evaluators, "
        "policies, optimizers, reproductions",
        description=cmd_list.__doc__,
    )
    p.add_argument("what", nargs="?", default="all", choices=("all",) + LIST_KINDS)
    p.set_defaults(func=cmd_list)

    p = commands.add_parser(
        "bench",
        help="the benchmark suite (throughput against references)",
        description="zoprl's benchmark suite: see zoprl.bench",
    )
    from zoprl.bench import add_arguments

    add_arguments(p)
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from zoprl.experiment.compile_cache import enable_compile_cache

        enable_compile_cache()  # compiled programs kept on disk (off: ZOPRL_COMPILE_CACHE=off)
        return args.func(args)
    except ValueError as err:
        message = " ".join(str(err).split())
        print(f"zoprl: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("zoprl: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
