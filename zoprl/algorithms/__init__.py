"""Learning algorithms as (init, step) pairs of pure functions, and the run function.

Reward-free (learn from preferences only): ``zpg``, ``zbcpg``, ``zspo``, ``dpo`` (and IPO), and
the reward-inference baseline ``rlhf`` (a reward model fitted to preferences, then PPO on it);
bilevel RLHF (arXiv 2410.15610): ``bilevel_penalty``, ``bilevel_decoupled`` (online, offline)
and the exact ceiling ``bilevel_hypergradient``.
General-preference (Nash) learners on contextual bandits: ``nash_offline``, ``nash_online``,
``self_play`` (IPO, Nash-MD, SPPO, extragradient), ``bt_pipeline``, ``zpg_nash``, ``zspo_nash``.
Ceilings that read the true reward (``reads_latent_reward``): ``ppo``, ``reinforce``,
``evolution_strategies``.
"""

from zoprl.algorithms.base import Algorithm, PolicyState, hparam_fields
from zoprl.algorithms.bilevel_decoupled import bilevel_decoupled
from zoprl.algorithms.bilevel_hypergradient import bilevel_hypergradient
from zoprl.algorithms.bilevel_penalty import bilevel_penalty
from zoprl.algorithms.bt_pipeline import bt_pipeline
from zoprl.algorithms.dpo import DPOHparams, DPOInfo, DPOState, dpo
from zoprl.algorithms.evolution import ESHparams, ESInfo, ESState, evolution_strategies
from zoprl.algorithms.nash_offline import nash_offline
from zoprl.algorithms.nash_online import nash_online
from zoprl.algorithms.optimizers import OPTIMIZERS, resolve_optimizer
from zoprl.algorithms.policy_gradient import (
    Critic,
    discounted_returns,
    generalized_advantages,
    make_critic,
    mlp_critic,
    tabular_critic,
)
from zoprl.algorithms.ppo import PPOHparams, PPOInfo, PPOState, PPOUpdate, make_ppo_update, ppo
from zoprl.algorithms.ppo_reach_avoid import ppo_reach_avoid  # noqa: F401
from zoprl.algorithms.preference_losses import PREFERENCE_LOSSES, dpo_loss, ipo_loss
from zoprl.algorithms.reinforce import (
    ReinforceHparams,
    ReinforceInfo,
    ReinforceState,
    make_reinforce_update,
    reinforce,
)
from zoprl.algorithms.rlhf import RLHFHparams, RLHFInfo, RLHFState, rlhf
from zoprl.algorithms.run import (
    RUN_AXES,
    ChunkedRun,
    RunCarry,
    make_chunked_run,
    make_run,
    vmap_runs,
)
from zoprl.algorithms.self_play import self_play
from zoprl.algorithms.zbcpg import zbcpg
from zoprl.algorithms.zeroth_order import SignInfo, ZerothOrderHparams, ZerothOrderInfo
from zoprl.algorithms.zeroth_order_nash import zeroth_order_nash, zpg_nash, zspo_nash
from zoprl.algorithms.zpg import zpg
from zoprl.algorithms.zspo import zspo

__all__ = [
    "OPTIMIZERS",
    "RUN_AXES",
    "SignInfo",
    "hparam_fields",
    "resolve_optimizer",
    "vmap_runs",
    "Algorithm",
    "ChunkedRun",
    "Critic",
    "DPOHparams",
    "DPOInfo",
    "DPOState",
    "ESHparams",
    "ESInfo",
    "ESState",
    "PPOHparams",
    "PPOInfo",
    "PPOState",
    "PPOUpdate",
    "PREFERENCE_LOSSES",
    "PolicyState",
    "RLHFHparams",
    "RLHFInfo",
    "RLHFState",
    "ReinforceHparams",
    "ReinforceInfo",
    "ReinforceState",
    "RunCarry",
    "ZerothOrderHparams",
    "ZerothOrderInfo",
    "bilevel_decoupled",
    "bilevel_hypergradient",
    "bilevel_penalty",
    "bt_pipeline",
    "discounted_returns",
    "dpo",
    "dpo_loss",
    "evolution_strategies",
    "generalized_advantages",
    "ipo_loss",
    "make_chunked_run",
    "make_critic",
    "make_ppo_update",
    "make_reinforce_update",
    "make_run",
    "mlp_critic",
    "nash_offline",
    "nash_online",
    "ppo",
    "reinforce",
    "rlhf",
    "self_play",
    "tabular_critic",
    "zbcpg",
    "zeroth_order_nash",
    "zpg",
    "zpg_nash",
    "zspo",
    "zspo_nash",
]
