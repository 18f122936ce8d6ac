"""The exponents the theory predicts for the zeroth-order preference methods, as data.

Each entry says: on a log-log plot of ``y`` against ``x``, expect a straight line of slope
``slope`` (in the regime stated in its description). These are OUR derivations for a smooth
objective J (gradient L-Lipschitz, bounded variance of the per-pair inverted value gap), written
to design the rate checks of docs/methods.md section 5; they are not the constants or the exact
statements of arXiv 2409.17401 / 2506.03066.

Notation (docs/methods.md section 3): d parameters, v uniform on the unit sphere of R^d, radius mu,
N pairs per iteration, M oracle queries per pair, link sigma, per-pair inverted gap
y_n = sigma^{-1}(clip(p_n)), D = mean_n y_n, gradient estimate g = (d / mu) D v,
ball-smoothed objective J_mu(theta) = E_{u ~ unit ball} J(theta + mu u).
"""

from __future__ import annotations

from typing import NamedTuple


class PredictedRate(NamedTuple):
    """A predicted power law y ~ C * x^slope.

    ``name`` is the key in :data:`PREDICTED_RATES`; ``x`` and ``y`` say which quantities are
    plotted (with the tidy-table column usually holding x); ``description`` states the math and
    the regime in which the slope holds.
    """

    name: str
    x: str
    y: str
    slope: float
    description: str


_RATES = (
    PredictedRate(
        name="variance_vs_pairs",
        x="N, pairs per iteration (static.num_pairs)",
        y="RMS error of the gradient estimate about its conditional mean",
        slope=-0.5,
        description=(
            "Given the direction v, D is the mean of N i.i.d. inverted gaps y_n, so "
            "Var(D | v) = Var(y_1 | v) / N and "
            "E[||g - E[g | v]||^2 | v] = (d / mu)^2 Var(y_1 | v) / N: the RMS error falls as "
            "N^(-1/2). The direction-sampling part of the error, "
            "E||E[g | v] - grad J_mu||^2, does not depend on N, so the slope -1/2 is seen on the "
            "error about E[g | v] (or on the total error while the pair noise dominates)."
        ),
    ),
    PredictedRate(
        name="inversion_bias_vs_queries",
        x="M, oracle queries per pair (oracle.num_queries)",
        y="link-inversion bias |E[y_n | p] - sigma^{-1}(p)|",
        slope=-1.0,
        description=(
            "With p_hat = Binomial(M, p) / M, a second-order expansion of h = sigma^{-1} gives "
            "E[h(p_hat)] - h(p) = h''(p) p (1 - p) / (2 M) + O(M^-2) (clipping keeps every term "
            "finite). For the logistic link h''(p) = (2p - 1) / (p (1 - p))^2, so the bias is "
            "(2p - 1) / (2 M p (1 - p)), which grows like exp(|u_1 - u_0|). Slope -1 holds once "
            "M p (1 - p) is large; at small M the clipping at sigma(+-R) dominates."
        ),
    ),
    PredictedRate(
        name="smoothing_bias_vs_mu",
        x="mu, perturbation radius (hp.mu)",
        y="smoothing bias ||grad J_mu(theta) - grad J(theta)||",
        slope=1.0,
        description=(
            "The one-sided estimator is unbiased for grad J_mu: E[(d / mu)(J(theta + mu v) - "
            "J(theta)) v] = grad J_mu(theta). With grad J L-Lipschitz, grad J_mu(theta) = "
            "E_u grad J(theta + mu u) gives ||grad J_mu - grad J|| <= L mu: slope +1 is this "
            "worst-case bound. Caveat: for a three-times differentiable J the linear term "
            "mu * Hessian * E[u] vanishes (E[u] = 0), so the bias of the MEAN estimate is "
            "O(mu^2) and a measured slope near +2 is consistent with the theory; the bias "
            "conditional on the direction, (d / mu)(J(theta + mu v) - J(theta)) - d <grad J, v> "
            "= (d mu / 2) v' H v + O(mu^2), is the quantity with slope exactly +1 "
            "(see 'directional_bias_vs_mu')."
        ),
    ),
    PredictedRate(
        name="directional_bias_vs_mu",
        x="mu, perturbation radius (hp.mu)",
        y="finite-difference error |(J(theta + mu v) - J(theta)) / mu - <grad J(theta), v>|",
        slope=1.0,
        description=(
            "Taylor: (J(theta + mu v) - J(theta)) / mu = <grad J, v> + (mu / 2) v' H v + O(mu^2) "
            "for a twice-differentiable J with Hessian H, so the per-direction error grows "
            "linearly in mu wherever v' H v != 0."
        ),
    ),
    PredictedRate(
        name="stationarity_vs_iterations",
        x="T, number of iterations (step size tuned to T)",
        y="average squared gradient norm (1 / T) sum_t ||grad J(theta_t)||^2",
        slope=-0.5,
        description=(
            "Ascent on the L_mu-smooth J_mu with E||g||^2 <= G^2 gives "
            "(1 / T) sum_t E||grad J_mu(theta_t)||^2 <= (J* - J_mu(theta_0)) / (alpha T) "
            "+ L alpha G^2 / 2; with alpha proportional to T^(-1/2) both terms are O(T^(-1/2)). "
            "||grad J||^2 <= 2 ||grad J_mu||^2 + 2 (L mu)^2 plus the inversion bias adds a floor "
            "that does not fall with T, so the slope -1/2 holds until the bias floor."
        ),
    ),
)

PREDICTED_RATES: dict[str, PredictedRate] = {rate.name: rate for rate in _RATES}
"""The predicted exponents, keyed by name."""


def predicted_rate(name: str) -> PredictedRate:
    """The entry ``name`` of :data:`PREDICTED_RATES`; ValueError naming the valid choices."""
    if not isinstance(name, str) or name not in PREDICTED_RATES:
        raise ValueError(
            f"unknown predicted rate {name!r}; valid choices: {sorted(PREDICTED_RATES)}"
        )
    return PREDICTED_RATES[name]
