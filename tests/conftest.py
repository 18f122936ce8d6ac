"""Fixtures shared by every test."""

import pytest

from zoprl.envs import make
from zoprl.policies import tabular_softmax


@pytest.fixture(scope="session")
def gridworld():
    """The pinned default GridWorld (5x5, slip 0.1, H = 10) and a tabular softmax policy."""
    env, params = make("GridWorld")
    return env, params, tabular_softmax(env.num_states, env.num_actions)


@pytest.fixture(scope="session")
def cli_cache(tmp_path_factory):
    """A persistent compilation cache shared by the session's subprocesses (cli_testing)."""
    return tmp_path_factory.mktemp("jax-cache")
