"""The seams a new paper family plugs into: a user-defined evaluator and oracle kind named in a
spec, and general preference tensors run by the engine against DPO and ZPG."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoprl.evaluators import EVALUATORS, Evaluator, register_evaluator
from zoprl.experiment import build_cells, run_sweep, spec_from_dict
from zoprl.oracles import (
    ORACLE_KINDS,
    KindModel,
    OracleKind,
    PreferenceModel,
    make_tensor_oracle,
    register_oracle_kind,
    tensor_oracle_params,
)
from zoprl.trajectory import Trajectory

BANDIT = {"name": "ContextualBandit", "num_contexts": 3, "num_actions": 4}


class FavouriteParams(NamedTuple):
    strength: jax.Array


def favourite_action_kind(env, *, favourite: int = 0) -> KindModel:
    """A teacher who likes one action: P(b preferred) = sigmoid(s (1[b = f] - 1[a = f]))."""

    def prob(traj_a, traj_b, params):
        likes = lambda t: (t.action[..., 0] == favourite).astype(jnp.float32)
        p = jax.nn.sigmoid(params.strength * (likes(traj_b) - likes(traj_a)))
        return p, jnp.abs(p - 0.5)

    def params(env_params, *, strength: float = 2.0):
        return FavouriteParams(jnp.float32(strength))

    model = PreferenceModel("favourite", prob, lambda p, e, link, shape: p.strength, None)
    return KindModel(model, params, f"favourite:{favourite}")


def probability_of_action_zero(env, policy, oracle):
    """An evaluator with one metric: pi(0 | context 0)."""

    def metrics(key, state, hparams, env_params, oracle_params, aux):
        return {"p_action_0": jax.nn.softmax(policy.logits(state.params, 0, 0))[0]}

    return Evaluator("p_action_0", lambda *args: None, metrics)


@pytest.fixture
def user_extensions():
    register_oracle_kind(
        "favourite", OracleKind(favourite_action_kind, "oracle", "likes one action")
    )
    register_evaluator("p_action_0", probability_of_action_zero)
    yield
    del ORACLE_KINDS["favourite"], EVALUATORS["p_action_0"]


def test_a_user_defined_evaluator_and_oracle_kind_run_through_the_engine(user_extensions, tmp_path):
    raw = {
        "name": "user",
        "seeds": 2,
        "iterations": 6,
        "eval_every": 3,
        "environment": BANDIT,
        "oracle": {"kind": "favourite", "favourite": 0, "num_queries": 5},
        "evaluation": {"name": "p_action_0"},
        "grid": {"oracle.strength": [1.0, 4.0]},
        "algorithms": [
            {
                "name": "dpo_online",
                "static": {"num_pairs": 16},
                "hparams": {"step_size": 0.5, "beta": 0.5},
            }
        ],
    }
    table = run_sweep(spec_from_dict(raw), str(tmp_path), progress=False).table
    p = table[table.metric == "p_action_0"]
    assert set(p.iteration) == {0, 3, 6} and len(p) == 2 * 2 * 3
    assert set(table["oracle.strength"]) == {1.0, 4.0} and set(table.oracle) == {
        "favourite:0/oracle"
    }
    first, last = (p[p.iteration == t].value.to_numpy() for t in (0, 6))
    np.testing.assert_allclose(first, 0.25, rtol=1e-6)  # uniform over 4 actions
    assert (last > first).all()  # DPO learns the favourite


def test_general_preference_tensors_run_dpo_and_zpg_through_the_spec(tmp_path):
    """A preference tensor drawn per grid point (oracle.seed), stacked [G, X, A, A]."""
    raw = {
        "name": "tensor",
        "seeds": 2,
        "iterations": 4,
        "eval_every": 2,
        "environment": BANDIT,
        "oracle": {"kind": "tensor", "generator": "low_rank", "num_queries": 3},
        "grid": {"oracle.seed": [0, 1]},
        "algorithms": [
            {"name": "dpo_online", "static": {"num_pairs": 8}},
            {
                "name": "zpg",
                "static": {"num_pairs": 8, "shared_start": True},
                "hparams": {"mu": 1.0},
            },
        ],
    }
    spec = spec_from_dict(raw)
    cells = build_cells(spec)
    preference = cells[0].oracle_params.model.preference
    assert preference.shape == (2, 3, 4, 4)
    assert not np.allclose(preference[0], preference[1])
    np.testing.assert_allclose(preference + jnp.swapaxes(preference, -1, -2), 1.0, atol=1e-6)
    table = run_sweep(spec, str(tmp_path), progress=False).table
    assert set(table.oracle) == {"tensor:low_rank/oracle"}
    assert set(table.label) == {"dpo_online", "zpg"}
    final = table[(table.iteration == 4) & (table.metric == "value")]
    assert len(final) == 2 * 2 * 2 and np.isfinite(final.value).all()
    queries = table[table.iteration == 4].groupby("label").queries.max()
    assert queries["dpo_online"] == 4 * 8 * 3 and queries["zpg"] == 4 * 8 * 3


def test_the_tensor_oracle_answers_with_the_tensor_entry():
    """P(second preferred) = P[x, b, a] for a pair sharing the context x."""
    preference = np.full((2, 3, 3), 0.5, np.float32)
    preference[1, 2, 0], preference[1, 0, 2] = 0.9, 0.1
    oracle = make_tensor_oracle(num_queries=1)
    params = tensor_oracle_params(preference)
    pair = lambda action: Trajectory(
        jnp.array([[1], [1]]),
        jnp.array([[action], [action]]),
        jnp.zeros((2, 1)),
        jnp.ones((2, 1)),
        jnp.zeros((2, 1)),
    )
    np.testing.assert_allclose(oracle.prob(pair(0), pair(2), params), [0.9, 0.9])
    np.testing.assert_allclose(oracle.prob(pair(2), pair(0), params), [0.1, 0.1])
    votes = oracle.query(jax.random.key(0), pair(0), pair(2), params).votes
    assert votes.shape == (2,)


@pytest.mark.parametrize(
    "oracle, message",
    [
        ({"kind": "tensr"}, "unknown oracle kind 'tensr' (did you mean 'tensor'?)"),
        ({"kind": "tensor", "generator": "cyclc"}, "did you mean 'cyclic'?"),
        ({"kind": "tensor", "beta": 2.0}, "unknown key 'beta'"),
        (
            {"kind": "tensor", "preset": "noisy"},
            "preset 'noisy' sets beta, which the tensor oracle",
        ),
        ({"kind": "tensor", "generator": "cyclic", "strength": 0.7}, "strength must lie in"),
    ],
)
def test_bad_oracle_kinds_and_knobs_are_one_line_errors(oracle, message):
    from zoprl.experiment import SpecError

    raw = {
        "name": "bad",
        "environment": BANDIT,
        "oracle": oracle,
        "algorithms": [{"name": "dpo_online", "static": {"num_pairs": 4}}],
    }
    with pytest.raises(SpecError) as err:
        build_cells(spec_from_dict(raw))
    assert message in str(err.value) and "\n" not in str(err.value)
