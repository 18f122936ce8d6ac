"""Links: hand values, inverse round trip, monotonicity, symmetry, float32 stability, registry."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoprl.oracles import links
from zoprl.oracles.links import EPS, LINK_NAMES, Link, clipped_inverse, get_link, register_link

NAMES = tuple(LINK_NAMES)
SHAPES = {"logistic": 1.0, "probit": 1.0, "linear": 4.0, "extreme_value": 1.5}
X_MID = jnp.linspace(-3.0, 3.0, 241)  # unsaturated and inside [EPS, 1 - EPS] for SHAPES
X_WIDE = jnp.linspace(-50.0, 50.0, 2001)


def _apply(name, field, x, shape):
    return jax.jit(getattr(get_link(name), field))(x, shape)


@pytest.mark.parametrize(
    "name, shape, x, expected",
    [
        ("logistic", 1.0, math.log(3.0), 0.75),
        ("logistic", 7.0, 0.0, 0.5),
        ("probit", 1.0, 1.0, 0.8413447460685429),
        ("probit", 1.0, -1.0, 0.15865525393145707),
        ("linear", 2.0, 1.0, 0.75),
        ("linear", 2.0, -5.0, 0.0),
        ("linear", 2.0, 5.0, 1.0),
        ("extreme_value", 1.0, -math.log(2.0), 0.25),
        ("extreme_value", 2.0, 2 * math.log(2.0), 2.0**-0.5),
        ("extreme_value", 3.0, 0.0, 0.5),
    ],
)
def test_prob_hand_values(name, shape, x, expected):
    np.testing.assert_allclose(_apply(name, "prob", jnp.float32(x), shape), expected, rtol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_inverse_round_trip(name):
    shape = SHAPES[name]
    p = _apply(name, "prob", X_MID, shape)
    np.testing.assert_allclose(_apply(name, "inverse", p, shape), X_MID, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_monotone(name):
    shape = SHAPES[name]
    assert np.all(np.diff(np.asarray(_apply(name, "prob", X_WIDE, shape))) >= 0.0)
    assert np.all(np.diff(np.asarray(_apply(name, "prob", X_MID, shape))) > 0.0)


@pytest.mark.parametrize("name", NAMES)
def test_symmetry(name):
    link, shape = get_link(name), SHAPES[name]
    total = _apply(name, "prob", X_WIDE, shape) + _apply(name, "prob", -X_WIDE, shape)
    np.testing.assert_allclose(_apply(name, "prob", jnp.float32(0.0), shape), 0.5, atol=1e-7)
    if link.symmetric:
        np.testing.assert_allclose(total, 1.0, atol=1e-6)
    else:  # the extreme-value link is genuinely asymmetric
        assert abs(float(total[np.searchsorted(X_WIDE, 1.0)]) - 1.0) > 1e-2


@pytest.mark.parametrize("name", NAMES)
def test_derivative_matches_autodiff(name):
    shape = SHAPES[name]
    x = jnp.linspace(-3.0, 3.0, 37) + 0.01  # off the linear link's kinks
    grad = jax.jit(jax.vmap(jax.grad(get_link(name).prob), in_axes=(0, None)))(x, shape)
    np.testing.assert_allclose(_apply(name, "derivative", x, shape), grad, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [0.1, 1.0, 10.0])
def test_finite_in_float32(name, shape):
    for field in ("prob", "derivative"):
        out = _apply(name, field, X_WIDE, shape)
        assert out.dtype == jnp.float32 and np.all(np.isfinite(out)), field
    grad = jax.vmap(jax.grad(get_link(name).prob), in_axes=(0, None))(X_WIDE, shape)
    assert np.all(np.isfinite(grad))
    p = jnp.array([0.0, 1e-30, EPS, 0.5, 1.0 - EPS, 1.0], jnp.float32)
    inv = _apply(name, "inverse", p, shape)
    assert np.all(np.isfinite(inv)) and np.all(np.diff(np.asarray(inv)) >= 0.0)


def test_inverse_clipping_values():
    logistic = get_link("logistic")
    edge = math.log((1 - EPS) / EPS)
    np.testing.assert_allclose(logistic.inverse(jnp.array([0.0, 1.0])), [-edge, edge], rtol=1e-5)
    np.testing.assert_allclose(get_link("linear").inverse(jnp.array([0.0, 1.0]), 3.0), [-3.0, 3.0])


@pytest.mark.parametrize("name", NAMES)
def test_clipped_inverse(name):
    link, shape = get_link(name), SHAPES[name]
    f = jax.jit(jax.vmap(lambda p, r: clipped_inverse(link, p, r, shape), in_axes=(None, 0)))
    p = jnp.array([0.0, float(link.prob(0.5, shape)), 1.0])
    out = f(p, jnp.array([1.0, 2.0]))  # vmapped over the clip range R
    np.testing.assert_allclose(out[:, 0], [-1.0, -2.0], rtol=1e-5)
    np.testing.assert_allclose(out[:, 2], [1.0, 2.0], rtol=1e-5)
    np.testing.assert_allclose(out[:, 1], [0.5, 0.5], rtol=1e-5)


def test_unknown_link_lists_names():
    with pytest.raises(ValueError, match="'nope'.*extreme_value, linear, logistic, probit"):
        get_link("nope")


def _cauchy_link(name="cauchy_test", centre=0.5):
    return Link(
        name,
        lambda x, shape=1.0: centre + jnp.arctan(x / shape) / jnp.pi,
        lambda p, shape=1.0: shape * jnp.tan(jnp.pi * (jnp.clip(p, EPS, 1 - EPS) - 0.5)),
        lambda x, shape=1.0: shape / (jnp.pi * (shape**2 + x**2)),
        True,
    )


def test_register_custom_link():
    link = register_link(_cauchy_link())
    try:
        assert "cauchy_test" in LINK_NAMES and get_link("cauchy_test") is link
        np.testing.assert_allclose(get_link("cauchy_test").prob(jnp.float32(1.0)), 0.75, rtol=1e-6)
        with pytest.raises(ValueError, match="already registered"):
            register_link(_cauchy_link())
    finally:
        links._LINKS.pop("cauchy_test")
    with pytest.raises(ValueError, match="sigma\\(0\\) = 1/2, got 0.6"):
        register_link(_cauchy_link("bad_centre", centre=0.6))
    assert "bad_centre" not in LINK_NAMES


def test_symmetrise():
    ev = get_link("extreme_value")
    g = links.symmetrise(ev)
    assert g.symmetric and links.symmetrise(get_link("probit")) is get_link("probit")
    x = jnp.linspace(-4.0, 4.0, 33)
    p = jax.jit(g.prob)(x, 1.5)
    np.testing.assert_allclose(p + g.prob(-x, 1.5), 1.0, atol=1e-6)
    np.testing.assert_allclose(p, 0.5 * (ev.prob(x, 1.5) + 1 - ev.prob(-x, 1.5)), rtol=1e-6)
    np.testing.assert_allclose(jax.jit(g.inverse)(p, 1.5), x, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["logistic", "probit", "extreme_value"])
def test_clipped_inverse_maps_unanimous_votes_to_plus_minus_r(name):
    """p = 0 and p = 1 give exactly -R and R, also where sigma(+-R) is beyond float32's open
    interval (the extreme-value link for R > 3.2: its inverse alone would stop at -3.18)."""

    for r in (2.0, 6.0, 20.0):
        y = clipped_inverse(get_link(name), jnp.array([0.0, 1.0]), r)
        np.testing.assert_allclose(y, [-r, r], rtol=1e-6)


@pytest.mark.parametrize("shape", [0.5, 1.0, 2.0])
def test_the_linear_link_saturates_at_c_not_at_r(shape):
    """sigma^{-1}(clip(p, sigma(-R), sigma(R))) for the linear link (sigma(x) = 1/2 + x / (2c)):
    with R = 3 > c unanimous votes give +-c and 9 of 10 give 0.8 c (the rule of the method notes;
    mapping unanimous votes to +-R would jump from 0.8 c to 3 at the last vote); with R < c the
    clip at sigma(+-R) gives +-R."""
    link = get_link("linear")
    y = clipped_inverse(link, jnp.array([0.0, 0.1, 0.9, 1.0]), 3.0, shape)
    np.testing.assert_allclose(y, [-shape, -0.8 * shape, 0.8 * shape, shape], rtol=1e-6)
    r = 0.5 * shape
    y = clipped_inverse(link, jnp.array([0.0, 0.5, 1.0]), r, shape)
    np.testing.assert_allclose(y, [-r, 0.0, r], rtol=1e-6, atol=1e-7)
