"""The game families as generators of the tensor oracle kind: valid tensors, knobs, relabelling."""

import jax
import numpy as np
import pytest

from zoprl.envs import make
from zoprl.games import condorcet_cycle, equilibrium
from zoprl.games.generators import GAME_GENERATORS
from zoprl.oracles import PREFERENCE_GENERATORS
from zoprl.oracles.kinds import tensor_kind

RANDOM = ["bradley_terry", "intransitive", "skew", "mixture", "linear"]


@pytest.fixture(scope="module")
def bandit():
    return make("ContextualBandit", num_contexts=3, num_actions=4)


@pytest.mark.parametrize("name", list(GAME_GENERATORS))
def test_every_game_family_is_a_valid_generator(bandit, name):
    env, env_params = bandit
    assert PREFERENCE_GENERATORS[name] is GAME_GENERATORS[name]
    P = np.asarray(tensor_kind(env, generator=name).params(env_params).preference)
    assert P.shape == (3, 4, 4)
    np.testing.assert_allclose(P + np.swapaxes(P, 1, 2), 1.0, atol=1e-6)
    assert np.all((P >= 0) & (P <= 1))


@pytest.mark.parametrize("name", RANDOM)
def test_the_seed_draws_a_new_game_and_float64_follows_x64(x64, bandit, name):
    env, env_params = bandit
    params = tensor_kind(env, generator=name).params
    first, again, other = (params(env_params, seed=s).preference for s in (0, 0, 1))
    assert first.dtype == np.float64
    np.testing.assert_array_equal(first, again)
    assert np.max(np.abs(first - other)) > 1e-3


def test_kappa_zero_is_bradley_terry_and_condorcet_is_the_trap(bandit):
    env, env_params = bandit
    bt = GAME_GENERATORS["bradley_terry"](env, env_params, seed=3).preference
    flat = GAME_GENERATORS["intransitive"](env, env_params, seed=3, kappa=0.0).preference
    np.testing.assert_allclose(flat, bt, atol=1e-7)
    env3, params3 = make("Bandit", num_actions=3)
    trap = GAME_GENERATORS["condorcet"](env3, params3).preference
    np.testing.assert_allclose(trap, condorcet_cycle(), atol=1e-7)
    with pytest.raises(ValueError, match="strong"):
        GAME_GENERATORS["condorcet"](env3, params3, strong=1.5)


def test_sort_eta_orders_the_equilibrium_by_action_index(bandit):
    env, env_params = bandit
    P = GAME_GENERATORS["skew"](env, env_params, seed=5, scale=2.0, sort_eta=3.0).preference
    uniform = np.full((3, 4), 0.25)
    star = np.asarray(equilibrium(P, uniform, 3.0))
    assert np.all(np.diff(star, axis=-1) >= -1e-6)
    unsorted = GAME_GENERATORS["skew"](env, env_params, seed=5, scale=2.0).preference
    np.testing.assert_allclose(
        np.sort(np.asarray(equilibrium(unsorted, uniform, 3.0)), axis=-1), star, atol=1e-5
    )


def test_a_generator_through_the_spec_sweeps_its_seed():
    from zoprl.experiment import build_cells, spec_from_dict

    raw = {
        "name": "games",
        "environment": {"name": "ContextualBandit", "num_contexts": 2, "num_actions": 3},
        "oracle": {"kind": "tensor", "generator": "intransitive", "kappa": 2.0},
        "grid": {"oracle.seed": [0, 1]},
        "algorithms": [{"name": "nash_online", "static": {"num_pairs": 4}}],
    }
    cell = build_cells(spec_from_dict(raw))[0]
    P = np.asarray(cell.oracle_params.model.preference)
    assert P.shape == (2, 2, 3, 3) and np.max(np.abs(P[0] - P[1])) > 1e-3
    assert list(cell.columns["oracle.kappa"]) == [2.0, 2.0]
    jax.block_until_ready(P)
