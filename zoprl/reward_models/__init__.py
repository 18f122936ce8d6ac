"""Reward models r_phi(s, a), a fixed-capacity preference buffer and maximum-likelihood fitting:
the reward-inference half of the RLHF baseline (PAPERS.md section 4)."""

from zoprl.reward_models.buffer import (PreferenceBatch, PreferenceBuffer, buffer_add,
                                        buffer_init, buffer_sample)
from zoprl.reward_models.fit import (RewardFitHparams, fit_reward_model, init_reward_optimizer,
                                     log_link_probs, preference_loss, reward_fit_hparams)
from zoprl.reward_models.models import (REWARD_MODEL_KINDS, RewardModel, make_reward_model,
                                        step_rewards, trajectory_reward)

__all__ = [
    "REWARD_MODEL_KINDS", "PreferenceBatch", "PreferenceBuffer", "RewardFitHparams",
    "RewardModel", "buffer_add", "buffer_init", "buffer_sample", "fit_reward_model",
    "init_reward_optimizer", "log_link_probs", "make_reward_model", "preference_loss",
    "reward_fit_hparams", "step_rewards", "trajectory_reward",
]
