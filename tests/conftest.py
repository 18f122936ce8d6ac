import jax
import pytest

from zoprl.envs import make
from zoprl.policies import tabular_softmax


@pytest.fixture(scope="session")
def gridworld():
    """The pinned default GridWorld (5x5, slip 0.1, H = 10) and a tabular softmax policy."""
    env, params = make("GridWorld")
    return env, params, tabular_softmax(env.num_states, env.num_actions)


def random_theta(key, policy, scale=1.0):
    theta = policy.init(key)
    return jax.tree.map(lambda x: scale * jax.random.normal(key, x.shape), theta)
