"""Names a spec can use: algorithms, policies, optimisers; ``zoprl list`` prints them.

Each algorithm entry wraps a factory of ``zoprl.algorithms`` as
``build(env, policy, oracle, **static) -> Algorithm``. The static settings a spec may give are the
factory's keyword arguments (``static_names``); their types are checked against the factory's
defaults and annotations before anything is built. Ceilings (``reads_reward``) read the latent
reward and are labelled as such in every table and plot.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, NamedTuple

import optax

from zoprl import algorithms as alg
from zoprl.algorithms.ppo import PPOHparams
from zoprl.policies import (default_policy, linear_softmax, mlp_categorical, mlp_gaussian,
                            tabular_softmax)


OPTIMIZERS: dict[str, Callable[[], optax.GradientTransformation]] = {
    "sgd": lambda: optax.sgd(1.0),
    "momentum": lambda: optax.sgd(1.0, momentum=0.9),
    "adam": lambda: optax.adam(1.0),
}
"""Optimisers by name, built with learning rate 1 (the step size is a swept hyperparameter)."""


class AlgorithmEntry(NamedTuple):
    factory: Callable         # the zoprl.algorithms factory (its signature lists static settings)
    fixed: dict               # factory arguments the entry fixes (e.g. online=True)
    uses_oracle: bool
    reads_reward: bool        # a ceiling on the true reward
    extra_hparams: tuple      # hyperparameter names passed through **kwargs of algo.hparams
    description: str

    def static_names(self) -> dict[str, inspect.Parameter]:
        """The factory's keyword arguments a spec may set (name -> inspect.Parameter)."""
        skip = {"env", "policy", "oracle", "reward_fn", "behaviour_params", *self.fixed}
        params = inspect.signature(self.factory).parameters
        return {n: p for n, p in params.items()
                if n not in skip and p.kind is not inspect.Parameter.VAR_KEYWORD}

    def build(self, env, policy, oracle, **static):
        """The Algorithm; ``optimizer`` may be a name of OPTIMIZERS and ``assumed_link`` may be
        "oracle": the learner is told the oracle's true link."""
        if static.get("assumed_link") == "oracle":
            static["assumed_link"] = oracle.link
        if "optimizer" in static and isinstance(static["optimizer"], str):
            static["optimizer"] = OPTIMIZERS[static["optimizer"]]()
        if self.uses_oracle:
            return self.factory(env, policy, oracle, **self.fixed, **static)
        return self.factory(env, policy, **self.fixed, **static)


def _entry(factory, description, *, uses_oracle=True, reads_reward=False, extra_hparams=(),
           **fixed) -> AlgorithmEntry:
    return AlgorithmEntry(factory, fixed, uses_oracle, reads_reward, tuple(extra_hparams),
                          description)


ALGORITHMS: dict[str, AlgorithmEntry] = {
    "zpg": _entry(alg.zpg, "zeroth-order policy gradient from preferences (arXiv 2409.17401)"),
    "zbcpg": _entry(alg.zbcpg, "zeroth-order block-coordinate policy gradient (arXiv 2409.17401)"),
    "zspo": _entry(alg.zspo, "zeroth-order sign policy optimisation, unknown link "
                             "(arXiv 2506.03066)"),
    "dpo_online": _entry(alg.dpo, "DPO on fresh pairs from the current policy", online=True,
                         loss="dpo"),
    "dpo_offline": _entry(alg.dpo, "DPO on one data set of pairs from the reference policy",
                          online=False, loss="dpo"),
    "ipo_online": _entry(alg.dpo, "IPO on fresh pairs from the current policy", online=True,
                         loss="ipo"),
    "ipo_offline": _entry(alg.dpo, "IPO on one data set of pairs from the reference policy",
                          online=False, loss="ipo"),
    "rlhf_ppo_online": _entry(alg.rlhf, "reward model refitted on fresh pairs, then PPO on it",
                              online=True, extra_hparams=PPOHparams._fields),
    "rlhf_ppo_offline": _entry(alg.rlhf, "reward model fitted once, then PPO on it", online=False,
                               extra_hparams=PPOHparams._fields),
    "ppo_true_reward": _entry(alg.ppo, "ceiling: PPO on the true reward", uses_oracle=False,
                              reads_reward=True),
    "reinforce_true_reward": _entry(alg.reinforce, "ceiling: REINFORCE on the true reward",
                                    uses_oracle=False, reads_reward=True),
    "es_true_reward": _entry(alg.evolution_strategies, "ceiling: OpenAI-ES (evosax) on the true "
                             "reward", uses_oracle=False, reads_reward=True),
}


def _time_dependent_softmax(env, env_params):
    return tabular_softmax(env.num_states, env.num_actions, env.horizon)


def _observation_size(env, env_params) -> int:
    import math

    return int(math.prod(env.observation_space(env_params).shape))


POLICIES: dict[str, Callable[..., Any]] = {
    "default": lambda env, env_params, **kw: default_policy(env, env_params, **kw),
    "tabular_softmax": lambda env, env_params: tabular_softmax(env.num_states, env.num_actions),
    "time_dependent_softmax": _time_dependent_softmax,
    "linear_softmax": lambda env, env_params, **kw: linear_softmax(
        _observation_size(env, env_params), int(env.action_space(env_params).n), **kw),
    "mlp_categorical": lambda env, env_params, **kw: mlp_categorical(
        _observation_size(env, env_params), int(env.action_space(env_params).n), **kw),
    "mlp_gaussian": lambda env, env_params, **kw: mlp_gaussian(
        _observation_size(env, env_params), int(env.action_space(env_params).shape[0]), **kw),
}
"""Policy builders ``(env, env_params, **options) -> Policy``; options e.g. hidden = [64, 64]."""


def hparam_names(entry: AlgorithmEntry, algorithm) -> tuple[str, ...]:
    """The hyperparameter names ``algorithm.hparams`` accepts."""
    params = inspect.signature(algorithm.hparams).parameters
    named = [n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    return tuple(named) + tuple(n for n in entry.extra_hparams if n not in named)
