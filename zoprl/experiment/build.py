"""Turn an ExperimentSpec into static cells, each with the stacked inputs of all its runs.

A cell is one algorithm entry x one combination of its ``static_grid``: one environment, policy,
oracle and Algorithm object, hence one compiled program. Its runs are grid points x seeds, laid
out grid-major (run r = g * S + s). Everything is built and validated here, in Python, before
anything is traced: unknown names (with the nearest valid one), wrong types and bad values raise
``SpecError`` naming the spec entry.

Seed s uses the key ``split(key(spec.seed), S)[s]`` in every grid point and every cell: grid
points and algorithms are compared on common random numbers.
"""

from __future__ import annotations

import inspect
import itertools
import json
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from zoprl.algorithms.base import Algorithm
from zoprl.envs import make, registered_envs
from zoprl.experiment.registry import ALGORITHMS, OPTIMIZERS, POLICIES, hparam_names
from zoprl.experiment.spec import AlgorithmSpec, ExperimentSpec, SpecError, nearest, unknown_key
from zoprl.oracles import LINK_NAMES, PRESET_NAMES, OracleParams, make_oracle, oracle_params

ORACLE_STATIC = ("link", "num_queries", "preset")


class Cell(NamedTuple):
    """One compiled program's worth of runs (module doc). Leaves of ``hparams`` and
    ``oracle_params`` are [G]; ``env_params`` leaves are [G] when ``env_batched``, else shared."""

    index: int
    name: str
    label: str
    algorithm_name: str
    algorithm: Algorithm
    reward_free: bool
    environment: str
    oracle: str
    grid_size: int
    hparams: Any
    oracle_params: OracleParams
    env_params: Any
    env_batched: bool
    columns: dict          # parameter column name -> values [G] (for the results table)


def seed_keys(spec: ExperimentSpec) -> jax.Array:
    """The S seed keys shared by every cell and grid point."""
    return jax.random.split(jax.random.key(spec.seed), spec.seeds)


def _expected_type(param: inspect.Parameter):
    """The Python type a factory argument takes: its default's, else its annotation's head."""
    if param.default is not inspect.Parameter.empty and param.default is not None:
        return type(param.default)
    head = str(param.annotation).split("|")[0].strip()
    return {"bool": bool, "int": int, "float": float, "str": str}.get(head)


def _expect(where: str, name: str, value, param: inspect.Parameter):
    """``value`` checked against the type of the factory argument ``param`` (lists become tuples
    where the factory takes a tuple); returns the value to pass."""
    if name == "optimizer" and value is not None:
        if not isinstance(value, str) or value not in OPTIMIZERS:
            raise SpecError(f"{where}: unknown optimizer {value!r}{nearest(value, OPTIMIZERS)}; "
                            f"valid: {', '.join(OPTIMIZERS)}")
        return value
    if value is None and (param.default is None or "None" in str(param.annotation)):
        return value
    expected = _expected_type(param)
    if expected is None:
        return value
    if expected is tuple and isinstance(value, list):
        return tuple(value)
    if expected is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
    if not ok:
        raise SpecError(f"{where}: {name} must be of type {expected.__name__}, got {value!r} "
                        f"({type(value).__name__})")
    return value


def _split_static(where: str, static: dict) -> tuple[dict, dict, dict, dict]:
    """(algorithm, oracle, env, policy) parts of an entry's static settings."""
    parts = {"oracle": {}, "env": {}, "policy": {}}
    algo = {}
    for key, value in static.items():
        prefix, _, rest = key.partition(".")
        if rest and prefix in parts:
            if prefix == "oracle" and rest not in ORACLE_STATIC:
                raise SpecError(f"{where}: static oracle setting {rest!r} is not one of "
                                f"{', '.join(ORACLE_STATIC)}{nearest(rest, ORACLE_STATIC)} "
                                "(teacher knobs go in [oracle] or the grid)")
            parts[prefix][rest] = value
        else:
            algo[key] = value
    return algo, parts["oracle"], parts["env"], parts["policy"]


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
        raise SpecError(f"{where}: unknown environment {name!r}{nearest(name, registered_envs())};"
                        " see `zoprl list environments`")
    return _wrap(where, make, name, **options)


def _static_combinations(entry: AlgorithmSpec) -> list[dict]:
    keys = list(entry.static_grid)
    return [dict(zip(keys, values))
            for values in itertools.product(*(entry.static_grid[k] for k in keys))]


def _grid_points(grid: dict) -> list[dict]:
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def _flat_fields(tree, prefix="hp.") -> dict:
    """Leaves of a (nested) hyperparameter NamedTuple by their field names."""
    out = {}
    for name, value in tree._asdict().items():
        if hasattr(value, "_asdict"):
            out.update(_flat_fields(value, prefix))
        else:
            out[prefix + name] = np.asarray(value)
    return out


def _is_column_value(value) -> bool:
    return isinstance(value, (bool, int, float, str))


def _column(values: list) -> np.ndarray:
    """A 1-D table column: numbers and strings as they are, anything else (lists, e.g. GridWorld
    goals) as its JSON text."""
    if all(_is_column_value(v) for v in values):
        return np.asarray(values)
    return np.asarray([json.dumps(v) for v in values], dtype=object)


def _stack_env_params(where: str, env_name, env, options, base, points, env_keys):
    """Env params of every grid point, stacked [G]; the grid may not change the env's shapes."""
    stacked = []
    for point in points:
        env_i, params_i = _make_env(where, env_name,
                                    {**options, **{k: point["env." + k] for k in env_keys}})
        same_env = {k: v for k, v in vars(env_i).items() if _is_column_value(v)} == \
            {k: v for k, v in vars(env).items() if _is_column_value(v)}
        shapes = jax.tree.map(np.shape, params_i) if same_env else None
        if not same_env or jax.tree.structure(params_i) != jax.tree.structure(base) or \
                shapes != jax.tree.map(np.shape, base):
            raise SpecError(f"{where}: grid keys {', '.join('env.' + k for k in env_keys)} change "
                            "the environment's static shape; put them in static_grid instead")
        stacked.append(params_i)
    return jax.tree.map(lambda *xs: jnp.stack(xs), *stacked)


def build_cells(spec: ExperimentSpec) -> list[Cell]:
    """Every cell of ``spec`` (module doc), validated; raises SpecError before any compilation."""
    cells = []
    for i, entry in enumerate(spec.algorithms):
        where = f"algorithms[{i}] ({entry.label})"
        if entry.name not in ALGORITHMS:
            raise SpecError(f"{where}: unknown algorithm {entry.name!r}"
                            f"{nearest(entry.name, ALGORITHMS)}; valid: {', '.join(ALGORITHMS)}")
        combos = _static_combinations(entry)
        for combo in combos:
            name = entry.label if not entry.static_grid else entry.label + "[" + ",".join(
                f"{k}={v}" for k, v in combo.items()) + "]"
            cells.append(_build_cell(spec, entry, len(cells), name, {**entry.static, **combo},
                                     f"{where}{'' if not entry.static_grid else ' ' + name}"))
    return cells


def _build_cell(spec: ExperimentSpec, entry: AlgorithmSpec, index: int, name: str,
                static: dict, where: str) -> Cell:
    registry = ALGORITHMS[entry.name]
    algo_static, oracle_static, env_static, policy_static = _split_static(where, static)
    # environment and policy
    env_name = spec.environment.name
    env_options = {**spec.environment.options, **env_static}
    env, env_params = _make_env(f"{where}: environment", env_name, env_options)
    policy_name = spec.policy.name
    if policy_name not in POLICIES:
        raise SpecError(f"{where}: unknown policy {policy_name!r}{nearest(policy_name, POLICIES)}; "
                        f"valid: {', '.join(POLICIES)}")
    # a policy for another kind of environment fails in many ways (no table size, no discrete
    # action count): every failure is reported as a mismatch
    policy = _wrap(f"{where}: policy {policy_name!r} does not fit environment {env_name!r}",
                   POLICIES[policy_name], env, env_params,
                   errors=(ValueError, TypeError, AttributeError, IndexError, KeyError),
                   **{**spec.policy.options, **policy_static})
    # oracle (static part)
    oracle_cfg = {"link": spec.oracle.link, "num_queries": spec.oracle.num_queries,
                  "preset": spec.oracle.preset, **oracle_static}
    if oracle_cfg["link"] not in LINK_NAMES:
        raise SpecError(f"{where}: unknown oracle link {oracle_cfg['link']!r}"
                        f"{nearest(oracle_cfg['link'], LINK_NAMES)}; valid: "
                        f"{', '.join(LINK_NAMES)}")
    if oracle_cfg["preset"] not in PRESET_NAMES:
        raise SpecError(f"{where}: unknown oracle preset {oracle_cfg['preset']!r}"
                        f"{nearest(oracle_cfg['preset'], PRESET_NAMES)}; valid: "
                        f"{', '.join(PRESET_NAMES)}")
    oracle = _wrap(f"{where}: oracle", make_oracle, oracle_cfg["link"], oracle_cfg["num_queries"])
    # algorithm (static part)
    valid_static = registry.static_names()
    for key, value in algo_static.items():
        if key not in valid_static:
            raise unknown_key(f"{where}: static", key, list(valid_static) + [
                f"{p}.{k}" for p, ks in (("oracle", ORACLE_STATIC),) for k in ks])
        algo_static[key] = _expect(f"{where}: static", key, value, valid_static[key])
    missing = [n for n, p in valid_static.items()
               if p.default is inspect.Parameter.empty and n not in algo_static]
    if missing:
        raise SpecError(f"{where}: missing static setting {missing[0]!r} (required by "
                        f"{entry.name})")
    algorithm = _wrap(where, registry.build, env, policy, oracle, **algo_static)
    # the grid: shared keys, then the entry's own
    grid = {**spec.grid, **entry.grid}
    names = hparam_names(registry, algorithm)
    hp_grid, oracle_grid, env_keys = {}, {}, []
    for key, values in grid.items():
        prefix, _, rest = key.partition(".")
        if prefix == "oracle" and rest:
            if rest not in OracleParams._fields:
                raise unknown_key(f"{where}: grid", key, [f"oracle.{f}" for f in
                                                          OracleParams._fields])
            oracle_grid[rest] = values
        elif prefix == "env" and rest:
            env_keys.append(rest)
        elif key in names:
            hp_grid[key] = values
        else:
            raise unknown_key(f"{where}: grid", key,
                              list(names) + ["oracle.<knob>", "env.<option>"])
    for key in entry.hparams:
        if key not in names:
            raise unknown_key(f"{where}: hparams", key, names)
    points = _grid_points(grid)
    size = len(points)
    column = lambda key: np.asarray([p[key] for p in points])
    hp_values = {**entry.hparams, **{k: column(k) for k in hp_grid}}
    hparams = _wrap(f"{where}: hparams", algorithm.hparams, **hp_values)
    hparams = jax.tree.map(lambda x: jnp.broadcast_to(x, (size,)), hparams)
    oracle_values = {**spec.oracle.overrides, **{k: column("oracle." + k) for k in oracle_grid}}
    teacher = _wrap(f"{where}: oracle", oracle_params, oracle_cfg["preset"], **oracle_values)
    teacher = jax.tree.map(lambda x: jnp.broadcast_to(x, (size,)), teacher)
    if env_keys:
        env_params = _stack_env_params(f"{where}: grid", env_name, env, env_options, env_params,
                                       points, env_keys)
    columns = {**_flat_fields(hparams), **_flat_fields(teacher, "oracle.")}
    columns["oracle.num_queries"] = np.full(size, oracle_cfg["num_queries"])
    for key, value in env_options.items():
        columns["env." + key] = _column([value] * size)
    for key in env_keys:
        columns["env." + key] = _column([p["env." + key] for p in points])
    for key, param in valid_static.items():   # every static setting, defaults included
        value = algo_static.get(key, param.default)
        if _is_column_value(value):
            columns["static." + key] = np.full(size, value)
    oracle_text = f"{oracle_cfg['link']}/{oracle_cfg['preset']}"
    return Cell(index, name, entry.label, entry.name, algorithm, not registry.reads_reward,
                env_name, oracle_text, size, hparams, teacher, env_params, bool(env_keys),
                columns)
