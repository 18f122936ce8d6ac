"""The bilevel tests run in float64 (jax.enable_x64 for the duration of each module)."""

import jax
import pytest


@pytest.fixture(scope="module", autouse=True)
def float64():
    with jax.enable_x64(True):
        yield
