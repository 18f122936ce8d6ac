"""KL-regularised finite-horizon MDPs, exactly: soft value iteration, regularised values and
occupancy measures.

A KL-regularised MDP has finite states S and actions A, a horizon H, transitions P(s' | s, a),
a start distribution rho(s), a per-step reward r_h(s, a) (one table [S, A] for every step, or a
time-dependent table [H, S, A]), a reference policy pi_ref,h(a | s) (again [S, A] or [H, S, A]),
a KL weight c > 0 and, optionally, a terminal reward g(s) paid on the state s_{H+1} reached after
the last action. The regularised value of a time-dependent policy pi [H, S, A] is

    J_c(pi) = E_{tau ~ pi} [ sum_{h=1}^H ( r_h(s_h, a_h) - c KL(pi_h(.|s_h) || pi_ref,h(.|s_h)) )
                             + g(s_{H+1}) ].

Soft value iteration (Ziebart 2010; Haarnoja et al. 2017, arXiv 1702.08165; Geist et al. 2019,
arXiv 1901.11275) solves max_pi J_c(pi) by the backward recursion

    V_{H+1}(s) = g(s)  (0 without a terminal reward),
    Q_h(s, a)  = r_h(s, a) + sum_s' P(s' | s, a) V_{h+1}(s'),
    V_h(s)     = c log sum_a pi_ref,h(a | s) exp(Q_h(s, a) / c),
    pi*_h(a|s) = pi_ref,h(a | s) exp((Q_h(s, a) - V_h(s)) / c),

so that max_pi J_c(pi) = J_c(pi*) = sum_s rho(s) V_1(s). The optimum is time-dependent even when
r and pi_ref are not. For any policy pi the gap is exactly

    J_c(pi*) - J_c(pi) = c sum_h E_{s_h ~ pi} KL(pi_h(.|s_h) || pi*_h(.|s_h))  >= 0,

(the regularised performance-difference identity), which makes pi* unique on reachable states.
As c -> 0, J_c(pi*) tends to the unregularised optimum J*: with a uniform reference,
J* - H c log A <= J_c(pi*) <= J*.

Everything is a pure function of arrays, written for one MDP: batch MDP instances, rewards or
policies with ``jax.vmap``. Results follow the floating dtype of the inputs (float64 under
``jax_enable_x64`` with float64 tables). References with zeros are allowed: pi* puts no mass
where pi_ref does, and a policy that does gets KL = +inf.
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp


class KLRegularisedMDP(NamedTuple):
    """The data of a KL-regularised MDP (a pytree: vmap over instances with in_axes=0).

    transition [S, A, S]; start [S]; reward [S, A] or [H, S, A]; reference [S, A] or [H, S, A]
    (rows sum to 1); kl_coef c > 0 (a scalar); terminal_reward [S] or None (g = 0).
    """

    transition: jax.Array
    start: jax.Array
    reward: jax.Array
    reference: jax.Array
    kl_coef: jax.Array
    terminal_reward: jax.Array | None = None


class SoftValues(NamedTuple):
    """Output of soft value iteration: the soft-optimal policy pi* and its log [H, S, A] (the
    log is exact where pi* underflows), Q_h [H, S, A] and V_h [H, S] for h = 1..H."""

    policy: jax.Array
    log_policy: jax.Array
    q: jax.Array
    value: jax.Array


def per_step(table: jax.Array, horizon: int) -> jax.Array:
    """A table [S, A] repeated for every step as [H, S, A]; a table [H, S, A] is returned as is
    (its leading axis must equal ``horizon``)."""
    chex.assert_rank(table, {2, 3})
    if table.ndim == 3:
        chex.assert_axis_dimension(table, 0, horizon)
        return table
    return jnp.broadcast_to(table, (horizon,) + table.shape)


def _check_mdp(mdp: KLRegularisedMDP) -> tuple[int, int]:
    num_states, num_actions = mdp.transition.shape[0], mdp.transition.shape[1]
    chex.assert_shape(mdp.transition, (num_states, num_actions, num_states))
    chex.assert_shape(mdp.start, (num_states,))
    chex.assert_rank(mdp.kl_coef, 0)
    for table in (mdp.reward, mdp.reference):
        chex.assert_rank(table, {2, 3})
        chex.assert_shape(table, (..., num_states, num_actions))
    if mdp.terminal_reward is not None:
        chex.assert_shape(mdp.terminal_reward, (num_states,))
    return num_states, num_actions


def floating_dtype(*arrays) -> jnp.dtype:
    """The promoted dtype of ``arrays`` if floating, else the default float dtype."""
    dtype = jnp.result_type(*arrays)
    return dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.result_type(float)


def _terminal_value(mdp: KLRegularisedMDP, dtype) -> jax.Array:
    if mdp.terminal_reward is None:
        return jnp.zeros(mdp.transition.shape[0], dtype)
    return mdp.terminal_reward.astype(dtype)


def expected_next_value(transition: jax.Array, v_next: jax.Array) -> jax.Array:
    """sum_s' P(s'|s, a) V(s') [S, A], with 0 * (-inf) = 0 (a value of -inf, from an infinite
    KL, only counts where it can be reached)."""
    return jnp.sum(jnp.where(transition > 0, transition * v_next, 0.0), axis=-1)


def soft_value_iteration(mdp: KLRegularisedMDP, horizon: int) -> SoftValues:
    """pi*, Q and V of the KL-regularised MDP by the backward recursion of the module doc.

    ``horizon`` is static (a Python int); time-dependent reward or reference tables must have it
    as their leading axis. One ``lax.scan`` over h = H, ..., 1.
    """
    _check_mdp(mdp)
    reward, reference = per_step(mdp.reward, horizon), per_step(mdp.reference, horizon)
    dtype = floating_dtype(mdp.transition, reward, reference, mdp.kl_coef)
    c = jnp.asarray(mdp.kl_coef, dtype)
    log_reference = jnp.log(reference.astype(dtype))

    def backward(v_next, step):
        r_h, log_ref_h = step
        q = r_h + expected_next_value(mdp.transition, v_next)
        # V = c log sum_a exp(Q / c + log pi_ref) (log pi_ref = -inf where the reference is 0)
        v = c * jax.nn.logsumexp(q / c + log_ref_h, axis=-1)
        log_pi = log_ref_h + (q - v[:, None]) / c
        return v, (log_pi, q, v)

    _, (log_pi, q, v) = jax.lax.scan(
        backward, _terminal_value(mdp, dtype), (reward.astype(dtype), log_reference), reverse=True
    )
    return SoftValues(jnp.exp(log_pi), log_pi, q, v)


def soft_optimal_value(mdp: KLRegularisedMDP, horizon: int) -> jax.Array:
    """max_pi J_c(pi) = sum_s rho(s) V_1(s), V_1 from soft value iteration."""
    values = soft_value_iteration(mdp, horizon).value
    return jnp.dot(mdp.start.astype(values.dtype), values[0])


def kl_per_state(policy: jax.Array, log_policy: jax.Array, log_reference: jax.Array) -> jax.Array:
    """KL(pi(.|s) || pi_ref(.|s)) = sum_a pi(a|s) (log pi(a|s) - log pi_ref(a|s)) over the last
    axis, with 0 log 0 = 0 (and +inf where pi > 0 = pi_ref). Any leading shape [..., A]."""
    chex.assert_equal_shape((policy, log_policy, log_reference))
    positive = policy > 0
    safe = lambda x: jnp.where(positive, x, 0.0)
    return jnp.sum(safe(policy) * (safe(log_policy) - safe(log_reference)), axis=-1)


def _regularised_value(mdp: KLRegularisedMDP, policy, log_policy) -> jax.Array:
    _check_mdp(mdp)
    chex.assert_rank(policy, 3)
    chex.assert_equal_shape((policy, log_policy))
    horizon = policy.shape[0]
    chex.assert_shape(policy, (horizon,) + mdp.transition.shape[:2])
    reward, reference = per_step(mdp.reward, horizon), per_step(mdp.reference, horizon)
    dtype = floating_dtype(mdp.transition, reward, reference, mdp.kl_coef, policy)
    c = jnp.asarray(mdp.kl_coef, dtype)
    kl = kl_per_state(
        policy.astype(dtype), log_policy.astype(dtype), jnp.log(reference.astype(dtype))
    )  # [H, S]

    def backward(v_next, step):
        r_h, pi_h, kl_h = step
        q = r_h + expected_next_value(mdp.transition, v_next)
        return jnp.sum(jnp.where(pi_h > 0, pi_h * q, 0.0), axis=-1) - c * kl_h, None

    v1, _ = jax.lax.scan(
        backward,
        _terminal_value(mdp, dtype),
        (reward.astype(dtype), policy.astype(dtype), kl),
        reverse=True,
    )
    return expected_next_value(mdp.start.astype(dtype), v1)


def regularised_policy_value(mdp: KLRegularisedMDP, policy: jax.Array) -> jax.Array:
    """J_c(pi) of a time-dependent policy ``policy`` [H, S, A] (rows sum to 1) by backward
    induction: V_{H+1} = g, Q_h = r_h + P V_{h+1},
    V_h(s) = sum_a pi_h(a|s) Q_h(s, a) - c KL(pi_h(.|s) || pi_ref,h(.|s)), J_c = rho^T V_1."""
    safe_policy = jnp.where(policy > 0, policy, 1.0)
    return _regularised_value(mdp, policy, jnp.log(safe_policy))


def regularised_logits_value(mdp: KLRegularisedMDP, logits: jax.Array) -> jax.Array:
    """J_c(softmax(logits)) for time-dependent logits [H, S, A]; the KL uses log_softmax, so it
    stays accurate (and its gradient finite) where probabilities underflow."""
    chex.assert_rank(logits, 3)
    return _regularised_value(
        mdp, jax.nn.softmax(logits, axis=-1), jax.nn.log_softmax(logits, axis=-1)
    )


def occupancy_measures(transition: jax.Array, start: jax.Array, policy: jax.Array) -> jax.Array:
    """d_h(s, a) = Pr_pi(s_h = s, a_h = a), [H, S, A], by the forward recursion
    d_1(s, a) = rho(s) pi_1(a|s), d_{h+1}(s', a') = sum_{s,a} d_h(s, a) P(s'|s, a) pi_{h+1}(a'|s').

    Then E_pi[sum_h x_h(s_h, a_h)] = sum_{h,s,a} d_h(s, a) x_h(s, a) for any table x, the state
    distribution of s_{H+1} is sum_{s,a} d_H(s, a) P(.|s, a), and the gradient of J_c in the
    reward is d (d J_c / d r_h(s, a) = d_h(s, a)).
    """
    num_states, num_actions = transition.shape[0], transition.shape[1]
    chex.assert_shape(transition, (num_states, num_actions, num_states))
    chex.assert_shape(start, (num_states,))
    chex.assert_rank(policy, 3)
    chex.assert_shape(policy, (None, num_states, num_actions))
    dtype = floating_dtype(transition, start, policy)
    policy = policy.astype(dtype)

    def forward(state_dist, pi_h):
        d_h = state_dist[:, None] * pi_h
        return jnp.einsum("sa,sat->t", d_h, transition.astype(dtype)), d_h

    _, occupancy = jax.lax.scan(forward, start.astype(dtype), policy)
    return occupancy


__all__ = [
    "KLRegularisedMDP",
    "SoftValues",
    "expected_next_value",
    "floating_dtype",
    "kl_per_state",
    "occupancy_measures",
    "per_step",
    "regularised_logits_value",
    "regularised_policy_value",
    "soft_optimal_value",
    "soft_value_iteration",
]
