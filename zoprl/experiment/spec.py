"""Experiment specs: frozen dataclasses loaded from TOML / YAML files or built from flags.

A spec names the environment, the policy, the simulated human (oracle), one or more algorithm
entries with their static settings and hyperparameters, the grid to sweep, the seeds, the number
of iterations and the evaluation cadence. In a file (TOML shown; YAML has the same structure):

    name = "demo"            # results go to results/<name> unless --out says otherwise
    seeds = 4                # replicates; seed s runs with split(key(seed), seeds)[s]
    iterations = 300         # T
    eval_every = 10          # metrics recorded at iterations 0, 10, 20, ..., T
    chunk_size = 100         # iterations per compiled call (default: about T / 10; the last
                             # chunk may be shorter)

    [environment]            # name + keyword arguments of zoprl.envs.make
    name = "GridWorld"
    slip = 0.1

    [policy]                 # "default" or a policy factory name + its keyword arguments
    name = "default"

    [oracle]                 # the simulated human (zoprl.oracles.kinds): kind, M votes, preset,
    kind = "utility"         # the kind's static options (link) and knobs (beta, mistake, ...)
    link = "logistic"
    num_queries = 10
    preset = "noisy"

    [evaluation]             # what is recorded (zoprl.evaluators): a name and its options
    name = "default"         # exact on finite environments, else Monte Carlo
    eval_episodes = 256

    [grid]                   # swept for every algorithm: "oracle.<field>", "env.<option>", or a
    "env.slip" = [0.0, 0.2]  # hyperparameter every algorithm has

    [[algorithms]]
    name = "zpg"             # a name of zoprl.experiment.registry.ALGORITHMS
    label = "ZPG"            # display name (default: the name)
    static = { num_pairs = 64 }            # factory arguments (shape-changing, compiled in)
    static_grid = { num_pairs = [16, 64] } # one compiled cell per combination
    hparams = { step_size = 0.1 }          # fixed hyperparameters
    grid = { mu = [1.0, 2.0] }             # swept hyperparameters (vmapped, one program)

Static keys may also target the oracle (``oracle.kind``, ``oracle.num_queries``,
``oracle.preset`` or a static option of the kind such as ``oracle.link``), the environment
(``env.<option>``) or the policy (``policy.<option>``) of that entry. The grid is the Cartesian
product of every listed value; each grid point runs every seed.

Files and ``--set path=value`` overrides are read by ``zoprl.experiment.spec_files``. Every
problem is reported by ``SpecError`` (a ValueError) in one line that names where it is:
unknown keys (with the nearest valid name), wrong types and out-of-range counts here; unknown
algorithm, environment, oracle or hyperparameter names and bad values when the spec is built
(``zoprl.experiment.build``), still before anything is compiled.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from zoprl.experiment.tuning_spec import TuningSpec, check_search, tuning_from_dict


class SpecError(ValueError):
    """A malformed or invalid experiment spec (one line, naming where the problem is)."""


def nearest(name: str, valid) -> str:
    """' (did you mean 'x'?)' for the closest valid name, or ''."""
    match = difflib.get_close_matches(str(name), [str(v) for v in valid], n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


def unknown_key(where: str, key: str, valid) -> SpecError:
    return SpecError(
        f"{where}: unknown key {key!r}{nearest(key, valid)}; valid keys: {', '.join(sorted(valid))}"
    )


def _type_name(value) -> str:
    return type(value).__name__


def check_count(where: str, value, minimum: int = 1) -> int:
    """An integer (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(
            f"{where} must be an integer >= {minimum}, got {value!r} ({_type_name(value)})"
        )
    if value < minimum:
        raise SpecError(f"{where} must be an integer >= {minimum}, got {value}")
    return value


def _check_str(where: str, value) -> str:
    if not isinstance(value, str) or not value:
        raise SpecError(f"{where} must be a non-empty string, got {value!r} ({_type_name(value)})")
    return value


def _check_table(where: str, value) -> dict:
    if not isinstance(value, Mapping):
        raise SpecError(
            f"{where} must be a table of key = value, got {value!r} ({_type_name(value)})"
        )
    bad = next((k for k in value if not isinstance(k, str)), None)
    if bad is not None:
        raise SpecError(f"{where}: keys must be strings, got {bad!r} ({_type_name(bad)})")
    return dict(value)


def _check_number(where: str, value) -> float | int:
    """A hyperparameter or teacher knob: a number (not a bool, not a list: sweep with grid)."""
    if isinstance(value, (list, tuple)):
        raise SpecError(
            f"{where} must be a single number, got the list {value!r}; put values "
            "to sweep in a grid"
        )
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"{where} must be a number, got {value!r} ({_type_name(value)})")
    return value


INT32_LIMIT = 2**31
"""Integer settings (sizes, counts, options) stay below this: JAX computes with 32-bit ints."""


def _check_scalar(where: str, value):
    """A spec value: number, bool, string, or a (nested) list of those (e.g. GridWorld goals).
    Integers must lie below 2^31 in magnitude (``INT32_LIMIT``): a size or count that large
    would overflow JAX's 32-bit integers (or ask for far more memory than exists)."""
    if isinstance(value, (list, tuple)):
        return [_check_scalar(f"{where}[{i}]", v) for i, v in enumerate(value)]
    if value is None or isinstance(value, (bool, int, float, str)):
        if isinstance(value, float) and math.isnan(value):
            raise SpecError(f"{where} must not be NaN")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= INT32_LIMIT:
            raise SpecError(
                f"{where} must be below 2^31 = {INT32_LIMIT} (JAX's 32-bit integers), got {value}"
            )
        return value
    raise SpecError(f"{where}: unsupported value {value!r} ({_type_name(value)})")


def _check_grid(where: str, value) -> dict:
    """Grid axes: each key maps to a non-empty list of values."""
    table = _check_table(where, value)
    for key, values in table.items():
        if not isinstance(values, (list, tuple)) or not values:
            raise SpecError(f"{where}.{key} must be a non-empty list of values, got {values!r}")
        table[key] = [_check_scalar(f"{where}.{key}[{i}]", v) for i, v in enumerate(values)]
    return table


@dataclass(frozen=True)
class EnvironmentSpec:
    """``name`` of the environment registry and the keyword arguments of ``make``."""

    name: str = "GridWorld"
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PolicySpec:
    """``default`` (tabular softmax on finite environments, else an MLP) or a factory name."""

    name: str = "default"
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OracleSpec:
    """The simulated human: its kind (``zoprl.oracles.kinds``), the number of votes M per pair,
    the teacher preset (``zoprl.oracles.presets``; None: the kind's default) and ``options``:
    the kind's static options (e.g. ``link``) and knobs (beta, gamma, mistake, skip, ...), told
    apart by the kind's signatures when the spec is built."""

    kind: str = "utility"
    num_queries: int = 10
    preset: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EvaluationSpec:
    """The evaluator (``zoprl.evaluators``) by name, and its options (e.g. eval_episodes)."""

    name: str = "default"
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AlgorithmSpec:
    """One algorithm entry: its registry name, display label, static settings (``static``, and
    ``static_grid``: one compiled cell per combination) and hyperparameters (``hparams`` fixed,
    ``grid`` swept inside the cell's program; ``grid_points``: explicit points, each a table of
    grid keys, combined with every point of ``grid``), and a ``search`` space for ``zoprl tune``
    (``zoprl.experiment.tuning_spec``)."""

    name: str
    label: str
    static: Mapping[str, Any] = field(default_factory=dict)
    static_grid: Mapping[str, list] = field(default_factory=dict)
    hparams: Mapping[str, Any] = field(default_factory=dict)
    grid: Mapping[str, list] = field(default_factory=dict)
    grid_points: tuple = ()
    search: Mapping[str, Mapping] = field(default_factory=dict)


@dataclass(frozen=True)
class ExperimentSpec:
    """A whole experiment (module doc). ``chunk_size`` None: chosen by ``resolved_chunk_size``."""

    name: str
    algorithms: tuple
    environment: EnvironmentSpec = EnvironmentSpec()
    policy: PolicySpec = PolicySpec()
    oracle: OracleSpec = OracleSpec()
    evaluation: EvaluationSpec = EvaluationSpec()
    grid: Mapping[str, list] = field(default_factory=dict)
    seeds: int = 4
    seed: int = 0
    first_seed: int = 0
    iterations: int = 100
    eval_every: int = 1
    chunk_size: int | None = None
    max_runs_per_batch: int | None = None
    tuning: TuningSpec | None = None

    @property
    def num_records(self) -> int:
        """Recorded iterations after 0: T / eval_every."""
        return self.iterations // self.eval_every

    def resolved_chunk_size(self) -> int:
        """Iterations per chunk: ``chunk_size``, else about T / 10 (a multiple of eval_every):
        the largest divisor of the record count T / eval_every that is at most
        ceil(records / 10) when it is at least half of that, so that every chunk has the same
        length, else ceil(records / 10) with a shorter last chunk (a prime record count never
        falls to one record per chunk)."""
        if self.chunk_size is not None:
            return self.chunk_size
        records = self.num_records
        target = -(-records // min(10, records))
        divisor = max(d for d in divisors(records) if d <= target)
        return (divisor if 2 * divisor >= target else target) * self.eval_every

    @property
    def chunks_per_batch(self) -> int:
        """Chunk files each batch of runs writes: iteration 0, then one per chunk."""
        records_per_chunk = self.resolved_chunk_size() // self.eval_every
        return 1 + -(-self.num_records // records_per_chunk)

    def to_dict(self) -> dict:
        """A JSON-ready dict that ``spec_from_dict`` reads back to an equal spec."""
        out = dataclasses.asdict(self)
        out["environment"] = {"name": self.environment.name, **self.environment.options}
        out["policy"] = {"name": self.policy.name, **self.policy.options}
        oracle = self.oracle
        out["oracle"] = {
            "kind": oracle.kind,
            "num_queries": oracle.num_queries,
            "preset": oracle.preset,
            **oracle.options,
        }
        out["evaluation"] = {"name": self.evaluation.name, **self.evaluation.options}
        out["algorithms"] = [dataclasses.asdict(a) for a in self.algorithms]
        return json.loads(json.dumps(out))

    def fingerprint(self) -> str:
        """A stable text of everything that determines the results (for resuming)."""
        return json.dumps(self.to_dict(), sort_keys=True)


def divisors(n: int) -> list[int]:
    """Every divisor of ``n`` >= 1 (trial division up to sqrt(n): fast for n < 2^31)."""
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


MAX_CHUNKS = 10_000
"""Chunk files one batch may write (``chunks_per_batch``); more is a chunk_size far too small."""

_TOP_KEYS = {f.name for f in dataclasses.fields(ExperimentSpec)}
_ALGO_KEYS = {f.name for f in dataclasses.fields(AlgorithmSpec)}
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}$")  # one safe folder name


_MOVED = {"eval_episodes": "[evaluation] eval_episodes"}


def _known_keys(where: str, raw, valid) -> dict:
    """``raw`` as a dict whose keys are all in ``valid`` (else the nearest valid name)."""
    raw = _check_table(where, raw)
    for key in raw:
        if key in _MOVED and key not in valid:
            raise SpecError(f"{where}: {key!r} has moved: write it as {_MOVED[key]}")
        if key not in valid:
            raise unknown_key(where, key, valid)
    return raw


def _algorithm_from_dict(where: str, raw) -> AlgorithmSpec:
    raw = _known_keys(where, raw, _ALGO_KEYS)
    if "name" not in raw:
        raise SpecError(f"{where}: missing key 'name' (the algorithm)")
    name = _check_str(f"{where}.name", raw["name"])
    label = _check_str(f"{where}.label", raw.get("label", name))
    static = {
        k: _check_scalar(f"{where}.static.{k}", v)
        for k, v in _check_table(f"{where}.static", raw.get("static", {})).items()
    }
    hparams = {
        k: _check_number(f"{where}.hparams.{k}", v)
        for k, v in _check_table(f"{where}.hparams", raw.get("hparams", {})).items()
    }
    grid = _check_grid(f"{where}.grid", raw.get("grid", {}))
    return AlgorithmSpec(
        name,
        label,
        static,
        _check_grid(f"{where}.static_grid", raw.get("static_grid", {})),
        hparams,
        grid,
        _check_points(f"{where}.grid_points", raw.get("grid_points", []), grid),
        check_search(f"{where}.search", raw.get("search", {})),
    )


def _check_points(where: str, raw, grid: Mapping) -> tuple:
    """Explicit grid points: a list of tables with the same keys, none of them a ``grid`` key."""
    if not isinstance(raw, (list, tuple)):
        raise SpecError(f"{where} must be a list of tables, got {raw!r}")
    points = tuple(_check_table(f"{where}[{i}]", p) for i, p in enumerate(raw))
    for i, point in enumerate(points):
        if set(point) != set(points[0]):
            raise SpecError(
                f"{where}[{i}] has keys {sorted(point)}, the first point "
                f"{sorted(points[0])}: every point needs the same keys"
            )
        for key, value in point.items():
            _check_scalar(f"{where}[{i}].{key}", value)
            if key in grid:
                raise SpecError(f"{where}[{i}]: {key!r} is also a grid key; give it in one place")
    return points


def _named_section(where: str, raw, cls, fixed: tuple):
    """A section whose ``fixed`` keys are fields and whose other keys are options."""
    raw = _check_table(where, raw)
    values = {k: raw.pop(k) for k in fixed if k in raw}
    for key in ("name", "kind", "preset"):
        if values.get(key) is not None:
            values[key] = _check_str(f"{where}.{key}", values[key])
    if "num_queries" in values:
        values["num_queries"] = check_count(f"{where}.num_queries", values["num_queries"])
    options = {k: _check_scalar(f"{where}.{k}", v) for k, v in raw.items()}
    return cls(**values, options=options)


def _with_default_sections(raw: dict, names: list) -> dict:
    """``raw`` with the environment, oracle and evaluation the algorithms are for
    (``registry.default_sections``: e.g. a contextual bandit with a preference tensor for the
    Nash learners) where the spec names none."""
    from zoprl.experiment.registry import default_sections

    defaults = default_sections(names)
    return {**{k: v for k, v in defaults.items() if k not in raw}, **raw}


def spec_from_dict(raw: Mapping, where: str = "spec") -> ExperimentSpec:
    """Validate the structure and types of a spec dict (module doc) and build the dataclasses."""
    raw = _known_keys(where, raw, _TOP_KEYS)
    if "algorithms" not in raw:
        raise SpecError(f"{where}: missing key 'algorithms' (a list of algorithm entries)")
    entries = raw["algorithms"]
    if isinstance(entries, Mapping):
        entries = [entries]
    if not isinstance(entries, (list, tuple)) or not entries:
        raise SpecError(f"{where}.algorithms must be a non-empty list of tables, got {entries!r}")
    algorithms = tuple(
        _algorithm_from_dict(f"{where}.algorithms[{i}]", a) for i, a in enumerate(entries)
    )
    labels = [a.label for a in algorithms]
    duplicate = next((x for x in labels if labels.count(x) > 1), None)
    if duplicate is not None:
        raise SpecError(
            f"{where}.algorithms: the label {duplicate!r} is used twice; give each "
            "entry its own label"
        )
    name = _check_str(f"{where}.name", raw.get("name", "experiment"))
    if not _NAME.match(name):
        raise SpecError(
            f"{where}.name must be one folder name of at most 100 letters, digits, '_', '-' "
            f"and '.', starting with a letter, digit or '_', got {name!r}"
        )
    counts = {
        key: check_count(f"{where}.{key}", raw[key], 0 if key in ("seed", "first_seed") else 1)
        for key in ("seeds", "seed", "first_seed", "iterations", "eval_every")
        if key in raw
    }
    if counts.get("seed", 0) >= 2**32:
        raise SpecError(f"{where}.seed must be below 2^32, got {counts['seed']}")
    for key in ("seeds", "iterations", "eval_every"):
        if counts.get(key, 0) >= INT32_LIMIT:
            raise SpecError(
                f"{where}.{key} must be below 2^31 = {INT32_LIMIT} (the iteration counter and "
                f"run indices are 32-bit), got {counts[key]}"
            )
    for key in ("chunk_size", "max_runs_per_batch"):
        if raw.get(key) is not None:
            counts[key] = check_count(f"{where}.{key}", raw[key])
    raw = _with_default_sections(raw, [a.name for a in algorithms])
    spec = ExperimentSpec(
        name=name,
        algorithms=algorithms,
        environment=_named_section(
            f"{where}.environment", raw.get("environment", {}), EnvironmentSpec, ("name",)
        ),
        policy=_named_section(f"{where}.policy", raw.get("policy", {}), PolicySpec, ("name",)),
        oracle=_named_section(
            f"{where}.oracle", raw.get("oracle", {}), OracleSpec, ("kind", "num_queries", "preset")
        ),
        evaluation=_named_section(
            f"{where}.evaluation", raw.get("evaluation", {}), EvaluationSpec, ("name",)
        ),
        grid=_check_grid(f"{where}.grid", raw.get("grid", {})),
        tuning=None
        if raw.get("tuning") is None
        else tuning_from_dict(f"{where}.tuning", raw["tuning"]),
        **counts,
    )
    if spec.iterations % spec.eval_every:
        raise SpecError(
            f"{where}: eval_every ({spec.eval_every}) must divide iterations ({spec.iterations})"
        )
    chunk = spec.resolved_chunk_size()
    if chunk % spec.eval_every:
        raise SpecError(
            f"{where}: chunk_size ({chunk}) must be a multiple of eval_every ({spec.eval_every})"
        )
    if spec.chunks_per_batch > MAX_CHUNKS:
        smallest = -(-spec.num_records // (MAX_CHUNKS - 1)) * spec.eval_every
        raise SpecError(
            f"{where}: chunk_size {chunk} cuts {spec.iterations} iterations into "
            f"{spec.chunks_per_batch} chunk files per batch, more than {MAX_CHUNKS}; "
            f"choose chunk_size >= {smallest} (a multiple of eval_every) or leave it unset"
        )
    return spec
