"""Link functions sigma: utility gap -> preference probability (docs/methods.md section 2).

A comparison of (tau_a, tau_b) prefers tau_b with probability sigma(u(tau_b) - u(tau_a)). Every
link is strictly increasing on its unsaturated range with sigma(0) = 1/2; the symmetric ones also
satisfy sigma(-x) = 1 - sigma(x). Each function takes a float link-shape parameter ``shape`` so that
it can be swept inside ``OracleParams`` (ignored by logistic and probit).

=============  ======================================  =============================================
name           sigma(x)                                reference
=============  ======================================  =============================================
logistic       1 / (1 + exp(-x))                       Bradley & Terry (1952)
probit         Phi(x), the standard normal CDF         Thurstone (1927), case V
linear         clip(1/2 + x / (2c), 0, 1), c = shape   linear-clipped (uniform noise) link
extreme_value  2^(-exp(-x / s)), s = shape             Gumbel (type I extreme value) CDF
                                                       exp(-exp(-(x - mu) / s)) with mu = s ln ln 2
                                                       so that sigma(0) = 1/2; asymmetric
=============  ======================================  =============================================

The extreme-value link is our choice of the "Weibull / Gumbel-type" family: it is the Gumbel CDF
shifted so that sigma(0) = 1/2. It is asymmetric (sigma(x) + sigma(-x) != 1): the probability that
the second trajectory is preferred depends on the order of presentation, a position bias.

Clipping of ``inverse``
-----------------------
``inverse(p)`` is finite for every p in [0, 1]. Links whose inverse diverges at 0 and 1 (logistic,
probit, extreme_value) first clip p into [EPS, 1 - EPS] with EPS = 2^-24 (the float32 spacing just
below 1, so 1 - EPS is the largest float32 < 1); e.g. logistic inverse(0) = -16.64, inverse(1) =
+16.64. The linear link's inverse c (2p - 1) is finite on all of [0, 1] and is not clipped.
``clipped_inverse(link, p, R)`` is the estimator-facing form
y = sigma^{-1}(clip(p, sigma(-R), sigma(R))), which lies in [-R, R].

Numerics: prob and derivative are finite for float32 arguments up to |x| = 50 (and beyond).
``inverse(prob(x)) = x`` holds to float32 precision wherever prob(x) lies in [EPS, 1 - EPS] and is
not saturated (for the linear link, |x| < c).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy import special

from zoprl.validation import check_choice, check_in_range, check_probability

EPS = 2.0**-24
_LN2 = math.log(2.0)
_LOG_LN2 = math.log(_LN2)


class Link(NamedTuple):
    """A link sigma with its inverse and derivative; each is f(array, shape=1.0) -> array.
    ``saturation(shape)``: the |x| beyond which sigma is constant (0 or 1), None for links that
    never saturate (the linear-clipped link saturates at c)."""

    name: str
    prob: Callable
    inverse: Callable
    derivative: Callable
    symmetric: bool
    saturation: Callable | None = None


def _open_unit(p):
    return jnp.clip(jnp.asarray(p, jnp.float32), EPS, 1.0 - EPS)


def _checked(raw_inverse):
    """Wrap a raw inverse so that concrete probabilities outside [0, 1] raise ValueError."""

    def inverse(p, shape=1.0):
        check_probability("p", p)
        return raw_inverse(p, shape)

    inverse.__doc__ = raw_inverse.__doc__
    return inverse


# logistic (Bradley-Terry)
def _logistic_prob(x, shape=1.0):
    del shape
    return jax.nn.sigmoid(x)


def _logistic_inverse(p, shape=1.0):
    """logit(p) = log p - log(1 - p), p clipped into [EPS, 1 - EPS]."""
    del shape
    p = _open_unit(p)
    return jnp.log(p) - jnp.log1p(-p)


def _logistic_derivative(x, shape=1.0):
    del shape
    return jax.nn.sigmoid(x) * jax.nn.sigmoid(-x)


# probit (Thurstone)
def _probit_prob(x, shape=1.0):
    del shape
    return special.ndtr(x)


def _probit_inverse(p, shape=1.0):
    """Phi^{-1}(p), p clipped into [EPS, 1 - EPS]."""
    del shape
    return special.ndtri(_open_unit(p))


def _probit_derivative(x, shape=1.0):
    del shape
    x = jnp.asarray(x, jnp.float32)
    return jnp.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


# linear-clipped, half-width c = shape
def _linear_prob(x, shape=1.0):
    return jnp.clip(0.5 + x / (2.0 * shape), 0.0, 1.0)


def _linear_inverse(p, shape=1.0):
    """c (2p - 1) for p in [0, 1] (finite at the ends: -c and c); no EPS clipping."""
    return shape * (2.0 * jnp.clip(jnp.asarray(p, jnp.float32), 0.0, 1.0) - 1.0)


def _linear_derivative(x, shape=1.0):
    """1 / (2c) on |x| <= c (the one-sided value at the kinks), 0 outside."""
    return jnp.where(jnp.abs(x) <= shape, 1.0 / (2.0 * shape), 0.0)


# extreme value (Gumbel CDF centred at sigma(0) = 1/2), scale s = shape
def _ev_z(x, shape):
    # z = -x / s, capped at 80 (exp(80) is finite in float32, and prob is already 0 there) so that
    # autodiff through prob stays finite too.
    return jnp.minimum(-jnp.asarray(x, jnp.float32) / shape, 80.0)


def _ev_prob(x, shape=1.0):
    return jnp.exp(-_LN2 * jnp.exp(_ev_z(x, shape)))


def _ev_inverse(p, shape=1.0):
    """-s (log(-log p) - log ln 2), p clipped into [EPS, 1 - EPS]."""
    return -shape * (jnp.log(-jnp.log(_open_unit(p))) - _LOG_LN2)


def _ev_derivative(x, shape=1.0):
    """sigma(x) ln2 exp(-x/s) / s, evaluated in log space (no 0 * inf)."""
    z = _ev_z(x, shape)
    return jnp.exp(_LOG_LN2 + z - _LN2 * jnp.exp(z)) / shape


LOGISTIC = Link("logistic", _logistic_prob, _checked(_logistic_inverse), _logistic_derivative, True)
PROBIT = Link("probit", _probit_prob, _checked(_probit_inverse), _probit_derivative, True)
LINEAR = Link(
    "linear", _linear_prob, _checked(_linear_inverse), _linear_derivative, True, lambda c: c
)
EXTREME_VALUE = Link("extreme_value", _ev_prob, _checked(_ev_inverse), _ev_derivative, False)

_LINKS: dict[str, Link] = {}
LINK_NAMES = _LINKS.keys()  # a live view: links registered later appear here too


def register_link(link: Link, *, overwrite: bool = False) -> Link:
    """Add ``link`` to the registry under ``link.name``; returns it.

    Checked in Python before use: the fields are callables, the name is new (unless
    ``overwrite``), sigma(0) = 1/2 and sigma^{-1}(1/2) = 0 (atol 1e-5).
    """
    if not isinstance(link, Link):
        raise ValueError(f"register_link expects a Link, got {type(link).__name__}")
    if not isinstance(link.name, str) or not link.name:
        raise ValueError(f"link name must be a non-empty string, got {link.name!r}")
    for field in ("prob", "inverse", "derivative"):
        if not callable(getattr(link, field)):
            raise ValueError(f"link {link.name!r}: {field} must be callable")
    if link.name in _LINKS and not overwrite:
        raise ValueError(f"link {link.name!r} is already registered (pass overwrite=True)")
    at_zero = float(link.prob(jnp.float32(0.0), 1.0))
    if abs(at_zero - 0.5) > 1e-5:
        raise ValueError(f"link {link.name!r} must satisfy sigma(0) = 1/2, got {at_zero}")
    inv_half = float(link.inverse(jnp.float32(0.5), 1.0))
    if abs(inv_half) > 1e-5:
        raise ValueError(f"link {link.name!r} must satisfy sigma^-1(1/2) = 0, got {inv_half}")
    _LINKS[link.name] = link
    return link


for _link in (LOGISTIC, PROBIT, LINEAR, EXTREME_VALUE):
    _LINKS[_link.name] = _link


def get_link(name) -> Link:
    """The registered link called ``name`` (a ``Link`` is returned unchanged)."""
    if isinstance(name, Link):
        return name
    check_choice("link", name, LINK_NAMES)
    return _LINKS[name]


def clipped_inverse(link: Link, p, clip_range, shape=1.0):
    """y = sigma^{-1}(clip(p, sigma(-R), sigma(R))) (R = ``clip_range`` > 0): the per-pair
    inversion of an empirical preference frequency used by zeroth-order estimators (ZPG, arXiv
    2409.17401); clipping keeps y finite when all M votes agree.

    A p at or beyond sigma(R) maps to sigma^{-1}(sigma(R)) exactly: R for a link that does not
    saturate before R, also when sigma(R) lies beyond the open interval on which ``inverse`` is
    finite in float32 (e.g. the extreme-value link for R > 3.2 s); min(R, c) for a link that
    saturates at c (the linear-clipped link: with R > c unanimous votes give c, and 9 of 10
    votes give c (2 0.9 - 1) = 0.8 c). Likewise at sigma(-R). The output is clipped into that
    range again to remove round-off. Concrete p outside [0, 1] or a non-positive R raise
    ValueError.
    """
    check_probability("p", p)
    check_in_range("clip_range", clip_range, 0.0, math.inf, low_open=True)
    low, high = link.prob(-clip_range, shape), link.prob(clip_range, shape)
    edge = (
        clip_range if link.saturation is None else jnp.minimum(clip_range, link.saturation(shape))
    )
    y = link.inverse(jnp.clip(p, low, high), shape)
    y = jnp.where(p <= low, -edge, jnp.where(p >= high, edge, y))
    return jnp.clip(y, -edge, edge)


def symmetrise(link: Link, *, iterations: int = 60) -> Link:
    """The order-averaged link g(x) = (sigma(x) + 1 - sigma(-x)) / 2, returned as a symmetric Link.

    g is what an asymmetric link induces when the presentation order is a fair coin; it satisfies
    g(-x) = 1 - g(x). Its inverse has no closed form and is found by ``iterations`` steps of
    bisection on [-B, B], B = 64 max(1, shape) (p clipped into [EPS, 1 - EPS] first). A symmetric
    link is returned unchanged.
    """
    if link.symmetric:
        return link

    def prob(x, shape=1.0):
        return 0.5 * (link.prob(x, shape) + 1.0 - link.prob(-x, shape))

    def derivative(x, shape=1.0):
        return 0.5 * (link.derivative(x, shape) + link.derivative(-x, shape))

    def raw_inverse(p, shape=1.0):
        p = _open_unit(p)
        bound = 64.0 * jnp.maximum(1.0, shape)

        def bisect(_, bracket):
            low, high = bracket
            mid = 0.5 * (low + high)
            below = prob(mid, shape) < p
            return jnp.where(below, mid, low), jnp.where(below, high, mid)

        low, high = jax.lax.fori_loop(
            0, iterations, bisect, (jnp.full_like(p, -1.0) * bound, jnp.ones_like(p) * bound)
        )
        return 0.5 * (low + high)

    return Link(f"{link.name}_symmetrised", prob, _checked(raw_inverse), derivative, True)
