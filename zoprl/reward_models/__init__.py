"""Reward models r_phi(s, a) and their maximum-likelihood fit to preference data (the data set
itself lives in ``zoprl.preference_data``): the reward-inference half of the RLHF baseline."""

from zoprl.reward_models.fit import (
    RewardFitHparams,
    fit_reward_model,
    init_reward_optimizer,
    log_link_probs,
    preference_loss,
    reward_fit_hparams,
)
from zoprl.reward_models.models import (
    REWARD_MODEL_KINDS,
    RewardModel,
    make_reward_model,
    step_rewards,
    trajectory_reward,
)

__all__ = [
    "REWARD_MODEL_KINDS",
    "RewardFitHparams",
    "RewardModel",
    "fit_reward_model",
    "init_reward_optimizer",
    "log_link_probs",
    "make_reward_model",
    "preference_loss",
    "reward_fit_hparams",
    "step_rewards",
    "trajectory_reward",
]
