"""Names a spec can use: algorithms and policies; ``zoprl list`` prints them.

Each algorithm entry wraps a factory of ``zoprl.algorithms`` as
``build(env, policy, oracle, **static) -> Algorithm``. The static settings a spec may give are
the factory's keyword-only arguments (``static_names``) whose annotated type admits a value a
spec can hold (a bool, number, string, None or list); their types are checked against those
annotations before anything is built. Arguments before the ``*`` (the environment, the policy,
the oracle, Python objects such as a reward function) are not static settings. Hyperparameter
names come from the hyperparameter pytree the built algorithm returns (``hparam_names``).
Ceilings (``reads_latent_reward``) read the environment's reward and are labelled as such in
every table and plot.
"""

from __future__ import annotations

import inspect
import math
import types
import typing
from collections.abc import Callable
from typing import Any, NamedTuple

from zoprl import algorithms as alg
from zoprl.algorithms.base import hparam_fields
from zoprl.algorithms.optimizers import OPTIMIZERS
from zoprl.policies import (
    default_policy,
    linear_softmax,
    mlp_categorical,
    mlp_gaussian,
    tabular_softmax,
)

SPEC_TYPES = (bool, int, float, str, type(None), tuple, list)


class StaticSetting(NamedTuple):
    """A factory's keyword-only argument a spec may set: its default (``inspect._empty`` when
    required) and the spec types its annotation admits."""

    default: Any
    types: tuple

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty


def admitted_types(annotation) -> tuple:
    """The spec value types an annotation admits (Optional / Union / X | Y unpacked; tuple[...]
    and list[...] as tuple and list; Any admits nothing a spec can check)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return tuple(t for arg in typing.get_args(annotation) for t in admitted_types(arg))
    if origin in (tuple, list):
        return (origin,)
    if annotation is None:
        return (type(None),)
    return (annotation,) if annotation in SPEC_TYPES else ()


def static_settings(factory: Callable, fixed=()) -> dict[str, StaticSetting]:
    """The static settings of ``factory`` (module doc), in signature order."""
    hints = typing.get_type_hints(factory)
    out = {}
    for name, param in inspect.signature(factory).parameters.items():
        if param.kind is not inspect.Parameter.KEYWORD_ONLY or name in fixed:
            continue
        admitted = admitted_types(hints.get(name, Any))
        if admitted:
            out[name] = StaticSetting(param.default, admitted)
    return out


def check_static_value(where: str, name: str, value, setting: StaticSetting):
    """``value`` checked against a static setting's types (a list becomes a tuple where the
    factory takes a tuple; an int is a float); returns the value to pass."""
    allowed = setting.types
    if isinstance(value, list) and tuple in allowed:
        return tuple(value)
    ok = any(
        isinstance(value, t) and not (isinstance(value, bool) and t in (int, float))
        for t in allowed
    )
    if not ok and float in allowed and isinstance(value, int) and not isinstance(value, bool):
        ok = math.isfinite(value)
    if not ok:
        names = " or ".join(sorted({"None" if t is type(None) else t.__name__ for t in allowed}))
        raise ValueError(
            f"{where}: {name} must be of type {names}, got {value!r} ({type(value).__name__})"
        )
    return value


class AlgorithmEntry(NamedTuple):
    factory: Callable  # the zoprl.algorithms factory (its signature lists static settings)
    fixed: dict  # factory arguments the entry fixes (e.g. online=True)
    uses_oracle: bool
    reads_latent_reward: bool  # a ceiling on the environment's reward
    description: str
    sections: dict = {}  # spec sections a spec that names none gets (the setting it is for)

    def static_names(self) -> dict[str, StaticSetting]:
        """The factory's static settings a spec may set (name -> StaticSetting)."""
        return static_settings(self.factory, self.fixed)

    def build(self, env, policy, oracle, **static):
        """The Algorithm with the entry's fixed arguments and ``static``."""
        if self.uses_oracle:
            return self.factory(env, policy, oracle, **self.fixed, **static)
        return self.factory(env, policy, **self.fixed, **static)


def _entry(
    factory, description, *, uses_oracle=True, reads_latent_reward=False, sections=None, **fixed
) -> AlgorithmEntry:
    return AlgorithmEntry(
        factory, fixed, uses_oracle, reads_latent_reward, description, sections or {}
    )


PREFERENCE_GAME = {
    "environment": {"name": "ContextualBandit"},
    "oracle": {"kind": "tensor", "generator": "condorcet"},
    "evaluation": {"name": "nash"},
}
"""The setting of the Nash learners: a contextual bandit whose teacher is a general preference
tensor (a Condorcet cycle by default), scored by the exact game gap."""


TINY_CHAIN = {
    "environment": {"name": "Chain"},
    "policy": {"name": "time_dependent_softmax"},
    "evaluation": {"name": "bilevel"},
}
"""The setting of the exact bilevel ceiling: a chain small enough to enumerate its trajectory
pairs (S = 3, H = 3), the time-dependent tabular policy that pi*(nu) needs, and the bilevel
evaluator."""


def default_sections(names) -> dict:
    """The spec sections (environment, oracle, evaluation) that algorithms ``names`` share as
    their setting, for a spec that names none; {} when they do not agree or have none."""
    sections = [ALGORITHMS[n].sections for n in names if n in ALGORITHMS]
    if not sections or any(s != sections[0] for s in sections):
        return {}
    return dict(sections[0])


ALGORITHMS: dict[str, AlgorithmEntry] = {
    "zpg": _entry(alg.zpg, "zeroth-order policy gradient from preferences (arXiv 2409.17401)"),
    "zbcpg": _entry(alg.zbcpg, "zeroth-order block-coordinate policy gradient (arXiv 2409.17401)"),
    "zspo": _entry(
        alg.zspo, "zeroth-order sign policy optimisation, unknown link (arXiv 2506.03066)"
    ),
    "dpo_online": _entry(
        alg.dpo, "DPO on fresh pairs from the current policy", online=True, loss="dpo"
    ),
    "dpo_offline": _entry(
        alg.dpo, "DPO on one data set of pairs from the reference policy", online=False, loss="dpo"
    ),
    "ipo_online": _entry(
        alg.dpo, "IPO on fresh pairs from the current policy", online=True, loss="ipo"
    ),
    "ipo_offline": _entry(
        alg.dpo, "IPO on one data set of pairs from the reference policy", online=False, loss="ipo"
    ),
    "rlhf_ppo_online": _entry(
        alg.rlhf, "reward model refitted on fresh pairs, then PPO on it", online=True
    ),
    "rlhf_ppo_offline": _entry(alg.rlhf, "reward model fitted once, then PPO on it", online=False),
    "nash_offline": _entry(
        alg.nash_offline,
        "Nash: offline pessimistic max-min on a fitted game (arXiv 2402.07314)",
        sections=PREFERENCE_GAME,
    ),
    "nash_online": _entry(
        alg.nash_online,
        "Nash: online main agent + enhancer, refit every round (arXiv 2402.07314)",
        sections=PREFERENCE_GAME,
    ),
    "ipo_self_play": _entry(
        alg.self_play,
        "Nash: online self-play IPO, tabular (arXiv 2403.08635)",
        update="ipo",
        sections=PREFERENCE_GAME,
    ),
    "nash_md_self_play": _entry(
        alg.self_play,
        "Nash: Nash-MD on sampled preferences (arXiv 2312.00886)",
        update="nash_md",
        sections=PREFERENCE_GAME,
    ),
    "sppo_self_play": _entry(
        alg.self_play,
        "Nash: SPPO with the KL magnet (arXiv 2405.00675)",
        update="sppo",
        sections=PREFERENCE_GAME,
    ),
    "extragradient_self_play": _entry(
        alg.self_play,
        "Nash: EGPO extragradient, tabular (arXiv 2503.08942)",
        update="extragradient",
        sections=PREFERENCE_GAME,
    ),
    "bt_pipeline": _entry(
        alg.bt_pipeline,
        "Nash baseline: Bradley-Terry reward fit, then pi0 exp(eta' r) (2402.07314)",
        sections=PREFERENCE_GAME,
    ),
    "zpg_nash": _entry(
        alg.zeroth_order_nash,
        "Nash: zeroth-order self-play gradient (ours)",
        update="gradient",
        sections=PREFERENCE_GAME,
    ),
    "zspo_nash": _entry(
        alg.zeroth_order_nash,
        "Nash: zeroth-order self-play sign steps (ours)",
        update="sign",
        sections=PREFERENCE_GAME,
    ),
    "bilevel_penalty": _entry(
        alg.bilevel_penalty,
        "bilevel RLHF by the penalty method (arXiv 2410.15610; Kwon et al., arXiv 2309.01753)",
    ),
    "bilevel_decoupled_online": _entry(
        alg.bilevel_decoupled,
        "decoupled online RLHF on the KL-regularised objective (baseline of arXiv 2410.15610)",
        online=True,
    ),
    "bilevel_decoupled_offline": _entry(
        alg.bilevel_decoupled,
        "offline RLHF on the KL-regularised objective, pairs of pi_ref (arXiv 2410.15610)",
        online=False,
    ),
    "bilevel_exact_hypergradient": _entry(
        alg.bilevel_hypergradient,
        "ceiling: exact hypergradient descent of bilevel RLHF, tiny MDPs (arXiv 2410.15610)",
        reads_latent_reward=True,
        sections=TINY_CHAIN,
    ),
    "ppo_true_reward": _entry(
        alg.ppo, "ceiling: PPO on the true reward", uses_oracle=False, reads_latent_reward=True
    ),
    "ppo_reach_avoid": _entry(
        alg.ppo_reach_avoid,
        "ceiling: PPO on the reach-avoid teacher's utility, paid at the last step",
        uses_oracle=False,
        reads_latent_reward=True,
    ),
    "reinforce_true_reward": _entry(
        alg.reinforce,
        "ceiling: REINFORCE on the true reward",
        uses_oracle=False,
        reads_latent_reward=True,
    ),
    "es_true_reward": _entry(
        alg.evolution_strategies,
        "ceiling: OpenAI-ES (evosax) on the true reward",
        uses_oracle=False,
        reads_latent_reward=True,
    ),
}


def register_algorithm(name: str, entry: AlgorithmEntry, *, overwrite: bool = False):
    """Add an algorithm entry under ``name`` (a spec's ``algorithms[].name``)."""
    if name in ALGORITHMS and not overwrite:
        raise ValueError(f"algorithm {name!r} is already registered")
    ALGORITHMS[name] = entry
    return entry


def _time_dependent_softmax(env, env_params):
    return tabular_softmax(env.num_states, env.num_actions, env.horizon)


def _observation_size(env, env_params) -> int:
    return int(math.prod(env.observation_space(env_params).shape))


POLICIES: dict[str, Callable[..., Any]] = {
    "default": lambda env, env_params, **kw: default_policy(env, env_params, **kw),
    "tabular_softmax": lambda env, env_params: tabular_softmax(env.num_states, env.num_actions),
    "time_dependent_softmax": _time_dependent_softmax,
    "linear_softmax": lambda env, env_params, **kw: linear_softmax(
        _observation_size(env, env_params), int(env.action_space(env_params).n), **kw
    ),
    "mlp_categorical": lambda env, env_params, **kw: mlp_categorical(
        _observation_size(env, env_params), int(env.action_space(env_params).n), **kw
    ),
    "mlp_gaussian": lambda env, env_params, **kw: mlp_gaussian(
        _observation_size(env, env_params), int(env.action_space(env_params).shape[0]), **kw
    ),
}
"""Policy builders ``(env, env_params, **options) -> Policy``; options e.g. hidden = [64, 64]."""


def hparam_names(algorithm) -> tuple[str, ...]:
    """The hyperparameter names of a built algorithm: the flattened fields of its default
    hyperparameter pytree (``hparam_fields``)."""
    return tuple(hparam_fields(algorithm.hparams()))


__all__ = [
    "ALGORITHMS",
    "OPTIMIZERS",
    "POLICIES",
    "AlgorithmEntry",
    "StaticSetting",
    "admitted_types",
    "check_static_value",
    "hparam_names",
    "register_algorithm",
    "static_settings",
]
