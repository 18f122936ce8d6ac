"""Direct preference losses on trajectory pairs: DPO and IPO with soft labels (docs/methods.md, 4).

Everything here is written for ONE pair (or one trajectory) and batched by the caller's vmap.
A pair (tau_0, tau_1) carries a label p in [0, 1], the fraction of the oracle's M votes that
prefer tau_1 (``oracles.vote_frequency``); M = 1 gives the hard labels of the papers.

The implicit reward of a trajectory is its summed log-ratio to the reference policy,

    logratio(tau) = sum_h valid_h (log pi_theta(a_h | s_h, h) - log pi_ref(a_h | s_h, h)),

the transition probabilities cancelling in pi_theta(tau) / pi_ref(tau). The pair's margin is
h = logratio(tau_1) - logratio(tau_0).

DPO (Rafailov et al. 2023, arXiv 2305.18290, eq. 7), soft-label (binary cross-entropy) form:

    l_DPO(h, p) = -(p log sigmoid(beta h) + (1 - p) log sigmoid(-beta h)),

the hard-label loss -log sigmoid(beta (logratio(tau_w) - logratio(tau_l))) when p is 0 or 1. Its
population minimiser satisfies sigmoid(beta h) = P(tau_1 preferred); under a Bradley-Terry teacher
P = sigmoid(r(tau_1) - r(tau_0)) this is beta h = r(tau_1) - r(tau_0), i.e. the KL-regularised
optimum pi*(tau) ~ pi_ref(tau) exp(r(tau) / beta) for bandits and deterministic MDPs (pairs
sharing their start state).

IPO (Azar et al. 2023, arXiv 2310.12036, the empirical IPO loss with regularisation
tau = beta): the hard-label loss
(h_w,l - 1 / (2 beta))^2 is the squared regression of h on the label I(tau_1 preferred) - 1/2
scaled by 1 / beta. Averaging over the M votes gives the soft-label form implemented here,

    l_IPO(h, p) = (h - (2 p - 1) / (2 beta))^2,

equal to the mean of the per-vote losses minus a constant p (1 - p) / beta^2 (same gradient),
and to the paper's loss for p in {0, 1}. Its population minimiser is h = (2 P - 1) / (2 beta).
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from zoprl.policies.base import Policy
from zoprl.policies.base import per_step_log_probs as per_step_log_probs
from zoprl.trajectory import Trajectory


def dpo_loss(h, p, beta):
    """-(p log sigmoid(beta h) + (1 - p) log sigmoid(-beta h)) (arXiv 2305.18290, soft label)."""
    z = beta * h
    return -(p * jax.nn.log_sigmoid(z) + (1.0 - p) * jax.nn.log_sigmoid(-z))


def ipo_loss(h, p, beta):
    """(h - (2 p - 1) / (2 beta))^2 (arXiv 2310.12036, soft label; see the module doc)."""
    return (h - (2.0 * p - 1.0) / (2.0 * beta)) ** 2


PREFERENCE_LOSSES = {"dpo": dpo_loss, "ipo": ipo_loss}


def trajectory_log_ratio(policy: Policy, params, reference_params, traj: Trajectory) -> jax.Array:
    """sum_h valid_h (log pi_params - log pi_ref)(a_h | s_h, h) for one trajectory (leaves [H])."""
    chex.assert_rank(traj.valid, 1)  # one trajectory: vmap over batch axes
    diff = per_step_log_probs(policy, params, traj) - per_step_log_probs(
        policy, reference_params, traj
    )
    return jnp.sum(traj.valid * diff)


def trajectory_kl(policy: Policy, params, reference_params, traj: Trajectory) -> jax.Array:
    """sum_h valid_h KL(pi_params(. | s_h, h) || pi_ref(. | s_h, h)) along one trajectory.

    By the chain rule of KL its mean over tau ~ pi_params is KL(pi_params(tau) || pi_ref(tau)),
    with less variance than the mean log-ratio. Categorical policies only (``policy.logits``).
    """
    chex.assert_rank(traj.valid, 1)  # one trajectory: vmap over batch axes
    steps = jnp.arange(traj.horizon)

    def step_kl(obs, h):
        log_p = jax.nn.log_softmax(policy.logits(params, obs, h))
        log_q = jax.nn.log_softmax(policy.logits(reference_params, obs, h))
        return jnp.sum(jnp.exp(log_p) * (log_p - log_q))

    return jnp.sum(traj.valid * jax.vmap(step_kl)(traj.obs, steps))


def weighted_mean(values, weights):
    """sum w v / max(sum w, 1): the mean over the weighted (answered) entries, 0 when none."""
    return jnp.sum(weights * values) / jnp.maximum(jnp.sum(weights), 1.0)


def implicit_reward_accuracy(h, p, answered):
    """Fraction of answered, decided (p != 1/2) pairs with sign(h) = sign(p - 1/2), a pair with
    h = 0 (e.g. two identical trajectories) counting 1/2, as a tie does in an AUC; 0 if none."""
    decided = answered * (p != 0.5)
    agree = jnp.where(h == 0, 0.5, (jnp.sign(h) == jnp.sign(p - 0.5)).astype(jnp.float32))
    return weighted_mean(agree, decided)
