"""Experiment specs: files, overrides and one-line errors for malformed or invalid specs."""

import subprocess
import sys

import numpy as np
import pytest
from sweep_testing import tiny_raw

from zoprl.cli import main
from zoprl.experiment import SpecError, apply_override, build_cells, load_spec, spec_from_dict

TOML = """
name = "t"
seeds = 3
iterations = 20
eval_every = 5
[environment]
name = "GridWorld"
slip = 0.2
[oracle]
link = "probit"
num_queries = 5
beta = 2.0
[grid]
"oracle.mistake" = [0.0, 0.1]
[[algorithms]]
name = "zpg"
static = { num_pairs = 8 }
grid = { mu = [1.0, 2.0] }
static_grid = { assumed_link = ["logistic", "probit"] }
"""

YAML = """
name: t
seeds: 3
iterations: 20
eval_every: 5
environment: {name: GridWorld, slip: 0.2}
oracle: {link: probit, num_queries: 5, beta: 2.0}
grid: {oracle.mistake: [0.0, 0.1]}
algorithms:
  - name: zpg
    static: {num_pairs: 8}
    grid: {mu: [1.0, 2.0]}
    static_grid: {assumed_link: [logistic, probit]}
"""


def test_toml_and_yaml_give_the_same_spec(tmp_path):
    (tmp_path / "s.toml").write_text(TOML)
    (tmp_path / "s.yaml").write_text(YAML)
    a, b = load_spec(str(tmp_path / "s.toml")), load_spec(str(tmp_path / "s.yaml"))
    assert a.fingerprint() == b.fingerprint()
    assert a.environment.options == {"slip": 0.2} and a.oracle.options == {
        "link": "probit",
        "beta": 2.0,
    }
    assert a.resolved_chunk_size() == 5  # 4 records -> 4 chunks of one record
    assert spec_from_dict(a.to_dict()) == a


def test_cells_are_the_static_grid_and_runs_the_product_grid(tmp_path):
    (tmp_path / "s.toml").write_text(TOML)
    cells = build_cells(load_spec(str(tmp_path / "s.toml")))
    assert [c.name for c in cells] == ["zpg[assumed_link=logistic]", "zpg[assumed_link=probit]"]
    cell = cells[0]
    assert cell.grid_size == 4
    assert list(cell.columns["oracle.mistake"]) == pytest.approx([0.0, 0.0, 0.1, 0.1])
    assert list(cell.columns["hp.mu"]) == [1.0, 2.0, 1.0, 2.0]
    beta = cell.oracle_params.model.beta
    assert beta.shape == (4,) and float(beta[0]) == 2.0
    assert set(cell.columns["static.assumed_link"]) == {"logistic"}


def test_overrides_reach_every_level(tmp_path):
    (tmp_path / "s.toml").write_text(TOML)
    spec = load_spec(
        str(tmp_path / "s.toml"),
        [
            "seeds=5",
            "environment.slip=0.3",
            "oracle.preset=oracle",
            "grid.oracle.beta=[1, 4]",
            "algorithms.zpg.static.num_pairs=16",
            "algorithms.0.hparams.step_size=0.2",
        ],
    )
    assert spec.seeds == 5 and spec.environment.options["slip"] == 0.3
    assert spec.oracle.preset == "oracle" and spec.grid["oracle.beta"] == [1, 4]
    assert spec.algorithms[0].static["num_pairs"] == 16
    assert spec.algorithms[0].hparams["step_size"] == 0.2


@pytest.mark.parametrize(
    "change, message",
    [
        ({"iteratons": 4}, "unknown key 'iteratons' (did you mean 'iterations'?)"),
        ({"seeds": -1}, "seeds must be an integer >= 1, got -1"),
        ({"seeds": 2.5}, "seeds must be an integer >= 1, got 2.5 (float)"),
        ({"iterations": "10"}, "iterations must be an integer >= 1, got '10' (str)"),
        ({"eval_every": 3}, "eval_every (3) must divide iterations (4)"),
        ({"grid": {"env.slip": []}}, "must be a non-empty list"),
        ({"algorithms": []}, "algorithms must be a non-empty list"),
    ],
)
def test_malformed_specs_are_reported_in_one_line(change, message):
    with pytest.raises(SpecError) as err:
        spec_from_dict(tiny_raw(**change))
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "algorithm, message",
    [
        (
            {"name": "zpgg", "static": {"num_pairs": 4}},
            "unknown algorithm 'zpgg' (did you mean 'zpg'?)",
        ),
        ({"name": "zpg", "static": {"block_size": 4}}, "unknown key 'block_size'"),
        ({"name": "zpg", "static": {"num_pairs": 4.0}}, "num_pairs must be of type int"),
        ({"name": "zpg", "static": {"num_pairs": 0}}, "num_pairs (N) must be >= 1, got 0"),
        (
            {"name": "zpg", "static": {"num_pair": 4}},
            "unknown key 'num_pair' (did you mean 'num_pairs'?)",
        ),
        (
            {"name": "zpg", "static": {"num_pairs": 4}, "grid": {"stepsize": [1.0]}},
            "unknown key 'stepsize' (did you mean 'step_size'?)",
        ),
        ({"name": "zpg", "static": {"num_pairs": 4}, "hparams": {"mu": -1.0}}, "mu must be > 0"),
        ({"name": "zpg", "static": {"num_pairs": 4, "optimizer": "adamw"}}, "unknown optimizer"),
        ({"name": "zpg", "static": {"num_pairs": 4, "assumed_link": "logit"}}, "unknown link"),
        (
            {"name": "zpg", "static": {"num_pairs": 4}, "grid": {"env.size": [3, 4]}},
            "change the environment's static shape",
        ),
    ],
)
def test_invalid_entries_are_reported_before_compiling(algorithm, message):
    spec = spec_from_dict(tiny_raw(algorithms=[algorithm]))
    with pytest.raises(SpecError) as err:
        build_cells(spec)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "section, message",
    [
        ({"environment": {"name": "GridWorl"}}, "unknown environment 'GridWorl'"),
        (
            {"environment": {"name": "GridWorld", "slip": 1.5}},
            "slip must lie in [0.0, 1.0], got 1.5",
        ),
        ({"oracle": {"link": "logit"}}, "unknown oracle link 'logit' (did you mean 'logistic'?)"),
        (
            {"oracle": {"preset": "noisey"}},
            "unknown oracle preset 'noisey' (did you mean 'noisy'?)",
        ),
        ({"oracle": {"mistake": -0.1}}, "mistake must lie in [0.0, 1.0], got -0.1"),
        ({"policy": {"name": "mlp"}}, "unknown policy 'mlp'"),
    ],
)
def test_unknown_names_and_bad_values_name_the_entry(section, message):
    with pytest.raises(SpecError) as err:
        build_cells(spec_from_dict(tiny_raw(**section)))
    assert message in str(err.value)


def test_override_errors():
    with pytest.raises(SpecError, match="form path=value"):
        apply_override({}, "seeds")
    with pytest.raises(SpecError, match="no algorithm entry 'zpgg'"):
        apply_override(tiny_raw(), "algorithms.zpgg.static.num_pairs=2")


@pytest.mark.parametrize(
    "text, message",
    [
        ('name = "x"\niteratons = 3\n[[algorithms]]\nname = "zpg"\n', "did you mean 'iterations'"),
        ('name = "x"\nseeds = "many"\n[[algorithms]]\nname = "zpg"\n', "seeds must be an integer"),
        ('name = "x"\nseeds = -4\n[[algorithms]]\nname = "zpg"\n', "got -4"),
        ('name = "x"\n[[algorithms]]\nname = "zpx"\n', "unknown algorithm 'zpx'"),
        ('name = "x"\n[[algorithms]\n', "malformed TOML"),
    ],
)
def test_cli_exits_2_with_one_line_and_no_traceback(tmp_path, capsys, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_cli_subprocess_exit_code_for_a_bad_spec(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nseeds: 0\nalgorithms: [{name: zpg}]\n")
    result = subprocess.run(
        [sys.executable, "-m", "zoprl.cli", "sweep", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert (
        "Traceback" not in result.stderr and "seeds must be an integer >= 1, got 0" in result.stderr
    )


@pytest.mark.parametrize(
    "algorithm, message",
    [
        (
            {"name": "zpg", "static": {"num_pairs": 4}, "hparams": {"mu": [1.0, 2.0]}},
            "mu must be a single number, got the list [1.0, 2.0]; put values to sweep in a grid",
        ),
        (
            {"name": "zpg", "static": {"num_pairs": 4}, "hparams": {"mu": True}},
            "mu must be a number, got True",
        ),
    ],
)
def test_fixed_hyperparameters_are_single_numbers(algorithm, message):
    with pytest.raises(SpecError) as err:
        spec_from_dict(tiny_raw(algorithms=[algorithm]))
    assert message in str(err.value)


def test_yaml_exponent_floats_are_numbers(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: t\nalgorithms: [{name: zpg, static: {num_pairs: 4}, "
        "hparams: {step_size: 1e-2}, grid: {mu: [5e-1, 1]}}]\n"
    )
    entry = load_spec(str(path)).algorithms[0]
    assert entry.hparams["step_size"] == 0.01 and entry.grid["mu"] == [0.5, 1]
    assert isinstance(entry.static["num_pairs"], int)


@pytest.mark.parametrize("text", ["- 1\n- 2\n", "7\n"])
def test_a_yaml_spec_must_be_a_table(tmp_path, text, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    assert main(["run", "--spec", str(path), "--out", str(tmp_path)]) == 2
    assert "the spec must be a table" in capsys.readouterr().err


@pytest.mark.parametrize(
    "environment, policy",
    [
        ("CartPole-v1", "tabular_softmax"),
        ("GridWorld", "mlp_gaussian"),
        ("Pendulum-v1", "linear_softmax"),
    ],
)
def test_a_policy_that_does_not_fit_the_environment_is_one_error(environment, policy):
    raw = tiny_raw(environment={"name": environment}, policy={"name": policy}, grid={})
    with pytest.raises(SpecError, match=f"policy '{policy}' does not fit environment"):
        build_cells(spec_from_dict(raw))


def test_list_valued_environment_options_become_json_columns():
    raw = tiny_raw(grid={"env.start": [[0, 0], [1, 1]]})
    cell = build_cells(spec_from_dict(raw))[0]
    assert list(cell.columns["env.start"]) == ["[0, 0]", "[0, 0]", "[1, 1]", "[1, 1]"]
    assert all(np.ndim(v) == 1 for v in cell.columns.values())
    assert cell.columns["static.num_directions"][0] == 1  # defaults are recorded


def test_a_missing_required_setting_shows_the_exact_set_to_add(monkeypatch):
    from zoprl.algorithms import zpg
    from zoprl.experiment import ALGORITHMS, AlgorithmEntry

    def needs_pairs(env, policy, oracle, *, num_pairs: int):
        return zpg(env, policy, oracle, num_pairs=num_pairs)

    monkeypatch.setitem(ALGORITHMS, "needs_pairs", AlgorithmEntry(needs_pairs, {}, True, False, ""))
    spec = spec_from_dict(tiny_raw(algorithms=[{"name": "needs_pairs", "label": "mine"}]))
    with pytest.raises(SpecError) as err:
        build_cells(spec)
    assert "missing static setting 'num_pairs'" in str(err.value)
    assert "--set algorithms.mine.static.num_pairs=VALUE" in str(err.value)
    assert "zoprl run: --set static.num_pairs=VALUE" in str(err.value)
