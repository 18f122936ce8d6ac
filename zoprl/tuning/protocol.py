"""The tuning protocol behind ``zoprl tune SPEC``: every method tuned with the same effort on
tuning seeds, the chosen configuration rerun on fresh evaluation seeds.

1. The tuning spec: every algorithm entry's search space (``search``) becomes ``points``
   configurations (``design.design_points``, the same number for every method), swept inside
   the method's one compiled program together with the spec's other grid keys (the contexts:
   e.g. a slip probability, so that each method is tuned per context), on ``[tuning] seeds``
   seeds 0 .. S_t - 1. Written to ``<out>/tuning/``.
2. Selection (``select``): each run's score at the common budget (criterion ``final`` or
   ``auc``), averaged over the tuning seeds; per method and context the best configuration.
3. The tuned spec (``<out>/tuned.yaml``, a file ``zoprl sweep`` runs): one entry per method
   (static grids expanded, labelled by cell), the chosen values per context as explicit grid
   points, and the spec's ``seeds`` fresh seeds S_t .. S_t + S - 1 (``first_seed``), disjoint
   from the tuning seeds by construction. Run into ``<out>/evaluation/``. Both sweeps run in
   batches of a method's evaluation size (``shared_batch``), so that with the persistent
   compilation cache (``zoprl.experiment.compile_cache``) the evaluation program is loaded,
   not compiled again.
4. ``<out>/chosen.csv`` / ``chosen.md`` (the chosen values, their tuning score and standard
   error), ``<out>/sensitivity.png`` / ``.pdf`` (the tuning score against each searched
   hyperparameter, per method), and a warning for every chosen value on the edge of its range.

Entries without a search space are run as they are (with a warning: they were not tuned).
Rerunning the same command resumes both sweeps.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, NamedTuple

import pandas as pd

from zoprl.experiment.build import build_cells
from zoprl.experiment.spec import AlgorithmSpec, ExperimentSpec, SpecError
from zoprl.tuning.design import design_points, on_edge
from zoprl.tuning.select import choose, run_scores


class MethodPlan(NamedTuple):
    """One algorithm entry's tuning: its contexts (grid points not searched) and designs."""

    entry: AlgorithmSpec
    contexts: list
    designs: list


class TuneResult(NamedTuple):
    tuned_spec: ExperimentSpec
    tuned_path: str
    choices: Any  # pandas DataFrame: one row per (cell, context)
    warnings: list
    tuning: Any  # SweepResult of the tuning sweep
    evaluation: Any  # SweepResult of the evaluation sweep
    written: list


def _combinations(grid: dict) -> list[dict]:
    import itertools

    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def plan_methods(spec: ExperimentSpec) -> list[MethodPlan]:
    """The contexts and design points of every entry (module doc, step 1)."""
    tuning = spec.tuning
    plans = []
    for i, entry in enumerate(spec.algorithms):
        if entry.search and entry.grid_points:
            raise SpecError(
                f"algorithms[{i}] ({entry.label}): give either a search space or "
                "grid_points, not both"
            )
        overlap = sorted(set(entry.search) & set(spec.grid))
        if overlap:
            raise SpecError(
                f"algorithms[{i}] ({entry.label}): {overlap[0]!r} is both searched "
                "and in the spec's grid"
            )
        context_grid = {
            **spec.grid,
            **{k: v for k, v in entry.grid.items() if k not in entry.search},
        }
        contexts = [
            {**c, **q} for c in _combinations(context_grid) for q in entry.grid_points or ({},)
        ]
        designs = design_points(entry.search, tuning.points, tuning.design)
        plans.append(MethodPlan(entry, contexts, designs))
    return plans


def tuning_spec(spec: ExperimentSpec, plans: list[MethodPlan]) -> ExperimentSpec:
    """The spec of the tuning sweep: contexts x designs per entry, on the tuning seeds."""
    entries = []
    for plan in plans:
        entry = plan.entry
        entries.append(
            dataclasses.replace(
                entry,
                grid={},
                search={},
                hparams={k: v for k, v in entry.hparams.items() if k not in entry.search},
                grid_points=tuple({**c, **d} for c in plan.contexts for d in plan.designs),
            )
        )
    return dataclasses.replace(
        spec,
        algorithms=tuple(entries),
        grid={},
        tuning=None,
        seeds=spec.tuning.seeds,
        first_seed=0,
        max_runs_per_batch=shared_batch(spec, plans),
    )


def shared_batch(spec: ExperimentSpec, plans: list[MethodPlan]) -> int:
    """Runs per batch of both sweeps: a method's evaluation runs (contexts x seeds), so that its
    tuning sweep runs in batches of the same shape and the evaluation program is the tuning
    program again (a load from the persistent compilation cache instead of a compile)."""
    batch = min(len(plan.contexts) * spec.seeds for plan in plans)
    return batch if spec.max_runs_per_batch is None else min(batch, spec.max_runs_per_batch)


def _cells_of(spec: ExperimentSpec, plans: list[MethodPlan]) -> list[tuple]:
    """(cell name, plan, static combination) for every cell, in the engine's order."""
    out = []
    for plan in plans:
        entry = plan.entry
        combos = _combinations(dict(entry.static_grid)) if entry.static_grid else [{}]
        for combo in combos:
            name = (
                entry.label
                if not combo
                else entry.label + "[" + ",".join(f"{k}={v}" for k, v in combo.items()) + "]"
            )
            out.append((name, plan, combo))
    return out


def tuned_spec(
    spec: ExperimentSpec, plans: list[MethodPlan], choices: pd.DataFrame
) -> ExperimentSpec:
    """One entry per cell with its chosen values per context, on the evaluation seeds."""
    entries = []
    for name, plan, combo in _cells_of(spec, plans):
        entry = plan.entry
        chosen = choices[choices.cell == name].set_index("context")["design"]
        points = tuple(
            {**context, **plan.designs[int(chosen[c])]} for c, context in enumerate(plan.contexts)
        )
        entries.append(
            dataclasses.replace(
                entry,
                label=name,
                static={**entry.static, **combo},
                static_grid={},
                grid={},
                search={},
                grid_points=points,
                hparams={k: v for k, v in entry.hparams.items() if k not in entry.search},
            )
        )
    return dataclasses.replace(
        spec,
        algorithms=tuple(entries),
        grid={},
        tuning=None,
        first_seed=spec.tuning.seeds,
        max_runs_per_batch=shared_batch(spec, plans),
    )


def describe_choices(
    plans: list[MethodPlan], spec: ExperimentSpec, choices: pd.DataFrame
) -> tuple[pd.DataFrame, list[str]]:
    """The chosen values in columns, with their context and edge flags; the warnings."""
    rows, warnings = [], []
    cells = {name: plan for name, plan, _ in _cells_of(spec, plans)}
    for choice in choices.itertuples():
        plan = cells[choice.cell]
        values = plan.designs[choice.design]
        edges = [k for k, v in values.items() if on_edge(v, plan.entry.search[k])]
        context = plan.contexts[choice.context]
        for name in edges:
            warnings.append(
                f"{choice.cell} {json.dumps(context) if context else ''}: the chosen "
                f"{name} = {values[name]:g} is on the edge of its range "
                f"{_range_text(plan.entry.search[name])}; the optimum may lie "
                "outside it"
            )
        rows.append(
            {
                "cell": choice.cell,
                "context": json.dumps(context) if context else "",
                **{f"hp.{k}": v for k, v in values.items()},
                "score": choice.score,
                "stderr": choice.stderr,
                "seeds": choice.seeds,
                "on_edge": ", ".join(edges),
            }
        )
    for plan in plans:
        if not plan.entry.search:
            warnings.append(f"{plan.entry.label} has no search space: it was not tuned")
    frame = pd.DataFrame(rows)
    names = sorted(c for c in frame.columns if c.startswith("hp."))
    return frame[["cell", "context", *names, "score", "stderr", "seeds", "on_edge"]], warnings


def _range_text(dim: dict) -> str:
    if "values" in dim:
        return str(dim["values"])
    return f"[{dim['low']:g}, {dim['high']:g}]{' (log)' if dim['log'] else ''}"


def tune(
    spec: ExperimentSpec, out_dir: str, *, fresh: bool = False, progress: bool = True, log=print
) -> TuneResult:
    """Run the protocol of the module doc for ``spec`` into ``out_dir``."""
    from zoprl.experiment import run_sweep
    from zoprl.hosts import share
    from zoprl.tuning.report import write_report

    if spec.tuning is None:
        raise SpecError(
            "zoprl tune needs a [tuning] table in the spec (points, seeds, metric, "
            "criterion, budget) and search spaces in the algorithm entries"
        )
    plans = plan_methods(spec)
    first = tuning_spec(spec, plans)
    build_cells(first)  # every input validated before anything runs
    log(
        f"tuning {len(plans)} methods x {spec.tuning.points} configurations on "
        f"{spec.tuning.seeds} tuning seeds"
    )
    tuning = run_sweep(first, os.path.join(out_dir, "tuning"), fresh=fresh, progress=progress)
    settings = spec.tuning
    scores = run_scores(tuning.table, settings.metric, settings.criterion, settings.budget)
    cells = _cells_of(spec, plans)
    choices = choose(
        tuning.table,
        scores,
        {n: (len(p.contexts), len(p.designs)) for n, p, _ in cells},
        settings.seeds,
        settings.resolved_goal,
    )
    second = tuned_spec(spec, plans, choices)
    chosen, warnings = describe_choices(plans, spec, choices)
    written = share(  # process 0 writes (every process of a multi-process run got the table)
        lambda: write_report(out_dir, second, chosen, tuning.table, scores, plans, cells, settings)
    )
    log(f"evaluating the chosen configurations on {spec.seeds} fresh seeds")
    evaluation = run_sweep(
        second, os.path.join(out_dir, "evaluation"), fresh=fresh, progress=progress
    )
    for warning in warnings:
        log(f"warning: {warning}")
    return TuneResult(
        second,
        written[0],
        chosen,
        warnings,
        tuning,
        evaluation,
        written + [evaluation.table_path, evaluation.manifest_path],
    )


__all__ = ["MethodPlan", "TuneResult", "plan_methods", "tune", "tuned_spec", "tuning_spec"]
