"""Preference models P-hat [X, K, K] fitted by maximum likelihood (arXiv 2402.07314, offline).

A model is a ``LearnedPreference(init, logits, prob)`` of pure functions: ``init(key)`` returns
parameters (zeros: every model here has a convex likelihood, so the key is unused),
``logits(params)`` a skew-symmetric logit tensor L [X, K, K] and ``prob(params) = sigmoid(L)``,
which satisfies
P-hat + P-hat^T = 1 with diagonal 1/2 by construction.

* ``tabular_model``: one free logit per context and unordered pair, L[x, a, b] = -L[x, b, a]
  parametrised by its strict upper triangle [X, K (K - 1) / 2]; it can represent any P.
* ``linear_model``: L = phi(x, a, b)^T w with antisymmetric features phi [X, K, K, D].
* ``bradley_terry_model``: L[x, a, b] = r(x, a) - r(x, b), the transitive reward baseline
  (Bradley & Terry 1952), params r [X, K]; ``bradley_terry_policy`` is its KL-regularised policy
  pi ∝ pi0 exp(eta' r) (for a logistic P, eta' = eta / 4 matches the equilibrium to first order in
  the reward differences).

Data are plain arrays: contexts [n], first [n] and second [n] actions, soft labels y [n] in [0, 1]
(the fraction of votes preferring the first action) and weights [n] (e.g. the number of votes).
The fitted objective is the weighted Bernoulli negative log-likelihood

    NLL(theta) = sum_i w_i [ -y_i log sigma(L_i) - (1 - y_i) log sigma(-L_i) ] / sum_i w_i
                 + (l2 / 2) ||theta||^2,       L_i = L_theta[x_i, first_i, second_i],

minimised by ``make_fit`` in a fixed number of Adam (optax) or line-searched Newton steps, one
``lax.scan``. ``tabular_estimate`` is the closed-form tabular MLE (l2 = 0): the vote frequencies
per unordered pair with their counts n(x, {a, b}).

Comparisons (``Comparisons``: contexts, first, second, labels, weights) accumulate in a
fixed-size ``ComparisonTable`` (wins and counts [X, K, K]): every model's logit depends on a
comparison only through (x, a, b), so the table is a sufficient statistic of the likelihood, and
``make_fit`` on ``table_records(table)`` (one record per context and pair a < b) returns the fit
on the individual comparisons, whatever their number (comparisons of an action with itself carry
no information and are dropped). ``table_estimate`` is the closed-form tabular MLE of a table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from zoprl.games.instances import preference_from_logits
from zoprl.validation import check_choice, check_int

FIT_METHODS = ("adam", "newton")
_NEWTON_STEP_SIZES = 0.5 ** np.arange(12)
_NEWTON_RIDGE = 1e-8  # keeps the Hessian invertible for parameters no datum touches
_NEWTON_FULL_STEP_DECREMENT = 1e-4


class LearnedPreference(NamedTuple):
    """init(key) -> params; logits(params) -> skew L [X, K, K]; prob(params) -> sigmoid(L)."""

    init: Callable
    logits: Callable
    prob: Callable


def _model(init, logits) -> LearnedPreference:
    return LearnedPreference(init, logits, lambda params: preference_from_logits(logits(params)))


def _skew_from_upper(upper, num_actions: int):
    """[..., K (K - 1) / 2] strict-upper-triangle values -> skew-symmetric [..., K, K]."""
    rows, cols = np.triu_indices(num_actions, k=1)
    full = jnp.zeros(upper.shape[:-1] + (num_actions, num_actions), upper.dtype)
    full = full.at[..., rows, cols].set(upper)
    return full - jnp.swapaxes(full, -1, -2)


def tabular_model(num_contexts: int, num_actions: int, dtype=float) -> LearnedPreference:
    """Skew-symmetric tabular logits; params [X, K (K - 1) / 2] in np.triu_indices(K, 1) order."""
    num_contexts = check_int("num_contexts", num_contexts, 1)
    num_actions = check_int("num_actions", num_actions, 2)
    num_pairs = num_actions * (num_actions - 1) // 2

    def init(key):
        del key
        return jnp.zeros((num_contexts, num_pairs), dtype)

    return _model(init, lambda upper: _skew_from_upper(upper, num_actions))


def linear_model(features) -> LearnedPreference:
    """L = phi w with antisymmetric features phi [X, K, K, D] (closed over); params w [D]."""
    features = jnp.asarray(features)
    chex.assert_rank(features, 4)

    def init(key):
        del key
        return jnp.zeros(features.shape[-1:], features.dtype)

    return _model(init, lambda weights: features @ weights)


def bradley_terry_model(num_contexts: int, num_actions: int, dtype=float) -> LearnedPreference:
    """L[x, a, b] = r(x, a) - r(x, b); params r [X, K] (identified up to a constant per context;
    use l2 > 0 or read off differences)."""
    num_contexts = check_int("num_contexts", num_contexts, 1)
    num_actions = check_int("num_actions", num_actions, 2)

    def init(key):
        del key
        return jnp.zeros((num_contexts, num_actions), dtype)

    return _model(init, lambda rewards: rewards[..., :, None] - rewards[..., None, :])


def bradley_terry_policy(rewards, pi0, eta):
    """pi(a|x) ∝ pi0(a|x) exp(eta r(a|x)), the KL-regularised maximiser of E[r] - KL(pi || pi0) /
    eta; rewards, pi0: [..., K]."""
    chex.assert_equal_shape([rewards, pi0])
    return jax.nn.softmax(jnp.log(pi0) + eta * rewards, axis=-1)


def negative_log_likelihood(
    model: LearnedPreference, params, contexts, first, second, labels, weights, l2=0.0
):
    """The weighted Bernoulli NLL of the module docstring (mean over the weights, plus L2)."""
    chex.assert_equal_shape([contexts, first, second, labels, weights])
    logit = model.logits(params)[contexts, first, second]
    labels = jnp.asarray(labels, logit.dtype)
    weights = jnp.asarray(weights, logit.dtype)
    per_comparison = -(
        labels * jax.nn.log_sigmoid(logit) + (1.0 - labels) * jax.nn.log_sigmoid(-logit)
    )
    flat, _ = ravel_pytree(params)
    return weights @ per_comparison / jnp.sum(weights) + 0.5 * l2 * (flat @ flat)


def make_fit(
    model: LearnedPreference, num_steps: int, method: str = "adam", learning_rate: float = 0.1
):
    """fit(params, contexts, first, second, labels, weights, l2=0.0) -> (params, losses [T]).

    T = num_steps (static) updates in one ``lax.scan``; losses[t] is the objective before update
    t. method "adam": optax.adam(learning_rate); "newton": theta <- theta - s H^-1 g with H the
    exact Hessian (plus a 1e-8 ridge) and s the largest of 1, 1/2, ..., 1/2^11 that does not
    raise the objective (s = 1 once the Newton decrement -g^T d is below 1e-4; no move if no s
    qualifies): quadratic convergence for small models (a few hundred parameters)."""
    num_steps = check_int("num_steps", num_steps, 1)
    check_choice("fit method", method, FIT_METHODS)
    optimizer = optax.adam(learning_rate)

    def fit(params, contexts, first, second, labels, weights, l2=0.0):
        flat0, unravel = ravel_pytree(params)

        def objective(flat):
            return negative_log_likelihood(
                model, unravel(flat), contexts, first, second, labels, weights, l2
            )

        def adam_step(carry, _):
            flat, opt_state = carry
            loss, grad = jax.value_and_grad(objective)(flat)
            updates, opt_state = optimizer.update(grad, opt_state, flat)
            return (optax.apply_updates(flat, updates), opt_state), loss

        def newton_step(flat, _):
            loss, grad = jax.value_and_grad(objective)(flat)
            hessian = jax.hessian(objective)(flat)
            ridge = _NEWTON_RIDGE * jnp.eye(flat.shape[0], dtype=flat.dtype)
            direction = -jnp.linalg.solve(hessian + ridge, grad)
            sizes = jnp.asarray(_NEWTON_STEP_SIZES, flat.dtype)
            candidates = flat + sizes[:, None] * direction
            losses = jax.vmap(objective)(candidates)
            # the largest step that does not raise the objective; the full step once the Newton
            # decrement g^T H^-1 g is small (damping is no longer needed there, and in float32
            # the objective cannot resolve the last decreases)
            acceptable = (losses <= loss) | (-(grad @ direction) <= _NEWTON_FULL_STEP_DECREMENT)
            chosen = jnp.arange(sizes.shape[0]) == jnp.argmax(acceptable)
            size = jnp.where(jnp.any(acceptable), jnp.sum(jnp.where(chosen, sizes, 0.0)), 0.0)
            flat = flat + size * direction
            return flat, loss

        if method == "adam":
            (flat, _), losses = jax.lax.scan(
                adam_step, (flat0, optimizer.init(flat0)), None, length=num_steps
            )
        else:
            flat, losses = jax.lax.scan(newton_step, flat0, None, length=num_steps)
        return unravel(flat), losses

    return fit


class TabularEstimate(NamedTuple):
    """P_hat [X, K, K]: weighted vote frequencies (1/2 where no data, and on the diagonal);
    counts [X, K, K]: symmetric total weight n(x, {a, b}) of comparisons of the pair."""

    P_hat: jax.Array
    counts: jax.Array


class Comparisons(NamedTuple):
    """Labelled comparisons of a contextual dueling bandit, leaves [n]: the context, the first
    and second actions, the soft label y (fraction of votes preferring the first action) and
    the weight (e.g. the number of answered votes; 0 = no data)."""

    contexts: jax.Array
    first: jax.Array
    second: jax.Array
    labels: jax.Array
    weights: jax.Array


class ComparisonTable(NamedTuple):
    """The sufficient statistics of comparisons, fixed size whatever the amount of data:
    wins [X, K, K], the weight of votes preferring a to b in context x, and counts [X, K, K],
    the symmetric total weight n(x, {a, b}). Every model here has a logit that depends on the
    comparison only through (x, a, b), so its likelihood depends on the data only through this
    table, and a fit on ``table_records`` equals the fit on the individual comparisons."""

    wins: jax.Array
    counts: jax.Array


def empty_table(num_contexts: int, num_actions: int, dtype=float) -> ComparisonTable:
    """A table with no comparisons, [X, K, K] zeros."""
    shape = (check_int("num_contexts", num_contexts), check_int("num_actions", num_actions, 2))
    zeros = jnp.zeros(shape + shape[-1:], dtype)
    return ComparisonTable(zeros, zeros)


def table_add(table: ComparisonTable, data: Comparisons) -> ComparisonTable:
    """The table with ``data`` added (one scatter per statistic; comparisons of an action with
    itself are ignored)."""
    dtype = table.wins.dtype
    labels = jnp.asarray(data.labels, dtype)
    weights = jnp.where(data.first == data.second, 0.0, jnp.asarray(data.weights, dtype))
    x, a, b = data.contexts, data.first, data.second
    wins = table.wins.at[x, a, b].add(weights * labels).at[x, b, a].add(weights * (1.0 - labels))
    counts = table.counts.at[x, a, b].add(weights).at[x, b, a].add(weights)
    return ComparisonTable(wins, counts)


def table_estimate(table: ComparisonTable) -> TabularEstimate:
    """The closed-form tabular MLE of the table: P_hat = wins / counts (1/2 without data)."""
    seen = table.counts > 0
    P_hat = jnp.where(seen, table.wins / jnp.where(seen, table.counts, 1.0), 0.5)
    return TabularEstimate(P_hat, table.counts)


def table_records(table: ComparisonTable) -> Comparisons:
    """One record per context and unordered pair a < b (static count X K (K - 1) / 2): label
    P_hat(x, a, b), weight n(x, {a, b}); ``make_fit``'s data for a fit on the whole table."""
    num_contexts, num_actions = table.counts.shape[:2]
    rows, cols = np.triu_indices(num_actions, k=1)
    contexts = np.repeat(np.arange(num_contexts), rows.size)
    first, second = np.tile(rows, num_contexts), np.tile(cols, num_contexts)
    P_hat = table_estimate(table).P_hat
    return Comparisons(
        jnp.asarray(contexts),
        jnp.asarray(first),
        jnp.asarray(second),
        P_hat[contexts, first, second],
        table.counts[contexts, first, second],
    )


def tabular_estimate(
    num_contexts: int, num_actions: int, contexts, first, second, labels, weights=None
) -> TabularEstimate:
    """Closed-form tabular MLE: P_hat[x, a, b] = (sum of w y over comparisons (x, a, b) + sum of
    w (1 - y) over (x, b, a)) / n(x, {a, b}). Comparisons of an action with itself are ignored.
    With w = number of votes and y = vote fraction, P_hat is the Binomial MLE and its standard
    error sqrt(P (1 - P) / n)."""
    chex.assert_equal_shape([contexts, first, second, labels])
    labels = jnp.asarray(labels)
    dtype = jnp.result_type(labels.dtype, 1.0)
    weights = jnp.ones(labels.shape, dtype) if weights is None else weights
    table = empty_table(num_contexts, num_actions, dtype)
    data = Comparisons(contexts, first, second, labels, weights)
    return table_estimate(table_add(table, data))


__all__ = [
    "FIT_METHODS",
    "ComparisonTable",
    "Comparisons",
    "LearnedPreference",
    "TabularEstimate",
    "bradley_terry_model",
    "bradley_terry_policy",
    "linear_model",
    "make_fit",
    "empty_table",
    "negative_log_likelihood",
    "table_add",
    "table_estimate",
    "table_records",
    "tabular_estimate",
    "tabular_model",
]
