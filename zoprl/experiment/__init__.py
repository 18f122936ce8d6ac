"""Experiments: typed specs, the registry of names they use, and the sweep engine.

spec = load_spec("sweep.toml", overrides=["seeds=8"])
result = run_sweep(spec, "results/my-sweep")      # resumes if interrupted
result.table                                      # the tidy table (pandas)
"""

from zoprl.experiment.build import Cell, build_cells, seed_keys
from zoprl.experiment.devices import memory_budget, runs_mesh
from zoprl.experiment.engine import SweepResult, run_sweep
from zoprl.experiment.registry import (
    ALGORITHMS,
    OPTIMIZERS,
    POLICIES,
    AlgorithmEntry,
    hparam_names,
    register_algorithm,
)
from zoprl.experiment.spec import (
    AlgorithmSpec,
    EnvironmentSpec,
    EvaluationSpec,
    ExperimentSpec,
    OracleSpec,
    PolicySpec,
    SpecError,
    spec_from_dict,
)
from zoprl.experiment.spec_files import apply_override, load_spec, read_spec_file, set_path

__all__ = [
    "ALGORITHMS",
    "AlgorithmEntry",
    "AlgorithmSpec",
    "Cell",
    "EnvironmentSpec",
    "EvaluationSpec",
    "ExperimentSpec",
    "OPTIMIZERS",
    "register_algorithm",
    "OracleSpec",
    "POLICIES",
    "PolicySpec",
    "SpecError",
    "SweepResult",
    "apply_override",
    "build_cells",
    "hparam_names",
    "load_spec",
    "memory_budget",
    "read_spec_file",
    "run_sweep",
    "runs_mesh",
    "seed_keys",
    "set_path",
    "spec_from_dict",
]
