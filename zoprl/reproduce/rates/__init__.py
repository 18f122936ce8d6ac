"""The ``rates`` experiment of issue 7: measured convergence exponents of ZPG against theory.

Everything runs on the default GridWorld (``zoprl.envs.make("GridWorld")``: 5 x 5, slip 0.1,
H = 10) with the time-homogeneous tabular softmax policy (d = 25 * 4 = 100 parameters), a
Bradley-Terry teacher (logistic link, beta = 1: ``oracle_params("noisy")``) and the default clip
range R = 10 (the largest possible return gap). Every reference value (J, grad J, J*) is exact
(``zoprl.evaluation.exact_evaluator``); every PRNG key derives from ``profile.seed``.

The measurement point theta is a fixed random normal table (key ``theta_seed``, scale
``theta_scale``): with the defaults J(theta) = 2.39 against J* = 5.95 and ||grad J||^2 = 0.38.

Quantities (docs/methods.md; predicted slopes from ``zoprl.theory.PREDICTED_RATES``):

(i) ``variance_vs_pairs``: for each of ``variance_directions`` fixed sphere directions v_j, the
    ZPG estimate g = (d / mu) D v_j (``make_preference_gradient`` with K = 1) is replicated
    ``variance_replicates`` times with independent keys; the value of direction j is
    sqrt(sum_r ||g_{j,r} - mean_r g_{j,r}||^2 / (R - 1)), the RMS error about the conditional mean
    E[g | v_j]. Against N. Predicted -1/2. Bootstrap groups ("seed"): the directions.
(ii) ``inversion_bias_vs_queries``: with v the normalised exact gradient at theta (the direction
    where the gap J(theta + mu v) - J(theta) and with it the odd part of the per-pair inversion
    bias are largest: for a direction with a tiny gap the per-pair biases, odd in the utility gap,
    cancel) and mu = ``mu``, E[D] - (J(theta + mu v) - J(theta)) against M, E[D] estimated from
    ``bias_pairs`` pairs per M split over ``bias_replicates`` independent replicates (the
    bootstrap groups; every M reuses the same keys, common random numbers). The value of replicate
    r is s_M (mean_r' D - exact gap) where s_M = sign of the pooled bias, so that the per-M mean is
    |E[D] - gap|; ``inversion_bias_se`` is the standard error of the pooled mean (between-replicate
    SD / sqrt(R)). The slope is fitted only for M >= ``bias_fit_min_queries`` and only where the
    bias exceeds ``bias_min_snr`` standard errors. Predicted about -1, which holds once
    M p (1 - p) is large for the pairs that matter; see the note in :func:`fit_slopes`.
(iii) ``smoothing_bias_vs_mu``: ||grad J_mu(theta) - grad J(theta)|| against mu, with
    grad J_mu(theta) = E_v[(d / mu)(J(theta + mu v) - J(theta)) v] = E_v[(d / 2 mu)(J(theta + mu v)
    - J(theta - mu v)) v] (antithetic pairs). The Monte Carlo mean over sphere directions uses the
    exact control variate d <grad J, v> v, whose mean is exactly grad J (E[d v v^T] = I on the
    sphere): bias_hat = mean_v [(d / 2 mu)(J(theta + mu v) - J(theta - mu v)) - d <grad J, v>] v.
    It has the same expectation as the plain estimate minus grad J but a per-direction spread
    O(mu^2) instead of O(sqrt(d) ||grad J||). The directions are split into
    ``smoothing_groups`` groups (the bootstrap groups); the value of a group is ||bias_hat_g||, and
    ``smoothing_bias_se`` is the standard error of the pooled vector's norm,
    sqrt(sum_k Var_g(bias_hat_g,k) / G). docs/methods.md states +1 (the Lipschitz upper bound);
    for a smooth J the linear term cancels and the bias is O(mu^2): both are reported.
    ``directional_bias_vs_mu``: |(J(theta + mu v_j) - J(theta)) / mu - <grad J, v_j>| for
    ``directional_directions`` fixed sphere directions (the groups); predicted +1.
(iv) ``stationarity_vs_iterations``: (1 / T) sum_{t < T} ||grad J(theta_t)||^2 (exact) of ZPG
    (``zoprl.algorithms.zpg`` run by ``make_run``) started at theta, with step size
    alpha = ``step_constant`` / sqrt(T), against T; seeds are the bootstrap groups. One compiled
    program: the runs are vmapped over seeds and over the step sizes of all T, each run lasting
    max(T) iterations and its average taken over its own first T iterations (iteration t uses the
    key fold_in(step_key, t), so the first T iterations are exactly those of a run of length T).
    Predicted -1/2 until the bias floor.

No Python loop over pairs, seeds, replicates, directions or iterations: those are vmap / lax.map /
lax.scan axes. Python loops run only over N and M values (static shapes).
"""

from zoprl.reproduce.rates.figures import plot_rates
from zoprl.reproduce.rates.problem import Problem, make_problem
from zoprl.reproduce.rates.profiles import (
    METRICS,
    PROFILES,
    QUANTITIES,
    SLOPE_COLUMNS,
    X_COLUMNS,
    RatesProfile,
    get_profile,
)
from zoprl.reproduce.rates.quantities import (
    directional_bias,
    gradient_rms_error,
    inversion_gap_estimates,
    smoothed_gradient,
    smoothing_bias_vectors,
    stationarity_runs,
)
from zoprl.reproduce.rates.report import run_rates
from zoprl.reproduce.rates.slopes import fit_slopes, format_slopes
from zoprl.reproduce.rates.table import compute_rates

__all__ = [
    "METRICS",
    "PROFILES",
    "QUANTITIES",
    "Problem",
    "RatesProfile",
    "SLOPE_COLUMNS",
    "X_COLUMNS",
    "compute_rates",
    "directional_bias",
    "fit_slopes",
    "format_slopes",
    "gradient_rms_error",
    "get_profile",
    "inversion_gap_estimates",
    "make_problem",
    "plot_rates",
    "run_rates",
    "smoothed_gradient",
    "smoothing_bias_vectors",
    "stationarity_runs",
]
