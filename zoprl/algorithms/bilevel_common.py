"""Pieces shared by the bilevel RLHF learners (arXiv 2410.15610): ``bilevel_penalty``,
``bilevel_decoupled`` and ``bilevel_hypergradient``.

Conventions every bilevel learner follows, which the "bilevel" evaluator reads
(``zoprl.evaluators.bilevel``):

  state.params            the deployed policy: the lower level's iterate, the policy trained on
                          the learned reward (z in the penalty method);
  state.reward_params     nu, the reward model's parameters;
  state.reference_params  pi_ref, the reference policy of the KL regulariser: the initial
                          policy, optionally tilted by ``reference_action_logits`` (below);
  hparams.kl_coef         c > 0, the KL weight of the lower level;
  hparams.ridge           rho >= 0, the ridge weight of the upper level;
  state.penalty_params, state.penalty   (penalty method only) theta and lambda_k.

Reward models: ``reward_model`` "tabular", "linear" or "mlp" (``zoprl.reward_models``; None:
tabular on finite environments, else an MLP of widths ``reward_hidden``). The evaluator builds
its reward model from the same two settings (same defaults), so a spec that changes them gives
them to both.

Reference: ``reference_action_logits`` = (b_1, ..., b_A) adds b_a to the logit of action a in
every state and step of the initial tabular policy (all zeros): pi_ref(a|s) is proportional to
exp(b_a), e.g. a reference biased away from the goal (our knob, for the distribution-shift
experiment). Both policy iterates start at pi_ref, as RLHF starts from its reference policy.

Step sizes decay as gamma_k = gamma (1 + k)^(-step_decay) (k the iteration, step_decay = 0:
constant).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from zoprl.bilevel.finite import is_enumerable
from zoprl.bilevel.problem import reward_model_table, tree_squared_norm
from zoprl.enumeration import MAX_ENUMERATED_TRAJECTORIES
from zoprl.reward_models.models import RewardModel


def check_reference_logits(policy, reference_action_logits) -> tuple | None:
    """The reference tilt as a tuple of A floats (ValueError otherwise), or None."""
    if reference_action_logits is None:
        return None
    logits = tuple(float(b) for b in reference_action_logits)
    if policy.num_states is None or len(logits) != policy.num_actions:
        raise ValueError(
            "reference_action_logits needs a tabular policy and one logit per action "
            f"({policy.num_actions}), got {list(logits)} for policy {policy.name!r}"
        )
    return logits


def initial_reference(policy, key, reference_action_logits: tuple | None):
    """pi_ref's parameters: ``policy.init(key)``, tilted by the reference logits (module doc)."""
    params = policy.init(key)
    if reference_action_logits is None:
        return params
    return params + jnp.asarray(reference_action_logits, params.dtype)


def decayed(step_size, step_decay, iteration):
    """gamma (1 + k)^(-step_decay) at iteration k (in the step size's dtype)."""
    k = jnp.asarray(iteration, jnp.result_type(step_size))
    return step_size * (1.0 + k) ** (-step_decay)


def exact_reward_table(env, policy, model: RewardModel):
    """nu -> r_nu [S, A] for the exact modes; ValueError unless the environment is finite and
    enumerable ((S A)^H small) and the policy categorical."""
    if not is_enumerable(env):
        raise ValueError(
            "the exact-gradient mode needs a finite environment with at most "
            f"{MAX_ENUMERATED_TRAJECTORIES} "
            f"trajectories; {getattr(env, 'name', env)!r} is not one"
        )
    if policy.logits is None:
        raise ValueError(f"the exact-gradient mode needs a categorical policy, got {policy.name}")
    return reward_model_table(model, env.num_states, env.num_actions)


def tree_norm(tree) -> jax.Array:
    """The Euclidean norm of a pytree of arrays."""
    return jnp.sqrt(tree_squared_norm(tree))


def combine(a, b, scale=1.0):
    """a + scale b, leafwise."""
    return jax.tree.map(lambda x, y: x + scale * y, a, b)


__all__ = [
    "check_reference_logits",
    "combine",
    "decayed",
    "exact_reward_table",
    "initial_reference",
    "tree_norm",
]
