"""Every registered environment rolls out under jit with its default policy. zoprl's own and the
classic-control environments run by default; the rest of gymnax's are marked slow."""

import jax
import numpy as np
import pytest

from zoprl.envs import make, registered_envs
from zoprl.policies import default_policy
from zoprl.rollout import make_rollout

OWN = {"GridWorld", "GridWorld-sparse", "RandomMDP", "Bandit", "ContextualBandit"}
DEFAULT = OWN | {"CartPole-v1", "Acrobot-v1", "MountainCar-v0", "Pendulum-v1"}


def _cases():
    for name in registered_envs():
        marks = () if name in DEFAULT else (pytest.mark.slow,)
        yield pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", list(_cases()))
def test_registered_environment_rolls_out(name):
    env, params = make(name) if name in OWN else make(name, horizon=6)
    policy = default_policy(env, params, hidden=(8,))
    traj = jax.jit(make_rollout(env, policy))(
        jax.random.key(0), policy.init(jax.random.key(1)), params
    )
    assert traj.valid.shape == (env.horizon,)
    assert np.all(np.isfinite(traj.latent_reward)) and np.all(np.isfinite(traj.log_prob))
    assert float(traj.valid[0]) == 1.0


def test_data_downloading_environment_is_not_registered():
    assert "MNISTBandit-bsuite" not in registered_envs()
