"""The ``zoprl tune`` and ``zoprl compare`` commands (fair comparisons; see ``zoprl.tuning`` and
``zoprl.compare``). Wired into the ``zoprl`` parser by ``add_analysis_commands``."""

from __future__ import annotations

import os


def cmd_tune(args) -> int:
    """Tune every method of a spec with the same effort on tuning seeds ([tuning] table and the
    entries' search spaces), then rerun the chosen configurations on fresh evaluation seeds.
    Writes <out>/tuning/ and <out>/evaluation/ (sweeps), <out>/tuned.yaml (a spec `zoprl sweep`
    runs), <out>/chosen.csv and .md, <out>/sensitivity.png and .pdf. Rerunning resumes."""
    from zoprl.experiment import load_spec
    from zoprl.tuning import tune
    from zoprl.tuning.report import markdown_table

    spec = load_spec(args.spec, args.overrides)
    out = args.out or os.path.join("results", spec.name)
    result = tune(spec, out, fresh=args.fresh, progress=not args.quiet)
    print(markdown_table(result.choices), end="")
    for path in result.written:
        print(f"wrote {path}")
    return 0


def cmd_compare(args) -> int:
    """Sample-complexity tables of a results folder: per method the budget (queries,
    trajectories or iterations) needed to reach each threshold, median and mean with 95%
    bootstrap intervals over seeds, runs that never reach it censored (> budget); and the metric
    at fixed budgets. Writes compare.csv, compare_budgets.csv, compare.md and compare.png."""
    from zoprl.compare import compare

    complexity, at_budgets, written = compare(
        args.results,
        thresholds=args.reach,
        x=args.x,
        budgets=args.budgets,
        metric=args.metric,
        out_dir=args.out,
    )
    with open(written[2]) as f:
        print(f.read(), end="")
    for path in written:
        print(f"wrote {path}")
    return 0


def add_analysis_commands(commands, add_sweep_options) -> None:
    """Add ``tune`` and ``compare`` to the ``zoprl`` subcommands."""
    p = commands.add_parser(
        "tune",
        help="tune every method with equal effort, then evaluate on fresh seeds",
        description=cmd_tune.__doc__,
    )
    p.add_argument("spec", help="spec file (.toml, .yaml) with a [tuning] table")
    add_sweep_options(p, None)
    p.set_defaults(func=cmd_tune)

    p = commands.add_parser(
        "compare",
        help="sample-complexity tables of a results folder",
        description=cmd_compare.__doc__,
    )
    p.add_argument(
        "results", help="results folder (a sweep's, or a `zoprl tune` folder) or a results.parquet"
    )
    p.add_argument(
        "--reach",
        action="append",
        default=[],
        metavar="METRIC>=VALUE",
        help="a threshold, e.g. value_ratio>=0.9, gap_closed>=0.8, value_gap<=0.5 "
        "(repeatable; default value_ratio>=0.9)",
    )
    p.add_argument(
        "--x",
        default="queries",
        choices=("queries", "trajectories", "iteration"),
        help="the budget axis (default queries)",
    )
    p.add_argument(
        "--budgets",
        type=float,
        nargs="+",
        default=[],
        help="budgets for the metric table (default: 1/4, 1/2, 3/4 and all of the largest)",
    )
    p.add_argument("--metric", help="metric of the budget table (default value_gap, else value)")
    p.add_argument("--out", help="folder for the outputs (default: the results folder)")
    p.set_defaults(func=cmd_compare)


__all__ = ["add_analysis_commands", "cmd_compare", "cmd_tune"]
