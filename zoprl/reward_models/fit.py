"""Fitting a reward model to preference data by maximum likelihood (docs/methods.md, 4).

Under an assumed link sigma (default logistic: the Bradley-Terry model of Christiano et al. 2017
and Ouyang et al. 2022), a pair (tau_0, tau_1) with soft label p (the fraction of votes that
preferred tau_1) has negative log-likelihood

    l(phi) = -[p log sigma(d) + (1 - p) log(1 - sigma(d))],   d = r_phi(tau_1) - r_phi(tau_0),

with r_phi(tau) = sum_h valid_h r_phi(s_h, a_h). With M votes per pair this is 1/M times the
Binomial log-likelihood of the votes, so soft labels lose nothing. The loss of a batch is the
mean of l over answered pairs (skipped pairs weigh 0) plus (l2 / 2) ||phi||^2. Because only
differences d enter, the fit is invariant to adding a constant to the true reward (for a
horizon-H environment: to adding a constant to every step's reward when both members have the
same number of valid steps), and r_phi itself is identified only up to such a constant.

Logs are computed safely: log sigma(d) = log_sigmoid(d) for the logistic link, log_ndtr(d) for
the probit link, and log(max(sigma(d), 2^-24)) for the others.

The optimiser is Adam (Kingma and Ba 2015) with a sweepable step size; ``num_steps`` gradient
steps on fresh minibatches of ``batch_size`` pairs from the buffer run as one ``lax.scan``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.scipy.special import log_ndtr

from zoprl.oracles.links import EPS, Link, get_link
from zoprl.preference_data import PreferenceBatch, PreferenceBuffer, buffer_sample
from zoprl.reward_models.models import RewardModel, trajectory_reward
from zoprl.validation import check_int, make_hparams

ADAM = optax.scale_by_adam()


class RewardFitHparams(NamedTuple):
    """Sweepable scalars of the fit: Adam's step size (> 0) and the L2 coefficient (>= 0)."""

    step_size: jax.Array
    l2: jax.Array


def reward_fit_hparams(step_size=0.01, l2=0.0) -> RewardFitHparams:
    """Validated fit hyperparameters (scalars or grids, broadcast to one shape)."""
    return make_hparams(
        RewardFitHparams,
        positive=("step_size",),
        nonnegative=("l2",),
        prefix="reward ",
        step_size=step_size,
        l2=l2,
    )


def init_reward_optimizer(params):
    """Adam's state for reward parameters ``params``."""
    return ADAM.init(params)


def log_link_probs(link: Link, d, shape=1.0):
    """(log sigma(d), log(1 - sigma(d))), computed without log(0) (see the module doc)."""
    if link.name == "logistic":
        return jax.nn.log_sigmoid(d), jax.nn.log_sigmoid(-d)
    if link.name == "probit":
        return log_ndtr(d), log_ndtr(-d)
    if link.name == "extreme_value":
        # sigma(d) = 2^(-exp(-d / s)): log sigma = -ln2 exp(z), log(1 - sigma) =
        # log(-expm1(-ln2 exp(z))), z = -d / s clipped to [-80, 80]; exact, with a gradient
        # for badly wrong pairs (a floor on sigma would flatten the loss there)
        z = jnp.clip(-d / shape, -80.0, 80.0)
        rate = jnp.log(2.0) * jnp.exp(z)
        return -rate, jnp.log(-jnp.expm1(-rate))
    p = link.prob(d, shape)
    return jnp.log(jnp.maximum(p, EPS)), jnp.log(jnp.maximum(1.0 - p, EPS))


def preference_loss(
    model: RewardModel, params, batch: PreferenceBatch, link="logistic", link_shape=1.0
) -> jax.Array:
    """Weighted mean negative log-likelihood of a batch (0 when every weight is 0)."""
    link = get_link(link)
    d = trajectory_reward(model, params, batch.traj_1) - trajectory_reward(
        model, params, batch.traj_0
    )
    log_p, log_q = log_link_probs(link, d, link_shape)
    nll = -(batch.label * log_p + (1.0 - batch.label) * log_q)
    return jnp.sum(batch.weight * nll) / jnp.maximum(jnp.sum(batch.weight), 1.0)


def fit_reward_model(
    key,
    model: RewardModel,
    params,
    opt_state,
    buffer: PreferenceBuffer,
    hp: RewardFitHparams,
    num_steps: int,
    batch_size: int,
    *,
    link="logistic",
    link_shape=1.0,
):
    """``num_steps`` Adam steps on the preference loss -> (params, opt_state, loss).

    ``loss`` is the data term (without L2) of the last step's minibatch, before its update.
    ``num_steps`` and ``batch_size`` are static; batch_size > capacity raises ValueError.
    """
    num_steps = check_int("fit_steps", num_steps)
    batch_size = check_int("batch_size", batch_size)
    if batch_size > buffer.capacity:
        raise ValueError(f"batch_size {batch_size} exceeds the buffer capacity {buffer.capacity}")
    link = get_link(link)

    def objective(phi, batch):
        data = preference_loss(model, phi, batch, link, link_shape)
        sq_norm = sum(jnp.sum(x**2) for x in jax.tree.leaves(phi))
        return data + 0.5 * hp.l2 * sq_norm, data

    def step(carry, k):
        phi, state = carry
        grads, data = jax.grad(objective, has_aux=True)(phi, buffer_sample(k, buffer, batch_size))
        updates, state = ADAM.update(grads, state, phi)
        phi = jax.tree.map(lambda p, u: p - hp.step_size * u, phi, updates)
        return (phi, state), data

    (params, opt_state), losses = jax.lax.scan(
        step, (params, opt_state), jax.random.split(key, num_steps)
    )
    return params, opt_state, losses[-1]
