"""Bad inputs raise ValueError naming the value, before anything is compiled."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoprl.oracles import (
    clipped_inverse,
    get_link,
    make_oracle,
    oracle_params,
    preset_values,
    validate_oracle_params,
)
from zoprl.oracles.presets import PRESET_NAMES

BAD_CALLS = [
    (lambda: make_oracle("logistic", 0), "num_queries must be >= 1, got 0"),
    (lambda: make_oracle("logistic", 2.5), "num_queries must be an integer >= 1, got 2.5"),
    (lambda: make_oracle("logistic", True), "got True"),
    (lambda: make_oracle("gumbel"), "unknown link 'gumbel'; valid names: extreme_value, linear"),
    (lambda: oracle_params("lazy"), "unknown preset 'lazy'; valid names: equal, mistake, myopic"),
    (lambda: oracle_params(betta=1.0), "unknown oracle parameter 'betta'; valid names: beta"),
    (lambda: oracle_params(mistake=-0.1), "mistake must lie in \\[0.0, 1.0\\], got -0.1"),
    (lambda: oracle_params(skip=1.5), "skip must lie in \\[0.0, 1.0\\], got 1.5"),
    (lambda: oracle_params(mistake=0.6, skip=0.5), "mistake \\+ skip must lie in .*got 1.1"),
    (lambda: oracle_params(beta=0.0), "beta must lie in \\(0.0, inf\\], got 0"),
    (lambda: oracle_params(beta=[1.0, -2.0]), "beta must .* got -2 at index \\(1,\\)"),
    (lambda: oracle_params(gamma=0.0), "gamma must lie in \\(0.0, 1.0\\], got 0"),
    (lambda: oracle_params(gamma=1.2), "gamma must lie in \\(0.0, 1.0\\], got 1.2"),
    (lambda: oracle_params(equal_margin=-1.0), "equal_margin must lie in .*got -1"),
    (lambda: oracle_params(link_shape=0.0), "link_shape must lie in .*got 0"),
    (lambda: oracle_params(mistake=float("nan")), "mistake must lie in .*got nan"),
    (lambda: get_link("logistic").inverse(np.array([0.5, 1.5])), "p must lie in .*got 1.5"),
    (lambda: clipped_inverse(get_link("probit"), -0.2, 3.0), "p must lie in .*got -0.2"),
    (lambda: clipped_inverse(get_link("probit"), 0.2, 0.0), "clip_range must lie in .*got 0"),
]


class _CompileCounter:
    def __init__(self):
        self.count = 0

    def __call__(self, event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            self.count += 1


@pytest.mark.parametrize("call, message", BAD_CALLS)
def test_bad_input_raises_before_compiling(call, message):
    counter = _CompileCounter()
    jax.monitoring.register_event_duration_secs_listener(counter)
    try:
        with pytest.raises(ValueError, match=message):
            call()
    finally:
        jax.monitoring.unregister_event_duration_listener(counter)
    assert counter.count == 0


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_presets_are_valid_and_use_b_pref_values(name):
    params = oracle_params(name)
    validate_oracle_params(params)
    changed = {k: v for k, v in preset_values(name).items() if v != preset_values("oracle")[k]}
    expected = {
        "oracle": {},
        "noisy": {"beta": 1.0},
        "mistake": {"mistake": 0.1},
        "skip": {"skip": 0.1},
        "myopic": {"gamma": 0.9},
        "equal": {"equal_margin": 0.1},
    }
    assert changed == expected[name]
    assert math.isinf(float(oracle_params("oracle").model.beta))


def test_overrides_broadcast_and_stay_valid_under_jit():
    params = oracle_params("noisy", beta=[0.5, 2.0], mistake=0.1)
    assert all(leaf.shape == (2,) and leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(params))
    # inside a transformation the values are tracers: validation is skipped, not an error
    assert jax.jit(lambda p: validate_oracle_params(p).model.beta.sum())(params) == 2.5
