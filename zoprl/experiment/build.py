"""Turn an ExperimentSpec into static cells, each with the stacked inputs of all its runs.

A cell is one algorithm entry x one combination of its ``static_grid``: one environment, policy,
oracle, evaluator and Algorithm object, hence one compiled program. Its runs are grid points x
seeds, laid out grid-major (run r = g * S + s). Everything is built and validated here, in
Python, before anything is traced: unknown names (with the nearest valid one), wrong types and
bad values raise ``SpecError`` naming the spec entry.

The names come from types and signatures, never from lists kept by hand: static settings are the
factory's keyword-only arguments (``registry.static_settings``), hyperparameters the fields of
the algorithm's hyperparameter pytree (``registry.hparam_names``), oracle options and knobs the
oracle kind's signatures (``zoprl.oracles.kinds``), evaluator options the evaluator factory's.
Per grid point, env params and oracle params are built separately and stacked (leaves [G, ...]),
so a grid may sweep any knob that keeps their shapes, a preference tensor's seed included.

Seed s uses the key ``split(key(spec.seed), S)[s]`` in every grid point and every cell: grid
points and algorithms are compared on common random numbers.
"""

from __future__ import annotations

import itertools
import json
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from zoprl.algorithms.base import Algorithm, hparam_fields
from zoprl.envs import make, registered_envs
from zoprl.evaluators import EVALUATORS, Evaluator, make_evaluator
from zoprl.experiment.registry import ALGORITHMS, POLICIES, check_static_value, hparam_names
from zoprl.experiment.spec import AlgorithmSpec, ExperimentSpec, SpecError, nearest, unknown_key
from zoprl.oracles import (
    ORACLE_KINDS,
    PRESETS,
    TEACHER_KNOBS,
    Oracle,
    OracleParams,
    make_preference_oracle,
    teacher_params,
)
from zoprl.oracles.kinds import keyword_only, kind_knobs

ORACLE_FIXED = ("kind", "num_queries", "preset")


class Cell(NamedTuple):
    """One compiled program's worth of runs (module doc). Leaves of ``hparams`` and
    ``oracle_params`` are [G, ...]; ``env_params`` leaves are [G, ...] when ``env_batched``,
    else shared."""

    index: int
    name: str
    label: str
    algorithm_name: str
    algorithm: Algorithm
    evaluator: Evaluator
    reads_latent_reward: bool
    environment: str
    oracle: str
    grid_size: int
    hparams: Any
    oracle_params: OracleParams
    env_params: Any
    env_batched: bool
    columns: dict  # parameter column name -> values [G] (for the results table)


class OracleCell(NamedTuple):
    oracle: Oracle
    params: OracleParams  # leaves [G, ...]
    columns: dict
    label: str


def seed_keys(spec: ExperimentSpec) -> jax.Array:
    """The S seed keys shared by every cell and grid point: seeds first_seed, ...,
    first_seed + S - 1 of ``split(key(seed), first_seed + S)``, so that runs with disjoint seed
    ranges (tuning and evaluation) never share a key."""
    return jax.random.split(jax.random.key(spec.seed), spec.first_seed + spec.seeds)[
        spec.first_seed :
    ]


def _wrap(where: str, fn, *args, errors=(ValueError, TypeError), **kwargs):
    """Call ``fn``, turning its ``errors`` into a SpecError that names ``where``."""
    try:
        return fn(*args, **kwargs)
    except SpecError:
        raise
    except errors as err:
        raise SpecError(f"{where}: {' '.join(str(err).split())}") from None


def _make_env(where: str, name: str, options: dict):
    if name not in registered_envs():
        raise SpecError(
            f"{where}: unknown environment {name!r}{nearest(name, registered_envs())};"
            " see `zoprl list environments`"
        )
    return _wrap(where, make, name, **options)


def _combinations(grid: dict) -> list[dict]:
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def _is_column_value(value) -> bool:
    return isinstance(value, (bool, int, float, str))


def _column(values: list) -> np.ndarray:
    """A 1-D table column: numbers and strings as they are, anything else (lists, e.g. GridWorld
    goals) as its JSON text."""
    if all(_is_column_value(v) for v in values):
        return np.asarray(values)
    return np.asarray([json.dumps(v) for v in values], dtype=object)


def _stack(trees: list):
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def _split_static(where: str, static: dict) -> tuple[dict, dict, dict, dict]:
    """(algorithm, oracle, env, policy) parts of an entry's static settings."""
    parts = {"oracle": {}, "env": {}, "policy": {}}
    algo = {}
    for key, value in static.items():
        prefix, _, rest = key.partition(".")
        if rest and prefix in parts:
            parts[prefix][rest] = value
        else:
            algo[key] = value
    return algo, parts["oracle"], parts["env"], parts["policy"]


def _stack_env_params(where: str, env_name, env, options, base, points, env_keys):
    """Env params of every grid point, stacked [G]; the grid may not change the env's shapes."""
    stacked = []
    for point in points:
        env_i, params_i = _make_env(
            where, env_name, {**options, **{k: point["env." + k] for k in env_keys}}
        )
        same_env = {k: v for k, v in vars(env_i).items() if _is_column_value(v)} == {
            k: v for k, v in vars(env).items() if _is_column_value(v)
        }
        shapes = jax.tree.map(np.shape, params_i) if same_env else None
        if (
            not same_env
            or jax.tree.structure(params_i) != jax.tree.structure(base)
            or shapes != jax.tree.map(np.shape, base)
        ):
            raise SpecError(
                f"{where}: grid keys {', '.join('env.' + k for k in env_keys)} change "
                "the environment's static shape; put them in static_grid instead"
            )
        stacked.append(params_i)
    return _stack(stacked)


def build_cells(spec: ExperimentSpec) -> list[Cell]:
    """Every cell of ``spec`` (module doc), validated; raises SpecError before any compilation."""
    if spec.evaluation.name not in EVALUATORS:
        name = spec.evaluation.name
        raise SpecError(
            f"evaluation: unknown evaluator {name!r}{nearest(name, EVALUATORS)}; "
            f"valid: {', '.join(EVALUATORS)}"
        )
    cells = []
    for i, entry in enumerate(spec.algorithms):
        where = f"algorithms[{i}] ({entry.label})"
        if entry.name not in ALGORITHMS:
            raise SpecError(
                f"{where}: unknown algorithm {entry.name!r}"
                f"{nearest(entry.name, ALGORITHMS)}; valid: {', '.join(ALGORITHMS)}"
            )
        for combo in _combinations(dict(entry.static_grid)):
            name = (
                entry.label
                if not entry.static_grid
                else entry.label + "[" + ",".join(f"{k}={v}" for k, v in combo.items()) + "]"
            )
            cells.append(
                _build_cell(
                    spec,
                    entry,
                    len(cells),
                    name,
                    {**entry.static, **combo},
                    f"{where}{'' if not entry.static_grid else ' ' + name}",
                )
            )
    return cells


def _build_environment(spec: ExperimentSpec, where: str, env_static: dict, policy_static: dict):
    """(env, env_params, env options, policy) of a cell."""
    env_name = spec.environment.name
    env_options = {**spec.environment.options, **env_static}
    env, env_params = _make_env(f"{where}: environment", env_name, env_options)
    policy_name = spec.policy.name
    if policy_name not in POLICIES:
        raise SpecError(
            f"{where}: unknown policy {policy_name!r}{nearest(policy_name, POLICIES)}; "
            f"valid: {', '.join(POLICIES)}"
        )
    # a policy for another kind of environment fails in many ways (no table size, no discrete
    # action count): every failure is reported as a mismatch
    policy = _wrap(
        f"{where}: policy {policy_name!r} does not fit environment {env_name!r}",
        POLICIES[policy_name],
        env,
        env_params,
        errors=(ValueError, TypeError, AttributeError, IndexError, KeyError),
        **{**spec.policy.options, **policy_static},
    )
    return env, env_params, env_options, policy


def _build_algorithm(entry: AlgorithmSpec, where: str, env, policy, oracle, algo_static: dict):
    """The Algorithm of a cell and its static columns (every static setting, defaults too)."""
    registry = ALGORITHMS[entry.name]
    valid = registry.static_names()
    for key, value in algo_static.items():
        if key not in valid:
            raise unknown_key(
                f"{where}: static",
                key,
                list(valid)
                + [f"oracle.{k}" for k in ORACLE_FIXED]
                + ["oracle.<static option>", "env.<option>", "policy.<option>"],
            )
        algo_static[key] = _wrap(
            f"{where}: static", check_static_value, f"{where}: static", key, value, valid[key]
        )
    missing = [n for n, s in valid.items() if s.required and n not in algo_static]
    if missing:
        raise SpecError(
            f"{where}: missing static setting {missing[0]!r} (required by {entry.name}); "
            f"add --set algorithms.{entry.label}.static.{missing[0]}=VALUE (zoprl run: "
            f"--set static.{missing[0]}=VALUE) or static = {{ {missing[0]} = VALUE }} in the spec"
        )
    algorithm = _wrap(where, registry.build, env, policy, oracle, **algo_static)
    columns = {}
    for key, setting in valid.items():
        value = algo_static.get(key, setting.default)
        if _is_column_value(value):
            columns["static." + key] = value
    return algorithm, columns


def _oracle_options(spec: ExperimentSpec, where: str, oracle_static: dict):
    """(kind name, kind, M, preset, static options, knob options) of a cell's oracle."""
    fixed = {
        "kind": spec.oracle.kind,
        "num_queries": spec.oracle.num_queries,
        "preset": spec.oracle.preset,
    }
    fixed.update({k: oracle_static[k] for k in ORACLE_FIXED if k in oracle_static})
    kind_name = fixed["kind"]
    if kind_name not in ORACLE_KINDS:
        raise SpecError(
            f"{where}: unknown oracle kind {kind_name!r}"
            f"{nearest(kind_name, ORACLE_KINDS)}; valid: {', '.join(ORACLE_KINDS)}"
        )
    kind = ORACLE_KINDS[kind_name]
    static_names = keyword_only(kind.build)
    extra = {k: v for k, v in oracle_static.items() if k not in ORACLE_FIXED}
    for key in extra:
        if key not in static_names:
            raise unknown_key(
                f"{where}: static oracle option", key, list(static_names) + list(ORACLE_FIXED)
            )
    static = {k: v for k, v in spec.oracle.options.items() if k in static_names}
    static.update(extra)
    knobs = {k: v for k, v in spec.oracle.options.items() if k not in static_names}
    preset = fixed["preset"] or kind.default_preset
    return kind_name, kind, fixed["num_queries"], preset, static, knobs


def _build_oracle(
    spec: ExperimentSpec, where: str, env, env_params_of, oracle_static: dict, points: list[dict]
) -> OracleCell:
    """The oracle of a cell and its params at every grid point, stacked (module doc)."""
    kind_name, kind, num_queries, preset, static, knobs = _oracle_options(
        spec, where, oracle_static
    )
    built = _wrap(f"{where}: oracle", kind.build, env, **static)
    defaults = _wrap(f"{where}: oracle", kind_knobs, built)
    valid = list(defaults) + list(keyword_only(kind.build)) + list(ORACLE_FIXED)
    for key in knobs:
        if key not in defaults:
            raise unknown_key(f"{where}: oracle ({kind_name})", key, valid)
    if preset not in PRESETS:
        raise SpecError(
            f"{where}: unknown oracle preset {preset!r}{nearest(preset, PRESETS)}; "
            f"valid: {', '.join(PRESETS)}"
        )
    missing = sorted(set(PRESETS[preset]) - set(defaults))
    if missing:
        raise SpecError(
            f"{where}: preset {preset!r} sets {missing[0]}, which the {kind_name} "
            f"oracle does not have; choose another preset"
        )
    base = {**defaults, **PRESETS[preset], **knobs}
    for key in (k[len("oracle.") :] for k in points[0] if k.startswith("oracle.")):
        if key in static or key in ORACLE_FIXED or key in keyword_only(kind.build):
            raise SpecError(
                f"{where}: grid key oracle.{key} is a static oracle setting; sweep "
                "it with static_grid"
            )
        if key not in defaults:
            raise unknown_key(f"{where}: grid", f"oracle.{key}", [f"oracle.{k}" for k in defaults])
    values, params = [], []
    for g, point in enumerate(points):
        knob_values = {
            **base,
            **{k[len("oracle.") :]: v for k, v in point.items() if k.startswith("oracle.")},
        }
        model = {k: v for k, v in knob_values.items() if k not in TEACHER_KNOBS}
        teacher = {k: knob_values[k] for k in TEACHER_KNOBS}
        params.append(
            OracleParams(
                _wrap(f"{where}: oracle", built.params, env_params_of(g), **model),
                _wrap(f"{where}: oracle", teacher_params, **teacher),
            )
        )
        values.append(knob_values)
    columns = {f"oracle.{k}": _column([v[k] for v in values]) for k in base}
    columns["oracle.num_queries"] = np.full(len(points), num_queries)
    oracle = _wrap(f"{where}: oracle", make_preference_oracle, built.model, num_queries)
    return OracleCell(oracle, _stack(params), columns, f"{built.label}/{preset}")


def _check_grid_keys(where: str, grid: dict, hp_names) -> None:
    """Every grid key is a hyperparameter, ``oracle.<knob>`` (checked with the oracle) or
    ``env.<option>``; else SpecError with the nearest valid name."""
    for key in grid:
        prefix, _, rest = key.partition(".")
        if not ((prefix in ("oracle", "env") and rest) or key in hp_names):
            raise unknown_key(
                f"{where}: grid", key, list(hp_names) + ["oracle.<knob>", "env.<option>"]
            )


def _build_cell(
    spec: ExperimentSpec, entry: AlgorithmSpec, index: int, name: str, static: dict, where: str
) -> Cell:
    algo_static, oracle_static, env_static, policy_static = _split_static(where, static)
    env, env_params, env_options, policy = _build_environment(
        spec, where, env_static, policy_static
    )
    grid = {**spec.grid, **entry.grid}
    points = [{**p, **q} for p in _combinations(grid) for q in entry.grid_points or ({},)]
    grid = {k: [p[k] for p in points] for k in points[0]}  # every key, one value per point
    size = len(points)
    env_keys = [k[len("env.") :] for k in grid if k.startswith("env.")]
    if env_keys:
        env_params = _stack_env_params(
            f"{where}: grid", spec.environment.name, env, env_options, env_params, points, env_keys
        )
    env_params_of = (
        (lambda g: jax.tree.map(lambda x: x[g], env_params)) if env_keys else (lambda g: env_params)
    )
    oracle = _build_oracle(spec, where, env, env_params_of, oracle_static, points)
    algorithm, static_columns = _build_algorithm(
        entry, where, env, policy, oracle.oracle, algo_static
    )
    evaluator = _wrap(
        f"{where}: evaluation",
        make_evaluator,
        spec.evaluation.name,
        env,
        policy,
        oracle.oracle,
        **spec.evaluation.options,
    )
    hp_names = hparam_names(algorithm)
    _check_grid_keys(where, grid, hp_names)
    for key in entry.hparams:
        if key not in hp_names:
            raise unknown_key(f"{where}: hparams", key, hp_names)
    hp_values = {
        **entry.hparams,
        **{k: np.asarray([p[k] for p in points]) for k in grid if k in hp_names},
    }
    hparams = _wrap(f"{where}: hparams", algorithm.hparams, **hp_values)
    hparams = jax.tree.map(lambda x: jnp.broadcast_to(x, (size,)), hparams)
    columns = {f"hp.{k}": np.asarray(v) for k, v in hparam_fields(hparams).items()}
    columns.update(oracle.columns)
    columns.update({"env." + k: _column([v] * size) for k, v in env_options.items()})
    columns.update({"env." + k: _column([p["env." + k] for p in points]) for k in env_keys})
    columns.update({k: np.full(size, v) for k, v in static_columns.items()})
    registry = ALGORITHMS[entry.name]
    return Cell(
        index,
        name,
        entry.label,
        entry.name,
        algorithm,
        evaluator,
        registry.reads_latent_reward or algorithm.reads_latent_reward,  # e.g. an exact mode
        spec.environment.name,
        oracle.label,
        size,
        hparams,
        oracle.params,
        env_params,
        bool(env_keys),
        columns,
    )
